"""Regime selection by as-of date and mode (criteria.md §0.3) and the yearly notices (§0.4)."""
import copy
import datetime as dt

import pytest
import yaml

from conftest import CASES_DIR
from srdi.engine.assess import assess_profile
from srdi.engine.packs import choose_regime, resolve_pack

D = dt.date


@pytest.mark.parametrize("as_of,mode,regime,lg_pack", [
    (D(2022, 8, 1), "application", "R2022", "r2022.little_giant"),
    (D(2026, 3, 31), "application", "R2022", "r2022.little_giant"),
    (D(2026, 4, 1), "application", "R2026", "r2026.little_giant"),
    (D(2026, 6, 1), "review", "R2026", "r2022.little_giant"),  # 117号: 2026 reviews under R2022
    (D(2027, 6, 1), "review", "R2026", "r2026.little_giant"),
])
def test_regime_choice(as_of, mode, regime, lg_pack):
    ch = choose_regime(as_of, mode)
    assert ch.regime == regime
    assert ch.tiers["little_giant"][0] == lg_pack


def test_before_measures_is_refused():
    with pytest.raises(ValueError, match="2022-08-01"):
        choose_regime(D(2022, 7, 31), "application")


def test_r2026_tiers():
    ch = choose_regime(D(2026, 4, 1), "application")
    assert set(ch.tiers) == {"tech_innovative_sme", "srdi_sme", "little_giant"}
    assert set(choose_regime(D(2026, 3, 31), "application").tiers) == {"innovative_sme", "srdi_sme", "little_giant"}


def base_lg():
    """An R2022 little giant that passes everything (from the R2026 shared case, adapted)."""
    case = yaml.safe_load((CASES_DIR / "r2026-little-giant-pass.yaml").read_text(encoding="utf-8"))
    p = copy.deepcopy(case["profile"])
    p["financials"] = {2024 + k - 2025: v for k, v in p["financials"].items()}  # shift years: 2023..2025 -> 2022..2024
    p["titles"][0]["valid_until"] = "2027-12-31"
    p["quality"]["own_brand"] = True
    p["financials"][2024]["operating_revenue"] = 120_000_000  # >= 1亿 bracket: >= 3% each year
    p["financials"][2024]["main_business_revenue"] = 110_000_000
    p["financials"][2023].update(operating_revenue=105_000_000, main_business_revenue=100_000_000)
    p["financials"][2022].update(operating_revenue=100_000_000, main_business_revenue=95_000_000)
    p["financials"][2024]["main_product_revenue"] = 80_000_000
    p["financials"][2024]["rd_expense"] = 6_500_000
    p["rd_institution_joint"] = False
    p["maker_china"] = None
    p.pop("maker_china")
    return p


def lg(p, as_of, mode="application"):
    return assess_profile(p, as_of, mode)["tiers"]["little_giant"]


def cond(t, cid):
    return next(c for c in t["conditions"] if c["id"] == cid)


def test_base_little_giant_passes_r2022():
    t = lg(base_lg(), "2025-06-01")
    assert t["regime"] == "R2022"
    assert t["outcome"] == "pass", [(c["id"], c["outcome"]) for c in t["conditions"] if c["outcome"] != "pass"]


def test_growth_waived_for_reviews_2024_and_2025_only():
    p = base_lg()
    p["financials"][2024]["main_business_revenue"] = 100_000_000  # growth ~2.6% < 5%
    for as_of in ("2024-06-01", "2025-06-01"):
        y = int(as_of[:4])
        q = copy.deepcopy(p)
        if y == 2024:  # shift so that y-1 = 2023 holds the slow year
            q["financials"] = {k - 1: v for k, v in q["financials"].items()}
            q["financials"][2020] = q["financials"][2021]
        assert cond(lg(q, as_of, "application"), "growth_2y")["outcome"] == "fail"
        rv = lg(q, as_of, "review")
        assert cond(rv, "growth_2y")["outcome"] == "pass" and cond(rv, "growth_2y").get("waived")
    # 2026 reviews use R2022 Annex 3 without the waiver (not stated to continue [U])
    q = copy.deepcopy(p)
    q["financials"] = {k + 1: v for k, v in q["financials"].items()}
    q["titles"][0]["valid_until"] = "2028-12-31"
    t = lg(q, "2026-06-01", "review")
    assert t["regime"] == "R2022" and cond(t, "growth_2y")["outcome"] == "fail"


def test_2025_revenue_floor_edge():
    p = base_lg()
    p["financials"][2024].update(operating_revenue="49999999.99", main_business_revenue="45000000",
                                 main_product_revenue="30000000", total_costs=None)
    p["financials"][2024].pop("total_costs")
    t = lg(p, "2025-06-01")
    assert cond(t, "revenue_not_below_50m_2025")["outcome"] == "fail" and t["outcome"] == "fail"
    p["financials"][2024]["operating_revenue"] = 50_000_000  # exactly 5000万 is not "低于5000万"
    t = lg(p, "2025-06-01")
    assert cond(t, "revenue_not_below_50m_2025")["outcome"] == "pass"
    # the exclusion does not exist in 2024
    assert not any(c["id"] == "revenue_not_below_50m_2025" for c in lg(p, "2024-06-01")["conditions"])


def test_2025_closes_below_50m_bracket():
    ids_2024 = [n.id for n in resolve_pack("r2022.little_giant", 2024, "application").walk()]
    ids_2025 = [n.id for n in resolve_pack("r2022.little_giant", 2025, "application").walk()]
    assert "rd_bracket_below_50m" in ids_2024 and "rd_bracket_below_50m" not in ids_2025


def test_r2026_review_skips_cagr_and_takes_either_quality_year():
    case = yaml.safe_load((CASES_DIR / "r2026-little-giant-pass.yaml").read_text(encoding="utf-8"))
    p = copy.deepcopy(case["profile"])
    p["financials"][2025]["operating_revenue"] = 54_000_000  # CAGR ~0.6% < 5%
    p["financials"][2025]["main_business_revenue"] = 50_000_000
    p["quality_score"] = {2025: 55, 2024: 61}
    app = assess_profile(p, "2027-06-01" if False else "2026-06-01", "application")["tiers"]["little_giant"]
    assert cond(app, "revenue_cagr_2y")["outcome"] == "fail"
    assert cond(app, "quality_score")["outcome"] == "fail"  # 55 < 60 in y-1
    p["titles"][0]["valid_until"] = "2027-12-31"
    p["financials"] = {k + 1: v for k, v in p["financials"].items()}
    p["quality_score"] = {2026: 55, 2025: 61}
    rv = assess_profile(p, "2027-06-01", "review")["tiers"]["little_giant"]
    assert rv["regime"] == "R2026"
    assert cond(rv, "revenue_cagr_2y").get("waived") and cond(rv, "revenue_cagr_2y")["outcome"] == "pass"
    assert cond(rv, "quality_score")["outcome"] == "pass"  # 61 >= 60 in y-2
    p["quality_score"] = {2026: 55}
    rv = assess_profile(p, "2027-06-01", "review")["tiers"]["little_giant"]
    assert cond(rv, "quality_score")["outcome"] == "undetermined"
    assert "quality_score.2025" in cond(rv, "quality_score")["missing"]


def test_every_title_is_exactly_zh_and_en():
    """A flow-mapping title with an unquoted comma splits into extra keys; the loader refuses it."""
    from srdi.engine.packs import PACK_FILES, load_pack, local_packs

    for pid in PACK_FILES:
        for n in load_pack(pid).walk():
            assert set(n.title) == {"zh", "en"} and n.title["en"], (pid, n.id, n.title)
    for lp in local_packs().values():
        for n in lp["nodes"]:
            assert set(n.title) == {"zh", "en"}
