# SPDX-License-Identifier: GPL-2.0
"""vsrun: the guest runner behind tools/runner/run.py, one module a concern.

    config     paths, the guests' time limits, STOP, die()
    model      Result, Problem, ScenarioRun: what the parts pass around
    scenario   scenario files: their keys, validation, loading, devices
    kernel     the built guest kernel tree: its release and .config
    initramfs  the guests' initramfs and the test binaries in it
    qemu       the QEMU command line: binaries, machine, devices
    qmp        the running QEMU: QMP, its device tree and counters
    backends   the vhost-user backends and the vsock echo service
    console    the console parser (GuestOutput) and stream_console()
    guest      booting a guest to its end, the sleep wakers
    verdict    the pass rule: verdict() and the checks it counts
    suites     the host-side suites of make check
    cli        run.py's commands: check, demo, shell

Settings that tests and main() change (config.TIMEOUT_SCALE,
config.EXIT_GRACE, config.SCENARIOS, config.DURATIONS) are read as
config.NAME when used, never imported by name; so are the functions a
test replaces (scenario.load_scenario from cli).
"""
