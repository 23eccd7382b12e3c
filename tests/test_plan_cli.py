"""`srdi plan`: text and JSON, cost overrides, bad input (exit 2), pools."""
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from srdi.cli.app import app
from srdi.planner import make_plan
from srdi.planner.costs import CostModelError, load_costs

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def _profile(tmp_path, name="r2026-srdi-rd-each-year"):
    c = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    f = tmp_path / "p.json"
    f.write_text(json.dumps(c["profile"], ensure_ascii=False, default=str), encoding="utf-8")
    return f, c


def test_plan_json_and_text(tmp_path):
    f, _ = _profile(tmp_path)
    r = CliRunner().invoke(app, ["plan", str(f), "--as-of", "2026-06-01", "--target", "srdi_sme", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    p = out["plan"]
    assert p["feasible"] and p["target"] == "srdi_sme" and p["as_of"] == "2027-01-01"
    assert {"field", "from", "to", "year", "cost", "reason"} <= set(p["changes"][0])
    assert p["benefit"]["summary"]["cash_max_wan"] > 0
    r = CliRunner().invoke(app, ["plan", str(f), "--as-of", "2026-06-01", "--target", "srdi_sme", "--lang", "en"])
    assert r.exit_code == 0 and "2026:" in r.stdout and "Target" in r.stdout
    r = CliRunner().invoke(app, ["plan", str(f), "--as-of", "2026-06-01", "--target", "srdi_sme"])
    assert "2026年" in r.stdout


def test_cost_override_changes_the_price(tmp_path):
    f, c = _profile(tmp_path)
    base = make_plan(c["profile"], "2026-06-01", "srdi_sme")["plan"]["total_cost"]
    cheap = make_plan(c["profile"], "2026-06-01", "srdi_sme", costs={"levers": {"quality_score": {"cost_per_point": 1000}}})
    assert cheap["plan"]["total_cost"] < base
    cf = tmp_path / "c.yaml"
    cf.write_text("levers:\n  quality_score:\n    cost_per_point: 1000\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["plan", str(f), "--as-of", "2026-06-01", "--target", "srdi_sme", "--costs", str(cf),
                                 "--format", "json"])
    assert json.loads(r.stdout)["plan"]["total_cost"] == cheap["plan"]["total_cost"]


def test_bad_input_exit_2(tmp_path):
    f, _ = _profile(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("levers:\n  nonsense: 1\n", encoding="utf-8")
    for args in (["--target", "giant"], ["--target", "srdi_sme", "--costs", str(bad)],
                 ["--target", "srdi_sme", "--horizon", "0"], ["--target", "srdi_sme", "--format", "xml"]):
        r = CliRunner().invoke(app, ["plan", str(f), "--as-of", "2026-06-01"] + args)
        assert r.exit_code == 2, (args, r.output)
    try:
        load_costs({"levers": {"debt": {"cost_rate": -1}}})
        raise AssertionError("negative cost accepted")
    except CostModelError:
        pass


def test_infeasible_says_what_blocks(tmp_path):
    _, c = _profile(tmp_path)
    out = make_plan(c["profile"], "2026-06-01", "little_giant", horizon=1, lang="en")
    assert not out["plan"]["feasible"]
    ids = {x["id"] for b in out["plan"]["blocked"] for x in b["conditions"]}
    assert ids  # e.g. the ¥50m revenue floor or the SRDI title


def test_pool_csv_and_xlsx(tmp_path):
    import polars as pl
    from srdi.batch.synth import write_population

    src = tmp_path / "pool.parquet"
    write_population(300, 3, src, headers="contract")  # money in yuan, as files hold it
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(app, ["plan", "--pool", str(src), "--as-of", "2025-06-01", "--target", "srdi_sme",
                                 "-o", str(out), "--plan-limit", "3", "--horizon", "1"])
    assert r.exit_code == 0, r.output
    res = pl.read_csv(out)
    assert res.height == 300 and {"cost_yuan", "failing_conditions", "steps"} <= set(res.columns)
    assert (tmp_path / "out.svg").exists()
    assert res.filter(pl.col("passes_now"))["cost_yuan"].to_list() == [0.0] * res.filter(pl.col("passes_now")).height
    out2 = tmp_path / "out.xlsx"
    r = CliRunner().invoke(app, ["plan", "--pool", str(src), "--as-of", "2025-06-01", "--target", "srdi_sme",
                                 "-o", str(out2), "--plan-limit", "0"])
    assert r.exit_code == 0 and out2.exists()


def test_pool_all_plans_within_a_budget_labels_every_row(tmp_path):
    import polars as pl
    from srdi.batch.synth import write_population

    src = tmp_path / "pool.parquet"
    write_population(60, 5, src, headers="contract")
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(app, ["plan", "--pool", str(src), "--as-of", "2025-06-01", "--target", "srdi_sme",
                                 "-o", str(out), "--all-plans", "--budget", "20", "--horizon", "1"])
    assert r.exit_code == 0, r.output
    res = pl.read_csv(out)
    assert res.height == 60 and res["cost_kind"].null_count() == 0
    assert "60 firms (" in r.output
    bad = CliRunner().invoke(app, ["plan", "--pool", str(src), "--as-of", "2025-06-01", "--target", "srdi_sme",
                                   "-o", str(out), "--budget", "0"])
    assert bad.exit_code == 2 and "--budget" in bad.output
