#!/usr/bin/env python3
"""lowp's cast rows against the memory limit and ml_dtypes, in alternation.

Each round runs `lowp bench --json --filter cast/` (every format x preset x rounding,
16 Mi f32 from N(0, 10^2)), with `lowp bench --filter copy/f32->u8` (an f32 read and
a byte written per element: the memory traffic of a cast) just before and after, and
ml_dtypes' own casts (scripts/bench_references.py) once per round. The machine's speed
drifts, so each cast row is divided by the mean of its two neighbouring copy runs.
Prints a markdown table: median Gelem/s, median and lowest ratio to the copy row, and
the ratio to ml_dtypes where ml_dtypes has the format.

Usage: OMP_NUM_THREADS=1 python3 scripts/cast_vs_references.py --lowp target/release/lowp [--rounds 3]
(needs numpy and ml_dtypes==0.7.0)
"""
import argparse
import json
import statistics
import subprocess

from bench_references import rows as reference_rows


def bench(lowp, filt, reps):
    out = subprocess.run([lowp, "bench", "--json", "--reps", str(reps), "--filter", filt],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowp", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    casts, ratios, ml = {}, {}, {}
    copy = lambda: bench(a.lowp, "copy/f32->u8", a.reps)[0]["throughput"]
    for _ in range(a.rounds):
        c0 = copy()
        rows = bench(a.lowp, "cast/", a.reps)
        c1 = copy()
        lim = (c0 + c1) / 2
        for r in rows:
            casts.setdefault(r["target"], []).append(r["throughput"])
            ratios.setdefault(r["target"], []).append(r["throughput"] / lim)
        for r in reference_rows():
            if r["op"] == "cast":
                ml.setdefault(r["target"].split("_", 1)[1], []).append(r["throughput"])
        casts.setdefault("(copy f32->u8)", []).extend([c0, c1])
    print("| target | lowp Gelem/s (median) | / copy f32->u8 (median, lowest) | ml_dtypes Gelem/s | lowp / ml_dtypes |")
    print("|---|---|---|---|---|")
    for t, v in casts.items():
        if t.startswith("("):
            print(f"| {t} | {statistics.median(v):.2f} | | | |")
            continue
        fmt = t.split("@")[0]
        m = statistics.median(v)
        rs = ratios[t]
        mlr = f"{statistics.median(ml[fmt]):.3f} | {m / statistics.median(ml[fmt]):.0f}x" if fmt in ml and "@" not in t else " | "
        print(f"| `{t}` | {m:.2f} | {statistics.median(rs):.2f}, {min(rs):.2f} | {mlr} |")


if __name__ == "__main__":
    main()
