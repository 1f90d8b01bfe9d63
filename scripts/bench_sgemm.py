#!/usr/bin/env python3
"""The sgemm baseline of BENCHMARKS.md's GEMM table: numpy/OpenBLAS f32 matmul of
two random 2048x2048 operands on one thread, median of 7 timed runs.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 scripts/bench_sgemm.py [N]

`sgemm_gflops` is the timing scripts/gemm_vs_sgemm.py repeats.
"""
import sys
import time

import numpy as np


def operands(n):
    """Two random f32 n x n matrices."""
    return np.random.randn(n, n).astype(np.float32), np.random.randn(n, n).astype(np.float32)


def sgemm_gflops(a, b):
    """GFLOP/s of `a @ b`: one warm-up, then the median of 7 timed runs."""
    a @ b
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    ts.sort()
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / ts[3] / 1e9


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
    print("numpy %s sgemm %d^3: %.1f GFLOP/s (median of 7)" % (np.__version__, n, sgemm_gflops(*operands(n))))
