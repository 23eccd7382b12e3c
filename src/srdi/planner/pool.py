"""Pools: rank a population by what stands between each firm and a tier (srdi plan --pool).

Column-wise: the whole file is read with the batch readers (srdi.batch.io) into engine columns and
screened with `evaluate_table` in one pass: the tier's outcome and every top-level condition on the
as-of date. Then, column-wise for all failing firms at once: the firms that nothing can make pass
within the horizon (blocked.py); for the others the cheapest R&D top-up the engine verifies passes
(topup.py), and then cheaper plans of a few discrete levers followed by the least R&D top-up
(bundles.py: per firm, bundles of its most useful levels per yuan, verified by the engine; at most
BUNDLE_SHARE of the time budget). Both are verified plans, upper bounds of the optimum. Firms are
ranked by the number of failing conditions (one step away first); the exact planner (make_plan's
search, per firm) then prices the nearest firms, up to `plan_limit` firms and within `time_budget`
seconds for the whole call, optionally in `workers` processes. With no `plan_limit` (the whole
population) the first SEED_PER_GROUP firms of every set of failing conditions go first, so that
estimates exist for every set, then the firms without a verified plan (top-up or bundle), then the
others, nearest first.

Every row says what its cost is (`cost_kind`):
  exact        passes now (0), or the planner's search finished: the proven optimum
  infeasible   nothing passes within the horizon (exact; cost empty): the search finished, or,
               column-wise for all firms at once (blocked.py), on every candidate date a condition
               is not met that no lever can change (`steps` names them)
  bound        a verified plan, an upper bound of the optimum: either the search hit its per-firm
               budget (the cheapest plan found; steps end in "(budget)"), or, not planned by the
               search (or its plan cost more), the cheapest bundle plan (bundles.py, column-wise:
               a few discrete levers and the least R&D top-up, verified by the engine on
               `passes_on`, cheaper than the firm's R&D top-up); steps name the levers, financial
               ones with their fiscal year (`growth@2025, rd_spend@2025`)
  budget       the search hit its per-firm budget before finding any plan (cost empty)
  topup        not planned by the search (or its plan cost more), no cheaper bundle: the cheapest
               R&D top-up that the engine verified passes (topup.py, column-wise), an upper
               bound; steps `rd_spend@YEAR`, or `-` when waiting until `passes_on` is enough
  estimate     no verified plan: the median exact cost of the planned firms that fail the same
               top-level conditions today (`estimate_n` of them); a statistic, not a plan
  none         no verified plan and no estimate
  error        the firm's row holds a bad cell (steps names the column and the problem, as
               `srdi batch` reports it; the firm is not screened or planned: passes_now empty),
               or it could not be planned (steps holds the message)
Output: CSV or XLSX (with a chart of firms by number of failing conditions).
"""
from __future__ import annotations

import datetime as dt
import gc
import os
import time
from typing import Any

from .costs import load_costs
from .blocked import infeasible_rows
from .bundles import bundle_plans
from .topup import topup_bounds


POOL_PLAN_BUDGET = 3_000  # engine rows per firm plan in a pool (beyond: best found, cost_kind "bound")
POOL_ENUM_BUDGET = 60_000  # A* nodes per date per firm in a pool (as one plan)
BUNDLE_SHARE = 0.25  # at most this share of a pool's time budget goes to bundle plans (bundles.py)
SEED_PER_GROUP = 3  # plan_limit None: firms of each failing-condition set planned first


def read_pool(path: str, as_of: dt.date, lang: str = "zh", with_errors: bool = False):
    """The file as engine columns (the batch readers); `with_errors`: and its bad cells, a frame
    (row, field, path, value, problem) as `srdi batch` reports them (a bad cell reads as missing
    in the frame)."""
    import polars as pl

    from srdi.batch.io import ERR_SCHEMA, convert_chunk, read_chunks, resolve_columns

    frames, errors = [], []
    for raw in read_chunks(path):
        specs, _ = resolve_columns([c for c in raw.columns if c != "row"], as_of)
        conv = convert_chunk(raw, specs, lang)
        frames.append(conv.frame)
        errors.append(conv.errors)
    if not frames:
        raise ValueError(f"{path}: no rows / 没有数据行")
    F = pl.concat(frames, how="diagonal_relaxed")
    if not with_errors:
        return F
    return F, pl.concat(errors, how="vertical") if errors else pl.DataFrame(schema=ERR_SCHEMA)


def _screen(F, d: dt.date, tier: str, mode: str):
    from srdi.engine.assess import compile_table, evaluate_table

    from .search import is_top_condition

    c = compile_table(d, mode)
    plan = next(p for p in c.plans if p.tier == tier)
    tops = [e for e in plan.entries if is_top_condition(e)]
    out = evaluate_table(F, d, mode, keys=[f"{tier}#ok"] + [f"{e.key}#ok" for e in tops])
    return out, tops


def plan_firm(row: dict, as_of: dt.date, target: str, mode: str, horizon: int, cm: dict,
              row_budget: int = POOL_PLAN_BUDGET, enum_budget: int = POOL_ENUM_BUDGET) -> tuple:
    """One firm of a pool: (cost in yuan or None, passes_on, steps, cost_kind)."""
    from .search import Planner

    try:
        pl_ = Planner(row, as_of, target, mode, horizon, cm)
        pl_.row_budget = row_budget
        pl_.enum_budget = enum_budget
        found, res_ = pl_.run()
    except Exception as e:  # noqa: BLE001 - one bad row must not stop the pool
        return None, None, f"error: {e}", "error"
    complete = all(r.complete for r in res_)
    if not found:
        return None, None, None, "infeasible" if complete else "budget"
    f = min(found, key=lambda x: (x.cost, x.date))
    step = ", ".join(sorted({a.lever + (f"@{a.year}" if a.year else "") for a in f.actions})) or "-"
    if not complete:
        step += " (budget)"
    return f.cost / 100, f.date.isoformat(), step, "exact" if complete else "bound"


def _plan_chunk(args) -> list:
    rows, as_of, target, mode, horizon, cm, deadline = args
    out = []
    for i, row in rows:
        if deadline is not None and time.time() >= deadline:
            break
        out.append((i,) + plan_firm(row, as_of, target, mode, horizon, cm))
    return out


def _warm(as_of, target, mode, horizon, cm):
    """Worker start: compile the tables of every candidate date (the first plans are slow
    otherwise)."""
    from srdi.engine.assess import compile_table

    from .bulk import table_inputs
    from .search import Planner, tier_at

    pl_ = Planner({}, as_of, target, mode, horizon, cm)
    for d in pl_.dates:
        compile_table(d, mode)
        t = tier_at(target, d, mode)
        if t is not None:
            table_inputs(d, mode, (f"{t}#ok",))
    # what is compiled lives as long as the worker: into the permanent GC generation, so that a
    # full collection during the plans does not walk it (~50 ms a time; srdi.web.app.warm_up)
    gc.collect()
    gc.freeze()


def plan_pool(path: str, as_of: Any, target: str, mode: str = "application", horizon: int = 2, costs: Any = None,
              lang: str = "zh", plan_limit: int | None = 50, *, time_budget: float | None = None, workers: int = 1):
    """A Polars frame, one row per firm, ranked; see the module doc. `plan_limit` None: no limit
    on the number of exact plans; `time_budget`: seconds for the whole call (read, screen, plans),
    after which the remaining firms get estimates."""
    import polars as pl

    from srdi.engine.measures import path_kind
    from srdi.engine.packs import parse_date

    from .search import tier_at

    t0 = time.time()
    deadline = None if time_budget is None else t0 + float(time_budget)
    as_of = parse_date(as_of)
    cm = load_costs(costs)
    F, errors = read_pool(path, as_of, lang, with_errors=True)
    n = F.height
    # rows with a bad cell: reported (cost_kind error, the cells' problems in steps), not planned on
    # a frame where the cell reads as missing
    msg: dict = {}
    for r, field, problem in errors.select("row", "field", "problem").iter_rows():
        msg[r] = (msg[r] + "; " if r in msg else "") + f"{field}: {problem}"
    row_no = F["row"].to_list() if "row" in F.columns else list(range(1, n + 1))
    bad = {i: msg[r] for i, r in enumerate(row_no) if r in msg}
    tier = tier_at(target, as_of, mode)
    if tier is None:
        raise ValueError(f"target {target} is not a tier on {as_of}")
    now, tops = _screen(F, as_of, tier, mode)
    ok_now = now[f"{tier}#ok"]
    if bad:
        ok_now = pl.Series(ok_now.name, [None if i in bad else v for i, v in enumerate(ok_now.to_list())],
                           dtype=ok_now.dtype)
    fail_cols = [pl.col(f"{e.key}#ok").fill_null(False).not_().cast(pl.Int32) for e in tops]
    names = [e.node.title.get(lang, e.node.id) for e in tops]
    nfail = now.select(pl.sum_horizontal(fail_cols).alias("n"))["n"]
    which = now.select(pl.concat_str([pl.when(pl.col(f"{e.key}#ok").fill_null(False).not_()).then(pl.lit(nm)).otherwise(None)
                                      for e, nm in zip(tops, names)], separator="; ", ignore_nulls=True).alias("w"))["w"]
    res = pl.DataFrame({
        "row": F["row"] if "row" in F.columns else pl.Series(range(1, n + 1)),
        "name": F["name"] if "name" in F.columns else pl.Series([None] * n, dtype=pl.String),
        "uscc": F["uscc"] if "uscc" in F.columns else pl.Series([None] * n, dtype=pl.String),
        "passes_now": ok_now, "failing_conditions": nfail, "failing": which,
    })
    # column-wise first: firms proven infeasible (blocked on every date), then verified R&D top-up
    # bounds for the others (a few seconds for 100,000 firms); the search skips the infeasible
    failing = [i for i, v in enumerate(ok_now.to_list()) if not v and i not in bad]
    blocked = infeasible_rows(F, as_of, target, mode, horizon, cm, rows=failing, lang=lang, deadline=deadline)
    stuck = set(blocked["i"].to_list())
    alive = [i for i in failing if i not in stuck]
    tops_ = topup_bounds(F, as_of, target, mode, horizon, cm, rows=alive, deadline=deadline)
    # then verified bundle plans (a few discrete levers + an R&D top-up), cheaper than the top-up,
    # within a share of the time budget (the search gets the rest)
    bdl = deadline
    if time_budget is not None:
        bdl = min(deadline, time.time() + BUNDLE_SHARE * float(time_budget))
    bund = bundle_plans(F, as_of, target, mode, horizon, cm, rows=alive, best=tops_, deadline=bdl)
    priced = set(tops_["i"].to_list()) | set(bund["i"].to_list())
    # then exact plans for the nearest firms, within the limits
    order = res.with_row_index("i").filter(pl.col("passes_now").fill_null(False).not_()
                                           & pl.col("i").is_in(list(stuck | set(bad))).not_()) \
        .sort(["failing_conditions", "row"])
    if plan_limit is not None:
        order = order.head(plan_limit)
    else:  # the whole population: first SEED_PER_GROUP firms of every failing set (so that
        # every set gets estimates if the time budget ends early), then the firms without a top-up
        # bound (nothing else prices them), then the others, each nearest first
        order = order.with_columns(pl.int_range(pl.len()).over("failing").alias("_r"),
                                   pl.col("i").is_in(list(priced)).alias("_t")) \
            .sort([pl.col("_r") >= SEED_PER_GROUP, "_t", "failing_conditions", "row"])
    order = order["i"].to_list()
    passes = ok_now.to_list()
    cost = [0.0 if v else None for v in passes]
    when = [as_of.isoformat() if v else None for v in passes]
    step: list = [None] * n
    kind = ["exact" if v else "unplanned" for v in passes]
    keep = [c for c in F.columns if _known(c, path_kind)]
    sub = F.select(keep)

    def rows_of(idx: list[int]) -> list[tuple[int, dict]]:
        return [(i, {k: v for k, v in r.items() if v is not None})
                for i, r in zip(idx, sub[idx].to_dicts())]

    workers = max(1, int(workers))
    results: list = []
    chunk = 64
    jobs = [order[k:k + chunk] for k in range(0, len(order), chunk)]
    if workers == 1 or len(order) < 2 * workers:
        for job in jobs:
            if deadline is not None and time.time() >= deadline:
                break
            results.extend(_plan_chunk((rows_of(job), as_of, target, mode, horizon, cm, deadline)))
    else:
        import multiprocessing as mp
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        # spawn, not fork: Polars' thread pool is live in this process. Chunks nearest first,
        # a few in flight per worker; no new chunk once the deadline has passed.
        # one Polars thread per worker: the workers already share the cores, and the frames are
        # small (set while the workers start: they are spawned on demand)
        env0 = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_warm,
                                     initargs=(as_of, target, mode, horizon, cm)) as ex:
                todo = list(reversed(jobs))
                running: set = set()
                while todo or running:
                    while todo and len(running) < 2 * workers and (deadline is None or time.time() < deadline):
                        running.add(ex.submit(_plan_chunk, (rows_of(todo.pop()), as_of, target, mode, horizon, cm,
                                                            deadline)))
                    if not running:
                        break
                    done_, running = wait(running, return_when=FIRST_COMPLETED)
                    for f in done_:
                        results.extend(f.result())
        finally:
            if env0 is None:
                os.environ.pop("POLARS_MAX_THREADS", None)
            else:
                os.environ["POLARS_MAX_THREADS"] = env0
    for i, c, w, s_, k in results:
        cost[i], when[i], step[i], kind[i] = c, w, s_, k
    for i, why in blocked.iter_rows():
        step[i], kind[i] = why, "infeasible"
    for i, why in bad.items():
        step[i], kind[i] = why, "error"
    for i, c, w, s_, _ in tops_.iter_rows():
        if kind[i] in ("unplanned", "budget") or kind[i] == "bound" and c / 100 < cost[i]:
            cost[i], when[i], step[i], kind[i] = c / 100, w.isoformat(), s_, "topup"
    for i, c, w, s_, _ in bund.iter_rows():  # each cheaper than the firm's top-up (bundle_plans)
        if kind[i] in ("unplanned", "budget", "topup") or kind[i] == "bound" and c / 100 < cost[i]:
            cost[i], when[i], step[i], kind[i] = c / 100, w.isoformat(), s_, "bound"
    res = res.with_columns(pl.Series("cost_yuan", cost, dtype=pl.Float64), pl.Series("passes_on", when, dtype=pl.String),
                           pl.Series("steps", step, dtype=pl.String), pl.Series("cost_kind", kind, dtype=pl.String))
    res = _estimate(res)
    return res.sort(["cost_yuan", "failing_conditions", "row"], nulls_last=True)


def _estimate(res):
    """Firms without a plan: the median exact cost of the planned firms failing the same
    conditions today, labelled `estimate` (with how many exact plans it rests on)."""
    import polars as pl

    ex = res.filter((pl.col("cost_kind") == "exact") & pl.col("passes_now").fill_null(False).not_()) \
        .group_by("failing").agg(pl.col("cost_yuan").median().alias("_est"), pl.len().alias("_n"))
    res = res.join(ex, on="failing", how="left")
    todo = (pl.col("cost_kind") == "unplanned") & pl.col("_est").is_not_null()
    return res.with_columns(
        pl.when(todo).then(pl.col("_est")).otherwise(pl.col("cost_yuan")).alias("cost_yuan"),
        pl.when(todo).then(pl.lit("estimate")).when(pl.col("cost_kind") == "unplanned").then(pl.lit("none"))
        .otherwise(pl.col("cost_kind")).alias("cost_kind"),
        pl.when(todo).then(pl.col("_n")).otherwise(None).cast(pl.UInt32).alias("estimate_n"),
    ).drop("_est", "_n")


def _known(c: str, path_kind) -> bool:
    if c in ("name", "uscc", "size_industry"):
        return True
    try:
        path_kind(c)
        return True
    except KeyError:
        return False


def write_pool(res, out: str, lang: str = "zh") -> None:
    """CSV (plus OUT.svg, a bar chart) or XLSX (with a native bar chart)."""
    import polars as pl

    counts = res.group_by("failing_conditions").len().sort("failing_conditions")
    if out.endswith(".xlsx"):
        from openpyxl import Workbook
        from openpyxl.chart import BarChart, Reference

        wb = Workbook()
        ws = wb.active
        ws.title = "pool"
        ws.append(res.columns)
        for r in res.iter_rows():
            ws.append(list(r))
        ws2 = wb.create_sheet("chart")
        ws2.append(["failing_conditions" if lang == "en" else "未满足条件数", "firms" if lang == "en" else "企业数"])
        for a, b in counts.iter_rows():
            ws2.append([a, b])
        ch = BarChart()
        ch.title = "Firms by failing conditions" if lang == "en" else "按未满足条件数的企业分布"
        ch.add_data(Reference(ws2, min_col=2, min_row=1, max_row=counts.height + 1), titles_from_data=True)
        ch.set_categories(Reference(ws2, min_col=1, min_row=2, max_row=counts.height + 1))
        ws2.add_chart(ch, "D2")
        wb.save(out)
        return
    res.write_csv(out)
    mx = max(counts["len"].to_list() or [1])
    bars = []
    for k, (a, b) in enumerate(counts.iter_rows()):
        h = 200 * b / mx
        bars.append(f'<rect x="{40 + k * 50}" y="{220 - h:.1f}" width="40" height="{h:.1f}" fill="#5470c6"/>'
                    f'<text x="{60 + k * 50}" y="238" font-size="12" text-anchor="middle">{a}</text>'
                    f'<text x="{60 + k * 50}" y="{215 - h:.1f}" font-size="11" text-anchor="middle">{b}</text>')
    title = "Firms by failing conditions" if lang == "en" else "按未满足条件数的企业分布"
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{80 + 50 * counts.height}" height="250">'
           f'<text x="10" y="14" font-size="13">{title}</text>{"".join(bars)}</svg>')
    with open(out.rsplit(".", 1)[0] + ".svg", "w", encoding="utf-8") as f:
        f.write(svg)
    _ = pl
