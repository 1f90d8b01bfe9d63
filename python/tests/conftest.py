"""Shared helpers: the repository's golden fixtures (tests/fixtures/*.json +
.bin, written by the references' generators) and the Rust CLI binary."""

import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
_DT = {"f32": np.float32, "f64": np.float64, "u8": np.uint8, "u16": np.uint16, "u32": np.uint32}


class Bundle:
    """One golden fixture: named arrays in a .bin described by a .json."""

    def __init__(self, name):
        self.meta = json.loads((FIXTURES / f"{name}.json").read_text())
        self.raw = (FIXTURES / f"{name}.bin").read_bytes()

    def __contains__(self, key):
        return key in self.meta["arrays"]

    def __getitem__(self, key):
        a = self.meta["arrays"][key]
        buf = self.raw[a["offset"] : a["offset"] + a["nbytes"]]
        return np.frombuffer(buf, dtype=_DT[a["dtype"]]).reshape(a["shape"]).copy()


@pytest.fixture
def bundle():
    return Bundle


def lowp_bin():
    """The `lowp` binary: $LOWP_BIN, else target/release/lowp (built by `cargo test --release`)."""
    p = os.environ.get("LOWP_BIN") or str(ROOT / "target" / "release" / "lowp")
    if not os.path.exists(p):
        if os.environ.get("LOWP_REQUIRE_CLI"):
            raise RuntimeError(f"LOWP_REQUIRE_CLI is set but {p} does not exist")
        pytest.skip("the lowp binary is not built (cargo build --release)")
    return p


@pytest.fixture
def cli(tmp_path):
    exe = lowp_bin()

    def run(*args):
        r = subprocess.run([exe, *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"lowp {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    run.tmp = tmp_path
    return run
