#!/usr/bin/env python3
"""lowp's GEMM rows against numpy/OpenBLAS sgemm on one thread, alternating
(BENCHMARKS.md, session 8).

ROUNDS times: numpy's f32 `a @ b` at 2048^3 (median of 7 timed runs, as
scripts/bench_sgemm.py), then `lowp bench --filter FILTER --reps REPS --json`;
one numpy run more at the end. The machine's speed drifts by about 10 % within
minutes, so each lowp row is compared with the mean of the numpy runs just
before and after it (and, the stricter figure, with the faster of the two).
Prints every run, then per target the range and median of lowp's GFLOP/s and
of the ratios.

    python3 scripts/gemm_vs_sgemm.py --lowp target/release/lowp \\
        --filter /f32-fma/2048 --reps 5 --rounds 8
"""
import argparse
import json
import os
import statistics
import subprocess

# one thread for OpenBLAS, set before numpy loads it
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from bench_sgemm import operands, sgemm_gflops  # noqa: E402

N = 2048


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lowp", default="target/release/lowp")
    p.add_argument("--filter", default="/f32-fma/2048")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=8)
    args = p.parse_args()
    a, b = operands(N)
    numpy_runs, rows = [], []
    for _ in range(args.rounds):
        numpy_runs.append(sgemm_gflops(a, b))
        print("numpy %s sgemm %d^3: %.1f GFLOP/s" % (np.__version__, N, numpy_runs[-1]), flush=True)
        out = subprocess.run(
            [args.lowp, "bench", "--filter", args.filter, "--reps", str(args.reps), "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            r = json.loads(line)
            rows.append((len(numpy_runs) - 1, r["target"], r["throughput"]))
            print("lowp %s: %.1f %s" % (r["target"], r["throughput"], r["unit"]), flush=True)
    numpy_runs.append(sgemm_gflops(a, b))
    print("numpy %s sgemm %d^3: %.1f GFLOP/s" % (np.__version__, N, numpy_runs[-1]))
    print("\nnumpy runs: %s" % ", ".join("%.1f" % x for x in numpy_runs))
    by = {}
    for i, target, v in rows:
        before, after = numpy_runs[i], numpy_runs[i + 1]
        by.setdefault(target, []).append((v, v / ((before + after) / 2), v / max(before, after)))
    for target, xs in by.items():
        v, r, w = ([x[k] for x in xs] for k in range(3))
        print(
            "%-28s lowp %.1f-%.1f GFLOP/s (median %.1f); / mean of neighbouring numpy: median %.3f, range %.3f-%.3f;"
            " / faster neighbour: min %.3f"
            % (target, min(v), max(v), statistics.median(v), statistics.median(r), min(r), max(r), min(w))
        )


if __name__ == "__main__":
    main()
