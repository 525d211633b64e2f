// SPDX-License-Identifier: GPL-2.0
/*
 * virtio_ring's rewind gives a reset device back a buffer outstanding for
 * longer than a ring's worth of adds: loads vring_rewind_test.ko, whose
 * init runs the check and refuses to stay loaded with EAGAIN when it
 * passed (any other error, or a kernel report on the console, is a
 * failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kselftest_harness.h"

TEST(rewind_keeps_buffers_older_than_the_ring)
{
	char path[256];
	struct utsname u;
	int fd, ret;

	ASSERT_EQ(0, uname(&u));
	snprintf(path, sizeof(path),
		 "/lib/modules/%s/extra/vring_rewind_test.ko", u.release);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
	ret = syscall(SYS_finit_module, fd, "", 0);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EAGAIN, errno) TH_LOG("the module's check failed: %s (see the console)",
					strerror(errno));
	close(fd);
}

TEST_HARNESS_MAIN
