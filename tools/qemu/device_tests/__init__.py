# SPDX-License-Identifier: GPL-2.0
"""The device-side tests of our QEMU (test_device.py), by device type:
harness.py plays the driver through qtest, base.py holds the results and
shared helpers, and each other module the cases of one device type or
concern."""
