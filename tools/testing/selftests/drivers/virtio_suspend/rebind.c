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
 * Environment: VS_TRANSPORT (driver name), VS_BUS (its bus: platform, the
 * default, or pci), VS_MODULE (module
 * name, for unload/reload), VS_BLK_DEV (default /dev/vda),
 * VS_REBIND_CYCLES and VS_RELOAD_CYCLES (default 10).
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define IO_BYTES 4096

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

/*
 * The bus the transport is on: "platform" (virtio-mmio) unless VS_BUS
 * says "pci".
 */
static const char *transport_bus(void)
{
	return vs_env_str("VS_BUS", "platform");
}

/* The devices bound to the transport driver, space separated. */
static int bound_devices(const char *drv, char *names, size_t len)
{
	char path[256];
	struct dirent *de;
	size_t used = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s", transport_bus(), drv);
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

TEST(unbind_bind_cycles)
{
	const char *drv = getenv("VS_TRANSPORT");
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	long r, cycles = vs_env_long("VS_REBIND_CYCLES", 10);
	char names[1024], path[PATH_MAX], *name, *save;

	ASSERT_NE(NULL, drv) TH_LOG("VS_TRANSPORT not set");
	ASSERT_EQ(0, bound_devices(drv, names, sizeof(names)));
	ASSERT_EQ(0, io_with_irqs(_metadata, blk, 100));
	for (r = 0; r < cycles; r++) {
		char list[1024];

		snprintf(list, sizeof(list), "%s", names);
		for (name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
			snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/unbind",
				 transport_bus(), drv);
			ASSERT_EQ(0, vs_write_attr(path, name)) TH_LOG("unbind %s", name);
		}
		ASSERT_EQ(0, vs_wait_path(blk, 0, 10000)) TH_LOG("%s still there after unbind", blk);
		ASSERT_EQ(0, virtio_irq_handlers()) TH_LOG("an interrupt handler outlived unbind");
		snprintf(list, sizeof(list), "%s", names);
		for (name = strtok_r(list, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
			snprintf(path, sizeof(path), "/sys/bus/%s/drivers/%s/bind",
				 transport_bus(), drv);
			ASSERT_EQ(0, vs_write_attr(path, name)) TH_LOG("bind %s", name);
		}
		ASSERT_EQ(0, vs_wait_path(blk, 1, 10000)) TH_LOG("%s missing after bind", blk);
		ASSERT_EQ(0, io_with_irqs(_metadata, blk, r)) TH_LOG("I/O after rebind %ld", r);
	}
}

TEST(unload_reload_cycles)
{
	const char *mod = getenv("VS_MODULE");
	const char *blk = vs_env_str("VS_BLK_DEV", "/dev/vda");
	long r, cycles = vs_env_long("VS_RELOAD_CYCLES", 10);

	ASSERT_NE(NULL, mod) TH_LOG("VS_MODULE not set");
	ASSERT_EQ(0, io_with_irqs(_metadata, blk, 200));
	for (r = 0; r < cycles; r++) {
		int ret;

		ASSERT_EQ(0, syscall(SYS_delete_module, mod, O_NONBLOCK))
			TH_LOG("unload %s: %s", mod, strerror(errno));
		ASSERT_EQ(0, vs_wait_path(blk, 0, 10000));
		ASSERT_EQ(0, virtio_irq_handlers()) TH_LOG("an interrupt handler outlived unload");
		ret = vs_modprobe(mod);
		ASSERT_EQ(0, ret) TH_LOG("load %s: %s", mod, strerror(-ret));
		ASSERT_EQ(0, vs_wait_path(blk, 1, 10000)) TH_LOG("%s missing after reload", blk);
		ASSERT_EQ(0, io_with_irqs(_metadata, blk, r)) TH_LOG("I/O after reload %ld", r);
	}
}

TEST_HARNESS_MAIN
