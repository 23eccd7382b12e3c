"""Done-when: for every shared case whose tier fails, the plan's profile_after assessed at plan.as_of
passes the target, and no past fiscal year or niche_since changed."""
import datetime as dt
from pathlib import Path

import pytest
import yaml

from srdi.engine.assess import assess_profile
from srdi.planner import make_plan, render_text
from srdi.profile import validate_profile

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def _failing():
    out = []
    for f in sorted(CASES.glob("*.yaml")):
        c = yaml.safe_load(f.read_text(encoding="utf-8"))
        p = validate_profile(c["profile"]).to_contract_dict()
        res = assess_profile(p, c["as_of"], c["mode"])
        for tier, t in res["tiers"].items():
            if t["outcome"] != "pass":
                out.append(pytest.param(c, tier, id=f"{c['name']}:{tier}"))
    return out


@pytest.mark.parametrize("case,tier", _failing())
def test_plan_reaches_target_without_touching_the_past(case, tier):
    p = validate_profile(case["profile"]).to_contract_dict()
    as_of = dt.date.fromisoformat(case["as_of"])
    out = make_plan(p, as_of, tier, case["mode"], horizon=3)
    plan = out["plan"]
    if not plan["feasible"]:
        # an infeasible plan must say what blocks it
        assert any(b["conditions"] for b in plan["blocked"]), plan
        return
    after = validate_profile(plan["profile_after"]).to_contract_dict()
    res = assess_profile(after, plan["as_of"], case["mode"])
    assert res["tiers"][plan["target"]]["outcome"] == "pass"
    assert plan["verified"] is True
    assert after.get("niche_since") == p.get("niche_since")
    for y, fy in (p.get("financials") or {}).items():
        if int(y) < as_of.year:
            assert after["financials"][y] == fy, f"past fiscal year {y} changed"
    for ch in plan["changes"]:
        if ch["field"].startswith("financials."):
            assert int(ch["field"].split(".")[1]) >= as_of.year
        assert ch["field"] != "niche_since"
    assert plan["total_cost"] == pytest.approx(sum(ch["cost"] for ch in plan["changes"]), abs=0.01)
    assert plan["as_of"] >= case["as_of"]
    for lang in ("zh", "en"):
        assert render_text(out, lang)


def test_every_failing_case_has_a_plan_or_a_reason():
    assert _failing(), "the shared cases include failing tiers"


def test_future_as_of_projects_the_prior_year():
    """R&D 2024 < 100万 fails R2026 SRDI in 2026; on 2027-01-01 the rule reads 2026 and 2025: the plan
    projects fiscal 2026 and supplies its development-quality score."""
    c = yaml.safe_load((CASES / "r2026-srdi-rd-each-year.yaml").read_text(encoding="utf-8"))
    out = make_plan(c["profile"], "2026-06-01", "srdi_sme")
    p = out["plan"]
    assert p["feasible"] and p["optimal"] and p["as_of"] == "2027-01-01"
    assert 2026 in p["projected_years"]
    assert [ch["field"] for ch in p["changes"] if ch["cost"]] == ["quality_score.2026"]
    assert "2026年" in render_text(out, "zh") and "2026:" in render_text(out, "en")


def test_title_chain_is_modelled():
    """R2026 SRDI needs a valid entry-tier title: the plan passes the entry tier first, and the
    title is granted months later (docs/planner.md)."""
    c = yaml.safe_load((CASES / "r2026-little-giant-pass.yaml").read_text(encoding="utf-8"))
    p = make_plan(c["profile"], "2026-06-01", "srdi_sme")["plan"]
    t = [ch for ch in p["changes"] if ch["field"] == "titles"]
    assert t and t[0]["to"]["type"] == "tech_innovative_sme" and t[0]["requires"][0]["tier"] == "tech_innovative_sme"
    assert t[0]["to"]["valid_from"] <= p["as_of"] and t[0]["requires"][0]["as_of"] >= "2026-06-01"
