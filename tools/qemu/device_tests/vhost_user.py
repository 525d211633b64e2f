# SPDX-License-Identifier: GPL-2.0
"""vhost-user devices (virtiofsd, vhost-device-vsock): SUSPEND through
the back-end, and a back-end that is gone, hangs or moves the rings."""

import os
import struct
import subprocess
import time

from .harness import (
    CONFIG, DRIVER_OK, FS_ID, FS_REQUESTS, FUSE_GETATTR, FUSE_INIT, FUSE_ROOT,
    F_SUSPEND, F_VERSION_1, NEEDS_RESET, QemuError, RUNNING, SUSPEND,
    StubVhostUserBackend, ThreadStopped, VHOST_USER_BUILD,
    VIRTIOFSD_REQUEST_THREAD)
from .base import TestBase


class VhostUserTests(TestBase):
    def t_vhost_refused(self):
        """A vhost backend processes the queues: suspend=on is refused."""
        sock = os.path.join(self.tmp, "vhost-user.sock")
        chardev = ["-chardev", f"socket,id=vu0,path={sock},server=on,wait=off"]
        msg = "suspend=on is not supported by {}: a vhost backend"
        # (vhost-user-fs-device and vhost-user-vsock-device stop their
        # backend: t_vhost_user_fs, t_vhost_user_vsock)
        for dev, props in (("vhost-user-blk", ",chardev=vu0"),
                           ("vhost-user-rng", ",chardev=vu0"),
                           ("vhost-vsock-device", ",guest-cid=3")):
            self.realize_refuses(dev, [(props + ",suspend=on",
                                        msg.format(dev))], extra=chardev)

    def t_pci_vhost_user_stop_cont(self):
        """The device types with a vhost-user backend (virtio-fs with
        virtiofsd, vsock with vhost-device-vsock) on virtio-pci with
        ioeventfds, whose kick eventfds the backend owns: suspended, each
        stays suspended through QMP stop and cont (which stop and start
        vhost devices and QEMU's notifiers), with no notification of the
        driver's reported, resumes, and its backend takes requests again
        (virtio-fs: a FUSE request answered).  Neither can migrate in
        QEMU 7.2 (both are unmigratable: their state is the backend's)."""
        mem = ["-object", "memory-backend-memfd,id=mem,size=64M,share=on"]
        machine = "microvm,acpi=on,pcie=on,memory-backend=mem"
        for device in ("vhost-user-fs-pci", "vhost-user-vsock-pci"):
            what = f"{device} suspended"
            if device == "vhost-user-fs-pci":
                sock, props, queues = self.virtiofsd(), ",tag=vsfs", [0, 1]
            else:
                sock, props, queues = self.vhost_device_vsock(), "", [0, 1, 2]
            q, d = self.pci(",chardev=c0" + props,
                            mem + ["-chardev", f"socket,id=c0,path={sock}"],
                            device=device, machine=machine)
            d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=queues)
            self.eq(d.status, RUNNING, f"{device}: running")
            if device == "vhost-user-fs-pci":
                self.eq(self.fuse_call(d, FUSE_INIT, 1, 0,
                                       struct.pack("<IIII", 7, 31, 0, 0),
                                       f"{what}: FUSE_INIT"), 0,
                        f"{device}: FUSE_INIT answered")
            self.suspended_through_stop_cont(q, d, what)
            d.set_status(RUNNING)
            self.eq(self.poll_status(d, self.SUSPENDED), RUNNING,
                    f"{what}: resumed")
            if device == "vhost-user-fs-pci":
                self.eq(self.fuse_call(d, FUSE_GETATTR, 2, FUSE_ROOT,
                                       struct.pack("<IIQ", 0, 0, 0),
                                       f"{what}: FUSE_GETATTR"), 0,
                        f"{what}: a request answered after the resume")
            self.device_bugs(q, device)
            self.no_violation(q, device)
            q.close()
        self.backend_errors("vhost-user on virtio-pci")

    # -- vhost-user-fs ------------------------------------------------
    def start_backend(self, name, args):
        """Starts vhost-user backend name (tools/vhost-user) with args,
        which name {sock} where it must listen; waits until it does:
        returns that socket's path."""
        binary = subprocess.run(["bash", VHOST_USER_BUILD, name], check=True,
                                stdout=subprocess.PIPE,
                                text=True).stdout.strip()
        n = len(self.backends)
        sock = os.path.join(self.tmp, f"{name}{n}.sock")
        log = open(os.path.join(self.tmp, f"{name}{n}.log"), "w")
        proc = subprocess.Popen([binary] + [a.format(sock=sock) for a in args],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
        log.close()
        self.backends.append((proc, log.name))
        end = time.monotonic() + 20
        while not os.path.exists(sock):
            if proc.poll() is not None or time.monotonic() > end:
                raise QemuError(f"{name} did not start: " +
                                open(log.name).read())
            time.sleep(0.05)
        return sock

    def vhost_device_vsock(self):
        """vhost-device-vsock, guest CID 3: returns its socket's path."""
        return self.start_backend("vhost-device-vsock", [
            "--guest-cid=3", "--socket={sock}",
            f"--uds-path={self.tmp}/vsock.uds"])

    def t_vhost_user_vsock(self):
        """vhost-user-vsock with vhost-device-vsock: SUSPEND negotiated
        and cycled with the backend's rings stopped and started (the
        backend is not told of the feature bit: it would refuse it);
        the guest scenario carries the traffic."""
        sock = self.vhost_device_vsock()
        path = "/machine/peripheral/dev0"
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vsk0,path={sock}",
             "-device", "vhost-user-vsock-device,id=dev0,chardev=vsk0,"
             "suspend=on"], dev_id=19, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1, 2])
        self.check(feats & (1 << F_SUSPEND), "vhost-user-vsock: bit 43 "
                   "offered and negotiated")
        self.eq(d.status, RUNNING, "vhost-user-vsock: running")
        self.eq(struct.unpack("<Q", q.read(d.base + CONFIG, 8))[0], 3,
                "vhost-user-vsock: guest CID 3 from the backend")
        for cycle in (1, 2):
            what = f"vhost-user-vsock cycle {cycle}"
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: acknowledged")
            self.eq(q.qom_get(path, "suspend-state"), "suspended",
                    f"{what}: suspend-state suspended")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"{what}: resumed")
        self.device_bugs(q, "vhost-user-vsock")
        self.no_violation(q, "vhost-user-vsock")
        self.backend_errors("vhost-user-vsock")

    def virtiofsd(self):
        """virtiofsd serving a scratch directory, in its default serial
        mode: returns its socket's path."""
        share = os.path.join(self.tmp, f"virtiofs{len(self.backends)}")
        os.makedirs(share, exist_ok=True)
        return self.start_backend("virtiofsd", [
            "--socket-path={sock}", f"--shared-dir={share}",
            "--sandbox=none", "--seccomp=none", "--cache=never"])

    def backend_errors(self, what):
        errors = [l for _, name in self.backends
                  for l in open(name).read().splitlines() if " ERROR " in l]
        self.check(not errors, what + ": no error in the backend's log",
                   "\n".join(errors))

    def fuse_call(self, d, opcode, unique, nodeid, body, what):
        """One FUSE request, notified; waits for its reply: its error."""
        used = d.used_idx(FS_REQUESTS)
        reply = d.fuse_request(opcode, unique, nodeid, body)
        d.kick(FS_REQUESTS)
        if not d.wait_used(FS_REQUESTS, (used + 1) & 0xffff):
            self.check(False, f"{what}: no reply")
            return None
        r = d.fuse_reply(reply)
        self.check(r is not None and r[1] == unique, f"{what}: its reply",
                   repr(r))
        return r and r[0]

    def t_vhost_user_fs(self):
        """vhost-user-fs with virtiofsd: SUSPEND stops the backend's rings
        (a request in flight is answered before the acknowledgement or
        after the resume, never while suspended), resume starts them
        where they stopped; the suspend feature bit is QEMU's, the
        backend is not told of it (it would refuse it and disconnect)."""
        path = "/machine/peripheral/dev0"
        q, d, _ = self.vhost_user_fs_started("vhost-user-fs")
        getattr_in = struct.pack("<IIQ", 0, 0, 0)
        self.eq(self.fuse_call(d, FUSE_GETATTR, 2, FUSE_ROOT, getattr_in,
                               "vhost-user-fs: GETATTR"), 0,
                "vhost-user-fs: GETATTR of the root")
        for cycle in (1, 2):
            what = f"vhost-user-fs cycle {cycle}"
            used = d.used_idx(FS_REQUESTS)
            unique = 10 * cycle
            reply = d.fuse_request(FUSE_GETATTR, unique, FUSE_ROOT,
                                   getattr_in)
            d.kick(FS_REQUESTS)
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: acknowledged")
            self.eq(q.qom_get(path, "suspend-state"), "suspended",
                    f"{what}: suspend-state suspended")
            before = d.used_idx(FS_REQUESTS)
            d.ack_isr()
            time.sleep(0.3)
            self.eq(d.used_idx(FS_REQUESTS), before,
                    f"{what}: used ring still while suspended")
            self.eq(d.isr(), 0, f"{what}: no interrupt while suspended")
            d.set_status(RUNNING)
            self.eq(d.status, RUNNING, f"{what}: resumed")
            self.check(d.wait_used(FS_REQUESTS, (used + 1) & 0xffff),
                       f"{what}: the request kicked before the suspend is "
                       "answered", f"used index {d.used_idx(FS_REQUESTS)}")
            self.eq(d.fuse_reply(reply), (0, unique),
                    f"{what}: its reply")
            # Started where it stopped: the next request is served, once
            self.eq(self.fuse_call(d, FUSE_GETATTR, unique + 1, FUSE_ROOT,
                                   getattr_in, what), 0,
                    f"{what}: a request after the resume")
            self.eq(d.used_idx(FS_REQUESTS), (used + 2) & 0xffff,
                    f"{what}: one used element per request")
        self.eq(q.qom_get(path, "suspend-device-bugs"), 0,
                "vhost-user-fs: suspend-device-bugs is 0")
        self.device_bugs(q, "vhost-user-fs")
        self.no_violation(q, "vhost-user-fs")
        self.backend_errors("vhost-user-fs")

    def vhost_user_fs_started(self, what, extra=()):
        """A vhost-user-fs device over a fresh virtiofsd, set up with
        SUSPEND (bit 43 offered and negotiated) and FUSE_INIT answered;
        extra: more QEMU arguments.  Returns (q, d, the backend's
        process)."""
        sock = self.virtiofsd()
        proc = self.backends[-1][0]
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vfs0,path={sock}",
             "-device", "vhost-user-fs-device,id=dev0,chardev=vfs0,tag=vsfs,"
             "suspend=on", *extra], dev_id=FS_ID, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        self.check(feats & (1 << F_SUSPEND), f"{what}: bit 43 offered and "
                   "negotiated")
        self.eq(d.status, RUNNING, f"{what}: running")
        self.eq(self.fuse_call(d, FUSE_INIT, 1, 0,
                               struct.pack("<IIII", 7, 31, 0, 0),
                               f"{what}: FUSE_INIT"), 0,
                f"{what}: FUSE_INIT answered (the backend started)")
        return q, d, proc

    def needs_reset(self, d, what):
        """The device answered a suspend or resume it could not do with
        DEVICE_NEEDS_RESET, as the spec wants, not with the status it
        was asked for."""
        status = d.status
        self.check(status & NEEDS_RESET, f"{what}: DEVICE_NEEDS_RESET",
                   f"status {status:#x}")
        self.check(status & SUSPEND == 0 and status & DRIVER_OK,
                   f"{what}: neither suspended nor running without it",
                   f"status {status:#x}")

    def t_vhost_user_fs_backend_gone(self):
        """vhost-user-fs whose backend is gone: the stop at the SUSPEND
        request (or the start at the resume) cannot reach it, and the
        device answers with DEVICE_NEEDS_RESET, as the spec wants of a
        device that cannot suspend (or resume), instead of reporting
        itself suspended (or running) with a dead backend."""
        for at in ("suspend", "resume"):
            what = f"vhost-user-fs, backend gone before the {at}"
            q, d, proc = self.vhost_user_fs_started(what)
            if at == "resume":
                d.set_status(RUNNING | SUSPEND)
                self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
            proc.kill()
            proc.wait()
            time.sleep(0.2)             # QEMU sees the socket close
            d.set_status(RUNNING | SUSPEND if at == "suspend" else RUNNING)
            self.needs_reset(d, what)
            q.close()

    def backend_given_up(self, q, d, what, start, ms, write):
        """After a status write (at time start) that QEMU could not
        complete with a vhost-user backend not answering within ms: the
        device answers with DEVICE_NEEDS_RESET, QMP answers, and QEMU said
        why.  Returns how long the write took."""
        self.needs_reset(d, what)
        self.eq(q.qmp_cmd("query-status")["status"], "running",
                f"{what}: QMP answers")
        waited = time.monotonic() - start
        self.check(f"no reply in {ms} ms while the device suspends or resumes"
                   in q.stderr(), f"{what}: QEMU says why", q.stderr())
        print(f"# {what}: the {write} returned in {waited:.1f} s")
        return waited

    def t_vhost_user_fs_backend_hung(self):
        """vhost-user-fs whose backend does not answer the stop
        (GET_VRING_BASE): the SUSPEND write waits for the reply under the
        global lock, so without a bound the whole of QEMU, QMP included,
        waits as long as the backend does.  The backend's thread that
        answers vhost-user requests is stopped (ptrace) across the
        SUSPEND write: after x-suspend-vhost-reply-ms QEMU gives up on the
        backend, the device answers with DEVICE_NEEDS_RESET and QEMU goes
        on."""
        what = "vhost-user-fs, backend not answering the stop"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-global", "vhost-user-fs-device.x-suspend-vhost-reply-ms=300"])
        with ThreadStopped(proc.pid, VIRTIOFSD_REQUEST_THREAD):
            start = time.monotonic()
            d.set_status(RUNNING | SUSPEND)
            self.backend_given_up(q, d, what, start, 300, "SUSPEND write")
        q.close()

    def t_vhost_user_fs_resume_hung(self):
        """vhost-user-fs whose backend does not answer the start of the
        resume: the resume's status write starts the backend's rings
        again and asks it whether it answers (GET_FEATURES), under the
        global lock, so without a bound the whole of QEMU waits as long
        as the backend does.  The suspend goes through; the backend's
        thread that answers vhost-user requests is stopped (ptrace)
        across the resume's write: after x-suspend-vhost-reply-ms QEMU
        gives up on the backend, the device answers with
        DEVICE_NEEDS_RESET and QEMU goes on.  The bound, 4400 ms, is past
        what 32 bits hold in nanoseconds: QEMU waits that long, not what
        is left after a wrap (105 ms)."""
        what = "vhost-user-fs, backend not answering the resume"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-global", "vhost-user-fs-device.x-suspend-vhost-reply-ms=4400"])
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
        with ThreadStopped(proc.pid, VIRTIOFSD_REQUEST_THREAD):
            start = time.monotonic()
            d.set_status(RUNNING)
            waited = self.backend_given_up(q, d, what, start, 4400,
                                           "resume's write")
        self.check(waited >= 4.3, f"{what}: QEMU waited the bound",
                   f"{waited:.2f} s")
        q.close()

    def t_vhost_user_fs_probe_hung(self):
        """vhost-user-fs whose backend answers the stop (GET_VRING_BASE on
        every ring) and then not the GET_FEATURES by which the device asks
        whether it still answers: that probe runs after the stop has
        detached the vhost device from the virtio device, and must be
        bounded too (x-suspend-vhost-reply-ms), or the whole of QEMU waits
        in the SUSPEND write.  A stub backend hangs on cue."""
        what = "vhost-user-fs, backend not answering after the stop"
        sock = os.path.join(self.tmp, "stub-fs.sock")
        stub = StubVhostUserBackend(sock, hang_after_stop={
            StubVhostUserBackend.GET_FEATURES})
        q, d = self.device(
            ["-object", "memory-backend-memfd,id=mem,size=64M,share=on",
             "-chardev", f"socket,id=vfs0,path={sock}",
             "-device", "vhost-user-fs-device,id=dev0,chardev=vfs0,tag=vsfs,"
             "suspend=on,x-suspend-vhost-reply-ms=300"], dev_id=FS_ID, qmp=True,
            machine="microvm,acpi=on,memory-backend=mem")
        feats = d.init(1 << F_VERSION_1 | 1 << F_SUSPEND, queues=[0, 1])
        self.check(feats & (1 << F_SUSPEND), f"{what}: bit 43 offered and "
                   "negotiated")
        self.eq(d.status, RUNNING, f"{what}: running")
        start = time.monotonic()
        d.set_status(RUNNING | SUSPEND)
        self.check(stub.hung == StubVhostUserBackend.GET_FEATURES,
                   f"{what}: the backend answered the stop, not the probe",
                   f"requests {stub.requests}")
        self.backend_given_up(q, d, what, start, 300, "SUSPEND write")
        q.close()

    def t_vhost_user_fs_kick_left(self):
        """A kick still in a vhost backend's kick eventfd at the SUSPEND
        write came before the request.  The backend owns the eventfd:
        QEMU's drain of pending kicks must leave it alone (a kick it reads
        is lost to the backend).  If the backend has not read it when its
        rings stop (GET_VRING_BASE unregisters the eventfd from its
        loop), the stop's notifier clean-up finds it: a kick from before
        the request, not a violation, and the resume, which kicks every
        ring again, brings it to the backend.  The backend's vring worker
        thread is stopped (ptrace) across the kick and the SUSPEND write,
        its other threads answer the stop; QEMU's virtio_queue_notify
        trace shows what QEMU processed itself."""
        what = "vhost-user-fs, kick left in the eventfd"
        q, d, proc = self.vhost_user_fs_started(
            what, ["-trace", "virtio_queue_notify"])
        used = d.used_idx(FS_REQUESTS)
        reply = d.fuse_request(FUSE_GETATTR, 20, FUSE_ROOT,
                               struct.pack("<IIQ", 0, 0, 0))
        with ThreadStopped(proc.pid, "vring_worker"):
            d.kick(FS_REQUESTS)
            d.set_status(RUNNING | SUSPEND)
            self.eq(d.status, self.SUSPENDED, f"{what}: suspended")
        time.sleep(0.3)                 # the log is written
        log = q.log()
        self.eq(log.count("virtio_queue_notify"), 0,
                f"{what}: QEMU processed no notification of the backend's "
                "rings")
        self.check("notified while" not in log,
                   f"{what}: no violation reported", log)
        d.set_status(RUNNING)
        self.check(d.wait_used(FS_REQUESTS, (used + 1) & 0xffff),
                   f"{what}: the request is answered after the resume",
                   f"used index {d.used_idx(FS_REQUESTS)}")
        self.eq(d.fuse_reply(reply), (0, 20), f"{what}: its reply")

    def t_vhost_user_fs_used_moved(self):
        """A vhost backend that goes on using a ring after its stop
        (GET_VRING_BASE) leaves QEMU a stale position: a restart from it
        would pop avail entries the backend completed.  The used index
        moved while suspended (written here by the test, as such a
        backend writes it) fails the resume with DEVICE_NEEDS_RESET and a
        device bug line, instead of going on."""
        q, d, _ = self.vhost_user_fs_started("vhost-user-fs used moved")
        d.set_status(RUNNING | SUSPEND)
        self.eq(d.status, self.SUSPENDED, "vhost-user-fs used moved: "
                "suspended")
        used = d.queues[FS_REQUESTS]["used"]
        q.writew(used + 2, (d.used_idx(FS_REQUESTS) + 1) & 0xffff)
        d.set_status(RUNNING)
        # as resume-fail: DEVICE_NEEDS_RESET instead of DRIVER_OK
        self.eq(d.status, self.SUSPENDED | NEEDS_RESET,
                "vhost-user-fs used moved: the resume fails with "
                "DEVICE_NEEDS_RESET")
        self.check("used index moved from" in q.log(),
                   "vhost-user-fs used moved: a device bug line", q.log())
