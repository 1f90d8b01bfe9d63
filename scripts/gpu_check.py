#!/usr/bin/env python3
"""Check lowp's FP8 conversions and FP8 GEMM models against an NVIDIA GPU.

Run on a machine with a CUDA GPU, PyTorch, and (optional) CuPy and Triton, next to
a built `lowp` binary:

    cargo build --release
    python3 scripts/gpu_check.py --lowp target/release/lowp --out gpu_check

What it compares, each bit for bit:

1. Decoding: every code of e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e8m0fnu through
   `torch.Tensor.to(float32)` on the GPU against `lowp decode`.
2. Casts, every input: all 2^32 f32 bit patterns (and all 2^16 f16 / bf16) through
   - torch `.to(float8_*)` on the GPU (PyTorch's CUDA cast);
   - the PTX `cvt.rn.satfinite.{e4m3x2,e5m2x2}.{f32,f16x2}` instruction (CuPy);
   - the PTX cvt without `.satfinite`, where ptxas accepts it;
   - Triton's `x.to(tl.float8e4nv / float8e5)` (what torchao's Triton kernels run);
   against `lowp cast --every TYPE` with the lowp options named for that reference.
   Where the first lowp preset does not match, the next candidate options are tried,
   and every result is reported.
3. GEMMs on FP8 codes: `torch._scaled_mm` (cuBLASLt) with fast accumulation on and
   off, tensor-wise, row-wise and block-wise scales, and a Triton `tl.dot` kernel
   (Hopper wgmma) with several `max_num_imprecise_acc`, against `lowp matmul` under
   the sm90 model with each promotion interval and the ideal models.

Everything goes to OUT/gpu_check.json and OUT/gpu_check.log; the last lines printed
are a summary table.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import traceback

import numpy as np
import torch

LOG = []


def log(*a):
    s = " ".join(str(x) for x in a)
    print(s, flush=True)
    LOG.append(s)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


# ---------------------------------------------------------------- inputs


def patterns(ty, start, n, dev):
    """The inputs of TYPE whose bit patterns are start..start+n, on dev."""
    b = torch.arange(start, start + n, dtype=torch.int64, device=dev)
    if ty == "f32":
        return torch.where(b >= 2**31, b - 2**32, b).to(torch.int32).view(torch.float32)
    b16 = torch.where(b >= 2**15, b - 2**16, b).to(torch.int16)
    return b16.view(torch.float16 if ty == "f16" else torch.bfloat16)


TOTAL = {"f32": 2**32, "f16": 2**16, "bf16": 2**16}

# ---------------------------------------------------------------- GPU references for casts

TORCH_DT = {
    "e4m3fn": torch.float8_e4m3fn,
    "e5m2": torch.float8_e5m2,
    "e4m3fnuz": torch.float8_e4m3fnuz,
    "e5m2fnuz": torch.float8_e5m2fnuz,
}
if hasattr(torch, "float8_e8m0fnu"):
    TORCH_DT["e8m0fnu"] = torch.float8_e8m0fnu

PTX_FMT = {"e4m3fn": "e4m3x2", "e5m2": "e5m2x2"}


def torch_ref(fmt):
    dt = TORCH_DT[fmt]
    return lambda x: x.to(dt).view(torch.uint8)


def cupy_cvt_ref(fmt, ty, sat):
    """A CuPy kernel running one PTX cvt on pairs of inputs of type ty."""
    import cupy

    mod = ".satfinite" if sat else ""
    if ty == "f32":
        body = (
            "unsigned short r; const float* x = (const float*)xs;\n"
            f'asm("cvt.rn{mod}.{PTX_FMT[fmt]}.f32 %0, %1, %2;" : "=h"(r) : "f"(x[2*i+1]), "f"(x[2*i]));\n'
        )
    else:
        src = "f16x2" if ty == "f16" else "bf16x2"
        body = (
            "unsigned short r; const unsigned int* x = (const unsigned int*)xs;\n"
            f'asm("cvt.rn{mod}.{PTX_FMT[fmt]}.{src} %0, %1;" : "=h"(r) : "r"(x[i]));\n'
        )
    code = (
        'extern "C" __global__ void k(const void* xs, unsigned short* y, long long npairs) {\n'
        "long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
        "if (i >= npairs) return;\n" + body + "y[i] = r; }\n"
    )
    kern = cupy.RawKernel(code, "k")
    kern.compile()

    def f(x):
        n = x.numel()
        y = torch.empty(n // 2, dtype=torch.int16, device=x.device)
        xs = cupy.asarray(x.contiguous().view(torch.int32 if x.element_size() == 4 else torch.int16))
        kern(((n // 2 + 255) // 256,), (256,), (xs, cupy.asarray(y), np.int64(n // 2)))
        torch.cuda.synchronize()
        return y.view(torch.uint8)

    return f


def cuda_header_ref(fmt, sat):
    """CUDA's cuda_fp8.h __nv_cvt_float_to_fp8 (f32 input)."""
    import cupy

    interp = "__NV_E4M3" if fmt == "e4m3fn" else "__NV_E5M2"
    s = "__NV_SATFINITE" if sat else "__NV_NOSAT"
    code = (
        "#include <cuda_fp8.h>\n"
        'extern "C" __global__ void k(const float* x, unsigned char* y, long long n) {\n'
        "long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;\n"
        f"if (i < n) y[i] = __nv_cvt_float_to_fp8(x[i], {s}, {interp}); }}\n"
    )
    kern = cupy.RawKernel(code, "k", options=("--std=c++17",))
    kern.compile()

    def f(x):
        n = x.numel()
        y = torch.empty(n, dtype=torch.uint8, device=x.device)
        kern(((n + 255) // 256,), (256,), (cupy.asarray(x.contiguous()), cupy.asarray(y), np.int64(n)))
        torch.cuda.synchronize()
        return y

    return f


def triton_ref(fmt):
    import triton
    import triton.language as tl

    @triton.jit
    def k(X, Y, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(X + offs, mask=m)
        tl.store(Y + offs, x.to(Y.dtype.element_ty), mask=m)

    dt = TORCH_DT[fmt]

    def f(x):
        y = torch.empty(x.numel(), dtype=dt, device=x.device)
        k[(triton.cdiv(x.numel(), 4096),)](x, y, x.numel(), BLOCK=4096)
        return y.view(torch.uint8)

    return f


# ---------------------------------------------------------------- cast comparison


def classify(x):
    """Input classes of a float tensor: nan, inf, zero, sub (f32-subnormal), finite."""
    xf = x.float()
    return {
        "nan": torch.isnan(xf),
        "inf": torch.isinf(xf),
    }


def gpu_table(ref, ty, dev, chunk):
    """The GPU's code for every input of ty, as one uint8 tensor on dev."""
    total = TOTAL[ty]
    out = torch.empty(total, dtype=torch.uint8, device=dev)
    for s in range(0, total, chunk):
        n = min(chunk, total - s)
        out[s : s + n] = ref(patterns(ty, s, n, dev))
    return out


def compare_table(lowp, fmt, ty, flags, table, dev, chunk):
    """Streams `lowp cast --every` and compares with table; returns a result dict."""
    total = TOTAL[ty]
    cmd = [lowp, "cast", "--every", ty, "--to", fmt, *flags, "-o", "-"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mism = 0
    classes = {"nan": 0, "inf": 0, "finite": 0}
    pairs = {}
    examples = []
    s = 0
    while s < total:
        n = min(chunk, total - s)
        buf = p.stdout.read(n)
        if len(buf) != n:
            p.wait()
            raise RuntimeError(f"{' '.join(cmd)}: short read ({p.stderr.read().decode().strip()})")
        mine = torch.from_numpy(np.frombuffer(buf, dtype=np.uint8).copy()).to(dev)
        g = table[s : s + n]
        bad = g != mine
        nb = int(bad.sum())
        if nb:
            mism += nb
            idx = torch.nonzero(bad).flatten()
            x = patterns(ty, s, n, dev)[idx]
            c = classify(x)
            classes["nan"] += int(c["nan"].sum())
            classes["inf"] += int(c["inf"].sum())
            classes["finite"] += int((~c["nan"] & ~c["inf"]).sum())
            gp = g[idx].to(torch.int64) * 256 + mine[idx].to(torch.int64)
            u, cnt = torch.unique(gp, return_counts=True)
            for a, b in zip(u.tolist(), cnt.tolist()):
                pairs[a] = pairs.get(a, 0) + b
            for j in idx[: max(0, 12 - len(examples))].tolist():
                xv = patterns(ty, s + j, 1, dev)
                bits = s + j
                examples.append(
                    {"input_bits": hex(bits), "input": repr(float(xv.float().item())), "gpu": hex(int(g[j])), "lowp": hex(int(mine[j]))}
                )
        s += n
    if total < 2**32 and ty == "f32":
        p.kill()  # smoke test: lowp was cut short on purpose
    p.wait()
    if p.returncode != 0 and not (total < 2**32 and ty == "f32"):
        raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.read().decode().strip()}")
    top = sorted(pairs.items(), key=lambda kv: -kv[1])[:10]
    return {
        "lowp": " ".join(["lowp cast --every", ty, "--to", fmt, *flags]),
        "inputs": total,
        "mismatches": mism,
        "mismatch_classes": classes,
        "top_pairs_gpu_lowp": [[hex(k // 256), hex(k % 256), v] for k, v in top],
        "examples": examples,
    }


def cast_checks(args, dev, results):
    chunk = 1 << 26
    checks = []
    for fmt in ["e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e8m0fnu"]:
        if fmt not in TORCH_DT:
            continue
        for ty in ["f32", "f16", "bf16"]:
            cands = [["--like", "torch"]]
            if fmt == "e4m3fn":
                cands.append(["--like", "torch-2.11"])
            if ty == "f16":  # the GPU's f16 -> f32 step makes every NaN +NaN
                cands.append(cands[-1] + ["--nan-code", "all-ones-positive"])
            checks.append((f"torch .to({fmt}) from {ty}", fmt, ty, lambda fmt=fmt: torch_ref(fmt), cands))
    for fmt in ["e4m3fn", "e5m2"]:
        for ty in ["f32", "f16", "bf16"]:
            src = {"f32": "f32", "f16": "f16x2", "bf16": "bf16x2"}[ty]
            checks.append(
                (f"PTX cvt.rn.satfinite.{PTX_FMT[fmt]}.{src}", fmt, ty, lambda fmt=fmt, ty=ty: cupy_cvt_ref(fmt, ty, True), [["--like", "ptx"]])
            )
        nosat = [["--like", "ptx", "--overflow", "nonfinite", "--inf", "keep"], []]
        checks.append((f"PTX cvt.rn.{PTX_FMT[fmt]}.f32 (no satfinite)", fmt, "f32", lambda fmt=fmt: cupy_cvt_ref(fmt, "f32", False), nosat))
        checks.append((f"cuda_fp8.h __nv_cvt_float_to_fp8 {fmt} __NV_SATFINITE", fmt, "f32", lambda fmt=fmt: cuda_header_ref(fmt, True), [["--like", "ptx"]]))
        checks.append((f"cuda_fp8.h __nv_cvt_float_to_fp8 {fmt} __NV_NOSAT", fmt, "f32", lambda fmt=fmt: cuda_header_ref(fmt, False), nosat))
        checks.append((f"Triton x.to({fmt}) from f32", fmt, "f32", lambda fmt=fmt: triton_ref(fmt), [["--like", "ptx"]]))
    for name, fmt, ty, mk, cands in checks:
        if args.only and not any(o in name for o in args.only):
            continue
        t0 = time.time()
        entry = {"check": name, "format": fmt, "input": ty, "candidates": []}
        try:
            table = gpu_table(mk(), ty, dev, chunk)
        except Exception as e:  # the reference is not available on this machine
            entry["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
            log(f"[cast] {name}: not run ({entry['error']})")
            results.append(entry)
            continue
        for flags in cands:
            try:
                r = compare_table(args.lowp, fmt, ty, flags, table, dev, chunk)
            except Exception as e:
                r = {"lowp": " ".join(flags), "error": str(e)[:300]}
            entry["candidates"].append(r)
            log(f"[cast] {name}: {r.get('lowp')} -> {r.get('mismatches', r.get('error'))} mismatches of {r.get('inputs')}")
            if r.get("mismatches") == 0:
                break
            log("       ", json.dumps(r.get("top_pairs_gpu_lowp")), json.dumps(r.get("examples", [])[:4]))
        entry["seconds"] = round(time.time() - t0, 1)
        results.append(entry)
        del table


def decode_checks(args, dev, tmp, results):
    codes = np.arange(256, dtype=np.uint8)
    p = os.path.join(tmp, "codes.npy")
    np.save(p, codes)
    for fmt, dt in TORCH_DT.items():
        g = torch.from_numpy(codes).to(dev).view(dt).to(torch.float32).view(torch.int32).cpu().numpy().view(np.uint32)
        o = os.path.join(tmp, "dec.npy")
        run([args.lowp, "decode", "--from", fmt, p, "-o", o])
        m = np.load(o).view(np.uint32)
        bad = np.nonzero(g != m)[0]
        nan_only = all(np.isnan(g.view(np.float32)[i]) and np.isnan(m.view(np.float32)[i]) for i in bad)
        r = {
            "check": f"torch .to(float32) of every {fmt} code",
            "mismatches": int(len(bad)),
            "only_nan_payloads": bool(len(bad) and nan_only),
            "examples": [[hex(int(i)), hex(int(g[i])), hex(int(m[i]))] for i in bad[:8]],
        }
        results.append(r)
        log(f"[decode] {fmt}: {len(bad)} of 256 codes differ" + (" (NaN payloads only)" if r["only_nan_payloads"] else ""))


# ---------------------------------------------------------------- GEMM


def fp8_codes(rng, shape, fmt, dist):
    """Random FP8 codes (no NaN/Inf) of the given distribution."""
    if dist == "codes":
        c = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if fmt == "e4m3fn":
            bad = (c & 0x7F) == 0x7F
            c[bad] = c[bad] & 0xF0  # NaN -> some finite code
        else:
            bad = (c & 0x7F) >= 0x7C
            c[bad] = c[bad] & 0xBF
        return c
    # normal values with a per-row power-of-two spread, cast by torch on the CPU
    x = rng.standard_normal(shape).astype(np.float32)
    x *= np.exp2(rng.integers(-4, 5, size=(shape[0], 1))).astype(np.float32)
    t = torch.from_numpy(x).to(TORCH_DT[fmt]).view(torch.uint8).numpy().copy()
    if fmt == "e4m3fn":
        t[(t & 0x7F) == 0x7F] &= 0xF0
    return t


def write_dir(path, codes, scheme=None, scales=None):
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "codes.npy"), codes)
    if scales is not None:
        np.save(os.path.join(path, "scales.npy"), scales.astype(np.float32))
    if scheme is not None:
        with open(os.path.join(path, "scheme.txt"), "w") as f:
            f.write(scheme + "\n")


def lowp_mm(args, tmp, scheme, adir, bdir, accum, out_dtype="f32", extra=()):
    o = os.path.join(tmp, "mm.npy")
    run([args.lowp, "matmul", "--scheme", scheme, "--a", adir, "--b", bdir, "--accum", accum, "--out-dtype", out_dtype, *extra, "-o", o])
    return np.load(o).astype(np.float32)


def bit_diff(g, m):
    gb = np.ascontiguousarray(g, dtype=np.float32).view(np.uint32)
    mb = np.ascontiguousarray(m, dtype=np.float32).view(np.uint32)
    bad = gb != mb
    both_nan = np.isnan(g) & np.isnan(m)
    return int((bad & ~both_nan).sum())


_TRITON_MM = []
SAVE = {}  # GPU inputs and outputs, written to OUT/gemm.npz for analysis without a GPU
TRITON_BROKEN = []


def triton_mm(a, b, imprecise, bk):
    """C = A·Bᵀ with one Triton tl.dot chain per output tile (Hopper wgmma)."""
    if not _TRITON_MM:
        _TRITON_MM.append(_triton_mm_kernel())
    k = _TRITON_MM[0]
    M, K = a.shape
    N = b.shape[0]
    c = torch.empty(M, N, dtype=torch.float32, device=a.device)
    k[(M // 64, N // 64)](a, b, c, M, N, K, BM=64, BN=64, BK=bk, IMP=imprecise)
    torch.cuda.synchronize()
    return c.cpu().numpy()


def _triton_mm_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def k(A, B, C, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, IMP: tl.constexpr):
        rm = tl.program_id(0) * BM + tl.arange(0, BM)
        rn = tl.program_id(1) * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(0, K, BK):
            x = tl.load(A + rm[:, None] * K + (k0 + rk)[None, :])
            y = tl.load(B + rn[None, :] * K + (k0 + rk)[:, None])
            if IMP < 0:
                acc = tl.dot(x, y, acc)
            else:
                acc = tl.dot(x, y, acc, max_num_imprecise_acc=IMP)
        tl.store(C + rm[:, None] * N + rn[None, :], acc)

    return k


SM90 = ["sm90@promote-every=none", "sm90@promote-every=32", "sm90@promote-every=64", "sm90", "sm90@promote-every=256"]
IDEAL = ["exact", "f32-fma"]


def gemm_row(results, case, gpu_name, g, models):
    """One GPU result against several lowp results; logs and stores mismatches per model."""
    r = {"case": case, "gpu": gpu_name, "outputs": int(g.size), "mismatches": {}}
    for name, m in models.items():
        r["mismatches"][name] = bit_diff(g, m)
    results.append(r)
    best = min(r["mismatches"].items(), key=lambda kv: kv[1])
    log(f"[gemm] {case} | {gpu_name}: " + ", ".join(f"{k}={v}" for k, v in r["mismatches"].items()) + f"  (best {best[0]})")


def gemm_checks(args, dev, tmp, results):
    rng = np.random.default_rng(2026)
    groups = args.gemm_only or ["plain", "scaled", "ksweep", "more", "bias"]
    if "plain" in groups:
        plain_checks(args, dev, tmp, results, rng)
    for name, fn in [("scaled", scaled_checks), ("ksweep", ksweep), ("more", more_checks), ("bias", bias_checks)]:
        if name in groups:
            fn(args, dev, tmp, results, rng)


def cublas_unscaled(results, case, a, b, models, save=True):
    """torch._scaled_mm with unit scales and f32 output, fast accumulation on and off."""
    one = torch.tensor(1.0, device=a.device)
    for fast in [True, False]:
        try:
            g = torch._scaled_mm(a, b.t(), scale_a=one, scale_b=one, out_dtype=torch.float32, use_fast_accum=fast).cpu().numpy()
            gemm_row(results, case, f"torch._scaled_mm fast_accum={fast}", g, models)
            if save:
                SAVE[f"{case}|_scaled_mm fast_accum={fast}"] = g
        except Exception as e:
            log(f"[gemm] {case} _scaled_mm fast={fast}: {str(e).strip().splitlines()[0][:200]}")


def plain_checks(args, dev, tmp, results, rng):
    """Unscaled FP8 GEMMs: cuBLASLt with and without fast accumulation, Triton tl.dot."""
    shapes = [(64, 64, 32), (128, 128, 128), (256, 256, 1024), (128, 128, 8192)]
    for fmt in ["e4m3fn", "e5m2"]:
        for dist in ["normal", "codes"]:
            for M, N, K in shapes:
                case = f"{fmt} {dist} {M}x{N}x{K}"
                ac, bc = fp8_codes(rng, (M, K), fmt, dist), fp8_codes(rng, (N, K), fmt, dist)
                ad, bd = os.path.join(tmp, "A"), os.path.join(tmp, "B")
                write_dir(ad, ac)
                write_dir(bd, bc)
                SAVE[f"{case}|A"], SAVE[f"{case}|B"] = ac, bc
                models = {m: lowp_mm(args, tmp, fmt, ad, bd, m) for m in SM90 + IDEAL}
                a = torch.from_numpy(ac).to(dev).view(TORCH_DT[fmt])
                b = torch.from_numpy(bc).to(dev).view(TORCH_DT[fmt])
                if fmt == "e4m3fn":  # cuBLASLt has no e5m2 x e5m2
                    cublas_unscaled(results, case, a, b, models)
                bk = min(128, K)
                for imp in [-1, 0, 32, 64, 128]:
                    if TRITON_BROKEN or imp > bk:
                        continue
                    try:
                        g = triton_mm(a, b, imp, bk)
                        name = f"triton tl.dot BK={bk} max_num_imprecise_acc={'default' if imp < 0 else imp}"
                        gemm_row(results, case, name, g, models)
                        SAVE[f"{case}|{name}"] = g
                    except Exception as e:
                        log(f"[gemm] {case} triton imp={imp}: {type(e).__name__}: {str(e).splitlines()[0][:300]}")
                        if imp < 0:
                            TRITON_BROKEN.append(str(e))


def more_checks(args, dev, tmp, results, rng):
    """Mixed e4m3 x e5m2 operands, and one large GEMM."""
    ad, bd = os.path.join(tmp, "A"), os.path.join(tmp, "B")
    M, N, K = 128, 128, 1024
    for fa, fb in [("e4m3fn", "e5m2"), ("e5m2", "e4m3fn")]:
        case = f"{fa} x {fb} normal {M}x{N}x{K}"
        ac, bc = fp8_codes(rng, (M, K), fa, "normal"), fp8_codes(rng, (N, K), fb, "normal")
        write_dir(ad, ac)
        write_dir(bd, bc)
        SAVE[f"{case}|A"], SAVE[f"{case}|B"] = ac, bc
        models = {m: lowp_mm(args, tmp, fa, ad, bd, m, extra=("--b-scheme", fb)) for m in ["sm90@promote-every=none", "sm90", "exact"]}
        a = torch.from_numpy(ac).to(dev).view(TORCH_DT[fa])
        b = torch.from_numpy(bc).to(dev).view(TORCH_DT[fb])
        cublas_unscaled(results, case, a, b, models)
    # one large GEMM
    M = N = K = 2048
    case = f"e4m3fn normal {M}x{N}x{K}"
    ac, bc = fp8_codes(rng, (M, K), "e4m3fn", "normal"), fp8_codes(rng, (N, K), "e4m3fn", "normal")
    write_dir(ad, ac)
    write_dir(bd, bc)
    models = {m: lowp_mm(args, tmp, "e4m3fn", ad, bd, m) for m in ["sm90@promote-every=none", "sm90"]}
    a = torch.from_numpy(ac).to(dev).view(torch.float8_e4m3fn)
    b = torch.from_numpy(bc).to(dev).view(torch.float8_e4m3fn)
    cublas_unscaled(results, case, a, b, models, save=False)


def bias_checks(args, dev, tmp, results, rng):
    """A bias (C, bf16 output: cuBLASLt takes no bias with f32 output): where is it added?"""
    ad, bd = os.path.join(tmp, "A"), os.path.join(tmp, "B")
    M, N, K = 128, 128, 1024
    case = f"bias tensor-wise sa=0.3 sb=1.7 out=bf16 {M}x{N}x{K}"
    ac, bc = fp8_codes(rng, (M, K), "e4m3fn", "normal"), fp8_codes(rng, (N, K), "e4m3fn", "normal")
    SAVE[f"{case}|A"], SAVE[f"{case}|B"] = ac, bc
    bias = (rng.standard_normal(N) * 10).astype(np.float32)
    SAVE[f"{case}|bias"] = bias
    sa, sb = np.float32(0.3), np.float32(1.7)
    write_dir(ad, ac, "fp8-tensor@elem=e4m3fn", np.array([sa]))
    write_dir(bd, bc, "fp8-tensor@elem=e4m3fn", np.array([sb]))
    a = torch.from_numpy(ac).to(dev).view(torch.float8_e4m3fn)
    b = torch.from_numpy(bc).to(dev).view(torch.float8_e4m3fn)
    bf = lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).bfloat16().float().numpy()
    cb = bf(bias)  # the bias as the kernel sees it (bf16)
    np.save(os.path.join(tmp, "c.npy"), np.ascontiguousarray(np.tile(cb, (M, 1)), dtype=np.float32))
    for fast in [True, False]:
        acc = "sm90@promote-every=none" if fast else "sm90"
        fused = lowp_mm(args, tmp, "fp8-tensor", ad, bd, acc, "bf16", extra=("--c", os.path.join(tmp, "c.npy")))
        ax = lowp_mm(args, tmp, "fp8-tensor", ad, bd, acc)  # fl(alpha*acc)
        models = {
            "bf16(fma(alpha,acc,C))": fused,
            "bf16(fl(alpha*acc)+C)": bf((ax + cb[None, :]).astype(np.float32)),
            "bf16(bf16(alpha*acc)+C)": bf((bf(ax) + cb[None, :]).astype(np.float32)),
        }
        try:
            g = torch._scaled_mm(a, b.t(), scale_a=torch.tensor(sa, device=dev), scale_b=torch.tensor(sb, device=dev),
                                 bias=torch.from_numpy(bias).to(dev).bfloat16(), out_dtype=torch.bfloat16, use_fast_accum=fast)
            g = g.float().cpu().numpy()
            gemm_row(results, case, f"torch._scaled_mm bias=bf16 fast_accum={fast}", g, models)
            SAVE[f"{case}|_scaled_mm fast_accum={fast}"] = g
        except Exception as e:
            log(f"[gemm] {case} fast={fast}: {str(e).strip().splitlines()[0][:200]}")


def ksweep(args, dev, tmp, results, rng):
    """cuBLASLt at long K: which promotion interval (or split of K) reproduces it."""
    proms = ["sm90@promote-every=none", "sm90", "sm90@promote-every=512", "sm90@promote-every=1024",
             "sm90@promote-every=2048", "sm90@promote-every=4096"]
    for M, N, K in [(128, 128, 2048), (128, 128, 4096), (128, 128, 16384), (1024, 1024, 8192)]:
        case = f"e4m3fn normal {M}x{N}x{K}"
        ac, bc = fp8_codes(rng, (M, K), "e4m3fn", "normal"), fp8_codes(rng, (N, K), "e4m3fn", "normal")
        ad, bd = os.path.join(tmp, "A"), os.path.join(tmp, "B")
        write_dir(ad, ac)
        write_dir(bd, bc)
        models = {m: lowp_mm(args, tmp, "e4m3fn", ad, bd, m) for m in proms}
        a = torch.from_numpy(ac).to(dev).view(torch.float8_e4m3fn)
        b = torch.from_numpy(bc).to(dev).view(torch.float8_e4m3fn)
        if M <= 128:
            SAVE[f"{case}|A"], SAVE[f"{case}|B"] = ac, bc
        cublas_unscaled(results, case, a, b, models, save=M <= 128)


def torch_cpu_checks(args, dev, results):
    """torch's own cast on the CPU against the same torch on the GPU (is a difference the device or the version?)."""
    ranges = [("f32", 0x43E00000, 1 << 22), ("f32", 0xC3E00000, 1 << 22), ("f32", 0x7F800000, 1 << 23),
              ("f32", 0xFF800000, 1 << 23), ("f32", 0x3C000000, 1 << 22), ("f16", 0, 1 << 16), ("bf16", 0, 1 << 16)]
    for fmt, dt in TORCH_DT.items():
        for ty, start, n in ranges:
            x = patterns(ty, start, n, "cpu")
            c = x.to(dt).view(torch.uint8)
            g = x.to(dev).to(dt).view(torch.uint8).cpu()
            bad = torch.nonzero(c != g).flatten()
            ex = [[hex(start + int(i)), hex(int(c[i])), hex(int(g[i]))] for i in bad[:6]]
            results.append({"format": fmt, "input": ty, "first": hex(start), "n": n, "cpu_vs_gpu_mismatches": int(len(bad)), "examples_bits_cpu_gpu": ex})
            log(f"[torch-cpu] {fmt} {ty} from {hex(start)} (+{n}): CPU vs GPU {len(bad)} differ {ex[:3]}")


def scaled_checks(args, dev, tmp, results, rng):
    """Tensor-wise, row-wise and block-wise scaled _scaled_mm against lowp's scale placement."""
    M, N, K = 256, 256, 1024
    fmt = "e4m3fn"
    ac, bc = fp8_codes(rng, (M, K), fmt, "normal"), fp8_codes(rng, (N, K), fmt, "normal")
    SAVE["scaled|A"], SAVE["scaled|B"] = ac, bc
    a = torch.from_numpy(ac).to(dev).view(torch.float8_e4m3fn)
    b = torch.from_numpy(bc).to(dev).view(torch.float8_e4m3fn)
    ad, bd = os.path.join(tmp, "A"), os.path.join(tmp, "B")
    # tensor-wise: alpha = fl(sa*sb) in lowp
    sa, sb = np.float32(0.3), np.float32(1.7)
    write_dir(ad, ac, "fp8-tensor@elem=e4m3fn", np.array([sa]))
    write_dir(bd, bc, "fp8-tensor@elem=e4m3fn", np.array([sb]))
    models = {m: lowp_mm(args, tmp, "fp8-tensor", ad, bd, m) for m in SM90 + IDEAL}
    for fast in [True, False]:
        try:
            g = torch._scaled_mm(a, b.t(), scale_a=torch.tensor(sa, device=dev), scale_b=torch.tensor(sb, device=dev), out_dtype=torch.float32, use_fast_accum=fast).cpu().numpy()
            gemm_row(results, f"tensor-wise sa=0.3 sb=1.7 {M}x{N}x{K}", f"torch._scaled_mm fast_accum={fast}", g, models)
            SAVE[f"tensor-wise|_scaled_mm fast_accum={fast}"] = g
        except Exception as e:
            log(f"[gemm] tensor-wise fast={fast}: {e}")
    # row-wise
    ra = (rng.random((M, 1)) * 2 + 0.01).astype(np.float32)
    rb = (rng.random((N, 1)) * 2 + 0.01).astype(np.float32)
    write_dir(ad, ac, "fp8-row@elem=e4m3fn", ra)
    write_dir(bd, bc, "fp8-row@elem=e4m3fn", rb)
    SAVE["row-wise|ra"], SAVE["row-wise|rb"] = ra, rb
    for out in ["bf16", "f32"]:
        models = {m: lowp_mm(args, tmp, "fp8-row", ad, bd, m, out) for m in SM90 + IDEAL}
        for fast in [True, False]:
            try:
                g = torch._scaled_mm(
                    a, b.t(), scale_a=torch.from_numpy(ra).to(dev), scale_b=torch.from_numpy(rb).to(dev).t(),
                    out_dtype=torch.bfloat16 if out == "bf16" else torch.float32, use_fast_accum=fast,
                )
                g = g.float().cpu().numpy()
                gemm_row(results, f"row-wise out={out} {M}x{N}x{K}", f"torch._scaled_mm fast_accum={fast}", g, models)
                SAVE[f"row-wise out={out}|_scaled_mm fast_accum={fast}"] = g
            except Exception as e:
                log(f"[gemm] row-wise out={out} fast={fast}: {str(e)[:200]}")
    # block-wise 1x128 (A) x 128x128 (B), quantized by lowp from f32 data
    x = (rng.standard_normal((M, K)) * np.exp2(rng.integers(-3, 4, size=(M, K // 128)).repeat(128, 1))).astype(np.float32)
    w = rng.standard_normal((N, K)).astype(np.float32)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "w.npy"), w)
    run([args.lowp, "quantize", "--scheme", "fp8-block", "--like", "deepgemm", "--scale-format", "f32", os.path.join(tmp, "x.npy"), "-o", ad])
    run([args.lowp, "quantize", "--scheme", "fp8-block", "--like", "deepgemm", "--scale-format", "f32", "--block", "128x128", os.path.join(tmp, "w.npy"), "-o", bd])
    qa, sa_ = np.load(os.path.join(ad, "codes.npy")), np.load(os.path.join(ad, "scales.npy"))
    qb, sb_ = np.load(os.path.join(bd, "codes.npy")), np.load(os.path.join(bd, "scales.npy"))
    SAVE["block|A"], SAVE["block|sA"], SAVE["block|B"], SAVE["block|sB"] = qa, sa_, qb, sb_
    a = torch.from_numpy(qa).to(dev).view(torch.float8_e4m3fn)
    b = torch.from_numpy(qb).to(dev).view(torch.float8_e4m3fn)
    sA = torch.from_numpy(sa_).to(dev).t().contiguous().t()  # (M, K/128), stride (1, M)
    sB = torch.from_numpy(sb_).to(dev).contiguous().t()  # (K/128, N/128) with stride (1, K/128)
    proms = ["sm90@promote=fmul-then-ffma", "sm90@promote=ffma-combined", "sm90", "f32-blocked@promote=fmul-then-ffma", "exact"]
    for out in ["bf16", "f32"]:
        models = {m: lowp_mm(args, tmp, "fp8-block", ad, bd, m, out) for m in proms}
        odt = torch.bfloat16 if out == "bf16" else torch.float32
        for fast in [False, True]:
            try:
                g = torch._scaled_mm(a, b.t(), scale_a=sA, scale_b=sB, out_dtype=odt, use_fast_accum=fast).float().cpu().numpy()
                gemm_row(results, f"block-wise 1x128 x 128x128 out={out} {M}x{N}x{K}", f"torch._scaled_mm fast_accum={fast}", g, models)
                SAVE[f"block out={out}|_scaled_mm fast_accum={fast}"] = g
            except Exception as e:
                log(f"[gemm] block-wise _scaled_mm out={out} fast={fast}: {str(e).strip().splitlines()[0][:200]}")
            try:
                import torch.nn.functional as F

                st = F.ScalingType
                g = F.scaled_mm(a, b.t(), sA, st.BlockWise1x128, sB, st.BlockWise128x128, output_dtype=odt, use_fast_accum=fast)
                gemm_row(results, f"block-wise 1x128 x 128x128 out={out} {M}x{N}x{K}", f"F.scaled_mm fast_accum={fast}", g.float().cpu().numpy(), models)
            except Exception as e:
                log(f"[gemm] block-wise F.scaled_mm out={out} fast={fast}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__}")


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lowp", default="target/release/lowp")
    ap.add_argument("--out", default="gpu_check")
    ap.add_argument("--skip", nargs="*", default=[], help="sections to skip: decode cast gemm torch-cpu")
    ap.add_argument("--gemm-only", nargs="*", default=[], help="GEMM groups to run: plain scaled ksweep more bias (default all)")
    ap.add_argument("--only", nargs="*", default=[], help="cast checks whose name contains one of these")
    ap.add_argument("--f32-limit", type=int, default=2**32, help="smoke tests: only the first N f32 patterns")
    args = ap.parse_args()
    TOTAL["f32"] = args.f32_limit
    os.makedirs(args.out, exist_ok=True)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    env = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu"}
    for mod in ["cupy", "triton"]:
        try:
            env[mod] = __import__(mod).__version__
        except Exception as e:
            env[mod] = f"unavailable: {e}"
    env["lowp"] = run([args.lowp, "--version"]).strip()
    log("[env]", json.dumps(env))
    results = {"env": env, "decode": [], "cast": [], "gemm": [], "torch-cpu": []}
    with tempfile.TemporaryDirectory() as tmp:
        for sec, fn in [("decode", lambda: decode_checks(args, dev, tmp, results["decode"])),
                        ("cast", lambda: cast_checks(args, dev, results["cast"])),
                        ("gemm", lambda: gemm_checks(args, dev, tmp, results["gemm"])),
                        ("torch-cpu", lambda: torch_cpu_checks(args, dev, results["torch-cpu"]))]:
            if sec in args.skip:
                continue
            t0 = time.time()
            try:
                fn()
            except Exception:
                log(f"[{sec}] failed:\n{traceback.format_exc()}")
            log(f"[{sec}] {time.time() - t0:.1f} s")
            with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
                json.dump(results, f, indent=1)
    part, size, n = {}, 0, 0
    for k in list(SAVE) + [None]:  # files of at most ~10 MB raw each
        if k is None or (size + SAVE[k].nbytes > 10 << 20 and part):
            np.savez_compressed(os.path.join(args.out, f"gemm_{n}.npz"), **part)
            part, size, n = {}, 0, n + 1
        if k is not None:
            part[k] = SAVE[k]
            size += SAVE[k].nbytes
    with open(os.path.join(args.out, "gpu_check.log"), "w") as f:
        f.write("\n".join(LOG) + "\n")


if __name__ == "__main__":
    main()
