"""Real torch tensors (skipped where torch is not installed; CI does not install
it): lowp's `torch` preset against torch's own casts, live, and torch tensors
through every entry point, without lowp importing torch itself."""

import numpy as np
import pytest

import lowp
from lowp import _arrays
from lowp.testing import assert_bitwise_equal

torch = pytest.importorskip("torch")

FORMATS = {
    "e4m3fn": torch.float8_e4m3fn,
    "e5m2": torch.float8_e5m2,
    "e4m3fnuz": torch.float8_e4m3fnuz,
    "e5m2fnuz": torch.float8_e5m2fnuz,
    "e8m0fnu": torch.float8_e8m0fnu,
}
SOURCES = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16}


def f32_inputs():
    """Random bit patterns, N(0,1) at many scales, specials, and every midpoint
    between neighbouring codes of each format (and just off it)."""
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**32, 100_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    g = (rng.standard_normal(50_000) * 10.0 ** rng.integers(-8, 6, 50_000)).astype(np.float32)
    special = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, 1e38, -1e38, 448, 464, 465, 57344, 61440, 2**-127])
    return np.concatenate([bits, g, special])


def midpoints(fmt):
    v = np.unique(lowp.decode(np.arange(256, dtype=np.uint8), fmt).astype(np.float64))
    v = v[np.isfinite(v)]
    m = (v[1:] + v[:-1]) / 2
    return np.concatenate([m, m * (1 + 2.0**-30), m * (1 - 2.0**-30), -m])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("src", SOURCES)
def test_torch_preset_equals_torch_casts(fmt, src):
    x = np.concatenate([f32_inputs(), midpoints(fmt).astype(np.float32)])
    t = torch.from_numpy(x).to(SOURCES[src])
    if src == "f64":  # values f32 rounding would move onto a tie, and the midpoints exactly
        t = torch.cat([t, torch.from_numpy(midpoints(fmt))])
    if src in ("f16", "bf16"):  # and every 16-bit pattern
        t = torch.cat([t, torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16).view(SOURCES[src])])
    want = t.to(FORMATS[fmt]).view(torch.uint8).numpy()
    assert_bitwise_equal(lowp.cast(t, fmt, like="torch"), want)


@pytest.mark.parametrize("fmt", FORMATS)
def test_torch_codes_decode_as_torch_does(fmt):
    codes = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(FORMATS[fmt])
    # values bit for bit; NaN payloads differ (torch: e4m3fn 0x7F -> 0x7FF00000, e5m2
    # NaNs -> 0x7FE00000, fnuz and e8m0 NaN -> 0x7F800001; lowp as ml_dtypes: 0x7FC00000
    # with the code's sign), so NaN is compared as NaN
    assert_bitwise_equal(lowp.decode(codes), codes.float().numpy(), nan="any")
    # a float8 tensor names its own format; as a cast input it is decoded exactly
    assert_bitwise_equal(lowp.cast(codes, "e5m2"), lowp.cast(lowp.decode(codes.view(torch.uint8).numpy(), fmt), "e5m2"))


def test_tensors_through_every_entry_point():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 96, generator=g) * 20
    n = x.numpy()
    assert_bitwise_equal(lowp.cast(x.bfloat16(), "e4m3fn"), lowp.cast(x.bfloat16().float(), "e4m3fn"))
    assert_bitwise_equal(lowp.cast(x.T, "e4m3fn"), lowp.cast(np.ascontiguousarray(n.T), "e4m3fn"))
    assert_bitwise_equal(lowp.cast(x.clone().requires_grad_(), "e5m2"), lowp.cast(n, "e5m2"))
    q, qn = lowp.quantize(x, "mxfp8-e4m3"), lowp.quantize(n, "mxfp8-e4m3")
    assert q == qn
    assert_bitwise_equal(lowp.quantize(x.bfloat16(), "nvfp4").codes,
                         lowp.quantize(x.bfloat16().float().numpy(), "nvfp4").codes)
    w = x.T[:, :32].contiguous()  # [K = 96, N = 32]
    assert_bitwise_equal(lowp.matmul(x, w, scheme="mxfp8-e4m3", b_layout="kn"),
                         lowp.matmul(n, w.numpy(), scheme="mxfp8-e4m3", b_layout="kn"))
    assert_bitwise_equal(x.bfloat16(), x.bfloat16())
    with pytest.raises(AssertionError, match="differ"):
        assert_bitwise_equal(x.bfloat16(), (x * 1.01).bfloat16())


def test_contiguous_cpu_tensors_are_not_copied():
    x = torch.randn(256, 256)
    a, src = _arrays.float_input(x)
    assert src == "f32" and np.shares_memory(a, x.numpy())
    b, src = _arrays.float_input(x.bfloat16())
    assert src == "bf16" and b.dtype == np.uint16


def test_tensors_lowp_cannot_read_are_refused_clearly():
    with pytest.raises(TypeError, match=r"meta.*\.cpu\(\)"):
        lowp.cast(torch.empty(4, device="meta"), "e4m3fn")
    with pytest.raises(TypeError, match="packed per byte"):
        lowp.cast(torch.zeros(4, dtype=torch.uint8).view(torch.float4_e2m1fn_x2), "e4m3fn")
    with pytest.raises(TypeError, match="float array"):
        lowp.cast(torch.zeros(4, dtype=torch.int32), "e4m3fn")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_name_cpu():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        lowp.cast(torch.ones(4, device="cuda"), "e4m3fn")
