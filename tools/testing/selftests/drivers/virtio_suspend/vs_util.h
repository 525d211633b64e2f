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

/*
 * One system sleep cycle in the kernel's "devices" test mode: every
 * device's suspend (or hibernation freeze) callbacks run, then resume
 * (thaw) runs, without the platform actually sleeping.
 * @state is "freeze" (s2idle) or "disk" (hibernation).
 */
static inline int vs_sleep_cycle(const char *state)
{
	int ret;

	ret = vs_write_attr("/sys/power/pm_test", "devices");
	if (ret)
		return ret;
	return vs_write_attr("/sys/power/state", state);
}

#endif /* VS_UTIL_H */
