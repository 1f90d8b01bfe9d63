#!/usr/bin/env python3
"""The sgemm baseline of BENCHMARKS.md's GEMM table: numpy/OpenBLAS f32 matmul of
two random 2048x2048 operands on one thread, median of 7 timed runs.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 scripts/bench_sgemm.py [N]
"""
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
a = np.random.randn(n, n).astype(np.float32)
b = np.random.randn(n, n).astype(np.float32)
a @ b  # warm-up
ts = []
for _ in range(7):
    t = time.perf_counter()
    a @ b
    ts.append(time.perf_counter() - t)
ts.sort()
print("numpy %s sgemm %d^3: %.1f GFLOP/s (median of 7)" % (np.__version__, n, 2 * n**3 / ts[3] / 1e9))
