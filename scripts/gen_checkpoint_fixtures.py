"""Small quantized checkpoints in each convention lowp reads, and the values each
producer's loader dequantizes them to, for tests/checkpoints.rs.

Writes tests/fixtures/checkpoints/<name>/ (the checkpoint, its config files),
tests/fixtures/checkpoints/<name>.expected.safetensors (for every tensor the
checkpoint's `lowp dequantize` writes: `<tensor>.f32` and `<tensor>.bf16`, the
loader's value before and after its BF16 store; copied tensors as stored) and
tests/fixtures/checkpoints/<name>.master.safetensors (the high-precision
checkpoint it was quantized from: every quantized weight as the F32 array the
quantizer was given, under the model's name and shape; the other tensors as
stored), for `lowp compare --master` and `lowp verify`.

Everything here is numpy + ml_dtypes (the FP8 E4M3 and BF16 roundings, both
round to nearest even), independent of lowp. The quantizers follow each
producer's published code, read for this (file names in docs/checkpoints.md):
  deepseek-fp8        DeepGEMM per_block_cast_to_fp8 (amax / 448 per 128x128 tile)
  gpt-oss-mxfp4       OCP MX (E8M0 = floor(log2 amax) - 2, E2M1 RNE, saturating)
  modelopt-nvfp4      ModelOpt NVFP4QTensor.quantize (scale_2 = amax / 2688)
  compressed-tensors  calculate_qparams / generate_gparam (global = 2688 / amax)
and the expected values follow each loader's dequantization (the formulas of
docs/checkpoints.md), computed here element by element in float32.

Deterministic: a fixed seed, sorted JSON, files written whole; rerunning gives
the same bytes (python/tests/test_checkpoint_fixtures.py checks it).

    python scripts/gen_checkpoint_fixtures.py [--out tests/fixtures/checkpoints]
"""

import argparse
import json
import os

import ml_dtypes
import numpy as np

F32 = np.float32
E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], F32)
DTYPES = {"F32": (F32, 4), "BF16": (ml_dtypes.bfloat16, 2), "F16": (np.float16, 2), "U8": (np.uint8, 1),
          "F8_E4M3": (ml_dtypes.float8_e4m3fn, 1), "I64": (np.int64, 8)}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype_name, shape, bytes)}; offsets in name order."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        d, shape, b = tensors[name]
        header[name] = {"dtype": d, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def t(dtype, a):
    a = np.asarray(a)
    return (dtype, a.shape, np.ascontiguousarray(a).tobytes())


def bf16(a):
    return np.asarray(a, F32).astype(ml_dtypes.bfloat16)


def e2m1_rne(x):
    """Nearest E2M1 code, ties to even, saturating at 6 (the producers' FP4 rounding)."""
    mag = np.abs(x)
    grid = E2M1[:8]
    d = np.abs(mag[..., None] - grid)
    best = np.argmin(d, axis=-1)  # first minimum: the lower of two at a tie ...
    tie = np.take_along_axis(d, np.minimum(best + 1, 7)[..., None], -1)[..., 0] == d.min(-1)
    best = np.where(tie & (best % 2 == 1) & (best < 7), best + 1, best)  # ... moved to the even one
    return (best + 8 * np.signbit(x)).astype(np.uint8)


def pack4(codes):
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def rng_weights(rng, shape, spread=1.0):
    return (rng.standard_normal(shape) * np.exp(rng.uniform(-spread, spread, shape))).astype(F32)


# ---------------------------------------------------------------- deepseek-fp8
def deepseek(rng, out):
    tensors, expected = {}, {}
    for name, shape in [("model.layers.0.self_attn.q_proj", (136, 200)), ("model.layers.0.mlp.down_proj", (130, 96))]:
        w = rng_weights(rng, shape)
        MASTERS[f"{name}.weight"] = w
        r, c = shape
        gr, gc = -(-r // 128), -(-c // 128)
        s = np.zeros((gr, gc), F32)
        codes = np.zeros(shape, ml_dtypes.float8_e4m3fn)
        for i in range(gr):
            for j in range(gc):
                blk = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
                amax = max(F32(np.abs(blk).max()), F32(1e-4))
                codes[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = (blk * (F32(448.0) / amax)).astype(ml_dtypes.float8_e4m3fn)
                s[i, j] = amax / F32(448.0)
        tensors[f"{name}.weight"] = t("F8_E4M3", codes)
        tensors[f"{name}.weight_scale_inv"] = t("F32", s)
        # loader: y = x.float() * s (f32), stored as BF16
        y = codes.astype(F32) * np.repeat(np.repeat(s, 128, 0), 128, 1)[:r, :c]
        expected[f"{name}.weight"] = y
    tensors["model.norm.weight"] = t("BF16", bf16(rng.standard_normal(32)))
    tensors["model.embed_tokens.weight"] = t("BF16", bf16(rng.standard_normal((64, 32))))
    # two shards and an index, as Hugging Face checkpoints ship
    names = sorted(tensors)
    shard_of = {n: f"model-0000{1 + (k % 2)}-of-00002.safetensors" for k, n in enumerate(names)}
    # a weight and its scales in different shards: the index must be honoured
    for shard in sorted(set(shard_of.values())):
        write_safetensors(os.path.join(out, shard), {n: tensors[n] for n in names if shard_of[n] == shard},
                          {"format": "pt"})
    index = {"metadata": {"total_size": sum(len(v[2]) for v in tensors.values())}, "weight_map": shard_of}
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    config = {"architectures": ["DeepseekV3ForCausalLM"], "quantization_config": {
        "activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}}
    return tensors, expected, config


# ---------------------------------------------------------------- gpt-oss-mxfp4
def mx_quantize(w):
    """[..., K] f32 -> blocks [..., K/32, 16] u8, scales [..., K/32] u8 (OCP MX floor rule)."""
    g = w.reshape(*w.shape[:-1], -1, 32)
    amax = np.abs(g).max(-1)
    e = np.where(amax > 0, np.floor(np.log2(np.where(amax > 0, amax, 1))) - 2, -127).astype(np.int64)
    e = np.clip(e, -127, 127)
    scales = (e + 127).astype(np.uint8)
    x = g / np.exp2(e.astype(np.float64))[..., None]
    codes = e2m1_rne(x.astype(F32))
    return pack4(codes), scales


def mx_expected(blocks, scales):
    """transformers' ldexp(e2m1, s - 127): exact, then rounded once (2^128 for the
    E8M0 NaN code 255 too: 0 stays 0, 0.5 gives 2^127, larger values overflow)."""
    lo, hi = blocks & 0xF, blocks >> 4
    vals = np.stack([E2M1[lo], E2M1[hi]], -1).reshape(*blocks.shape[:-1], 32).astype(np.float64)
    with np.errstate(over="ignore"):
        y = (vals * np.exp2(scales.astype(np.float64) - 127)[..., None]).astype(F32)
    return y.reshape(*blocks.shape[:-2], -1)


def gpt_oss(rng, out, hf):
    tensors, expected = {}, {}
    e, inter, hidden = 2, 32, 64
    for proj, rows, k in [("gate_up_proj", 2 * inter, hidden), ("down_proj", hidden, inter)]:
        w = rng_weights(rng, (e, rows, k), 2.0)
        w[0, 0, :32] = 0.0  # an all-zero block: scale 2^-127
        if hf:
            MASTERS[f"model.layers.0.mlp.experts.{proj}"] = np.ascontiguousarray(w.transpose(0, 2, 1))
        else:
            MASTERS[f"block.0.mlp.{'mlp1' if proj == 'gate_up_proj' else 'mlp2'}_weight"] = w
        blocks, scales = mx_quantize(w)
        blocks = blocks.reshape(e, rows, k // 32, 16)
        if proj == "down_proj":
            scales[1, 3, 0] = 255  # the E8M0 NaN code: transformers reads it as 2^128
        y = mx_expected(blocks, scales)  # [E, rows, K]
        if hf:
            base = f"model.layers.0.mlp.experts.{proj}"
            tensors[f"{base}_blocks"] = t("U8", blocks)
            tensors[f"{base}_scales"] = t("U8", scales)
            tensors[f"{base}_bias"] = t("F32", rng.standard_normal((e, rows)).astype(F32))
            expected[base] = np.ascontiguousarray(y.transpose(0, 2, 1))
        else:
            base = f"block.0.mlp.{'mlp1' if proj == 'gate_up_proj' else 'mlp2'}_weight"
            tensors[f"{base}.blocks"] = t("U8", blocks)
            tensors[f"{base}.scales"] = t("U8", scales)
            expected[base] = y
    tensors["model.layers.0.mlp.router.weight" if hf else "block.0.mlp.gate.weight"] = t(
        "BF16", bf16(rng.standard_normal((e, hidden))))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    config = {"architectures": ["GptOssForCausalLM"], "quantization_config": {
        "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router"], "quant_method": "mxfp4"}}
    return tensors, expected, config if hf else None


# ---------------------------------------------------------------- NVFP4 (ModelOpt, compressed-tensors)
def nvfp4(rng, out, producer):
    tensors, expected = {}, {}
    for name, shape in [("model.layers.0.self_attn.q_proj", (64, 64)), ("model.layers.0.mlp.up_proj", (32, 96))]:
        w = rng_weights(rng, shape, 2.0)
        w[1, :16] = 0.0  # an all-zero block
        MASTERS[f"{name}.weight"] = w
        r, c = shape
        blk = w.reshape(r, c // 16, 16)
        amax_b = np.abs(blk).max(-1).astype(F32)
        amax = F32(np.abs(w).max())
        if producer == "modelopt":
            g2 = amax / F32(6 * 448)
            s = amax_b / (F32(6) * g2)
            s[s == 0] = F32(1.0)
            s = np.clip(s, F32(2.0**-9), F32(448)).astype(ml_dtypes.float8_e4m3fn)
            eff = s.astype(F32) * g2
        else:
            g = F32(6 * 448) / max(amax, np.finfo(F32).tiny)
            s = (g * (amax_b / F32(6))).astype(F32)
            s = np.clip(s, F32(-448), F32(448)).astype(ml_dtypes.float8_e4m3fn)
            s[s.astype(F32) == 0] = F32(0.125)
            eff = s.astype(F32) / g
        with np.errstate(divide="ignore", invalid="ignore"):
            codes = e2m1_rne((blk / eff[..., None]).astype(F32)).reshape(r, c)
        packed = pack4(codes)
        # ModelOpt's e2m1_values table holds +0 for code 8 (-0): its loader gives +0
        lut = np.where(np.arange(16) == 8, F32(0.0), E2M1).astype(F32) if producer == "modelopt" else E2M1
        y = (lut[codes].reshape(r, c // 16, 16) * eff[..., None]).reshape(r, c)
        if producer == "modelopt":
            tensors[f"{name}.weight"] = t("U8", packed)
            tensors[f"{name}.weight_scale"] = t("F8_E4M3", s)
            tensors[f"{name}.weight_scale_2"] = t("F32", np.array(g2, F32).reshape(()))
            tensors[f"{name}.input_scale"] = t("F32", np.array(F32(0.0123), F32).reshape(()))
        else:
            tensors[f"{name}.weight_packed"] = t("U8", packed)
            tensors[f"{name}.weight_scale"] = t("F8_E4M3", s)
            tensors[f"{name}.weight_global_scale"] = t("F32", np.array([g], F32))
            tensors[f"{name}.input_global_scale"] = t("F32", np.array([F32(500.0)], F32))
        expected[f"{name}.weight"] = y
    tensors["lm_head.weight"] = t("BF16", bf16(rng.standard_normal((16, 64))))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    if producer == "modelopt":
        config = {"producer": {"name": "modelopt", "version": "0.47.0"},
                  "quantization": {"exclude_modules": ["lm_head"], "group_size": 16, "quant_algo": "NVFP4"}}
        with open(os.path.join(out, "hf_quant_config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        return tensors, expected, None
    config = {"quantization_config": {"format": "nvfp4-pack-quantized", "quant_method": "compressed-tensors"}}
    return tensors, expected, config


# ---------------------------------------------------------------- compressed-tensors FP8
def ct_fp8(rng, out):
    tensors, expected = {}, {}
    for name, shape, kind, sdt in [("model.layers.0.self_attn.k_proj", (48, 64), "tensor", "F32"),
                                   ("model.layers.0.self_attn.v_proj", (48, 64), "channel", "BF16"),
                                   ("model.layers.0.mlp.gate_proj", (136, 144), "block", "F32")]:
        w = rng_weights(rng, shape)
        MASTERS[f"{name}.weight"] = w
        r, c = shape
        if kind == "tensor":
            s = np.array([np.abs(w).max() / F32(448)], F32)
            full = np.full(shape, s[0], F32)
        elif kind == "channel":
            s = (np.abs(w).max(1, keepdims=True) / F32(448)).astype(F32)
            s = s.astype(ml_dtypes.bfloat16).astype(F32)
            full = np.repeat(s, c, 1)
        else:
            gr, gc = -(-r // 128), -(-c // 128)
            s = np.zeros((gr, gc), F32)
            for i in range(gr):
                for j in range(gc):
                    s[i, j] = np.abs(w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]).max() / F32(448)
            full = np.repeat(np.repeat(s, 128, 0), 128, 1)[:r, :c]
        codes = np.clip(w / full, F32(-448), F32(448)).astype(ml_dtypes.float8_e4m3fn)
        y = codes.astype(F32) * full  # x_q.to(scale.dtype) * scale
        if sdt == "BF16":
            y = y.astype(ml_dtypes.bfloat16).astype(F32)  # the product in BF16
            tensors[f"{name}.weight_scale"] = t("BF16", s.astype(ml_dtypes.bfloat16))
        else:
            tensors[f"{name}.weight_scale"] = t("F32", s)
        tensors[f"{name}.weight"] = t("F8_E4M3", codes)
        expected[f"{name}.weight"] = y
    tensors["model.norm.weight"] = t("BF16", bf16(rng.standard_normal(64)))
    tensors["model.position_ids"] = t("I64", np.arange(8, dtype=np.int64))
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    config = {"quantization_config": {"format": "float-quantized", "quant_method": "compressed-tensors"}}
    return tensors, expected, config


# the high-precision weights each maker quantized, by the model's name (filled as they run)
MASTERS = {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/checkpoints")
    a = ap.parse_args()
    rng = np.random.default_rng(17)
    makers = [("deepseek_fp8", deepseek), ("gpt_oss_hf", lambda r, o: gpt_oss(r, o, True)),
              ("gpt_oss_original", lambda r, o: gpt_oss(r, o, False)),
              ("modelopt_nvfp4", lambda r, o: nvfp4(r, o, "modelopt")),
              ("ct_nvfp4", lambda r, o: nvfp4(r, o, "compressed-tensors")), ("ct_fp8", ct_fp8)]
    for name, make in makers:
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        tensors, expected, config = make(rng, d)
        if config is not None:
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(config, f, indent=2, sort_keys=True)
        quantized_parts = set()
        for w in expected:
            for suffix in ["", "_blocks", "_scales", ".blocks", ".scales", ".weight_scale", ".weight_scale_inv",
                           ".weight_scale_2", "_packed", ".weight_global_scale"]:
                quantized_parts.add(w + suffix)
                quantized_parts.add(w.removesuffix(".weight") + suffix)
        exp = {}
        for w, y in expected.items():
            exp[f"{w}.f32"] = t("F32", y.astype(F32))
            exp[f"{w}.bf16"] = t("BF16", y.astype(F32).astype(ml_dtypes.bfloat16))
        for n, v in tensors.items():
            if n not in quantized_parts:
                exp[n] = v  # copied as stored (biases, norms, input scales)
        write_safetensors(os.path.join(a.out, f"{name}.expected.safetensors"), exp)
        master = {w: t("F32", MASTERS.pop(w)) for w in expected}
        master.update({n: v for n, v in tensors.items() if n not in quantized_parts})
        write_safetensors(os.path.join(a.out, f"{name}.master.safetensors"), master)
        print(name, len(tensors), "tensors,", len(expected), "quantized weights")


if __name__ == "__main__":
    main()
