# Type stubs of the compiled extension (python/src/lib.rs); the public API is
# lowp/__init__.py, whose functions carry their own annotations.
from typing import Any, Optional, Sequence

import numpy as np

CAST_KEYS: list[str]

class QuantizedTensor:
    codes: np.ndarray
    scales: np.ndarray
    scale_shape: list[int]
    scale_format: str
    global_scale: Optional[float]
    global_scales: np.ndarray
    shape: list[int]
    scheme: str
    bits_per_element: float
    def dequantize(self) -> np.ndarray: ...
    def error_bounds(self, x: np.ndarray) -> np.ndarray: ...
    def packed(self) -> np.ndarray: ...
    def swizzled_scales(self) -> np.ndarray: ...
    @staticmethod
    def from_parts(
        scheme: str,
        shape: Sequence[int],
        codes: np.ndarray,
        scales: np.ndarray,
        scale_shape: Sequence[int],
        global_scales: Sequence[float] = ...,
    ) -> QuantizedTensor: ...

def cast(
    x: np.ndarray,
    src: str,
    fmt: str,
    keys: list[tuple[str, str]],
    seed: Optional[int] = None,
    rbits: Optional[np.ndarray] = None,
) -> np.ndarray: ...
def decode(codes: np.ndarray, fmt: str) -> np.ndarray: ...
def quantize(x: np.ndarray, spec: str, keys: list[tuple[str, str]]) -> QuantizedTensor: ...
def quantize_into(x: np.ndarray, spec: str, keys: list[tuple[str, str]], out: QuantizedTensor) -> None: ...
def matmul(
    a: Any,
    b: Any,
    scheme: Optional[str],
    b_scheme: Optional[str],
    keys: list[tuple[str, str]],
    accum: str,
    c: Optional[np.ndarray],
    out_dtype: str,
    b_layout: str,
) -> np.ndarray: ...
def compare(
    arrays: list[tuple[str, np.ndarray]],
    files: list[str],
    schemes: Optional[list[str]],
    like: Optional[str],
    tensors: Optional[str],
    skip_non_float: bool,
    master: Optional[str] = None,
    convention: Optional[str] = None,
    codes_as: Optional[str] = None,
) -> list[dict[str, Any]]: ...
def formats() -> list[dict[str, Any]]: ...
def schemes() -> list[str]: ...
def accum_models() -> list[str]: ...
def likes() -> list[str]: ...
