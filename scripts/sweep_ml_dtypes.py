#!/usr/bin/env python3
"""Every f32 input (all 2^32 bit patterns) cast by lowp and by ml_dtypes, compared code
for code.

lowp's side is `lowp cast --every f32 --to FMT --like PRESET -o -` (the code of every
input in bit-pattern order, streamed); ml_dtypes' side is `np.arange(...).view(float32)
.astype(T)` on the same chunk. Prints, per type, the mismatch count and the first few.

Setup: python3 -m venv /tmp/mld && /tmp/mld/bin/pip install ml_dtypes==0.7.0 numpy
Run:   /tmp/mld/bin/python scripts/sweep_ml_dtypes.py --lowp target/release/lowp \\
           [--types float8_e8m0fnu,float8_e5m3fnu] [--like ml_dtypes]
"""
import argparse
import subprocess
import sys
import time
import warnings

import numpy as np

import ml_dtypes

warnings.filterwarnings("ignore")
CHUNK = 1 << 24


def sweep(lowp, name, like):
    T = getattr(ml_dtypes, name)
    fmt = name.split("_", 1)[1]
    p = subprocess.Popen([lowp, "cast", "--every", "f32", "--to", fmt, "--like", like, "-o", "-"],
                         stdout=subprocess.PIPE)
    bad, first, t0 = 0, [], time.time()
    for start in range(0, 1 << 32, CHUNK):
        got = np.frombuffer(p.stdout.read(CHUNK), dtype=np.uint8)
        if got.size != CHUNK:
            sys.exit(f"{name}: lowp stopped at {start:#x}")
        x = np.arange(start, start + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        want = x.astype(T).view(np.uint8)
        d = np.nonzero(got != want)[0]
        bad += d.size
        for i in d[: max(0, 5 - len(first))]:
            first.append((hex(start + int(i)), hex(int(got[i])), hex(int(want[i]))))
    p.wait()
    print(f"{name} --like {like}: {bad} of 2^32 inputs differ ({time.time() - t0:.0f} s)"
          + (f"; first (input, lowp, ml_dtypes): {first}" if first else ""), flush=True)
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowp", required=True)
    ap.add_argument("--types", default="float8_e8m0fnu,float8_e5m3fnu")
    ap.add_argument("--like", default="ml_dtypes")
    a = ap.parse_args()
    print(f"ml_dtypes {ml_dtypes.__version__}, numpy {np.__version__}", flush=True)
    total = sum(sweep(a.lowp, t, a.like) for t in a.types.split(","))
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
