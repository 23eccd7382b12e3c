#!/usr/bin/env python3
"""Where the table engine's time goes (issue 3: "where a target is not met ... where the time goes").

    .venv/bin/python bench/engine_profile.py [N]      # N synthetic rows (default 1,000,000)

Evaluates every output of the R2022 compile (as-of 2025-06-01, as `srdi bench`) alone, on a frame
that already holds every input and every other output, so that each output is charged only its own
work; prints the time by kind of output, the slowest outputs, and the R2022 SRDI score alone (the
work the OpenFisca peer does) beside the whole engine.
"""
from __future__ import annotations

import collections
import gc
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from srdi.batch import io
from srdi.batch.bench import AS_OF
from srdi.batch.runner import prepare
from srdi.batch.synth import write_population
from srdi.engine import assess as A
from srdi.engine.frame import conform, with_scales

LISTS = ("titles", "awards", "equity_financing", "standards_led")


def kind(key: str) -> str:
    tail = key.rpartition("#")[2]
    if tail.startswith("obs"):
        return "display values (#obs)"
    if key.startswith("m:"):
        return "measures (numerators, denominators)"
    if key.startswith("size"):
        return "size class (2011 standard)"
    if tail in ("lo", "hi"):
        return "indicator points (#lo/#hi)"
    if tail in ("score_lo", "score_hi", "score_ok", "route") or ("/" not in key and tail == "ok"):
        return "routes, scores, tier outcomes"
    if tail.startswith("ok"):
        return "condition outcomes (#ok)"
    return "other"


def best_of(f, n: int = 2) -> float:
    best = float("inf")
    for _ in range(n):
        gc.collect()
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main(n: int = 1_000_000) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "pop.parquet"
        write_population(n, 0, path)
        c = A.compile_table(AS_OF, "application")
        specs, _ = prepare(path, AS_OF, "application")
        need = A.input_columns(c)
        frames = [io.convert_chunk(raw, specs).frame for raw in io.read_chunks(path, n)]
    df = pl.concat([f.select([k for k in need if k in f.columns]) for f in frames]).rechunk()
    del frames
    whole = best_of(lambda: A.evaluate_table(df, AS_OF, "application"))
    base = with_scales(conform(df, need, c.ctx.local_kinds), A._scale_columns(AS_OF, "application"))
    out = A.evaluate_table(df, AS_OF, "application")
    full = pl.concat([base, out.select([k for k in out.columns if k not in base.columns])], how="horizontal")
    times: collections.Counter = collections.Counter()
    counts: collections.Counter = collections.Counter()
    per = []
    for k, e in c.values.items():
        t = best_of(lambda: full.select(e.alias("x")))
        times[kind(k)] += t
        counts[kind(k)] += 1
        per.append((t, k))
    total = sum(times.values())
    print(f"{n:,} rows; whole engine, one staged call: {whole:.3f} s; the {len(per)} outputs one by one: {total:.3f} s")
    for g, v in times.most_common():
        print(f"  {g:40s} {counts[g]:4d} outputs  {v:.3f} s  {100 * v / total:4.1f}%")
    print("slowest outputs:")
    for t, k in sorted(per, reverse=True)[:10]:
        print(f"  {t * 1e3:6.1f} ms  {k}")
    lists = [t for t, k in per if any(r in LISTS for r in c.values[k].meta.root_names())]
    print(f"outputs reading a list column: {len(lists)}, {sum(lists):.3f} s")
    score = best_of(lambda: A.evaluate_table(df, AS_OF, "application", keys=("srdi_sme#score_lo", "srdi_sme#score_hi")), 3)
    print(f"R2022 SRDI score alone (13 indicators with their intervals, the OpenFisca peer's work): {score:.3f} s")
    print(f"profile: n={n} whole_s={whole:.3f} srdi_score_s={score:.3f} "
          + " ".join(f"{g.split(' (')[0].replace(' ', '_').replace(',', '')}_s={v:.3f}" for g, v in times.most_common()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
