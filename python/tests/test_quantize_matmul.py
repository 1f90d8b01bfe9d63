"""Block quantization and GEMMs against the repository's golden fixtures
(torchao 0.18, TransformerEngine 2.20.2), QuantizedTensor round trips, and the
Rust CLI on the same inputs (the two front ends must agree bit for bit)."""

import json
import pickle

import numpy as np
import pytest

import lowp
from lowp.testing import assert_bitwise_equal

MODES = ["floor", "rceil", "ceil", "even"]
ELEMS = {"e4m3": "mxfp8-e4m3", "e5m2": "mxfp8-e5m2", "e2m3": "mxfp6-e2m3", "e3m2": "mxfp6-e3m2", "e2m1": "mxfp4"}


def unpack4(p):
    return np.stack([p & 0xF, p >> 4], axis=-1).reshape(p.shape[0], -1)


@pytest.mark.parametrize("inputs", ["normal", "heavy", "extremes", "zeros", "nonfinite"])
def test_mx_torchao_golden(bundle, inputs):
    b = bundle(f"mx_torchao_{inputs}")
    x = b["input"]
    for e, scheme in ELEMS.items():
        for m in MODES:
            if f"{e}_{m}_code" not in b:
                continue
            q = lowp.quantize(x, scheme, like="torchao", scale_rule=m)
            assert_bitwise_equal(q.scales, b[f"{e}_{m}_scale"], msg=f"{e} {m} scales")
            # codes where torchao's are meaningful: not in NaN-scale blocks (255, by-products)
            # nor 2^-127-scale blocks (0: torchao scales by 2^126 or 1; lowp by 2^127), as
            # tests/golden_mx.rs counts them
            ok = np.repeat((q.scales != 255) & (q.scales != 0), 32, axis=-1)
            assert_bitwise_equal(q.codes[ok], b[f"{e}_{m}_code"][ok], msg=f"{e} {m} codes")


@pytest.mark.parametrize("inputs", ["normal", "heavy", "extremes", "zeros"])
def test_nvfp4_torchao_golden(bundle, inputs):
    b = bundle(f"nvfp4_torchao_{inputs}")
    x = b["input"]
    q = lowp.quantize(x, "nvfp4", like="torchao")
    assert_bitwise_equal(q.scales, b["nopts_scale"])
    assert_bitwise_equal(q.packed().reshape(b["nopts_packed"].shape), b["nopts_packed"])
    q = lowp.quantize(x, "nvfp4", like="torchao", global_scale="on")
    assert_bitwise_equal(np.float32([q.global_scale]), b["pts_per_tensor_scale"])
    assert_bitwise_equal(q.scales, b["pts_scale"])
    assert_bitwise_equal(q.codes, unpack4(b["pts_packed"]))


@pytest.mark.parametrize("inputs", ["normal", "ties", "blocks"])
def test_nvfp4_te_golden(bundle, inputs):
    b = bundle(f"te_nvfp4_{inputs}")
    x = b["input"]
    for key, spec in [("1d", "nvfp4@like=te"), ("2d", "nvfp4@like=te@block=16x16")]:
        q = lowp.quantize(x, spec)
        # the fixture repeats a 16x16 tile's scale on each of its 16 rows
        scales = q.scales if key == "1d" else np.repeat(q.scales, 16, axis=0)
        assert_bitwise_equal(scales, b[f"{key}_scale"], msg=spec)
        assert_bitwise_equal(q.packed().reshape(b[f"{key}_packed"].shape), b[f"{key}_packed"], msg=spec)


CASES = [
    ("matmul_mxfp8_floor", "mxfp8-e4m3", dict(like="torchao", scale_rule="floor")),
    ("matmul_mxfp8_rceil", "mxfp8-e4m3", dict(like="torchao", scale_rule="rceil")),
    ("matmul_nvfp4_nopts", "nvfp4", dict(like="torchao")),
    ("matmul_nvfp4_pts", "nvfp4", dict(like="torchao", global_scale="on")),
]


@pytest.mark.parametrize("name,scheme,keys", CASES, ids=[c[0] for c in CASES])
def test_matmul_golden(bundle, name, scheme, keys):
    b = bundle(name)
    A, B = b["A"], b["B"]  # [M,K], [K,N]
    # strict k-order f32 (no FMA) and the correctly rounded exact sum, from the f32 inputs
    d = lowp.matmul(A, B, scheme=scheme, accum="f32-mul-add", b_layout="kn", **keys)
    assert_bitwise_equal(d, b["C_f32_seq"])
    e = lowp.matmul(A, B, scheme=scheme, accum="exact", out_dtype="f64", b_layout="kn", **keys)
    assert_bitwise_equal(e, b["C_f64_exact"])
    # the same from QuantizedTensors (B quantized as Bᵀ rows, [N,K])
    qa = lowp.quantize(A, scheme, **keys)
    qb = lowp.quantize(np.ascontiguousarray(B.T), scheme, **keys)
    assert_bitwise_equal(qa.dequantize(), b["A_deq"])
    assert_bitwise_equal(lowp.matmul(qa, qb, accum="f32-mul-add"), b["C_f32_seq"])
    assert_bitwise_equal(lowp.matmul(qa, qb, scheme=scheme, accum="f32-mul-add"), b["C_f32_seq"])
    with pytest.raises(ValueError, match="not the scheme asked for"):
        lowp.matmul(qa, qb, scheme="mxfp4")


def test_from_parts_round_trip_and_bad_parts():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 96)).astype(np.float32)
    for spec in ["mxfp8-e4m3", "mxfp4@like=te", "nvfp4@global-scale=on", "fp8-block@block=32x32", "fp8-row@like=te", "mxint8"]:
        q = lowp.quantize(x, spec)
        back = lowp.QuantizedTensor.from_parts(q.codes, q.scales, q.scheme, q.global_scale)
        assert back == q, spec
        assert pickle.loads(pickle.dumps(q)) == q
        assert_bitwise_equal(back.dequantize(), q.dequantize())
        assert (np.abs(q.dequantize() - x) <= q.error_bounds(x)).all(), spec
    q = lowp.quantize(x, "mxfp4")
    with pytest.raises(ValueError):  # scales do not fill the grid
        lowp.QuantizedTensor.from_parts(q.codes, q.scales[:, :1], q.scheme)
    with pytest.raises(ValueError):  # a code wider than 4 bits
        lowp.QuantizedTensor.from_parts(np.full_like(q.codes, 0x1F), q.scales, q.scheme)
    with pytest.raises(TypeError):  # f64 scales
        lowp.QuantizedTensor.from_parts(q.codes, q.scales.astype(np.float64), q.scheme)
    with pytest.raises(ValueError):  # E8M0 bytes for f32-scale scheme
        lowp.QuantizedTensor.from_parts(q.codes, q.scales, "fp8-row")
    with pytest.raises(ValueError):  # a global scale the scheme does not have
        lowp.QuantizedTensor.from_parts(q.codes, q.scales, q.scheme, 1.0)
    with pytest.raises(TypeError):
        lowp.QuantizedTensor(object())
    # kernel layouts: FP4 two per byte, 128x4 swizzled scales padded to 128 rows x 4 blocks
    assert q.packed().size == x.size // 2
    assert q.swizzled_scales().size == 128 * 4


def test_quantize_out_reuses_and_survives_errors():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 96)).astype(np.float32)
    y = (3 * rng.standard_normal((64, 96))).astype(np.float32)
    for spec in ["mxfp8-e4m3", "nvfp4@global-scale=on", "fp8-block"]:
        q = lowp.quantize(x, spec)
        r = lowp.quantize(y, spec, out=q)
        assert r is q
        assert q == lowp.quantize(y, spec), spec
        # another scheme and shape into the same tensor: replaced whole
        lowp.quantize(x[:32], "mxfp4", out=q, like="te")
        assert q == lowp.quantize(x[:32], "mxfp4@like=te"), spec
        before = lowp.quantize(x, spec, out=q)
        want_codes, want_scales = before.codes.copy(), before.scales.copy()
        with pytest.raises(ValueError):  # refused before quantizing: out untouched
            lowp.quantize(x, spec, out=q, scale_rule="nope")
        assert_bitwise_equal(q.codes, want_codes)
        with pytest.raises(ValueError):  # a block wider than the tensor: refused while quantizing
            lowp.quantize(x, spec, out=q, block="1x1000000")
        # still a valid tensor: old scheme, shape, scales, every code 0
        assert q.shape == (64, 96) and q.scheme == lowp.quantize(x, spec).scheme
        assert_bitwise_equal(q.scales, want_scales)
        assert not q.codes.any()
        assert not q.dequantize().any()
        back = lowp.QuantizedTensor.from_parts(q.codes, q.scales, q.scheme, q.global_scale)
        assert back == q
    with pytest.raises(TypeError):
        lowp.quantize(x, "mxfp4", out=np.zeros(4))


def test_bad_arguments():
    x = np.ones((4, 32), np.float32)
    with pytest.raises(ValueError, match="unknown scheme"):
        lowp.quantize(x, "mxfp9")
    with pytest.raises(ValueError, match="contradicts"):
        lowp.quantize(x, "mxfp8-e4m3@block=16", block="32")
    with pytest.raises(ValueError, match="scheme="):
        lowp.matmul(x, x)
    with pytest.raises(ValueError, match="2-D"):
        lowp.matmul(np.ones(32, np.float32), x, scheme="mxfp4")
    with pytest.raises(ValueError, match="FP6/FP4"):
        lowp.matmul(x, x, scheme="mxfp4", accum="sm90")
    with pytest.raises(ValueError, match="shape"):
        lowp.matmul(x, x, scheme="mxfp4", c=np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        lowp.matmul(x, np.ones((4, 16), np.float32), scheme="e4m3fn")


class FakeCudaTensor:
    """Stands for a torch CUDA tensor: lowp must refuse it naming .cpu()."""

    __module__ = "torch"
    device = "cuda:0"

    def __dlpack_device__(self):
        return (2, 0)


class DLPackOnly:
    """A CPU array that offers only DLPack."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kw):
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def test_torch_like_inputs():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        lowp.cast(FakeCudaTensor(), "e4m3fn")
    a = np.float32([1.0, 2.5, 500.0])
    assert_bitwise_equal(lowp.cast(DLPackOnly(a), "e4m3fn"), lowp.cast(a, "e4m3fn"))


def test_cli_agrees(cli, tmp_path):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((64, 128)) * 10).astype(np.float32)
    x[0, :4] = [np.inf, -np.inf, np.nan, 1e-30]
    np.save(tmp_path / "x.npy", x)
    for fmt, extra in [("e4m3fn", ["--like", "torch"]), ("e5m2", []), ("e2m1fn", ["--rounding", "sr", "--seed", "9"]), ("e8m0fnu", [])]:
        cli("cast", "--to", fmt, *extra, tmp_path / "x.npy", "-o", tmp_path / "c.npy")
        kw = {extra[i][2:].replace("-", "_"): extra[i + 1] for i in range(0, len(extra), 2)}
        if "seed" in kw:
            kw["seed"] = int(kw["seed"])
        assert_bitwise_equal(lowp.cast(x, fmt, **kw), np.load(tmp_path / "c.npy"), msg=fmt)
    for spec in ["mxfp8-e4m3@like=te", "nvfp4@global-scale=on", "fp8-block@block=128x128@like=te", "mxfp6-e3m2@axis=0"]:
        out = tmp_path / "q"
        cli("quantize", "--scheme", spec, tmp_path / "x.npy", "-o", out, "--force")
        q = lowp.quantize(x, spec)
        assert q.scheme == (out / "scheme.txt").read_text().strip()
        assert_bitwise_equal(q.codes, np.load(out / "codes.npy"))
        assert_bitwise_equal(q.scales, np.load(out / "scales.npy"))
        assert_bitwise_equal(q.dequantize(), np.load(out / "dequant.npy"))
    b = rng.standard_normal((48, 128)).astype(np.float32)
    np.save(tmp_path / "b.npy", b)
    for scheme, accum in [("mxfp8-e4m3", "sm100"), ("e4m3fn", "sm90"), ("bf16", "sm80"), ("nvfp4", "f32-fma")]:
        x2 = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        np.save(tmp_path / "x2.npy", x2)
        cli("matmul", "--scheme", scheme, "--a", tmp_path / "x2.npy", "--b", tmp_path / "b.npy", "--accum", accum, "-o", tmp_path / "d.npy")
        assert_bitwise_equal(lowp.matmul(x2, b, scheme=scheme, accum=accum), np.load(tmp_path / "d.npy"), msg=f"{scheme} {accum}")
    out = cli("compare", "--json", "--schemes", "mxfp4,nvfp4@like=te", tmp_path / "x.npy", tmp_path / "b.npy")
    want = [json.loads(line) for line in out.splitlines()]
    got = lowp.compare([tmp_path / "x.npy", tmp_path / "b.npy"], schemes=["mxfp4", "nvfp4@like=te"])
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):
        assert set(w) <= set(g)  # the JSON keys, plus the sums signal, error, bits
        for k in w:
            gv = None if isinstance(g[k], float) and not np.isfinite(g[k]) else g[k]
            assert gv == w[k] or float(np.float64(w[k])) == gv, (k, g[k], w[k])
