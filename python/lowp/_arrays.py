"""Turning what a caller passes (numpy and ml_dtypes arrays, torch tensors,
anything with ``__array__``) into the contiguous numpy arrays the Rust side
reads, without copying when the input already is one, and without importing
torch."""

from __future__ import annotations

import sys

import numpy as np

from . import _lowp

# ml_dtypes' type name -> lowp format name (e.g. float8_e4m3fn -> e4m3fn)
ML_DTYPES_NAMES = {f["ml_dtypes"]: f["name"] for f in _lowp.formats() if f["ml_dtypes"] != f["name"]}
# torch's float8/float4 dtype names -> lowp format name
_TORCH_CODES = {
    "float8_e4m3fn": "e4m3fn",
    "float8_e4m3fnuz": "e4m3fnuz",
    "float8_e5m2": "e5m2",
    "float8_e5m2fnuz": "e5m2fnuz",
    "float8_e8m0fnu": "e8m0fnu",
}
_KDLCPU = 1


def _torch_to_numpy(x, what):
    """A CPU torch tensor as (numpy array, kind) without importing torch (it is
    already imported when a tensor exists)."""
    device = getattr(x, "device", None)
    # torch.device has .type (cpu, cuda, meta, ...); else ask DLPack
    on_cpu = device.type == "cpu" if hasattr(device, "type") else x.__dlpack_device__()[0] == _KDLCPU
    if not on_cpu:
        raise TypeError(
            f"{what} is a torch tensor on {device}: lowp computes on the CPU; pass {what}.cpu() "
            "(the copy a GPU kernel test makes anyway to compare)"
        )
    torch = sys.modules["torch"]
    x = x.detach()
    name = str(x.dtype).removeprefix("torch.")
    if name.endswith("_x2"):
        raise TypeError(
            f"{what} is a torch.{name} tensor, two FP4 codes packed per byte: pass {what}.view(torch.uint8) "
            "as packed bytes, or the unpacked codes as uint8"
        )
    if name == "bfloat16":
        return x.contiguous().view(torch.int16).numpy().view(np.uint16), "bf16"
    if name in _TORCH_CODES:
        return x.contiguous().view(torch.uint8).numpy(), _TORCH_CODES[name]
    return x.numpy(), None


def to_numpy(x, what="x"):
    """``(array, kind)``: ``x`` as a numpy array; ``kind`` is ``"bf16"`` for
    bfloat16 data (then given as its uint16 bits), a lowp format name for FP8 /
    FP6 / FP4 codes (ml_dtypes or torch float8 dtypes, then given as uint8
    codes), else None."""
    if isinstance(x, np.ndarray):
        a = x
    elif type(x).__module__.split(".")[0] == "torch" and hasattr(x, "__dlpack_device__"):
        return _torch_to_numpy(x, what)
    elif hasattr(x, "__dlpack_device__") and not hasattr(x, "__array__"):
        kind, _ = x.__dlpack_device__()
        if kind != _KDLCPU:
            raise TypeError(f"{what} is not in CPU memory (DLPack device type {kind}): copy it to the host first (.cpu())")
        a = np.from_dlpack(x)
    else:
        a = np.asarray(x)
    name = a.dtype.name
    if name == "bfloat16":
        return a.view(np.uint16), "bf16"
    if name in ML_DTYPES_NAMES:
        return a.view(np.uint8), ML_DTYPES_NAMES[name]
    return a, None


def contiguous(a):
    """``a`` itself when it is C-contiguous and aligned, else a C-contiguous copy."""
    return a if a.flags.c_contiguous and a.flags.aligned else np.ascontiguousarray(a)


def float_input(x, what="x"):
    """``(array, src)`` for a cast: ``src`` is f32, f64, f16 or bf16 (uint16 bits).
    FP8/FP6/FP4 arrays are decoded to f32 first (exactly)."""
    a, kind = to_numpy(x, what)
    if kind == "bf16":
        return contiguous(a), "bf16"
    if kind is not None:
        return contiguous(_lowp.decode(contiguous(a), kind)), "f32"
    src = {np.float32: "f32", np.float64: "f64", np.float16: "f16"}.get(a.dtype.type)
    if src is None:
        raise TypeError(f"{what} must be a float array (float64, float32, float16, bfloat16, ml_dtypes), got {a.dtype}")
    return contiguous(a), src


def f32_input(x, what="x"):
    """``x`` as a C-contiguous float32 array: f16, bf16 and narrower exactly,
    f64 rounded to nearest even (as ``lowp quantize`` reads an f64 .npy)."""
    a, src = float_input(x, what)
    if src == "f32":
        return a
    if src == "bf16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


def codes_input(codes, what="codes"):
    """``(uint8 array, format or None)``: codes given as uint8 or as an ml_dtypes /
    torch float8 array (whose format it names)."""
    a, kind = to_numpy(codes, what)
    if kind == "bf16":
        raise TypeError(f"{what} must be uint8 codes or an ml_dtypes FP8/FP6/FP4 array, got bfloat16")
    if kind is None and a.dtype != np.uint8:
        raise TypeError(f"{what} must be uint8 codes or an ml_dtypes FP8/FP6/FP4 array, got {a.dtype}")
    return contiguous(a), kind


def keys_of(kw):
    """Keyword arguments as spec keys: ``scale_rule="rceil"`` -> ``("scale-rule", "rceil")``;
    None values are left out; booleans are on/off."""
    out = []
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "on" if v else "off"
        out.append((k.replace("_", "-"), str(v)))
    return out
