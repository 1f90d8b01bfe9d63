"""Quantized checkpoints written by the producers' own code, and the masters they
were quantized from, for `lowp verify` (tests/verify.rs).

Runs on a CPU with torch 2.15.0, nvidia-modelopt 0.47.0, compressed-tensors
0.20.0 and transformers 5.25.0 from PyPI (pip install torch==2.15.0
nvidia-modelopt==0.47.0 compressed-tensors==0.20.0 transformers==5.25.0
ml_dtypes requests):

  modelopt_nvfp4   ModelOpt NVFP4QTensor.quantize(w, 16) (weight, weight_scale,
                   weight_scale_2), ModelOpt's export layout
  ct_nvfp4         compressed-tensors' NVFP4 preset: the group / tensor min-max
                   an llm-compressor memoryless observer takes, then
                   generate_gparam, calculate_qparams and
                   NVFP4PackedCompressor.compress (weight_packed, weight_scale,
                   weight_global_scale)
  ct_fp8           compressed-tensors' FP8 presets per tensor, channel and
                   128x128 block: calculate_qparams and
                   NaiveQuantizationCompressor.compress
  modelopt_mxfp4   ModelOpt MXFP4QTensor.quantize(w, 32), written as GPT-OSS's
                   original names (P.blocks [E, R, G, 16], P.scales [E, R, G])
  deepseek_fp8     DeepGEMM's per_block_cast_to_fp8 (its test utility, restated
                   here in torch: DeepGEMM itself needs a GPU), 128x128; and
                   deepseek_fp8.transformers.safetensors, what transformers
                   5.25's Fp8Dequantize reads from it (f32)

Each master holds F32 and BF16 weights (the producers' arithmetic follows the
weight's dtype: compressed-tensors' scales are computed in BF16 for a BF16
weight). Deterministic (fixed seeds, files written whole): a rerun gives the
same bytes.

    python scripts/gen_verify_fixtures.py [--out tests/fixtures/verify]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from gen_checkpoint_fixtures import write_safetensors  # noqa: E402

ST_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.uint8: "U8", torch.float8_e4m3fn: "F8_E4M3"}


def st(t):
    """A torch tensor as (safetensors dtype, shape, bytes)."""
    t = t.detach().contiguous().cpu()
    raw = t.view(torch.uint8) if t.dtype in (torch.float8_e4m3fn, torch.uint8) else t
    if t.dtype == torch.bfloat16:
        raw = t.view(torch.int16)
    return (ST_DTYPE[t.dtype], tuple(t.shape), raw.numpy().tobytes())


def weights(seed, shapes, spread=2.0, bf16=None):
    """Gaussians with a per-element log-uniform spread (heavy tails, varied block
    maxima), an all-zero block; F32, or BF16 where `bf16` says (default: every
    other one)."""
    rng = np.random.default_rng(seed)
    out = []
    for k, shape in enumerate(shapes):
        w = rng.standard_normal(shape) * np.exp(rng.uniform(-spread, spread, shape))
        w.reshape(-1)[:32] = 0.0
        t = torch.from_numpy(w.astype(np.float32))
        out.append(t.to(torch.bfloat16) if (bf16[k] if bf16 else k % 2 == 1) else t)
    return out


def modelopt_nvfp4(out):
    from modelopt.torch.quantization.qtensor import NVFP4QTensor

    tensors, master = {}, {}
    for name, w in zip(["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"],
                       weights(1, [(64, 128), (48, 96)])):
        q, s, s2 = NVFP4QTensor.quantize(w, 16)
        tensors[f"{name}.weight"] = st(q._quantized_data)
        tensors[f"{name}.weight_scale"] = st(s)
        tensors[f"{name}.weight_scale_2"] = st(s2.reshape(()).float())
        master[f"{name}.weight"] = st(w)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(out, "hf_quant_config.json"), "w") as f:
        json.dump({"producer": {"name": "modelopt", "version": "0.47.0"},
                   "quantization": {"group_size": 16, "quant_algo": "NVFP4"}}, f, indent=2, sort_keys=True)
    return master


def ct_scheme(preset):
    from compressed_tensors.quantization import preset_name_to_scheme

    return preset_name_to_scheme(preset, ["Linear"])


def ct_nvfp4(out):
    from compressed_tensors.compressors.nvfp4.base import NVFP4PackedCompressor
    from compressed_tensors.quantization.utils import calculate_qparams, generate_gparam

    scheme = ct_scheme("NVFP4A16")
    args = scheme.weights
    tensors, master = {}, {}
    for name, w in zip(["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"],
                       weights(2, [(64, 128), (48, 96)])):
        # what llm-compressor's memoryless min-max observer takes, in the weight's dtype
        g = w.reshape(w.shape[0], -1, args.group_size)
        gs = generate_gparam(w.amin().reshape(1), w.amax().reshape(1))
        scale, zp = calculate_qparams(g.amin(-1), g.amax(-1), args, global_scale=gs)
        sd = NVFP4PackedCompressor.compress({"weight": w, "weight_scale": scale, "weight_global_scale": gs}, scheme)
        tensors[f"{name}.weight_packed"] = st(sd["weight_packed"])
        tensors[f"{name}.weight_scale"] = st(sd["weight_scale"])
        tensors[f"{name}.weight_global_scale"] = st(sd["weight_global_scale"].float())
        master[f"{name}.weight"] = st(w)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"quantization_config": {"format": "nvfp4-pack-quantized", "quant_method": "compressed-tensors"}},
                  f, indent=2, sort_keys=True)
    return master


def ct_fp8(out):
    from compressed_tensors.compressors.naive_quantized.base import NaiveQuantizationCompressor
    from compressed_tensors.quantization.utils import calculate_qparams

    tensors, master = {}, {}
    layers = [("model.layers.0.self_attn.k_proj", "FP8", (48, 64)),
              ("model.layers.0.self_attn.v_proj", "FP8_DYNAMIC", (48, 64)),
              ("model.layers.0.mlp.gate_proj", "FP8_BLOCK", (136, 144))]
    # the 128x128 block weight in BF16: there compressed-tensors' BF16 arithmetic
    # differs from DeepGEMM's f32 one
    ws = weights(3, [s for _, _, s in layers], spread=1.0, bf16=[False, True, True])
    for (name, preset, shape), w in zip(layers, ws):
        scheme = ct_scheme(preset)
        args = scheme.weights
        r, c = shape
        if preset == "FP8":
            mn, mx = w.amin().reshape(1), w.amax().reshape(1)
        elif preset == "FP8_DYNAMIC":
            mn, mx = w.amin(1, keepdim=True), w.amax(1, keepdim=True)
        else:
            br, bc = args.block_structure
            gr, gc = -(-r // br), -(-c // bc)
            p = torch.nn.functional.pad(w.float(), (0, gc * bc - c, 0, gr * br - r)).to(w.dtype)
            blocks = p.reshape(gr, br, gc, bc)
            # padding zeros do not move a min-max (0 is always in the range)
            mn, mx = blocks.amin((1, 3)), blocks.amax((1, 3))
        scale, zp = calculate_qparams(mn, mx, args)
        sd = NaiveQuantizationCompressor.compress({"weight": w, "weight_scale": scale}, scheme)
        tensors[f"{name}.weight"] = st(sd["weight"])
        tensors[f"{name}.weight_scale"] = st(sd["weight_scale"])
        master[f"{name}.weight"] = st(w)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"quantization_config": {"format": "float-quantized", "quant_method": "compressed-tensors"}},
                  f, indent=2, sort_keys=True)
    return master


def modelopt_mxfp4(out):
    from modelopt.torch.quantization.qtensor import MXFP4QTensor

    tensors, master = {}, {}
    for proj, w in zip(["mlp1_weight", "mlp2_weight"], weights(4, [(2, 32, 64), (2, 64, 32)])):
        e, rows, k = w.shape
        q, s = MXFP4QTensor.quantize(w, 32)
        base = f"block.0.mlp.{proj}"
        tensors[f"{base}.blocks"] = st(q._quantized_data.reshape(e, rows, k // 32, 16))
        tensors[f"{base}.scales"] = st(s.reshape(e, rows, k // 32))
        master[base] = st(w)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    return master


def deepseek_fp8(out):
    tensors, master = {}, {}
    for name, w in zip(["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"],
                       weights(5, [(136, 200), (130, 96)], spread=1.0)):
        # DeepGEMM per_block_cast_to_fp8: pad to 128, amax per tile clamped to 1e-4, in f32
        r, c = w.shape
        p = torch.zeros(-(-r // 128) * 128, -(-c // 128) * 128, dtype=w.dtype)
        p[:r, :c] = w
        v = p.view(-1, 128, p.size(1) // 128, 128)
        amax = v.abs().float().amax(dim=(1, 3), keepdim=True).clamp(1e-4)
        y = (v * (448.0 / amax)).to(torch.float8_e4m3fn)
        tensors[f"{name}.weight"] = st(y.view_as(p)[:r, :c])
        tensors[f"{name}.weight_scale_inv"] = st((amax / 448.0).view(v.size(0), v.size(2)))
        master[f"{name}.weight"] = st(w)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"quantization_config": {"fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}},
                  f, indent=2, sort_keys=True)
    # what transformers' own FP8 loader (dequantize=True) reads from it, in f32
    from transformers.integrations.finegrained_fp8 import Fp8Dequantize

    op = Fp8Dequantize.__new__(Fp8Dequantize)  # _dequantize_one uses no state
    read = {}
    for name in ["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.down_proj"]:
        codes = torch.frombuffer(bytearray(tensors[f"{name}.weight"][2]), dtype=torch.float8_e4m3fn)
        codes = codes.reshape(tensors[f"{name}.weight"][1])
        scales = torch.frombuffer(bytearray(tensors[f"{name}.weight_scale_inv"][2]), dtype=torch.float32)
        scales = scales.reshape(tensors[f"{name}.weight_scale_inv"][1])
        read[f"{name}.weight"] = st(op._dequantize_one(codes, scales, torch.float32))
    write_safetensors(os.path.join(os.path.dirname(out), "deepseek_fp8.transformers.safetensors"), read)
    return master


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/verify")
    a = ap.parse_args()
    torch.manual_seed(0)
    for name, make in [("modelopt_nvfp4", modelopt_nvfp4), ("ct_nvfp4", ct_nvfp4), ("ct_fp8", ct_fp8),
                       ("modelopt_mxfp4", modelopt_mxfp4), ("deepseek_fp8", deepseek_fp8)]:
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        master = make(d)
        write_safetensors(os.path.join(a.out, f"{name}.master.safetensors"), master)
        print(name, len(master), "weights")


if __name__ == "__main__":
    main()
