// SPDX-License-Identifier: GPL-2.0
/*
 * Linked into every test with -Wl,--wrap=alarm: stretches the alarm()s
 * that bound a test (kselftest_harness.h's per-test timeout: 30 s unless
 * TEST_F_TIMEOUT() gives another) by the factor VS_TIMEOUT_SCALE from the
 * environment.  The runner sets it for a slower guest kernel
 * (run.py --timeout-scale: make check-kcsan's KCSAN kernel), so that no
 * test's timeout needs to know the kernels it runs on.
 */
#include <stdlib.h>
#include <unistd.h>

unsigned int __real_alarm(unsigned int seconds);

unsigned int __wrap_alarm(unsigned int seconds)
{
	const char *s = getenv("VS_TIMEOUT_SCALE");
	double scale = s ? strtod(s, NULL) : 1;

	/* alarm(0) cancels: it stays 0. */
	if (seconds && scale > 1)
		seconds = (unsigned int)(seconds * scale + 0.999);
	return __real_alarm(seconds);
}
