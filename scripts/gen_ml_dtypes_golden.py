#!/usr/bin/env python3
"""Golden element casts from ml_dtypes 0.7.0 into tests/fixtures/mld07_<type>.{json,bin}.

Every code here is ml_dtypes' own (`x.astype(T).view(uint8)`), for every ml_dtypes
float type (float8 e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e4m3, e3m4, e4m3b11fnuz,
e8m0fnu, e5m3fnu; float6 e2m3fn, e3m2fn; float4 e2m1fn) and four source types:
  * f32: special values, each format's code midpoints and their f32 neighbours (±1, ±2
    ulp), and log-uniform / uniform-bit random values;
  * f64: the midpoints nudged by ±2^-30 and ±2^-60 relative (where f64 -> f32 rounding
    moves a value onto or off a tie), values beyond f32's range and below its
    subnormals, random values;
  * f16 and bf16: every bit pattern (the code of pattern i is element i);
and the decode table (f32 value of every code). The bundle format is the one of
scripts/extract_fixtures.py (NAME.json index + NAME.bin arrays).

Setup (seconds): python3 -m venv /tmp/mld && /tmp/mld/bin/pip install ml_dtypes==0.7.0 numpy
Run:             /tmp/mld/bin/python scripts/gen_ml_dtypes_golden.py [OUT_DIR]
The output is byte-for-byte deterministic (fixed seeds; numpy's PCG64 stream is
version-stable).
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from extract_fixtures import write  # noqa: E402

import ml_dtypes  # noqa: E402

VERSION = "0.7.0"
if ml_dtypes.__version__ != VERSION:
    sys.exit(f"need ml_dtypes=={VERSION}, found {ml_dtypes.__version__}")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../tests/fixtures")
TYPES = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e4m3", "float8_e3m4",
         "float8_e4m3b11fnuz", "float8_e8m0fnu", "float8_e5m3fnu", "float6_e2m3fn", "float6_e3m2fn",
         "float4_e2m1fn"]
warnings.filterwarnings("ignore")  # casts of NaN/overflow warn in numpy


def bits_of(name):
    return 8 if name.startswith("float8") else int(name[5])


def grid(T, nbits):
    """Sorted distinct finite values of every code, and their midpoints."""
    v = np.arange(1 << nbits, dtype=np.uint8).view(T).astype(np.float64)
    v = np.unique(v[np.isfinite(v)])
    return v, (v[:-1] + v[1:]) / 2


def f32_inputs(T, nbits, rng):
    vals, mids = grid(T, nbits)
    m32 = mids.astype(np.float32)
    near = np.concatenate([(m32.view(np.uint32).astype(np.int64) + d).astype(np.uint32).view(np.float32)
                           for d in (-2, -1, 0, 1, 2)])
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45, 1.1754942e-38,
                         1.1754944e-38, 3.4028235e38, -3.4028235e38, 2.0 ** -127, 1.5 * 2.0 ** -127,
                         1.25 * 2.0 ** -127, 2.0 ** -128, 2.0 ** -149], dtype=np.float32)
    vals32 = vals.astype(np.float32)
    logu = (np.exp2(rng.uniform(-150, 130, 6000)) * rng.choice([-1, 1], 6000)).astype(np.float32)
    ubits = rng.integers(0, 1 << 32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([specials, vals32, -vals32, near, -near, logu, ubits]).astype(np.float32)
    return x


def f64_inputs(T, nbits, rng):
    _, mids = grid(T, nbits)
    nudged = np.concatenate([mids * (1 + d) for d in (0.0, 2.0 ** -30, -2.0 ** -30, 2.0 ** -60, -2.0 ** -60)])
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 4e38, -4e38, 1e-300, -1e-300,
                         2.0 ** -127 * 1.5 + 2.0 ** -170, 2.0 ** -127 * 1.5 - 2.0 ** -170], dtype=np.float64)
    top = float(np.nanmax(np.abs(np.arange(1 << nbits, dtype=np.uint8).view(T).astype(np.float64)
                                 [np.isfinite(np.arange(1 << nbits, dtype=np.uint8).view(T).astype(np.float64))])))
    rnd = rng.standard_normal(4000) * top / 4
    return np.concatenate([specials, nudged, -nudged, rnd])


def main():
    for name in TYPES:
        T = getattr(ml_dtypes, name)
        nbits = bits_of(name)
        seed = sum(ord(c) for c in name)
        rng = np.random.default_rng(seed)
        x32 = f32_inputs(T, nbits, rng)
        x64 = f64_inputs(T, nbits, rng)
        h16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        codes = np.arange(1 << nbits, dtype=np.uint8)
        arrays = {
            "decode_table": (codes.view(T).astype(np.float32), f"[2^{nbits}] f32 value of each code"),
            "f32_in": (x32, "f32 inputs"),
            "f32_code": (x32.astype(T).view(np.uint8), "u8 code of f32_in[i]: np.float32 array .astype(T)"),
            "f64_in": (x64, "f64 inputs"),
            "f64_code": (x64.astype(T).view(np.uint8), "u8 code of f64_in[i]: np.float64 array .astype(T)"),
            "f16_code": (h16.view(np.float16).astype(T).view(np.uint8),
                         "u8 code of the f16 with bit pattern i: np.float16 array .astype(T)"),
            "bf16_code": (h16.view(ml_dtypes.bfloat16).astype(T).view(np.uint8),
                          "u8 code of the bf16 with bit pattern i: ml_dtypes.bfloat16 array .astype(T)"),
        }
        meta = {
            "type": name,
            "bits": nbits,
            "producer": f"ml_dtypes {VERSION} (numpy {np.__version__}): array.astype(ml_dtypes.{name}).view(uint8)",
            "generator": "scripts/gen_ml_dtypes_golden.py",
            "seed": seed,
        }
        write("mld07_" + name, meta, arrays, OUT)
        print(name, {k: a.shape[0] for k, (a, _) in arrays.items()})


if __name__ == "__main__":
    main()
