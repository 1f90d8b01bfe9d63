"""A checkpoint-wide format comparison fanned out over dask.distributed workers.

Each worker runs ``lowp.compare`` on its shard of tensors (reading only those
tensors from the file: a safetensors checkpoint is never loaded whole), the
rows come back to the client, and ``lowp.merge_rows`` aggregates them exactly
as one ``lowp compare`` run would (total signal over total error per scheme).

    python compare_dask.py model.safetensors --schemes mxfp8-e4m3,nvfp4 --workers 4
    python compare_dask.py --scheduler tcp://host:8786 shard-*.safetensors

Without files it compares a small generated checkpoint (for a quick try).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import lowp


def shards(paths, n, glob=None):
    """The tensors of ``paths`` as ``n`` lists of ``(path, name)``, balanced by size."""
    import fnmatch

    items = []
    for p in paths:
        for name, shape, dtype in lowp.tensors(p):
            if glob and not fnmatch.fnmatchcase(name, glob):
                continue
            size = 1
            for d in shape:
                size *= d
            items.append((size, os.fspath(p), name))
    items.sort(reverse=True)
    out = [[] for _ in range(n)]
    load = [0] * n
    for size, p, name in items:  # largest first onto the least loaded shard
        i = load.index(min(load))
        out[i].append((p, name))
        load[i] += size
    return [s for s in out if s]


def compare_shard(shard, schemes, several=False):
    """What one worker does: every tensor of its shard under every scheme (named
    ``PATH:NAME`` when the checkpoint has several files, as one ``lowp.compare``
    run over them names them)."""
    rows = []
    for path, name in shard:
        # exact-name selection ([ and ] would be glob syntax; checkpoint names have none)
        for r in lowp.compare(path, schemes=schemes, tensors=name):
            if r["tensor"] == name:
                rows.append(dict(r, tensor=f"{path}:{name}") if several else r)
    return rows


def compare_checkpoint(client, paths, schemes, glob=None):
    """Rows of every tensor (in a stable order) plus the ``(all)`` rows."""
    nworkers = max(1, len(client.scheduler_info()["workers"]))
    several = len(paths) > 1
    parts = shards(paths, 2 * nworkers, glob)
    futures = [client.submit(compare_shard, s, schemes, several, pure=False) for s in parts]
    rows = [r for f in futures for r in f.result()]
    rows.sort(key=lambda r: (r["tensor"], schemes.index(r["scheme"]) if r["scheme"] in schemes else 0))
    return lowp.Rows(rows + (lowp.merge_rows(rows) if len({r["tensor"] for r in rows}) > 1 else []))


def sample_checkpoint(directory):
    """A small two-file checkpoint of generated tensors (.npy)."""
    import numpy as np

    rng = np.random.default_rng(0)
    paths = []
    for i, scale in enumerate([1.0, 0.02, 30.0]):
        p = os.path.join(directory, f"layer{i}.weight.npy")
        np.save(p, (rng.standard_normal((256, 512)) * scale).astype(np.float32))
        paths.append(p)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--schemes", default="mxfp8-e4m3,mxfp4,nvfp4@global-scale=on,fp8-block@block=128x128")
    ap.add_argument("--tensors", help="glob on tensor names")
    ap.add_argument("--workers", type=int, default=2, help="local cluster size (without --scheduler)")
    ap.add_argument("--scheduler", help="address of a running dask scheduler")
    a = ap.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    schemes = [s.strip() for s in a.schemes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        files = a.files or sample_checkpoint(tmp)
        if a.scheduler:
            client = Client(a.scheduler)
        else:
            client = Client(LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True))
        with client:
            rows = compare_checkpoint(client, files, schemes, a.tensors)
    width = max(len(r["tensor"]) for r in rows)
    print(f"{'tensor':{width}} {'scheme':28} {'SQNR dB':>9} {'bits/el':>8}")
    for r in rows:
        print(f"{r['tensor']:{width}} {r['scheme']:28} {r['sqnr_db']:9.2f} {r['bits_per_element']:8.3f}")
    return rows


if __name__ == "__main__":
    main()
