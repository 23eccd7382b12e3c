"""Hypothesis strategies: valid contract profiles with plausible, edge-heavy values."""
from hypothesis import strategies as st

BOOL = st.booleans()
YEARS = (2021, 2022, 2023, 2024, 2025)


def money(lo=0, hi=400_000_000):
    # whole yuan mostly, sometimes with fen; edge values (round thresholds) often
    return st.one_of(st.integers(lo, hi), st.sampled_from([0, 1_000_000, 10_000_000, 15_000_000, 50_000_000, 100_000_000]),
                     st.integers(lo * 100, hi * 100).map(lambda f: f"{f // 100}.{f % 100:02d}"))


@st.composite
def financial_year(draw):
    rev = draw(st.integers(0, 300_000_000))
    main = draw(st.integers(0, rev)) if draw(st.booleans()) else rev * draw(st.sampled_from([50, 60, 70, 80, 90, 100])) // 100
    emp = draw(st.integers(1, 1200))
    assets = draw(st.integers(1, 400_000_000))
    fy = {
        "operating_revenue": rev,
        "main_business_revenue": main,
        "main_product_revenue": draw(st.integers(0, rev)),
        "rd_expense": draw(st.one_of(st.integers(0, max(rev // 5, 1)), st.sampled_from([rev * 3 // 100, 1_000_000]))),
        "net_profit": draw(st.integers(-rev // 5 - 1, rev // 4 + 1)),
        "total_assets": assets,
        "total_liabilities": draw(st.integers(0, assets * 2)),
        "employees": emp,
        "rd_employees": draw(st.integers(0, emp)),
        "tech_employees": draw(st.integers(0, emp)),
        "total_costs": draw(st.integers(1, max(rev, 1) * 2)),
    }
    drop = draw(st.sets(st.sampled_from(sorted(fy)), max_size=2))
    return {k: v for k, v in fy.items() if k not in drop}


@st.composite
def profiles(draw, as_of_year=2025):
    y = as_of_year
    c1 = draw(st.integers(0, 8))
    p = {
        "name": "测试企业",
        "province": draw(st.sampled_from(["330000", "370000", "510000", "440000", "110000"])),
        "industry": draw(st.sampled_from(["C3484", "C3562", "I6510", "F5123", "M7320"])),
        "niche_since": f"{draw(st.integers(y - 14, y))}-{draw(st.integers(1, 12)):02d}-01",
        "financials": {yr: draw(financial_year()) for yr in range(y - 3, y)},
        "ip": {"class1": c1, "class1_self_developed": draw(st.integers(0, c1)), "class1_high_value": draw(st.integers(0, c1)),
               "class2": draw(st.integers(0, 12)), "class1_applied_with_benefit": draw(st.integers(0, c1))},
        "rd_institution": draw(st.sampled_from(["national", "provincial", "municipal", "below_municipal", "none"])),
        "rd_institution_joint": draw(BOOL),
        "digital_level": draw(st.integers(1, 4)),
        "quality": {k: draw(BOOL) for k in ("provincial_quality_award", "quality_system_certified", "own_brand", "standards_drafting")},
        "product_field": {k: draw(BOOL) for k in ("strategic_emerging", "chain_gap_filling", "six_foundations", "little_giant_key_field")},
        "market_share_pct": draw(st.sampled_from([0, 2.5, 9.9999, 10, 12, 30])),
        "market_position_declared": draw(BOOL),
        "domestic_rank": draw(st.integers(1, 20)),
        "management_cert_or_foreign_product_cert": draw(BOOL),
        "info_system_core_business": draw(BOOL),
        "compliance": {k: draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()) for k in (
            "abnormal_operations_list", "serious_dishonesty_list", "prohibited_or_eliminated_products",
            "major_incident_3y", "tax_violation_3y", "data_fraud")},
        "group": {"holding_link_to_little_giant": False, "same_group_similar_product": draw(BOOL) and draw(BOOL)},
        "titles": draw(st.lists(st.fixed_dictionaries({
            "type": st.sampled_from(["innovative_sme", "tech_innovative_sme", "provincial_srdi_sme", "high_tech_enterprise", "single_champion"]),
            "valid_from": st.sampled_from([f"{y - 3}-01-01", f"{y - 1}-06-01"]),
            "valid_until": st.sampled_from([f"{y}-12-31", f"{y + 2}-05-31", f"{y - 1}-12-31"])}), max_size=3)),
        "awards": draw(st.lists(st.fixed_dictionaries({
            "level": st.sampled_from(["national", "provincial"]), "year": st.integers(y - 6, y), "rank": st.integers(1, 8)}), max_size=2)),
        "equity_financing": draw(st.lists(st.fixed_dictionaries({
            "date": st.sampled_from([f"{y - 1}-03-01", f"{y - 2}-09-30", f"{y - 4}-01-01"]),
            "amount": st.sampled_from([5_000_000, 20_000_000, 60_000_000, 80_000_000]), "qualified_investor": BOOL}), max_size=2)),
        "standards_led": draw(st.lists(st.fixed_dictionaries({
            "level": st.sampled_from(["international", "national", "industry"]), "year": st.integers(y - 7, y)}), max_size=1)),
        "quality_score": {y - 1: draw(st.integers(30, 90)), y - 2: draw(st.integers(30, 90))},
        "local_score": draw(st.sampled_from([0, 5, 9, 12.5, 15])),
    }
    if draw(st.booleans()):
        p["maker_china"] = {"year": draw(st.integers(y - 4, y)), "group": draw(st.sampled_from(["top50", "top500"]))}
    if p["province"] == "370000" and draw(st.booleans()):
        p["local_indicators"] = {"key_field": draw(st.sampled_from(["plan_and_chain", "city", "none"])),
                                 "innovative_items": draw(st.integers(0, 3)), "listing": draw(st.sampled_from(["listed", "none"]))}
    return p


def drop_path(p, path):
    """A copy of profile p without the field at dotted path."""
    import copy

    q = copy.deepcopy(p)
    parts = path.split(".")
    cur = q
    for k in parts[:-1]:
        cur = cur[int(k)] if k.isdigit() and int(k) in cur else cur[k]
    last = parts[-1]
    cur.pop(int(last) if last.isdigit() and int(last) in cur else last, None)
    return q


def leaf_paths(p, prefix=""):
    out = []
    for k, v in p.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out += leaf_paths(v, path + ".")
        elif k != "name":
            out.append(path)
    return out
