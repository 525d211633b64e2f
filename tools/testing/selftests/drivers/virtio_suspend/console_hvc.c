// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel console on a virtio console (hvc0) across SUSPEND.
 *
 * virtio_console's hvc output adds a buffer and spins, interrupts off,
 * until the device has used it; its control messages do the same. A
 * queue held while the device is suspended is never used, so the first
 * printk to hvc0 after the suspend would spin forever. The transport
 * refuses those queues instead of holding them: hvc drops the console
 * line, which stays in the kernel log.
 *
 * The scenario puts the kernel console on hvc0 (and ttyS0, which the
 * runner reads) with no_console_suspend. While the console device is
 * suspended through debugfs, this test prints to the kernel log and
 * writes to /dev/hvc0, then resumes it; then s2idle cycles with every
 * message sent to the consoles, so that the PM core prints to hvc0 while
 * the device is suspended. Each must return, and take the SUSPEND path.
 *
 * Environment:
 *   VS_SLEEP_CYCLES    s2idle cycles (default 2)
 */
#include <fcntl.h>

#include "kselftest_harness.h"
#include "vs_util.h"

FIXTURE(hvc) {
	char vdev[32], ctl[PATH_MAX];
};

FIXTURE_SETUP(hvc)
{
	char buf[256];

	ASSERT_EQ(0, vs_driver_virtio("virtio_console", self->vdev, sizeof(self->vdev)))
		TH_LOG("no virtio device bound to virtio_console");
	vs_control_path(self->vdev, self->ctl, sizeof(self->ctl));
	ASSERT_EQ(0, vs_read_attr("/proc/consoles", buf, sizeof(buf)));
	ASSERT_NE(NULL, strstr(buf, "hvc0")) TH_LOG("kernel console not on hvc0: %s", buf);
}

FIXTURE_TEARDOWN(hvc)
{
}

/* One line to the kernel log, which printk sends to hvc0. */
static int printk_line(const char *line)
{
	int fd = open("/dev/kmsg", O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, line, strlen(line));
	close(fd);
	return n == (ssize_t)strlen(line) ? 0 : -EIO;
}

static int hvc_write(const char *text)
{
	int fd = open("/dev/hvc0", O_WRONLY | O_NOCTTY | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

TEST_F_TIMEOUT(hvc, printk_while_suspended, 120)
{
	long suspends = vs_suspend_count(self->vdev, "suspends");
	char state[32];
	int i;

	ASSERT_LE(0, suspends);
	ASSERT_EQ(0, vs_write_attr(self->ctl, "suspend"));
	ASSERT_EQ(0, vs_suspend_attr(self->vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("suspended", state);
	for (i = 0; i < 20; i++)
		ASSERT_EQ(0, printk_line("<4>virtio-suspend test: printk while the console is suspended\n"));
	EXPECT_EQ(0, hvc_write("written to hvc0 while suspended\r\n"));
	ASSERT_EQ(0, vs_write_attr(self->ctl, "resume"));
	ASSERT_EQ(0, vs_suspend_attr(self->vdev, "state", state, sizeof(state)));
	EXPECT_STREQ("running", state);
	EXPECT_EQ(suspends + 1, vs_suspend_count(self->vdev, "suspends"));
	/* And the console works again. */
	ASSERT_EQ(0, printk_line("<4>virtio-suspend test: printk after resume\n"));
	EXPECT_EQ(0, hvc_write("written to hvc0 after resume\r\n"));
}

TEST_F_TIMEOUT(hvc, sleep_cycles_with_console_on_hvc0, 300)
{
	long cycles = vs_env_long("VS_SLEEP_CYCLES", 2), i;
	long suspends = vs_suspend_count(self->vdev, "suspends");
	char path[160], printk[64];
	int ret;

	/*
	 * Every message to the consoles: the PM core's own lines (with
	 * pm_print_times, one per device callback) then print while the
	 * console device is suspended.
	 */
	ASSERT_EQ(0, vs_read_attr("/proc/sys/kernel/printk", printk, sizeof(printk)));
	ASSERT_EQ(0, vs_write_attr("/proc/sys/kernel/printk", "8"));
	for (i = 0; i < cycles; i++) {
		ret = vs_sleep_cycle("freeze");
		if (ret)
			break;
		ret = printk_line("<4>virtio-suspend test: printk between sleep cycles\n");
		if (ret)
			break;
	}
	/* The first field only: the console log level. */
	printk[strcspn(printk, " \t")] = '\0';
	EXPECT_EQ(0, vs_write_attr("/proc/sys/kernel/printk", printk));
	ASSERT_EQ(0, ret) TH_LOG("s2idle cycle %ld: %s", i, strerror(-ret));
	EXPECT_EQ(suspends + cycles, vs_suspend_count(self->vdev, "suspends"));
	ASSERT_EQ(0, vs_suspend_attr(self->vdev, "last_path", path, sizeof(path)));
	EXPECT_STREQ("suspend", path);
}

TEST_HARNESS_MAIN
