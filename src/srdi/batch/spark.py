"""`srdi batch --engine spark`: the same rule packs on Apache Spark via `mapInArrow`.

The driver reads the input in chunks (the same reader as the embedded engine, so row numbers and
column mapping are identical), hands each chunk to Spark as an Arrow table, and every partition
runs Arrow batch -> Polars -> convert_chunk -> evaluate_table -> results words -> Arrow. Bad cells
travel with their row as a JSON column and are split out again on the driver. On a cluster, each
executor needs the `srdi` package installed (docs/batch.md).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Iterator

import polars as pl

from . import io
from .summary import result_columns

_SESSIONS: dict[str, object] = {}


def session(master: str | None = None):
    """A SparkSession (local[2] unless a master URL is given), created once per process."""
    master = master or os.environ.get("SRDI_SPARK_MASTER", "local[2]")
    if master in _SESSIONS:
        return _SESSIONS[master]
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.master(master).appName("srdi-batch")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "50000")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.driver.memory", os.environ.get("SRDI_SPARK_DRIVER_MEMORY", "2g"))
         .config("spark.python.worker.reuse", "true"))
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    _SESSIONS[master] = s
    return s


def stop_all():
    for s in list(_SESSIONS.values()):
        s.stop()
    _SESSIONS.clear()


def _spark_type(dtype) -> str:
    if dtype == pl.Int64:
        return "bigint"
    if dtype == pl.Float64:
        return "double"
    return "string"


def _result_schema(as_of: dt.date, mode: str) -> tuple[list[str], str]:
    cols = result_columns(as_of, mode)
    types = {c: ("bigint" if c == "row" else "double" if c.endswith((".score", ".score_min", ".score_max")) else "string")
             for c in cols}
    names = [f"c{i}" for i in range(len(cols))] + ["errors_json"]
    ddl = ", ".join(f"{n} {types[c]}" for n, c in zip(names, cols)) + ", errors_json string"
    return cols, ddl


def make_udf(headers: list[str], specs, as_of: dt.date, mode: str, lang: str):
    """The function run in every partition: Arrow batches in, result batches out."""
    cols, _ = _result_schema(as_of, mode)
    safe = [f"c{i}" for i in range(len(cols))]

    def run(batches):
        import pyarrow as pa

        from .runner import assess_chunk

        for b in batches:
            if b.num_rows == 0:
                continue
            raw = pl.from_arrow(pa.Table.from_batches([b]))
            raw = raw.rename({f"h{i}": h for i, h in enumerate(headers)})
            res, errs = assess_chunk(raw, specs, as_of, mode, lang)
            if errs.height:
                ej = errs.group_by("row", maintain_order=True).agg(
                    pl.concat_list([pl.col("field"), pl.col("path"), pl.col("value").fill_null(""), pl.col("problem")])
                    .alias("e"))
                ej = ej.with_columns(pl.col("e").map_elements(lambda v: json.dumps(v.to_list(), ensure_ascii=False),
                                                              return_dtype=pl.String).alias("errors_json")).drop("e")
                res = res.join(ej, on="row", how="left", maintain_order="left")
            else:
                res = res.with_columns(pl.lit(None, pl.String).alias("errors_json"))
            res = res.rename(dict(zip(cols, safe)))
            for t in res.to_arrow(compat_level=pl.CompatLevel.oldest()).to_batches():
                yield t

    return run


def spark_chunks(input_path, specs, as_of: dt.date, mode: str, lang: str, master: str | None = None,
                 chunk_size: int = 500_000, partitions: int | None = None) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    spark = session(master)
    cols, ddl = _result_schema(as_of, mode)
    for raw in io.read_chunks(input_path, chunk_size):
        headers = [c for c in raw.columns]
        arrow = raw.rename({h: f"h{i}" for i, h in enumerate(headers)}).to_arrow(compat_level=pl.CompatLevel.oldest())
        sdf = spark.createDataFrame(arrow)
        if partitions:
            sdf = sdf.repartition(partitions)
        out = sdf.mapInArrow(make_udf(headers, specs, as_of, mode, lang), ddl)
        table = out.toArrow()
        res = pl.from_arrow(table)
        res = res.rename({f"c{i}": c for i, c in enumerate(cols)}).sort("row")
        errs = _errors(res.select("row", "errors_json"))
        yield res.drop("errors_json"), errs


def _errors(df: pl.DataFrame) -> pl.DataFrame:
    df = df.filter(pl.col("errors_json").is_not_null())
    if df.height == 0:
        return pl.DataFrame(schema=io.ERR_SCHEMA)
    rows = []
    for r, ej in df.iter_rows():
        for field, path, value, problem in json.loads(ej):
            rows.append((r, field, path, value if value != "" else None, problem))
    return pl.DataFrame(rows, schema=io.ERR_SCHEMA, orient="row")
