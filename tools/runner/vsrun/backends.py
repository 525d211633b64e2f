# SPDX-License-Identifier: GPL-2.0
"""The vhost-user backends of a scenario's virtio-fs and vsock devices
(virtiofsd, vhost-device-vsock), started before its QEMU and stopped
after it, and the echo service behind the guest's vsock connections."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from . import config
from .config import die, die_with_parent
from .model import Scenario
from .scenario import vhost_user_devices


_backend_lock = threading.Lock()
_backend_paths: dict[str, str] = {}


def backend_binary(name: str) -> str:
    """A vhost-user backend (virtiofsd, vhost-device-vsock); built
    (tools/vhost-user/build.sh) once per run."""
    with _backend_lock:
        if name not in _backend_paths:
            build = config.TOP / "tools" / "vhost-user" / "build.sh"
            _backend_paths[name] = subprocess.run(["bash", str(build), name], check=True,
                                                  stdout=subprocess.PIPE,
                                                  text=True).stdout.strip()
        return _backend_paths[name]


# The host's port the guest's vsock tests connect to (an echo service).
VSOCK_ECHO_PORT = 1234


def backend_command(kind: str, n: int, rundir: Path) -> tuple[list[str], Path]:
    """The backend's command line and the socket QEMU connects to."""
    if kind == "fs":
        export = rundir / f"fs{n}"
        export.mkdir(exist_ok=True)
        sock = rundir / f"vfs{n}.sock"
        # No sandbox: the runner is not always root, and the export is
        # the run's own scratch directory.  cache=never: every read and
        # write of the guest is a request on the device.  Serial (no
        # thread pool): its GET_VRING_BASE waits for the requests in
        # flight (see QEMU patch 0019).
        return [backend_binary("virtiofsd"), f"--socket-path={sock}",
                f"--shared-dir={export}", "--sandbox=none", "--seccomp=none",
                "--cache=never", "--thread-pool-size=0"], sock
    sock = rundir / f"vsock{n}.sock"
    return [backend_binary("vhost-device-vsock"), f"--guest-cid={3 + n}",
            f"--socket={sock}", f"--uds-path={rundir}/vsock{n}.uds"], sock


class EchoService:
    """The host side of the guest's vsock connections to port
    VSOCK_ECHO_PORT: vhost-device-vsock connects to the Unix socket
    <uds-path>_<port> for each; every byte is sent back."""

    def __init__(self, path: Path) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            c.close()


# What start_backends() starts: a backend process or an echo service.
Backend = EchoService | subprocess.Popen[bytes]
# How long a backend is given to listen on its socket.
BACKEND_START_TIMEOUT = 20


def start_backends(sc: Scenario, rundir: Path) -> list[Backend]:
    """Starts a backend for each vhost-user device of the scenario (and
    the echo service of each vsock device) and waits until each listens;
    returns what stop_backends() stops. Each backend serves one QEMU and
    exits when that QEMU disconnects."""
    procs: list[Backend] = []
    try:
        for kind, n, _ in vhost_user_devices(sc):
            cmd, sock = backend_command(kind, n, rundir)
            sock.unlink(missing_ok=True)
            if kind == "vsock":
                echo = rundir / f"vsock{n}.uds_{VSOCK_ECHO_PORT}"
                echo.unlink(missing_ok=True)
                procs.append(EchoService(echo))
            logname = rundir / f"{kind}-backend{n}.log"
            with open(logname, "ab") as log:
                procs.append(subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, preexec_fn=die_with_parent))
            deadline = time.monotonic() + BACKEND_START_TIMEOUT
            while not sock.exists():
                if procs[-1].poll() is not None or time.monotonic() > deadline:
                    die(f"{sc['name']}: {Path(cmd[0]).name} for {kind}{n} did not "
                        f"start (see {logname})")
                time.sleep(0.05)
    except BaseException:
        stop_backends(procs)
        raise
    return procs


def stop_backends(procs: Iterable[Backend]) -> None:
    for p in procs:
        if isinstance(p, EchoService):
            p.close()
            continue
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
