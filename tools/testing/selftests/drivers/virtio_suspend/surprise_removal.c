// SPDX-License-Identifier: GPL-2.0
/*
 * A device that disappears (surprise removal) in the middle of a SUSPEND
 * handshake: its status reads 0xff from then on.  The transport must see
 * it at the first poll, not poll until suspend_timeout_ms, mark the
 * device's queues broken, refuse further commands (ENODEV), leave the
 * driver unfrozen, and let the device be unbound without waiting for a
 * reset that can never complete and without the virtio core's warning
 * about a status left set; a read outstanding on the device when it
 * vanished must end when the device goes, not hang.
 *
 * A device can also vanish outside any suspend, while its driver waits on
 * it: virtio_net sends a control command by spinning on its control queue
 * until the device answers or the queue is broken, holding rtnl, and its
 * remove needs rtnl.  The transport must find the PCI function gone at
 * remove and mark the queues broken before the driver's remove runs (as
 * the C virtio_pci does); otherwise the command and the unbind wait
 * forever.
 *
 * Our QEMU's x-fault-vanish property makes a virtio-pci device vanish
 * when the driver sets SUSPEND ("suspend"), clears it ("resume") or
 * notifies queue N after DRIVER_OK ("notify:N"): every read of its virtio
 * registers returns all ones afterwards, and with notify:N every read of
 * its PCI configuration space too.  The scenario sets suspend_timeout_ms
 * far above this test's timeout, so a transport that polls a vanished
 * device until the deadline fails by timing out.
 *
 * Environment:
 *   VS_VANISH  comma-separated "<virtioN>:suspend", "<virtioN>:resume" or
 *              "<virtioN>:notify", the devices with the fault, in probe
 *              order; those with suspend or resume must be bound to
 *              virtio_rng, those with notify (x-fault-vanish=notify:2) to
 *              virtio_net with one queue pair and the control queue.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vs_util.h"

#define GONE_PATH	"classic: device gone (status reads 0xff)"
/*
 * How long the control command test waits for each step (the vanish, the
 * unbind, the command's return, rtnl): far above the fraction of a
 * second each takes, so that a hang shows as this test's failure.
 */
#define CVQ_WAIT_MS	30000

static int control(const char *vdev, const char *command)
{
	char path[PATH_MAX];

	vs_control_path(vdev, path, sizeof(path));
	return vs_write_attr(path, command);
}

/*
 * Leaves @vdev the only device virtio_rng drives (the others unbound from
 * it), so that its hwrng is the current one and /dev/hwrng reads from it.
 */
static int make_only_rng(const char *vdev)
{
	char path[PATH_MAX], cur[64];
	struct dirent *de;
	DIR *dir = opendir("/sys/bus/virtio/drivers/virtio_rng");
	int ret = 0;

	if (!dir)
		return -errno;
	while (!ret && (de = readdir(dir))) {
		if (strncmp(de->d_name, "virtio", 6) || !strcmp(de->d_name, vdev))
			continue;
		ret = vs_write_attr("/sys/bus/virtio/drivers/virtio_rng/unbind", de->d_name);
	}
	closedir(dir);
	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/sys/bus/virtio/drivers/virtio_rng/%s", vdev);
	if (access(path, F_OK))
		return -ENODEV;
	ret = vs_read_attr("/sys/class/misc/hw_random/rng_current", cur, sizeof(cur));
	if (ret)
		return ret;
	return strncmp(cur, "virtio_rng.", 11) ? -ENODEV : 0;
}

/* Forks a reader of /dev/hwrng; it exits 0 once read() returns. */
static pid_t start_reader(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		char buf[64];
		int fd = open("/dev/hwrng", O_RDONLY);

		if (fd < 0)
			_exit(2);
		for (;;)
			if (read(fd, buf, sizeof(buf)) <= 0)
				_exit(0);
	}
	return pid;
}

/*
 * Waits at most @ms for @pid; 0 once it has exited (its wait status in
 * @status if not NULL), -ETIMEDOUT if not.
 */
static int wait_exit(pid_t pid, long ms, int *status)
{
	long start = vs_now_ms();
	int st;

	while (vs_now_ms() - start < ms) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (status)
				*status = st;
			return 0;
		}
		usleep(20 * 1000);
	}
	return -ETIMEDOUT;
}

/* Whether wait status @status is an exit with @code. */
static int exited_with(int status, int code)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

struct vanish {
	char vdev[32];
	char when[16];
};

static int parse_vanish(struct vanish *v, int max)
{
	char list[256], *tok, *save = NULL, *colon;
	int n = 0;

	snprintf(list, sizeof(list), "%s", vs_env_str("VS_VANISH", ""));
	for (tok = strtok_r(list, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
		colon = strchr(tok, ':');
		if (!colon || colon - tok >= (long)sizeof(v[n].vdev) ||
		    strlen(colon + 1) >= sizeof(v[n].when))
			return -EINVAL;
		*colon = '\0';
		strcpy(v[n].vdev, tok);
		strcpy(v[n].when, colon + 1);
		n++;
	}
	return n;
}

static void expect_gone(struct __test_metadata *_metadata, const char *vdev, long timeouts)
{
	char buf[128];

	ASSERT_EQ(0, vs_suspend_attr(vdev, "last_path", buf, sizeof(buf)));
	EXPECT_STREQ(GONE_PATH, buf);
	ASSERT_EQ(0, vs_suspend_attr(vdev, "state", buf, sizeof(buf)));
	EXPECT_STREQ("gone", buf);
	/* Seen at a poll, not at the deadline. */
	EXPECT_EQ(timeouts, vs_suspend_count(vdev, "timeouts"));
	/* Nothing more is asked of it. */
	EXPECT_EQ(-ENODEV, control(vdev, "suspend"));
	EXPECT_EQ(-ENODEV, control(vdev, "resume"));
}

TEST(vanish_while_suspending)
{
	struct vanish v[4];
	int i, n = parse_vanish(v, 4), seen = 0;

	ASSERT_LE(0, n) TH_LOG("VS_VANISH: <virtioN>:suspend|resume, comma-separated");
	for (i = 0; i < n; i++) {
		char bdf[32], path[PATH_MAX];
		long timeouts;

		if (strcmp(v[i].when, "suspend"))
			continue;
		seen++;
		ASSERT_EQ(0, vs_pci_function(v[i].vdev, bdf, sizeof(bdf)));
		timeouts = vs_suspend_count(v[i].vdev, "timeouts");
		ASSERT_LE(0, timeouts);

		/*
		 * The device vanishes as SUSPEND is written: the transport
		 * gives up on it, marks its queues broken and leaves its
		 * driver alone (not frozen, so no restore is due: a stock
		 * driver's remove after a freeze frees what the freeze did).
		 */
		EXPECT_EQ(0, control(v[i].vdev, "suspend"));
		expect_gone(_metadata, v[i].vdev, timeouts);

		/* Unbinding completes: no reset wait on a device that is gone. */
		EXPECT_EQ(0, vs_pci_unbind(bdf));
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", v[i].vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s still there after unbind", v[i].vdev);
	}
	ASSERT_LT(0, seen) TH_LOG("no device with x-fault-vanish=suspend in VS_VANISH");
}

TEST(vanish_while_resuming)
{
	struct vanish v[4];
	int i, n = parse_vanish(v, 4), seen = 0;

	ASSERT_LE(0, n) TH_LOG("VS_VANISH: <virtioN>:suspend|resume, comma-separated");
	for (i = 0; i < n; i++) {
		char bdf[32], path[PATH_MAX], buf[128];
		long timeouts;
		pid_t reader;
		int ret;

		if (strcmp(v[i].when, "resume"))
			continue;
		seen++;
		ASSERT_EQ(0, vs_pci_function(v[i].vdev, bdf, sizeof(bdf)));
		timeouts = vs_suspend_count(v[i].vdev, "timeouts");
		ASSERT_LE(0, timeouts);
		ASSERT_EQ(0, make_only_rng(v[i].vdev)) TH_LOG("%s as the only hwrng", v[i].vdev);

		/* SUSPEND is acknowledged; the device goes when it is resumed. */
		ASSERT_EQ(0, control(v[i].vdev, "suspend"));
		ASSERT_EQ(0, vs_suspend_attr(v[i].vdev, "state", buf, sizeof(buf)));
		EXPECT_STREQ("suspended", buf);

		/* A read outstanding across the resume that loses the device. */
		reader = start_reader();
		ASSERT_LT(0, reader);
		usleep(200 * 1000);

		EXPECT_EQ(-ENODEV, control(v[i].vdev, "resume"));
		expect_gone(_metadata, v[i].vdev, timeouts);

		/*
		 * Nothing the device held completes; the read ends when the
		 * device is unbound (virtio_rng's remove wakes its reader).
		 */
		EXPECT_EQ(0, vs_pci_unbind(bdf));
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", v[i].vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s still there after unbind", v[i].vdev);
		ret = wait_exit(reader, 5000, NULL);
		if (ret) {
			kill(reader, SIGKILL);
			waitpid(reader, NULL, 0);
		}
		EXPECT_EQ(0, ret) TH_LOG("the read outstanding on %s did not end after unbind",
					 v[i].vdev);
	}
	ASSERT_LT(0, seen) TH_LOG("no device with x-fault-vanish=resume in VS_VANISH");
}

/* The network interface of virtio device @vdev (bound to virtio_net). */
static int net_iface(const char *vdev, char *buf, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/net", vdev);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) < len) {
			snprintf(buf, len, "%s", de->d_name);
			ret = 0;
		}
		break;
	}
	closedir(dir);
	return ret;
}

/*
 * The vendor ID PCI function @bdf's configuration space reads now (0xffff
 * where there is no function: what pci_device_is_present() checks), or
 * -errno.
 */
static int pci_vendor_now(const char *bdf)
{
	char path[PATH_MAX];
	uint8_t id[2];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = pread(fd, id, sizeof(id), 0);
	close(fd);
	if (n != sizeof(id))
		return n < 0 ? -errno : -EIO;
	return id[0] | id[1] << 8;
}

/*
 * Forks a child that asks @ifname's driver for a new MAC address, which
 * virtio_net sends as a command on its control queue, holding rtnl and
 * spinning until the device answers.  The child exits 0 if the request
 * failed (the command was never answered), 1 if it succeeded, 2 if it
 * could not be made.
 */
static pid_t start_set_mac(const char *ifname)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct ifreq ifr = { 0 };
		int s = socket(AF_PACKET, SOCK_RAW, 0);

		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr))
			_exit(2);
		ifr.ifr_hwaddr.sa_data[5] ^= 0x10;
		_exit(ioctl(s, SIOCSIFHWADDR, &ifr) ? 0 : 1);
	}
	return pid;
}

/* Forks a child that unbinds PCI function @bdf; it exits 0 if that worked. */
static pid_t start_unbind(const char *bdf)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(vs_pci_unbind(bdf) ? 1 : 0);
	return pid;
}

/*
 * Forks a child that takes rtnl (SIOCSIFFLAGS on lo, the flags as they
 * are); it exits 0 once it has.
 */
static pid_t start_take_rtnl(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct ifreq ifr = { .ifr_name = "lo" };
		int s = socket(AF_PACKET, SOCK_RAW, 0);

		_exit(s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) ||
		      ioctl(s, SIOCSIFFLAGS, &ifr) ? 1 : 0);
	}
	return pid;
}

/* For TEST_F_TIMEOUT: the steps below take up to 4 * CVQ_WAIT_MS. */
FIXTURE(cvq) {};
FIXTURE_SETUP(cvq) {}
FIXTURE_TEARDOWN(cvq) {}

TEST_F_TIMEOUT(cvq, vanish_at_control_command, 4 * CVQ_WAIT_MS / 1000 + 30)
{
	struct vanish v[4];
	int i, n = parse_vanish(v, 4), seen = 0;

	ASSERT_LE(0, n) TH_LOG("VS_VANISH: <virtioN>:suspend|resume|notify, comma-separated");
	for (i = 0; i < n; i++) {
		char bdf[32], ifname[IFNAMSIZ], path[PATH_MAX];
		pid_t caller, unbinder, rtnl;
		long start;
		int status;

		if (strcmp(v[i].when, "notify"))
			continue;
		seen++;
		ASSERT_EQ(0, vs_pci_function(v[i].vdev, bdf, sizeof(bdf)));
		ASSERT_EQ(0, net_iface(v[i].vdev, ifname, sizeof(ifname)))
			TH_LOG("%s: no network interface (not bound to virtio_net?)", v[i].vdev);
		ASSERT_EQ(0x1af4, pci_vendor_now(bdf));

		/*
		 * The command's notification makes the device vanish: the
		 * command is never answered, its caller spins holding rtnl.
		 */
		caller = start_set_mac(ifname);
		ASSERT_LT(0, caller);
		start = vs_now_ms();
		while (pci_vendor_now(bdf) != 0xffff && vs_now_ms() - start < CVQ_WAIT_MS)
			usleep(20 * 1000);
		ASSERT_EQ(0xffff, pci_vendor_now(bdf))
			TH_LOG("%s did not vanish at its control command", v[i].vdev);
		/* Only a broken queue ends the wait: the command is outstanding. */
		EXPECT_EQ(0, waitpid(caller, &status, WNOHANG))
			TH_LOG("the command on %s returned before the unbind", ifname);

		/*
		 * The unbind finds the function gone and breaks the queues:
		 * the command fails, rtnl is released, virtio_net's remove
		 * runs.
		 */
		unbinder = start_unbind(bdf);
		ASSERT_LT(0, unbinder);
		ASSERT_EQ(0, wait_exit(unbinder, CVQ_WAIT_MS, &status))
			TH_LOG("the unbind of %s did not return: the driver still waits on the device that vanished",
			       bdf);
		EXPECT_TRUE(exited_with(status, 0)) TH_LOG("the unbind of %s failed", bdf);
		ASSERT_EQ(0, wait_exit(caller, CVQ_WAIT_MS, &status))
			TH_LOG("the control command on %s did not return", ifname);
		EXPECT_TRUE(exited_with(status, 0))
			TH_LOG("the MAC change on %s did not fail (wait status %#x)", ifname, status);

		EXPECT_EQ(0, if_nametoindex(ifname)) TH_LOG("%s still there after unbind", ifname);
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s", v[i].vdev);
		EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s still there after unbind", v[i].vdev);

		/* Nothing else is left waiting: rtnl is free. */
		rtnl = start_take_rtnl();
		ASSERT_LT(0, rtnl);
		ASSERT_EQ(0, wait_exit(rtnl, CVQ_WAIT_MS, &status)) TH_LOG("rtnl still held");
		EXPECT_TRUE(exited_with(status, 0));
	}
	ASSERT_LT(0, seen) TH_LOG("no device with x-fault-vanish=notify:2 in VS_VANISH");
}

TEST_HARNESS_MAIN
