#!/usr/bin/env python3
"""lowp's cast rows against the memory limit and ml_dtypes, in alternation.

Each round runs `lowp bench --json --filter cast/` (every format x preset x rounding,
16 Mi f32 from N(0, 10^2)) and ml_dtypes' own casts (scripts/bench_references.py).
`lowp bench` alternates each cast row's passes with passes of a copy of the same
bytes (an f32 read and a byte written per element; plus a u32 read for stochastic
rounding with caller-given words) and reports the ratio of their medians as
`vs_copy`, so a drift of the machine's memory speed does not move it. Prints a markdown table: median
Gelem/s, median and lowest ratio to its copy, and the ratio to ml_dtypes (the
medians of all rounds) where ml_dtypes has the format.

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
    for _ in range(a.rounds):
        for r in bench(a.lowp, "cast/", a.reps):
            casts.setdefault(r["target"], []).append(r["throughput"])
            ratios.setdefault(r["target"], []).append(r["vs_copy"])
        for r in reference_rows():
            if r["op"] == "cast":
                ml.setdefault(r["target"].split("_", 1)[1], []).append(r["throughput"])
    print("| target | lowp Gelem/s (median) | / copy of the same bytes (median, lowest) | ml_dtypes Gelem/s | lowp / ml_dtypes |")
    print("|---|---|---|---|---|")
    for t, v in casts.items():
        fmt = t.split("@")[0]
        m = statistics.median(v)
        rs = ratios[t]
        mlr = f"{statistics.median(ml[fmt]):.3f} | {m / statistics.median(ml[fmt]):.1f}x" if fmt in ml and "@" not in t else " | "
        print(f"| `{t}` | {m:.2f} | {statistics.median(rs):.2f}, {min(rs):.2f} | {mlr} |")


if __name__ == "__main__":
    main()
