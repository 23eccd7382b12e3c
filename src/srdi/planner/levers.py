"""Levers: the changes a firm can make, their discrete levels, costs and effects.

Everything here works on engine rows (srdi.engine.frame.profile_row: money in integer fen,
percent/score inputs x 10^4). The levels of every lever are read from the rule packs that judge
the target (thresholds and band edges of `resolve_pack(...)` nodes), never hard-coded: a level is
the smallest change that reaches one threshold, in one context of the other levers.

Every action is additive (it adds amounts or switches a field on), so that actions commute and a
plan is a set of (lever, level) choices whose cost is the sum of the levels' costs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable

from srdi.engine.measures import FEN, SCALE4
from srdi.engine.packs import Node, Pack, choose_regime, resolve_pack
from srdi.engine.syntax import Test

from . import amounts

FIN = "financials.{y}.{f}"
INST_RANK = {"none": 0, None: 0, "below_municipal": 1, "municipal": 2, "provincial": 3, "national": 4}
INST_ORDER = ["below_municipal", "municipal", "provincial", "national"]
BOOL_LEVERS = ("quality.quality_system_certified", "quality.own_brand", "quality.standards_drafting",
               "quality.provincial_quality_award", "management_cert_or_foreign_product_cert",
               "info_system_core_business", "market_position_declared")
TITLE_OF_TIER = {"innovative_sme": "innovative_sme", "tech_innovative_sme": "tech_innovative_sme",
                 "srdi_sme": "provincial_srdi_sme", "little_giant": "little_giant"}


def fin(y: int, f: str) -> str:
    return f"financials.{y}.{f}"


def add_months(d: dt.date, m: int) -> dt.date:
    y, mo = divmod(d.month - 1 + int(m), 12)
    y += d.year
    mo += 1
    days = [31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return dt.date(y, mo, min(d.day, days[mo - 1]))


def ceil_frac(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def floor_frac(x: Fraction) -> int:
    return x.numerator // x.denominator


# ------------------------------------------------------------------------------ actions
@dataclass(frozen=True)
class Action:
    """One level of one lever: what it changes, what it costs (fen), from when it counts."""

    lever: str
    year: int | None  # fiscal year of a financial lever
    amount: Any  # fen / persons / points x 10^4 / target level / title dict
    cost: int  # fen
    eff: dt.date | None = None  # non-financial: counts from this date
    checks: tuple = ()  # title chain: ((tier, as_of), ...) that must pass for the title
    label: str = ""

    @property
    def key(self) -> tuple:
        return (self.lever, self.year)


def _get(row: dict, k: str, default=0):
    v = row.get(k)
    return default if v is None else v


def apply_actions(row: dict, actions: Iterable[Action], at: dt.date, params: dict) -> dict:
    """A copy of `row` with the actions applied (non-financial ones only from their date)."""
    r = dict(row)
    for a in actions:
        if a is None:
            continue
        if a.eff is not None and a.eff > at:
            continue
        y, lv = a.year, a.lever
        if lv == "rd_spend":
            _add(r, fin(y, "rd_expense"), a.amount)
            _add(r, fin(y, "net_profit"), -a.amount)
            _add_if(r, fin(y, "total_costs"), a.amount)
        elif lv == "rd_hire":
            sal = int(params["rd_hire"]["salary"]) * FEN * a.amount
            for f in ("employees", "rd_employees"):
                _add(r, fin(y, f), a.amount)
            _add_if(r, fin(y, "tech_employees"), a.amount)
            _add(r, fin(y, "rd_expense"), sal)
            _add(r, fin(y, "net_profit"), -sal)
            _add_if(r, fin(y, "total_costs"), sal)
        elif lv == "growth":
            d = a.amount
            for f in ("main_business_revenue", "operating_revenue"):
                _add(r, fin(y, f), d)
            _add_if(r, fin(y, "main_product_revenue"), d)
            orv, npf = row.get(fin(y, "operating_revenue")), row.get(fin(y, "net_profit"))
            gain = floor_frac(Fraction(d) * Fraction(npf, orv)) if orv and npf is not None else 0
            _add(r, fin(y, "net_profit"), gain)
            _add_if(r, fin(y, "total_costs"), d - gain)
        elif lv == "shed":
            s = a.amount
            lost = floor_frac(Fraction(s) * Fraction(str(params["shed"]["cost_rate"])))
            _add(r, fin(y, "operating_revenue"), -s)
            _add(r, fin(y, "net_profit"), -lost)
            _add_if(r, fin(y, "total_costs"), -(s - lost))
        elif lv == "debt":
            _add(r, fin(y, "total_liabilities"), -a.amount)
        elif lv == "quality_score":
            r[f"quality_score.{y}"] = a.amount
        elif lv == "ip_class1":
            for f in ("ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit"):
                r[f] = _get(r, f) + a.amount
        elif lv == "ip_high_value":
            for f in ("ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit", "ip.class1_high_value"):
                r[f] = _get(r, f) + 1
        elif lv == "ip_class2":
            r["ip.class2"] = _get(r, "ip.class2") + a.amount
        elif lv == "ip_apply":
            r["ip.class1_applied_with_benefit"] = _get(r, "ip.class1_applied_with_benefit") + a.amount
        elif lv == "digital_level":
            r["digital_level"] = a.amount
        elif lv == "rd_institution":
            r["rd_institution"] = a.amount
        elif lv in BOOL_LEVERS:
            r[lv] = True
        elif lv in ("title", "high_tech_enterprise"):
            r["titles"] = list(r.get("titles") or []) + list(a.amount)
        else:  # pragma: no cover - a programming error
            raise KeyError(lv)
    return r


def _add(r: dict, k: str, v: int) -> None:
    r[k] = _get(r, k) + v


def _add_if(r: dict, k: str, v: int) -> None:
    if r.get(k) is not None:
        r[k] = r[k] + v


# ------------------------------------------------------------------------ baseline projection
FLOW = ("operating_revenue", "main_business_revenue", "main_product_revenue", "rd_expense", "net_profit", "total_costs")
STOCK = ("total_assets", "total_liabilities", "employees", "rd_employees", "tech_employees")


def fin_years(row: dict) -> list[int]:
    return sorted({int(k.split(".")[1]) for k in row if k.startswith("financials.")})


def project_row(row: dict, first_future: int, upto: int, growth: float) -> tuple[dict, list[int]]:
    """Fill fiscal years first_future..upto that the profile lacks from the year before (which
    must exist, reported or projected). Returns the row and the projected years."""
    r = dict(row)
    projected = []
    have = set(fin_years(row))
    if not have:
        return r, projected
    g = Fraction(str(growth))
    for y in range(first_future, upto + 1):
        if y in have or (y - 1) not in have:
            continue
        for f in FLOW + STOCK:
            v = r.get(fin(y - 1, f))
            if v is None:
                continue
            r[fin(y, f)] = floor_frac(Fraction(v) * (1 + g)) if f in FLOW else v
        have.add(y)
        projected.append(y)
    return r, projected


# ------------------------------------------------------------------------ thresholds from packs
@dataclass
class Thresholds:
    """Every comparison the packs make, by measure: {measure: {(op, value)}} (value exact)."""

    by: dict = field(default_factory=dict)
    bools: set = field(default_factory=set)
    enums: dict = field(default_factory=dict)  # measure -> set of values
    titles: set = field(default_factory=set)  # title types tested

    def add(self, t: Test | None) -> None:
        if t is None:
            return
        m = t.measure
        if t.op in ("truthy", "falsy"):
            if m == "rd_institution_any":
                self.enums.setdefault("rd_institution", set()).add("below_municipal")
            else:
                self.bools.add(m)
            return
        if m in ("title", "title_held"):
            self.titles.update(t.args.get("types", []))
            return
        v = t.value.value if t.value is not None else None
        if isinstance(v, list) or t.value is not None and t.value.unit == "enum":
            self.enums.setdefault(m, set()).update(v if isinstance(v, list) else [v])
            return
        self.by.setdefault(m, set()).add((t.op, v))

    def get(self, m: str) -> list:
        return sorted(self.by.get(m, set()), key=lambda x: (x[0], x[1]))


def _walk_tests(n: Node):
    yield n.test
    for w in n.when or []:
        yield w
    for t, _ in n.bands or []:
        yield t
    for t in (n.count_of or {}).get("items", []):
        yield t
    for c in n.children():
        yield from _walk_tests(c)


def pack_for(tier: str, as_of: dt.date, mode: str) -> Pack | None:
    ch = choose_regime(as_of, mode)
    if tier not in ch.tiers:
        return None
    return resolve_pack(ch.tiers[tier][0], as_of.year, mode)


def collect(th: Thresholds, pack: Pack, year: int, mode: str) -> Thresholds:
    for _, nodes in pack.sections():
        for n in nodes:
            if n.waived:
                continue
            for t in _walk_tests(n):
                th.add(t)
    for alt in pack.alternatives:
        collect(th, resolve_pack(alt["pack"], year, mode), year, mode)
    return th


def prerequisite_types(pack: Pack) -> list[str]:
    out = []
    for n in pack.prerequisites:
        if n.test is not None and n.test.measure == "title":
            out.extend(n.test.args.get("types", []))
    return out


# ------------------------------------------------------------------------------ lever levels
def _frac(v) -> Fraction:
    return v if isinstance(v, Fraction) else Fraction(str(v))


_money = amounts.money_fen


def financial_levers(row: dict, years: list[int], th: Thresholds, costs: dict) -> list[list[Action]]:
    """Per projected fiscal year: growth, shed, hire, debt, R&D spend, quality-score levels."""
    P = costs["levers"]
    out: list[list[Action]] = []
    G: dict[int, list[int]] = {}
    X1: dict[int, list[int]] = {}
    H: dict[int, list[int]] = {}
    S: dict[int, list[int]] = {}
    sal = int(P["rd_hire"]["salary"]) * FEN

    def v(y, f):
        return row.get(fin(y, f))

    for y in years:
        orb, mbr, rd = v(y, "operating_revenue"), v(y, "main_business_revenue"), v(y, "rd_expense")
        # growth: extra main-business revenue reaching a growth / revenue threshold
        g: set[int] = set()
        if P["growth"]["enabled"] and mbr is not None and orb is not None:
            g.update(d for d in amounts.growth_amounts(
                th, mbr, orb, v(y - 1, "main_business_revenue"), v(y - 2, "main_business_revenue"),
                v(y - 2, "operating_revenue"), lambda b, d: d() if b > 0 else None) if d is not None)
        G[y] = sorted(d for d in g if 0 < d <= orb)
        # shed: drop non-core revenue to reach a main-business (or main-product) share
        s: set[int] = set()
        if P["shed"]["enabled"] and mbr is not None and orb is not None:
            s.update(amounts.shed_amounts(th, orb, mbr, v(y, "main_product_revenue")))
            S[y] = sorted(x for x in s if 0 < x <= orb - mbr)
        else:
            S[y] = []
        # hires: R&D staff share / tech staff share
        h: set[int] = set()
        emp, rde, tce = v(y, "employees"), v(y, "rd_employees"), v(y, "tech_employees")
        if P["rd_hire"]["enabled"] and emp is not None:
            for meas, cur in (("rd_staff_share", rde), ("tech_staff_share", tce)):
                if cur is None:
                    continue
                for op, sg in th.get(meas):
                    if op in (">=", ">") and sg < 1:
                        h.add(amounts.hires_for_share(emp, cur, Fraction(sg), op == ">"))
        H[y] = sorted(k for k in h if 0 < k <= int(P["rd_hire"]["max_heads"]))
        # R&D spend: one pass for per-year thresholds, from the baseline (a level in every context of
        # growth/shed/hires multiplied the levels and cost the search its budget on most firms; see
        # docs/planner.md, "exact over the levels")
        x: set[int] = set()
        if P["rd_spend"]["enabled"] and rd is not None:
            ors = [orb] if orb is not None else []
            rds = [rd]
            tc = v(y, "total_costs")
            for op, t in th.get("rd_expense"):
                if op in (">=", ">"):
                    for r0 in rds:
                        x.add(_money(t) + (op == ">") - r0)
            for op, p in th.get("rd_intensity"):
                if op in (">=", ">"):
                    for o in ors:
                        for r0 in rds:
                            x.add(amounts.at_least_times(o, Fraction(p), op == ">") - r0)
            if tc is not None:
                for op, p in th.get("rd_cost_share"):
                    if op in (">=", ">") and p < 1:
                        for k in [0]:
                            r0, c0 = rd + k * sal, tc + k * sal
                            x.add(ceil_frac((p * c0 - r0) / (1 - p)) + (op == ">"))
        X1[y] = sorted(z for z in x if z > 0)
    # R&D spend, second pass: two-year sums and averages (partner year's options as context)
    for y in years:
        rd = v(y, "rd_expense")
        xs = set(X1.get(y, []))
        if P["rd_spend"]["enabled"] and rd is not None:
            for meas, mult in (("rd_expense_sum_2y", 1), ("rd_expense_avg_2y", 2)):
                for op, t in th.get(meas):
                    if op not in (">=", ">"):
                        continue
                    for other in (y - 1, y + 1):
                        ob = v(other, "rd_expense")
                        if ob is None:
                            continue
                        others = [ob] + ([ob + z for z in X1.get(other, [])] if other in years else [])
                        for k in [0]:
                            for o in others:
                                xs.add(_money(t * mult) + (op == ">") - (rd + k * sal) - o)
        X = sorted(z for z in xs if 0 < z)
        # quality score
        q = []
        pq = P["quality_score"]
        if pq["enabled"]:
            cur = row.get(f"quality_score.{y}")
            base_pts = Fraction(cur, SCALE4) if cur is not None else Fraction(str(pq["assumed_when_missing"]))
            for op, t in th.get("quality_score"):
                if op in (">=", ">"):
                    tgt = ceil_frac(t * SCALE4) + (op == ">")
                    if cur is None or tgt > cur:
                        pts = max(Fraction(tgt, SCALE4) - base_pts, Fraction(0))
                        q.append(Action("quality_score", y, tgt, ceil_frac(pts * int(pq["cost_per_point"]) * FEN)))
        lv = [
            [Action("growth", y, d, ceil_frac(Fraction(str(P["growth"]["cost_rate"])) * d)) for d in G[y]],
            [Action("shed", y, s_, floor_frac(Fraction(s_) * Fraction(str(P["shed"]["cost_rate"])))) for s_ in S.get(y, [])],
            [Action("rd_hire", y, k, k * sal) for k in H.get(y, [])],
            [Action("debt", y, d, ceil_frac(Fraction(str(P["debt"]["cost_rate"])) * d)) for d in D_by_year(row, y, th, P)],
            [Action("rd_spend", y, z, ceil_frac(Fraction(str(P["rd_spend"]["cost_per_yuan"])) * z)) for z in X],
            q,
        ]
        out.extend(x_ for x_ in lv if x_)
    return out


def D_by_year(row: dict, y: int, th: Thresholds, P: dict) -> list[int]:
    tl, ta = row.get(fin(y, "total_liabilities")), row.get(fin(y, "total_assets"))
    dset: set[int] = set()
    if P["debt"]["enabled"] and tl is not None and ta:
        for op, r in th.get("debt_ratio"):
            if op in ("<=", "<"):
                dset.add(amounts.debt_cut_for_ratio(tl, ta, Fraction(r), op == "<"))
    return sorted(x for x in dset if 0 < x <= tl)


def _title_entry(t: str, start: dt.date, years: int) -> dict:
    end = add_months(start, 12 * int(years)) - dt.timedelta(days=1)
    return {"type": t, "valid_from": start, "valid_until": end}


def state_levers(row: dict, as_of: dt.date, T: dt.date, th: Thresholds, costs: dict) -> list[list[Action]]:
    """Non-financial levers whose change counts by T (lead time from the plan's start)."""
    P = costs["levers"]
    out: list[list[Action]] = []

    def ok(p: dict) -> dt.date | None:
        if not p.get("enabled", True):
            return None
        eff = add_months(as_of, int(p.get("lead_months", 0)))
        return eff if eff <= T else None

    def need(path: str) -> int:
        cur = row.get(path) or 0
        return max([int(ceil_frac(val)) + (op == ">") - cur for op, val in th.get(path) if op in (">=", ">")] + [0])

    p = P["ip_class1"]
    eff = ok(p)
    if eff:
        k = min(max(need("ip.class1"), need("ip.class1_self_developed"), need("ip.class1_applied_with_benefit")),
                int(p["max_add"]))
        out.append([Action("ip_class1", None, i, i * int(p["cost"]) * FEN, eff) for i in range(1, k + 1)])
    p = P["ip_high_value"]
    eff = ok(p)
    if eff and need("ip.class1_high_value") > 0:
        out.append([Action("ip_high_value", None, 1, int(p["cost"]) * FEN, eff)])
    p = P["ip_class2"]
    eff = ok(p)
    if eff:
        k = min(need("ip.class2"), int(p["max_add"]))
        out.append([Action("ip_class2", None, i, i * int(p["cost"]) * FEN, eff) for i in range(1, k + 1)])
    p = P["ip_apply"]
    eff = ok(p)
    if eff:
        free = (row.get("ip.class1") or 0) - (row.get("ip.class1_applied_with_benefit") or 0)
        k = min(need("ip.class1_applied_with_benefit"), free)
        out.append([Action("ip_apply", None, i, i * int(p["cost"]) * FEN, eff) for i in range(1, k + 1)])
    p = P["digital_level"]
    eff = ok(p)
    if eff:
        cur = row.get("digital_level")
        tg = {int(ceil_frac(val)) for op, val in th.get("digital_level") if op in (">=", "==") and 1 <= val <= 4}
        out.append([Action("digital_level", None, t, (t - (cur or 1)) * int(p["cost_per_level"]) * FEN, eff)
                    for t in sorted(tg) if cur is None or t > cur])
    for path in BOOL_LEVERS:
        p = P.get(path)
        if p is None or path not in th.bools or row.get(path) is True:
            continue
        eff = ok(p)
        if eff:
            out.append([Action(path, None, True, int(p["cost"]) * FEN, eff)])
    p = P["rd_institution"]
    if p.get("enabled", True) and "rd_institution" in th.enums:
        cur = INST_RANK.get(row.get("rd_institution"), 0)
        lv = []
        for lvl in INST_ORDER:
            if INST_RANK[lvl] <= cur or lvl not in th.enums["rd_institution"] and not (
                    "below_municipal" in th.enums["rd_institution"] and INST_RANK[lvl] == cur + 1):
                continue
            eff = ok(p[lvl])
            if eff:
                lv.append(Action("rd_institution", None, lvl, int(p[lvl]["cost"]) * FEN, eff))
        out.append(lv)
    p = P["high_tech_enterprise"]
    eff = ok(p)
    if eff and "high_tech_enterprise" in th.titles:
        has = any(t.get("type") == "high_tech_enterprise" and t.get("valid_from") and t["valid_from"] <= T
                  <= (t.get("valid_until") or T) for t in row.get("titles") or [])
        if not has:
            out.append([Action("high_tech_enterprise", None, (_title_entry("high_tech_enterprise", eff, p["valid_years"]),),
                               int(p["cost"]) * FEN, eff)])
    return [x for x in out if x]
