"""Turn the contract assessment JSON into what the result page shows: tier verdicts, condition
rows with their depth, and the radar of the four dimensions (专业化 / 精细化 / 特色化 / 创新能力)."""
from __future__ import annotations

from typing import Any

DIMENSIONS = ("specialisation", "refinement", "distinctiveness", "innovation")

# Condition ids (hard-condition tiers) -> dimension; first matching prefix wins.
_PREFIX = [
    ("quality_score", "refinement"), ("rd_", "innovation"), ("ip", "innovation"), ("class1", "innovation"),
    ("fast_track", "innovation"), ("niche", "specialisation"), ("main_business", "specialisation"),
    ("main_product", "specialisation"), ("main_growth", "specialisation"), ("growth", "specialisation"),
    ("revenue_cagr", "specialisation"), ("product_field", "specialisation"), ("revenue", "refinement"),
    ("debt", "refinement"), ("digital", "refinement"), ("quality", "refinement"), ("net_margin", "refinement"),
    ("info_system", "refinement"), ("management", "refinement"), ("market", "distinctiveness"),
    ("domestic", "distinctiveness"), ("own_brand", "distinctiveness"), ("local", "distinctiveness"),
    ("key_field", "distinctiveness"), ("field_", "distinctiveness"), ("chain", "distinctiveness"),
]
_SKIP_KINDS = {"eligibility", "prerequisite", "exclusion", "route", "part", "bracket"}


def dimension_of(cond: dict) -> str | None:
    for key in (cond.get("group"), cond.get("id")):
        if key in DIMENSIONS:
            return key
    cid = str(cond.get("id") or "")
    for prefix, dim in _PREFIX:
        if cid.startswith(prefix):
            return dim
    return None


def radar_tier(result: dict) -> str:
    """The tier the radar shows: SRDI when scored (R2022) or not yet passed, else the little giant."""
    tiers = result.get("tiers") or {}
    s = tiers.get("srdi_sme") or {}
    if s.get("score_parts") or s.get("outcome") != "pass" or "little_giant" not in tiers:
        return "srdi_sme"
    return "little_giant"


def radar(result: dict, tier: str | None = None) -> dict:
    """Values 0..100 per dimension: the SRDI score parts over their maxima where the tier is scored
    (R2022), else the share of the tier's conditions met in each dimension."""
    tier = tier or radar_tier(result)
    t = (result.get("tiers") or {}).get(tier) or {}
    conds = t.get("conditions") or []
    values: dict[str, float | None] = {}
    how = "conditions"
    parts = t.get("score_parts") or {}
    if parts:
        how = "points"
        maxima = {c["id"]: c.get("max_points") for c in conds if c.get("kind") == "category"}
        for dim in DIMENSIONS:
            got, mx = parts.get(dim), maxima.get(dim)
            values[dim] = round(100 * float(got) / float(mx), 1) if got is not None and mx else None
    else:
        tally: dict[str, list[int]] = {d: [0, 0] for d in DIMENSIONS}
        ids_with_children = {c.get("group") for c in conds if c.get("group")}
        for c in conds:
            if c.get("kind") in _SKIP_KINDS or c.get("id") in ids_with_children:
                continue
            dim = dimension_of(c)
            if dim is None:
                continue
            tally[dim][1] += 1
            tally[dim][0] += c.get("outcome") == "pass"
        for dim, (ok, n) in tally.items():
            values[dim] = round(100 * ok / n, 1) if n else None
    return {"tier": tier, "how": how, "values": values}


def condition_rows(tier: dict) -> list[dict]:
    """Conditions in order with their nesting depth (a condition's group is its parent)."""
    conds = tier.get("conditions") or []
    depth: dict[str, int] = {}
    rows = []
    for c in conds:
        g = c.get("group")
        d = depth.get(g, -1) + 1 if g else 0
        depth[c.get("id")] = d
        rows.append({**c, "depth": min(d, 3)})
    return rows


def fmt_score(v: Any) -> str:
    if v is None:
        return ""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return str(int(f)) if f == int(f) else f"{f:.2f}".rstrip("0")
