#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench: what SUSPEND buys, and what the Rust transport costs.

    bench.py --kdir KDIR

Runs the bench-*.toml scenarios in one invocation, side by side
(alternating where two configurations are compared), and writes
results.md, results.csv and latency.png under
$VS_CACHE/bench/<date>/ (and bench/latest), printing the table last.
Every figure is a ratio of runs made here and now: absolute times under
TCG say little. Targets are reported, never asserted.

Block throughput and IOPS are fio's (the static fio of tools/fio in the
guest, psync, O_DIRECT, time-based; run by vs_bench blk): sequential 1 MiB
writes and reads in MiB/s, 4 KiB random reads from 1 and 16 jobs in IOPS,
on two identical disks in one guest, one bound to our transport and one
to the C one, in alternating rounds, the transports swapping disks
halfway (vs_bench blkpair).

Entropy throughput is /dev/hwrng's, read in 4 KiB reads for 2 s at a
time from two entropy devices on our virtio-mmio transport in one guest,
one bound to the Rust virtio-rng sample (samples/rust) and one to the C
virtio_rng, rng_current alternating, the drivers swapping devices
halfway (vs_bench rngpair).

Throughput is measured twice: on the guest kernel of the tests, and on
its production variant (tools/kernel/config/variants/perf.config: no
lockdep, no KFENCE, kmemleak or page and object debugging), for which
the module, the sample and the test binaries are built again and, at the
end, back.  Lockdep makes every lock acquisition cost microseconds under
TCG, which weighs on the driver that takes more locks; a production
kernel does not pay it.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vsrun import config  # noqa: E402
from vsrun.cli import prepare  # noqa: E402
from vsrun.config import die  # noqa: E402
from vsrun.guest import run_guest  # noqa: E402
from vsrun.scenario import load_scenario  # noqa: E402

# The transport's poll interval: its longest time between two status
# reads (logic/suspend.rs).
POLL_MAX_US = 1000

# Transport drivers, as vs_bench names them, and their rows.
TRANSPORTS = {
    "virtio-suspend-mmio": "mmio", "virtio-suspend-pci": "pci",
    "virtio-mmio": "C virtio_mmio", "virtio-pci": "C virtio_pci",
}

# vs_bench blk's fields (fio's figures) and their rows in the table.
FIO_METRICS = (
    ("seq_write_mibs", "seq write 1M, MiB/s"),
    ("seq_read_mibs", "seq read 1M, MiB/s"),
    ("randread_qd1_iops", "randread 4k, 1 job, IOPS"),
    ("randread_qd16_iops", "randread 4k, 16 jobs, IOPS"),
)


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def fields(line):
    kind, *rest = line.split()
    return kind, dict(kv.split("=", 1) for kv in rest)


def run_bench(name, args, kdir, initrd, base, overrides=None):
    sc = load_scenario(name)
    for dev in sc.get("devices", []):
        dev.update((overrides or {}).get(dev["kind"], {}))
    rundir = base / f"{name}-{len(list(base.glob(name + '*')))}"
    rundir.mkdir()
    print(f"== {name}", flush=True)
    run = run_guest(sc, kdir, initrd, rundir, args.accel, False)
    if run.problems or not run.bench:
        for p in run.problems or ["printed no measurement"]:
            print(f"   {p}")
        die(f"{name} failed; console log: {run.log}")
    print(f"   {len(run.bench)} measurements in {run.seconds:.0f} s", flush=True)
    return [fields(line) for line in run.bench]


def latency_table(samples):
    """Rows per (transport, device kind, path): total, suspend half,
    resume half."""
    groups = {}
    for kind, f in samples:
        if kind != "latency":
            continue
        key = (TRANSPORTS.get(f["transport"], f["transport"]), f["kind"], f["path"])
        s, r = int(f["suspend_us"]), int(f["resume_us"])
        groups.setdefault(key, {"total": [], "suspend": [], "resume": []})
        groups[key]["total"].append(s + r)
        groups[key]["suspend"].append(s)
        groups[key]["resume"].append(r)
    return groups


def stats_row(values):
    return (f"{len(values)} | {statistics.median(values):.0f} | "
            f"{percentile(values, 90)} | {percentile(values, 99)}")


def build_for(variant=None, kdir=None):
    """Builds the module, the samples and the test binaries against the
    guest kernel variant VARIANT, building that kernel first if need be,
    or against the kernel tree KDIR; returns the kernel tree."""
    env = dict(os.environ)
    make = ["make", "--no-print-directory", "modules", "selftests"]
    if kdir:
        make.append(f"KDIR={kdir}")
    else:
        env["VS_KERNEL_VARIANT"] = variant
    subprocess.run(make, cwd=config.TOP, env=env, check=True, stdout=subprocess.DEVNULL)
    if kdir:
        return str(kdir)
    return subprocess.run(["bash", str(config.TOP / "tools" / "kernel" / "build.sh"), "--kdir"],
                          env=env, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


def measure_throughput(args, kdir, initrd, base):
    """Block throughput, Rust vs C, two disks in one guest, alternating,
    per bus; entropy throughput, the Rust virtio-rng sample vs the C
    virtio_rng: (blk, rng)."""
    blk = {}
    for bus in ("mmio", "pci"):
        rounds = {}
        for k, f in run_bench(f"bench-blkpair-{bus}", args, kdir, initrd, base):
            if k == "blk":
                rounds.setdefault(f["transport"], []).append(f)
        blk[bus] = rounds
    rng = {}
    for k, f in run_bench("bench-rngpair-mmio", args, kdir, initrd, base):
        if k == "rng":
            rng.setdefault(f["driver"], []).append(f)
    return blk, rng


def ratio_row(label, r, c, target=True):
    """A markdown row and the figures of a Rust / C comparison: means,
    ratio of the means, per-round ratios, and the 0.97 target (its cell
    left empty without TARGET)."""
    pairs = [a / b for a, b in zip(r, c) if b]
    ratio = statistics.mean(r) / statistics.mean(c)
    row = (f"| {label} | {statistics.mean(r):.1f} | {statistics.mean(c):.1f} | {ratio:.3f} | "
           f"{statistics.median(pairs):.3f}, {min(pairs):.3f}..{max(pairs):.3f} |")
    row += f" >= 0.97: {'met' if ratio >= 0.97 else f'missed ({ratio:.3f})'} |" if target else " |"
    return row, ratio, pairs


def throughput_rows(blk, rng, kdir):
    """The Rust vs C tables of one kernel (markdown rows, CSV rows)."""
    try:
        variant = (Path(kdir) / ".vs-variant").read_text().strip()
    except OSError:
        variant = "?"
    kernel = {"": "the guest kernel of the tests (lockdep, KFENCE, kmemleak, ...)",
              "perf": "the production variant of the guest kernel (no lock, memory or object "
                      "debugging)"}.get(variant, f"the guest kernel variant '{variant}'")
    tag = f"{variant}_" if variant else ""
    md, csv = ["", f"Throughput on {kernel}:"], []
    for bus, rounds in blk.items():
        ours, c = f"virtio-suspend-{bus}", f"virtio-{bus}"
        n = min(len(rounds.get(ours, [])), len(rounds.get(c, [])))
        md += ["", f"| virtio-blk, Rust {bus} transport vs {TRANSPORTS[c]}, fio, two disks in one guest (the transports swap disks halfway), {n} alternating rounds | Rust mean | C mean | Rust / C (means) | per-round Rust / C: median, min..max | target |",
               "|---|---|---|---|---|---|"]
        for metric, label in FIO_METRICS:
            row, ratio, pairs = ratio_row(label, [float(f[metric]) for f in rounds[ours][:n]],
                                          [float(f[metric]) for f in rounds[c][:n]])
            md.append(row)
            csv.append(f"{tag}blk_{metric},{bus} blk,rust_over_c,{ratio:.4f},{min(pairs):.4f},"
                       f"{max(pairs):.4f},{len(pairs)}")
    n = min(len(rng.get("rust", [])), len(rng.get("c", [])))
    md += ["", f"| /dev/hwrng, Rust virtio-rng sample vs C virtio_rng, two devices on the mmio transport in one guest (the drivers swap devices halfway), {n} alternating rounds | Rust mean | C mean | Rust / C (means) | per-round Rust / C: median, min..max | target |",
           "|---|---|---|---|---|---|"]
    for metric, label in (("kib_s", "read throughput, KiB/s"),
                          ("irqs_per_kib", "device interrupts per KiB (64-byte requests: 16)"),
                          ("sleeps_per_kib", "reader's voluntary context switches per KiB")):
        row, ratio, pairs = ratio_row(label, [float(f[metric]) for f in rng["rust"][:n]],
                                      [float(f[metric]) for f in rng["c"][:n]],
                                      target=metric == "kib_s")
        md.append(row)
        csv.append(f"{tag}rng_{metric},mmio rng,rust_over_c,{ratio:.4f},{min(pairs):.4f},"
                   f"{max(pairs):.4f},{len(pairs)}")
    for driver in ("rust", "c"):
        devices = {f.get("device") for f in rng[driver]}
        if len(devices) != 2:
            md.append(f"| the {driver} driver read from {sorted(map(str, devices))}, not from both "
                      "devices: the swap did not happen | | | | | |")
    return md, csv


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kdir", required=True)
    ap.add_argument("--accel", default=os.environ.get("VS_ACCEL", "tcg"))
    args = ap.parse_args()

    start = time.monotonic()
    kdir, base, initrd = prepare(args)
    out = config.CACHE / "bench" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    latest = config.CACHE / "bench" / "latest"
    if latest.is_symlink():
        latest.unlink()
    latest.symlink_to(out)

    # 1. Single-device latency, both paths in one guest, interleaved.
    lat = latency_table(run_bench("bench-latency", args, kdir, initrd, base))
    # Polling versus the device's own acknowledgement delay.
    [device] = load_scenario("bench-polling")["devices"]
    delay_us = int(device["props"]["suspend-ack-delay-ms"]) * 1000
    poll = [int(f["ack_suspend_us"]) - delay_us
            for k, f in run_bench("bench-polling", args, kdir, initrd, base) if k == "latency"]
    # 2. Full system cycles, alternating the two configurations.
    system = {}
    for _ in range(2):
        for bus in ("", "-pci"):
            for path in ("suspend", "classic"):
                system.setdefault((bus.strip("-") or "mmio", path), [])
                system[(bus.strip("-") or "mmio", path)] += [
                    int(f["cycle_us"]) for k, f in
                    run_bench(f"bench-system-{path}{bus}", args, kdir, initrd, base)
                    if k == "system"]
    # 3. Resume to first completed I/O.
    firstio = {}
    for k, f in run_bench("bench-firstio", args, kdir, initrd, base):
        if k == "firstio":
            key = (TRANSPORTS.get(f["transport"], f["transport"]), f["path"])
            firstio.setdefault(key, []).append(int(f["us"]))
    # 4. and 5. Block and entropy throughput, Rust vs C, on this kernel,
    # then on its production variant.
    throughput = {kdir: measure_throughput(args, kdir, initrd, base)}
    perf_problem = None
    try:
        pkdir = Path(build_for("perf"))
        pkdir, pbase, pinitrd = prepare(argparse.Namespace(kdir=pkdir))
        throughput[pkdir] = measure_throughput(args, pkdir, pinitrd, pbase)
    except (Exception, SystemExit) as e:  # the other results are kept
        perf_problem = f"not measured on the production variant: {e!r}"
        print(f"bench.py: {perf_problem}", file=sys.stderr)
    finally:
        # Back to the kernel the checkout was built for.
        build_for(kdir=kdir)

    # Tables.
    md = [f"Taken {time.strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
          f"({os.cpu_count()} CPUs, {platform.machine()}), QEMU microvm under "
          f"{args.accel.upper()}; microseconds unless noted.", ""]
    csv = ["measure,device,path,median,p90,p99,n"]
    md += ["| transport | device | path | cycles | suspend+resume median | p90 | p99 | suspend half median | resume half median |",
           "|---|---|---|---|---|---|---|---|---|"]
    for (bus, kind, path), g in sorted(lat.items()):
        t = g["total"]
        md.append(f"| {bus} | {kind} | {path} | {stats_row(t)} | "
                  f"{statistics.median(g['suspend']):.0f} | {statistics.median(g['resume']):.0f} |")
        for half in ("total", "suspend", "resume"):
            v = g[half]
            csv.append(f"latency_{half},{bus} {kind},{path},{statistics.median(v):.0f},"
                       f"{percentile(v, 90)},{percentile(v, 99)},{len(v)}")
    md += ["", "| ratio SUSPEND / reset-based (median) | suspend+resume | suspend half | resume half | target |",
           "|---|---|---|---|---|"]
    for bus, kind in sorted({(b, k) for b, k, _ in lat}):
        if (bus, kind, "suspend") not in lat or (bus, kind, "classic") not in lat:
            continue
        s, c = lat[(bus, kind, "suspend")], lat[(bus, kind, "classic")]
        ratios = [statistics.median(s[h]) / statistics.median(c[h])
                  for h in ("total", "suspend", "resume")]
        verdict = "met" if ratios[0] <= 0.2 else f"missed by {ratios[0] / 0.2:.1f}x"
        md.append(f"| {bus} {kind} | {ratios[0]:.3f} | {ratios[1]:.3f} | {ratios[2]:.3f} | "
                  f"<= 0.2: {verdict} |")
        csv.append(f"ratio_suspend_over_classic,{bus} {kind},,{ratios[0]:.4f},,,")
    md += ["", f"Polling beyond the device's {delay_us // 1000} ms acknowledgement delay "
           f"({len(poll)} suspends): median {statistics.median(poll):.0f}, "
           f"max {max(poll)} (target: at most one poll interval, {POLL_MAX_US}: "
           f"{'met' if max(poll) <= POLL_MAX_US else 'missed'})."]
    csv.append(f"polling_overhead,blk,suspend,{statistics.median(poll):.0f},"
               f"{percentile(poll, 90)},{max(poll)},{len(poll)}")
    md += ["", "| full s2idle cycle (pm_test=platform), four devices | path | cycles | median | p90 | p99 |",
           "|---|---|---|---|---|---|"]
    for (bus, path), v in sorted(system.items()):
        md.append(f"| {bus} | {path} | {stats_row(v)} |")
        csv.append(f"system_cycle,{bus} all4,{path},{statistics.median(v):.0f},"
                   f"{percentile(v, 90)},{percentile(v, 99)},{len(v)}")
    for bus in sorted({b for b, _ in system}):
        ms = statistics.median(system[(bus, "suspend")])
        mc = statistics.median(system[(bus, "classic")])
        md.append(f"| {bus}: ratio SUSPEND / reset-based | | | {ms / mc:.3f} | | |")
    md += ["", "| resume start to first completed read (blk) | path | cycles | median | p90 | p99 |",
           "|---|---|---|---|---|---|"]
    for (bus, path), v in sorted(firstio.items()):
        md.append(f"| {bus} | {path} | {stats_row(v)} |")
        csv.append(f"first_io_after_resume,{bus} blk,{path},{statistics.median(v):.0f},"
                   f"{percentile(v, 90)},{percentile(v, 99)},{len(v)}")
    for bus in sorted({b for b, _ in firstio}):
        if (bus, "suspend") in firstio and (bus, "classic") in firstio:
            ratio = (statistics.median(firstio[(bus, "suspend")]) /
                     statistics.median(firstio[(bus, "classic")]))
            md.append(f"| {bus}: ratio SUSPEND / reset-based | | | {ratio:.3f} | | |")
    for tkdir, (blk, rng) in throughput.items():
        rows, rows_csv = throughput_rows(blk, rng, tkdir)
        md += rows
        csv += rows_csv
    if perf_problem:
        md += ["", f"Throughput {perf_problem}."]
    md += ["", f"Benchmark wall time: {(time.monotonic() - start) / 60:.1f} min."]

    (out / "results.md").write_text("\n".join(md) + "\n")
    (out / "results.csv").write_text("\n".join(csv) + "\n")
    plot(lat, out)
    print()
    print("\n".join(md))
    print(f"\nwritten: {out}/results.md, results.csv, latency.png")


def plot(lat, out):
    """CDFs of the suspend+resume latency: both paths, both devices, both
    transports."""
    if not shutil.which("gnuplot"):
        die("gnuplot not found: run 'make deps'")
    series = []
    for (bus, kind, path), g in sorted(lat.items()):
        data = out / f"latency-{bus}-{kind}-{path}.dat"
        t = sorted(g["total"])
        data.write_text("".join(f"{v} {(i + 1) / len(t):.4f}\n" for i, v in enumerate(t)))
        series.append(f"'{data}' using 1:2 with steps lw 2 title '{bus} {kind}, {path}'")
    script = "\n".join([
        "set terminal png size 900,520",
        f"set output '{out / 'latency.png'}'",
        "set title 'virtio single-device suspend+resume latency (debugfs), TCG guest'",
        "set xlabel 'microseconds (log scale)'",
        "set ylabel 'fraction of cycles'",
        "set logscale x", "set key bottom right", "set grid",
        "plot " + ", ".join(series),
    ])
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    sys.exit(main())
