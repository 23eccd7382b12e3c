"""The exact search: for every candidate as-of date, enumerate lever combinations in order of
cost (k-smallest sums over the levers' sorted levels: a best-first branch and bound), evaluate
them in batches with the column-wise engine, and stop at the first batch holding a passing
combination; across dates keep the cheapest (then earliest). Every combination cheaper than the
answer has been evaluated by the engine and failed, so the answer is the optimum over the
discretised levels (see docs/planner.md)."""
from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass, field

from srdi.engine.packs import choose_regime

from .levers import (TITLE_OF_TIER, Action, Thresholds, add_months, apply_actions, collect, financial_levers,
                     fin, pack_for, prerequisite_types, project_row, state_levers, _title_entry)

ENTRY_TIERS = ("innovative_sme", "tech_innovative_sme")
BATCHES = (256, 2048, 16384, 65536)
POP_BUDGET = 60_000  # combinations enumerated per date
PLAN_BUDGET = 12_000  # engine rows per plan
BUDGET = 6_000  # combinations per date (beyond it the plan is flagged optimal: false)


def tier_at(tier: str, d: dt.date, mode: str) -> str | None:
    """The tier id judging `tier` on date d (the entry tier is innovative_sme in R2022 and
    tech_innovative_sme in R2026: a target of either means the entry tier of the regime)."""
    tiers = choose_regime(d, mode).tiers
    if tier in tiers:
        return tier
    if tier in ENTRY_TIERS:
        return next((t for t in ENTRY_TIERS if t in tiers), None)
    return None


def candidate_dates(as_of: dt.date, end: dt.date, costs: dict) -> list[dt.date]:
    ev = {as_of}
    for y in range(as_of.year + 1, end.year + 1):
        ev.add(dt.date(y, 1, 1))
    r26 = dt.date(2026, 4, 1)
    if as_of < r26:
        ev.add(r26)
    for p in costs["levers"].values():
        if isinstance(p, dict) and p.get("enabled", True):
            for q in [p] + [v for v in p.values() if isinstance(v, dict)]:
                if "lead_months" in q and q.get("enabled", True):
                    ev.add(add_months(as_of, int(q["lead_months"])))
    return sorted(d for d in ev if as_of <= d <= end)


@dataclass
class Found:
    cost: int
    date: dt.date
    tier: str
    actions: tuple
    signature: frozenset


@dataclass
class DateResult:
    date: dt.date
    tier: str | None
    blocked: list = field(default_factory=list)  # [(entry key, title dict)]
    evaluated: int = 0
    complete: bool = True
    levers: list = field(default_factory=list)
    same_as_previous: bool = False


def scalar_tier(row: dict, d: dt.date, mode: str, tier: str):
    """One tier of one row with the scalar engine (the blocks compile_all uses, for this tier
    only): (values by output key, TierPlan)."""
    from srdi.engine.blocks import Compiler
    from srdi.engine.measures import Ctx
    from srdi.engine.ops import ScalarOps
    from srdi.engine.packs import resolve_pack

    pid = choose_regime(d, mode).tiers[tier][0]
    comp = Compiler(ScalarOps(row), Ctx(as_of=d, mode=mode))
    plan = comp.tier(resolve_pack(pid, d.year, mode), tier)
    return comp.out, plan


SCALAR_MAX = 48  # batches up to this size use the scalar engine (~1.5 ms a row, no frame cost)


class Evaluator:
    """Engine calls on rows built from actions: the scalar engine for small batches, the
    column-wise engine (`evaluate_table`) for large ones. Returns {output key: [values]}."""

    def __init__(self, mode: str):
        self.mode = mode
        self.calls = 0
        self.rows = 0
        self._schema: dict = {}

    def ok(self, rows: list[dict], d: dt.date, tier: str, mode: str | None = None, extra_keys=()) -> dict:
        mode = mode or self.mode
        keys = [f"{tier}#ok"] + list(extra_keys)
        self.calls += 1
        self.rows += len(rows)
        if len(rows) <= SCALAR_MAX:
            vals = [scalar_tier(r, d, mode, tier)[0] for r in rows]
            return {k: [v.get(k) for v in vals] for k in keys}
        import polars as pl

        from srdi.engine.assess import compile_table, evaluate_table
        from srdi.engine.frame import column_dtype

        c = compile_table(d, mode)
        cols = tuple(dict.fromkeys(k for r in rows[:1] + rows[-1:] for k in r))
        sch = self._schema.get(cols)
        if sch is None:
            sch = self._schema[cols] = {k: column_dtype(k, c.ctx.local_kinds) for k in cols}
        df = pl.DataFrame({k: [r.get(k) for r in rows] for k in cols}, schema=sch)
        out = evaluate_table(df, d, mode, keys=keys)
        return {k: out[k].to_list() if k in out.columns else [None] * len(rows) for k in keys}


@dataclass
class Gate:
    """Necessary conditions for a combination to pass at a date (checked before the engine):
    each failing top-level condition must be touched; a scored tier must be able to reach its
    pass line (untouched indicators keep their baseline points, touched ones at most their
    maximum) unless a direct route is met or touched."""

    conds: list  # [set of inputs] per failing top-level condition
    scored: bool = False
    line: int = 0  # x 10^4
    inds: list = field(default_factory=list)  # (inputs, baseline lo, max, category index)
    cats: list = field(default_factory=list)  # category minimums x 10^4 (or None)
    route_true: bool = False
    route_inputs: list = field(default_factory=list)

    def allows(self, tch: set) -> bool:
        for inp in self.conds:
            if not inp & tch:
                return False
        if not self.scored or self.route_true:
            return True
        if any(inp & tch for inp in self.route_inputs):
            return True
        tot = 0
        per = [0] * len(self.cats)
        for inp, lo, mx, ci in self.inds:
            v = mx if inp & tch else lo
            tot += v
            if ci is not None:
                per[ci] += v
        if tot < self.line:
            return False
        return all(m is None or per[i] >= m for i, m in enumerate(self.cats))


def chain_options(tier: str, T: dt.date, as_of: dt.date, dates: list[dt.date], costs: dict, depth: int = 0) -> list[tuple]:
    """Ways to hold the title a tier's prerequisite asks for on T: () (titles already held, or no
    prerequisite), or a chain ((tier0, T0, title), ...) of lower tiers passed on T0 and granted
    `grant_months` later (application mode)."""
    pack = pack_for(tier, T, "application")
    types = prerequisite_types(pack) if pack else []
    opts: list[tuple] = [()]
    if not types or depth >= 2:
        return opts
    tc = costs["titles"]
    for T0 in dates:
        if T0 >= T:
            break
        t0 = next((t for t in choose_regime(T0, "application").tiers if TITLE_OF_TIER.get(t) in types), None)
        if t0 is None:
            continue
        ttype = TITLE_OF_TIER[t0]
        G = add_months(T0, int(tc["grant_months"].get(ttype, 6)))
        title = _title_entry(ttype, G, tc["valid_years"])
        if not (G <= T <= title["valid_until"]):
            continue
        for sub in chain_options(t0, T0, as_of, dates, costs, depth + 1):
            opts.append(sub + ((t0, T0, title),))
    return opts


def title_levers(opts: list[tuple], costs: dict) -> list[Action]:
    app = int(costs["titles"]["application_cost"]) * 100
    out = []
    for ch in opts:
        if not ch:
            continue
        out.append(Action("title", None, tuple(t for _, _, t in ch), app * len(ch), None,
                          checks=tuple((t0, T0) for t0, T0, _ in ch)))
    out.sort(key=lambda a: (a.cost, [c[1] for c in a.checks]))
    return out


_FIELDS: dict = {}
LEVER_FIELDS = {  # the fields each financial lever changes (levers.apply_actions)
    "rd_spend": ("rd_expense", "net_profit", "total_costs"),
    "rd_hire": ("employees", "rd_employees", "tech_employees", "rd_expense", "net_profit", "total_costs"),
    "growth": ("main_business_revenue", "operating_revenue", "main_product_revenue", "net_profit", "total_costs"),
    "shed": ("operating_revenue", "net_profit", "total_costs"),
    "debt": ("total_liabilities",),
}


def fields_of(actions) -> set[str]:
    out: set[str] = set()
    for a in actions:
        f = _FIELDS.get((a.lever, a.year))
        if f is None:
            f = _FIELDS[(a.lever, a.year)] = frozenset(touched([[a]]))
        out |= f
    return out


def touched(levers: list[list[Action]]) -> set[str]:
    out: set[str] = set()
    for opts in levers:
        for a in opts:
            y = a.year
            if a.lever in LEVER_FIELDS:
                out.update(fin(y, f) for f in LEVER_FIELDS[a.lever])
            elif a.lever == "quality_score":
                out.add(f"quality_score.{y}")
            elif a.lever.startswith("ip_"):
                out.update(["ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit",
                            "ip.class1_high_value", "ip.class2"])
            elif a.lever in ("title", "high_tech_enterprise"):
                out.add("titles")
            else:
                out.add(a.lever)
    return out


def enumerate_by_cost(levers: list[list[Action]]):
    """Yield (cost, actions) over the product of [no-op] + levels, in non-decreasing cost."""
    n = len(levers)
    costs = [[0] + [a.cost for a in opts] for opts in levers]
    start = (0,) * n
    heap = [(0, start, 0)]
    while heap:
        c, idx, p = heapq.heappop(heap)
        yield c, tuple(levers[i][k - 1] for i, k in enumerate(idx) if k)
        for j in range(p, n):
            k = idx[j]
            if k + 1 < len(costs[j]):
                nidx = idx[:j] + (k + 1,) + idx[j + 1:]
                heapq.heappush(heap, (c - costs[j][k] + costs[j][k + 1], nidx, j))


class Planner:
    def __init__(self, row: dict, as_of: dt.date, target: str, mode: str, horizon: int, costs: dict,
                 exclude: frozenset = frozenset()):
        self.exclude = exclude  # lever ids not to use (alternatives)
        self.row = row
        self.as_of = as_of
        self.target = target
        self.mode = mode
        self.costs = costs
        self.end = add_months(as_of, 12 * int(horizon))
        self.dates = candidate_dates(as_of, self.end, costs)
        self.ev = Evaluator(mode)
        self._rows: dict[int, tuple[dict, list[int]]] = {}
        self._base: dict = {}
        self.gated = 0
        self.row_budget = PLAN_BUDGET

    def row_for(self, year: int) -> tuple[dict, list[int]]:
        """The profile row with fiscal years as_of.year .. year-1 projected where missing."""
        if year not in self._rows:
            self._rows[year] = project_row(self.row, self.as_of.year, year - 1,
                                           float(self.costs["projection"]["growth"]))
        return self._rows[year]

    def setup(self, T: dt.date):
        tier = tier_at(self.target, T, self.mode)
        if tier is None:
            return None
        rowT, _ = self.row_for(T.year)
        opts = chain_options(tier, T, self.as_of, self.dates, self.costs) if self.mode == "application" else [()]
        th = Thresholds()
        collect(th, pack_for(tier, T, self.mode), T.year, self.mode)
        check_dates = [T]
        for ch in opts:
            for t0, T0, _ in ch:
                collect(th, pack_for(t0, T0, "application"), T0.year, "application")
                check_dates.append(T0)
        back = 3 if (th.get("main_growth_avg_2y") or th.get("revenue_cagr_2y")) else 2
        years = sorted({y for d in check_dates for y in range(max(self.as_of.year, d.year - back), d.year)})
        levers = financial_levers(rowT, years, th, self.costs) + state_levers(rowT, self.as_of, T, th, self.costs)
        tl = title_levers(opts, self.costs)
        if tl:
            levers.append(tl)
        levers = [sorted(opts_, key=lambda a: a.cost) for opts_ in levers if opts_ and opts_[0].lever not in self.exclude]
        return tier, rowT, levers

    def analyse(self, tier: str, d: dt.date, rowT: dict, mode: str):
        """Baseline at date d with the scalar engine: failing top-level conditions
        [(id, title, inputs, value)], the Gate, and the inputs a useful lever must touch
        (None: keep every lever)."""
        key = (tier, d, mode)
        if key in self._base:
            return self._base[key]
        vals, plan = scalar_tier(rowT, d, mode, tier)

        def inputs(k: str) -> set:
            out: set = set()
            for x in plan.entries:
                if x.key == k or x.key.startswith(k + "."):
                    out.update(x.inputs)
            return out

        failing = []
        for e in plan.entries:
            if e.depth == 0 and e.kind in ("eligibility", "prerequisite", "exclusion", "condition") \
                    and vals.get(f"{e.key}#ok") is not True:
                failing.append((e.key.split("/", 1)[1], e.node.title, inputs(e.key), vals.get(f"{e.key}#ok")))
        gate = Gate([f[2] for f in failing])
        need: set | None = set().union(*[f[2] for f in failing]) if failing else set()
        if plan.subs or plan.pack.decision == "alternatives":
            need = None
        elif plan.pack.decision == "score":
            gate.scored = True
            gate.line = int(plan.pack.score["pass_line"]) * 10_000
            cats = [e for e in plan.entries if e.kind == "category"]
            gate.cats = [None if e.node.minimum is None else int(e.node.minimum) * 10_000 for e in cats]
            ckeys = [e.key for e in cats]
            for e in plan.entries:
                if e.kind == "indicator" and e.scored and e.node.max is not None:
                    lo = vals.get(f"{e.key}#lo") or 0
                    mx = int(e.node.max) * 10_000
                    ci = next((i for i, k in enumerate(ckeys) if e.key.startswith(k + ".")), None)
                    inp = inputs(e.key)
                    gate.inds.append((inp, lo, mx, ci))
                    if lo < mx:
                        need |= inp
                elif e.kind == "route" and e.depth == 0:
                    if vals.get(f"{e.key}#ok") is True:
                        gate.route_true = True
                    else:
                        inp = inputs(e.key)
                        gate.route_inputs.append(inp)
                        need |= inp
        self._base[key] = (failing, gate, need)
        return self._base[key]

    def signature(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]]) -> tuple:
        """What the evaluation at T depends on besides the date's year: the pack, the lever
        options and which titles are valid. Two dates of the same year with the same signature
        give the same outcomes for every combination."""
        pack = pack_for(tier, T, self.mode)
        opts = tuple(tuple((a.lever, a.year, a.amount if a.lever not in ("title", "high_tech_enterprise") else
                            tuple((t["type"], t["valid_from"], t["valid_until"]) for t in a.amount), a.cost, a.checks)
                           for a in o) for o in levers)
        titles = tuple(sorted((t.get("type"), bool(t.get("valid_from") is None or t["valid_from"] <= T),
                               bool(t.get("valid_until") is None or T <= t["valid_until"])) for t in rowT.get("titles") or []))
        return (tier, pack.id if pack else None, T.year, opts, titles)

    def blocked(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]]) -> list:
        """Top-level conditions that cannot pass at T: false on the baseline with no lever touching
        their inputs; or undetermined because an input is missing that no lever supplies, and
        still not met with every lever at its highest level."""
        failing, _, _ = self.analyse(tier, T, rowT, self.mode)
        tch = touched(levers)
        miss = {"zh": " (缺少数据)", "en": " (missing data)"}
        out = [(i, t if v is False else {k: x + miss.get(k, "") for k, x in t.items()})
               for i, t, inputs, v in failing if not inputs & tch]
        lists = ("titles", "awards", "equity_financing", "standards_led")
        und = [(i, t, inputs) for i, t, inputs, v in failing if v is None and inputs & tch
               and any(x not in lists and rowT.get(x) is None for x in inputs)]
        if und:
            top = apply_actions(rowT, [o[-1] for o in levers], T, self.costs["levers"])
            vals = scalar_tier(top, T, self.mode, tier)[0]
            for i, t, inputs in und:
                never = {x for x in inputs if x not in lists and rowT.get(x) is None and top.get(x) is None}
                if never and vals.get(f"{tier}/{i}#ok") is not True:
                    out.append((i, {k: v + (" (缺少数据)" if k == "zh" else " (missing data)") for k, v in t.items()}))
        return out

    def useful(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]]) -> list[list[Action]]:
        """Drop levers that touch no input the target (or a chain tier) still needs: they
        cannot make a failing condition pass nor add points (every result is engine-checked)."""
        _, _, need = self.analyse(tier, T, rowT, self.mode)
        if need is None:
            return levers
        need = set(need)
        for opts in levers:
            for a in opts:
                for t0, T0 in a.checks:
                    _, _, n0 = self.analyse(t0, T0, rowT, "application")
                    if n0 is None:
                        return levers
                    need |= n0
        return [opts for opts in levers if touched([opts]) & need]

    def run(self):
        found: list[Found] = []
        best: int | None = None
        results: list[DateResult] = []
        prev_sig = None
        for T in self.dates:
            if best == 0:  # nothing is cheaper than no change; ties go to the earlier date
                break
            st = self.setup(T)
            if st is None:
                results.append(DateResult(T, None, [("tier", {"zh": "该日期所在规则体系无此层级", "en": "tier not in this regime"})]))
                continue
            tier, rowT, levers = st
            dr = DateResult(T, tier)
            results.append(dr)
            dr.blocked = self.blocked(tier, T, rowT, levers)
            if dr.blocked:
                continue
            levers = self.useful(tier, T, rowT, levers)
            dr.levers = levers
            sig = self.signature(tier, T, rowT, levers)
            if sig == prev_sig:  # same options as the previous date: nothing cheaper can appear
                dr.same_as_previous = True
                continue
            prev_sig = sig
            best = self.search(tier, T, rowT, levers, dr, found, best)
        return found, results

    def search(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], dr: DateResult,
               found: list, best: int | None) -> int | None:
        """Best-first over the levers at date T; appends passing combinations to `found`."""
        gen = enumerate_by_cost(levers)
        rows0 = self.ev.rows
        bi = 0
        done = False
        while not done:
            size = BATCHES[min(bi, len(BATCHES) - 1)]
            bi += 1
            batch = []
            for c, acts in gen:
                if best is not None and c >= best:
                    done = True
                    break
                batch.append((c, acts))
                if len(batch) >= size:
                    break
            else:
                done = True
            if not batch:
                break
            dr.evaluated += len(batch)
            ok = self.check(tier, T, rowT, batch)
            hit = False
            for (c, acts), good in zip(batch, ok):
                if good:
                    found.append(Found(c, T, tier, acts, frozenset(a.key for a in acts)))
                    if best is None or c < best:
                        best = c
                    hit = True
            if hit:
                done = True
            if (dr.evaluated >= POP_BUDGET or self.ev.rows - rows0 >= BUDGET
                    or self.ev.rows >= self.row_budget) and not done:
                dr.complete = False
                done = True
        return best

    def check(self, tier: str, T: dt.date, rowT: dict, batch: list) -> list[bool]:
        p = self.costs["levers"]
        _, gate, _ = self.analyse(tier, T, rowT, self.mode)
        good = [False] * len(batch)
        idx = []
        for i, (_, acts) in enumerate(batch):
            tch = fields_of([a for a in acts if a.eff is None or a.eff <= T])
            if not gate.allows(tch):
                continue
            ok0 = True
            for a in acts:
                for t0, T0 in a.checks:
                    _, g0, _ = self.analyse(t0, T0, rowT, "application")
                    if not g0.allows(fields_of([b for b in acts if b.eff is None or b.eff <= T0])):
                        ok0 = False
            if ok0:
                idx.append(i)
        if idx:
            rows = [apply_actions(rowT, batch[i][1], T, p) for i in idx]
            res = self.ev.ok(rows, T, tier)[f"{tier}#ok"]
            for i, r in zip(idx, res):
                good[i] = r is True
        self.gated += len(batch) - len(idx)
        groups: dict[tuple, list[int]] = {}
        for i, (_, acts) in enumerate(batch):
            if not good[i]:
                continue
            for a in acts:
                for t0, T0 in a.checks:
                    groups.setdefault((t0, T0), []).append(i)
        for (t0, T0), idx in sorted(groups.items(), key=lambda kv: kv[0][1]):
            idx = [i for i in idx if good[i]]
            if not idx:
                continue
            rws = [apply_actions(rowT, batch[i][1], T0, p) for i in idx]
            r0 = self.ev.ok(rws, T0, t0, mode="application")[f"{t0}#ok"]
            for i, v in zip(idx, r0):
                if v is not True:
                    good[i] = False
        return good
