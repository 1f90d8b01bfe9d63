"""Casts and decodes against ml_dtypes installed from PyPI (live, not fixtures),
every format both have, bitwise; and against the repository's ml_dtypes 0.7.0
golden fixtures."""

import ml_dtypes
import numpy as np
import pytest

import lowp
from lowp.testing import assert_bitwise_equal

FORMATS = [f for f in lowp.formats() if hasattr(ml_dtypes, f["ml_dtypes"])]
IDS = [f["name"] for f in FORMATS]


def inputs_f32(f, seed=0):
    """Every f32 around the format's range: random bit patterns, each binade from
    below min subnormal to above max, the midpoints of adjacent codes (ties) and
    their neighbours, and specials."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = [bits.view(np.float32)]
    lo, hi = np.log2(f["min_subnormal"]) - 3, np.log2(f["max"]) + 3
    x.append((2.0 ** rng.uniform(lo, hi, 200_000)).astype(np.float32))
    vals = np.unique(lowp.decode(np.arange(2 ** f["bits"], dtype=np.uint8), f["name"]))
    vals = vals[np.isfinite(vals)].astype(np.float64)
    mids = ((vals[1:] + vals[:-1]) / 2).astype(np.float32)
    x += [mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))]
    x.append(np.float32([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 3.4e38, -3.4e38, 1e-45, -1e-45]))
    x = np.concatenate(x)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("f", FORMATS, ids=IDS)
def test_cast_f32_matches_ml_dtypes(f):
    t = getattr(ml_dtypes, f["ml_dtypes"])
    x = inputs_f32(f)
    with np.errstate(all="ignore"):
        want = x.astype(t).view(np.uint8)
    assert_bitwise_equal(lowp.cast(x, f["name"]), want)
    assert_bitwise_equal(lowp.cast(x, f["name"], as_ml_dtypes=True), x.astype(t))


@pytest.mark.parametrize("f", FORMATS, ids=IDS)
@pytest.mark.parametrize("src", ["f16", "bf16"])
def test_cast_every_f16_bf16_matches_ml_dtypes(f, src):
    t = getattr(ml_dtypes, f["ml_dtypes"])
    dt = np.float16 if src == "f16" else ml_dtypes.bfloat16
    x = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(dt)
    with np.errstate(all="ignore"):
        want = x.astype(t).view(np.uint8)
    assert_bitwise_equal(lowp.cast(x, f["name"]), want)


@pytest.mark.parametrize("f", FORMATS, ids=IDS)
def test_cast_f64_matches_ml_dtypes(f):
    t = getattr(ml_dtypes, f["ml_dtypes"])
    rng = np.random.default_rng(5)
    x32 = inputs_f32(f, 1)[:100_000].astype(np.float64)  # NaN payloads included
    # f64 values just off the f32 ties: where rounding through f32 would differ
    x = np.concatenate([x32, x32 * (1 + 2.0**-30), x32 * (1 - 2.0**-30), rng.standard_normal(50_000)])
    with np.errstate(all="ignore"):
        want = x.astype(t).view(np.uint8)
    assert_bitwise_equal(lowp.cast(x, f["name"]), want)


@pytest.mark.parametrize("f", FORMATS, ids=IDS)
def test_decode_every_code_matches_ml_dtypes(f):
    t = getattr(ml_dtypes, f["ml_dtypes"])
    codes = np.arange(2 ** f["bits"], dtype=np.uint8)
    want = codes.view(t).astype(np.float32)
    got = lowp.decode(codes, f["name"])
    assert_bitwise_equal(got, want, nan="any")
    # ml_dtypes arrays are codes of their own format
    assert_bitwise_equal(lowp.decode(codes.view(t)), want, nan="any")
    # and a float input: decoded exactly, then cast (identity on every non-NaN code)
    ok = ~np.isnan(want)
    assert_bitwise_equal(lowp.cast(codes.view(t)[ok], f["name"]), codes[ok])


@pytest.mark.parametrize("f", [f for f in FORMATS if f["name"] not in ("ue4m3",)], ids=lambda f: f["name"])
def test_golden_ml_dtypes_07_fixtures(f, bundle):
    b = bundle(f"mld07_{f['ml_dtypes']}")
    assert_bitwise_equal(lowp.cast(b["f32_in"], f["name"]), b["f32_code"])
    assert_bitwise_equal(lowp.cast(b["f64_in"], f["name"]), b["f64_code"])
    allf16 = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    assert_bitwise_equal(lowp.cast(allf16.view(np.float16), f["name"]), b["f16_code"])
    assert_bitwise_equal(lowp.cast(allf16.view(ml_dtypes.bfloat16), f["name"]), b["bf16_code"])
    codes = np.arange(2 ** f["bits"], dtype=np.uint8)
    assert_bitwise_equal(lowp.decode(codes, f["name"]), b["decode_table"], nan="any")


def test_presets_and_rounding_keys():
    x = np.float32([500.0, -np.inf, 1.0 + 2**-4, np.nan])
    # torch saturates e4m3fn (finite overflow and Inf to ±448); ml_dtypes gives NaN
    assert lowp.cast(x, "e4m3fn", like="torch").tolist()[:2] == [0x7E, 0xFE]
    assert lowp.cast(x, "e4m3fn").tolist()[:2] == [0x7F, 0xFF]
    # the spec form and keywords are one vocabulary
    assert_bitwise_equal(lowp.cast(x, "e4m3fn@like=torch"), lowp.cast(x, "e4m3fn", like="torch"))
    # 1 + 2^-4 is a tie between 1.0 and 1.125 in e4m3fn
    assert lowp.cast(x, "e4m3fn", rounding="rne")[2] == 0x38
    assert lowp.cast(x, "e4m3fn", rounding="away")[2] == 0x39
    assert lowp.cast(x, "e4m3fn", rounding="zero")[2] == 0x38


def test_stochastic_rounding_seed_and_rbits():
    x = np.full(4096, 1.25, np.float32)  # halfway between e2m1 1.0 and 1.5
    a, b = lowp.cast(x, "e2m1fn", rounding="sr", seed=7), lowp.cast(x, "e2m1fn", rounding="sr", seed=7)
    assert_bitwise_equal(a, b)
    assert set(a.tolist()) == {2, 3} and 0.45 < (a == 3).mean() < 0.55
    # rbits: round up iff floor(f·2^8) + r ≥ 2^8, f = 1/2: r ≥ 128
    r = np.arange(256, dtype=np.uint32)
    got = lowp.cast(np.full(256, 1.25, np.float32), "e2m1fn", rounding="sr", rbits=r)
    assert got.tolist() == [2] * 128 + [3] * 128
    with pytest.raises(ValueError, match="rounding='sr'"):
        lowp.cast(x, "e2m1fn", seed=1)
    with pytest.raises(ValueError, match="one random word per element"):
        lowp.cast(x, "e2m1fn", rounding="sr", rbits=r)


def test_bad_input_raises_not_panics():
    x = np.float32([1.0])
    with pytest.raises(ValueError, match="unknown format|expected"):
        lowp.cast(x, "e9m9")
    with pytest.raises(ValueError, match="rne"):
        lowp.cast(x, "e4m3fn", rounding="nearest-even")
    with pytest.raises(ValueError, match="contradicts"):
        lowp.cast(x, "e4m3fn@like=torch", like="ptx")
    with pytest.raises(ValueError, match="sr-bits"):
        lowp.cast(x, "e4m3fn", sr_bits=8)
    with pytest.raises(TypeError, match="float array"):
        lowp.cast(np.int32([1]), "e4m3fn")
    with pytest.raises(TypeError, match="uint8"):
        lowp.decode(np.float32([1]), "e4m3fn")
    with pytest.raises(ValueError, match="code"):
        lowp.decode(np.uint8([0xFF]), "e2m1fn")
    with pytest.raises(ValueError, match="NaN"):
        lowp.cast(np.float32([np.nan]), "e2m1fn", nan="error")
    # empty and non-contiguous inputs
    assert lowp.cast(np.zeros((0, 3), np.float32), "e4m3fn").shape == (0, 3)
    y = np.arange(12, dtype=np.float32).reshape(3, 4).T
    assert_bitwise_equal(lowp.cast(y, "e4m3fn"), lowp.cast(np.ascontiguousarray(y), "e4m3fn"))
