"""`srdi simulate`: a reform's gains and losses match a direct recount with the changed rule."""
import datetime as dt

import polars as pl
import pytest

from srdi.batch import io
from srdi.batch.runner import prepare
from srdi.batch.simulate import ReformError, compile_reform, evaluate_outputs, run_simulation
from srdi.batch.synth import write_population
from srdi.engine.assess import evaluate_table

AS_OF = dt.date(2025, 6, 1)


@pytest.fixture(scope="module")
def pop(tmp_path_factory):
    p = tmp_path_factory.mktemp("sim") / "pop.parquet"
    write_population(5000, 2, p)
    return p


def test_rd_share_and_pass_line_reform(pop, tmp_path):
    reform = {"name": "rd 4%, line 65", "changes": [
        {"pack": "r2022.srdi_sme", "node": "rd_share", "test": "rd_intensity[y-1] >= 4%"},
        {"pack": "r2022.srdi_sme", "pass_line": 65}]}
    res = run_simulation(pop, reform, AS_OF, output=tmp_path / "sim.xlsx")
    srdi = next(r for r in res["by_tier"] if r["tier"] == "srdi_sme")
    other = [r for r in res["by_tier"] if r["tier"] != "srdi_sme"]
    assert srdi["gain"] == 0 and srdi["loss"] > 0  # a stricter rule only removes firms
    assert all(r["gain"] == 0 and r["loss"] == 0 for r in other)
    # recount directly: pass before, and still passing with R&D >= 4% and score >= 65 (or a direct route)
    specs, _ = prepare(pop, AS_OF, "application")
    f = io.convert_chunk(next(io.read_chunks(pop, 10_000)), specs).frame
    o = evaluate_table(f, AS_OF, "application")
    rd4 = (f["financials.2024.rd_expense"] * 100 >= 4 * f["financials.2024.operating_revenue"]).fill_null(False)
    direct = o.select(pl.any_horizontal("srdi_sme/st_award_ranked#ok", "srdi_sme/rd_avg_2y_10m#ok",
                                        "srdi_sme/equity_2y_60m#ok", "srdi_sme/maker_china_top500#ok")).to_series().fill_null(False)
    keep = o["srdi_sme#ok"].fill_null(False) & rd4 & ((o["srdi_sme#score_lo"] >= 650_000) | direct)
    assert srdi["pass_before"] == o["srdi_sme#ok"].fill_null(False).sum()
    assert srdi["pass_after"] == keep.sum()
    assert sum(r["loss"] for r in res["by_province"] if r["tier"] == "srdi_sme") == srdi["loss"]
    assert sum(r["loss"] for r in res["by_industry"] if r["tier"] == "srdi_sme") == srdi["loss"]
    from openpyxl import load_workbook

    assert load_workbook(tmp_path / "sim.xlsx").sheetnames == ["by_tier", "by_province", "by_industry"]


def test_local_weights_reform_compiles_and_html(pop, tmp_path):
    reform = {"changes": [{"local": "370000", "node": "sd_key_field",
                           "bands": [["local_indicators.key_field == plan_and_chain", 6], ["else", 0]]}]}
    out, tiers, ctx = compile_reform(AS_OF, "application", reform["changes"])
    df = pl.DataFrame({"province": ["370000", "370000"], "local_indicators.key_field": ["plan_and_chain", "city"]})
    v = evaluate_outputs(df, out, ctx, ["srdi_sme/distinctiveness.local.sd_key_field#lo"])
    assert v.to_series().to_list() == [60_000, 0]
    res = run_simulation(pop, reform, AS_OF, output=tmp_path / "sim.html", lang="en")
    assert "echarts" in (tmp_path / "sim.html").read_text(encoding="utf-8")
    assert res["text"].startswith("reform:")


@pytest.mark.parametrize("bad", [{"changes": []}, {"changes": [{"pack": "r2022.srdi_sme", "node": "nope", "test": "x >= 1"}]},
                                 {"changes": [{"pack": "r2022.srdi_sme", "node": "rd_share", "test": ">= oops"}]},
                                 {"changes": [{"local": "990000", "node": "a", "bands": [["else", 0]]}]}])
def test_bad_reforms_are_clear_errors(pop, bad):
    with pytest.raises(ReformError):
        run_simulation(pop, bad, AS_OF)


def test_cli_simulate(pop, tmp_path):
    from typer.testing import CliRunner

    from srdi.cli.app import app

    r = tmp_path / "r.yaml"
    r.write_text("name: x\nchanges:\n  - {pack: r2022.srdi_sme, pass_line: 70}\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["simulate", "--population", str(pop), "--reform", str(r), "--as-of", "2025-06-01"])
    assert res.exit_code == 0, res.output
    assert "专精特新中小企业" in res.stdout
    res = CliRunner().invoke(app, ["simulate", "--population", str(pop), "--reform", str(tmp_path / "no.yaml"), "--as-of", "2025-06-01"])
    assert res.exit_code == 2
