"""Column-wise upper bounds for pools: the cheapest R&D top-up that makes a tier pass.

Most firms of a population fail a tier only, or also, on R&D (the amount, or its share of
revenue, in the fiscal years the tier reads), and the exact search (search.py) takes 0.05-0.5 s a
firm: too slow for every firm of a 100,000-firm pool. For those the search does not reach, this
module prices one plan for all firms at once, with the engine's own column-wise evaluation:

  for every candidate date T (search.candidate_dates) and every changeable fiscal year set
  (T.year-1, and T.year-2 too when it is not past), add to each year's R&D expense the smallest
  amount reaching one of the R&D thresholds of the tier's pack at T (`rd_expense`,
  `rd_intensity`, and two-year sums and averages with the year before as it is, all `>=`/`>`;
  each threshold alone and all of them at once), with the lever's
  side effects (levers.apply_actions: net profit down, total costs up), on rows projected like
  levers.project_row; evaluate `tier#ok` at T; keep per firm the cheapest passing plan (then
  the earliest date).

Every plan kept passed the engine, so its cost is an upper bound of the optimum (pool.py labels it
`topup`); it is not proven optimal. tests/test_plan_topup.py checks the rows against the one-row
path (project_row + apply_actions, scalar engine) and the costs against exact plans.
"""
from __future__ import annotations

import datetime as dt
import time
from fractions import Fraction

from . import amounts
from .levers import FLOW, STOCK, fin
from .search import candidate_dates, pack_thresholds, tier_at

YEARS_BACK = 2  # fiscal years before T a top-up may touch (T.year-1, T.year-2)


def _project(F, first: int, upto: int, growth: Fraction):
    """levers.project_row, column-wise: a row lacking every financial field of year y (first..upto)
    gets year y from y-1 (flows x (1 + growth), floored; stocks copied)."""
    import polars as pl

    num, den = (1 + growth).numerator, (1 + growth).denominator
    for y in range(first, upto + 1):
        prev = [fin(y - 1, f) for f in FLOW + STOCK if fin(y - 1, f) in F.columns]
        if not prev:
            continue
        cur = [fin(y, f) for f in FLOW + STOCK if fin(y, f) in F.columns]
        absent = pl.all_horizontal([pl.col(c).is_null() for c in cur]) if cur else pl.lit(True)
        has_prev = pl.any_horizontal([pl.col(c).is_not_null() for c in prev])
        fill = absent & has_prev
        exprs = []
        for f in FLOW + STOCK:
            src, dst = fin(y - 1, f), fin(y, f)
            if src not in F.columns:
                continue
            v = pl.col(src).cast(pl.Int128)
            v = (v * num).floordiv(den) if f in FLOW else v
            old = pl.col(dst).cast(pl.Int128) if dst in F.columns else pl.lit(None, dtype=pl.Int128)
            exprs.append(pl.when(fill).then(v).otherwise(old).cast(pl.Int64).alias(dst))
        F = F.with_columns(exprs)
    return F


def projected(F, as_of: dt.date, horizon: int, costs: dict, rows=None):
    """(frame, dates): the rows of F (or the row indices `rows`) with their index `i`, projected to
    the last fiscal year a candidate date within the horizon reads; and those dates. Shared by the
    pool's column-wise parts (here and blocked.py)."""
    from .levers import add_months

    base = F.with_row_index("i")
    if rows is not None:
        base = base[rows]
    dates = candidate_dates(as_of, add_months(as_of, 12 * int(horizon)), costs)
    base = _project(base, as_of.year, max(d.year for d in dates) - 1, Fraction(str(costs["projection"]["growth"])))
    return base, dates


def _ceil_mul(a, p: Fraction):
    """ceil(a x p) for an Int128 column a (Polars has no Int128 negation: 0 - x)."""
    import polars as pl

    zero = pl.lit(0, dtype=pl.Int128)
    return zero - (zero - a * p.numerator).floordiv(p.denominator)


def _needs(F, y: int, th) -> list:
    """Per R&D threshold of `th`: the extra R&D expense (fen, >= 0) year y needs to reach it."""
    import polars as pl

    from .levers import _money

    rd = pl.col(fin(y, "rd_expense")).cast(pl.Int128)
    rev = pl.col(fin(y, "operating_revenue")).cast(pl.Int128) if fin(y, "operating_revenue") in F.columns else None
    out = []
    for op, t in th.get("rd_expense"):
        if op in (">=", ">"):
            out.append(pl.lit(_money(t) + (op == ">"), dtype=pl.Int128) - rd)
    if rev is not None:
        for op, p in th.get("rd_intensity"):
            if op in (">=", ">"):
                out.append(amounts.at_least_times(rev, Fraction(p), op == ">") - rd)
    # two-year sums and averages (e.g. a direct route: R&D averaging >= 1000万 over two years), with
    # the year before as it is (levers.financial_levers, second pass)
    prev = fin(y - 1, "rd_expense")
    if prev in F.columns:
        for meas, mult in (("rd_expense_sum_2y", 1), ("rd_expense_avg_2y", 2)):
            for op, t in th.get(meas):
                if op in (">=", ">"):
                    out.append(pl.lit(_money(Fraction(t) * mult) + (op == ">"), dtype=pl.Int128) - rd
                               - pl.col(prev).cast(pl.Int128))
    return [pl.max_horizontal(e, pl.lit(0, dtype=pl.Int128)) for e in out]


def topup_bounds(F, as_of: dt.date, target: str, mode: str, horizon: int, costs: dict, rows=None,
                 deadline: float | None = None):
    """For the rows of engine frame F (optionally only the row indices `rows`): a Polars frame with
    `i` (row index in F), `cost_fen`, `passes_on` (date), `steps` and `rd_added` ([{year, fen}]) of
    the cheapest verified R&D top-up, for the rows where one passes within the horizon. `deadline`
    (time.time()): no new evaluation starts after it (the bounds found so far are kept)."""
    import polars as pl

    from srdi.engine.assess import evaluate_table

    P = costs["levers"]["rd_spend"]
    ADDED = pl.List(pl.Struct({"year": pl.Int32, "fen": pl.Int64}))
    empty = pl.DataFrame(schema={"i": pl.UInt32, "cost_fen": pl.Int64, "passes_on": pl.Date, "steps": pl.String,
                                 "rd_added": ADDED})
    if not P.get("enabled", True):
        return empty
    price = Fraction(str(P["cost_per_yuan"]))
    base, dates = projected(F, as_of, horizon, costs, rows)
    if base.height == 0:
        return empty
    best = []
    for T in dates:
        tier = tier_at(target, T, mode)
        if tier is None:
            continue
        th = pack_thresholds(tier, T, mode)
        years = [y for y in range(T.year - YEARS_BACK, T.year) if y >= as_of.year
                 and fin(y, "rd_expense") in base.columns]
        variants: list[dict] = [{}] if T > as_of else []  # no change: the firm only waits until T
        for k in range(1, len(years) + 1):
            ys = years[-k:]  # T.year-1, then T.year-1 and T.year-2
            per_year = {y: _needs(base, y, th) for y in ys}
            n = min(len(v) for v in per_year.values())
            # each threshold alone (the same one in every year), then all at once
            variants += [{y: per_year[y][j] for y in ys} for j in range(n)]
            if n > 1:
                variants.append({y: pl.max_horizontal(per_year[y]) for y in ys})
        key = f"{tier}#ok"
        for v in variants:
            if deadline is not None and time.time() >= deadline:
                break
            ys = list(v)
            frame = base.with_columns([x.alias(f"_x{y}") for y, x in v.items()])
            upd = []
            for y in ys:
                x = pl.col(f"_x{y}").fill_null(0)
                # as levers.apply_actions: R&D and net profit count a missing value as 0 when the
                # action applies (x > 0); total costs change only when given
                for f, sign, add in (("rd_expense", 1, True), ("net_profit", -1, True), ("total_costs", 1, False)):
                    if fin(y, f) not in frame.columns and not add:
                        continue
                    cur = pl.col(fin(y, f)).cast(pl.Int128) if fin(y, f) in frame.columns else pl.lit(None, dtype=pl.Int128)
                    new = (cur.fill_null(0) if add else cur) + sign * x
                    upd.append(pl.when(x > 0).then(new).otherwise(cur).cast(pl.Int64).alias(fin(y, f)))
            cand = frame.with_columns(upd)
            ok = evaluate_table(cand, T, mode, keys=(key,))[key]
            got = pl.DataFrame({"i": cand["i"], "ok": ok}).with_columns(
                cand.select([pl.col(f"_x{y}").fill_null(0).alias(str(y)) for y in ys])).filter(pl.col("ok").fill_null(False))
            if got.height == 0:
                continue
            # the price per yuan x the amount, rounded up per year (an Action's cost, levers.financial_levers)
            cost = pl.lit(0, dtype=pl.Int128)
            for y in ys:
                cost = cost + _ceil_mul(pl.col(str(y)), price)
            parts = [pl.when(pl.col(str(y)) > 0).then(pl.lit(f"rd_spend@{y}")) for y in ys]
            steps = pl.concat_str(parts, separator=", ", ignore_nulls=True) if parts else pl.lit("")
            steps = pl.when(steps == "").then(pl.lit("-")).otherwise(steps)  # no change: wait until T
            added = pl.concat_list([pl.struct(pl.lit(y, dtype=pl.Int32).alias("year"),
                                              pl.col(str(y)).cast(pl.Int64).alias("fen")) for y in ys]) \
                if ys else pl.lit([], dtype=ADDED)
            best.append(got.select("i", cost.cast(pl.Int64).alias("cost_fen"), pl.lit(T).alias("passes_on"),
                                   steps.alias("steps"), added.cast(ADDED).alias("rd_added")))
    if not best:
        return empty
    return pl.concat(best).sort(["i", "cost_fen", "passes_on"]).unique("i", keep="first", maintain_order=True)
