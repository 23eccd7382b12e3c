"""The pathway planner: the minimum-cost changes that make a tier pass, and when.

    from srdi.planner import make_plan
    plan = make_plan(profile, "2025-05-01", "srdi_sme")
    plan["plan"]["changes"], plan["plan"]["as_of"], plan["plan"]["total_cost"]

See docs/planner.md for the model (levers, levels, costs, time) and the search.
"""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

from srdi.i18n import name_pairs

from .costs import CostModelError, load_costs

__all__ = ["make_plan", "render_text", "CostModelError", "load_costs", "TIERS"]

ALT_BUDGET = 3_000  # engine rows for each alternative search
TIERS = ("innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant")
PRIMARY = {
    "rd_spend": "rd_expense", "rd_hire": "rd_employees", "growth": "main_business_revenue", "shed": "operating_revenue",
    "debt": "total_liabilities",
}
LEVER_NAMES = {
    "rd_spend": {"zh": "增加研发投入", "en": "raise R&D spending"},
    "rd_hire": {"zh": "招聘研发人员", "en": "hire R&D staff"},
    "growth": {"zh": "扩大主营业务收入", "en": "grow main-business revenue"},
    "shed": {"zh": "剥离非主营业务收入", "en": "drop non-core revenue"},
    "debt": {"zh": "以新增实收资本偿还负债", "en": "repay debt from new paid-in capital"},
    "quality_score": {"zh": "提升专精特新发展质量评价得分", "en": "raise the development-quality score"},
    "ip_class1": {"zh": "新增自主研发并实际应用的Ⅰ类知识产权", "en": "add self-developed Class-I IP in use"},
    "ip_high_value": {"zh": "取得高价值Ⅰ类知识产权", "en": "obtain a high-value Class-I patent"},
    "ip_class2": {"zh": "新增Ⅱ类知识产权", "en": "add Class-II IP"},
    "ip_apply": {"zh": "将已有Ⅰ类知识产权投入应用并产生效益", "en": "put existing Class-I IP into use"},
    "digital_level": {"zh": "提升数字化水平等级", "en": "raise the digitalisation level"},
    "rd_institution": {"zh": "建立/升级研发机构", "en": "set up or upgrade the R&D institution"},
    "quality.quality_system_certified": {"zh": "取得ISO 9001等质量管理体系认证", "en": "obtain ISO 9001 certification"},
    "quality.own_brand": {"zh": "建立自主品牌", "en": "build an own brand"},
    "quality.standards_drafting": {"zh": "参与制修订标准", "en": "take part in drafting a standard"},
    "quality.provincial_quality_award": {"zh": "获得省级以上质量奖", "en": "win a provincial quality award"},
    "management_cert_or_foreign_product_cert": {"zh": "取得管理体系认证或发达国家产品认证", "en": "obtain a management or foreign product certificate"},
    "info_system_core_business": {"zh": "核心业务上信息系统", "en": "run a core business on an information system"},
    "market_position_declared": {"zh": "声明细分市场领先地位（须属实）", "en": "declare the leading niche position (must be true)"},
    "high_tech_enterprise": {"zh": "申请高新技术企业认定", "en": "obtain the High-Tech Enterprise certificate"},
    "title": {"zh": "先通过下一层级并获得称号", "en": "pass the lower tier first and obtain its title"},
}
TIER_NAMES = {k: {"zh": zh, "en": en} for k, (zh, en) in name_pairs("tier_short").items()}  # i18n catalogue


def _yuan(fen: int) -> Any:
    d = Decimal(fen) / 100
    return int(d) if d == d.to_integral_value() else float(d)


def _contract_value(path: str, v: Any) -> Any:
    from srdi.engine.measures import path_kind

    if v is None:
        return None
    k = path_kind(path) if path != "titles" else "titles"
    if k == "money":
        return _yuan(v)
    if k == "scaled":
        d = Decimal(v) / 10_000
        return int(d) if d == d.to_integral_value() else float(d)
    return v


def _set(p: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    if parts[0] in ("financials", "quality_score"):
        d = p.setdefault(parts[0], {})
        if parts[0] == "quality_score":
            d[int(parts[1])] = value
            return
        d.setdefault(int(parts[1]), {})[parts[2]] = value
        return
    d = p
    for x in parts[:-1]:
        d = d.setdefault(x, {})
    d[parts[-1]] = value


def _iso(x):
    if isinstance(x, dict):
        return {k: _iso(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_iso(v) for v in x]
    if isinstance(x, (dt.date,)):
        return x.isoformat()
    if isinstance(x, Decimal):
        return int(x) if x == x.to_integral_value() else float(x)
    return x


def _build(found, planner, contract: dict, lang: str) -> dict:
    from .levers import apply_actions

    T = found.date
    rowT, projected = planner.row_for(T.year)
    after = apply_actions(rowT, found.actions, T, planner.costs["levers"])
    by_field: dict[str, list] = {}
    for a in found.actions:
        if a.lever in PRIMARY:
            f = f"financials.{a.year}.{PRIMARY[a.lever]}"
        elif a.lever == "quality_score":
            f = f"quality_score.{a.year}"
        elif a.lever in ("ip_class1", "ip_high_value"):
            f = "ip.class1" if a.lever == "ip_class1" else "ip.class1_high_value"
        elif a.lever == "ip_class2":
            f = "ip.class2"
        elif a.lever == "ip_apply":
            f = "ip.class1_applied_with_benefit"
        elif a.lever in ("title", "high_tech_enterprise"):
            f = "titles"
        else:
            f = a.lever
        by_field.setdefault(f, []).append(a)
    changes = []
    keys = sorted(k for k in set(after) | set(rowT) if after.get(k) != rowT.get(k))
    for k in keys:
        acts = by_field.get(k, [])
        if k == "titles":
            new = [t for t in after.get("titles") or [] if t not in (rowT.get("titles") or [])]
            for a in acts:
                for t in a.amount:
                    changes.append({"field": "titles", "from": None, "to": _iso(t), "year": t["valid_from"].year,
                                    "effective": t["valid_from"].isoformat(), "cost": _yuan(a.cost),
                                    "lever": a.lever, "reason": _reason(a, lang),
                                    "requires": [{"tier": t0, "as_of": T0.isoformat()} for t0, T0 in a.checks]})
            continue
        year = int(k.split(".")[1]) if k.startswith(("financials.", "quality_score.")) else None
        eff = min((a.eff for a in acts if a.eff), default=None)
        ch = {"field": k, "from": _contract_value(k, rowT.get(k)), "to": _contract_value(k, after.get(k)),
              "year": year if year is not None else (eff.year if eff else T.year),
              "cost": _yuan(sum(a.cost for a in acts)),
              "lever": acts[0].lever if acts else None,
              "reason": "; ".join(_reason(a, lang) for a in acts) if acts else
              {"zh": "连带变化（由其他调整引起）", "en": "side effect of the other changes"}[lang]}
        if eff:
            ch["effective"] = eff.isoformat()
        changes.append(ch)
    changes.sort(key=lambda c: (c["year"], c["cost"] == 0, c["field"]))
    # profile_after: the contract with projected years and every change
    p = copy.deepcopy(contract)
    for k in keys:
        if k == "titles":
            p["titles"] = list(p.get("titles") or []) + [t for t in after["titles"] if t not in (rowT.get("titles") or [])]
        else:
            _set(p, k, _contract_value(k, after.get(k)))
    for y in projected:
        for k, v in rowT.items():
            if k.startswith(f"financials.{y}.") and k not in keys:
                _set(p, k, _contract_value(k, v))
    return {"target": found.tier, "as_of": T.isoformat(), "total_cost": _yuan(found.cost),
            "changes": changes, "projected_years": projected, "profile_after": _iso(p)}


def _reason(a, lang: str) -> str:
    name = LEVER_NAMES.get(a.lever, {}).get(lang, a.lever)
    if a.lever == "title":
        parts = [f"{TIER_NAMES.get(t0, {}).get(lang, t0)} @ {T0.isoformat()}" for t0, T0 in a.checks]
        return f"{name}: " + ", ".join(parts)
    return name


def make_plan(profile: Any, as_of: Any, target: str, mode: str = "application", horizon: int = 3,
              costs: Any = None, lang: str = "zh", alternatives: int = 3) -> dict:
    """The minimum-cost plan (JSON-ready dict) that makes `target` pass; see the module doc."""
    from srdi.engine.assess import assess_profile
    from srdi.engine.frame import profile_row
    from srdi.engine.packs import parse_date
    from srdi.profile import validate_profile

    from .search import Planner

    if target not in TIERS:
        raise ValueError(f"target: unknown tier {target!r}; one of {', '.join(TIERS)}")
    if lang not in ("zh", "en"):
        raise ValueError("lang must be zh or en")
    contract = profile.to_contract_dict() if hasattr(profile, "to_contract_dict") else validate_profile(profile).to_contract_dict()
    as_of = parse_date(as_of)
    cm = load_costs(costs) if not (isinstance(costs, dict) and "levers" in costs and "titles" in costs) else costs
    planner = Planner(profile_row(contract), as_of, target, mode, int(horizon), cm)
    found, results = planner.run()
    out: dict = {"contract": 1, "enterprise": contract.get("name"), "start": as_of.isoformat(), "mode": mode,
                 "horizon": int(horizon)}
    optimal = all(r.complete for r in results)
    if not found:
        planner.full_blocked(results)
        blocks = [{"as_of": r.date.isoformat(), "tier": r.tier,
                   "conditions": [{"id": i, "title": t.get(lang, i)} for i, t in r.blocked]} for r in results]
        out["plan"] = {"target": target, "feasible": False, "as_of": None, "total_cost": None, "changes": [],
                       "profile_after": None, "optimal": optimal, "blocked": blocks,
                       "unblocked_from": _unblocked_from(planner, results)}
        out["alternatives"] = []
        return out
    found.sort(key=lambda f: (f.cost, f.date))
    best = found[0]
    plan = _build(best, planner, contract, lang)
    check = assess_profile(validate_profile(plan["profile_after"]).to_contract_dict(), best.date, mode, lang)
    plan["verified"] = check["tiers"][best.tier]["outcome"] == "pass"
    plan["feasible"] = True
    plan["optimal"] = optimal
    plan["regime"] = check["tiers"][best.tier]["regime"]
    plan["benefit"] = _benefit(contract, best.tier, lang)
    out["plan"] = plan
    alts, sigs = [], [best.signature]
    fastest = min(found, key=lambda f: (f.date, f.cost))
    pool = ([fastest] if fastest.date < best.date else []) + found[1:]
    # distinct alternatives: the cheapest plan without each lever the best plan uses (costliest first)
    used = []
    for a in sorted(best.actions, key=lambda a: -a.cost):
        if a.lever not in used:
            used.append(a.lever)
    for lever in used[:alternatives]:
        p2 = Planner(planner.row, as_of, target, mode, int(horizon), cm, exclude=frozenset([lever]), ev=planner.ev)
        p2.row_budget = ALT_BUDGET
        f2, _ = p2.run()
        if f2:
            pool.append(min(f2, key=lambda f: (f.cost, f.date)))
    pool.sort(key=lambda f: (f.cost, f.date))
    if fastest.date < best.date:
        pool.insert(0, fastest)
    for f in pool:
        if len(alts) >= alternatives:
            break
        if any(f.signature >= s_ for s_ in sigs):
            continue
        sigs.append(f.signature)
        a = _build(f, planner, contract, lang)
        a["feasible"] = True
        a["verified"] = assess_profile(validate_profile(a["profile_after"]).to_contract_dict(), f.date, mode,
                                       lang)["tiers"][f.tier]["outcome"] == "pass"
        a.pop("profile_after")
        alts.append(a)
    out["alternatives"] = alts
    return out


def _benefit(contract: dict, tier: str, lang: str) -> dict:
    try:
        from srdi.support import _province, _show, measures_for, summarise

        ms = [_show(m, lang) for m in measures_for(tier, _province(contract))]
        return {"summary": summarise(ms), "measures": [{k: m[k] for k in ("id", "title", "kind", "amount_wan", "date", "mark")}
                                                       for m in ms]}
    except Exception:  # noqa: BLE001 - support data must never break a plan
        return {}


def _unblocked_from(planner, results) -> Any:
    """Beyond the horizon: the first 1 January (up to 10 years on) at which no top-level
    condition is blocked on the projected baseline."""
    last = results[-1].date if results else planner.as_of
    static = _static_blocks(planner, results[-1]) if results else []
    for y in range(last.year + 1, last.year + 11):
        T = dt.date(y, 1, 1)
        if static and _still_blocked(planner, T, *static):
            continue
        st = planner.setup(T)
        if st is None:
            continue
        tier, rowT, levers = st
        if not planner.blocked(tier, T, rowT, levers, any_=True):
            return T.isoformat()
    return None


_DATED = ("niche_since", "titles", "awards", "equity_financing", "standards_led", "digital_level", "rd_institution")


def _static_blocks(planner, r) -> list:
    """(tier, [nodes]) of the last date's blocking conditions that read only undated profile
    facts no lever changes (group links, compliance, product field, ...): with the same node
    in the pack of a later date, such a condition has the same value there (still blocked)."""
    from .levers import BOOL_LEVERS, pack_for

    if not r.blocked or r.tier is None:
        return []
    failing = {f[0]: f[2] for f in planner.analyse(r.tier, r.date, planner.row_for(r.date.year)[0], planner.mode)[0]}
    pack = pack_for(r.tier, r.date, planner.mode)
    nodes = []
    for i, _ in r.blocked:
        inputs = failing.get(i)
        if not inputs or any(x.startswith(("financials.", "quality_score.", "ip.", "maker_china."))
                             or x in _DATED or x in BOOL_LEVERS for x in inputs):
            continue
        n = _top_node(pack, i)
        if n is not None:
            nodes.append(n)
    return [(r.tier, nodes)] if nodes else []


def _top_node(pack, cid: str):
    for kind, nodes in pack.sections():
        if kind in ("category", "route"):
            continue
        for n in nodes:
            if n.id == cid:
                return n
    return None


def _still_blocked(planner, T: dt.date, spec) -> bool:
    from .levers import pack_for
    from .search import tier_at

    tier0, nodes = spec
    tier = tier_at(planner.target, T, planner.mode)
    if tier != tier0:
        return False
    pack = pack_for(tier, T, planner.mode)
    return any(_top_node(pack, n.id) == n for n in nodes)


def render_text(plan: dict, lang: str = "zh") -> str:
    """A year-by-year action list."""
    zh = lang == "zh"
    p = plan["plan"]
    tier = TIER_NAMES.get(p["target"], {}).get(lang, p["target"])
    lines = []
    if not p["feasible"]:
        lines.append(f"{'目标' if zh else 'Target'}: {tier} — {'在规划期内无法达到' if zh else 'not reachable within the horizon'}")
        groups: list = []  # consecutive dates with the same blocking conditions
        for b in p.get("blocked", []):
            conds = ("；" if zh else "; ").join(c["title"] for c in b["conditions"])
            if groups and groups[-1][2] == conds:
                groups[-1][1] = b["as_of"]
            else:
                groups.append([b["as_of"], b["as_of"], conds])
        for a, z, conds in groups:
            span = a if a == z else f"{a} .. {z}"
            lines.append(f"  {span}: " + ((("受阻于 " if zh else "blocked by ") + conds) if conds else
                                          ("无可行组合" if zh else "no passing combination of the levers")))
        if p.get("unblocked_from"):
            lines.append(f"{'最早可能' if zh else 'Could be possible from'}: {p['unblocked_from']}")
        return "\n".join(lines)
    wan = lambda v: f"{v / 10000:,.2f}万元" if zh else f"¥{v / 10000:,.2f}万"  # noqa: E731
    lines.append(f"{'目标' if zh else 'Target'}: {tier}  {'达标日期' if zh else 'passes on'} {p['as_of']}  "
                 f"{'总成本' if zh else 'total cost'} {wan(p['total_cost'])}"
                 + ("" if p.get("optimal", True) else ("（搜索预算内最优）" if zh else " (best within the search budget)")))
    by_year: dict = {}
    for c in p["changes"]:
        by_year.setdefault(c["year"], []).append(c)
    if not by_year:
        lines.append("  " + ("无需调整：已满足条件" if zh else "No change needed: the tier already passes"))
    for y in sorted(by_year):
        lines.append(f"{y}{'年' if zh else ''}:")
        for c in by_year[y]:
            if c["field"] == "titles":
                what = f"{c['reason']} → {c['to']['type']} {c['to']['valid_from']}..{c['to']['valid_until']}"
            else:
                fv = lambda v: "—" if v is None else (wan(v) if isinstance(v, (int, float)) and abs(v) >= 10000 and "employees" not in c["field"] and not c["field"].startswith(("ip.", "quality_score", "digital")) else str(v))  # noqa: E731
                what = f"{c['reason']}: {c['field']} {fv(c['from'])} → {fv(c['to'])}"
            cost = f"  [{wan(c['cost'])}]" if c["cost"] else ""
            lines.append(f"  - {what}{cost}")
    b = p.get("benefit", {}).get("summary")
    if b:
        lines.append(("可获支持（示例）" if zh else "Support unlocked (illustrative)")
                     + f": {'现金最高' if zh else 'cash up to'} {b['cash_max_wan']}万, "
                     + f"{'重点遴选资金' if zh else 'selective grant'} {b['selective_grant_max_wan']}万, "
                     + f"{'授信最高' if zh else 'credit up to'} {b['credit_max_wan']}万")
    for i, a in enumerate(plan.get("alternatives", []), 1):
        lines.append(f"{'备选' if zh else 'Alternative'} {i}: {a['as_of']}  {wan(a['total_cost'])}  "
                     + ", ".join(sorted({c['reason'] for c in a['changes'] if c['cost']})))
    return "\n".join(lines)
