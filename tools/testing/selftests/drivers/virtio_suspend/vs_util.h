/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the virtio_suspend selftests: sysfs access, system
 * sleep test cycles and the settings the host runner passes in VS_*
 * environment variables.
 */
#ifndef VS_UTIL_H
#define VS_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static inline long vs_env_long(const char *name, long fallback)
{
	const char *val = getenv(name);
	char *end;
	long n;

	if (!val || !*val)
		return fallback;
	n = strtol(val, &end, 0);
	return *end ? fallback : n;
}

static inline const char *vs_env_str(const char *name, const char *fallback)
{
	const char *val = getenv(name);

	return val && *val ? val : fallback;
}

/*
 * The items of list @name (or of @fallback when it is unset or empty),
 * separated by @sep, into @items, @max of them at most; returns how many,
 * or -E2BIG for more than @max or an item longer than VS_ITEM_LEN - 1.
 * VS_BLK_DEV, for one, names several disks as /dev/vda:/dev/vdb.
 */
#define VS_ITEM_LEN 64
static inline int vs_env_list(const char *name, const char *fallback, char sep,
			      char (*items)[VS_ITEM_LEN], int max)
{
	const char *p = vs_env_str(name, fallback);
	char seps[2] = { sep, '\0' };
	int n = 0;
	size_t len;

	for (; *p; p += len + (p[len] == sep)) {
		len = strcspn(p, seps);
		if (n == max || len >= VS_ITEM_LEN)
			return -E2BIG;
		memcpy(items[n], p, len);
		items[n++][len] = '\0';
	}
	return n;
}

/* Monotonic time in milliseconds. */
static inline long vs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read a sysfs attribute into @buf, trailing newline removed. */
static inline int vs_read_attr(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

static inline int vs_write_attr(const char *path, const char *val)
{
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	if (n < 0)
		return -errno;
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

/* Field @idx (0-based) of /sys/block/@blk/stat: 6 is sectors written. */
static inline long long vs_blk_stat(const char *blk, int idx)
{
	char path[PATH_MAX], buf[256], *p = buf, *end;
	long long v = -1;
	int i;

	snprintf(path, sizeof(path), "/sys/block/%s/stat", blk);
	if (vs_read_attr(path, buf, sizeof(buf)))
		return -1;
	for (i = 0; i <= idx; i++) {
		v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	return v;
}

/* Basename of the target of the symlink @path, or -errno. */
static inline int vs_link_name(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	const char *base;
	size_t blen;
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	blen = strlen(base);
	if (blen >= len)
		return -ENAMETOOLONG;
	memcpy(buf, base, blen + 1);
	return 0;
}

/* Waits up to @timeout_ms for @path to exist (@present) or to vanish. */
static inline int vs_wait_path(const char *path, int present, long timeout_ms)
{
	long waited;

	for (waited = 0; waited < timeout_ms; waited += 50) {
		if ((access(path, F_OK) == 0) == present)
			return 0;
		usleep(50 * 1000);
	}
	return -ETIMEDOUT;
}

/* Loads module @mod from /lib/modules/<release>/extra: 0 or -errno. */
static inline int vs_load_module(const char *mod, const char *params)
{
	char path[PATH_MAX];
	struct utsname u;
	int fd, ret;

	if (uname(&u))
		return -errno;
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko", u.release, mod);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

/*
 * Loads module @mod as modprobe would: with the parameters the kernel
 * command line gives it (<mod>.<param>=<value>, the runner's
 * virtio_suspend.control_classic=1 among them). 0 or -errno.
 */
static inline int vs_modprobe(const char *mod)
{
	char cmdline[4096], params[1024] = "", prefix[64], *word, *save;
	size_t n = strlen(mod);
	FILE *f = fopen("/proc/cmdline", "r");

	if (!f)
		return -errno;
	if (!fgets(cmdline, sizeof(cmdline), f))
		cmdline[0] = '\0';
	fclose(f);
	snprintf(prefix, sizeof(prefix), "%s.", mod);
	for (word = strtok_r(cmdline, " \n", &save); word; word = strtok_r(NULL, " \n", &save)) {
		if (strncmp(word, prefix, n + 1) || strlen(params) + strlen(word) + 2 > sizeof(params))
			continue;
		strcat(params, " ");
		strcat(params, word + n + 1);
	}
	return vs_load_module(mod, params);
}

/*
 * Writes @command to the transport's debugfs control file of every
 * device. Returns how many devices, or the first -errno (naming the
 * device on stderr).
 */
static inline int vs_control_all(const char *command)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0, ret = 0;
	DIR *dir = opendir("/sys/kernel/debug/virtio_suspend");

	if (!dir)
		return -errno;
	while (!ret && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/virtio_suspend/%.255s", de->d_name);
		ret = vs_write_attr(path, command);
		if (ret)
			fprintf(stderr, "# %s: %s: %s\n", de->d_name, command, strerror(-ret));
		n++;
	}
	closedir(dir);
	return ret ? ret : n;
}

/*
 * The first two network interfaces bound to virtio_net, into @names.
 * Returns how many were found.
 */
static inline int vs_virtio_ifaces(char names[2][IFNAMSIZ])
{
	char path[PATH_MAX], drv[64];
	struct dirent *de;
	int n = 0;
	DIR *dir = opendir("/sys/class/net");

	while (dir && (de = readdir(dir)) && n < 2) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/device/driver", de->d_name);
		if (vs_link_name(path, drv, sizeof(drv)) || strcmp(drv, "virtio_net") ||
		    strlen(de->d_name) >= IFNAMSIZ)
			continue;
		strcpy(names[n++], de->d_name);
	}
	if (dir)
		closedir(dir);
	return n;
}

/* Reads a decimal sysfs value, or returns -1. */
/* Whether @item is one of the comma-separated @list. */
static inline int vs_listed(const char *item, const char *list)
{
	size_t len = strlen(item);
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == len && !strncmp(p, item, n))
			return 1;
		p += n + (p[n] == ',');
	}
	return 0;
}

static inline long vs_read_long(const char *path)
{
	char buf[32];

	if (vs_read_attr(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/* Reads /sys/bus/virtio/devices/<dev>/suspend/<attr> (the transport's). */
static inline int vs_suspend_attr(const char *dev, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/suspend/%s", dev, attr);
	return vs_read_attr(path, buf, len);
}

static inline long vs_suspend_count(const char *dev, const char *attr)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/suspend/%s", dev, attr);
	return vs_read_long(path);
}

/* The virtio device (virtioN) under block device @blk ("vda"), or -errno. */
static inline int vs_blk_virtio(const char *blk, char *buf, size_t len)
{
	char path[PATH_MAX];

	if (!strncmp(blk, "/dev/", 5))
		blk += 5;
	snprintf(path, sizeof(path), "/sys/block/%s/device", blk);
	return vs_link_name(path, buf, len);
}

/*
 * The virtio device under block device @blk (vda, sda, ...) wherever it
 * sits below it (virtio_blk: its parent; virtio-scsi: the controller the
 * disk hangs from), in @buf: 0 or -errno.
 */
static inline int vs_blk_virtio_device(const char *blk, char *buf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], *part, *save = NULL;
	int ret = -ENODEV;

	if (!strncmp(blk, "/dev/", 5))
		blk += 5;
	snprintf(path, sizeof(path), "/sys/block/%s", blk);
	if (!realpath(path, real))
		return -errno;
	for (part = strtok_r(real, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (strncmp(part, "virtio", 6) || !part[6] ||
		    strspn(part + 6, "0123456789") != strlen(part + 6))
			continue;
		if (strlen(part) >= len)
			return -ENAMETOOLONG;
		strcpy(buf, part);
		ret = 0;
	}
	return ret;
}

/* The debugfs control file of virtio device @vdev (virtioN), in @buf. */
static inline void vs_control_path(const char *vdev, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/kernel/debug/virtio_suspend/%s", vdev);
}

/*
 * The first virtio device (an entry "virtio<N>") in sysfs directory @dir
 * for which @match(name, arg) holds (every one if @match is NULL), in
 * @buf: 0, -ENODEV if none, or -errno.
 */
static inline int vs_find_virtio(const char *dir, int (*match)(const char *vdev, const void *arg),
				 const void *arg, char *buf, size_t len)
{
	struct dirent *de;
	int ret = -ENODEV;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (strncmp(n, "virtio", 6) || !n[6] || strspn(n + 6, "0123456789") != strlen(n + 6) ||
		    strlen(n) >= len || (match && !match(n, arg)))
			continue;
		strcpy(buf, n);
		ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* The first virtio device bound to virtio driver @drv, or -errno. */
static inline int vs_driver_virtio(const char *drv, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/%s", drv);
	return vs_find_virtio(path, NULL, NULL, buf, len);
}

/* How many devices are on the virtio bus. */
static inline int vs_virtio_devices(void)
{
	struct dirent *de;
	int n = 0;
	DIR *dir = opendir("/sys/bus/virtio/devices");

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/*
 * Whether interrupt handler @tok is one of device @name's vectors: the
 * PCI transport names them "<name>-config", "<name>-<queue>".
 */
static inline int vs_irq_name_of(const char *tok, const char *name)
{
	size_t len = strlen(name);

	return !strncmp(tok, name, len) && tok[len] == '-';
}

/*
 * The number of the first line of file @path that matches @fmt, a scanf
 * format with one %ld ("MemTotal: %ld kB"), or -1.
 */
static inline long vs_file_field(const char *path, const char *fmt)
{
	char line[256];
	long n = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, fmt, &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * Interrupt lines in /proc/interrupts. With @name, the lines one of whose
 * handlers is @name ("virtio0", one line on virtio-mmio) or one of its
 * vectors (see vs_irq_name_of()), their counts (all CPUs) summed into
 * *@count; without, the lines with any handler named virtio<N>.
 * Returns how many lines, or -errno.
 */
static inline int vs_irq_lines(const char *name, long *count)
{
	char line[1024];
	int lines = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return -errno;
	if (count)
		*count = 0;
	while (fgets(line, sizeof(line), f)) {
		char *tok, *save, *p = strchr(line, ':');
		long sum = 0;
		int counting = 1, match = 0;

		if (!p)
			continue;
		for (tok = strtok_r(p + 1, " ,\t\n", &save); tok;
		     tok = strtok_r(NULL, " ,\t\n", &save)) {
			char *end;
			long n = strtol(tok, &end, 10);

			if (counting && !*end) {
				sum += n;
				continue;
			}
			counting = 0;
			if (name ? !strcmp(tok, name) || vs_irq_name_of(tok, name) :
			    !strncmp(tok, "virtio", 6) && tok[6] >= '0' && tok[6] <= '9')
				match = 1;
		}
		if (match) {
			lines++;
			if (count)
				*count += sum;
		}
	}
	fclose(f);
	return lines;
}

/*
 * One system sleep cycle, by default in one of the kernel's test modes:
 * every device's suspend (or hibernation freeze) callbacks run, then
 * resume (thaw) runs, without the platform actually sleeping.
 * @state is "freeze" (s2idle), "mem" (the state mem_sleep names) or
 * "disk" (hibernation).  A suspend runs in the mode VS_PM_TEST names:
 * "devices" (the default) stops after the suspend callbacks, "platform"
 * after the late and noirq ones too (where the PCI core saves config
 * space and picks a power state), "none" really sleeps (something must
 * wake the guest: the runner's s3_wakeups, or for s2idle its power button
 * presses, s2idle_wakeups, which "vs-sleep-enter: freeze" starts) and
 * prints "vs-sleep: <state>" for the runner; hibernation always runs in
 * "devices".  A suspend must also be counted by the PM core as a
 * successful one: a write that returned without a completed
 * cycle is -EIO.
 */
static inline int vs_sleep_cycle(const char *state)
{
	const char *stat = "/sys/power/suspend_stats/success";
	const char *mode = strcmp(state, "disk") ? vs_env_str("VS_PM_TEST", "devices") : "devices";
	int real_s2idle = !strcmp(mode, "none") && !strcmp(state, "freeze");
	long before = -1, after;
	int ret;

	ret = vs_write_attr("/sys/power/pm_test", mode);
	if (ret)
		return ret;
	if (strcmp(state, "disk")) {
		before = vs_read_long(stat);
		if (before < 0)
			return -ENOENT;
	}
	if (real_s2idle) {
		/*
		 * The runner presses the power button from now on until the
		 * guest is back: the line must be out of the UART before the
		 * console suspends.
		 */
		printf("vs-sleep-enter: %s\n", state);
		fflush(stdout);
		tcdrain(STDOUT_FILENO);
	}
	ret = vs_write_attr("/sys/power/state", state);
	if (ret && real_s2idle) {
		/* The runner's presses stop. */
		printf("vs-sleep-failed: %s\n", state);
		fflush(stdout);
	}
	if (ret || before < 0)
		return ret;
	after = vs_read_long(stat);
	if (after != before + 1) {
		fprintf(stderr, "# %s: suspend_stats/success went from %ld to %ld\n",
			state, before, after);
		return -EIO;
	}
	/*
	 * A real s2idle idles until a wake-up interrupt, the ACPI SCI of the
	 * power button.  A press after the platform's s2idle prepare but
	 * before the noirq phase suspends interrupts is an ordinary one that
	 * signals a wake-up event: every device suspends and resumes, but
	 * acpi_s2idle_wake() ends the sleep before its first idle ("Wakeup
	 * unrelated to ACPI SCI") and no wake-up interrupt is recorded.  A
	 * complete cycle all the same, but not a real sleep: the runner
	 * counts only those (s2idle_wakeups).
	 */
	if (real_s2idle && vs_read_long("/sys/power/pm_wakeup_irq") <= 0) {
		fprintf(stderr, "# %s: woken before it idled (no wake-up interrupt)\n", state);
		printf("vs-sleep-unidled: %s\n", state);
		fflush(stdout);
		return 0;
	}
	/* The runner compares the real sleeps with what QEMU saw of them. */
	if (!strcmp(mode, "none")) {
		printf("vs-sleep: %s\n", state);
		fflush(stdout);
	}
	return 0;
}

/*
 * The state of a test's @n-th system sleep (from 0): VS_SLEEP_STATE names
 * one ("freeze", the default, or "mem") or several, comma-separated,
 * taken in turn ("mem,freeze": real S3 and s2idle alternating).
 */
static inline const char *vs_sleep_state(long n)
{
	static char state[16];
	const char *states = vs_env_str("VS_SLEEP_STATE", "freeze");
	long count = 1, i;
	const char *p;
	size_t len;

	for (p = states; (p = strchr(p, ',')); p++)
		count++;
	for (p = states, i = n % count; i > 0; i--)
		p = strchr(p, ',') + 1;
	len = strcspn(p, ",");
	if (len == 0 || len >= sizeof(state))
		return "";	/* refused by /sys/power/state: the cycle fails */
	memcpy(state, p, len);
	state[len] = '\0';
	return state;
}

/* The PCI function under virtio device @vdev: "0000:01:00.0". */
static inline int vs_pci_function(const char *vdev, char *buf, size_t len)
{
	char path[PATH_MAX], real[PATH_MAX], *slash;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", vdev);
	if (!realpath(path, real))
		return -errno;
	slash = strrchr(real, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	slash = strrchr(real, '/');
	if (!slash || strlen(slash + 1) >= len)
		return -EINVAL;
	strcpy(buf, slash + 1);
	return 0;
}

/* Unbinds PCI function @bdf from its driver: 0 or -errno. */
static inline int vs_pci_unbind(const char *bdf)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", bdf);
	return vs_write_attr(path, bdf);
}

/*
 * A reader of the kernel log from now on: /dev/kmsg, non-blocking, at
 * its end.  Returns the fd or -errno.
 */
static inline int vs_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * The next record of non-blocking kmsg reader @fd, into @rec: its message
 * text (first line, without the "prio,seq,...;" prefix), or NULL when
 * there is none yet.  Records overwritten before they were read are
 * skipped.
 */
static inline char *vs_kmsg_next(int fd, char *rec, size_t len)
{
	char *msg;
	ssize_t n;

	do
		n = read(fd, rec, len - 1);
	while (n < 0 && errno == EPIPE);
	if (n <= 0)
		return NULL;
	rec[n] = '\0';
	msg = strchr(rec, ';');
	msg = msg ? msg + 1 : rec;
	msg[strcspn(msg, "\n")] = '\0';
	return msg;
}

/*
 * Waits up to @timeout_ms for kmsg reader @fd (vs_kmsg_open()) to read a
 * record containing @needle; prints it as a TAP comment.  Returns 0, or
 * -ETIMEDOUT.
 */
static inline int vs_kmsg_wait(int fd, const char *needle, long timeout_ms)
{
	long end = vs_now_ms() + timeout_ms;
	char rec[8192], *msg;

	for (;;) {
		msg = vs_kmsg_next(fd, rec, sizeof(rec));
		if (!msg) {
			if (vs_now_ms() > end)
				return -ETIMEDOUT;
			usleep(10000);
			continue;
		}
		if (strstr(msg, needle)) {
			printf("# kernel: %s\n", msg);
			return 0;
		}
	}
}

#endif /* VS_UTIL_H */
