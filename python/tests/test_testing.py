"""lowp.testing on constructed cases: NaN rules, -0, subnormals, shapes, types."""

import ml_dtypes
import numpy as np
import pytest

from lowp.testing import assert_bitwise_equal, calc_diff, compare_report, sqnr_db


def test_bitwise_nan_rules():
    qnan, other_nan = np.float32(np.nan), np.uint32(0x7FC00001).view(np.float32)
    a, b = np.float32([1.0, qnan]), np.array([1.0, other_nan], np.float32)
    with pytest.raises(AssertionError, match=r"1 of 2 elements differ; first at index \(1,\): got 0x7FC00000"):
        assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, b, nan="any")
    with pytest.raises(AssertionError):
        assert_bitwise_equal(a, a, nan="never")
    with pytest.raises(ValueError):
        assert_bitwise_equal(a, a, nan="maybe")


def test_bitwise_zero_subnormal_shape_type():
    with pytest.raises(AssertionError, match="0x80000000"):
        assert_bitwise_equal(np.float32([0.0]), np.float32([-0.0]))
    sub = np.uint32([1, 2]).view(np.float32)
    with pytest.raises(AssertionError, match=r"index \(1,\)"):
        assert_bitwise_equal(sub, np.uint32([1, 3]).view(np.float32))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_bitwise_equal(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(AssertionError, match="types differ: got float32, want float16"):
        assert_bitwise_equal(np.zeros(2, np.float32), np.zeros(2, np.float16))
    with pytest.raises(AssertionError, match=r"index \(1, 0\)"):
        assert_bitwise_equal(np.uint8([[1, 2], [3, 4]]), np.uint8([[1, 2], [5, 4]]))
    assert_bitwise_equal(np.zeros((0,), np.float32), np.zeros((0,), np.float32))


def test_bitwise_ml_dtypes():
    t = ml_dtypes.float8_e4m3fn
    a = np.uint8([0x38, 0x7F]).view(t)
    assert_bitwise_equal(a, a)
    assert_bitwise_equal(a, np.uint8([0x38, 0xFF]).view(t), nan="any")
    with pytest.raises(AssertionError, match=r"got 0x7F \(nan\), want 0xFF \(nan\)"):
        assert_bitwise_equal(a, np.uint8([0x38, 0xFF]).view(t))
    with pytest.raises(AssertionError, match="types differ"):
        assert_bitwise_equal(a, np.uint8([0x38, 0x7F]))


def test_calc_diff_definition():
    x = np.float32([1.0, 2.0, 3.0])
    assert calc_diff(x, x) == 0.0
    assert calc_diff(x, -x) == 2.0
    assert calc_diff(np.float32([1, 0]), np.float32([0, 1])) == 1.0
    # DeepGEMM: 1 - 2*(x*y).sum() / (x*x + y*y).sum() in f64
    y = x * np.float32(1.001)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    assert calc_diff(x, y) == pytest.approx(1 - 2 * (xd * yd).sum() / (xd * xd + yd * yd).sum(), rel=1e-12, abs=1e-18)
    assert calc_diff(np.zeros(3), np.zeros(3)) == 0.0
    assert np.isnan(calc_diff(np.float32([np.nan]), np.float32([1])))
    # exact sums: 1e16 + 1 - 1e16 cancels exactly
    big = np.array([1e8, 1.0, -1e8])
    assert calc_diff(big, big) == 0.0


def test_sqnr_db_definition():
    x = np.float32([1.0, -2.0, 3.0])
    assert sqnr_db(x, x) == np.inf
    y = x + np.float32(0.01)
    want = 20 * np.log10(np.linalg.norm(x.astype(np.float64)) / np.linalg.norm(x.astype(np.float64) - y))
    assert sqnr_db(x, y) == pytest.approx(want, rel=1e-12)
    assert sqnr_db(np.zeros(2), np.ones(2)) == -np.inf


def test_compare_report():
    want = np.float32([1.0, 2.0, 0.0, np.nan, np.inf, 1e-45])
    got = np.float32([1.0, np.nextafter(np.float32(2), np.float32(3)), -0.0, np.nan, 3e38, 3e-45])
    r = compare_report(got, want)
    assert r.elements == 6 and r.mismatches == 4
    # 2 -> next float: 1 ulp; +0/-0: 0 apart; subnormal 1 -> 2: 1 ulp... (3e-45 is code 2)
    assert r.ulp_histogram[1] == 2 and r.ulp_histogram[0] == 3 and r.ulp_histogram["inf"] == 1
    assert r.max_abs_err == pytest.approx(2.0 ** -22)
    assert "6 elements" in str(r)
    bf = ml_dtypes.bfloat16
    r = compare_report(np.float32([1.0, 1.0078125]).astype(bf), np.float32([1.0, 1.0]).astype(bf))
    assert r.ulp_histogram == {0: 1, 1: 1}
    with pytest.raises(TypeError):
        compare_report(np.float32([1]), np.float16([1]))
    with pytest.raises(TypeError):
        compare_report(np.int32([1]), np.int32([1]))
