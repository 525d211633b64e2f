#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Device-side tests of the QEMU suspend patches, no guest needed.

Starts the patched qemu-system-x86_64 under qtest (-accel qtest) on the
microvm machine and plays the driver through the virtio-mmio registers:
feature negotiation, queues in guest memory, SUSPEND and resume in the
three dialects, the fault injection properties and the driver-violation
detector (read back from the -d guest_errors log).

    python3 tools/qemu/test_device.py $(bash tools/qemu/build.sh) [TEST...]

TEST names a case to run (the name after "# "), all of them by default.

Python 3 standard library only.  Prints one "ok"/"not ok" line per check
and ends with "N passed, N failed"; exits non-zero if anything failed.
"""

import os
import shutil
import sys

from device_tests.spec import SpecTests
from device_tests.blk import BlkTests
from device_tests.migration import MigrationTests
from device_tests.devices import DeviceTypeTests
from device_tests.p9 import P9Tests
from device_tests.vhost_user import VhostUserTests
from device_tests.pci import PciTests
from device_tests.faults import FaultTests


class Tests(SpecTests, BlkTests, MigrationTests, DeviceTypeTests, P9Tests,
            VhostUserTests, PciTests, FaultTests):
    """Every case, by device type (device_tests/), run in this order."""

    def main(self, only=()):
        tests = [self.t_features, self.t_realize_errors,
                 self.t_stop_feature_bit, self.t_vhost_refused,
                 self.t_unaudited_refused, self.t_iothread_refused,
                 self.t_spec_cycle,
                 self.t_delays, self.t_never_ack, self.t_suspend_fail,
                 self.t_resume_fail, self.t_not_negotiated,
                 self.t_notify_violation, self.t_avail_at_resume,
                 self.t_reset_suspended, self.t_v5, self.t_stop,
                 self.t_stop_restart, self.t_needs_reset_kept, self.t_blk,
                 self.t_other_devices, self.t_net_tx_to_suspended_peer,
                 self.t_net_tx_to_full_socket,
                 self.t_model_status,
                 self.t_stop_cont, self.t_pci_stop_cont,
                 self.t_pci_migrate, self.t_pci_types_stop_cont_migrate,
                 self.t_migrate,
                 self.t_migrate_delay,
                 self.t_no_ring_read, self.t_blk_async_ack,
                 self.t_blk_notify_at_resume,
                 self.t_suspend_stats,
                 self.t_balloon_stats, self.t_rng_entropy_while_suspended,
                 self.t_serial_ctrl, self.t_serial_rx_held,
                 self.t_input_held, self.t_gpu,
                 self.t_scsi_inflight, self.t_9p, self.t_9p_resuming,
                 self.t_9p_detector, self.t_9p_migrate, self.t_pci_cycle,
                 self.t_pci_no_soft_reset, self.t_pci_soft_reset,
                 self.t_pci_s3_wakeup,
                 self.t_pci_refused_writes, self.t_pci_bus_master,
                 self.t_pci_bus_master_inflight,
                 self.t_pci_ioeventfd, self.t_pci_bad_cap,
                 self.t_pci_vanish, self.t_pci_vanish_notify,
                 self.t_pci_vanish_inert, self.t_pci_vanish_reset,
                 self.t_fault_recovery,
                 self.t_fault_recovery_reset,
                 self.t_pci_unplug_suspending,
                 self.t_9p_pci, self.t_vhost_user_fs,
                 self.t_vhost_user_fs_backend_gone,
                 self.t_vhost_user_fs_used_moved,
                 self.t_vhost_user_fs_kick_left,
                 self.t_vhost_user_fs_backend_hung,
                 self.t_vhost_user_fs_resume_hung,
                 self.t_vhost_user_fs_probe_hung,
                 self.t_pci_vhost_user_stop_cont,
                 self.t_vhost_user_vsock]
        unknown = set(only) - {t.__name__[2:] for t in tests}
        if unknown:
            print(f"unknown test {', '.join(sorted(unknown))}",
                  file=sys.stderr)
            return 2
        for t in tests:
            if not only or t.__name__[2:] in only:
                self.run(t.__name__[2:], t)
        if self.failed:
            print(f"# QEMU logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed or not self.passed else 0


def main():
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} /path/to/qemu-system-x86_64 [TEST...]",
              file=sys.stderr)
        return 2
    binary = sys.argv[1]
    if not os.access(binary, os.X_OK):
        print(f"{binary}: not an executable", file=sys.stderr)
        return 2
    return Tests(binary).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
