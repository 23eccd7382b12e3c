"""Spark (local mode) gives results identical to the embedded engine on 100,000 enterprises."""
import shutil

import polars as pl
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover
    pytest.skip("Java is needed for Spark local mode", allow_module_level=True)

from srdi.batch import run_batch
from srdi.batch.synth import write_population


def test_spark_equals_embedded_100k(tmp_path):
    pop = tmp_path / "pop.parquet"
    write_population(100_000, 11, pop)
    # a few bad cells, so that the errors path is compared too
    df = pl.read_parquet(pop).with_columns(
        pl.when(pl.int_range(pl.len()) % 997 == 0).then(pl.lit("n/a?")).otherwise(pl.col("行业代码")).alias("行业代码"))
    df.write_parquet(pop)
    a = run_batch(pop, tmp_path / "embedded.parquet", "2025-06-01")
    b = run_batch(pop, tmp_path / "spark.parquet", "2025-06-01", engine="spark", master="local[2]")
    ea, eb = pl.read_parquet(tmp_path / "embedded.parquet"), pl.read_parquet(tmp_path / "spark.parquet")
    assert ea.height == eb.height == 100_000
    assert ea.equals(eb)
    ra, rb = pl.read_parquet(tmp_path / "embedded.errors.parquet"), pl.read_parquet(tmp_path / "spark.errors.parquet")
    assert ra.height > 0 and ra.equals(rb)
    assert a["tiers"] == b["tiers"]
    from srdi.batch.spark import stop_all

    stop_all()
