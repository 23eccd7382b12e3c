"""`run_batch`: stream an input file through the engine in chunks and write results, errors and a
summary. Memory is bounded by the chunk size (plus the summary's small group-by counts)."""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import polars as pl

from ..engine.assess import compile_table, evaluate_table, input_columns
from ..engine.packs import parse_date
from . import io
from .summary import ENGINE_KEYS, results_frame, tier_words

DEFAULT_CHUNK = 250_000
XLSX_MAX_ROWS = 1_048_575


class BatchError(ValueError):
    """Unusable batch input (a clear message; the CLI exits 2)."""


def output_format(path) -> str:
    ext = Path(path).suffix.lower()
    fmt = {".xlsx": "xlsx", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(ext)
    if fmt is None:
        raise BatchError(f"-o {path}: unknown output type {ext!r} (use .xlsx, .csv or .parquet)")
    return fmt


def sidecar(path, kind: str, fmt: str) -> Path:
    p = Path(path)
    return p.with_name(f"{p.stem}.{kind}.{fmt}")


def prepare(input_path, as_of: dt.date, mode: str, mapping: Any = None):
    """Check the input and resolve its columns. Returns (specs, unmatched headers)."""
    if not Path(input_path).exists():
        raise BatchError(f"INPUT: file not found: {input_path} / 找不到文件")
    try:
        io.input_format(input_path)
        m = io.load_mapping(mapping)
        c = compile_table(as_of, mode)
        headers = io.read_headers(input_path)
        specs, unmatched = io.resolve_columns(headers, as_of, m, c.ctx.local_kinds)
    except (ValueError, OSError) as e:
        raise BatchError(str(e)) from None
    if not specs:
        raise BatchError(f"INPUT: none of the columns {headers[:8]} is a contract field or a known header "
                         f"(see docs/batch.md) / 没有可识别的列")
    return specs, unmatched


def assess_chunk(raw: pl.DataFrame, specs, as_of: dt.date, mode: str, lang: str):
    """Raw chunk -> (results frame, errors frame): the unit of work of both engines."""
    conv = io.convert_chunk(raw, specs, lang)
    frame = conv.frame
    c = compile_table(as_of, mode)
    need = [k for k in input_columns(c) if k in frame.columns]
    values = evaluate_table(frame.select(need) if need else pl.DataFrame({"_": [None] * frame.height}),
                            as_of, mode, keys=ENGINE_KEYS)
    res = results_frame(frame, values, as_of, mode, lang)
    return res, conv.errors


class Summary:
    """Counts accumulated chunk by chunk (by tier and outcome, by province, by industry section)."""

    def __init__(self, as_of: dt.date, mode: str):
        self.tiers = [t["prefix"] for t in tier_words(as_of, mode, "zh")]
        self.parts: dict[str, list[pl.DataFrame]] = {"tier": [], "province": [], "industry": []}
        self.rows = 0
        self.error_rows: set | None = None
        self.errors = 0
        self.rows_with_errors = 0

    def add(self, res: pl.DataFrame, errors: pl.DataFrame):
        self.rows += res.height
        self.errors += errors.height
        self.rows_with_errors += errors.get_column("row").n_unique() if errors.height else 0
        long = res.select(["province", "industry"] + [f"{t}.outcome" for t in self.tiers]).unpivot(
            index=["province", "industry"], variable_name="tier", value_name="outcome"
        ).with_columns(pl.col("tier").str.strip_suffix(".outcome"),
                       pl.col("industry").str.slice(0, 1).alias("section"))
        self.parts["tier"].append(long.group_by(["tier", "outcome"]).len())
        self.parts["province"].append(long.group_by(["province", "tier", "outcome"]).len())
        self.parts["industry"].append(long.group_by(["section", "tier", "outcome"]).len())
        for k in self.parts:  # keep memory flat
            if len(self.parts[k]) > 8:
                self.parts[k] = [self._sum(k)]

    def _sum(self, k: str) -> pl.DataFrame:
        keys = {"tier": ["tier", "outcome"], "province": ["province", "tier", "outcome"],
                "industry": ["section", "tier", "outcome"]}[k]
        if not self.parts[k]:
            return pl.DataFrame(schema={**{c: pl.String for c in keys}, "len": pl.UInt32})
        return pl.concat(self.parts[k]).group_by(keys).agg(pl.col("len").sum())

    def wide(self, k: str) -> pl.DataFrame:
        """One row per tier (or province/section x tier) with pass / fail / undetermined counts."""
        df = self._sum(k)
        keys = {"tier": ["tier"], "province": ["province", "tier"], "industry": ["section", "tier"]}[k]
        w = df.pivot(on="outcome", index=keys, values="len", aggregate_function="sum") if df.height else \
            pl.DataFrame(schema={c: pl.String for c in keys})
        for o in ("pass", "fail", "undetermined"):
            if o not in w.columns:
                w = w.with_columns(pl.lit(0).alias(o))
        w = w.with_columns([pl.col(o).fill_null(0).cast(pl.Int64) for o in ("pass", "fail", "undetermined")])
        order = {t: i for i, t in enumerate(self.tiers)}
        w = w.with_columns(pl.col("tier").replace_strict(order, default=99, return_dtype=pl.Int64).alias("_o"))
        return w.sort(keys[:-1] + ["_o"], nulls_last=True).drop("_o").select(keys + ["pass", "fail", "undetermined"])

    def counts(self) -> dict:
        t = self.wide("tier")
        return {
            "rows": self.rows, "errors": self.errors, "rows_with_errors": self.rows_with_errors,
            "tiers": {r["tier"]: {"pass": r["pass"], "fail": r["fail"], "undetermined": r["undetermined"]}
                      for r in t.iter_rows(named=True)},
        }


def run_batch(input_path, output_path, as_of, mode: str = "application", mapping=None, lang: str = "zh",
              progress: Callable[[int, int | None], None] | None = None, engine: str = "polars",
              master: str | None = None, chunk_size: int = DEFAULT_CHUNK) -> dict:
    """Assess every row of INPUT (CSV/XLSX/Parquet) and write OUTPUT (XLSX/CSV/Parquet).

    Returns the summary counts: {rows, errors, rows_with_errors, tiers: {tier: {pass, fail,
    undetermined}}, output, errors_file, seconds, rows_per_second}. `progress(rows_done,
    rows_total)` is called after each chunk (rows_total None when unknown).
    """
    as_of = parse_date(as_of)
    if mode not in ("application", "review"):
        raise BatchError(f"--mode: {mode!r} must be application or review")
    if lang not in ("zh", "en"):
        raise BatchError(f"--lang: {lang!r} must be zh or en")
    ofmt = output_format(output_path)
    specs, unmatched = prepare(input_path, as_of, mode, mapping)
    total = io.count_rows(input_path)
    t0 = time.perf_counter()
    if engine == "spark":
        import importlib.util

        if importlib.util.find_spec("pyspark") is None:  # an optional dependency: say so, before any output
            raise BatchError("--engine spark: PySpark is not installed: pip install 'srdi[spark]' (Java 17 too) "
                             "/ 未安装 PySpark")
        from .spark import spark_chunks

        chunks = spark_chunks(input_path, specs, as_of, mode, lang, master=master, chunk_size=chunk_size)
    elif engine == "polars":
        cols = [s.header for s in specs] if io.input_format(input_path) == "parquet" else None
        chunks = (assess_chunk(raw, specs, as_of, mode, lang) for raw in io.read_chunks(input_path, chunk_size, cols))
    else:
        raise BatchError(f"--engine: {engine!r} must be polars or spark")
    summary = Summary(as_of, mode)
    res_sink_fmt = "parquet" if ofmt == "xlsx" else ofmt
    tmpdir = Path(output_path).parent
    if ofmt == "xlsx":
        res_sink = io.TableSink(tmpdir / f".{Path(output_path).name}.results.parquet", "parquet")
        err_sink = io.TableSink(tmpdir / f".{Path(output_path).name}.errors.parquet", "parquet")
    else:
        res_sink = io.TableSink(output_path, res_sink_fmt)
        err_sink = io.TableSink(sidecar(output_path, "errors", ofmt), ofmt)
    done = 0
    try:
        for res, errs in chunks:
            res_sink.write(res)
            if errs.height:
                err_sink.write(errs)
            summary.add(res, errs)
            done += res.height
            if progress:
                progress(done, total)
        from .summary import result_columns

        res_sink.close(empty_schema={c: pl.String for c in result_columns(as_of, mode)})
        err_sink.close(empty_schema=io.ERR_SCHEMA)
    except BaseException:
        res_sink.abort()
        err_sink.abort()
        raise
    secs = time.perf_counter() - t0
    out = summary.counts()
    out.update({"output": str(output_path), "seconds": round(secs, 3),
                "rows_per_second": round(done / secs) if secs > 0 else None,
                "unmatched_columns": unmatched, "as_of": as_of.isoformat(), "mode": mode})
    if ofmt == "xlsx":
        from .xlsx import write_xlsx

        try:
            out["errors_file"] = write_xlsx(output_path, res_sink.path, err_sink.path, summary, out, lang)
        finally:
            for p in (res_sink.path, err_sink.path):
                if p.exists():
                    p.unlink()
    else:
        out["errors_file"] = str(sidecar(output_path, "errors", ofmt))
        import json

        sp = sidecar(output_path, "summary", "json")
        tmp, commit = io.atomic_target(sp)
        data = dict(out, by_province=summary.wide("province").to_dicts(), by_industry=summary.wide("industry").to_dicts())
        Path(tmp).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        commit()
        out["summary_file"] = str(sp)
    return out
