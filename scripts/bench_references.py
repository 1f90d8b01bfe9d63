#!/usr/bin/env python3
"""Times the Python references lowp is compared with, single-threaded, on the same
input as `lowp bench`: 16 Mi f32 drawn from N(0, 10^2). Prints one JSON object per line like `lowp bench --json`.

Needs numpy and ml_dtypes (pip install numpy ml_dtypes==0.7.0): every ml_dtypes
float type, cast from f32 and decoded back.
Usage: OMP_NUM_THREADS=1 python3 scripts/bench_references.py
"""
import json
import time

import ml_dtypes
import numpy as np


def median_time(f, reps=7):
    f()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2]


TYPES = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e4m3", "float8_e3m4",
         "float8_e4m3b11fnuz", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn", "float8_e8m0fnu", "float8_e5m3fnu"]


def rows(n=16 * 1024 * 1024):
    """The reference rows, as dicts."""
    out = []
    x = (np.random.default_rng(0).standard_normal(n) * 10.0).astype(np.float32)
    dst = np.empty_like(x)
    t = median_time(lambda: np.copyto(dst, x))
    out.append({"op": "copy", "target": "f32", "ref": "numpy", "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"})
    ref = "ml_dtypes " + ml_dtypes.__version__
    for name in TYPES:
        if not hasattr(ml_dtypes, name):
            continue
        dt = getattr(ml_dtypes, name)
        y = x.astype(dt)
        t = median_time(lambda: x.astype(dt))
        out.append({"op": "cast", "target": name, "ref": ref, "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"})
        t = median_time(lambda: y.astype(np.float32))
        out.append({"op": "decode", "target": name, "ref": ref, "throughput": round(n / t / 1e9, 4), "unit": "Gelem/s"})
    return out


def main():
    for r in rows():
        print(json.dumps(r))


if __name__ == "__main__":
    main()
