"""Support measures: a dated, cited catalogue of what each tier unlocks (criteria.md §9).

The catalogue is data (srdi/support/catalogue/*.yaml): every measure has its tiers, kind
(grant / reward / loan / priority), amount in 万元 as printed, date, source keys of criteria.md
Appendix B with URLs, and the confidence mark. Amounts are illustrative: they change every year.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from srdi.i18n import name_pairs

TIERS_WITH_TITLES = {"provincial_srdi_sme": "srdi_sme", "little_giant": "little_giant",
                     "innovative_sme": "innovative_sme", "tech_innovative_sme": "tech_innovative_sme"}
KINDS = ("grant", "reward", "loan", "priority")
TIER_NAMES = {k: {"zh": zh, "en": en} for k, (zh, en) in name_pairs("tier_short").items()}  # i18n catalogue


class CatalogueError(ValueError):
    pass


@functools.lru_cache(maxsize=1)
def catalogue() -> list[dict]:
    """Every measure, with its scope (national / a province) merged in; checked on load."""
    out = []
    root = resources.files("srdi.support").joinpath("catalogue")
    for f in sorted(p for p in root.iterdir() if p.name.endswith(".yaml")):
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        scope = d.get("scope") or {}
        for m in d.get("measures", []):
            where = f"{f.name}:{m.get('id')}"
            for k in ("id", "title", "tiers", "kind", "source", "mark"):
                if k not in m:
                    raise CatalogueError(f"{where}: missing {k}")
            if m["kind"] not in KINDS:
                raise CatalogueError(f"{where}: kind must be one of {KINDS}")
            if m["mark"] not in ("C", "S", "U"):
                raise CatalogueError(f"{where}: mark must be C, S or U")
            if not m.get("urls"):
                raise CatalogueError(f"{where}: needs a source URL")
            if "date" not in m:
                raise CatalogueError(f"{where}: needs a date (null when the source gives none)")
            m["source"] = [str(x) for x in (m["source"] if isinstance(m["source"], list) else [m["source"]])]
            out.append({**m, "level": m.get("level", scope.get("level")), "province": scope.get("province"),
                        "file": f.name})
    ids = [m["id"] for m in out]
    if len(ids) != len(set(ids)):
        raise CatalogueError("duplicate measure ids in the support catalogue")
    return out


def measures_for(tier: str, province: str | None) -> list[dict]:
    """Measures a tier unlocks for a firm in `province` (national ones everywhere)."""
    tier = "srdi_sme" if tier == "srdi_sme" else tier
    return [m for m in catalogue() if tier in m["tiers"] and (m["province"] is None or m["province"] == province)
            and not m.get("superseded_by")]


def _show(m: dict, lang: str) -> dict:
    note = m.get("amount_note") or m.get("condition")
    return {
        "id": m["id"], "title": m["title"][lang], "kind": m["kind"], "level": m["level"],
        "province": m["province"], "city": m.get("city"), "district": m.get("district"),
        "amount_wan": m.get("amount_wan"), "up_to": bool(m.get("up_to")), "period_years": m.get("period_years"),
        "selective": bool(m.get("selective")), "note": note[lang] if isinstance(note, dict) else note,
        "date": None if m.get("date") is None else str(m["date"]), "source": m["source"], "urls": m["urls"],
        "mark": m["mark"],
    }


def summarise(ms: list[dict]) -> dict:
    """Headline figures (万元): the largest non-selective cash award (districts are alternatives,
    not a sum), the largest selective grant, the largest credit line."""
    cash = [m["amount_wan"] for m in ms if m["kind"] in ("reward", "grant") and not m["selective"] and m["amount_wan"]]
    sel = [m["amount_wan"] for m in ms if m["kind"] in ("reward", "grant") and m["selective"] and m["amount_wan"]]
    loans = [m["amount_wan"] for m in ms if m["kind"] == "loan" and m["amount_wan"]]
    return {"cash_max_wan": max(cash, default=0), "selective_grant_max_wan": max(sel, default=0),
            "credit_max_wan": max(loans, default=0), "count": len(ms)}


def _province(p: dict) -> str | None:
    prov = p.get("province")
    if prov and not str(prov).isdigit():
        try:
            from srdi.profile.codes import normalize_province

            prov = normalize_province(prov)
        except Exception:  # noqa: BLE001 - a name we cannot map: no provincial measures
            return None
    return prov


def support_for(profile: Any, as_of: Any, lang: str = "zh") -> dict:
    """What the firm gets now (titles held on as_of) and what each tier would add."""
    from srdi.engine.assess import assess_profile
    from srdi.engine.packs import parse_date

    if not hasattr(profile, "to_contract_dict"):
        from srdi.profile import validate_profile

        profile = validate_profile(profile)  # raises ProfileError naming the field
    p = profile.to_contract_dict()
    as_of = parse_date(as_of)
    prov = _province(p)
    res = assess_profile(p, as_of, "application", lang)
    held = set()
    for t in p.get("titles") or []:
        vf, vu = t.get("valid_from"), t.get("valid_until")
        if t.get("type") in TIERS_WITH_TITLES and (vf is None or parse_date(vf) <= as_of) and (vu is None or as_of <= parse_date(vu)):
            held.add(TIERS_WITH_TITLES[t["type"]])
    if "little_giant" in held:
        held.add("srdi_sme")
    now_ids: set[str] = set()
    now: list[dict] = []
    for tier in sorted(held):
        for m in measures_for(tier, prov):
            if m["id"] not in now_ids:
                now_ids.add(m["id"])
                now.append(_show(m, lang))
    tiers = {}
    for tier, t in res["tiers"].items():
        adds = [_show(m, lang) for m in measures_for(tier, prov) if m["id"] not in now_ids]
        tiers[tier] = {"name": TIER_NAMES.get(tier, {}).get(lang, tier), "outcome": t["outcome"],
                       "held": tier in held, "adds": adds, "summary": summarise(adds)}
    return {
        "as_of": as_of.isoformat(), "province": prov, "regime": res["regime"],
        "now": now, "now_summary": summarise(now), "tiers": tiers,
        "note": {"zh": "金额为公开来源所载（万元），每年变化，仅供参考；区级奖励互为替代，不可相加。",
                 "en": "Amounts (万元) as printed in public sources; they change every year and are illustrative; "
                       "district awards are alternatives, not a sum."}[lang],
    }
