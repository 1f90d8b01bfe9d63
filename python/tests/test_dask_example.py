"""examples/compare_dask.py on a local dask cluster of 2 worker processes: the
merged rows equal one lowp.compare run over the same files."""

import importlib.util
import pathlib

import numpy as np
import pytest

import lowp

distributed = pytest.importorskip("dask.distributed")
EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "compare_dask.py"


def load_example():
    spec = importlib.util.spec_from_file_location("compare_dask", EXAMPLE)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_dask_fan_out_equals_one_run(tmp_path):
    ex = load_example()
    paths = ex.sample_checkpoint(str(tmp_path))
    schemes = ["mxfp8-e4m3", "nvfp4@global-scale=on"]
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        got = ex.compare_checkpoint(client, paths, schemes)
    want = lowp.compare(paths, schemes=schemes)
    key = lambda r: (r["tensor"], r["scheme"])  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want))
    w = {key(r): r for r in want}
    for r in got:
        for k, v in w[key(r)].items():
            assert r[k] == v or (np.isnan(v) and np.isnan(r[k])), (key(r), k, r[k], v)
