"""The exact search: for every candidate as-of date, enumerate lever combinations in order of
cost (an A* over the levers with an admissible bound, dropping what the Gate and the condition /
score oracles rule out: a best-first branch and bound), evaluate them in batches (the scalar
engine for tiny batches, else one column-wise call over the dependency closure of the tier's
outcome, see bulk.py), and stop at the first batch holding a passing combination; across dates
keep the cheapest (then earliest). Every combination cheaper than the answer has been ruled out
(Gate, oracle) or evaluated by the engine and failed, so the answer is the optimum over the
discretised levels (see docs/planner.md). Engine outcomes are cached by evaluation context
(year, pack, title validity) and effective actions, across the dates of a plan and its
alternatives."""
from __future__ import annotations

import datetime as dt
import functools
import heapq
import itertools
import math
import operator
from dataclasses import dataclass, field
from fractions import Fraction

from srdi.engine.packs import choose_regime

from .levers import (TITLE_OF_TIER, Action, Thresholds, add_months, apply_actions, collect, financial_levers,
                     fin, pack_for, prerequisite_types, project_row, state_levers, _title_entry)

ENTRY_TIERS = ("innovative_sme", "tech_innovative_sme")
BATCHES = (4, 64, 1024, 8192, 65536)  # the first through the scalar engine, then one table call each
POP_BUDGET = 60_000  # A* nodes expanded per date
PLAN_BUDGET = 12_000  # engine rows per plan
ORACLE_MAX = 512  # level combinations per condition oracle (Planner.oracles)
FIRST_NODES = 1_000  # A* nodes for the first batch before the oracles are built (Planner.search)
ORACLE_LEARNED = 8_192  # the same, for a condition found to fail a whole batch (Planner.broken)
BUDGET = 6_000  # combinations per date (beyond it the plan is flagged optimal: false)


_TH: dict = {}


def pack_thresholds(tier: str, d: dt.date, mode: str) -> Thresholds:
    """The thresholds of the pack judging `tier` on d (cached; read-only)."""
    pack = pack_for(tier, d, mode)
    key = (pack.id, d.year, mode)
    th = _TH.get(key)
    if th is None:
        th = _TH[key] = collect(Thresholds(), pack, d.year, mode)
    return th


def _merge(th: Thresholds, other: Thresholds) -> None:
    for m, v in other.by.items():
        th.by.setdefault(m, set()).update(v)
    th.bools |= other.bools
    for m, v in other.enums.items():
        th.enums.setdefault(m, set()).update(v)
    th.titles |= other.titles


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
    all_levers: list | None = None  # the date's levers before `useful` (Planner.full_blocked)


def tier_plan(d: dt.date, mode: str, tier: str):
    """The compiled TierPlan of one tier on d (what it reads, without evaluating any row)."""
    from srdi.engine.assess import compile_row

    return next(p for p in compile_row(d, mode).plans if p.tier == tier)


def scalar_tier(row: dict, d: dt.date, mode: str, tier: str):
    """One tier of one row with the one-firm engine (one function generated per date and mode, no
    explanation built): (values by output key, TierPlan). Only the tier's own outputs (its
    alternatives' included) and what they read are computed, not the other tiers of the date
    nor the display values (45-91 of an R2022 date's 270 outputs, tier_outputs)."""
    from srdi.engine.assess import compile_row, run_row

    c = compile_row(d, mode)
    plan = next(p for p in c.plans if p.tier == tier)
    return run_row(c, row, tier_outputs(d, mode, tier)), plan


@functools.lru_cache(maxsize=256)
def tier_outputs(d: dt.date, mode: str, tier: str) -> tuple:
    """The output keys the planner reads of one tier on d: the keys under its prefix and its
    alternatives' (outcomes, points, routes; not the display values `#obs...`), with every output
    they read, in dependency order."""
    from srdi.engine.assess import compile_row
    from srdi.engine.rowcode import needed

    c = compile_row(d, mode)
    plan = next(p for p in c.plans if p.tier == tier)
    prefixes, todo = [], [plan]
    while todo:
        p = todo.pop()
        prefixes.append(p.prefix)
        todo.extend(p.subs)

    def ours(k: str) -> bool:
        return any(k.startswith(p) and k[len(p):len(p) + 1] in ("/", "#", "~") for p in prefixes) \
            and not k.rpartition("#")[2].startswith("obs")

    return needed(c.values, [k for k in c.values if ours(k)])


# Rows up to which the one-firm engine is used instead of one table call. Set when a row took
# ~0.13 ms (closures), a table call ~7.5 ms for a tier's outcome and ~1.4 ms for a few indicators
# or conditions (an oracle's outputs), 28 Nov 2026. With the generated functions (one tier's
# outputs in ~25 µs a row with its actions applied) limits of 100-1,000 / 20-300 rows gave the
# same plan times within 4% (60 SRDI and 60 innovative firms), so they stay.
SCALAR_MAX = 48  # a tier's outcome (Evaluator.combos_ok, Evaluator.ok)
SCALAR_MAX_VALUES = 10  # given outputs (Evaluator.values: oracle tables)


def _list_key(v):
    """A hashable key for a list-of-struct cell (titles, awards, ...)."""
    if v is None:
        return None
    return tuple(tuple(sorted(d.items())) if isinstance(d, dict) else d for d in v)


def rows_frame(rows: list[dict], schema: dict):
    """A Polars frame of engine rows, built column by column without per-cell type inference:
    a column whose cells are all the very same object (untouched by any action: apply_actions
    copies references) is one value repeated; list-of-struct columns are built from their
    distinct values and gathered; scalar columns go through Polars' typed constructors."""
    import polars as pl

    from .bulk import column

    n = len(rows)
    cols = []
    for k, dtp in schema.items():
        vals = [r.get(k) for r in rows]
        v0 = vals[0]
        if all(v is v0 for v in vals):
            cols.append(pl.Series(k, [v0], dtype=dtp).new_from_index(0, n))
        else:
            cols.append(column(k, vals, dtp))
    return pl.DataFrame(cols)


class Evaluator:
    """Engine calls on rows built from actions: the scalar engine for small batches, the
    column-wise engine (`evaluate_table`) for large ones. Returns {output key: [values]}.

    `cache` keeps the tier outcome of every (date context, effective action set) evaluated: the
    engine reads the as-of date only through its year, the pack in force and the validity of
    titles on that date (srdi.engine.measures), so the same effective actions give the same
    outcome on another date with the same context (see Planner.context). One Evaluator serves a
    plan and its alternatives (the same profile and cost model)."""

    def __init__(self, mode: str):
        self.mode = mode
        self.calls = 0
        self.rows = 0
        self.hits = 0
        self.cache: dict = {}
        self.vcache: dict = {}  # (context, output key) -> {action key (atom_bits): value} (Planner.oracles)
        self.merged: dict = {}  # merged condition oracles by the tables merged (merge_oracles)
        self.atom_bits: dict = {}  # an action key's element -> its bit in the action keys of vcache
        self.hulls: dict = {}  # score tables' envelopes (and split-cost ones, with their arrays) by content (ScoreOracle)
        self.tables: dict = {}  # oracle tables by content (Planner.oracles)
        self.scalars: dict = {}
        self._schema: dict = {}
        self._effects: dict = {}
        self._effect_memo: dict = {}  # id(base row) -> (row, {id(action): its effect}): Effects of every date

    def values(self, base: dict, combos: list[tuple], d: dt.date, tier: str, mode: str, keys: list[str],
               params: dict) -> dict:
        """{output key: [value per combination]} for entries of `tier` (exact output keys)."""
        self.calls += 1
        self.rows += len(combos)
        if len(combos) <= SCALAR_MAX_VALUES:
            vals = [scalar_tier(apply_actions(base, acts, d, params), d, mode, tier)[0] for acts in combos]
            return {k: [v.get(k) for v in vals] for k in keys}
        from srdi.engine.assess import compile_table
        from srdi.engine.frame import column_dtype

        from .bulk import candidate_frame, table_inputs, table_ok

        c = compile_table(d, mode)
        sch = {k: column_dtype(k, c.ctx.local_kinds) for k in table_inputs(d, mode, tuple(keys))}
        df = candidate_frame(base, combos, d, params, sch, self._eff(base, d, params))
        out = table_ok(df, d, mode, tuple(keys), conformed=True)
        return {k: out[k].to_list() if k in out.columns else [None] * len(combos) for k in keys}

    def _eff(self, base: dict, d: dt.date, params: dict):
        from .bulk import Effects

        eff = self._effects.get((id(base), d))
        if eff is None or eff.base is not base:
            memo = self._effect_memo.get(id(base))
            if memo is None or memo[0] is not base:
                memo = self._effect_memo[id(base)] = (base, {})
            eff = self._effects[(id(base), d)] = Effects(base, d, params, memo[1])
        return eff

    def combos_ok(self, base: dict, combos: list[tuple], d: dt.date, tier: str, mode: str, params: dict) -> list:
        """`tier#ok` of `base` with each combination of actions applied, judged on d."""
        self.calls += 1
        self.rows += len(combos)
        if len(combos) <= SCALAR_MAX:
            return [scalar_tier(apply_actions(base, acts, d, params), d, mode, tier)[0].get(f"{tier}#ok")
                    for acts in combos]
        from srdi.engine.assess import compile_table
        from srdi.engine.frame import column_dtype

        from .bulk import candidate_frame, table_inputs, table_ok

        keys = (f"{tier}#ok",)
        c = compile_table(d, mode)
        sk = (d, mode, keys)
        sch = self._schema.get(sk)
        if sch is None:
            sch = self._schema[sk] = {k: column_dtype(k, c.ctx.local_kinds) for k in table_inputs(d, mode, keys)}
        df = candidate_frame(base, combos, d, params, sch, self._eff(base, d, params))
        return table_ok(df, d, mode, keys, conformed=True)[f"{tier}#ok"].to_list()

    def ok(self, rows: list[dict], d: dt.date, tier: str, mode: str | None = None, extra_keys=()) -> dict:
        mode = mode or self.mode
        keys = [f"{tier}#ok"] + list(extra_keys)
        self.calls += 1
        self.rows += len(rows)
        if len(rows) <= SCALAR_MAX:
            vals = [scalar_tier(r, d, mode, tier)[0] for r in rows]
            return {k: [v.get(k) for v in vals] for k in keys}
        from srdi.engine.assess import compile_table, evaluate_table
        from srdi.engine.frame import column_dtype

        c = compile_table(d, mode)
        cols = tuple(sorted(set().union(*rows)))
        sch = self._schema.get(cols)
        if sch is None:
            sch = self._schema[cols] = {k: column_dtype(k, c.ctx.local_kinds) for k in cols}
        df = rows_frame(rows, sch)
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
    mins: list = field(default_factory=list)  # per indicator in `inds`: its minimum x 10^4 (or None)
    cats: list = field(default_factory=list)  # category minimums x 10^4 (or None)
    route_true: bool = False
    route_inputs: list = field(default_factory=list)
    keys: list = field(default_factory=list)  # output key of each indicator in `inds`
    route_keys: list = field(default_factory=list)  # output key of each route in `route_inputs`

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
        for (inp, lo, mx, ci), m in zip(self.inds, self.mins):
            v = mx if inp & tch else lo
            if m is not None and v < m:  # an indicator's own minimum (科技人员指标得分不得为0分)
                return False
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


INF = float("inf")


ENVELOPE_ARRAY_ROWS = 64  # envelope: tables over this many rows go through NumPy


def envelope(tab: dict, level_costs: list, v0) -> list:
    """The upper concave envelope of (cost, points gained over v0) of a table {levels: points},
    a level's cost read from level_costs[lever][level - 1]: its segments (slope, gain, cost) from
    (0, 0), concave and increasing (what a cost can buy at best, fractions allowed). Tables over
    ENVELOPE_ARRAY_ROWS rows (R2022 SRDI's net margin and R&D input: ~1,000, rebuilt on every date
    with a new cutoff) are summed as arrays, the same points in the same order."""
    if len(tab) > ENVELOPE_ARRAY_ROWS:
        import numpy as np

        keys = _key_array(tab, len(level_costs))
        c = np.zeros(len(tab), dtype=np.asarray(level_costs[0] if level_costs else [0]).dtype)
        for t, cs in enumerate(level_costs):  # lever by lever, as the plain sum adds them
            c = c + np.array([0] + list(cs))[keys[:, t]]
        g = np.fromiter(tab.values(), dtype=np.int64, count=len(tab)) - v0
        return _staircase_hull(c, g)
    pts: dict = {}
    for key, v in tab.items():
        c = sum(cs[k - 1] for cs, k in zip(level_costs, key) if k)
        if v - v0 > pts.get(c, 0):
            pts[c] = v - v0
    return hull_segments(sorted(pts.items()))


def _key_array(tab: dict, m: int):
    """The keys of a table {levels of m levers: value} as an int array (one row per key)."""
    import numpy as np

    return np.fromiter(itertools.chain.from_iterable(tab), dtype=np.int64, count=len(tab) * m).reshape(-1, m)


def _staircase_hull(c, g) -> list:
    """hull_segments of the points (c, g) (arrays) that buy more than every cheaper one."""
    import numpy as np

    order = np.lexsort((-g, c))
    c, g = c[order], g[order]
    best = np.maximum.accumulate(g)
    keep = (g > 0) & np.concatenate(([True], g[1:] > best[:-1]))
    return hull_segments(zip(c[keep].tolist(), g[keep].tolist()))


def hull_segments(pts) -> list:
    """The upper concave envelope from (0, 0) of points (cost, gain) in increasing cost, as
    segments (slope, gain, cost); a gain at no cost (a level priced 0 by a cost file) is a first
    segment of infinite slope."""
    hull: list = []  # (cost, gain) from (0, free), concave, increasing
    free = 0
    for c, g in pts:
        if c == 0:
            free = max(free, g)
            continue
        if g <= (hull[-1][1] if hull else free):
            continue
        while hull:
            c1, g1 = hull[-1]
            c0, g0 = hull[-2] if len(hull) > 1 else (0, free)
            if (g1 - g0) * (c - c0) <= (g - g0) * (c1 - c0):  # hull[-1] under the chord
                hull.pop()
            else:
                break
        hull.append((c, g))
    segs, c0, g0 = ([(INF, free, 0)], 0, free) if free > 0 else ([], 0, 0)
    for c, g in hull:
        segs.append(((g - g0) / (c - c0), g - g0, c - c0))
        c0, g0 = c, g
    return segs


def greedy_cost(segs: list, need) -> float:
    """The least cost of `need` points from envelopes on disjoint costs (fractions allowed: the
    steepest segments first); 0 when nothing is needed, INF when they cannot give it."""
    if need <= 0:
        return 0
    cost = 0.0
    for slope, dg, dc in sorted((x for sg in segs for x in sg), key=lambda x: -x[0]):
        if dg >= need:
            return cost + need / slope
        cost += dc
        need -= dg
    return INF


class ScoreOracle:
    """A scored tier passes by its score only if the sum of the indicators' lower points reaches
    the pass line and each category minimum (blocks.Compiler.tier: score_ok needs score_lo >= line).
    An indicator reads only its inputs, so its lower points under a combination are those of the
    combination restricted to the levers touching its inputs: exact from the table where one was
    evaluated (Planner.oracles), else at most its maximum when touched and its baseline value when
    not. A direct route met (exact from its table) or touched (no table) lets the combination
    through. Called with (level indices, touched fields); `pos` maps lever index -> position in
    the index tuple (a reordered enumeration)."""

    SPLIT_ARRAY_ROWS = 64  # _split_envelope: tables above this many rows go through NumPy

    def __init__(self, gate: Gate, tabs: dict, F: list, routes: dict, tids: dict, hulls: dict,
                 pos: dict | None = None):
        self.args = (gate, tabs, F, routes, tids, hulls)
        # `tids` names each indicator's table by its content (Planner.oracles), so the envelopes
        # (`hulls`: (content, level costs) -> (value at level 0, envelope), see costs) are shared
        # by the plan's oracles (Evaluator.hulls) and die with it
        self._hulls = hulls
        n = len(F)
        pos = pos or {j: j for j in range(n)}
        self.gate = gate
        self.cats = gate.cats
        self.const_tot, self.const_per = 0, [0] * len(gate.cats)
        self.exact, self.fallback = [], []
        self.sure_short = False  # an untouched indicator below its own minimum: nothing passes by score
        self.exact_min: list = []  # per exact table: the indicator's minimum (or None)
        self.fb_min: list = []  # the same per fallback indicator
        self._exact_tid: list = []  # per exact table: its content name
        for q, (inp, lo, mx, ci) in enumerate(gate.inds):
            t = tabs.get(q)
            m = gate.mins[q] if q < len(gate.mins) else None
            L = tuple(j for j in range(n) if F[j] & inp)
            if t is not None:
                get = operator.itemgetter(*[pos[j] for j in t[0]])
                tab = t[1] if len(t[0]) > 1 else {k[0]: v for k, v in t[1].items()}
                self.exact.append((get, tab, ci, max(pos[j] for j in t[0]), max(t[1].values()),
                                   tuple(pos[j] for j in t[0]), t[1]))
                self.exact_min.append(m)
                self._exact_tid.append(tids[q])
            elif not L:
                self.const_tot += lo
                if ci is not None:
                    self.const_per[ci] += lo
                if m is not None and lo < m:
                    self.sure_short = True
            else:
                self.fallback.append((inp, lo, mx, ci))
                self.fb_min.append(m)
        self.route_tabs, self.route_fb = [], []
        for r, inp in enumerate(gate.route_inputs):
            t = (routes or {}).get(r)
            if t is None:
                self.route_fb.append(inp)
            else:
                get = operator.itemgetter(*[pos[j] for j in t[0]])
                tab = t[1] if len(t[0]) > 1 else {k[0]: v for k, v in t[1].items()}
                self.route_tabs.append((get, tab, max(pos[j] for j in t[0]), any(t[1].values()),
                                        tuple(pos[j] for j in t[0]), t[1]))
        self._prepare_layers(n)

    def closed(self, idx: tuple):
        """What `prefix` needs of a node (levels fixed at its first len(idx) positions): the points
        of the exact tables it has closed (all their levers fixed), in total and per category;
        None if one of them falls below its indicator's minimum (nothing below passes)."""
        return self._add(self._closed_at[len(idx)], idx, 0, [0] * len(self.cats))

    @staticmethod
    def _add(tables: list, idx: tuple, tot: int, per: list):
        """tot and per (changed in place) plus the points at idx of `tables` [(get, tab,
        category, minimum)]; None if one falls below its minimum."""
        for get, tab, ci, m in tables:
            v = tab[get(idx)]
            if m is not None and v < m:
                return None
            tot += v
            if ci is not None:
                per[ci] += v
        return tot, per

    def prefix(self, node, idx: tuple, tch: frozenset):
        """What the children of a node at `idx` (one more lever fixed, touching `tch`) share, from
        the node's `closed` sums: True (a direct route lets them through), False (none can pass),
        or the points of the tables not closing at the new lever, with the tables and routes that
        do (`child_ok` reads those for each child). Whether some completion of a child (`tch`:
        the fields touched by its fixed levels and every remaining lever) can pass: tables whose
        levers are all fixed give their value, the others their best value, indicators without a
        table their maximum if touched, else their baseline. The A* asks this of every child it
        makes; the whole sum over the tables per child was most of the time of some plans."""
        if self.gate.route_true:
            return True
        j = len(idx)  # the new lever's position
        for inp in self.route_fb:
            if inp & tch:
                return True
        rclose = []
        for get, tab, last, anytrue, _, _ in self.route_tabs:
            if last < j:
                if tab[get(idx)]:
                    return True
            elif last == j:
                rclose.append((get, tab))
            elif anytrue:
                return True
        if self.sure_short or node is None:
            return False if not rclose else (None, None, (), rclose)
        lay = self._layers[min(j + 1, len(self._layers) - 1)]  # (no lever at all: idx () at depth 0)
        if lay is None:  # an open table's best falls below its minimum
            return False if not rclose else (None, None, (), rclose)
        open_tot, open_per, closing = lay
        tot = self.const_tot + node[0] + open_tot
        per = [a + b + c for a, b, c in zip(self.const_per, node[1], open_per)]
        for (inp, lo, mx, ci), m in zip(self.fallback, self.fb_min):
            v = mx if inp & tch else lo
            if m is not None and v < m:
                return False if not rclose else (None, None, (), rclose)
            tot += v
            if ci is not None:
                per[ci] += v
        return tot, per, closing, rclose

    def child_ok(self, pre, idx: tuple) -> bool:
        """Whether some completion of the child `idx` can pass, from its node's `prefix`."""
        if pre is True or pre is False:
            return pre
        tot, per, closing, rclose = pre
        for get, tab in rclose:
            if tab[get(idx)]:
                return True
        if tot is None:
            return False
        if closing:
            r = self._add(closing, idx, tot, list(per))
            if r is None:
                return False
            tot, per = r
        if tot < self.gate.line:
            return False
        for m, v in zip(self.cats, per):
            if m is not None and v < m:
                return False
        return True

    def _prepare_layers(self, n: int) -> None:
        """Per depth j (levels fixed at positions < j): the best points of the tables still open
        (in total and per category; None if one is below its minimum whatever its levels) and the
        tables closing at position j - 1 (prefix, child_ok)."""
        self._layers = []
        self._closed_at = [[(get, tab, ci, m) for (get, tab, ci, last, _, _, _), m in zip(self.exact, self.exact_min)
                            if last < j] for j in range(n + 1)]
        for j in range(n + 1):
            tot, per, closing, short = 0, [0] * len(self.cats), [], False
            for (get, tab, ci, last, best, _, _), m in zip(self.exact, self.exact_min):
                if last >= j:
                    tot += best
                    if ci is not None:
                        per[ci] += best
                    short = short or (m is not None and best < m)
                elif last == j - 1:
                    closing.append((get, tab, ci, m))
            self._layers.append(None if short else (tot, per, closing))

    def costs(self, levers: list[list[Action]], F: list) -> None:
        """Prepare `cost_bound` for the levers in the enumeration order (F: the fields each
        touches): per exact table, the upper concave envelope of (cost of its levels, points gained
        over its levels at 0), and a family of tables on disjoint levers (largest possible gain
        first); per direct route, the levers touching it."""
        self._cheap = [min(a.cost for a in o) for o in levers]
        self._route_pos = [tuple(p for p in range(len(levers)) if F[p] & inp) for inp in self.route_fb]
        self._relevant = {p for ps in self._route_pos for p in ps} | {p for e in self.exact for p in e[5]} \
            | {p for e in self.route_tabs for p in e[4]} \
            | {p for p in range(len(levers)) for inp, *_ in self.fallback if F[p] & inp}
        self._rel = sorted(self._relevant)
        # per node depth j: the levels of the relevant levers fixed so far (the memo key)
        self._relget = []
        for j in range(len(levers) + 1):
            ps = [p for p in self._rel if p < j]
            self._relget.append((lambda idx: ()) if not ps else
                                (lambda idx, p=ps[0]: idx[p]) if len(ps) == 1 else operator.itemgetter(*ps))
        # indicators with their own minimum: per exact table, the level combinations reaching it
        # with their costs per position; per fallback indicator, the levers touching it
        self._min_tabs = []
        for (_, _, _, _, _, ps, raw), m in zip(self.exact, self.exact_min):
            if m is not None:
                self._min_tabs.append((ps, [(key, [levers[p][k - 1].cost if k else 0 for p, k in zip(ps, key)])
                                            for key, v in raw.items() if v >= m]))
        self._min_fb = [(tuple(p for p in range(len(levers)) if F[p] & inp), m)
                        for (inp, lo, _, _), m in zip(self.fallback, self.fb_min) if m is not None and lo < m]
        self._memo: dict = {}  # (j, levels of the relevant levers fixed) -> (bound, its route part)
        self._full: dict = {}  # the same -> full_cost_bound
        self._segs = []
        used: set = set()
        order = sorted(range(len(self.exact)), key=lambda q: -max(self.exact[q][6].values()))
        fam = set()
        for q in order:
            ps = self.exact[q][5]
            if not used & set(ps):
                used |= set(ps)
                fam.add(q)
        for q, (_, _, _, _, _, ps, raw) in enumerate(self.exact):
            ck = (self._exact_tid[q], tuple(tuple(a.cost for a in levers[p]) for p in ps))
            hit = self._hulls.get(ck)
            if hit is not None:
                self._segs.append((q in fam, hit[0], hit[1]))
                continue
            v0 = raw.get(tuple(0 for _ in ps), 0)
            segs = envelope(raw, [[a.cost for a in levers[p]] for p in ps], v0)
            self._hulls[ck] = (v0, segs)
            self._segs.append((q in fam, v0, segs))
        # the split-cost relaxation (_split_bound): a lever read by several tables has its cost
        # shared out equally among them, so every table counts at its own envelope
        shared: dict = {}
        for e in self.exact:
            for p in e[5]:
                shared[p] = shared.get(p, 0) + 1
        # per table: its content and cost shares, naming its envelopes in the plan-wide `hulls`
        self._split_keys = [("split", self._exact_tid[q], tuple(tuple(a.cost / shared[p] for a in levers[p]) for p in e[5]))
                            for q, e in enumerate(self.exact)]
        self._split_memo: dict = {}  # (table, its fixed levels) -> (value, envelope)

    def cost_bound(self, idx: tuple, tch: frozenset) -> float:
        """A lower bound of what the levers not yet fixed must cost for the score to reach the pass
        line (INF: it cannot): the points missing with those levers at level 0, less what tables
        outside the family (at their best) and touched indicators without a
        table (at their maximum) could add for free, must come from the family's tables, untouched
        so far, whose gains cost at least their concave envelopes: the greedy over their segments
        (a linear relaxation; tables on disjoint levers, so their costs add up). 0 when a direct
        route can still be met without more cost, else at most the cheapest way to reach one: the
        cheapest unfixed lever touching it. Category minimums are left out (a relaxation)."""
        if self.gate.route_true:
            return 0
        return self._memoised(idx, tch)[1][0]

    def full_cost_bound(self, idx: tuple, tch: frozenset) -> float:
        """cost_bound, raised by the split-cost relaxation (_split_bound): tighter where tables
        share levers, but dearer, so enumerate_gated asks for it only of the nodes it pops."""
        if self.gate.route_true:
            return 0
        key, (cheap, route) = self._memoised(idx, tch)
        w = self._full.get(key)
        if w is None:
            w = cheap if cheap >= route else min(max(cheap, self._split_bound(idx, tch, len(idx))), route)
            self._full[key] = w
        return w

    def _memoised(self, idx: tuple, tch: frozenset) -> tuple:
        """(memo key, _cost_bound): the bound reads only the levels of the relevant levers (and,
        for the indicators without a table, whether a lever fixed or to come touches them: the
        same), so it is memoised by them."""
        j = len(idx)
        key = (j, self._relget[j](idx))
        v = self._memo.get(key)
        if v is None:
            v = self._memo[key] = self._cost_bound(idx, tch, j)
        return key, v

    def _cost_bound(self, idx: tuple, tch: frozenset, j: int) -> tuple:
        """(cost_bound, the route part of it)."""
        route = INF  # the least a completion meeting a direct route costs
        for ps in self._route_pos:
            if any(p < j and idx[p] for p in ps):
                return 0, 0  # a fixed lever touches it: it may be met already
            route = min(route, min((self._cheap[p] for p in ps if p >= j), default=INF))
        for get, tab, last, anytrue, ps, raw in self.route_tabs:
            if last < j:
                if tab[get(idx)]:
                    return 0, 0
                continue
            if not anytrue:
                continue
            if raw[tuple(idx[p] if p < j else 0 for p in ps)]:
                return 0, 0
            route = min(route, min(self._cheap[p] for p in ps if p >= j))
        score = max(self._score_bound(idx, tch, j), self._min_bound(idx, j))
        return min(score, route), route

    def _min_bound(self, idx: tuple, j: int) -> float:
        """The least the unfixed levers must cost for every indicator with a minimum to reach it:
        the largest over those indicators (they may share levers) of the cheapest completion of
        its table meeting it, or of the cheapest unfixed lever touching an indicator without a
        table that no fixed lever touches and whose baseline is below its minimum."""
        h = 0
        for ps, rows in self._min_tabs:
            best = INF
            for key, cs in rows:
                c = 0
                for p, k, ck in zip(ps, key, cs):
                    if p < j:
                        if idx[p] != k:
                            break
                    else:
                        c += ck
                else:
                    if c < best:
                        best = c
            if best > h:
                h = best
        for ps, m in self._min_fb:
            if any(p < j and idx[p] for p in ps):
                continue
            c = min((self._cheap[p] for p in ps if p >= j), default=INF)
            if c > h:
                h = c
        return h

    def _score_bound(self, idx: tuple, tch: frozenset, j: int) -> float:
        tot = self.const_tot
        free = 0
        segs = []
        for (get, tab, _, last, best, ps, raw), (fam, v0, sg) in zip(self.exact, self._segs):
            if last < j:
                tot += tab[get(idx)]
                continue
            if any(p < j for p in ps):
                v = raw[tuple(idx[p] if p < j else 0 for p in ps)]
                tot += v
                free += best - v
            elif fam:
                tot += v0
                segs.append(sg)
            else:
                tot += v0
                free += best - v0
        for inp, lo, mx, _ in self.fallback:
            tot += lo
            if inp & tch:
                free += mx - lo
        return greedy_cost(segs, self.gate.line - tot - free)

    def _split_bound(self, idx: tuple, tch: frozenset, j: int) -> float:
        """The same lower bound by another relaxation: instead of counting the tables outside a
        disjoint family at their best for free, each unfixed lever's cost is split equally among
        the tables reading it (the shares add up to its cost, so a completion costs at least the
        sum of its tables' shares), and every open table gains along the concave envelope of
        (its share of the cost, its points) given the levels fixed so far. Tighter when tables
        share levers (R&D intensity, growth and revenue structure all read the growth lever)."""
        tot = self.const_tot
        segs = []
        for q, (get, tab, _, last, _, ps, raw) in enumerate(self.exact):
            if last < j:
                tot += tab[get(idx)]
                continue
            fixed = tuple(idx[p] if p < j else -1 for p in ps)
            hit = self._split_memo.get((q, fixed))
            if hit is None:
                ck = (self._split_keys[q], fixed)
                hit = self._hulls.get(ck)
                if hit is None:
                    hit = self._hulls[ck] = self._split_envelope(q, fixed)
                self._split_memo[(q, fixed)] = hit
            tot += hit[0]
            segs.append(hit[1])
        free = 0
        for inp, lo, mx, _ in self.fallback:
            tot += lo
            if inp & tch:
                free += mx - lo
        return greedy_cost(segs, self.gate.line - tot - free)

    def _split_envelope(self, q: int, fixed: tuple) -> tuple:
        """Table q's value with its unfixed levers unused (`fixed`: a level per lever, -1 where
        unfixed), and the envelope of its gains over it against its shares of their costs. Over
        the whole table as arrays (tables reach ~1,000 rows and a plan asks for ~200 of these)."""
        raw = self.exact[q][6]
        shares = self._split_keys[q][2]
        free_at = [t for t, f in enumerate(fixed) if f < 0]
        if len(raw) <= self.SPLIT_ARRAY_ROWS:  # small tables: plain Python is faster than array set-up
            sub = {}
            for key, v in raw.items():
                if all(k == f for k, f in zip(key, fixed) if f >= 0):
                    sub[tuple(key[t] for t in free_at)] = v
            v0 = sub[(0,) * len(free_at)]
            return v0, envelope(sub, [shares[t] for t in free_at], v0)
        import numpy as np

        arr = self._hulls.get(("arrays", self._split_keys[q]))
        if arr is None:
            keys = _key_array(raw, len(shares))
            # a row's share of cost per lever (level 0 costs nothing)
            cost = np.column_stack([np.array((0.0,) + sh)[keys[:, t]] for t, sh in enumerate(shares)])
            arr = self._hulls[("arrays", self._split_keys[q])] = (keys, np.array(list(raw.values()), dtype=np.int64), cost)
        keys, vals, cost = arr
        sel = np.ones(len(vals), dtype=bool)
        for t, f in enumerate(fixed):
            if f >= 0:
                sel &= keys[:, t] == f
        k, v = keys[sel], vals[sel]
        base = (k[:, free_at] == 0).all(axis=1) if free_at else np.ones(len(v), dtype=bool)
        v0 = int(v[base][0])
        c = cost[sel][:, free_at].sum(axis=1) if free_at else np.zeros(len(v))
        # the points that buy more than every cheaper one (the staircase under the envelope)
        return v0, _staircase_hull(c, v - v0)

    def remap(self, pos: dict) -> "ScoreOracle":
        return ScoreOracle(*self.args, pos=pos)

    def __call__(self, idx: tuple, tch: frozenset) -> bool:
        """Whether a complete combination (every lever fixed; `tch` the fields it touches) can
        pass: the combination read as the child of its levels but the last."""
        parent = idx[:-1]
        return self.child_ok(self.prefix(self.closed(parent), parent, tch), idx)


def merge_oracles(oracles: list, memo: dict | None = None) -> list:
    """Condition oracles on the same levers merged into one (a combination must meet all of them),
    and an oracle whose levers are a subset of another's folded into the larger one: the same
    pruning, but a conflict between conditions (no combination meets both) shows in one table
    instead of after every combination of the other levers. The score oracle (L None) is kept.
    `memo`: merged tables by the tables merged (a date's restarts merge the same ones again)."""
    conds = [(L, tab) for L, tab in oracles if L is not None]
    rest = [o for o in oracles if o[0] is None]
    if memo is not None:
        key = tuple((L, id(tab)) for L, tab in conds)
        got = memo.get(key)
        if got is not None and all(a is b for (_, a), b in zip(conds, got[0])):
            return got[1] + rest
        merged_ = merge_oracles(conds)
        memo[key] = ([tab for _, tab in conds], merged_)  # (the tables kept: their ids stay theirs)
        return merged_ + rest
    merged: dict = {}
    for L, tab in conds:
        m = merged.get(L)
        merged[L] = dict(tab) if m is None else {k: v is True and tab.get(k) is True for k, v in m.items()}
    keys = sorted(merged, key=len, reverse=True)
    folded: set = set()
    for small in keys:
        for big in keys:
            if big is small or len(big) <= len(small) or big in folded or not set(small) <= set(big):
                continue
            get = _key_getter(tuple(big.index(j) for j in small))
            ts, tb = merged[small], merged[big]
            merged[big] = {k: v is True and ts.get(get(k)) is True for k, v in tb.items()}
            folded.add(small)
            break
    return [(L, merged[L]) for L in merged if L not in folded] + rest


def _with_oracles(levers: list[list[Action]], T: dt.date, gate: Gate, work: list, oracles: list, seen: set,
                  c_last: int, cutoff: int | None = None, nogoods: list | None = None, upto: list | None = None,
                  first: tuple = (), memo: dict | None = None):
    """enumerate_gated over the levers reordered (`first`, then the oracles' levers, smallest
    tables first) with the oracles and nogoods, yielding level indices in the original order;
    combinations cheaper than c_last or in `seen` were already yielded and are skipped."""
    n = len(levers)
    oracles = merge_oracles(oracles, memo)
    if any(L is not None and not any(tab.values()) for L, tab in oracles):
        return  # a condition no combination meets: nothing passes on this date
    perm: list[int] = list(dict.fromkeys(first))
    # the most selective oracles first (fewest combinations meeting them), so that their levers are
    # fixed first and a node failing one is dropped as early as possible
    for L, tab in sorted((o for o in oracles if o[0] is not None),
                         key=lambda o: (sum(1 for v in o[1].values() if v) / len(o[1]), len(o[1]))):
        perm.extend(j for j in L if j not in perm)
    perm.extend(j for j in range(n) if j not in perm)
    pos = {j: i for i, j in enumerate(perm)}
    orc2 = []
    for L, tab in oracles:
        if L is None:  # the score oracle, reading the reordered level indices
            orc2.append((None, tab.remap(pos)))
            continue
        L2 = tuple(sorted(pos[j] for j in L))
        at = [L.index(perm[q]) for q in L2]
        if at == sorted(at):  # the levers keep their order: the table's keys stand as they are
            orc2.append((L2, tab))
        else:
            orc2.append((L2, {tuple(key[a] for a in at): v for key, v in tab.items()}))
    ng2 = [(tuple(pos[j] for j in ng[0]),) + tuple(ng[1:]) for ng in nogoods or ()]
    for g, idx2, _ in enumerate_gated([levers[j] for j in perm], T, gate, work, orc2, cutoff, nogoods=ng2,
                                      upto=upto):
        if g < c_last:
            continue
        idx = [0] * n
        for i, k in enumerate(idx2):
            idx[perm[i]] = k
        idx = tuple(idx)
        if idx in seen:
            continue
        yield g, idx, tuple(levers[i][k - 1] for i, k in enumerate(idx) if k)


class NodeLimit(Exception):
    """enumerate_gated expanded `limit` nodes (see Planner.search)."""


def enumerate_gated(levers: list[list[Action]], T: dt.date, gate: Gate, work: list, oracles: list | None = None,
                    cutoff: int | None = None, limit: int | None = None, nogoods: list | None = None,
                    upto: list | None = None):
    """Yield (cost, level indices, actions) for every combination of the levers' levels whose
    touched fields the Gate allows, in non-decreasing cost: A* over the levers in order, where a
    node fixes the level (0 = unused) of the first j levers. A node is dropped when the Gate fails
    even with every remaining lever touched (the Gate is monotone in the touched fields); its
    priority is its cost plus an admissible, consistent bound: the largest, over the failing
    conditions no fixed lever touches, of the cheapest level of a remaining lever touching it.
    work[0] counts the nodes expanded (the enumeration budget).

    `oracles`: [(lever indices L, {levels of L: ok})], the exact
    outcome of one failing top-level condition for every combination of the levers touching its
    inputs (Planner.oracles). A tier passes only if each top-level condition is true, and a
    condition reads only its inputs, so a node whose levels of L make it not true is dropped
    once the last lever of L is fixed.

    `cutoff`: only combinations costing less are wanted (a cheaper plan is known): the enumeration
    ends at the first node whose bound reaches it. Without it, oracles that drop every cheap leaf
    would leave the A* expanding nodes above the cutoff until some leaf passes.

    `limit`: raise NodeLimit once work[0] reaches it.

    `upto`: [cost or None], read at every node: once set, the enumeration ends at the first node
    whose bound exceeds it (the caller found a plan at that cost and wants only its ties).

    `nogoods`: [(lever indices L, set of their level tuples known to fail[, judge])], in L's order
    (not sorted): a node is dropped once every lever of L is fixed at levels in the set, and again
    when it is popped (the sets grow while the enumeration runs: Planner.search adds the
    title-chain steps found failing). `judge(levels of L)`: False if they fail (it adds them to
    the set), else True or None (not judged); asked of each leaf before it is yielded, so that
    leaves sharing levels that fail are not all yielded in one batch, and of a node where L's
    levers are all fixed when they come first (Planner.search puts the steps' levers first)."""
    oracles = [] if oracles is None else oracles
    n = len(levers)
    F = [frozenset(fields_of([a for a in o if a.eff is None or a.eff <= T])) for o in levers]
    suffix = [frozenset()] * (n + 1)
    for j in range(n - 1, -1, -1):
        suffix[j] = F[j] | suffix[j + 1]
    conds = list(gate.conds)
    cheap = [min(a.cost for a in o) for o in levers]
    mins = [[min((cheap[k] for k in range(j, n) if F[k] & c), default=INF) for j in range(n + 1)] for c in conds]

    bmemo: dict = {}
    amemo: dict = {}

    def bound(j: int, tch: frozenset) -> float:
        h = bmemo.get((j, tch))
        if h is None:
            h = 0
            for ci, c in enumerate(conds):
                if not c & tch:
                    m = mins[ci][j]
                    if m > h:
                        h = m
            bmemo[(j, tch)] = h
        return h

    def allows(tch: frozenset) -> bool:
        v = amemo.get(tch)
        if v is None:
            v = amemo[tch] = gate.allows(tch)
        return v
    # A second lower bound from the condition oracles: a yielded combination meets each of them,
    # so what its levers still to fix cost is at least the cheapest meeting level combination
    # consistent with the levels fixed so far; over oracles on disjoint levers these add up.
    # best[m]: {levels of the oracle's first m levers: cheapest cost of the rest} (absent: no
    # completion meets it). A node carries this bound (ho); a child changes only the term of the
    # oracle holding the lever it fixes (owner).
    fam = []
    used: set = set()
    for L, tab in oracles:
        if L is None:
            continue
        # level by level from the last lever: best[t][prefix] = min over the next level of its
        # cost plus best[t + 1] (each prefix visited once, not once per key below it)
        best: list[dict] = [dict() for _ in range(len(L) + 1)]
        cur = best[len(L)]
        for key, v in tab.items():
            if v is True:
                cur[key] = 0
        for t in range(len(L) - 1, -1, -1):
            ct = [0] + [a.cost for a in levers[L[t]]]
            nxt = best[t]
            for key, c in cur.items():
                c += ct[key[t]]
                pre = key[:t]
                if c < nxt.get(pre, INF):
                    nxt[pre] = c
            cur = nxt
        fam.append((best[0].get((), INF), L, best))
    scored = [tab for L, tab in oracles if L is None]
    for sc in scored:
        sc.costs(levers, F)
    owner: list = [None] * n
    ho0 = 0
    for c0, L, best in sorted(fam, key=lambda x: -x[0]):
        if not used & set(L):
            used |= set(L)
            ho0 += c0
            for m, i in enumerate(L):
                owner[i] = (L[:m], best[m], best[m + 1])

    heap = []
    hs0 = max(((sc.cost_bound if cutoff is None else sc.full_cost_bound)((), suffix[0]) for sc in scored), default=0)
    # the score bound changes only when the lever fixed is one it reads (a table's, a route's, or
    # one touching an indicator without a table); else a child keeps its parent's
    moves = [any(j in sc._relevant for sc in scored) for j in range(n)]
    h0 = max(bound(0, frozenset()), ho0, hs0)
    if h0 < INF and allows(suffix[0]):
        heap.append((h0, 0, (), frozenset(), ho0, hs0, False))
    # the oracles are fixed for the call: the condition tables closing at each lever (with the
    # getter of their levels), and the score oracle (at most one, see Planner.oracles)
    closing_at: list = [[] for _ in range(n)]
    for L, tab in oracles:
        if L is not None:
            closing_at[L[-1]].append((_key_getter(L), tab))
    bad_at: list = [[] for _ in range(n)]
    # the nogoods whose levers a node at depth j has all fixed: checked again when it is popped,
    # as the sets grow while the enumeration runs (a node pushed before its levels were found
    # failing would otherwise be expanded down to every leaf below it)
    bad_below: list = [[] for _ in range(n + 1)]
    judges = []
    judge_at: list = [[] for _ in range(n + 1)]
    in_steps = {j for ng in nogoods or () for j in ng[0]}
    for L, bad, *judge in nogoods or ():
        get = _key_getter(L)
        bad_at[max(L)].append((get, bad))
        for j in range(max(L) + 1, n + 1):
            bad_below[j].append((get, bad))
        if judge:
            judges.append((get, judge[0]))
            if all(j in in_steps for j in range(max(L) + 1)) and max(L) + 1 < n:
                # the steps' levers come first (Planner.search): judged where they are all fixed
                judge_at[max(L) + 1].append((get, judge[0]))
    assert len(scored) <= 1
    sc = scored[0] if scored else None

    def meets(idx2: tuple, closing: list, bads: list) -> bool:
        # the condition tables and nogoods closing at the lever just fixed (plain loops: the A*
        # asks this of every child it makes)
        for get, tab in closing:
            if tab.get(get(idx2)) is not True:
                return False
        for get, bad in bads:
            if get(idx2) in bad:
                return False
        return True
    while heap:
        f, g, idx, tch, ho, hs_, lazy = heapq.heappop(heap)
        if cutoff is not None and f >= cutoff:
            return
        if upto is not None and upto[0] is not None and f > upto[0]:
            return
        j = len(idx)
        if bad_below[j] and not meets(idx, (), bad_below[j]):
            continue
        if lazy and cutoff is not None:
            # the node's score bound was the cheap one: raise it to the full one now that the node
            # is first in line (most nodes pushed are never popped), and put it back if it rose.
            # Only under a cutoff: there it proves that nothing cheaper passes (R2026 科技和创新型,
            # 60 firms: the slowest plans 80-106 ms -> 40-60 ms); without one the A* stops at the
            # first leaf that passes, and the tighter bound saved no node on the SRDI plans
            hs_ = sc.full_cost_bound(idx, tch | suffix[len(idx)])
            f2 = g + max(bound(len(idx), tch), ho, hs_)
            if f2 > f:
                if f2 < INF:
                    heapq.heappush(heap, (f2, g, idx, tch, ho, hs_, False))
                continue
        work[0] += 1
        if limit is not None and work[0] >= limit:
            raise NodeLimit
        if judge_at[j] and any(judge(get(idx)) is False for get, judge in judge_at[j]):
            continue
        if j == n:
            # a leaf met every oracle when the last of its levers was fixed (the condition tables
            # closing there, the score oracle's child_ok with nothing left to touch): only the
            # root of an enumeration without levers is checked here
            if not n and oracles and not all(tab(idx, tch) if L is None else tab.get(()) is True
                                             for L, tab in oracles):
                continue
            if judges and any(judge(get(idx)) is False for get, judge in judges):
                continue
            yield g, idx, tuple(levers[i][k - 1] for i, k in enumerate(idx) if k)
            continue
        rest = suffix[j + 1]
        closing = closing_at[j]
        bads = bad_at[j]
        own = owner[j]
        if own is not None:
            Lm, here, nxt = own
            pre = tuple(idx[i] for i in Lm)
            ho_rest = ho - here[pre]
        node = sc.closed(idx) if sc is not None else None
        # level 0: lever j unused
        if allows(tch | rest):
            h = bound(j + 1, tch)
            idx2 = idx + (0,)
            ho2 = ho if own is None else ho_rest + nxt.get(pre + (0,), INF)
            if h < INF and ho2 < INF and (not (closing or bads) or meets(idx2, closing, bads)) \
                    and (sc is None or sc.child_ok(sc.prefix(node, idx, tch | rest), idx2)):
                mv = sc is not None and moves[j]
                hs = sc.cost_bound(idx2, tch | rest) if mv else hs_
                if hs < INF:
                    heapq.heappush(heap, (g + max(h, ho2, hs), g, idx2, tch, ho2, hs, mv))
        t2 = tch | F[j]
        if allows(t2 | rest):
            h = bound(j + 1, t2)
            if h < INF:
                t2r = t2 | rest
                mv = sc is not None and moves[j]
                shared = sc.prefix(node, idx, t2r) if sc is not None else None
                for k, a in enumerate(levers[j], 1):
                    if own is None:
                        ho2 = ho
                    else:
                        ho2 = ho_rest + nxt.get(pre + (k,), INF)
                        if ho2 == INF:
                            continue
                    idx2 = idx + (k,)
                    if (closing or bads) and not meets(idx2, closing, bads):
                        continue
                    hs = hs_
                    if sc is not None:
                        if not sc.child_ok(shared, idx2):
                            continue
                        if mv:
                            hs = sc.cost_bound(idx2, t2r)
                            if hs == INF:
                                continue
                    g2 = g + a.cost
                    heapq.heappush(heap, (g2 + max(h, ho2, hs), g2, idx2, t2, ho2, hs, mv))


def _points_min(m) -> int | None:
    """A minimum in points as the least lower points x 10^4 that meet it (blocks: lo >= m x 10^4)."""
    if m is None:
        return None
    q = Fraction(str(m)) * 10_000
    return -((-q.numerator) // q.denominator)


@functools.lru_cache(maxsize=8192)
def _reads_titles(T: dt.date, mode: str, o: str) -> bool:
    """Whether output `o` (and what it depends on) reads the titles held (their validity on T):
    one entry per date and output, apart from the engine's own (smaller) cache of plans."""
    from .bulk import table_inputs

    return "titles" in table_inputs(T, mode, (o,))


@functools.lru_cache(maxsize=128)
def _level_keys(sizes: tuple) -> list:
    """Every level combination of levers with these numbers of levels (0 = unused), in product
    order: an oracle table's keys (shared, not to be changed; up to ORACLE_LEARNED each, so the
    cache holds a few shapes, not every one a long-running server meets)."""
    return list(itertools.product(*[range(k + 1) for k in sizes]))


def _key_getter(L: tuple):
    """idx -> the tuple of idx at the positions L (an oracle table's key)."""
    if len(L) == 1:
        p = L[0]
        return lambda idx: (idx[p],)
    return operator.itemgetter(*L)


class StepLevels:
    """The levels of a title-chain step's levers L (the title lever last) grouped by what the step
    sees of each: the element it adds to the action key the step's outcome is cached by
    (Planner.outcomes: the effective actions changing an input of the step's tier), or nothing
    (unused, not in effect on the step's date, or changing nothing the step reads). Levels giving
    the same key give the same outcome, so one combination failing the step fails them all: the
    nogood learned from it is every such tuple (`like`), and a key found failing in an earlier
    search maps back to its tuples (`giving`). The title lever keeps only its levels whose chain
    judges this step. Expansions over `cap` tuples are left out (the exact tuple still counts)."""

    def __init__(self, levers: list[list[Action]], L: tuple, T0: dt.date, t0: str, rel: frozenset, cap: int = 512):
        self.cap = cap
        self._args = (levers, L, T0, t0, rel)  # the groups are made on first use (most steps never fail)
        self.elem: list = []  # per lever of L: {level: its key element or None}
        self.by: list = []  # per lever of L: {key element: [levels giving it]}
        self.none: list = []  # per lever of L: [levels giving no element]
        self.source: dict = {}  # key element -> position in L of the lever giving it (None: several)

    def _build(self) -> None:
        levers, L, T0, t0, rel = self._args
        self._args = None
        ti = L[-1]
        for m, j in enumerate(L):
            elem = {} if j == ti else {0: None}
            by: dict = {}
            none = [] if j == ti else [0]
            for k, a in enumerate(levers[j], 1):
                if j == ti and (t0, T0) not in a.checks:
                    continue
                e = next(iter(action_key((a,), T0)), None) if not fields_of([a]).isdisjoint(rel) else None
                elem[k] = e
                if e is None:
                    none.append(k)
                else:
                    by.setdefault(e, []).append(k)
                    self.source[e] = m if self.source.get(e, m) == m else None
            self.elem.append(elem)
            self.by.append(by)
            self.none.append(none)

    def _product(self, choices: list) -> list:
        if not all(choices) or math.prod(map(len, choices)) > self.cap:
            return []
        return list(itertools.product(*choices))

    def like(self, levels: tuple) -> list:
        """The tuples of L giving the same key as `levels`."""
        if self._args is not None:
            self._build()
        choices = []
        for m, k in enumerate(levels):
            if k not in self.elem[m]:
                return []
            e = self.elem[m][k]
            choices.append(self.none[m] if e is None else self.by[m][e])
        return self._product(choices)

    def giving(self, key: frozenset) -> list:
        """The tuples of L giving the action key `key` (none if some element of it comes from no
        lever of L, or from several)."""
        if self._args is not None:
            self._build()
        got: dict = {}
        for e in key:
            m = self.source.get(e)
            if m is None or m in got:
                return []
            got[m] = e
        return self._product([self.by[m][got[m]] if m in got else self.none[m] for m in range(len(self.by))])


class Planner:
    def __init__(self, row: dict, as_of: dt.date, target: str, mode: str, horizon: int, costs: dict,
                 exclude: frozenset = frozenset(), ev: Evaluator | None = None):
        self.exclude = exclude  # lever ids not to use (alternatives)
        self.row = row
        self.as_of = as_of
        self.target = target
        self.mode = mode
        self.costs = costs
        self.end = add_months(as_of, 12 * int(horizon))
        self.dates = candidate_dates(as_of, self.end, costs)
        self.ev = Evaluator(mode) if ev is None else ev
        self.rows_start = self.ev.rows
        self._rows: dict[int, tuple[dict, list[int]]] = {}
        self._row_year: dict[int, int] = {}
        self._base: dict = {}
        self._base_fast: dict = {}  # (tier, date, id(row), mode) -> analyse result (rows live in _rows)
        self._th: dict = {}  # merged thresholds by the packs they come from
        self._fin: dict = {}  # financial lever levels by (row year, packs, years)
        self.gated = 0
        self.judged = 0  # title-chain step levels judged leaf by leaf (_step_judge)
        self.seeded = 0  # step nogoods known from an earlier search when one starts (_step_nogoods)
        self._ctx: dict = {}  # (id(row), row year, tier, mode, date) -> (row, its context)
        self._octx: dict = {}  # (context, output key) -> the output's context (Planner.oracles)
        self._rel: dict = {}  # (tier, mode, date) -> the inputs the tier reads then (_tier_reads)
        self._grown: dict = {}  # (id(row), id(later row)) -> keys only the later has, or False (_row_class)
        self._fails: dict = {}  # evaluation context -> the action keys found failing there (outcomes)
        self._steps_first: set = set()  # (tier, date) whose title-chain steps are judged first (check)
        self.learn_steps = True  # nogoods from failing title-chain steps, steps judged first (tests turn it off)
        self.nogoods: dict = {}  # (tier, date, branch) -> (levers, the steps' nogoods) of each search
        self._learned: dict[str, list] = {}  # tier -> conditions given oracles by `broken`
        self._fixed: dict = {}  # (tier, date, row year) -> the tier's inputs then (_step_fixed)
        self._akc: dict = {}  # (id(levers), date) -> (levers, action keys by L, key elements): Planner.oracles
        self._aksig: dict = {}  # the key elements of some levers -> action keys of their combinations
        self._wide: set = set()  # (tier, branch) whose score oracles have exact tables up to ORACLE_LEARNED
        self.row_budget = PLAN_BUDGET
        self.enum_budget = POP_BUDGET
        self.use_oracles = True
        self.date_budget = BUDGET

    def row_for(self, year: int) -> tuple[dict, list[int]]:
        """The profile row with fiscal years as_of.year .. year-1 projected where missing."""
        if year not in self._rows:
            self._rows[year] = project_row(self.row, self.as_of.year, year - 1,
                                           float(self.costs["projection"]["growth"]))
            self._row_year[id(self._rows[year][0])] = year
        return self._rows[year]

    def scalar(self, rowT: dict, acts, at: dt.date, tier: str, mode: str):
        """scalar_tier of rowT with `acts` applied on `at`, cached by evaluation context."""
        key = (self.context(rowT, self._row_year[id(rowT)], at, tier, mode), action_key(acts, at))
        r = self.ev.scalars.get(key)
        if r is None:
            row = apply_actions(rowT, acts, at, self.costs["levers"]) if acts else rowT
            r = self.ev.scalars[key] = scalar_tier(row, at, mode, tier)
        return r

    def setup(self, T: dt.date):
        tier = tier_at(self.target, T, self.mode)
        if tier is None:
            return None
        rowT, _ = self.row_for(T.year)
        opts = chain_options(tier, T, self.as_of, self.dates, self.costs) if self.mode == "application" else [()]
        parts = [(tier, T, self.mode)] + [(t0, T0, "application") for ch in opts for t0, T0, _ in ch]
        tkey = frozenset((pack_for(t, d, m).id, d.year, m) for t, d, m in parts)
        th = self._th.get(tkey)
        if th is None:
            th = self._th[tkey] = Thresholds()
            for t, d, m in parts:
                _merge(th, pack_thresholds(t, d, m))
        check_dates = [T] + [T0 for ch in opts for _, T0, _ in ch]
        back = 3 if (th.get("main_growth_avg_2y") or th.get("revenue_cagr_2y")) else 2
        years = sorted({y for d in check_dates for y in range(max(self.as_of.year, d.year - back), d.year)})
        # the financial levels depend on the row (its projection year), the thresholds and the years
        fkey = (T.year, tkey, tuple(years))
        fin_lv = self._fin.get(fkey)
        if fin_lv is None:
            fin_lv = self._fin[fkey] = financial_levers(rowT, years, th, self.costs)
        levers = list(fin_lv) + state_levers(rowT, self.as_of, T, th, self.costs)
        tl = title_levers(opts, self.costs)
        if tl:
            levers.append(tl)
        levers = [sorted(opts_, key=lambda a: a.cost) for opts_ in levers if opts_ and opts_[0].lever not in self.exclude]
        return tier, rowT, levers

    def analyse(self, tier: str, d: dt.date, rowT: dict, mode: str, branch: int | None = None):
        """Baseline at date d with the scalar engine: failing top-level conditions
        [(id, title, inputs, value, output key)], the Gate, and the inputs a useful lever must
        touch (None: keep every lever). `branch`: for a tier passed by one of several
        alternatives (decision: alternatives), the tier's own conditions and those of its
        alternative `branch` (plan.subs[branch]), which must then all hold (see `run`)."""
        fast = (tier, d, id(rowT), mode, branch)
        r = self._base_fast.get(fast)
        if r is not None:
            return r
        key = (self.context(rowT, self._row_year[id(rowT)], d, tier, mode), branch)
        if key in self._base:
            self._base_fast[fast] = self._base[key]
            return self._base[key]
        vals, top = self.scalar(rowT, (), d, tier, mode)
        plans = branch_plans(top, branch)
        plan = plans[-1]  # the plan whose decision gates (the alternative's under a branch)

        failing = []
        for p in plans:
            for e in p.entries:
                if is_top_condition(e) and vals.get(f"{e.key}#ok") is not True:
                    failing.append((e.key.split("/", 1)[1], e.node.title, entry_inputs(p, e.key),
                                    vals.get(f"{e.key}#ok"), e.key))

        def inputs(k: str) -> set:
            return entry_inputs(plan, k)

        gate = Gate([f[2] for f in failing])
        need: set | None = set().union(*[f[2] for f in failing]) if failing else set()
        if plan.subs or plan.pack.decision == "alternatives":
            need = None
        elif plan.pack.decision == "score":
            gate.scored = True
            gate.line = int(plan.pack.score["pass_line"]) * 10_000
            cats = [e for e in plan.entries if e.kind == "category"]
            gate.cats = [_points_min(e.node.minimum) for e in cats]
            ckeys = [e.key for e in cats]
            ikeys = [e.key for e in plan.entries if e.kind == "indicator"]
            for e in plan.entries:
                if e.kind == "indicator" and any(e.key.startswith(k + ".") for k in ikeys):
                    # an item of an indicator's own sheet (R2022 特色化: a province's items make up
                    # the `local` indicator): its points are in that indicator's, not the score's.
                    # Counted twice, a firm with 4 points from one 山东 item was thought to reach
                    # the pass line 4 points sooner, and whole batches that fell short were judged
                    continue
                if e.kind == "indicator" and e.scored and e.node.max is not None:
                    lo = vals.get(f"{e.key}#lo") or 0
                    mx = int(e.node.max) * 10_000
                    ci = next((i for i, k in enumerate(ckeys) if e.key.startswith(k + ".")), None)
                    inp = inputs(e.key)
                    gate.inds.append((inp, lo, mx, ci))
                    gate.mins.append(_points_min(e.node.minimum))
                    gate.keys.append(e.key)
                    if lo < mx:
                        need |= inp
                elif e.kind == "route" and e.depth == 0:
                    if vals.get(f"{e.key}#ok") is True:
                        gate.route_true = True
                    else:
                        inp = inputs(e.key)
                        gate.route_inputs.append(inp)
                        gate.route_keys.append(e.key)
                        need |= inp
        self._base[key] = self._base_fast[fast] = (failing, gate, need)
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

    def blocked(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], any_: bool = False) -> list:
        """Top-level conditions that cannot pass at T: false on the baseline with no lever touching
        their inputs; or undetermined because an input is missing that no lever supplies, and
        still not met with every lever at its highest level. `any_`: only whether some condition
        is blocked (the list may then be incomplete, never wrongly empty)."""
        failing, _, _ = self.analyse(tier, T, rowT, self.mode)
        tch = touched(levers)
        miss = {"zh": " (缺少数据)", "en": " (missing data)"}
        out = [(i, t if v is False else {k: x + miss.get(k, "") for k, x in t.items()})
               for i, t, inputs, v, _ in failing if not inputs & tch]
        if out and any_:
            return out
        # a condition some of whose inputs a lever touches, but with a year that must hold (a test
        # over each of several years) which no lever touches and which does not hold (a past year)
        if failing:
            vals0, plan = self.scalar(rowT, (), T, tier, self.mode)
            for i, t, inputs, v, key in failing:
                if not inputs & tch:
                    continue
                for _, okey, pin in necessary_parts(plan, key):
                    if not set(pin) & tch and okey in vals0 and vals0[okey] is not True:
                        out.append((i, t if vals0[okey] is False else {k: x + miss.get(k, "") for k, x in t.items()}))
                        break
            if out and any_:
                return out
        lists = ("titles", "awards", "equity_financing", "standards_led")
        und = [(i, t, inputs) for i, t, inputs, v, _ in failing if v is None and inputs & tch
               and any(x not in lists and rowT.get(x) is None for x in inputs)]
        if und:
            top = apply_actions(rowT, [o[-1] for o in levers], T, self.costs["levers"])
            vals = self.scalar(rowT, [o[-1] for o in levers], T, tier, self.mode)[0]
            for i, t, inputs in und:
                never = {x for x in inputs if x not in lists and rowT.get(x) is None and top.get(x) is None}
                if never and vals.get(f"{tier}/{i}#ok") is not True:
                    out.append((i, {k: v + (" (缺少数据)" if k == "zh" else " (missing data)") for k, v in t.items()}))
        return out

    def full_blocked(self, results: list) -> None:
        """Complete the blocked lists of the dates (run() only checks whether a date is blocked)."""
        for r in results:
            if r.blocked and r.all_levers is not None:
                r.blocked = self.blocked(r.tier, r.date, self.row_for(r.date.year)[0], r.all_levers)

    def useful(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]]) -> list[list[Action]]:
        """Drop levers that touch no input the target (or a chain tier) still needs: they
        cannot make a failing condition pass nor add points (every result is engine-checked)."""
        levers = self.live_titles(T, rowT, levers)
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

    def live_titles(self, T: dt.date, rowT: dict, levers: list[list[Action]]) -> list[list[Action]]:
        """Drop title levels (chains of lower tiers passed on earlier dates) with a step that no
        lever can help: no lever in effect by the step's date touches what its tier reads (a date
        already passed, or before any lever counts), and the tier does not pass there with the
        title level itself (an earlier step of its chain grants a title a later one may need)."""
        out = []
        memo: dict = {}  # step date -> the fields the levers change by then (_step_fixed)
        for opts in levers:
            if not any(a.checks for a in opts):
                out.append(opts)
                continue
            keep = []
            for a in opts:
                ok = True
                for t0, T0 in a.checks:
                    if self._step_fixed(t0, T0, rowT, levers, memo) and self.outcomes(
                            rowT, T.year, [(a,)], T0, t0, "application")[0] is not True:
                        ok = False
                        break
                if ok:
                    keep.append(a)
            if keep:
                out.append(keep)
        return out

    def _step_fixed(self, t0: str, T0: dt.date, rowT: dict, levers: list[list[Action]], memo: dict | None = None) -> bool:
        """Whether no lever in effect by T0 touches an input of tier t0 on T0 (title levers aside).
        `memo`: {T0: fields touched by then} for calls over the same levers."""
        touched_by_T0 = None if memo is None else memo.get(T0)
        if touched_by_T0 is None:
            touched_by_T0 = frozenset(fields_of([a for o in levers for a in o
                                                 if not a.checks and (a.eff is None or a.eff <= T0)]))
            if memo is not None:
                memo[T0] = touched_by_T0
        key = (t0, T0, self._row_year[id(rowT)])  # the tier's inputs on T0 (rows by projection year)
        inputs0 = self._fixed.get(key)
        if inputs0 is None:
            plan0 = tier_plan(T0, "application", t0)
            inputs0 = self._fixed[key] = frozenset(tier_inputs(plan0))
        return not touched_by_T0 & inputs0

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
            dr.all_levers = levers
            # whether the date is blocked; the full list (for the report) only if no plan is found
            dr.blocked = self.blocked(tier, T, rowT, levers, any_=True)
            if dr.blocked:
                continue
            levers = self.useful(tier, T, rowT, levers)
            dr.levers = levers
            sig = self.signature(tier, T, rowT, levers)
            if sig == prev_sig:  # same options as the previous date: nothing cheaper can appear
                dr.same_as_previous = True
                continue
            prev_sig = sig
            _, top = self.scalar(rowT, (), T, tier, self.mode)
            if self.use_oracles and top.pack.decision == "alternatives" and top.subs:
                # passed by one of several alternatives: search each with its own gate and oracles
                # (a combination that passes meets the tier's conditions and one alternative's, so
                # the cheapest over the branches is the optimum). A first batch over the whole
                # tier was tried before the branches: on most dates nothing cheaper passes, and it
                # cost more than it saved (innovative targets, 60 firms: median 103 -> 99 ms)
                for b in range(len(top.subs)):
                    best = self.search(tier, T, rowT, levers, dr, found, best, branch=b)
            else:
                best = self.search(tier, T, rowT, levers, dr, found, best)
        return found, results

    def search(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], dr: DateResult,
               found: list, best: int | None, branch: int | None = None) -> int | None:
        """Best-first over the levers at date T; appends passing combinations to `found`.

        Combinations come from `enumerate_gated` (only those the Gate allows, in non-decreasing
        cost); a batch is extended to the end of its cost tie and ordered by (cost, level
        indices), the order of `enumerate_by_cost`, so ties resolve as in a plain enumeration.
        `branch`: one alternative of the tier (see `run`, `analyse`)."""
        _, gate, _ = self.analyse(tier, T, rowT, self.mode, branch)
        # conditions learned at earlier dates (see below) get their oracles from the start
        learned = self._learned.setdefault((tier, branch), [])
        wide = (tier, branch) in self._wide  # the score's indicators with exact tables (see below)
        extra: list = []
        if learned:
            holders = self._holders(tier, T, rowT, branch)
            extra = [(k, entry_inputs(holders[k], k)) for k in learned if k in holders]
        work = [0]
        oracles: list = []
        # the title-chain steps: {step: (levers it reads, their levels found failing)}, learned from
        # the batches (check) and dropped from the enumeration as soon as those levers are fixed
        steps, step_levels = self._step_nogoods(T, rowT, levers) if self.learn_steps else ({}, {})
        self.nogoods[(tier, T, branch)] = (levers, steps)
        nogoods = [(L, bad, self._step_judge(tier, T, rowT, levers, steps, L, bad))
                   for L, bad in {id(bad): (L, bad) for L, bad in steps.values()}.values()]
        # without oracles, only the first batch, and only while it comes quickly (FIRST_NODES)
        upto: list = [None]  # set to the cost of a plan found leaf by leaf: only its ties are wanted then
        step_first: tuple = ()  # levers placed first (the steps', once judged first)
        orc: list = []
        gen = enumerate_gated(levers, T, gate, work, oracles, best, FIRST_NODES if self.use_oracles else None,
                              nogoods=nogoods, upto=upto)
        rows0 = self.ev.rows
        bi = 0
        oracled = False
        if self.use_oracles and gate.scored and not gate.route_true:
            # a scored tier: the score oracle prunes most combinations, use it from the start
            orc = self.oracles(tier, T, rowT, levers, tuple(extra), branch, wide, best)
            if orc:
                gen = _with_oracles(levers, T, gate, work, orc, set(), 0, best, nogoods, upto, (), self.ev.merged)
                oracled = True
        done = False
        pending = None
        while not done:
            size = BATCHES[min(bi, len(BATCHES) - 1)]
            # the steps judged leaf by leaf (_step_judge): what comes out passes them, and mostly
            # the tier too (which is why the steps come first), so one leaf at a time, without the
            # look-ahead for its cost ties (they are fetched if it passes, see below). Leaves
            # passing the steps are sparse: batches of 4, and the look-ahead, made the A* dig out
            # and judge leaves up to 2% dearer than the one that won (one firm: 1,166 nodes for
            # 507 before the judging). Up to SCALAR_MAX rows the engine goes row by row anyway
            judged = bool(nogoods) and (tier, T) in self._steps_first
            bi += 1
            batch = []
            if pending is not None:
                batch.append(pending)
                pending = None
            cut = False  # the plain enumeration reached FIRST_NODES: oracles now
            try:
                if not (judged and batch):  # (a leaf judged: the batch is that leaf alone)
                    for c, idx, acts in gen:
                        if best is not None and c >= best:
                            done = True
                            break
                        if len(batch) >= size and c != batch[-1][0]:
                            pending = (c, idx, acts)
                            break
                        batch.append((c, idx, acts))
                        if judged or (work[0] >= self.enum_budget and len(batch) >= size):
                            break
                    else:
                        done = True
            except NodeLimit:
                cut = True
            if not batch and not cut:
                break
            batch.sort(key=lambda x: (x[0], x[1]))
            seen = {idx for _, idx, _ in batch}
            idxs = [idx for _, idx, _ in batch]
            batch = [(c, acts) for c, _, acts in batch]
            c_last = batch[-1][0] if batch else 0
            dr.evaluated += len(batch)
            ok, failed = self.check(tier, T, rowT, batch) if batch else ([], [])
            n_bad = sum(len(ng[1]) for ng in nogoods)
            for i, st in failed:
                if st in steps:
                    # the combination's levels of L, and every other levels of L the step sees the same
                    L, bad = steps[st]
                    key = tuple(idxs[i][j] for j in L)
                    bad.add(key)
                    bad.update(step_levels[st].like(key))
            if sum(len(ng[1]) for ng in nogoods) > n_bad and bi > 1:
                # steps failed: the next batch stays small, so that what they teach prunes it
                bi = 1
            entries = list(zip(idxs, batch, ok))
            if judged and any(ok) and not done:
                # a leaf passed: its cost ties (fetched now, the A* stopping above that cost), so
                # that ties resolve by level indices as in a batch
                upto[0] = batch[0][0]
                ties = []
                try:
                    for c, idx, acts in gen:
                        if idx not in seen:
                            ties.append((c, idx, acts))
                except NodeLimit:
                    pass  # (the cost is the optimum; only which of equal-cost plans is shown)
                if ties:
                    tb = [(c, acts) for c, _, acts in ties]
                    dr.evaluated += len(tb)
                    tok, _ = self.check(tier, T, rowT, tb)
                    entries += list(zip([idx for _, idx, _ in ties], tb, tok))
                    entries.sort(key=lambda e: (e[1][0], e[0]))
            hit = False
            for _, (c, acts), good in entries:
                if good:
                    found.append(Found(c, T, tier, acts, frozenset(a.key for a in acts)))
                    if best is None or c < best:
                        best = c
                    hit = True
            if hit:
                done = True
            elif nogoods and orc and not step_first and (tier, T) in self._steps_first and not done:
                # the steps now come first and are judged leaf by leaf: their levers first too, so
                # that a step's levels are judged where they are fixed, before the other levers
                # branch out under each of them (one firm: 4,000 nodes for 130 failing levels,
                # the step's levers placed last by the oracles' order)
                step_first = tuple(j for L, *_ in nogoods for j in L)
                gen = _with_oracles(levers, T, gate, work, orc, seen, c_last, best, nogoods, upto, step_first,
                                    self.ev.merged)
                pending = None
            elif oracled and not done and self.use_oracles:
                # a batch that met every oracle failed: some condition met on the baseline is
                # broken by the combinations (a side effect). Learn which from a few of them, add
                # oracles for those conditions and restart (combinations evaluated are skipped).
                new = self.broken(tier, T, rowT, levers, batch, extra, branch)
                widen = not new and gate.scored and not gate.route_true and not wide
                if new:
                    extra += new
                    learned.extend(k for k, _ in new if k not in learned)
                elif widen:
                    # no condition broken: the score falls short. Exact tables for the indicators
                    # that had only their maximum (up to ORACLE_LEARNED combinations each)
                    wide = True
                    self._wide.add((tier, branch))
                if new or widen:
                    orc = self.oracles(tier, T, rowT, levers, tuple(extra), branch, wide, best)
                    if orc:
                        gen = _with_oracles(levers, T, gate, work, orc, seen, batch[-1][0], best, nogoods, upto,
                                            step_first, self.ev.merged)
                        pending = None
                        bi = 0
            elif (bi == 1 or cut) and not oracled and not done and self.use_oracles:
                # the first small batch failed (or was slow to come): restart the enumeration with
                # condition oracles, their levers first (combinations already evaluated are
                # skipped; with no oracle, the plain enumeration goes on without a node limit). The
                # oracles leave mostly passing combinations, so batches start small again: a large
                # first batch would evaluate every remaining combination below its size.
                oracled = True
                orc = self.oracles(tier, T, rowT, levers, tuple(extra), branch, wide, best)
                gen = _with_oracles(levers, T, gate, work, orc, seen, c_last, best, nogoods, upto, step_first,
                                    self.ev.merged)
                pending = None
                bi = 0
            if (work[0] >= self.enum_budget or self.ev.rows - rows0 >= self.date_budget
                    or self.ev.rows - self.rows_start >= self.row_budget) and not done:
                dr.complete = False
                done = True
        return best

    def oracles(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], extra: tuple = (),
                branch: int | None = None, wide: bool = False, cutoff: int | None = None) -> list:
        """For each failing top-level condition whose touching levers have at most ORACLE_MAX
        level combinations: (lever indices, {levels: condition ok}) from one bulk evaluation.
        `wide`: exact score tables up to ORACLE_LEARNED combinations (a score found short).
        `extra`: more top-level conditions [(key, inputs)], met on the baseline but broken by some
        combinations (a side effect: shedding revenue to raise the main-business share can sink
        revenue below its threshold); see `search`.
        `cutoff`: only combinations cheaper than it are wanted (a plan that cheap is known), and a
        combination holding a table's levels costs at least what those levels cost: a table's
        levels costing `cutoff` or more are not evaluated but read as failing (a condition) or
        as 0 points (an indicator), which keeps every oracle and bound exact below the cutoff."""
        failing, _, _ = self.analyse(tier, T, rowT, self.mode, branch)
        n = len(levers)
        F = [frozenset(fields_of([a for a in o if a.eff is None or a.eff <= T])) for o in levers]
        specs = []
        holders = None
        xkeys = {x[0] for x in extra}
        for key, inputs, limit in ([(f[4], f[2], ORACLE_MAX) for f in failing if f[4] not in xkeys]
                                   + [(x[0], x[1], ORACLE_LEARNED) for x in extra]):
            L = tuple(j for j in range(n) if F[j] & inputs)
            if not L:
                continue
            if math.prod(len(levers[j]) + 1 for j in L) <= limit:
                specs.append((f"{key}#ok", L, _level_keys(tuple(len(levers[j]) for j in L))))
                continue
            # too many combinations for the whole condition: one oracle per year that must hold
            # (its levers are that year's), each a necessary condition
            if holders is None:
                holders = self._holders(tier, T, rowT, branch)
            for _, okey, pin in necessary_parts(holders[key], key):
                Lp = tuple(j for j in range(n) if F[j] & set(pin))
                if Lp and math.prod(len(levers[j]) + 1 for j in Lp) <= limit:
                    specs.append((okey, Lp, _level_keys(tuple(len(levers[j]) for j in Lp))))
        _, gate, _ = self.analyse(tier, T, rowT, self.mode, branch)
        sspecs = []  # scored tier: per indicator, its lower points for each level combination
        if gate.scored and not gate.route_true:
            smax = ORACLE_LEARNED if wide else ORACLE_MAX
            # an indicator on the very levers of a condition's table is evaluated on its rows at
            # little cost: its exact table too (up to ORACLE_LEARNED), not only once the score is
            # found short (on the slowest SRDI firms: R&D intensity and net margin on the levers
            # of "R&D in the prior year", learned one batch before the score fell short)
            same = {L for _, L, _ in specs}
            for q, (inp, lo, mx, ci) in enumerate(gate.inds):
                L = tuple(j for j in range(n) if F[j] & inp)
                if L and math.prod(len(levers[j]) + 1 for j in L) <= (ORACLE_LEARNED if L in same else smax):
                    sspecs.append((q, f"{gate.keys[q]}#lo", L,
                                   _level_keys(tuple(len(levers[j]) for j in L))))
        rspecs = []  # and its direct routes (a route met passes the tier without the score)
        if sspecs:
            for r, inp in enumerate(gate.route_inputs):
                L = tuple(j for j in range(n) if F[j] & inp)
                if L and math.prod(len(levers[j]) + 1 for j in L) <= smax:
                    rspecs.append((r, f"{gate.route_keys[r]}#ok", L,
                                   _level_keys(tuple(len(levers[j]) for j in L))))
        if not specs and not sspecs:
            return []
        # (levers, levels) -> action key, and action key -> actions: kept for the same lever lists
        # and date (the restarts and alternatives of one search)
        got_ = self._akc.get((id(levers), T))
        if got_ is None or got_[0] is not levers:
            # per lever and level, its element of an action key as one bit (0: level 0, or not in
            # effect); a combination's action key is the OR of its levels' bits: an int, cheaper
            # to build and hash than a frozenset of tuples (the bits are the Evaluator's, shared
            # by the plan's dates and alternatives like the values cached under them)
            bits = self.ev.atom_bits

            def bit(e) -> int:
                if e is None:
                    return 0
                b = bits.get(e)
                if b is None:
                    b = bits[e] = 1 << len(bits)
                return b
            atoms = [[0] + [bit(next(iter(action_key((a,), T)), None)) for a in lev] for lev in levers]
            got_ = self._akc[(id(levers), T)] = (levers, {}, atoms, {}, {})
        _, aks, atoms, sigs, costs_ = got_
        tables = [(k, L, ks) for k, L, ks in specs] + [(k, L, ks) for _, k, L, ks in sspecs + rspecs]
        # cached per evaluation context (as the tier outcomes): later dates of the same year reuse
        # them; an output that reads no title, whatever the titles held are worth on the date (a
        # provincial title expiring between 1 January and 1 June: 1,100 rows again)
        ctx = self.context(rowT, T.year, T, tier, self.mode)
        octx = {o: self._output_context(ctx, T, o) for o, _, _ in tables}

        def vals_of(o: str) -> dict:  # {action key: value} of output o in its context
            return self.ev.vcache.setdefault((octx[o], o), {})
        done = self.ev.tables  # (context, output, key elements of its levers, kind, cutoff) -> table
        need: dict = {}  # output key -> the combinations it is needed for
        for o, L, keys in tables:
            akl = aks.get(L)
            if akl is None:
                # the action key of each level combination of L (keys: all of them, in product
                # order); the same for every date and lever list with the same elements
                sig = tuple(tuple(atoms[j]) for j in L)
                akl = self._aksig.get(sig)
                if akl is None:
                    # (product order, as keys)
                    akl = self._aksig[sig] = list(map(functools.partial(functools.reduce, operator.or_),
                                                      itertools.product(*[atoms[j] for j in L])))
                aks[L] = akl
                sigs[L] = sig
                # the cost of each level combination (product order, as keys)
                costs_[L] = list(map(sum, itertools.product(*[[0] + [a.cost for a in levers[j]] for j in L])))
            if (octx[o], o, sigs[L], None, None) not in done:
                if cutoff is None:
                    need.setdefault(o, set()).update(akl)
                else:
                    need.setdefault(o, set()).update(ak for ak, c in zip(akl, costs_[L]) if c < cutoff)
        mk = [o for o in need if not need[o] <= vals_of(o).keys()]
        if mk:
            missing = set().union(*[need[o] - vals_of(o).keys() for o in mk])
            combos: dict = {}  # missing action key -> actions giving it
            for _, L, keys in tables:
                acts = None
                for i, ak in enumerate(aks[L]):
                    if ak in missing and ak not in combos:
                        if acts is None:
                            # the actions of every level combination of L (product order, as keys)
                            acts = list(itertools.product(*[(None,) + tuple(levers[j]) for j in L]))
                        combos[ak] = tuple(filter(None, acts[i]))  # (an Action is truthy)
            miss = list(combos)
            got = self.ev.values(rowT, list(combos.values()), T, tier, self.mode, mk, self.costs["levers"])
            for o in mk:
                vals_of(o).update(zip(miss, got[o]))

        def table(o: str, L: tuple, keys: list, points: bool) -> dict:
            # {levels of L: points (or 0)} or {levels of L: condition ok}, built once per content
            # (and cutoff: levels costing it or more read 0 points / failing, not evaluated)
            k = (octx[o], o, sigs[L], points, cutoff)
            t = done.get(k)
            if t is None:
                v = vals_of(o)
                if cutoff is None:
                    vals = [v[ak] or 0 for ak in aks[L]] if points else [v[ak] is True for ak in aks[L]]
                    done[(octx[o], o, sigs[L], None, None)] = True  # every level evaluated
                elif points:
                    vals = [(v[ak] or 0) if c < cutoff else 0 for ak, c in zip(aks[L], costs_[L])]
                else:
                    vals = [c < cutoff and v[ak] is True for ak, c in zip(aks[L], costs_[L])]
                t = done[k] = dict(zip(keys, vals))
            return t
        out = []
        if sspecs:
            tabs = {q: (L, table(o, L, keys, True)) for q, o, L, keys in sspecs}
            routes = {r: (L, table(o, L, keys, False)) for r, o, L, keys in rspecs}
            # a table's content: the evaluation context, the output, its levers' key elements and
            # the cutoff
            tids = {q: (octx[o], o, sigs[L], cutoff) for q, o, L, _ in sspecs}
            out.append((None, ScoreOracle(gate, tabs, F, routes, tids, self.ev.hulls)))
        for o, L, keys in specs:
            out.append((L, table(o, L, keys, False)))
        return out

    def broken(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], batch: list,
               extra: list, branch: int | None = None, sample: int = 8) -> list:
        """Top-level conditions not met by some of `sample` combinations of a failed batch (spread
        over it), that some lever touches and that have no oracle of their own yet: met on the
        baseline (no oracle), or failing with too many combinations for one (only oracles of its
        years, see `oracles`): [(output key of the entry, inputs)], for oracles of up to
        ORACLE_LEARNED combinations. Under a branch, the alternative's conditions count too."""
        failing, _, _ = self.analyse(tier, T, rowT, self.mode, branch)
        F = [frozenset(fields_of([a for a in o if a.eff is None or a.eff <= T])) for o in levers]
        have = {x[0] for x in extra} | {
            f[4] for f in failing
            if math.prod(len(levers[j]) + 1 for j in range(len(levers)) if F[j] & f[2]) <= ORACLE_MAX}
        tch = touched(levers)
        _, top = self.scalar(rowT, (), T, tier, self.mode)
        plans = branch_plans(top, branch)
        step = max(1, len(batch) // sample)
        out: list = []
        for _, acts in batch[::step][:sample]:
            vals, _ = self.scalar(rowT, acts, T, tier, self.mode)
            for p in plans:
                for e in p.entries:
                    if not is_top_condition(e) or vals.get(f"{e.key}#ok") is True or e.key in have:
                        continue
                    inputs = entry_inputs(p, e.key)
                    if inputs & tch:
                        have.add(e.key)
                        out.append((e.key, inputs))
        return out

    def _output_context(self, ctx: tuple, T: dt.date, o: str) -> tuple:
        """The evaluation context of one output: the tier's (`context`), without the titles'
        validity when the output reads no title (its value cannot change with it)."""
        k = (ctx, o)
        r = self._octx.get(k)
        if r is None:
            r = self._octx[k] = ctx if _reads_titles(T, self.mode, o) else ctx[:-1] + (None,)
        return r

    def _holders(self, tier: str, T: dt.date, rowT: dict, branch: int | None) -> dict:
        """{entry key: the TierPlan holding it} for the tier (and its alternative `branch`)."""
        _, top = self.scalar(rowT, (), T, tier, self.mode)
        plans = branch_plans(top, branch)
        return {e.key: p for p in plans for e in p.entries}

    def _step_nogoods(self, T: dt.date, rowT: dict, levers: list[list[Action]]) -> tuple[dict, dict]:
        """{title-chain step (tier, date): (lever indices L, set of levels)} for the steps the title
        lever's options ask for, and {step: its StepLevels}. L: the levers with a level in effect
        on the step's date that changes an input of the step's tier then, and the title lever
        last. A step's outcome is a function of the levels of L (it is cached by the actions among
        them, see outcomes), so levels of L found failing fail in every combination:
        Planner.search drops them (nogoods). The sets start with the levels giving an action key
        found failing the step in an earlier search (outcomes keeps them by context): a later
        date of the same year, or 2028 after 2027, enumerates mostly the same cheap combinations
        and used to fail them again one batch at a time. Steps reading the same L share one set
        (a key holds its title level, so it still fails its own step): the title lever's options
        are mostly one step each on the same levers (创新型 from January, February, ... 2026), and
        the A* checks each set at every child it makes."""
        tis = [j for j, o in enumerate(levers) if any(a.checks for a in o)]
        if len(tis) != 1:
            return {}, {}
        ti = tis[0]
        out: dict = {}
        maps: dict = {}  # step -> its StepLevels
        shared: dict = {}  # L -> its set
        for a in levers[ti]:
            for t0, T0 in a.checks:
                if (t0, T0) in out:
                    continue
                ctx = self.context(rowT, T.year, T0, t0, "application")
                rel = self._tier_reads(t0, "application", T0)
                L = [j for j, o in enumerate(levers) if j != ti and any(
                    (b.eff is None or b.eff <= T0) and not fields_of([b]).isdisjoint(rel) for b in o)]
                L = tuple(L) + (ti,)
                sl = maps[(t0, T0)] = StepLevels(levers, L, T0, t0, rel)
                bad = shared.setdefault(L, set())
                out[(t0, T0)] = (L, bad)
                n0 = len(bad)
                for key in self._fails.get(ctx, ()):
                    bad.update(sl.giving(key))
                self.seeded += len(bad) - n0
        return out, maps

    def _step_judge(self, tier: str, T: dt.date, rowT: dict, levers: list[list[Action]], steps: dict,
                    L: tuple, bad: set):
        """judge(levels of L) for enumerate_gated: whether the title-chain steps sharing the set
        `bad` (levers L, the title lever last) pass under those levels, judged one leaf at a time
        once the steps come first at (tier, T) (see check), else None. A batch used to hold many
        leaves with the same failing levels of L (1,000s of combinations of the other levers),
        all yielded before the first was judged: 188 leaves failed for 20 distinct levels on one
        date. A step reads only the levers of L (by their definition), so the judgement holds for
        every leaf with these levels, and its outcome is cached (outcomes) for the batch."""
        ti = L[-1]
        passed: set = set()

        def judge(key: tuple):
            if (tier, T) not in self._steps_first or not key[-1] or key in passed or key in bad:
                return None
            acts = tuple(levers[j][k - 1] for j, k in zip(L, key) if k)
            self.judged += 1
            for st in levers[ti][key[-1] - 1].checks:
                if steps[st][1] is not bad:
                    continue  # judged by its own set
                t0, T0 = st
                _, g0, _ = self.analyse(t0, T0, rowT, "application")
                if not g0.allows(fields_of([b for b in acts if b.eff is None or b.eff <= T0])) \
                        or self.outcomes(rowT, T.year, [acts], T0, t0, "application")[0] is not True:
                    bad.add(key)
                    return False
            passed.add(key)
            return True
        return judge

    def check(self, tier: str, T: dt.date, rowT: dict, batch: list) -> tuple[list[bool], list]:
        """Whether each combination of the batch passes `tier` on T, title-chain steps included.

        Which is judged first, the tier or its steps, is chosen per (tier, date): the tier first,
        until a batch shows most combinations passing it and most of those failing a step (on the
        firms whose plans take longest: 1,095 of 1,100 pass, 25 pass the step). From then on the
        steps come first: a step reads only the levers in effect on its earlier date, so its
        outcomes are shared by many combinations (cached by those levers) and cost few engine
        rows, and the tier is evaluated only for the combinations left. Returns the verdicts and
        the (batch index, step) of the combinations failing a step (Planner.search learns nogoods
        from them)."""
        _, gate, _ = self.analyse(tier, T, rowT, self.mode)
        good = [False] * len(batch)
        groups: dict[tuple, list[int]] = {}
        n_ok = 0
        failed: list = []  # (batch index, step) of combinations failing a step
        for i, (_, acts) in enumerate(batch):
            if not gate.allows(fields_of([a for a in acts if a.eff is None or a.eff <= T])):
                continue
            ok0 = True
            steps = []
            for a in acts:
                for t0, T0 in a.checks:
                    _, g0, _ = self.analyse(t0, T0, rowT, "application")
                    if not g0.allows(fields_of([b for b in acts if b.eff is None or b.eff <= T0])):
                        ok0 = False
                    steps.append((t0, T0))
            if ok0:
                good[i] = True
                n_ok += 1
                for st in steps:
                    groups.setdefault(st, []).append(i)
        self.gated += len(batch) - n_ok

        def tier_ok():
            idx = [i for i, g in enumerate(good) if g]
            if idx:
                res = self.outcomes(rowT, T.year, [batch[i][1] for i in idx], T, tier, self.mode)
                for i, r in zip(idx, res):
                    good[i] = r is True
            return len(idx)

        def steps_ok():
            for (t0, T0), idx in sorted(groups.items(), key=lambda kv: kv[0][1]):
                idx = [i for i in idx if good[i]]
                if not idx:
                    continue
                r0 = self.outcomes(rowT, T.year, [batch[i][1] for i in idx], T0, t0, "application")
                for i, v in zip(idx, r0):
                    if v is not True:
                        good[i] = False
                        failed.append((i, (t0, T0)))

        if (tier, T) in self._steps_first:
            steps_ok()
            tier_ok()
        else:
            n_tier = tier_ok()
            n_pass = sum(good)
            steps_ok()
            if self.learn_steps and groups and n_pass * 2 > n_tier >= 4 and len(failed) * 2 > n_pass:
                self._steps_first.add((tier, T))
        return good, failed

    def outcomes(self, rowT: dict, row_year: int, combos: list[tuple], at: dt.date, tier: str, mode: str) -> list:
        """`tier#ok` of rowT with each combo applied, judged on `at` (cached, see Evaluator)."""
        ctx = self.context(rowT, row_year, at, tier, mode)
        cache = self.ev.cache
        # keyed by the actions that change an input of the tier then: a title-chain step judged
        # on an early date is the same for combinations differing only in later years' levers
        rel = self._tier_reads(tier, mode, at)
        keys = [(ctx, action_key([a for a in acts if not fields_of([a]).isdisjoint(rel)], at)) for acts in combos]
        miss: dict = {}  # key not cached -> a combination giving it (each evaluated once)
        for k, acts in zip(keys, combos):
            if k not in cache and k not in miss:
                miss[k] = acts
        self.ev.hits += len(combos) - len(miss)
        if miss:
            res = self.ev.combos_ok(rowT, list(miss.values()), at, tier, mode, self.costs["levers"])
            cache.update(zip(miss, res))
            fails = self._fails.setdefault(ctx, [])
            fails.extend(k[1] for k, r in zip(miss, res) if r is not True)
        return [cache[k] for k in keys]

    def context(self, rowT: dict, row_year: int, at: dt.date, tier: str, mode: str) -> tuple:
        """What an evaluation on `at` depends on besides the effective actions: the tier, mode,
        pack, the date's year, the base row (by its projection year, see `_row_class`) and the
        validity on `at` of the titles it holds."""
        k = (id(rowT), row_year, tier, mode, at)
        rc = self._ctx.get(k)
        if rc is None or rc[0] is not rowT:
            pid = choose_regime(at, mode).tiers[tier][0]
            ctx = (tier, mode, pid, at.year, self._row_class(rowT, row_year, at, tier, mode),
                   _titles_key(rowT.get("titles"), at))
            rc = self._ctx[k] = (rowT, ctx)
        return rc[1]

    def _tier_reads(self, tier: str, mode: str, at: dt.date) -> frozenset:
        """Every input `tier` reads on `at` (its sub-tiers' included)."""
        rel = self._rel.get((tier, mode, at))
        if rel is None:
            rel = self._rel[(tier, mode, at)] = frozenset(tier_inputs(tier_plan(at, mode, tier)))
        return rel

    def _row_class(self, rowT: dict, row_year: int, at: dt.date, tier: str, mode: str) -> int:
        """The earliest projection year whose row is the same as rowT for `tier` on `at`: rows only
        grow (a later year adds that year's projected financials), so one holding every item of an
        earlier row, and nothing else the tier reads, gives the same outcomes under the same
        actions. A title-chain step (a lower tier on a 2026 date) then shares its outcomes, and its
        nogoods, between the searches of 2027 and 2028 (it reads no 2027 financials)."""
        rel = self._tier_reads(tier, mode, at)
        for y in sorted(self._rows):
            r = self._rows[y][0]
            if y >= row_year or r is rowT:
                break
            extra = self._grown.get((id(r), id(rowT)))
            if extra is None:
                # rowT holds every item of r (and what else: r's keys it lacks make it not grown)
                same = all(k in rowT and rowT[k] == v for k, v in r.items())
                extra = self._grown[(id(r), id(rowT))] = frozenset(rowT.keys() - r.keys()) if same else False
            if extra is not False and rel.isdisjoint(extra):
                return y
        return row_year


TOP_KINDS = ("eligibility", "prerequisite", "exclusion", "condition")  # entries a tier needs all of


def is_top_condition(e) -> bool:
    """A top-level entry the tier passes only if it is true (the Gate's, the pool's screen)."""
    return e.depth == 0 and e.kind in TOP_KINDS


def _entry_index(plan) -> dict:
    """{entry key: entry} of a compiled tier, made once per TierPlan."""
    idx = plan.__dict__.get("_entry_index")
    if idx is None:
        idx = plan.__dict__["_entry_index"] = {e.key: e for e in plan.entries}
    return idx


def branch_plans(top, branch: int | None) -> list:
    """The compiled plans whose conditions must hold: the tier's, and under a branch the
    alternative's too (Planner.analyse)."""
    return [top] if branch is None else [top, top.subs[branch]]


def tier_inputs(plan) -> set:
    """Every input a compiled tier reads, its sub-tiers' (plan.subs) included."""
    out: set = set()
    for e in plan.entries:
        out.update(e.inputs)
    for sub in plan.subs:
        out |= tier_inputs(sub)
    return out


def entry_inputs(plan, key: str) -> set:
    """The inputs the entry `key` reads, its sub-entries' included."""
    out: set = set()
    for x in plan.entries:
        if x.key == key or x.key.startswith(key + "."):
            out.update(x.inputs)
    return out


def necessary_parts(plan, key: str) -> list[tuple]:
    """The year parts ((year, output key, inputs), blocks.Entry.year_parts) that must all hold for
    the entry `key` to be true: below it only `all` nodes and tests over each of several years,
    no exceptions (an exception is an alternative: what is below it is not necessary)."""
    by_key = _entry_index(plan)
    out: list[tuple] = []

    def walk(k: str) -> None:
        e = by_key.get(k)
        if e is None:
            return
        n = e.node
        if n.waived or n.exceptions:
            return
        if n.test is not None:
            out.extend(e.year_parts)
        elif n.all is not None:
            for c in n.all:
                walk(f"{k}.{c.id}")

    walk(key)
    return out


def _titles_key(titles, at: dt.date) -> tuple:
    out = []
    for t in titles or []:
        vf, vu = t.get("valid_from"), t.get("valid_until")
        out.append((t.get("type"), None if vf is None else vf <= at, None if vu is None else at <= vu))
    return tuple(sorted(out, key=repr))


def action_key(acts, at: dt.date) -> frozenset:
    """The effective actions of a combination on `at`, as the engine sees them (titles by their
    validity on `at`)."""
    out = []
    for a in acts:
        if a.eff is not None and a.eff > at:
            continue
        if a.lever in ("title", "high_tech_enterprise"):
            out.append((a.lever, _titles_key(a.amount, at)))
        else:
            out.append((a.lever, a.year, a.amount))
    return frozenset(out)
