"""Dequantizes the checkpoint fixtures (scripts/gen_checkpoint_fixtures.py) with
the producers' own loader code, on the CPU, and compares the result bit for bit
with the expected values the generator wrote (which tests/checkpoints.rs holds
`lowp dequantize` to). Needs torch, compressed-tensors, nvidia-modelopt and
transformers; not run in CI (docs/checkpoints.md records a run).

  compressed-tensors  NVFP4PackedCompressor.decompress (ct_nvfp4) and
                      lifecycle.forward.dequantize (ct_fp8: tensor, channel, block)
  nvidia-modelopt     NVFP4QTensor.dequantize (modelopt_nvfp4)
  transformers        integrations.mxfp4.convert_moe_packed_tensors (gpt_oss_hf)
  DeepSeek-V3         inference/kernel.py weight_dequant, the Triton kernel (as
                      nvidia-modelopt ships it, kernels/quantization/gemm/
                      fp8_kernel.py), run by Triton's CPU interpreter
                      (TRITON_INTERPRET=1, set here) in f32 (deepseek_fp8;
                      the interpreter stores f32 into BF16 by truncation, not
                      the GPU's round to nearest even, so the f32 values are
                      compared)

    python scripts/check_checkpoint_loaders.py [--dir tests/fixtures/checkpoints]
"""

import argparse
import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported: DeepSeek's kernel on the CPU

import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402


def load(path):
    with safe_open(path, "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def bits(t):
    return t.contiguous().view(torch.int16) if t.dtype == torch.bfloat16 else t.contiguous().view(torch.int32)


def same(got, want):
    """Bitwise, any NaN matching any NaN; returns the number of mismatches."""
    nan = torch.isnan(got.float()) & torch.isnan(want.float())
    return int(((bits(got) != bits(want)) & ~nan).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="tests/fixtures/checkpoints")
    a = ap.parse_args()
    results = []

    def report(fixture, name, got, want_f32):
        exp = load(os.path.join(a.dir, f"{fixture}.expected.safetensors"))
        want = exp[f"{name}.f32"] if want_f32 else exp[f"{name}.bf16"]
        assert got.shape == want.shape, (name, got.shape, want.shape)
        n = same(got if want_f32 else got.to(torch.bfloat16), want)
        results.append((fixture, name, got.numel(), n))
        print(f"{fixture:18} {name:45} {got.numel():6} elements, {n} mismatches")

    # compressed-tensors NVFP4
    from compressed_tensors.compressors.nvfp4.base import NVFP4PackedCompressor
    from compressed_tensors.quantization import preset_name_to_scheme

    scheme = preset_name_to_scheme("NVFP4", ["Linear"])
    ck = load(os.path.join(a.dir, "ct_nvfp4", "model.safetensors"))
    for base in sorted({k.rsplit(".", 1)[0] for k in ck if k.endswith(".weight_packed")}):
        sd = {k.rsplit(".", 1)[1]: v for k, v in ck.items() if k.startswith(base + ".")}
        out = NVFP4PackedCompressor.decompress(sd, scheme)
        report("ct_nvfp4", f"{base}.weight", out["weight"], None)

    # compressed-tensors FP8 (tensor, channel, block)
    from compressed_tensors.quantization import QuantizationArgs
    from compressed_tensors.quantization.lifecycle.forward import dequantize

    ck = load(os.path.join(a.dir, "ct_fp8", "model.safetensors"))
    for base, args in [
        ("model.layers.0.self_attn.k_proj", QuantizationArgs(num_bits=8, type="float", strategy="tensor")),
        ("model.layers.0.self_attn.v_proj", QuantizationArgs(num_bits=8, type="float", strategy="channel")),
        ("model.layers.0.mlp.gate_proj",
         QuantizationArgs(num_bits=8, type="float", strategy="block", block_structure=[128, 128])),
    ]:
        y = dequantize(ck[f"{base}.weight"], ck[f"{base}.weight_scale"], args=args)
        report("ct_fp8", f"{base}.weight", y, None)

    # ModelOpt NVFP4
    from modelopt.torch.quantization.qtensor.nvfp4_tensor import NVFP4QTensor

    ck = load(os.path.join(a.dir, "modelopt_nvfp4", "model.safetensors"))
    for base in sorted({k.rsplit(".", 1)[0] for k in ck if k.endswith(".weight_scale_2")}):
        packed = ck[f"{base}.weight"]
        shape = (packed.shape[0], packed.shape[1] * 2)
        q = NVFP4QTensor(torch.Size(shape), torch.bfloat16, packed)
        y = q.dequantize(dtype=torch.bfloat16, scale=ck[f"{base}.weight_scale"],
                         double_scale=ck[f"{base}.weight_scale_2"], block_sizes={-1: 16})
        report("modelopt_nvfp4", f"{base}.weight", y, None)

    # transformers' GPT-OSS MXFP4 (Hugging Face names)
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    ck = load(os.path.join(a.dir, "gpt_oss_hf", "model.safetensors"))
    for base in sorted({k.removesuffix("_blocks") for k in ck if k.endswith("_blocks")}):
        y = convert_moe_packed_tensors(ck[f"{base}_blocks"], ck[f"{base}_scales"], dtype=torch.bfloat16)
        report("gpt_oss_hf", base, y, None)

    # DeepSeek-V3's weight_dequant Triton kernel, in the interpreter, f32 out
    from modelopt.torch.kernels.quantization.gemm.fp8_kernel import weight_dequant

    ck = {}
    for shard in sorted(os.listdir(os.path.join(a.dir, "deepseek_fp8"))):
        if shard.endswith(".safetensors"):
            ck.update(load(os.path.join(a.dir, "deepseek_fp8", shard)))
    for base in sorted({k.removesuffix(".weight_scale_inv") for k in ck if k.endswith(".weight_scale_inv")}):
        y = weight_dequant(ck[f"{base}.weight"], ck[f"{base}.weight_scale_inv"], 128, torch.float32)
        report("deepseek_fp8", f"{base}.weight", y, True)

    bad = sum(r[3] for r in results)
    print(f"{len(results)} weights, {sum(r[2] for r in results)} elements, {bad} mismatches")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
