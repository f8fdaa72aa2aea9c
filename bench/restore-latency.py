#!/usr/bin/env python3
"""Restore latency: process start -> first byte the restored guest prints on COM1.

Run from the repository root (needs /dev/kvm and a release build):
    cargo build --release && python3 bench/restore-latency.py [RUNS]

Measures, in the same run and on the same files, three commands and prints medians and ratios:
  baseline  `snaptool --version`            (process start and exit)
  inspect   `snaptool inspect VMSTATE`      (start + read + decode + print)
  restore   `snaptool restore ... --lines 1` up to its first output byte
"""
import os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/snaptool")
FIX = os.path.join(ROOT, "fixtures/firecracker-1.16.1/counter-1vcpu")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15


def until_exit(args):
    t = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def until_first_byte(args):
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    first = p.stdout.read(1)
    dt = time.perf_counter() - t
    p.wait()
    if not first or p.returncode != 0:
        sys.exit(f"restore failed (exit {p.returncode})")
    return dt


def main():
    if not os.path.exists(BIN):
        sys.exit("build first: cargo build --release")
    with tempfile.TemporaryDirectory() as d:
        mem = os.path.join(d, "mem")
        subprocess.run(["zstd", "-q", "-d", os.path.join(FIX, "mem.zst"), "-o", mem], check=True)
        state = os.path.join(FIX, "vmstate")
        cases = {
            "baseline": lambda: until_exit([BIN, "--version"]),
            "inspect": lambda: until_exit([BIN, "inspect", state]),
            "restore": lambda: until_first_byte(
                [BIN, "restore", state, "--mem", mem, "--lines", "1", "--timeout", "30"]),
        }
        times = {k: [] for k in cases}
        for _ in range(RUNS):  # interleaved, so that machine noise hits every case alike
            for k, f in cases.items():
                times[k].append(f())
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{'case':<10}{'median ms':>12}{'x baseline':>12}")
    for k, v in med.items():
        print(f"{k:<10}{v * 1e3:>12.2f}{v / med['baseline']:>12.1f}")
    print(f"\nrestore to first serial byte: {med['restore'] * 1e3:.1f} ms "
          f"({med['restore'] / med['inspect']:.1f}x an inspect of the same file), {RUNS} runs")


if __name__ == "__main__":
    main()
