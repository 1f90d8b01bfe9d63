"""Python overhead of the lowp package beside the Rust figures (BENCHMARKS.md).

Runs, single-threaded (RAYON_NUM_THREADS=1 for both front ends):
- lowp.quantize of a 4096x4096 f32 N(0,1) tensor with mxfp8-e4m3, twice: a
  new QuantizedTensor per call, and into one tensor (`out=q`, reusing its code
  buffer as the Rust row does), and `lowp bench --filter quantize/mxfp8-e4m3`
  (the Rust row on the same size: `block::quantize_into` into a reused tensor);
- lowp.matmul of two 2048x2048 mxfp8-e4m3 QuantizedTensors under f32-fma, and
  `lowp bench --filter matmul/mxfp8-e4m3/f32-fma` (operands built from the
  quantized tensors inside the timed call in both);
- the e4m3fn cast of 2^24 f32 values: lowp.cast and ml_dtypes' astype (the
  baseline a Python user would otherwise run), and the Rust cast row.
Medians of --reps runs after one warm-up.

    RAYON_NUM_THREADS=1 python scripts/bench_python.py --lowp target/release/lowp
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

import lowp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_references import median_time  # noqa: E402  (needs ml_dtypes)


def rust_row(exe, filt, reps):
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    out = subprocess.run([exe, "bench", "--json", "--filter", filt, "--reps", str(reps)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lowp", default="target/release/lowp")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if os.environ.get("RAYON_NUM_THREADS") != "1":
        raise SystemExit("run with RAYON_NUM_THREADS=1 (single-core figures)")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4096, 4096), dtype=np.float32)
    t = median_time(lambda: lowp.quantize(x, "mxfp8-e4m3"), a.reps)
    print(f"python quantize mxfp8-e4m3 4096^2, new output: {t:.4f} s = {x.size / t / 1e9:.3f} Gelem/s")
    q = lowp.quantize(x, "mxfp8-e4m3")
    t = median_time(lambda: lowp.quantize(x, "mxfp8-e4m3", out=q), a.reps)
    print(f"python quantize mxfp8-e4m3 4096^2, out=q: {t:.4f} s = {x.size / t / 1e9:.3f} Gelem/s")
    for r in rust_row(a.lowp, "quantize/mxfp8-e4m3", a.reps):
        print("rust  ", json.dumps(r))
    qa = lowp.quantize(rng.standard_normal((2048, 2048), dtype=np.float32), "mxfp8-e4m3")
    qb = lowp.quantize(rng.standard_normal((2048, 2048), dtype=np.float32), "mxfp8-e4m3")
    reps = min(a.reps, 3)
    t = median_time(lambda: lowp.matmul(qa, qb, accum="f32-fma"), reps)
    print(f"python matmul mxfp8-e4m3 f32-fma 2048^3: {t:.4f} s = {2 * 2048**3 / t / 1e9:.3f} GFLOP/s")
    for r in rust_row(a.lowp, "matmul/mxfp8-e4m3/f32-fma/", reps):
        print("rust  ", json.dumps(r))
    v = (rng.standard_normal(1 << 24) * 10).astype(np.float32)
    t = median_time(lambda: lowp.cast(v, "e4m3fn"), a.reps)
    print(f"python cast e4m3fn 2^24: {v.size / t / 1e9:.3f} Gelem/s")
    import ml_dtypes

    t = median_time(lambda: v.astype(ml_dtypes.float8_e4m3fn), a.reps)
    print(f"ml_dtypes {ml_dtypes.__version__} astype float8_e4m3fn 2^24: {v.size / t / 1e9:.3f} Gelem/s")
    for r in [r for r in rust_row(a.lowp, "cast/e4m3fn", a.reps) if r.get("target") == "e4m3fn"]:
        print("rust  ", json.dumps(r))


if __name__ == "__main__":
    main()
