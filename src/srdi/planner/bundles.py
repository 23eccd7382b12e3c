"""Column-wise bundle plans for pools: a few discrete levers, then the least R&D top-up.

The R&D top-up (topup.py) prices every firm with one lever; where a few cheap levers would do (a
quality certificate, a digitalisation level, an R&D institution, Class-II IP, some extra revenue,
repaid debt, R&D staff, ...) it is far too dear, and firms it cannot price get no plan at all. This
module prices plans of several levers for all firms at once, each verified by the engine:

- contexts: the candidate dates within the horizon grouped by tier, pack and fiscal year; for a
  tier whose prerequisite is a title (R2026), the title chains of search.chain_options (a lower tier
  passed on an earlier date, the title granted later), one per tier and fiscal year (the latest);
- levels (`financial_items`, `state_items`, `title_items`): the levels of levers.financial_levers,
  levers.state_levers and search.title_levers, computed column-wise with the same formulas from the
  thresholds of the context's packs: one per threshold, an amount and a cost column each, valid
  where the level changes something for the firm. Financial levels only in fiscal years >=
  as_of.year (the past is fixed; `niche_since` is never touched); state levels only where their
  lead time ends within the horizon. Nothing is hard-coded;
- bundles per firm (`GREEDY`): each level alone is applied and evaluated (`_values`: conditions made
  true, points of a scored tier); per firm its levels by cost per value, one per lever and year; the
  bundles are its first 1, 2, ... GREEDY levels (a bundle with a title once per title chain); then
  `BUNDLES_PER_CONTEXT` bundles common to all firms by typical cost (search.enumerate_by_cost over
  the median cost of each level);
- each bundle is applied as levers.apply_actions does (`_apply`: every side effect, e.g. more R&D or
  staff lower net profit) on the first date of its context where every level counts, then an R&D
  top-up ladder (`_ladder`): the amounts the bundle-applied row needs to reach each R&D threshold of
  the packs (topup._needs; in the year before the date, and in both years before it), and all at
  once, each rounded up to the next R&D level of the baseline (one of the exact search's `rd_spend`
  levels); the dearest first (a row failing even with it is dropped, an undetermined one kept),
  then the others from the cheapest up, until one passes; `evaluate_table` at the date decides, and
  for a title chain each tier of the chain on its date with the levels counting by then.

Per firm the cheapest passing plan is kept (then the earliest date); a row is not evaluated when its
cost is already >= the firm's best plan (the R&D top-up bound first). Every level is a level of the
exact search, so a bundle plan never costs less than its optimum (tests/test_pool_bundles.py checks
this, and every plan on the one-row path). Not covered (the search covers them): high-tech
enterprise titles, a lever's levels in the context of another (R&D staff shares after extra
revenue, R&D amounts after a hire other than the baseline levels).
"""
from __future__ import annotations

import datetime as dt
import time
from fractions import Fraction

from . import amounts as am
from .levers import BOOL_LEVERS, INST_ORDER, INST_RANK, Action, add_months, fin, pack_for
from .search import enumerate_by_cost, pack_thresholds, tier_at
from .topup import YEARS_BACK, _ceil_mul, _needs, projected

BUNDLES_PER_CONTEXT = 8  # then bundles common to all firms (not the empty one: topup.py) per evaluation context
GREEDY = 5  # per firm: bundles of its first 1..GREEDY levels by cost per value
VALUE_CONDITION = 1000  # value of a top-level condition made true, in points of a scored tier
LADDER = 10  # R&D top-up amounts tried at most per firm and bundle, cheapest first (after the probe)
MAX_ROWS = 400_000  # candidate rows per engine call

FEN = 100
SCALE4 = 10_000


class Item:
    """One level of one lever for every firm: `amount` (Int128 expression, null or <= 0: not a
    level for that firm), `cost` (fen, Int128 expression), `eff` (None: a financial lever)."""

    def __init__(self, lever: str, year, amount, cost, eff=None, level=None, ready=None, titles=(), checks=()):
        self.lever, self.year, self.amount, self.cost, self.eff, self.level = lever, year, amount, cost, eff, level
        self.ready = ready or eff  # the first date the level can help (its lead time; a title: granted)
        self.titles, self.checks = titles, checks  # a title chain: the titles, ((tier, date), ...) to pass

    @property
    def group(self) -> tuple:
        return (self.lever, self.year)

    @property
    def step(self) -> str:
        return self.lever + (f"@{self.year}" if self.year is not None else "")


def _i(c: str):
    import polars as pl

    return pl.col(c).cast(pl.Int128)


def _lit(v: int):
    import polars as pl

    return pl.lit(int(v), dtype=pl.Int128)


def _ceil_div(a, b):
    """ceil(a / b) for Int128 expressions (b > 0)."""
    zero = _lit(0)
    return zero - (zero - a).floordiv(b)


def _cols(F) -> set:
    return set(F.columns)


def financial_items(F, years: list[int], th, costs: dict) -> list[Item]:
    """levers.financial_levers, column-wise: growth, shed, R&D hires, debt and quality-score levels
    (one per threshold) of each fiscal year in `years` (R&D spend: the top-up ladder)."""
    import polars as pl

    P = costs["levers"]
    cols = _cols(F)
    out: list[Item] = []

    def v(y, f):
        return _i(fin(y, f)) if fin(y, f) in cols else None

    for y in years:
        orb, mbr = v(y, "operating_revenue"), v(y, "main_business_revenue")
        if P["growth"]["enabled"] and mbr is not None and orb is not None:
            rate = Fraction(str(P["growth"]["cost_rate"]))
            amounts = list(am.growth_amounts(
                th, mbr, orb, v(y - 1, "main_business_revenue"), v(y - 2, "main_business_revenue"),
                v(y - 2, "operating_revenue"), lambda b, d: pl.when(b > 0).then(d())))
            for a in amounts:
                a = pl.when((a > 0) & (a <= orb)).then(a)
                out.append(Item("growth", y, a, _ceil_mul(a, rate)))
        if P["shed"]["enabled"] and mbr is not None and orb is not None:
            rate = Fraction(str(P["shed"]["cost_rate"]))
            amounts = list(am.shed_amounts(th, orb, mbr, v(y, "main_product_revenue")))
            for a in amounts:
                a = pl.when((a > 0) & (a <= orb - mbr)).then(a)
                out.append(Item("shed", y, a, (a * rate.numerator).floordiv(rate.denominator)))
        emp = v(y, "employees")
        if P["rd_hire"]["enabled"] and emp is not None:
            sal = int(P["rd_hire"]["salary"]) * FEN
            for meas, f in (("rd_staff_share", "rd_employees"), ("tech_staff_share", "tech_employees")):
                cur = v(y, f)
                if cur is None:
                    continue
                for op, sg in th.get(meas):
                    sg = Fraction(sg)
                    if op in (">=", ">") and sg < 1:
                        k = am.hires_for_share(emp, cur, sg, op == ">")
                        k = pl.when(cur.is_not_null() & (k > 0) & (k <= int(P["rd_hire"]["max_heads"]))).then(k)
                        out.append(Item("rd_hire", y, k, k * sal))
        tl, ta = v(y, "total_liabilities"), v(y, "total_assets")
        if P["debt"]["enabled"] and tl is not None and ta is not None:
            rate = Fraction(str(P["debt"]["cost_rate"]))
            for op, r in th.get("debt_ratio"):
                r = Fraction(r)
                if op in ("<=", "<"):
                    d = am.debt_cut_for_ratio(tl, ta, r, op == "<")
                    d = pl.when((ta != 0) & (d > 0) & (d <= tl)).then(d)
                    out.append(Item("debt", y, d, _ceil_mul(d, rate)))
        pq = P["quality_score"]
        if pq["enabled"]:
            qc = f"quality_score.{y}"
            cur = _i(qc) if qc in cols else pl.lit(None, dtype=pl.Int128)
            assumed = Fraction(str(pq["assumed_when_missing"])) * SCALE4
            cpp = int(pq["cost_per_point"]) * FEN
            for op, t in th.get("quality_score"):
                if op in (">=", ">"):
                    tgt = -((-Fraction(t) * SCALE4).numerator // (Fraction(t) * SCALE4).denominator) + (op == ">")
                    # pts x 10^4 = tgt - base (base = cur, or assumed x 10^4); cost = ceil(pts x cpp / 10^4)
                    base_num = pl.when(cur.is_null()).then(_lit(assumed.numerator)).otherwise(cur * assumed.denominator)
                    diff = _lit(tgt * assumed.denominator) - base_num  # x 10^4 x assumed.denominator
                    diff = pl.max_horizontal(diff, _lit(0))
                    cost = _ceil_div(diff * cpp, _lit(SCALE4 * assumed.denominator))
                    amt = pl.when(cur.is_null() | (cur < tgt)).then(_lit(tgt))
                    out.append(Item("quality_score", y, amt, cost))
    return out


def state_items(F, as_of: dt.date, T: dt.date, th, costs: dict) -> list[Item]:
    """levers.state_levers, column-wise: IP, digital level, quality and other switches, R&D
    institution levels whose lead time ends by T (titles are not covered)."""
    import polars as pl

    P = costs["levers"]
    cols = _cols(F)
    out: list[Item] = []

    def ok(p: dict):
        if not p.get("enabled", True):
            return None
        eff = add_months(as_of, int(p.get("lead_months", 0)))
        return eff if eff <= T else None

    def cur(path):
        return _i(path).fill_null(0) if path in cols else _lit(0)

    def needs(path) -> list:
        return [_lit(-((-Fraction(val).numerator) // Fraction(val).denominator) + (op == ">")) - cur(path)
                for op, val in th.get(path) if op in (">=", ">")]

    def mx(xs):
        return pl.max_horizontal(xs + [_lit(0)])

    def counts(lever, p, eff, paths, cap):
        # the search's levels 1..k, k = min(the largest need, cap); k is at most the largest threshold
        k = pl.min_horizontal(mx([n for q in paths for n in needs(q)]), cap)
        top = max([-((-Fraction(val).numerator) // Fraction(val).denominator) + (op == ">")
                   for q in paths for op, val in th.get(q) if op in (">=", ">")] + [0])
        for n in range(1, top + 1):
            a = pl.when(k >= n).then(_lit(n))
            out.append(Item(lever, None, a, a * (int(p["cost"]) * FEN), eff))

    p = P["ip_class1"]
    eff = ok(p)
    if eff:
        counts("ip_class1", p, eff, ("ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit"),
               _lit(int(p["max_add"])))
    p = P["ip_high_value"]
    eff = ok(p)
    if eff and th.get("ip.class1_high_value"):
        out.append(Item("ip_high_value", None, pl.when(mx(needs("ip.class1_high_value")) > 0).then(_lit(1)),
                        _lit(int(p["cost"]) * FEN), eff))
    p = P["ip_class2"]
    eff = ok(p)
    if eff:
        counts("ip_class2", p, eff, ("ip.class2",), _lit(int(p["max_add"])))
    p = P["ip_apply"]
    eff = ok(p)
    if eff:
        counts("ip_apply", p, eff, ("ip.class1_applied_with_benefit",),
               cur("ip.class1") - cur("ip.class1_applied_with_benefit"))
    p = P["digital_level"]
    eff = ok(p)
    if eff:
        dl = _i("digital_level") if "digital_level" in cols else pl.lit(None, dtype=pl.Int128)
        tg = sorted({int(-((-Fraction(val).numerator) // Fraction(val).denominator)) for op, val in th.get("digital_level")
                     if op in (">=", "==") and 1 <= val <= 4})
        for t in tg:
            base = pl.when(dl.is_null() | (dl == 0)).then(_lit(1)).otherwise(dl)
            out.append(Item("digital_level", None, pl.when(dl.is_null() | (dl < t)).then(_lit(t)),
                            (_lit(t) - base) * (int(p["cost_per_level"]) * FEN), eff))
    for path in BOOL_LEVERS:
        p = P.get(path)
        if p is None or path not in th.bools:
            continue
        eff = ok(p)
        if eff:
            has = pl.col(path).fill_null(False) if path in cols else pl.lit(False)
            out.append(Item(path, None, pl.when(has.not_()).then(_lit(1)), _lit(int(p["cost"]) * FEN), eff))
    p = P["rd_institution"]
    if p.get("enabled", True) and "rd_institution" in th.enums:
        en = th.enums["rd_institution"]
        col = pl.col("rd_institution") if "rd_institution" in cols else pl.lit(None, dtype=pl.String)
        rank = col.replace_strict({k: v for k, v in INST_RANK.items() if k is not None}, default=0,
                                  return_dtype=pl.Int128).fill_null(0)
        for lvl in INST_ORDER:
            eff = ok(p[lvl])
            if not eff:
                continue
            r = INST_RANK[lvl]
            useful = (rank < r) & (pl.lit(lvl in en) | pl.lit("below_municipal" in en) & (rank + 1 == r))
            out.append(Item("rd_institution", None, pl.when(useful).then(_lit(r)), _lit(int(p[lvl]["cost"]) * FEN),
                            eff, level=lvl))
    return out


def title_items(chains: list, costs: dict) -> list[Item]:
    """search.title_levers: per title chain ((tier0, T0, title), ...), the titles it grants (each
    tier passed on its date, checked like the search's `checks`) at the application cost each."""
    app = int(costs["titles"]["application_cost"]) * FEN
    out = []
    for ch in chains:
        if ch:
            out.append(Item("title", None, _lit(1), _lit(app * len(ch)), None,
                            level=",".join(f"{t0}@{T0.isoformat()}" for t0, T0, _ in ch),
                            ready=max(t["valid_from"] for _, _, t in ch), titles=tuple(t for _, _, t in ch),
                            checks=tuple((t0, T0) for t0, T0, _ in ch)))
    return out


def _apply(F, items: list[Item], amounts: list[str], params: dict):
    """levers.apply_actions, column-wise: `amounts` are the columns holding each item's amount
    (null: the item is not in the firm's bundle). Additive; growth's profit uses the baseline."""
    import polars as pl

    cols = _cols(F)
    add: dict[str, list] = {}
    add_if: dict[str, list] = {}
    sets: dict[str, tuple] = {}
    titles: list = []
    for it, a in zip(items, amounts):
        x = pl.col(a)
        y, lv = it.year, it.lever
        if lv == "growth":
            orv, npf = fin(y, "operating_revenue"), fin(y, "net_profit")
            for f in ("main_business_revenue", "operating_revenue"):
                add.setdefault(fin(y, f), []).append(x)
            add_if.setdefault(fin(y, "main_product_revenue"), []).append(x)
            if orv in cols and npf in cols:
                gain = pl.when((_i(orv) != 0) & _i(npf).is_not_null()).then((x * _i(npf)).floordiv(_i(orv))).otherwise(_lit(0))
            else:
                gain = _lit(0)
            add.setdefault(npf, []).append(gain)
            add_if.setdefault(fin(y, "total_costs"), []).append(x - gain)
        elif lv == "shed":
            r = Fraction(str(params["shed"]["cost_rate"]))
            lost = (x * r.numerator).floordiv(r.denominator)
            add.setdefault(fin(y, "operating_revenue"), []).append(_lit(0) - x)
            add.setdefault(fin(y, "net_profit"), []).append(_lit(0) - lost)
            add_if.setdefault(fin(y, "total_costs"), []).append(lost - x)
        elif lv == "rd_hire":
            sal = x * (int(params["rd_hire"]["salary"]) * FEN)
            for f in ("employees", "rd_employees"):
                add.setdefault(fin(y, f), []).append(x)
            add_if.setdefault(fin(y, "tech_employees"), []).append(x)
            add.setdefault(fin(y, "rd_expense"), []).append(sal)
            add.setdefault(fin(y, "net_profit"), []).append(_lit(0) - sal)
            add_if.setdefault(fin(y, "total_costs"), []).append(sal)
        elif lv == "rd_spend":
            add.setdefault(fin(y, "rd_expense"), []).append(x)
            add.setdefault(fin(y, "net_profit"), []).append(_lit(0) - x)
            add_if.setdefault(fin(y, "total_costs"), []).append(x)
        elif lv == "debt":
            add.setdefault(fin(y, "total_liabilities"), []).append(_lit(0) - x)
        elif lv == "quality_score":
            sets.setdefault(f"quality_score.{y}", []).append((x, pl.Int64))
        elif lv == "ip_class1":
            for f in ("ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit"):
                add.setdefault(f, []).append(x)
        elif lv == "ip_high_value":
            for f in ("ip.class1", "ip.class1_self_developed", "ip.class1_applied_with_benefit", "ip.class1_high_value"):
                add.setdefault(f, []).append(pl.when(x.is_not_null()).then(_lit(1)))
        elif lv == "ip_class2":
            add.setdefault("ip.class2", []).append(x)
        elif lv == "ip_apply":
            add.setdefault("ip.class1_applied_with_benefit", []).append(x)
        elif lv == "digital_level":
            sets.setdefault("digital_level", []).append((x, pl.Int64))
        elif lv == "rd_institution":
            sets.setdefault("rd_institution", []).append((pl.when(x.is_not_null()).then(pl.lit(it.level)), pl.String))
        elif lv in BOOL_LEVERS:
            sets.setdefault(lv, []).append((pl.when(x.is_not_null()).then(pl.lit(True)), pl.Boolean))
        elif lv == "title":
            titles.append((x, it.titles))
        else:  # pragma: no cover - a programming error
            raise KeyError(lv)
    exprs = []
    for c, xs in add.items():
        any_ = pl.any_horizontal([x.is_not_null() for x in xs])
        tot = pl.sum_horizontal([x.fill_null(0) for x in xs])
        cur = _i(c) if c in cols else pl.lit(None, dtype=pl.Int128)
        dt_ = F.schema[c] if c in cols else pl.Int64
        exprs.append(pl.when(any_).then(cur.fill_null(0) + tot).otherwise(cur).cast(dt_).alias(c))
    for c, xs in add_if.items():
        if c not in cols:
            continue
        any_ = pl.any_horizontal([x.is_not_null() for x in xs])
        tot = pl.sum_horizontal([x.fill_null(0) for x in xs])
        exprs.append(pl.when(any_).then(_i(c) + tot).otherwise(_i(c)).cast(F.schema[c]).alias(c))
    for c, xs in sets.items():
        e = pl.col(c) if c in cols else pl.lit(None, dtype=xs[0][1])
        dt_ = F.schema[c] if c in cols else xs[0][1]
        for x, _ in xs:
            e = pl.when(x.is_not_null()).then(x.cast(dt_)).otherwise(e.cast(dt_))
        exprs.append(e.cast(dt_).alias(c))
    if titles:  # appended to the titles held (levers.apply_actions)
        TT = F.schema["titles"] if "titles" in cols else pl.List(pl.Struct({"type": pl.String, "valid_from": pl.Date,
                                                                             "valid_until": pl.Date}))
        cur = pl.col("titles") if "titles" in cols else pl.lit(None, dtype=TT)
        for x, ts in titles:
            add_ = pl.lit([dict(t) for t in ts], dtype=TT)
            cur = pl.when(x.is_not_null()).then(pl.coalesce(cur, pl.lit([], dtype=TT)).list.concat(add_)).otherwise(cur)
        exprs.append(cur.cast(TT).alias("titles"))
    return F.with_columns(exprs) if exprs else F


def _ladder(fb, ys: list[int], lvl_cols: dict, th, price: Fraction):
    """The R&D top-ups to try after a bundle: fb (the bundle-applied frame) with columns `_t{j}`
    (cost, fen), `_x1{j}`, `_x2{j}` (amounts in the years ys = T.year-1, T.year-2; null: no such
    top-up), and their number: none; for each R&D threshold of `th`, the amount the
    bundle-applied row needs in the year before T (and in both years), and all thresholds at once;
    each rounded up to the next baseline level of its year (columns lvl_cols[y]: levels of the
    search's rd_spend lever), left out when there is none."""
    import polars as pl

    z = pl.lit(0, dtype=pl.Int64)
    cands = [(z, z, z)]
    if ys:
        need = {y: _needs(fb, y, th) for y in ys}
        nth = min(len(v) for v in need.values())
        ncols = {y: [f"_n{y}_{j}" for j in range(nth)] for y in ys}
        fb = fb.with_columns([need[y][j].alias(ncols[y][j]) for y in ys for j in range(nth)])

        def snap(n, y):
            up = [pl.when(pl.col(c) >= n).then(pl.col(c)) for c in lvl_cols[y]]
            return pl.when(n <= 0).then(_lit(0)).otherwise(pl.min_horizontal(up)).cast(pl.Int64)

        def cost(a):
            return _ceil_mul(a.cast(pl.Int128), price).cast(pl.Int64)

        sets = [[pl.col(ncols[y][j]) for y in ys] for j in range(nth)]
        if nth > 1:
            sets.append([pl.max_horizontal([pl.col(c) for c in ncols[y]]) for y in ys])
        snaps = []
        for m, ns in enumerate(sets):
            snaps += [snap(n, y).alias(f"_s{y}_{m}") for n, y in zip(ns, ys)]
        fb = fb.with_columns(snaps)
        for m in range(len(sets)):
            s1 = pl.col(f"_s{ys[0]}_{m}")
            cands.append((cost(s1), s1, z))
            if len(ys) > 1:
                s2 = pl.col(f"_s{ys[1]}_{m}")
                cands.append((cost(s1) + cost(s2), s1, s2))
    out = []
    for j, (t, a1, a2) in enumerate(cands):
        out += [t.alias(f"_t{j}"), a1.alias(f"_x1{j}"), a2.alias(f"_x2{j}")]
    return fb.with_columns(out).with_columns(pl.lit(-1, dtype=pl.Int64).alias("_prev")), len(cands)


def _ladder_next(n: int):
    """The next top-up cost to try: the cheapest above the last one tried (`_prev`)."""
    import polars as pl

    return pl.min_horizontal([pl.when(pl.col(f"_t{j}") > pl.col("_prev")).then(pl.col(f"_t{j}"))
                              for j in range(n)]).alias("_rt")


def _ladder_pick(n: int, t):
    """(a1, a2) of the first candidate costing t."""
    import polars as pl

    out = []
    for a in ("_x1", "_x2"):
        e = pl.lit(None, dtype=pl.Int64)
        for j in reversed(range(n)):
            e = pl.when(pl.col(f"_t{j}") == t).then(pl.col(f"{a}{j}")).otherwise(e)
        out.append(e)
    return out


def _contexts(as_of: dt.date, dates: list[dt.date], target: str, mode: str, costs: dict):
    """[(tier, th, [dates], chains)]: candidate dates grouped by what an evaluation reads besides
    the firm (the tier, its pack, the fiscal year); the title chains that can grant the title the
    tier's prerequisite asks for (application mode; search.chain_options) by the last date; the
    thresholds of the tier and of the chains' tiers (as Planner.setup merges them)."""
    from .levers import Thresholds
    from .search import _merge, chain_options

    out: dict = {}
    for T in dates:
        tier = tier_at(target, T, mode)
        if tier is None:
            continue
        pack = pack_for(tier, T, mode)
        if pack is None:
            continue
        out.setdefault((tier, pack.id, T.year), []).append(T)
    res = []
    for (tier, _, _), ds in out.items():
        chains = [c for c in chain_options(tier, ds[-1], as_of, dates, costs) if c] if mode == "application" else []
        # per (tiers, fiscal years read): the chain of the latest dates (the most levels count by then)
        latest: dict = {}
        for c in chains:
            latest[tuple((t0, T0.year) for t0, T0, _ in c)] = c
        chains = list(latest.values())
        th = pack_thresholds(tier, ds[-1], mode)
        if chains:
            m = Thresholds()
            _merge(m, th)
            for ch in chains:
                for t0, T0, _ in ch:
                    _merge(m, pack_thresholds(t0, T0, "application"))
            th = m
        res.append((tier, th, ds, chains))
    return res


def _values(S, lv, items: list, live: list[int], tier: str, T: dt.date, mode: str, params: dict,
            deadline: float | None):
    """How far each level alone moves each firm towards passing on T (a frame of `i`, `_k` the
    level, `_g` the gain x 10^4): VALUE_CONDITION per top-level condition it makes true (or false:
    negative), plus the points it adds to a scored tier's categories (lower bounds). Column-wise,
    one engine call per chunk of (firm, level) rows."""
    import polars as pl

    from srdi.engine.assess import compile_table, evaluate_table

    from .search import is_top_condition

    plan = next(p for p in compile_table(T, mode).plans if p.tier == tier)
    conds = [f"{e.key}#ok" for e in plan.entries if is_top_condition(e)]
    cats = [f"{e.key}#lo" for e in plan.entries if e.kind == "category" and e.depth == 0] \
        if plan.pack.decision == "score" else []
    keys = tuple(conds + cats)

    def value(frame):
        out = evaluate_table(frame, T, mode, keys=keys)
        v = pl.lit(0, dtype=pl.Int64)
        for c in conds:
            v = v + pl.col(c).fill_null(False).cast(pl.Int64) * (VALUE_CONDITION * SCALE4)
        for c in cats:
            v = v + pl.col(c).fill_null(0).cast(pl.Int64)
        return out.select(v.alias("_v"))["_v"]

    v0 = pl.DataFrame({"i": S["i"], "_v0": value(S)})
    tk = [k for k in live if items[k].lever == "title"]
    own = [k for k in live if k not in tk[1:]]  # one title chain stands for all (the same titles, later)
    long = pl.concat([lv.select("i", pl.lit(k, dtype=pl.Int32).alias("_k"), pl.col(f"_a{k}").alias("_a"))
                      .filter(pl.col("_a").is_not_null()) for k in own])
    parts = []
    for off in range(0, long.height, MAX_ROWS):
        if deadline is not None and time.time() >= deadline:
            break
        ch = long.slice(off, MAX_ROWS)
        fr = S.join(ch.with_columns([pl.when(pl.col("_k") == k).then(pl.col("_a")).alias(f"_u{k}") for k in live]),
                    on="i", how="inner")
        fr = _apply(fr, [items[k] for k in live], [f"_u{k}" for k in live], params)
        parts.append(fr.select("i", "_k").with_columns(value(fr)))
    if not parts:
        return None
    return pl.concat(parts).join(v0, on="i").with_columns((pl.col("_v") - pl.col("_v0")).alias("_g")).drop("_v", "_v0")



def bundle_plans(F, as_of: dt.date, target: str, mode: str, horizon: int, costs: dict, rows=None, best=None,
                 deadline: float | None = None, max_bundles: int = BUNDLES_PER_CONTEXT, greedy: int = GREEDY):
    """For the rows of engine frame F (or the row indices `rows`): a Polars frame with `i`, `cost_fen`,
    `passes_on` (date), `steps` and `actions` ([{lever, year, amount, level}]) of the cheapest
    verified bundle plan found, for the rows where one passes within the horizon and costs less than
    `best` (a frame of `i`, `cost_fen`: known plans, e.g. topup_bounds). `greedy`: per firm, the
    bundles made of its first 1..greedy levels by cost per value (_values); `max_bundles`: then
    bundles common to all firms, by typical cost. `deadline`: no engine call starts after it."""
    import polars as pl

    from srdi.engine.assess import evaluate_table

    from .bulk import table_inputs

    ACT = pl.List(pl.Struct({"lever": pl.String, "year": pl.Int32, "amount": pl.Int64, "level": pl.String}))
    empty = pl.DataFrame(schema={"i": pl.UInt32, "cost_fen": pl.Int64, "passes_on": pl.Date, "steps": pl.String,
                                 "actions": ACT})
    base, dates = projected(F, as_of, horizon, costs, rows)
    if base.height == 0:
        return empty
    P = costs["levers"]
    rd_on = P["rd_spend"].get("enabled", True)
    price = Fraction(str(P["rd_spend"]["cost_per_yuan"]))
    INF = (1 << 62)
    known = best.select("i", pl.col("cost_fen").cast(pl.Int64)) if best is not None and best.height else \
        pl.DataFrame(schema={"i": pl.UInt32, "cost_fen": pl.Int64})
    state = {"best": pl.DataFrame({"i": base["i"]}).join(known, on="i", how="left")
             .with_columns(pl.col("cost_fen").fill_null(INF))}
    found: list = []

    def late() -> bool:
        return deadline is not None and time.time() >= deadline

    for tier, th, ds, chains in _contexts(as_of, dates, target, mode, costs):
        if late():
            break
        back = 3 if (th.get("main_growth_avg_2y") or th.get("revenue_cagr_2y")) else 2
        years = list(range(max(as_of.year, ds[-1].year - back), ds[-1].year))
        items = financial_items(base, years, th, costs) + state_items(base, as_of, ds[-1], th, costs) \
            + title_items(chains, costs)
        if not items:
            continue
        key = f"{tier}#ok"
        need_cols = set().union(*[set(table_inputs(d, mode, (key,))) for d in ds],
                                *[set(table_inputs(T0, "application", (f"{t0}#ok",))) for ch in chains for t0, T0, _ in ch])
        S = base.select(["i"] + [c for c in base.columns if c in need_cols])
        # amounts and costs of every level for every firm (null: not a level for that firm)
        lv = base.select("i", *[pl.when(it.amount > 0).then(it.amount).alias(f"_a{k}") for k, it in enumerate(items)],
                         *[it.cost.cast(pl.Int64).alias(f"_c{k}") for k, it in enumerate(items)])
        stats = lv.select([pl.col(f"_c{k}").filter(pl.col(f"_a{k}").is_not_null()).median().alias(str(k))
                           for k in range(len(items))]).row(0)
        live = [k for k in range(len(items)) if stats[k] is not None]
        if not live:
            continue
        # R&D: the baseline levels of each changeable year (levels of the search's rd_spend lever)
        ys = [y for y in (ds[0].year - 1, ds[0].year - 2) if y >= as_of.year and y >= ds[0].year - YEARS_BACK
              and fin(y, "rd_expense") in base.columns] if rd_on else []
        lvl_cols = {}
        for y in ys:
            ns = _needs(base, y, th)
            lvl_cols[y] = [f"_l{y}_{j}" for j in range(len(ns))]
            S = S.hstack(base.select([n.cast(pl.Int64).alias(c) for n, c in zip(ns, lvl_cols[y])]))
        effs = {k: items[k].ready for k in live}

        def chain_checks(g, K, uk):
            """The passing rows whose title chain holds: each tier of the chain passes on its date
            with the levels counting by then (and every financial one; search.Planner.check)."""
            ts = [k for k in K if items[k].lever == "title"]
            if not ts or g.height == 0:
                return g
            keep = [g.filter(pl.all_horizontal([pl.col(f"_u{k}").is_null() for k in ts]))]
            for k in ts:
                gk = g.filter(pl.col(f"_u{k}").is_not_null())
                for t0, T0 in items[k].checks:
                    if gk.height == 0:
                        break
                    if late():
                        return keep[0]
                    # the levels counting on T0 (as apply_actions on T0: a later one is left out)
                    uk0 = [f"_u{j}" for j in K if items[j].eff is None or items[j].eff <= T0]
                    its0 = [items[j] for j in K if items[j].eff is None or items[j].eff <= T0]
                    f0 = S.join(gk.select("_b", "i", "a1", "a2", *uk0), on="i", how="inner")
                    f0 = _apply(f0, its0, uk0, P)
                    if ys:
                        f0 = f0.with_columns([pl.when(pl.col(a) > 0).then(pl.col(a).cast(pl.Int128)).alias(f"_r{a}")
                                              for a in ("a1", "a2")])
                        f0 = _apply(f0, [Item("rd_spend", y, None, None) for y in ys], ["_ra1", "_ra2"][:len(ys)], P)
                    ok0 = evaluate_table(f0, T0, "application", keys=(f"{t0}#ok",))[f"{t0}#ok"]
                    gk = gk.join(f0.select("_b", "i").filter(ok0.fill_null(False)), on=["_b", "i"], how="semi")
                keep.append(gk)
            return pl.concat(keep)

        def try_(A, K):
            """Bundles given per row of A (`_b` bundle tag, `i`, `_u{k}` the amount of level k or
            null for k in K): applied, then the R&D ladder, verified on their date; the passing
            plans cheaper than the firm's best are kept."""
            uk = [f"_u{k}" for k in K]
            disc = pl.sum_horizontal([pl.when(pl.col(f"_u{k}").is_not_null()).then(pl.col(f"_c{k}")) for k in K]) \
                .fill_null(0).cast(pl.Int64)
            e = [pl.when(pl.col(f"_u{k}").is_not_null()).then(pl.lit(effs[k])) for k in K if effs[k] is not None]
            emax = pl.max_horizontal(e) if e else pl.lit(None, dtype=pl.Date)
            when_ = pl.when(emax.is_null() | (emax <= ds[0])).then(pl.lit(ds[0]))
            for d in ds[1:]:
                when_ = when_.when(emax <= d).then(pl.lit(d))
            A = A.join(lv.select("i", *[f"_c{k}" for k in K]), on="i", how="left") \
                .with_columns(disc.alias("_d"), when_.otherwise(None).alias("_T")) \
                .join(state["best"], on="i", how="left").filter(pl.col("_d") < pl.col("cost_fen")) \
                .select("_b", "i", "_d", "_T", *uk)
            if A.height == 0:
                return
            fb = _apply(S.join(A, on="i", how="inner"), [items[k] for k in K], uk, P)
            fb, nl = _ladder(fb, ys, lvl_cols, th, price)
            a1, a2 = _ladder_pick(nl, pl.col("_rt"))
            # the ladder walks a narrow frame; the bundle-applied rows (D) are gathered by `_row`
            fb = fb.with_row_index("_row")
            D = fb.select([c for c in fb.columns if not c.startswith("_")])  # (with the columns a level added)
            fb = fb.select("_row", "_b", "i", "_d", "_T", *uk, "_prev",
                           *[f"{x}{j}" for j in range(nl) for x in ("_t", "_x1", "_x2")])

            def run(fb, probe=False):
                """Rows of fb with the top-up `_rt`, cheaper than the firm's best (a probe: every
                row; only the cheaper ones are kept as plans): (the rows tried, the rows passing)."""
                cand = fb.with_columns(a1.alias("a1"), a2.alias("a2")) \
                    .with_columns((pl.col("_d") + pl.col("_rt")).alias("_t")) \
                    .join(state["best"].rename({"cost_fen": "_best"}), on="i", how="left")
                if not probe:
                    cand = cand.filter(pl.col("_t") < pl.col("_best"))
                if cand.height == 0:
                    return cand.select("_b", "i"), cand.select("_b", "i")
                tried = cand.select("_b", "i")
                cand = pl.concat([D[cand["_row"]].drop("i"), cand.select("_b", "i", "_t", "_best", "_T", "a1", "a2", *uk)],
                                 how="horizontal")
                if ys:
                    cand = cand.with_columns([pl.when(pl.col(a) > 0).then(pl.col(a).cast(pl.Int128)).alias(f"_r{a}")
                                              for a in ("a1", "a2")])
                    cand = _apply(cand, [Item("rd_spend", y, None, None) for y in ys], ["_ra1", "_ra2"][:len(ys)], P)
                got, maybe = [], []
                for T in cand["_T"].unique().sort().to_list():
                    cT = cand.filter(pl.col("_T") == T)
                    ok = evaluate_table(cT, T, mode, keys=(key,))[key]
                    g = cT.select("_b", "i", "_t", "_best", "_T", "a1", "a2", *uk).filter(ok.fill_null(False))
                    if g.height:
                        got.append(g)
                    if probe:  # undetermined with the dearest top-up: still worth the ladder
                        maybe.append(cT.select("_b", "i").filter(ok.is_null()))
                if not got:
                    return tried, pl.concat(maybe) if maybe else tried.head(0)
                g_all = chain_checks(pl.concat(got), K, uk)
                if g_all.height == 0:
                    return tried, pl.concat([g_all.select("_b", "i")] + maybe)
                g = g_all.filter(pl.col("_t") < pl.col("_best")).sort(["i", "_t", "_T", "_b"]) \
                    .unique("i", keep="first", maintain_order=True)
                if g.height == 0:
                    return tried, pl.concat([g_all.select("_b", "i")] + maybe)
                acts = [pl.when(pl.col(f"_u{k}").is_not_null()).then(pl.struct(
                    pl.lit(items[k].lever).alias("lever"), pl.lit(items[k].year, dtype=pl.Int32).alias("year"),
                    pl.col(f"_u{k}").cast(pl.Int64).alias("amount"),
                    pl.lit(items[k].level, dtype=pl.String).alias("level"))) for k in K]
                for a, y in zip(("a1", "a2"), ys):
                    acts.append(pl.when(pl.col(a) > 0).then(pl.struct(
                        pl.lit("rd_spend").alias("lever"), pl.lit(y, dtype=pl.Int32).alias("year"),
                        pl.col(a).cast(pl.Int64).alias("amount"), pl.lit(None, dtype=pl.String).alias("level"))))
                found.append(g.select("i", pl.col("_t").alias("cost_fen"), pl.col("_T").alias("passes_on"),
                                      pl.concat_list(acts).list.drop_nulls().cast(ACT).alias("actions")))
                state["best"] = state["best"].join(g.select("i", pl.col("_t").alias("_n")), on="i", how="left") \
                    .with_columns(pl.min_horizontal("cost_fen", pl.col("_n").fill_null(INF)).alias("cost_fen")).drop("_n")
                return tried, pl.concat([g_all.select("_b", "i")] + maybe)

            if late():
                return
            # a probe first: the dearest top-up; a row failing even with it is dropped (passing is
            # nearly always monotone in R&D; a plan missed here is only a plan not found)
            fb = fb.with_columns(pl.max_horizontal([pl.col(f"_t{j}") for j in range(nl)]).alias("_rt"))
            _, ok_ = run(fb, probe=True)
            fb = fb.join(ok_, on=["_b", "i"], how="semi")
            for _ in range(LADDER):  # then the cheaper ones, cheapest first, until one passes
                if late() or fb.height == 0:
                    return
                fb = fb.with_columns(_ladder_next(nl)).filter(pl.col("_rt").is_not_null())
                tried, ok_ = run(fb)
                # rows whose next top-up costs too much, or that passed, are done
                fb = fb.join(tried, on=["_b", "i"], how="semi").join(ok_, on=["_b", "i"], how="anti") \
                    .with_columns(pl.col("_rt").alias("_prev"))

        # 1. per firm: its levels in order of cost per value, one per lever and year; bundles of the
        # first 1, 2, ... of them
        if greedy:
            g = _values(S, lv, items, live, tier, ds[-1], mode, P, deadline)
            if g is not None:
                cost_of = pl.concat([lv.select("i", pl.lit(k, dtype=pl.Int32).alias("_k"), pl.col(f"_c{k}").alias("_cst"))
                                     for k in live])
                grp = {k: str(items[k].group) for k in live}
                rk = g.filter(pl.col("_g") > 0).join(cost_of, on=["i", "_k"]) \
                    .with_columns(pl.col("_k").replace_strict(grp, return_dtype=pl.String).alias("_grp"),
                                  (pl.col("_cst") / pl.col("_g")).alias("_ratio")) \
                    .sort(["i", "_ratio", "_cst", "_k"]).unique(["i", "_grp"], keep="first", maintain_order=True) \
                    .with_columns(pl.int_range(pl.len()).over("i").alias("_r")).filter(pl.col("_r") < greedy)
                wide = rk.pivot(on="_k", index="i", values="_r")
                K = [k for k in live if str(k) in wide.columns]
                wide = wide.rename({str(k): f"_r{k}" for k in K})
                for p_ in range(1, greedy + 1):
                    if late():
                        break
                    A = wide.filter(pl.max_horizontal([pl.col(f"_r{k}") for k in K]) >= p_ - 1) \
                        .join(lv.select("i", *[f"_a{k}" for k in K]), on="i", how="left") \
                        .select(pl.lit(-p_).alias("_b"), "i", *[pl.when(pl.col(f"_r{k}") < p_).then(pl.col(f"_a{k}"))
                                                               .alias(f"_u{k}") for k in K])
                    tk = [k for k in live if items[k].lever == "title"]
                    if tk and A.height:
                        # a bundle with a title: once per title chain (the ranks chose one of them)
                        has = pl.any_horizontal([pl.col(f"_u{k}").is_not_null() for k in tk if k in K])
                        At = A.filter(has)
                        A = [A.filter(has.not_())] + [At.with_columns(
                            pl.lit(-p_ * 100 - j).alias("_b"),
                            *[(pl.lit(1, dtype=pl.Int128) if k == t else pl.lit(None, dtype=pl.Int128)).alias(f"_u{k}")
                              for k in tk]) for j, t in enumerate(tk)]
                        A = pl.concat(A, how="diagonal_relaxed")
                    if A.height:
                        try_(A, sorted(set(K) | set(tk)))
        # 2. bundles common to all firms, in order of their typical cost (the median of each level's cost)
        groups: dict = {}
        for k in live:
            groups.setdefault(items[k].group, []).append(Action(str(k), None, k, int(stats[k])))
        levers = [sorted(g_, key=lambda a: a.cost) for g_ in groups.values()]
        bundles = []
        for _, acts in enumerate_by_cost(levers):
            if acts:
                bundles.append(tuple(sorted(a.amount for a in acts)))
            if len(bundles) >= max_bundles:
                break
        pos = 0
        while pos < len(bundles) and not late():
            batch, n = [], 0
            while pos < len(bundles) and n < MAX_ROWS:
                b = bundles[pos]
                A = lv.filter(pl.all_horizontal([pl.col(f"_a{k}").is_not_null() for k in b])) \
                    .select(pl.lit(pos).alias("_b"), "i", *[pl.col(f"_a{k}").alias(f"_u{k}") for k in b])
                pos += 1
                if A.height:
                    batch.append(A)
                    n += A.height
            if batch:
                A = pl.concat(batch, how="diagonal_relaxed")
                try_(A, [k for k in live if f"_u{k}" in A.columns])
    if not found:
        return empty
    out = pl.concat(found).sort(["i", "cost_fen", "passes_on"]).unique("i", keep="first", maintain_order=True)
    steps = out["actions"].list.eval(
        pl.element().struct.field("lever") + pl.when(pl.element().struct.field("year").is_not_null())
        .then(pl.lit("@") + pl.element().struct.field("year").cast(pl.String)).otherwise(pl.lit(""))) \
        .list.unique().list.sort().list.join(", ")
    return out.with_columns(steps.alias("steps")).select("i", "cost_fen", "passes_on", "steps", "actions")
