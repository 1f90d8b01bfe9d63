#!/usr/bin/env python3
"""Golden vectors from TransformerEngine's own PyTorch reference quantizers
(`transformer_engine/pytorch/custom_recipes/reference_nvfp4.py` and
`reference_current_scaling.py`, which TE's tests hold bit-exact against its CUDA
kernels), run on the CPU without TE's compiled extension.

TE's package cannot be imported without its CUDA build, so this script reads the
two reference files from the TE wheel, takes the quantizer classes' methods and the
module-level helpers they call with `ast`, unchanged, and executes them on a
stand-in class (no base class, attributes set as TE's `__init__` sets them). Only
TE's code computes the outputs; this script chooses inputs and writes them.

    python3 -m venv /tmp/tevenv && /tmp/tevenv/bin/pip install torch numpy
    pip download transformer_engine==2.20.2 --no-deps -d /tmp/te
    /tmp/tevenv/bin/python scripts/gen_te_golden.py \\
        /tmp/te/transformer_engine-2.20.2-py3-none-any.whl tests/fixtures

Writes `te_nvfp4_<set>` and `te_fp8cs_<set>` bundles (format anchors-golden-v1, as
`../shared/golden/README.md` describes: `<name>.json` index + `<name>.bin`).
"""
import __future__
import ast
import enum
import os
import sys
import zipfile
from typing import Optional, Tuple  # noqa: F401  (names TE's code uses)

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from extract_fixtures import write  # noqa: E402  (the bundle writer, shared)

PKG = "transformer_engine/pytorch/custom_recipes/"


def te_source(wheel, name):
    with zipfile.ZipFile(wheel) as z:
        return z.read(PKG + name).decode()


def stand_in(src, cls_name, methods, helpers, ns):
    """Executes the module-level functions `helpers` and the `methods` of
    `cls_name` from `src` into `ns`; returns the class."""
    tree = ast.parse(src)
    body = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in helpers:
            body.append(node)
        if isinstance(node, ast.ClassDef) and node.name == cls_name:
            defs = [m for m in node.body if isinstance(m, ast.FunctionDef) and m.name in methods]
            assert {m.name for m in defs} == set(methods), f"{cls_name}: TE's methods changed"
            body.append(ast.ClassDef(name=cls_name, bases=[], keywords=[], body=defs, decorator_list=[]))
    mod = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    # annotations stay unevaluated (they name TE classes not loaded here)
    exec(compile(mod, f"<TE {cls_name}>", "exec", flags=__future__.annotations.compiler_flag), ns)
    return ns[cls_name]


class Fp4Formats:  # reference_utils.Fp4Formats, only compared for identity
    E2M1 = "e2m1"


class reference_utils:  # noqa: N801  (the module name TE's code refers to)
    Fp4Formats = Fp4Formats


class GEMMType(enum.Enum):  # gemm.GEMMType, compared by identity in qgemm
    FPROP = "fprop"
    DGRAD = "dgrad"
    WGRAD = "wgrad"


class gemm:  # noqa: N801  (the module name TE's qgemm refers to)
    GEMMType = GEMMType


def load(wheel):
    """TE's two reference quantizer classes (NVFP4 with its `qgemm`, current
    scaling), executed from `wheel`."""
    ns = {"torch": torch, "Optional": Optional, "Tuple": Tuple, "reference_utils": reference_utils, "gemm": gemm}
    nvfp4 = stand_in(
        te_source(wheel, "reference_nvfp4.py"),
        "NVFP4QuantizerRef",
        [
            "_build_hadamard_matrix",
            "_apply_rht",
            "_ref_nvfp4_4over6_fp16_candidate",
            "_sum_4over6_2d_error",
            "_quantize_blockwise_4over6_reference",
            "_quantize_blockwise_reference",
            "_pad_tensor",
            "_rm_pad_tensor",
            "_quantize",
            "qgemm",
        ],
        {"cast_to_fp4x2", "cast_from_fp4x2", "cast_to_e8", "cast_to_e4m3", "get_wgrad_sign_vector", "high_precision_gemm_ref"},
        ns,
    )
    cs = stand_in(
        te_source(wheel, "reference_current_scaling.py"),
        "CurrentScalingQuantizerRef",
        ["compute_scale", "_quantize"],
        {"_scale_from_amax_tensor"},
        ns,
    )
    return nvfp4, cs


def nvfp4_quantizer(cls, tile, rht, columnwise):
    """An `NVFP4QuantizerRef` (class `cls` from `load`) as its `__init__` sets it."""
    q = object.__new__(cls)
    # as NVFP4QuantizerRef.__init__ sets them (defaults otherwise)
    q.rowwise_usage, q.columnwise_usage = True, columnwise
    q.dtype, q.pow_2_scales, q.eps, q.quant_tile_shape = Fp4Formats.E2M1, False, 0.0, tile
    q.row_scaled_nvfp4, q.nvfp4_use_4over6, q.nvfp4_e4m3_max = False, False, 448
    q.nvfp4_4over6_err_mode, q.nvfp4_4over6_err_use_fast_math = "MAE", False
    q.with_rht, q.with_random_sign_mask = rht, True
    return q


def cs_quantizer(cls, dtype, pow2):
    q = object.__new__(cls)
    q.rowwise_usage, q.columnwise_usage = True, False
    q.dtype, q.eps, q.pow_2_scales, q.with_amax_reduction = dtype, 0.0, pow2, False
    return q


class Bundle:
    """Arrays of one golden bundle, written by `extract_fixtures.write`."""

    def __init__(self, name, meta, out):
        self.name, self.meta, self.arrays, self.out = name, meta, {}, out

    def add(self, name, arr, doc):
        self.arrays[name] = (np.asarray(arr), doc)

    def write(self):
        write(self.name, self.meta, self.arrays, self.out)


def inputs():
    """Input sets, [64, 256] f32 each."""
    g = np.random.default_rng(20261123)
    m, n = 64, 256
    normal = (g.standard_normal((m, n)) * np.exp2(g.integers(-6, 7, (m, 1)))).astype(np.float32)
    # per 16-block magnitudes from 2^-140 to 2^100, zero blocks, single-spike blocks
    blocks = g.standard_normal((m, n)).astype(np.float32)
    e = g.integers(-140, 101, (m, n // 16)).astype(np.float64)
    blocks = (blocks.reshape(m, n // 16, 16) * np.exp2(e)[:, :, None]).astype(np.float32).reshape(m, n)
    blocks[:, 0:16] = 0.0
    blocks[::3, 16:32] = 0.0
    blocks[::3, 20] = 1e-30
    blocks[1::5, 48:64] *= 1e-3
    blocks[2::5, 50] = 3.0e38
    # exact multiples of 1/8 of the block amax: element values on and between the
    # E2M1 rounding thresholds once scaled
    ties = (g.integers(-48, 49, (m, n)) / 8.0).astype(np.float32)
    ties[:, ::16] = 6.0  # every block's amax 6
    return {"normal": normal, "blocks": blocks, "ties": ties}


PRODUCER = (
    "TransformerEngine 2.20.2 (PyPI wheel) PyTorch reference quantizers, run by "
    "scripts/gen_te_golden.py on the CPU with torch %s: methods of %s executed "
    "unchanged on a stand-in class (TE's compiled extension is not loaded)."
)


def main(wheel, out):
    nvfp4, cs = load(wheel)
    for set_name, x in inputs().items():
        xt = torch.from_numpy(x)
        meta = {"input": set_name, "shape": list(x.shape), "producer": PRODUCER % (torch.__version__, "NVFP4QuantizerRef")}
        b = Bundle(f"te_nvfp4_{set_name}", meta, out)
        b.add("input", x, "f32 [M, N]")
        for tag, tile in (("1d", (1, 16)), ("2d", (16, 16))):
            qx, sx, _, _, amax_row, _ = nvfp4_quantizer(nvfp4, tile, False, False)._quantize(xt)
            b.add(f"{tag}_packed", qx.numpy(), "u8 [M, N/2] E2M1 codes, even index in the low nibble")
            b.add(f"{tag}_scale", sx.view(torch.uint8).numpy(), "u8 [M, N/16] E4M3 block scale bits (2d: the 16x16 tile's scale on each of its rows)")
            b.add(f"{tag}_global_amax", amax_row.numpy(), "f32 [1] global amax")
        # the column-wise (wgrad) operand with the random Hadamard transform
        rq = nvfp4_quantizer(nvfp4, (1, 16), True, True)
        _, _, qxt, sxt, _, amax_col = rq._quantize(xt)
        b.add("rht_t_input", rq._apply_rht(xt.t().contiguous()).numpy(), "f32 [N, M] RHT(x^T) as TE's reference computes it (torch f32 matmul)")
        b.add("rht_t_packed", qxt.numpy(), "u8 [N, M/2] codes of RHT(x^T) (1x16 blocks)")
        b.add("rht_t_scale", sxt.view(torch.uint8).numpy(), "u8 [N, M/16] E4M3 block scale bits of RHT(x^T)")
        b.add("rht_global_amax", amax_col.numpy(), "f32 [1] global amax of RHT(x^T)")
        b.write()

        meta = {"input": set_name, "shape": list(x.shape), "producer": PRODUCER % (torch.__version__, "CurrentScalingQuantizerRef")}
        b = Bundle(f"te_fp8cs_{set_name}", meta, out)
        b.add("input", x, "f32 [M, N]")
        for elem, dtype in (("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)):
            for pow2 in (False, True):
                qx, sx, _, _ = cs_quantizer(cs, dtype, pow2)._quantize(xt)
                tag = f"{elem}_{'pow2' if pow2 else 'f32'}"
                b.add(f"{tag}_code", qx.view(torch.uint8).numpy(), f"u8 [M, N] {elem} codes of x * scale")
                b.add(f"{tag}_scale_inv", sx.reshape(1).numpy().astype(np.float32), "f32 [1] stored dequantization scale 1/scale")
        b.write()
        print("wrote", set_name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
