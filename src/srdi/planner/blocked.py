"""Column-wise proofs that nothing passes within the horizon, for pools.

A tier passes on a date T only if every top-level condition is true on T (the planner's Gate rests on
the same fact), and a condition reads only its inputs. So if, on T, a top-level condition is not true
for the firm's baseline (projected like one plan's rows) and no lever can change any of its inputs
by T, no plan passes on T. When that holds on every candidate date of the horizon, the firm is
infeasible: the planner's search would find nothing either (it skips such dates as blocked).

The levers assumed are a superset of any firm's (every financial lever in every changeable fiscal
year, every state and title lever whatever its lead time or cost model switch), so the proof never
depends on a firm's particular levels: fewer firms are proven than the search would, never a wrong
one. tests/test_plan_topup.py checks proven firms against the search.
"""
from __future__ import annotations

import datetime as dt
import time

from .levers import BOOL_LEVERS, Action
from .search import LEVER_FIELDS, tier_at, touched


def max_touched(as_of: dt.date, T: dt.date) -> set[str]:
    """Every input some lever could change for an evaluation on T."""
    acts = [Action(lv, y, 0, 0) for y in range(as_of.year, T.year) for lv in (*LEVER_FIELDS, "quality_score")]
    acts += [Action(lv, None, 0, 0) for lv in ("ip_class1", "ip_high_value", "ip_class2", "ip_apply",
                                               "digital_level", "rd_institution", "high_tech_enterprise", "title")]
    acts += [Action(p, None, True, 0) for p in BOOL_LEVERS]
    return touched([acts])


def _top_conditions(T: dt.date, mode: str, tier: str) -> list[tuple[str, str, set]]:
    """(output key, entry key, inputs) of what must hold on T for the tier to pass: its top-level
    conditions (as Planner.analyse), and the years that must each hold within them
    (search.necessary_parts: a condition over each of two years is false when one year is)."""
    from srdi.engine.assess import compile_table

    from .search import entry_inputs, is_top_condition, necessary_parts

    plan = next(p for p in compile_table(T, mode).plans if p.tier == tier)
    out = []
    for e in plan.entries:
        if is_top_condition(e):
            out.append((f"{e.key}#ok", e.key, entry_inputs(plan, e.key)))
            out.extend((okey, e.key, set(pin)) for _, okey, pin in necessary_parts(plan, e.key))
    return out


def infeasible_rows(F, as_of: dt.date, target: str, mode: str, horizon: int, costs: dict, rows=None, lang: str = "zh",
                    deadline: float | None = None):
    """For the rows of engine frame F (or the row indices `rows`): a Polars frame of `i` (row index)
    and `blocked` (the conditions no lever can change on the last candidate date, in words; those
    undetermined for want of data marked so) for the
    rows proven infeasible within the horizon (none once `deadline`, a time.time(), has passed)."""
    import polars as pl

    from srdi.engine.assess import compile_table, evaluate_table

    from .topup import projected

    alive, dates = projected(F, as_of, horizon, costs, rows)  # firms not yet shown to pass-possibly on some date
    why = None
    for T in dates:
        if alive.height == 0 or deadline is not None and time.time() >= deadline:
            alive = alive.head(0)
            break
        tier = tier_at(target, T, mode)
        if tier is None:
            continue  # no such tier on T: nothing passes on T
        tch = max_touched(as_of, T)
        fixed = list(dict.fromkeys((k, ek) for k, ek, inp in _top_conditions(T, mode, tier) if not inp & tch))
        if not fixed:
            alive = alive.head(0)
            break
        out = evaluate_table(alive, T, mode, keys=tuple(k for k, _ in fixed))
        plan = next(p for p in compile_table(T, mode).plans if p.tier == tier)
        names = {e.key: e.node.title.get(lang, e.node.id) for e in plan.entries if e.depth == 0}
        # undetermined (an input is missing that no lever supplies): marked as in Planner.blocked
        miss = " (缺少数据)" if lang == "zh" else " (missing data)"
        # (a condition blocked by two of its years is named once)
        blocked = pl.concat_list([pl.when(pl.col(k).is_null()).then(pl.lit(names[ek] + miss))
                                  .when(pl.col(k).not_()).then(pl.lit(names[ek])) for k, ek in fixed]) \
            .list.drop_nulls().list.unique(maintain_order=True).list.join("; ")
        stuck = out.select(blocked.alias("blocked"))["blocked"]
        keep = stuck.fill_null("") != ""
        alive = alive.filter(keep)
        why = stuck.filter(keep)
    if alive.height == 0 or why is None:
        return pl.DataFrame(schema={"i": pl.UInt32, "blocked": pl.String})
    return pl.DataFrame({"i": alive["i"], "blocked": why})
