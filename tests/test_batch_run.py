"""`run_batch` end to end: agreement with assess_profile, every row accounted for, file formats, CLI."""
import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from srdi.batch import io, run_batch
from srdi.batch.profiles import row_to_profile
from srdi.batch.runner import prepare
from srdi.batch.synth import write_population
from srdi.engine.assess import assess_profile

AS_OF = "2025-06-01"


@pytest.fixture(scope="module")
def pop(tmp_path_factory):
    d = tmp_path_factory.mktemp("pop")
    p = d / "pop.parquet"
    write_population(3000, 7, p)
    return p


@pytest.mark.parametrize("as_of", ["2025-06-01", "2026-06-01"])
def test_batch_agrees_with_one_firm_assessment(pop, tmp_path, as_of):
    out = tmp_path / "r.parquet"
    summ = run_batch(pop, out, as_of)
    res = pl.read_parquet(out)
    assert res.height == 3000 and res["row"].to_list() == list(range(1, 3001))
    specs, _ = prepare(pop, dt.date.fromisoformat(as_of), "application")
    raw = next(io.read_chunks(pop, 10_000))
    frame = io.convert_chunk(raw, specs).frame
    rng = np.random.default_rng(1)
    tiers = list(summ["tiers"])
    for i in rng.choice(3000, 120, replace=False).tolist():
        a = assess_profile(row_to_profile(frame.row(i, named=True)), as_of)
        r = res.row(i, named=True)
        assert r["size_class"] == a["size"]["class"]
        for t in tiers:
            at = a["tiers"][t]
            assert r[f"{t}.outcome"] == at["outcome"], (i, t)
            assert r[f"{t}.route"] == at["route"], (i, t)
            if at.get("score") is not None and f"{t}.score" in r:
                assert r[f"{t}.score"] == pytest.approx(float(at["score"])), (i, t)


def test_corrupt_ten_percent_every_row_accounted_for(pop, tmp_path):
    src = pl.read_parquet(pop).head(2000)
    text = src.select([pl.col(c).cast(pl.String) for c in src.columns])
    rng = np.random.default_rng(42)
    cols = [c for c in text.columns]
    mask = rng.random((text.height, len(cols))) < 0.10
    corrupted = set()
    new = {}
    for j, c in enumerate(cols):
        m = pl.Series(mask[:, j])
        new[c] = pl.when(pl.lit(m)).then(pl.lit("??x")).otherwise(pl.col(c))
        if c != "企业名称":  # a name is free text: never a bad cell
            corrupted |= {(int(r) + 1, c) for r in np.flatnonzero(mask[:, j])}
    bad = text.with_columns([e.alias(c) for c, e in new.items()])
    csv = tmp_path / "bad.csv"
    bad.write_csv(csv)
    out = tmp_path / "bad.xlsx"
    summ = run_batch(csv, out, AS_OF)
    from openpyxl import load_workbook

    wb = load_workbook(out, read_only=True)
    assert wb.sheetnames == ["results", "errors", "summary"]
    res_rows = [r[0] for r in wb["results"].iter_rows(min_row=2, values_only=True)]
    assert res_rows == list(range(1, 2001))  # every input row assessed, in order
    errs = {(r[0], r[1]) for r in wb["errors"].iter_rows(min_row=2, values_only=True)}
    assert errs == corrupted  # every bad cell reported, nothing else
    assert summ["rows"] == 2000 and summ["errors"] == len(corrupted)
    # a corrupted row is still assessed: its outcome words are present
    assert all(r[6] in ("通过", "未通过", "待定") for r in wb["results"].iter_rows(min_row=2, values_only=True))


def test_xlsx_and_csv_outputs(pop, tmp_path):
    small = tmp_path / "small.xlsx"
    write_population(300, 3, small)
    out = tmp_path / "o.xlsx"
    summ = run_batch(small, out, AS_OF, lang="en")
    from openpyxl import load_workbook

    wb = load_workbook(out)
    assert wb["results"].max_row == 301
    assert len(wb["summary"]._charts) == 1
    total = sum(sum(v.values()) for v in summ["tiers"].values())
    assert total == 300 * len(summ["tiers"])
    out2 = tmp_path / "o.csv"
    run_batch(small, out2, AS_OF)
    a = pl.read_csv(out2)
    assert a.height == 300 and (tmp_path / "o.errors.csv").exists() and (tmp_path / "o.summary.json").exists()
    s = json.loads((tmp_path / "o.summary.json").read_text(encoding="utf-8"))
    assert s["rows"] == 300 and s["by_province"]


def test_progress_and_chunks(pop, tmp_path):
    seen = []
    run_batch(pop, tmp_path / "r.csv", AS_OF, progress=lambda d, t: seen.append((d, t)), chunk_size=1000)
    assert seen == [(1000, 3000), (2000, 3000), (3000, 3000)]


def test_cli_batch(pop, tmp_path):
    from typer.testing import CliRunner

    from srdi.cli.app import app

    r = CliRunner().invoke(app, ["batch", str(pop), "-o", str(tmp_path / "x.parquet"), "--as-of", AS_OF, "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["rows"] == 3000
    r = CliRunner().invoke(app, ["batch", str(tmp_path / "none.csv"), "-o", str(tmp_path / "x.csv"), "--as-of", AS_OF])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["batch", str(pop), "-o", str(tmp_path / "x.txt"), "--as-of", AS_OF])
    assert r.exit_code == 2
    assert not list(tmp_path.glob(".*.part"))  # no temporary files left behind


def test_bench_prints_the_issue_line(tmp_path):
    import re

    from srdi.batch.bench import run_bench

    lines: list[str] = []
    res = run_bench(3000, seed=4, per_row_sample=30, workdir=str(tmp_path), echo=lines.append)
    assert re.fullmatch(r"bench: n=3000 rows_s=\d+ vs_per_row=\d+\.\d vs_openfisca=\d+\.\d\d vs_floor=\d+\.\d\d", lines[-1])
    assert all(res[k] > 0 for k in ("rows_s", "vs_per_row", "vs_openfisca", "vs_floor"))
    eng = next(x for x in lines if x.startswith("(a) engine"))
    assert int(re.search(r"(\d+) output columns per row", eng).group(1)) > 200  # every tier, every condition
    # the machine's speed anchor (plain scoring alone), its own line before the issue's
    anchor = next(x for x in lines if x.startswith("anchor: "))
    m = re.fullmatch(r"anchor: plain_rows_s=(\d+) vs_plain=(\d+\.\d\d) rows_s_at_issue_machine=(\d+)", anchor)
    assert m and lines.index(anchor) < len(lines) - 1
    assert res["rows_s_at_issue_machine"] == pytest.approx(res["rows_s"] * 47_000_000 / res["plain_rows_s"])
    assert res["vs_plain"] == pytest.approx(res["plain_rows_s"] / res["rows_s"])

    # the engine doing only the OpenFisca peer's work (the R2022 SRDI score), its own line too
    same = next(x for x in lines if x.startswith("(f) engine"))
    m = re.search(r"same_work_vs_openfisca=(\d+\.\d\d)$", same)
    assert m and lines.index(same) < len(lines) - 1
    assert float(m.group(1)) == pytest.approx(res["same_work_vs_openfisca"], abs=0.006)


@pytest.mark.parametrize("missing, args", [
    ("openfisca_core", ["bench", "--n", "100"]),
    ("pyspark", ["batch", "POP", "-o", "OUT", "--as-of", AS_OF, "--engine", "spark"]),
])
def test_an_optional_dependency_missing_is_a_clear_error(monkeypatch, tmp_path, pop, missing, args):
    """`srdi bench` (OpenFisca) and `srdi batch --engine spark` (PySpark) need an optional extra:
    without it the command names what to install and exits 2, with no traceback and no output."""
    import importlib.util

    from typer.testing import CliRunner

    from srdi.cli.app import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    out = tmp_path / "out.parquet"
    args = [str(pop) if a == "POP" else str(out) if a == "OUT" else a for a in args]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "pip install 'srdi[" in r.output and "Traceback" not in r.output
    assert not out.exists() and not list(tmp_path.glob(".*"))
