"""A multi-GB sharded DeepSeek-style FP8 checkpoint for timing and memory checks
of `lowp inspect` / `lowp dequantize` (BENCHMARKS.md): SHARDS shards, each with
LAYERS 4096x4096 F8_E4M3 weights and their 32x32 F32 `weight_scale_inv`, and a
model.safetensors.index.json. Codes are random finite E4M3 bytes, scales
random powers of two; only the layout matters here, not the values.

    python scripts/gen_big_checkpoint.py OUT_DIR [--shards 4] [--layers 16]
"""

import argparse
import json
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--layers", type=int, default=16)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(5)
    n = 4096
    weight_map = {}
    for s in range(a.shards):
        shard = f"model-{s + 1:05d}-of-{a.shards:05d}.safetensors"
        names = []
        for layer in range(a.layers):
            base = f"model.layers.{s * a.layers + layer}.mlp.down_proj"
            names += [f"{base}.weight", f"{base}.weight_scale_inv"]
        names.sort()
        header, off = {}, 0
        for name in names:
            size = n * n if name.endswith(".weight") else 32 * 32 * 4
            shape = [n, n] if name.endswith(".weight") else [32, 32]
            header[name] = {"dtype": "F8_E4M3" if name.endswith(".weight") else "F32", "shape": shape,
                            "data_offsets": [off, off + size]}
            off += size
            weight_map[name] = shard
        h = json.dumps(header, sort_keys=True).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(a.out, shard), "wb") as f:
            f.write(len(h).to_bytes(8, "little") + h)
            for name in names:
                if name.endswith(".weight"):
                    codes = rng.integers(0, 0x7F, n * n, dtype=np.uint8)
                    codes |= (rng.integers(0, 2, n * n, dtype=np.uint8) << 7)
                    f.write(codes.tobytes())
                else:
                    f.write(np.exp2(rng.integers(-12, -4, 32 * 32)).astype(np.float32).tobytes())
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
