#!/usr/bin/env python3
"""Golden linear layers under TransformerEngine's NVFP4 reference recipe: TE's
own `NVFP4QuantizerRef` quantizers and its reference GEMM `NVFP4QuantizerRef.qgemm`
(`transformer_engine/pytorch/custom_recipes/reference_nvfp4.py`), wired as
`nvfp4_ref_rht_2d_factory` and `custom_recipes/gemm.py::custom_gemm` wire them:

* x and dy: 1x16 blocks, the column-wise copy (along T, for wgrad) with TE's
  16-point random Hadamard transform and its fixed sign vector;
* W: 16x16 blocks, no transform, one quantization for fprop and dgrad;
* fprop `y = x W^T`: qgemm(x.data, W.data), alpha from the row-wise global amaxes;
  dgrad `dx = dy W`: qgemm(dy.data, W.data_t), row-wise amaxes;
  wgrad `dW = dy^T x`: qgemm(dy.data_t, x.data_t), the column-wise amaxes.

TE's reference quantizer rounds to nearest (no stochastic rounding), so the
bundles are the recipe with SR off. The classes are executed from the TE wheel
as `gen_te_golden.py` does (no CUDA build needed); this script only chooses the
inputs and writes the outputs.

    pip download transformer_engine==2.20.2 --no-deps -d /tmp/te
    python scripts/gen_te_recipe_golden.py \\
        /tmp/te/transformer_engine-2.20.2-py3-none-any.whl tests/fixtures

Writes `te_recipe_nvfp4_<set>` bundles (`<name>.json` + `<name>.bin`), and
`te_recipe_nvfp4_<variant>_<set>` bundles for the recipe's options, each with
the quantizers `NVFP4BlockScalingRecipeState.make_quantizers` builds for them
(`transformer_engine/pytorch/quantization.py`) and the lowp recipe spec that
names the same options in its `recipe` field:

* `4over6`: `nvfp4_4over6="all"` with `disable_rht` (TE refuses 4over6 with
  RHT), MAE, the 256 global bound on x and W; dy plain;
* `4over6w`: `nvfp4_4over6="weights"`, `nvfp4_4over6_e4m3_use_256="none"`
  (448), `nvfp4_4over6_err_mode="MSE"`, RHT on;
* `rowscaled`: `row_scaled_activation` (x's copies, one amax per row), RHT on;
* `rowscaled4over6`: both on x (`nvfp4_4over6="activations"`, MSE), RHT off.
"""
import os
import sys
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_te_golden import GEMMType, Bundle, load, nvfp4_quantizer  # noqa: E402

T, IN, OUT = 64, 128, 96


def inputs():
    g = np.random.default_rng(20261206)

    def rows(shape, spread):
        return (g.standard_normal(shape) * np.exp2(g.integers(-spread, spread + 1, (shape[0], 1)))).astype(np.float32)

    normal = (rows((T, IN), 2), rows((OUT, IN), 1) * np.float32(0.05), rows((T, OUT), 3) * np.float32(1e-3))
    # outlier columns in x (as activations have), a zero row in dy, heavy-tailed W
    x = rows((T, IN), 4)
    x[:, 7] *= 200.0
    x[:, 64:80] = 0.0
    w = (g.standard_t(3, (OUT, IN)) * 0.02).astype(np.float32)
    dy = rows((T, OUT), 6) * np.float32(1e-4)
    dy[5] = 0.0
    return {"normal": normal, "outliers": (x, w, dy)}


def qresult(q, t):
    """Quantizes `t` with `q`; the fields `qgemm` and `custom_gemm` read."""
    data, scale, data_t, scale_t, amax_row, amax_col = q._quantize(t)
    return SimpleNamespace(
        data=data, scale=scale, data_t=data_t, scale_t=scale_t,
        global_amax_row=amax_row, global_amax_col=amax_col,
        nvfp4_use_4over6=q.nvfp4_use_4over6, nvfp4_e4m3_max=q.nvfp4_e4m3_max,
    )


def configure(q, four=False, max256=True, mse=False, row_scaled=False):
    """Sets the options `make_quantizers` passes (`nvfp4_e4m3_max` is 448
    unless 4over6 is on, as `NVFP4QuantizerRef.__init__` sets it)."""
    q.nvfp4_use_4over6 = four
    q.nvfp4_e4m3_max = 256 if four and max256 else 448
    q.nvfp4_4over6_err_mode = "MSE" if mse else "MAE"
    q.row_scaled_nvfp4 = row_scaled
    return q


# (variant, lowp recipe keys, RHT on x and dy, x options, W options); dy is never 4over6 or row-scaled
VARIANTS = [
    ("", "", True, {}, {}),
    ("4over6", "@rht=off@4over6=all", False, {"four": True}, {"four": True}),
    ("4over6w", "@4over6=weights@4over6-256=none@4over6-err=mse", True, {}, {"four": True, "max256": False, "mse": True}),
    ("rowscaled", "@row-scaled=on", True, {"row_scaled": True}, {}),
    ("rowscaled4over6", "@rht=off@row-scaled=on@4over6=activations@4over6-err=mse", False,
     {"row_scaled": True, "four": True, "mse": True}, {}),
]
# the variants' smaller layer (K of each GEMM a multiple of 32, as qgemm asks)
T2, IN2, OUT2 = 32, 128, 64


def main(wheel, out):
    nvfp4, _ = load(wheel)
    for variant, keys, rht, xo, wo in VARIANTS:
        sets = inputs() if not variant else {k: small(v) for k, v in inputs().items()}
        for name, (x, w, dy) in sets.items():
            if variant in ("4over6w", "rowscaled4over6") and name == "normal":
                continue
            bundle(nvfp4, variant, keys, rht, xo, wo, name, x, w, dy, out)


def small(xwdy):
    """The first T2 x IN2 / OUT2 x IN2 / T2 x OUT2 corner of a set."""
    x, w, dy = xwdy
    return x[:T2, :IN2].copy(), w[:OUT2, :IN2].copy(), dy[:T2, :OUT2].copy()


def bundle(nvfp4, variant, keys, rht, xo, wo, name, x, w, dy, out):
    producer = (
        "TransformerEngine 2.20.2 (PyPI wheel) NVFP4QuantizerRef._quantize and .qgemm "
        "as nvfp4_ref_rht_2d_factory and custom_gemm wire them, run by "
        f"scripts/gen_te_recipe_golden.py on the CPU with torch {torch.__version__} "
        "(TE's compiled extension is not loaded)."
    )
    act = nvfp4_quantizer(nvfp4, (1, 16), rht, True)  # dy: RHT (when on) on the column-wise copy
    xq = configure(nvfp4_quantizer(nvfp4, (1, 16), rht, True), **xo)  # x: as dy, plus its options
    wq = configure(nvfp4_quantizer(nvfp4, (16, 16), False, True), **wo)  # weights: 16x16, no RHT
    rx, rw, rdy = qresult(xq, torch.from_numpy(x)), qresult(wq, torch.from_numpy(w)), qresult(act, torch.from_numpy(dy))
    dims = [x.shape[0], x.shape[1], w.shape[0]]
    meta = {"input": name, "dims": dims, "producer": producer, "recipe": "te-nvfp4" + keys}
    b = Bundle(f"te_recipe_nvfp4_{variant + '_' if variant else ''}{name}", meta, out)
    b.add("x", x, "f32 [T, IN]")
    b.add("w", w, "f32 [OUT, IN]")
    b.add("dy", dy, "f32 [T, OUT]")
    for tag, r in (("x", rx), ("w", rw), ("dy", rdy)):
        b.add(f"{tag}_row_packed", r.data.numpy(), "u8 E2M1 codes along the last axis, two per byte (even index low)")
        b.add(f"{tag}_row_scale", r.scale.view(torch.uint8).numpy(), "u8 E4M3 block scales (16x16: the tile's scale on each row)")
        b.add(f"{tag}_col_packed", r.data_t.numpy(), "u8 codes of the transposed tensor (x, dy: after the RHT)")
        b.add(f"{tag}_col_scale", r.scale_t.view(torch.uint8).numpy(), "u8 E4M3 block scales of the transposed tensor")
        b.add(f"{tag}_amax_row", r.global_amax_row.numpy(), "f32 global amax (row-wise copy; row-scaled: one per row)")
        b.add(f"{tag}_amax_col", r.global_amax_col.numpy(), "f32 global amax (column-wise copy; row-scaled: one per row of the transpose)")
    for dtype, dname in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        m = SimpleNamespace(out_dtype=dtype, use_split_accumulator=True)
        y = act.qgemm(rx.data, rw.data, m, dtype, rx.scale, rw.scale, None, gemm_type=GEMMType.FPROP, qresult_x=rx, qresult_w=rw)
        dx = act.qgemm(rdy.data, rw.data_t, m, dtype, rdy.scale, rw.scale_t, None, gemm_type=GEMMType.DGRAD, qresult_x=rdy, qresult_w=rw)
        dw = act.qgemm(rdy.data_t, rx.data_t, m, dtype, rdy.scale_t, rx.scale_t, None, gemm_type=GEMMType.WGRAD, qresult_x=rdy, qresult_w=rx)
        for tag, v, shape in (("y", y, "[T, OUT]"), ("dx", dx, "[T, IN]"), ("dw", dw, "[OUT, IN]")):
            b.add(f"{tag}_{dname}", v.float().numpy(), f"f32 {shape}: qgemm output in {dname}, widened to f32")
    b.write()
    print("wrote", b.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
