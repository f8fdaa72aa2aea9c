#!/usr/bin/env python3
"""Memory-image benchmarks: snaptool against the obvious tools, measured side by side in one run.

    python3 bench/memory.py [--size 4G] [--repeat 3] [--dir DIR] [--markdown]
                            [--snapshot-editor PATH]

Builds snaptool (release) and bench/rebase-loop.c, generates a base image of SIZE (random pages,
30 % zero pages) and two sparse diffs with 10 % of the pages written (one scattered at random, one
in 1 MiB runs; a tenth of the written pages are zeros), then times each pair of commands (best of
--repeat runs, page cache warm for both, no writeback pending at the start) and prints the ratio baseline time / snaptool time
(above 1 = snaptool faster) next to the target from the issue it answers.
With --snapshot-editor, merges are also measured against Firecracker's own
`snapshot-editor edit-memory rebase --memory-path BASE --diff-path DIFF` (in place, and `cp` +
rebase out of place). On a filesystem with reflinks (XFS, btrfs: --dir there), `cp` and
snaptool's out-of-place merge both share the base's blocks, so both costs follow the diff.
Needs: cargo, cc, cmp, cat, cp, zstd. Uses about 5 x SIZE of disk in DIR (default: a temp dir).
"""
import argparse, os, random, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = 4096


def size_arg(s):
    m = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * m[s[-1].upper()] if s[-1].upper() in m else int(s)


def gen(base, diffs, size):
    rnd = random.Random(11)
    pool = os.urandom(P * 4096)  # 16 MiB of distinct random pages
    zero = bytes(P)
    pages = size // P
    with open(base, "wb") as f:
        chunk = bytearray()
        for p in range(pages):
            if rnd.random() < 0.3:
                chunk += zero
            else:
                k = rnd.randrange(4096)
                chunk += pool[k * P:(k + 1) * P]
            if len(chunk) >= 8 << 20:
                f.write(chunk)
                chunk = bytearray()
        f.write(chunk)
    n = pages // 10
    scattered = sorted(rnd.sample(range(pages), n))
    runs, run = [], 256
    starts = sorted(rnd.sample(range(pages // run), max(1, n // run)))
    for s in starts:
        runs.extend(range(s * run, s * run + run))
    for path, dirty in zip(diffs, (scattered, runs)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.ftruncate(fd, size)
        i = 0
        while i < len(dirty):
            j = i  # coalesce consecutive pages into one write
            while j + 1 < len(dirty) and dirty[j + 1] == dirty[j] + 1 and j - i < 255:
                j += 1
            buf = b"".join(zero if rnd.random() < 0.1 else pool[(q % 4096) * P:(q % 4096 + 1) * P]
                           for q in dirty[i:j + 1])
            os.pwrite(fd, buf, dirty[i] * P)
            i = j + 1
        os.close(fd)
    subprocess.run(["sync"])


def timed(cmd, setup=None, repeat=3, stdout=subprocess.DEVNULL):
    best = None
    for _ in range(repeat):
        if setup:
            setup()
        # Nothing of the setup (a 1 GiB copy) or of the previous run is still being written
        # back when the clock starts: writeback in flight slows whichever command meets it.
        os.sync()
        t = time.perf_counter()
        r = subprocess.run(cmd, shell=isinstance(cmd, str), stdout=stdout, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
        if r.returncode not in (0, 1):
            sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
        best = dt if best is None else min(best, dt)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=size_arg, default=4 << 30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--snapshot-editor", help="Firecracker's snapshot-editor binary, to compare merges with its rebase")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    st = os.path.join(ROOT, "target", "release", "snaptool")
    d = tempfile.mkdtemp(dir=a.dir, prefix="snaptool-bench-")
    try:
        loop = os.path.join(d, "rebase-loop")
        subprocess.run(["cc", "-O2", "-o", loop, os.path.join(ROOT, "bench", "rebase-loop.c")], check=True)
        base, scat, runs = (os.path.join(d, n) for n in ("base", "diff-scattered", "diff-runs"))
        print(f"generating {a.size >> 20} MiB images in {d} ...", file=sys.stderr)
        gen(base, (scat, runs), a.size)
        work, out, other = (os.path.join(d, n) for n in ("work", "out", "other"))
        shutil.copyfile(base, other)
        subprocess.run(["python3", "-c", f"""
import os
fd = os.open({other!r}, os.O_WRONLY); n = {a.size // P}
for p in range(0, n, 10): os.pwrite(fd, b'x' * 16, p * {P})
"""], check=True)
        rows = []

        def fresh():
            if os.path.exists(work):
                os.remove(work)
            shutil.copyfile(base, work)

        def rm_out():
            if os.path.exists(out):
                os.remove(out)

        for name, diff in (("scattered", scat), ("1 MiB runs", runs)):
            ours = timed([st, "merge", "--in-place", work, diff], fresh, a.repeat)
            ref = timed([loop, work, diff], fresh, a.repeat)
            rows.append((f"merge --in-place, {name}", "SEEK_DATA/SEEK_HOLE + sendfile loop", ref / ours,
                         ">= 2x scattered, >= 1x runs" if name == "scattered" else ">= 1x"))
            ours = timed([st, "merge", base, diff, "-o", out], rm_out, a.repeat)
            ref = timed(f"cp {base} {out} && {loop} {out} {diff}", rm_out, a.repeat)
            rows.append((f"merge -o OUT, {name}", "cp BASE OUT + the loop", ref / ours, ">= 1x"))
            if a.snapshot_editor:
                se = a.snapshot_editor
                rebase = [se, "edit-memory", "rebase", "--memory-path", work, "--diff-path", diff]
                ours = timed([st, "merge", "--in-place", work, diff], fresh, a.repeat)
                ref = timed(rebase, fresh, a.repeat)
                rows.append((f"merge --in-place, {name}", "snapshot-editor edit-memory rebase", ref / ours, ">= 1.5x"))
                ours = timed([st, "merge", base, diff, "-o", out], rm_out, a.repeat)
                ref = timed(f"cp {base} {out} && {se} edit-memory rebase --memory-path {out} --diff-path {diff}",
                            rm_out, a.repeat)
                rows.append((f"merge -o OUT, {name}", "cp BASE OUT + snapshot-editor rebase", ref / ours, ">= 1x"))
        for name, b in (("identical", base), ("10 % pages differ", other)):
            if b == base:
                shutil.copyfile(base, work)
                b = work
            ours = timed([st, "memdiff", base, b], None, a.repeat)
            ref = timed(["cmp", base, b], None, a.repeat)
            cat = timed(f"cat {base} {b} > /dev/null", None, a.repeat)
            rows.append((f"memdiff, {name}", "cmp A B (stops at the first difference)", ref / ours, "info"))
            rows.append((f"memdiff, {name}", "cat A B > /dev/null", cat / ours, ">= 0.7x"))
        zo, zr = os.path.join(d, "ours.zst"), os.path.join(d, "ref.zst")
        ours = timed([st, "convert-mem", base, "-o", zo, "--to", "zstd", "--level", "3"], None, a.repeat)
        ref = timed(["zstd", "-q", "-f", "-T0", "-3", base, "-o", zr], None, a.repeat)
        zs, rs = os.path.getsize(zo), os.path.getsize(zr)
        rows.append(("convert-mem --to zstd (level 3)",
                     f"zstd -T0 -3 (ratio {a.size / rs:.2f} vs ours {a.size / zs:.2f})", ref / ours, ">= 0.9x"))
        cores = os.cpu_count()
        if a.markdown:
            print(f"| {a.size >> 20} MiB, {cores} cores | baseline | speed vs baseline | target |")
            print("|---|---|---|---|")
            for r in rows:
                print(f"| {r[0]} | {r[1]} | {r[2]:.2f}x | {r[3]} |")
        else:
            print(f"{'benchmark':<34} {'baseline':<52} {'ratio':>7}  target   ({a.size >> 20} MiB, {cores} cores)")
            for r in rows:
                print(f"{r[0]:<34} {r[1]:<52} {r[2]:>6.2f}x  {r[3]}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
