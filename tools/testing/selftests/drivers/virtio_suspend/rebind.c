// SPDX-License-Identifier: GPL-2.0
/*
 * Unbind/bind and module unload/reload of the transport, with block I/O
 * checked after each cycle and no interrupt handler left while unbound.
 *
 * The interrupt check has a positive control: while bound, the disk's
 * handler (named after its virtio device) is in /proc/interrupts and its
 * count rises during the I/O, so a parser that found nothing, or a count
 * that never moves, fails the test instead of passing the unbound check.
 *
 * Several transports of the module go through each cycle together: every
 * device of each is unbound, then bound again, and every disk must be
 * gone, then back and working.
 *
 * Environment: VS_TRANSPORT (driver names, comma separated), VS_BUS (the
 * bus of each: platform, the default, or pci), VS_MODULE (module name,
 * for unload/reload), VS_BLK_DEV (the disks, colon separated; default
 * /dev/vda), VS_REBIND_CYCLES and VS_RELOAD_CYCLES (default 10).
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define IO_BYTES 4096
#define MAX_ITEMS 4

/* Writes a block at a new offset each round and reads it back. */
static int blk_roundtrip(const char *dev, unsigned int round)
{
	uint8_t *out, *in;
	off_t off = (off_t)(round % 64) * IO_BYTES;
	int fd, ret = -EIO;
	unsigned int i;

	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0)
		return -errno;
	if (posix_memalign((void **)&out, 4096, IO_BYTES) ||
	    posix_memalign((void **)&in, 4096, IO_BYTES)) {
		close(fd);
		return -ENOMEM;
	}
	for (i = 0; i < IO_BYTES; i++)
		out[i] = (uint8_t)(round * 7 + i);
	if (pwrite(fd, out, IO_BYTES, off) == IO_BYTES && !fsync(fd) &&
	    pread(fd, in, IO_BYTES, off) == IO_BYTES && !memcmp(in, out, IO_BYTES))
		ret = 0;
	free(out);
	free(in);
	close(fd);
	return ret;
}

/* The devices bound to driver @drv on @bus, space separated. */
static int bound_devices(const char *bus, const char *drv, char *names, size_t len)
{
	char path[256];
	struct dirent *de;
	size_t used = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/%.63s/drivers/%.63s", bus, drv);
	dir = opendir(path);
	if (!dir)
		return -errno;
	names[0] = '\0';
	while ((de = readdir(dir))) {
		char link[PATH_MAX];
		struct stat st;

		snprintf(link, sizeof(link), "%s/%s/subsystem", path, de->d_name);
		if (de->d_name[0] == '.' || stat(link, &st))
			continue;	/* bind, unbind, module, uevent */
		used += snprintf(names + used, len - used, "%s%s", used ? " " : "", de->d_name);
		if (used >= len)
			break;
	}
	closedir(dir);
	return names[0] ? 0 : -ENODEV;
}

/* Interrupt handlers named after virtio devices (ours name them virtioN). */
static int virtio_irq_handlers(void)
{
	return vs_irq_lines(NULL, NULL);
}

/*
 * Block I/O on @blk, and its device's interrupt handler: registered, on
 * one line, and counting the interrupts of that I/O. Returns 0, or the
 * step that failed as a negative number, after a message.
 */
static int io_with_irqs(struct __test_metadata *_metadata, const char *blk,
			unsigned int round)
{
	char dev[32];
	long before = 0, after = 0;

	EXPECT_EQ(0, vs_blk_virtio(blk, dev, sizeof(dev))) TH_LOG("%s has no virtio device", blk);
	EXPECT_LT(0, virtio_irq_handlers()) TH_LOG("no virtio handler in /proc/interrupts");
	EXPECT_LT(0, vs_irq_lines(dev, &before)) TH_LOG("no interrupt line named %s", dev);
	EXPECT_EQ(0, blk_roundtrip(blk, round)) TH_LOG("I/O on %s", blk);
	EXPECT_LT(0, vs_irq_lines(dev, &after));
	EXPECT_LT(before, after) TH_LOG("%s: no interrupt counted during I/O (%ld)", dev, after);
	return _metadata->exit_code ? -1 : 0;
}

/* The disks of VS_BLK_DEV, all present (@present) or all gone. */
static int wait_disks(char disks[MAX_ITEMS][VS_ITEM_LEN], int ndisks, int present)
{
	int i, ret;

	for (i = 0; i < ndisks; i++) {
		ret = vs_wait_path(disks[i], present, 10000);
		if (ret)
			return ret;
	}
	return 0;
}

/* Block I/O and its interrupts on every disk; 0, or -1 after a message. */
static int io_on_disks(struct __test_metadata *_metadata, char disks[MAX_ITEMS][VS_ITEM_LEN],
		       int ndisks, unsigned int round)
{
	int i;

	for (i = 0; i < ndisks; i++)
		if (io_with_irqs(_metadata, disks[i], round))
			return -1;
	return 0;
}

/* Writes each device of @names (space separated) to @bus's @drv/@attr. */
static int write_each(const char *bus, const char *drv, const char *attr, const char *names)
{
	char list[1024], path[PATH_MAX], *name, *save;
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/%s", bus, drv, attr);
	snprintf(list, sizeof(list), "%s", names);
	for (name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
		ret = vs_write_attr(path, name);
		if (ret) {
			fprintf(stderr, "# %s %s: %s\n", attr, name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

TEST(unbind_bind_cycles)
{
	char drvs[MAX_ITEMS][VS_ITEM_LEN], buses[MAX_ITEMS][VS_ITEM_LEN];
	char disks[MAX_ITEMS][VS_ITEM_LEN];
	char names[MAX_ITEMS][1024];
	long r, cycles = vs_env_long("VS_REBIND_CYCLES", 10);
	int ndrvs, nbuses, ndisks, i;

	ASSERT_NE(NULL, getenv("VS_TRANSPORT")) TH_LOG("VS_TRANSPORT not set");
	ndrvs = vs_env_list("VS_TRANSPORT", "", ',', drvs, MAX_ITEMS);
	nbuses = vs_env_list("VS_BUS", "platform", ',', buses, MAX_ITEMS);
	ndisks = vs_env_list("VS_BLK_DEV", "/dev/vda", ':', disks, MAX_ITEMS);
	ASSERT_LT(0, ndrvs) TH_LOG("VS_TRANSPORT: one to %d drivers", MAX_ITEMS);
	ASSERT_EQ(ndrvs, nbuses) TH_LOG("VS_BUS: one bus for each driver of VS_TRANSPORT");
	ASSERT_LT(0, ndisks) TH_LOG("VS_BLK_DEV: one to %d disks", MAX_ITEMS);
	for (i = 0; i < ndrvs; i++)
		ASSERT_EQ(0, bound_devices(buses[i], drvs[i], names[i], sizeof(names[i])))
			TH_LOG("no device bound to %s on %s", drvs[i], buses[i]);
	ASSERT_EQ(0, io_on_disks(_metadata, disks, ndisks, 100));
	for (r = 0; r < cycles; r++) {
		for (i = 0; i < ndrvs; i++)
			ASSERT_EQ(0, write_each(buses[i], drvs[i], "unbind", names[i]));
		ASSERT_EQ(0, wait_disks(disks, ndisks, 0)) TH_LOG("a disk still there after unbind");
		ASSERT_EQ(0, virtio_irq_handlers()) TH_LOG("an interrupt handler outlived unbind");
		for (i = 0; i < ndrvs; i++)
			ASSERT_EQ(0, write_each(buses[i], drvs[i], "bind", names[i]));
		ASSERT_EQ(0, wait_disks(disks, ndisks, 1)) TH_LOG("a disk missing after bind");
		ASSERT_EQ(0, io_on_disks(_metadata, disks, ndisks, r)) TH_LOG("I/O after rebind %ld", r);
	}
}

TEST(unload_reload_cycles)
{
	const char *mod = getenv("VS_MODULE");
	char disks[MAX_ITEMS][VS_ITEM_LEN];
	long r, cycles = vs_env_long("VS_RELOAD_CYCLES", 10);
	int ndisks = vs_env_list("VS_BLK_DEV", "/dev/vda", ':', disks, MAX_ITEMS);

	ASSERT_NE(NULL, mod) TH_LOG("VS_MODULE not set");
	ASSERT_LT(0, ndisks) TH_LOG("VS_BLK_DEV: one to %d disks", MAX_ITEMS);
	ASSERT_EQ(0, io_on_disks(_metadata, disks, ndisks, 200));
	for (r = 0; r < cycles; r++) {
		int ret;

		ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
			TH_LOG("unload %s: %s", mod, strerror(errno));
		ASSERT_EQ(0, wait_disks(disks, ndisks, 0)) TH_LOG("a disk still there after unload");
		ASSERT_EQ(0, virtio_irq_handlers()) TH_LOG("an interrupt handler outlived unload");
		ret = vs_modprobe(mod);
		ASSERT_EQ(0, ret) TH_LOG("load %s: %s", mod, strerror(-ret));
		ASSERT_EQ(0, wait_disks(disks, ndisks, 1)) TH_LOG("a disk missing after reload");
		ASSERT_EQ(0, io_on_disks(_metadata, disks, ndisks, r)) TH_LOG("I/O after reload %ld", r);
	}
}

TEST_HARNESS_MAIN
