"""Pools: rank a population by what stands between each firm and a tier (srdi plan --pool).

Column-wise: the whole file is read with the batch readers (srdi.batch.io) into engine columns and
screened with `evaluate_table` in one pass per date: the tier's outcome and every top-level
condition now (as-of) and on the next 1 January with the current fiscal year projected flat.
Firms are ranked by the number of failing conditions (one step away first); the exact planner
(make_plan's search) then prices the nearest `plan_limit` firms. Output: CSV or XLSX (with a
chart of firms by number of failing conditions).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .costs import load_costs


POOL_PLAN_BUDGET = 800  # engine rows per firm plan in a pool (beyond: best found, marked "(budget)")


def read_pool(path: str, as_of: dt.date, lang: str = "zh"):
    import polars as pl

    from srdi.batch.io import convert_chunk, read_chunks, resolve_columns

    frames = []
    for raw in read_chunks(path):
        specs, _ = resolve_columns([c for c in raw.columns if c != "row"], as_of)
        frames.append(convert_chunk(raw, specs, lang).frame)
    if not frames:
        raise ValueError(f"{path}: no rows / 没有数据行")
    return pl.concat(frames, how="diagonal_relaxed")


def _screen(F, d: dt.date, tier: str, mode: str):
    from srdi.engine.assess import compile_table, evaluate_table

    c = compile_table(d, mode)
    plan = next(p for p in c.plans if p.tier == tier)
    tops = [e for e in plan.entries if e.depth == 0 and e.kind in ("eligibility", "prerequisite", "exclusion", "condition")]
    out = evaluate_table(F, d, mode, keys=[f"{tier}#ok"] + [f"{e.key}#ok" for e in tops])
    return out, tops


def plan_pool(path: str, as_of: Any, target: str, mode: str = "application", horizon: int = 2, costs: Any = None,
              lang: str = "zh", plan_limit: int = 50):
    """A Polars frame, one row per firm, ranked; see the module doc."""
    import polars as pl

    from srdi.engine.measures import path_kind
    from srdi.engine.packs import parse_date

    from .search import Planner, tier_at

    as_of = parse_date(as_of)
    cm = load_costs(costs)
    F = read_pool(path, as_of, lang)
    n = F.height
    tier = tier_at(target, as_of, mode)
    if tier is None:
        raise ValueError(f"target {target} is not a tier on {as_of}")
    now, tops = _screen(F, as_of, tier, mode)
    ok_now = now[f"{tier}#ok"]
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
    # exact plans for the nearest firms
    order = res.with_row_index("i").filter(pl.col("passes_now").fill_null(False).not_()) \
        .sort(["failing_conditions", "row"]).head(plan_limit)["i"].to_list()
    cost = [0.0 if v else None for v in ok_now.to_list()]
    when = [as_of.isoformat() if v else None for v in ok_now.to_list()]
    step = [None] * n
    keep = [c for c in F.columns if _known(c, path_kind)]
    for i in order:
        row = {k: v for k, v in F.row(i, named=True).items() if k in keep and v is not None}
        try:
            pl_ = Planner(row, as_of, target, mode, horizon, cm)
            pl_.row_budget = POOL_PLAN_BUDGET
            found, res_ = pl_.run()
        except Exception as e:  # noqa: BLE001 - one bad row must not stop the pool
            step[i] = f"error: {e}"
            continue
        if found:
            f = min(found, key=lambda x: (x.cost, x.date))
            cost[i] = f.cost / 100
            when[i] = f.date.isoformat()
            step[i] = ", ".join(sorted({a.lever + (f"@{a.year}" if a.year else "") for a in f.actions})) or "-"
            if not all(r.complete for r in res_):
                step[i] += " (budget)"
    res = res.with_columns(pl.Series("cost_yuan", cost, dtype=pl.Float64), pl.Series("passes_on", when, dtype=pl.String),
                           pl.Series("steps", step, dtype=pl.String))
    return res.sort(["cost_yuan", "failing_conditions", "row"], nulls_last=True)


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
