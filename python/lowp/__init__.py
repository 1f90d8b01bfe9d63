"""lowp: bit-exact low-precision ML numerics, as golden references for kernel tests.

The Python face of the Rust library ``lowp``: element casts (FP8, FP6, FP4,
E8M0, UE4M3, E5M3) under every rounding and the presets of ml_dtypes, torch,
PTX, CUTLASS, gfloat; block quantization (MX, NVFP4, FP8 block / row / tensor)
as torchao, TransformerEngine, DeepGEMM, microxcaling and the OCP spec do it;
GEMMs under named accumulation models down to what a GPU matrix instruction
keeps (``sm70`` ... ``sm120``, ``cdna3``); and the error metrics of
``lowp compare``. Names, defaults and results are the Rust API's and the
``lowp`` command line's, bit for bit.

Arrays are numpy in and numpy out; ml_dtypes arrays and CPU torch tensors are
accepted too (torch is never imported). Contiguous inputs are not copied, and
heavy calls release the GIL.

>>> import numpy as np, lowp
>>> lowp.cast(np.array([0.1, 500.0, -np.inf], dtype=np.float32), "e4m3fn", like="torch")
array([ 29, 126, 254], dtype=uint8)
>>> lowp.decode(np.array([0x1D, 0x7E], dtype=np.uint8), "e4m3fn")
array([1.015625e-01, 4.480000e+02], dtype=float32)
>>> q = lowp.quantize(np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32), "mxfp8-e4m3", like="te")
>>> q.scales.tolist()  # TE's RCEIL: 2^ceil(log2(1/448)) = 2^-8, biased 119
[[119], [119]]
>>> q.scheme.split("@")[:3]  # the full spec: every key the preset set
['mxfp8-e4m3', 'like=te', 'block=1x32']
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _lowp
from ._arrays import codes_input, contiguous, f32_input, float_input, keys_of, to_numpy

__all__ = [
    "QuantizedTensor",
    "Rows",
    "accum_models",
    "cast",
    "compare",
    "decode",
    "formats",
    "likes",
    "matmul",
    "merge_rows",
    "quantize",
    "schemes",
    "tensors",
    "testing",
]
__version__ = "0.1.0"

_FORMATS = {f["name"]: f for f in _lowp.formats()}


def _ml_dtype(fmt: str):
    try:
        import ml_dtypes
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("as_ml_dtypes=True needs the ml_dtypes package (pip install ml_dtypes)") from e
    name = fmt.split("@")[0].strip().lower()
    f = _FORMATS.get(name) or next((f for f in _FORMATS.values() if f["ml_dtypes"] == name), None)
    if f is None or not hasattr(ml_dtypes, f["ml_dtypes"]):
        raise ValueError(f"ml_dtypes has no type for the format '{name}'")
    return np.dtype(getattr(ml_dtypes, f["ml_dtypes"]))


def cast(
    x,
    fmt: str,
    like: Optional[str] = None,
    rounding: Optional[str] = None,
    sr_bits: Optional[int] = None,
    overflow: Optional[str] = None,
    inf: Optional[str] = None,
    nan: Optional[str] = None,
    e8m0: Optional[str] = None,
    nan_code: Optional[str] = None,
    seed: Optional[int] = None,
    rbits=None,
    as_ml_dtypes: bool = False,
) -> np.ndarray:
    """Casts every element of ``x`` to the element format ``fmt``: uint8 codes, same shape.

    ``x``: a float array (float64, float32, float16, bfloat16, any ml_dtypes
    type, a CPU torch tensor). Each value is rounded once from its exact value
    (presets that go through f32, such as ``ml_dtypes-0.6``, say so).

    ``fmt``: a format name (``e4m3fn``, ``e5m2``, ``e2m1fn``, ``e8m0fnu``, ...;
    ``lowp.formats()``) or a cast spec with keys (``"e4m3fn@like=torch"``).
    The keyword arguments are the keys of ``lowp cast`` (a key given both in the
    spec and as an argument with another value is an error):

    - ``like``: the reference whose semantics start the cast: ``ml_dtypes``
      (the default; = ``ml_dtypes-0.7``), ``ml_dtypes-0.6``, ``torch``
      (= ``torch-2.15``), ``torch-2.11``, ``ptx``, ``cutlass``, ``gfloat``,
      ``torchao``, ``te``, ``deepgemm``, ``microxcaling`` (``lowp.likes()``);
    - ``rounding``: ``rne`` | ``away`` | ``ties-zero`` | ``zero`` | ``up`` |
      ``down`` | ``sr`` (stochastic); ``sr_bits``: random bits per element
      (1..32, default 8, PTX's count);
    - ``overflow``: ``saturate`` | ``nonfinite``; ``inf``: ``keep`` | ``saturate``;
      ``nan``: ``error`` | ``max`` | ``signed-max`` | ``zero`` | ``sign-flipped-zero``;
      ``e8m0``: ``ties-up-uniform`` | ``ties-up`` | ``ties-even`` | ``floor`` | ``ceil``;
      ``nan_code``: ``quiet-signed`` | ``all-ones-signed`` | ``all-ones-positive``.

    Stochastic rounding takes its random bits from ``seed`` (element ``i`` uses
    ``lowp::rng::random_bits(seed, i)``, as ``lowp cast --seed``; default 0) or
    from ``rbits``, a uint32 array of one word per element (its low ``sr_bits``
    bits are used). Both are errors under a deterministic rounding.

    ``as_ml_dtypes=True`` returns the codes as the ml_dtypes array of the format
    (a view of the same bytes).

    >>> import numpy as np, lowp
    >>> x = np.array([1.25, 1.75, 7.0], dtype=np.float32)
    >>> lowp.cast(x, "e2m1fn")
    array([2, 4, 7], dtype=uint8)
    >>> lowp.cast(x, "e2m1fn", rounding="zero")
    array([2, 3, 7], dtype=uint8)
    >>> lowp.cast(x, "e2m1fn@rounding=sr", rbits=np.array([0, 255, 0], dtype=np.uint32))
    array([2, 4, 7], dtype=uint8)
    """
    a, src = float_input(x, "x")
    keys = keys_of(
        dict(like=like, rounding=rounding, sr_bits=sr_bits, overflow=overflow, inf=inf, nan=nan, e8m0=e8m0, nan_code=nan_code)
    )
    rb = None
    if rbits is not None:
        rb = contiguous(np.asarray(rbits))
        if rb.dtype != np.uint32:
            raise TypeError(f"rbits must be a uint32 array, got {rb.dtype}")
        if rb.shape != a.shape:
            raise ValueError(f"rbits has shape {rb.shape}, x has {a.shape}: one random word per element")
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    codes = _lowp.cast(a, src, fmt, keys, None if seed is None else int(seed), rb)
    return codes.view(_ml_dtype(fmt)) if as_ml_dtypes else codes


def decode(codes, fmt: Optional[str] = None) -> np.ndarray:
    """The float32 value of every code, same shape.

    ``codes``: uint8 codes (the low bits hold an FP6/FP4 code), or an ml_dtypes /
    torch float8 array, whose own format is used when ``fmt`` is None (and must
    agree with ``fmt`` otherwise).

    >>> import numpy as np, lowp
    >>> lowp.decode(np.array([0x38, 0x7F, 0x80], dtype=np.uint8), "e4m3fn")
    array([ 1., nan, -0.], dtype=float32)
    """
    a, kind = codes_input(codes)
    if fmt is None:
        if kind is None:
            raise ValueError("uint8 codes need fmt= (the element format they are codes of)")
        fmt = kind
    elif kind is not None and fmt.strip().lower() not in (kind, _FORMATS[kind]["ml_dtypes"]):
        raise ValueError(f"codes are {_FORMATS[kind]['ml_dtypes']} but fmt is '{fmt}'")
    return _lowp.decode(a, fmt)


class QuantizedTensor:
    """A block-quantized tensor: element codes, block scales, an optional global
    scale, the shape and the full scheme. Made by ``lowp.quantize`` or checked
    by ``QuantizedTensor.from_parts``; its parts always fit together.

    The parts are as ``lowp quantize`` writes them: ``codes`` uint8 in the
    tensor's shape (FP4/FP6 one per byte), ``scales`` over the block grid as
    uint8 E8M0 / UE4M3 bits or float32, ``global_scale`` a float, one float per
    row of the blocked view for a row-scaled scheme (``global_scales``), or None.

    >>> import numpy as np, lowp
    >>> q = lowp.quantize(np.ones((2, 16), np.float32), "nvfp4", global_scale="on")
    >>> q.shape, q.scale_shape, q.scale_format, q.global_scale
    ((2, 16), (2, 1), 'ue4m3', 0.00037202381645329297)
    >>> QuantizedTensor.from_parts(q.codes, q.scales, q.scheme, q.global_scale) == q
    True
    """

    __slots__ = ("_q",)

    def __init__(self, _q):
        if not isinstance(_q, _lowp.QuantizedTensor):
            raise TypeError("make a QuantizedTensor with lowp.quantize(...) or QuantizedTensor.from_parts(...)")
        self._q = _q

    @classmethod
    def from_parts(cls, codes, scales, scheme: str, global_scale=None, shape=None) -> "QuantizedTensor":
        """A tensor from its parts (a kernel's output, files), checked: the scheme's
        keys fit together and its axis fits the shape; the codes fill ``shape``
        (default ``codes.shape``) and fit the element width; the scales fill the
        scheme's block grid (``scales.shape`` is the grid) in its representation
        (uint8 for E8M0 / UE4M3, float32 for f32 scales); the global scale is given
        exactly when the scheme has one (a float, or an array of one per view row
        for ``global-scale=row``). Anything else raises ``ValueError`` /
        ``TypeError`` naming the mismatch."""
        c, _ = codes_input(codes)
        s, _ = to_numpy(scales, "scales")
        if s.dtype not in (np.uint8, np.float32):
            raise TypeError(f"scales must be uint8 (E8M0 / UE4M3 bits) or float32, got {s.dtype}")
        s = contiguous(s)
        shp = tuple(c.shape) if shape is None else tuple(int(d) for d in shape)
        g = [] if global_scale is None else [float(v) for v in np.asarray(global_scale, np.float32).reshape(-1)]
        return cls(_lowp.QuantizedTensor.from_parts(str(scheme), list(shp), c.reshape(-1), s.reshape(-1), list(s.shape), g))

    @property
    def codes(self) -> np.ndarray:
        """Element codes (uint8), in the tensor's shape."""
        return self._q.codes

    @property
    def scales(self) -> np.ndarray:
        """Block scales over the block grid: uint8 E8M0 / UE4M3 bits, or float32."""
        return self._q.scales

    @property
    def scale_shape(self) -> tuple:
        """Shape of the block grid (the blocked axis replaced by its block count)."""
        return tuple(self._q.scale_shape)

    @property
    def scale_format(self) -> str:
        """``e8m0``, ``ue4m3`` or ``f32``."""
        return self._q.scale_format

    @property
    def global_scale(self) -> Optional[float]:
        """The per-tensor dequantization scale (NVFP4 with a global scale), else
        None (also for a row-scaled tensor: see ``global_scales``)."""
        return self._q.global_scale

    @property
    def global_scales(self) -> np.ndarray:
        """Every global scale, float32 1-D: none, the per-tensor one, or one per
        row of the blocked view (row-scaled NVFP4, ``global-scale=row``).

        >>> import numpy as np, lowp
        >>> x = np.float32([[1.0] * 16, [0.001] * 16])
        >>> q = lowp.quantize(x, "nvfp4", like="te", global_scale="row")
        >>> q.global_scales.shape, q.global_scale
        ((2,), None)
        >>> lowp.QuantizedTensor.from_parts(q.codes, q.scales, q.scheme, q.global_scales) == q
        True
        """
        return self._q.global_scales

    @property
    def shape(self) -> tuple:
        """The tensor's shape."""
        return tuple(self._q.shape)

    @property
    def scheme(self) -> str:
        """The full scheme spec, every key the scheme was made with."""
        return self._q.scheme

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element: codes, block scales and the global scale."""
        return self._q.bits_per_element

    def dequantize(self) -> np.ndarray:
        """``decode(code) · scale`` (with the scheme's global-scale order) as float32, same shape."""
        return self._q.dequantize()

    def error_bounds(self, x) -> np.ndarray:
        """Per-element bound on ``|dequantize() − x|`` for the input ``x`` it was
        quantized from (``+inf`` where no bound holds: non-finite blocks, RHT)."""
        return self._q.error_bounds(f32_input(x))

    def packed(self) -> np.ndarray:
        """The codes as kernels read them (1-D uint8): FP4 two per byte (even index
        in the low nibble), FP6 four per three bytes, 8-bit codes unchanged."""
        return self._q.packed()

    def swizzled_scales(self) -> np.ndarray:
        """The scales in the layout GEMM kernels read (1-D uint8): E8M0 / UE4M3
        scales of 1×16 / 1×32 blocks in the 128×4 swizzle (cuBLAS, CUTLASS SM100,
        torchao ``to_blocked``); f32 scales in cuBLAS's 1×128 or 128×128 layout as
        little-endian bytes (``.view(np.float32)``)."""
        return self._q.swizzled_scales()

    def __eq__(self, other) -> bool:
        return isinstance(other, QuantizedTensor) and self._q == other._q

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._q)

    def __reduce__(self):
        return (_from_parts_pickled, (self.codes, self.scales, self.scheme, self.global_scale, self.shape))


def _from_parts_pickled(codes, scales, scheme, global_scale, shape):
    return QuantizedTensor.from_parts(codes, scales, scheme, global_scale, shape)


def quantize(x, scheme: str, out: Optional[QuantizedTensor] = None, **keys: Any) -> QuantizedTensor:
    """Block-quantizes ``x`` with ``scheme``, as ``lowp quantize`` does.

    ``scheme``: ``mxfp8-e4m3``, ``mxfp8-e5m2``, ``mxfp6-e2m3``, ``mxfp6-e3m2``,
    ``mxfp4``, ``mxint8``, ``nvfp4``, ``fp8-block``, ``fp8-row``, ``fp8-tensor``
    (``lowp.schemes()``), optionally with keys (``"nvfp4@like=te@block=16x16"``).
    Keyword arguments add keys, underscores for hyphens: ``like`` (``torchao``,
    ``te``, ``deepgemm``, ``microxcaling``, ``ocp``), ``scale_rule``, ``block``,
    ``axis``, ``global_scale``, ``elem``, ``scale_format``, ``rht``, ``rounding``,
    ``seed``, ... (the keys of ``lowp::block``); a keyword that contradicts a key
    of the spec is an error.

    ``x``: any float array (float64 is rounded to float32 first, as the CLI reads
    an f64 .npy). The blocks run along ``axis`` (default the last).

    ``out``: a ``QuantizedTensor`` to overwrite and return, reusing its code
    buffer (a loop over same-sized tensors then allocates nothing: fresh codes
    cost page faults comparable to the quantization itself). Its old contents
    are replaced whatever the new scheme. If the call raises, ``out`` stays a
    valid tensor: untouched when the arguments are refused (an unknown key),
    else (the input does not fit the scheme) its old scheme, shape and scales
    with every code 0.

    >>> import numpy as np, lowp
    >>> x = np.arange(-16, 16, dtype=np.float32).reshape(2, 16)
    >>> q = lowp.quantize(x, "nvfp4", global_scale="on")
    >>> bool(q.global_scale == np.float32(16 / 2688))
    True
    >>> float(q.dequantize()[0, 0])
    -16.0
    >>> r = lowp.quantize(2 * x, "nvfp4", out=q, global_scale="on")
    >>> r is q, float(q.dequantize()[0, 0])
    (True, -32.0)
    """
    if out is None:
        return QuantizedTensor(_lowp.quantize(f32_input(x), str(scheme), keys_of(keys)))
    if not isinstance(out, QuantizedTensor):
        raise TypeError(f"out must be a lowp.QuantizedTensor, got {type(out).__name__}")
    _lowp.quantize_into(f32_input(x), str(scheme), keys_of(keys), out._q)
    return out


def _operand(x, what):
    if isinstance(x, QuantizedTensor):
        return x._q
    return f32_input(x, what)


def matmul(
    a,
    b,
    scheme: Optional[str] = None,
    b_scheme: Optional[str] = None,
    accum: str = "f32-fma",
    c=None,
    out_dtype: str = "f32",
    b_layout: str = "nk",
    **keys: Any,
) -> np.ndarray:
    """``D = A·B (+ C)`` under the accumulation model ``accum``, as ``lowp matmul``.

    ``a`` is ``[M, K]``; ``b`` is ``[N, K]`` (``b_layout="nk"``, the "TN" GEMM of
    cuBLAS / CUTLASS) or ``[K, N]`` (``"kn"``, numpy's ``a @ b``). Each is a float
    array, made into the operand ``scheme`` names (``b_scheme`` for B when it
    differs): a block scheme (quantized along K), a plain element format
    (``e4m3fn``, ``e5m2``: cast, ``like`` naming the preset) or a wide type
    (``bf16``, ``f16``: rounded to nearest even; ``tf32``, ``xf32``: the f32 bits
    as the instruction reads them); or a ``QuantizedTensor`` (its own scheme is
    used; a ``scheme`` given must agree with it). Keyword arguments are scheme
    keys as in ``quantize`` (``like``, ``scale_rule``, ``block``, ...).

    ``accum``: ``exact`` | ``f64`` | ``f32-fma`` | ``f32-mul-add`` |
    ``f32-blocked``, or a GPU target ``sm70`` | ``sm75`` | ``sm80`` | ``sm89`` |
    ``sm90`` | ``sm100`` | ``sm100-mma-sync`` | ``sm120`` | ``cdna3``, each
    choosing its matrix instruction from the operand types, with keys
    (``"sm90@promote-every=none"``, ``"sm80@c=mma"``: C as the instruction's
    accumulator). ``c``: an optional float32 ``[M, N]``. ``out_dtype``: ``f32``,
    ``f64``, or ``bf16`` / ``f16`` (rounded, returned widened to float32).

    >>> import numpy as np, lowp
    >>> a = np.full((2, 32), 0.5, np.float32); b = np.ones((3, 32), np.float32)
    >>> lowp.matmul(a, b, scheme="mxfp8-e4m3", accum="sm100")
    array([[16., 16., 16.],
           [16., 16., 16.]], dtype=float32)
    """
    cc = None if c is None else f32_input(c, "c")
    return _lowp.matmul(
        _operand(a, "a"),
        _operand(b, "b"),
        scheme,
        b_scheme,
        keys_of(keys),
        str(accum),
        cc,
        str(out_dtype),
        str(b_layout),
    )


class Rows(list):
    """The rows of ``lowp.compare``: a list of dicts (the keys of ``lowp compare
    --json``: tensor, scheme, sqnr_db, mse, max_abs_err, max_rel_err, saturated,
    flushed, clipped_blocks, blocks, elements, nonfinite, bits_per_element), and
    the sums ``signal`` (Σx²), ``error`` (Σ(y−x)²) and ``bits`` (storage bits)
    from which rows computed apart merge exactly (``merge_rows``)."""

    def to_pandas(self):
        """The rows as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("to_pandas() needs the pandas package (pip install pandas)") from e
        return pd.DataFrame(list(self))


def merge_rows(rows: Iterable[Mapping[str, Any]], name: str = "(all)") -> Rows:
    """One row per scheme aggregating ``rows`` (e.g. computed on different
    workers), as ``lowp compare`` aggregates tensors: sums of signal, error,
    counts and bits; maxima of the max errors; SQNR = total signal over total
    error.

    >>> import numpy as np, lowp
    >>> a = lowp.compare({"a": np.ones(64, np.float32)}, schemes="nvfp4")
    >>> b = lowp.compare({"b": np.full(64, 3.0, np.float32)}, schemes="nvfp4")
    >>> both = lowp.compare({"a": np.ones(64, np.float32), "b": np.full(64, 3.0, np.float32)}, schemes="nvfp4")
    >>> merge_rows(a + b) == [r for r in both if r["tensor"] == "(all)"]
    True
    """
    return Rows(_lowp.merge_rows([dict(r) for r in rows], str(name)))


def compare(
    tensors_or_path=None,
    schemes: Union[str, Sequence[str], None] = None,
    like: Optional[str] = None,
    tensors: Optional[str] = None,
    skip_non_float: bool = False,
    master=None,
    convention: Optional[str] = None,
    codes_as: Optional[str] = None,
) -> Rows:
    """The error of each scheme on each tensor, as ``lowp compare`` reports it.

    ``tensors_or_path``: a path (``.npy``, ``.npz``, ``.safetensors``, a sharded
    checkpoint's directory or index; a checkpoint is read one tensor at a time,
    its quantized weights as stored) or a list of paths; a dict ``{name: array}``;
    a list of ``(name, array)``; one array (named ``x``); None for the built-in
    sample. ``schemes``: scheme specs (a list, or one comma-separated string;
    default: every family). ``like``: a preset applied to every scheme.
    ``tensors``: a glob on tensor names (several: comma-separated).
    ``skip_non_float``: leave out file tensors that are not floats (integer
    buffers) instead of failing. ``master``: the high-precision checkpoint one
    quantized checkpoint was made from (its stored quantization becomes a
    ``stored:<convention>`` row against it, and every scheme re-quantizes it).
    ``convention``: force the checkpoint convention. ``codes_as``: read one-byte
    arrays (u8, ml_dtypes' ``<V1``) as codes of this format.

    Each row carries the tensor's own columns (``file``, ``shape``, ``dtype``,
    ``amax``, ``rms``, ``kurtosis``, ``outliers`` beyond 6 standard deviations,
    ``nonfinite``: NaN/Inf elements, zeroed before quantizing and left out of
    every metric) and the scheme's (``sqnr_db``, ``mse``, ``max_abs_err``,
    ``max_rel_err``, ``saturated``, ``flushed``, ``clipped_blocks``,
    ``bits_per_element``, and ``unsupported``: why the scheme could not apply
    to this tensor, else None). With several tensors, rows named ``(all)``
    aggregate each scheme (total signal over total error).

    >>> import numpy as np, lowp
    >>> rows = lowp.compare({"w": np.ones((4, 64), np.float32)}, schemes="mxfp4,nvfp4")
    >>> [(r["scheme"], r["sqnr_db"], r["bits_per_element"]) for r in rows]
    [('mxfp4', inf, 4.25), ('nvfp4', 30.102999566398122, 4.5)]

    (NVFP4 without a global scale stores 1/6 as the UE4M3 0.171875, so 1.0
    comes back as 6·0.171875 = 1.03125: 20·log10(1/0.03125) dB.)
    """
    if isinstance(schemes, str):
        schemes = [s.strip() for s in schemes.split(",") if s.strip()]
    elif schemes is not None:
        schemes = [str(s) for s in schemes]
    arrays, files = [], []
    src = tensors_or_path
    if src is None:
        pass
    elif isinstance(src, (str, os.PathLike)):
        files.append(os.fspath(src))
    elif isinstance(src, Mapping):
        arrays = [(str(k), f32_input(v, f"tensor '{k}'")) for k, v in src.items()]
    elif isinstance(src, (list, tuple)) and all(isinstance(s, (str, os.PathLike)) for s in src):
        files = [os.fspath(s) for s in src]
    elif isinstance(src, (list, tuple)) and all(isinstance(s, tuple) and len(s) == 2 for s in src):
        arrays = [(str(k), f32_input(v, f"tensor '{k}'")) for k, v in src]
    else:
        arrays = [("x", f32_input(src))]
    if src is not None and not arrays and not files:
        raise ValueError("no tensors to compare")
    master = os.fspath(master) if master is not None else None
    return Rows(
        _lowp.compare(arrays, files, schemes, like, tensors, bool(skip_non_float), master, convention, codes_as)
    )


def tensors(path) -> list:
    """``(name, shape, dtype)`` of every tensor of a ``.npy`` / ``.npz`` /
    ``.safetensors`` file, read from its header (nothing loaded): the
    safetensors dtype (``BF16``, ``F8_E4M3``), or the ``.npy`` one (``f32``,
    ``V1`` for an ml_dtypes one-byte array)."""
    return [(n, tuple(s), d) for n, s, d in _lowp.tensors(os.fspath(path))]


def formats() -> list:
    """Every element format as a dict: name, ml_dtypes name, bits, exp_bits,
    man_bits, signed, bias, max, min_normal, min_subnormal, has_inf, has_nan,
    has_neg_zero (the table of ``lowp formats``)."""
    return _lowp.formats()


def schemes() -> list:
    """Every block-scheme name ``quantize`` takes."""
    return _lowp.schemes()


def accum_models() -> list:
    """Every accumulation model name ``matmul`` takes (software orders, then GPU targets)."""
    return _lowp.accum_models()


def likes() -> list:
    """Every reference preset name (``like=``)."""
    return _lowp.likes()


from . import testing  # noqa: E402  (uses the functions above)
