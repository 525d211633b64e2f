// SPDX-License-Identifier: GPL-2.0
/*
 * Never returns.  Not a test of the driver: the runner's "hang"
 * scenario runs it to check that a guest that stops making progress
 * fails its scenario at the timeout instead of hanging "make check".
 */
#include "kselftest_harness.h"

FIXTURE(hang) {
	int unused;
};

FIXTURE_SETUP(hang)
{
}

FIXTURE_TEARDOWN(hang)
{
}

TEST_F_TIMEOUT(hang, sleeps_forever, 3600)
{
	for (;;)
		pause();
}

TEST_HARNESS_MAIN
