#!/usr/bin/env python3
"""Copies a fixed subset of the MMA-Sim instruction vectors into tests/fixtures/mma_sim.

The vectors (one CSV per GPU matrix instruction, columns kind,a,b,sa,sb,c,d in hex,
D computed by MMA-Sim, github.com/microsoft/MMA-Sim) total about 7 MB; the tests keep
every `special` row (NaN/Inf, extreme and subnormal codes and scales, signed zeros)
and the first ROWS rows of each other input kind of each file, unchanged, and
index.json as it is. tests/mma_sim.rs runs every row of whatever directory it is given
(LOWP_MMA_SIM_DIR, default tests/fixtures/mma_sim).

usage: scripts/mma_sim_subset.py SOURCE_DIR [ROWS]
"""
import pathlib
import shutil
import sys

src = pathlib.Path(sys.argv[1])
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 24
dst = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mma_sim"
dst.mkdir(parents=True, exist_ok=True)
shutil.copyfile(src / "index.json", dst / "index.json")
total = 0
for f in sorted(src.glob("*.csv")):
    # lines are copied byte for byte (line endings included)
    lines = f.read_bytes().splitlines(keepends=True)
    kept, seen = [lines[0]], {}
    for line in lines[1:]:
        kind = line.split(b",", 1)[0]
        n = seen.get(kind, 0)
        if n < rows or kind == b"special":
            kept.append(line)
            seen[kind] = n + 1
    (dst / f.name).write_bytes(b"".join(kept))
    total += len(kept) - 1
print(f"{total} rows in {dst}")
