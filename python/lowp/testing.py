"""The checks kernel test suites write by hand, computed exactly.

- ``assert_bitwise_equal(got, want)``: every bit, dtype-aware, NaN rule named;
  on failure the count, the first mismatching index and both bit patterns.
- ``calc_diff(x, y)``: DeepGEMM's ``1 − 2·Σxy / Σ(x² + y²)``.
- ``sqnr_db(ref, test)``: torchao's ``20·log10(‖ref‖ / ‖ref − test‖)``.
- ``compare_report(got, want)``: max abs / rel error and a histogram of the
  distance in units in the last place of ``want``'s type.

"Exactly": sums are correctly rounded (``math.fsum``) of terms computed in
float64, where products and differences of float32-or-narrower values are
exact (products always; differences whenever the two exponents are within 29
of each other); DeepGEMM and torchao sum in float64 / float32 in a
device-dependent order, so their results can differ from these in the last
bits, never more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._arrays import to_numpy

__all__ = ["assert_bitwise_equal", "calc_diff", "sqnr_db", "compare_report", "Report"]

_NAN_RULES = ("bits", "any", "never")
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def _array(x, what):
    a, kind = to_numpy(x, what)
    return np.asarray(a), kind


def _type_name(a, kind):
    if kind == "bf16":
        return "bfloat16"
    if kind is not None:
        return kind
    return a.dtype.name


def _nan_mask(a, kind):
    """Where ``a`` holds NaN (``kind``: None for a numpy float dtype, or a lowp
    format name / bf16 for code arrays)."""
    if kind is None:
        return np.isnan(a) if a.dtype.kind in "fc" else np.zeros(a.shape, bool)
    if kind == "bf16":
        return (a & 0x7FFF) > 0x7F80
    from . import decode

    return np.isnan(decode(np.ascontiguousarray(a).view(np.uint8), kind))


def assert_bitwise_equal(got, want, nan: str = "bits", msg: Optional[str] = None) -> None:
    """Asserts that ``got`` and ``want`` have the same type, shape and bits.

    Types: both numpy arrays of one dtype (floats, integers, uint8 codes), both
    of one ml_dtypes type, or both CPU torch tensors of one dtype (bfloat16 and
    float8 included); a float32 array never equals a float16 one, whatever the
    values.

    ``nan``: ``"bits"`` (default: a NaN must have the same bit pattern, sign and
    payload included: what a kernel's NaN code is checked with), ``"any"`` (any
    NaN matches any NaN, as ``torch.testing.assert_close(equal_nan=True)``), or
    ``"never"`` (a NaN matches nothing, as ``==``).

    ``-0.0`` and ``+0.0`` differ (they are different bits).

    On failure, ``AssertionError`` with the number of mismatches, the first
    mismatching index and both bit patterns (and values).

    >>> import numpy as np
    >>> from lowp.testing import assert_bitwise_equal
    >>> assert_bitwise_equal(np.float32([1, np.nan]), np.float32([1, np.nan]))
    >>> assert_bitwise_equal(np.float32([0.0]), np.float32([-0.0]))
    Traceback (most recent call last):
    ...
    AssertionError: 1 of 1 elements differ; first at index (0,): got 0x00000000 (0.0), want 0x80000000 (-0.0)
    """
    if nan not in _NAN_RULES:
        raise ValueError(f"nan must be one of {_NAN_RULES}, got {nan!r}")
    g, gk = _array(got, "got")
    w, wk = _array(want, "want")
    tg, tw = _type_name(g, gk), _type_name(w, wk)
    pre = f"{msg}: " if msg else ""
    if tg != tw:
        raise AssertionError(f"{pre}types differ: got {tg}, want {tw}")
    if g.shape != w.shape:
        raise AssertionError(f"{pre}shapes differ: got {g.shape}, want {w.shape}")
    if g.dtype.kind not in "biufc" or g.dtype.itemsize not in _UINT:
        raise TypeError(f"cannot compare bits of dtype {g.dtype}")
    u = _UINT[g.dtype.itemsize]
    gb = np.ascontiguousarray(g).view(u)
    wb = np.ascontiguousarray(w).view(u)
    diff = gb != wb
    if nan != "bits":
        gn, wn = _nan_mask(g, gk), _nan_mask(w, wk)
        if nan == "any":
            diff &= ~(gn & wn)
        else:
            diff |= gn | wn
    n = int(np.count_nonzero(diff))
    if n:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff.reshape(-1))), g.shape)) if g.shape else ()
        width = 2 * g.dtype.itemsize
        gv, wv = gb[idx], wb[idx]

        def value(a, k, i):
            if k is None:
                return repr(a[i].item())
            from . import decode

            if k == "bf16":
                return repr(float((np.uint32(a[i]) << 16).view(np.float32)))
            return repr(float(decode(np.uint8(a[i]).reshape(1), k)[0]))

        raise AssertionError(
            f"{pre}{n} of {g.size} elements differ; first at index {idx}: "
            f"got 0x{int(gv):0{width}X} ({value(g, gk, idx)}), want 0x{int(wv):0{width}X} ({value(w, wk, idx)})"
        )


def _f64(x, what):
    a, kind = to_numpy(x, what)
    if kind is not None:
        from ._arrays import f32_input

        a = f32_input(x, what)
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{what} must be a real array, got {a.dtype}")
    return a.astype(np.float64).reshape(-1)


def calc_diff(x, y) -> float:
    """DeepGEMM's ``calc_diff``: ``1 − 2·Σ(x·y) / Σ(x² + y²)`` (0 for equal
    tensors, 1 for orthogonal ones); DeepGEMM's kernel tests accept < 1e-3.

    The sums are correctly rounded sums of exact float64 products (for inputs of
    float32 precision or narrower). Two all-zero tensors give 0 (DeepGEMM divides
    0 by 0); NaN or Inf anywhere gives NaN.

    >>> import numpy as np
    >>> from lowp.testing import calc_diff
    >>> calc_diff(np.float32([1, 2, 3]), np.float32([1, 2, 3]))
    0.0
    >>> calc_diff(np.float32([1, 0]), np.float32([0, 1]))
    1.0
    """
    a, b = _f64(x, "x"), _f64(y, "y")
    if a.shape != b.shape:
        raise ValueError(f"x has {a.size} elements, y {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan")
    den = math.fsum(np.concatenate([a * a, b * b]))
    if den == 0.0:
        return 0.0
    return 1.0 - 2.0 * math.fsum(a * b) / den


def sqnr_db(ref, test) -> float:
    """torchao's ``compute_error``: ``20·log10(‖ref‖ / ‖ref − test‖)`` in dB
    (``+inf`` when equal); torchao's tests accept ≥ 20–27 dB depending on the
    format. Norms from correctly rounded sums of squares.

    >>> import numpy as np
    >>> from lowp.testing import sqnr_db
    >>> sqnr_db(np.float32([3, 4]), np.float32([3, 4]))
    inf
    >>> round(sqnr_db(np.float32([1, 0]), np.float32([1.1, 0])), 4)
    20.0
    """
    a, b = _f64(ref, "ref"), _f64(test, "test")
    if a.shape != b.shape:
        raise ValueError(f"ref has {a.size} elements, test {b.size}")
    d = a - b
    num, den = math.fsum(a * a), math.fsum(d * d)
    if den == 0.0:
        return math.inf
    if num == 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


@dataclass
class Report:
    """What ``compare_report`` measured."""

    #: elements compared
    elements: int
    #: max |got − want| over elements where both are finite
    max_abs_err: float
    #: max |got − want| / |want| over finite, nonzero want
    max_rel_err: float
    #: elements whose bits differ
    mismatches: int
    #: ``{ulp distance: count}``; 0 = equal value; ``"nan"`` / ``"inf"``: a NaN or
    #: infinity on one side only
    ulp_histogram: dict = field(default_factory=dict)
    #: first index of the largest ulp distance (None when all equal)
    worst_index: Optional[tuple] = None

    def __str__(self) -> str:
        h = ", ".join(f"{k}: {v}" for k, v in self.ulp_histogram.items())
        return (
            f"{self.elements} elements, {self.mismatches} differ; max abs err {self.max_abs_err:.6g}, "
            f"max rel err {self.max_rel_err:.6g}; ulp distances {{{h}}}; worst at {self.worst_index}"
        )


def _ordered(bits, width):
    """Float bit patterns as integers in value order (−0 and +0 both 0)."""
    sign = np.uint64(1) << np.uint64(width - 1)
    b = bits.astype(np.uint64)
    mag = (b & (sign - np.uint64(1))).astype(np.int64)
    return np.where((b & sign) != 0, -mag, mag)


def compare_report(got, want) -> Report:
    """Max absolute and relative error, and the histogram of the distance between
    ``got`` and ``want`` in units in the last place of their common float type
    (the count of representable values between them; ``-0`` and ``+0`` are 0
    apart). Both must have the same float dtype (float64, float32, float16,
    bfloat16) and shape.

    >>> import numpy as np
    >>> from lowp.testing import compare_report
    >>> r = compare_report(np.float32([1, 1 + 2**-23, 2]), np.float32([1, 1, 2]))
    >>> r.ulp_histogram, r.mismatches
    ({0: 2, 1: 1}, 1)
    """
    g, gk = _array(got, "got")
    w, wk = _array(want, "want")
    tg, tw = _type_name(g, gk), _type_name(w, wk)
    if tg != tw:
        raise TypeError(f"types differ: got {tg}, want {tw}")
    if g.shape != w.shape:
        raise ValueError(f"shapes differ: got {g.shape}, want {w.shape}")
    if gk not in (None, "bf16") or (gk is None and g.dtype.kind != "f"):
        raise TypeError(f"compare_report compares float arrays (float64, float32, float16, bfloat16), got {tg}")
    if gk == "bf16":
        gf = (g.astype(np.uint32) << 16).view(np.float32)
        wf = (w.astype(np.uint32) << 16).view(np.float32)
        gb, wb, width = g.astype(np.uint64), w.astype(np.uint64), 16
    else:
        gf, wf = g, w
        u = _UINT[g.dtype.itemsize]
        gb, wb, width = np.ascontiguousarray(g).view(u), np.ascontiguousarray(w).view(u), 8 * g.dtype.itemsize
    gf = gf.astype(np.float64).reshape(-1)
    wf = wf.astype(np.float64).reshape(-1)
    gb, wb = gb.reshape(-1), wb.reshape(-1)
    both = np.isfinite(gf) & np.isfinite(wf)
    err = np.abs(gf - wf)
    max_abs = float(err[both].max()) if both.any() else 0.0
    nz = both & (wf != 0)
    max_rel = float((err[nz] / np.abs(wf[nz])).max()) if nz.any() else 0.0
    hist: dict = {}
    dist = np.abs(_ordered(gb, width) - _ordered(wb, width))
    nan_g, nan_w = np.isnan(gf), np.isnan(wf)
    inf_g, inf_w = np.isinf(gf), np.isinf(wf)
    odd_nan = nan_g ^ nan_w
    odd_inf = ~odd_nan & ~(nan_g & nan_w) & (inf_g | inf_w) & (gf != wf)
    regular = ~(odd_nan | odd_inf | (nan_g & nan_w))
    vals, counts = np.unique(dist[regular], return_counts=True)
    for v, c in zip(vals.tolist(), counts.tolist()):
        hist[int(v)] = int(c)
    if (nan_g & nan_w).any():
        hist[0] = hist.get(0, 0) + int(np.count_nonzero(nan_g & nan_w))
        hist = dict(sorted(hist.items()))
    if odd_nan.any():
        hist["nan"] = int(np.count_nonzero(odd_nan))
    if odd_inf.any():
        hist["inf"] = int(np.count_nonzero(odd_inf))
    worst = None
    score = np.where(regular, dist, np.iinfo(np.int64).max)
    if (gb != wb).any():
        i = int(np.argmax(np.where(gb != wb, score, -1)))
        worst = tuple(int(j) for j in np.unravel_index(i, g.shape)) if g.shape else ()
    return Report(
        elements=int(g.size),
        max_abs_err=max_abs,
        max_rel_err=max_rel,
        mismatches=int(np.count_nonzero(gb != wb)),
        ulp_histogram=hist,
        worst_index=worst,
    )
