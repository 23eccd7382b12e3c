"""The planner's search is exact: compare it with exhaustive search (itertools.product over the
same lever levels, evaluated one by one with the scalar engine) on small instances."""
import datetime as dt
import itertools
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from srdi.engine.assess import compile_row, run_row
from srdi.engine.frame import profile_row
from srdi.planner.costs import load_costs
from srdi.planner.levers import apply_actions
from srdi.planner.search import DateResult, Planner
from srdi.profile import validate_profile

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def _row(name):
    c = yaml.safe_load((CASES / f"{name}.yaml").read_text(encoding="utf-8"))
    return profile_row(validate_profile(c["profile"]).to_contract_dict()), dt.date.fromisoformat(c["as_of"])


def _small(levers, limit=400):
    out = []
    for opts in levers:
        opts = opts[:3]
        if math.prod(len(o) + 1 for o in out + [opts]) > limit:
            continue
        out.append(opts)
    return out


def _brute(pl, tier, T, rowT, levers):
    best = None
    for choice in itertools.product(*[[None] + o for o in levers]):
        acts = [a for a in choice if a is not None]
        cost = sum(a.cost for a in acts)
        if best is not None and cost >= best:
            continue
        r = apply_actions(rowT, acts, T, pl.costs["levers"])
        ok = run_row(compile_row(T, pl.mode), r)[f"{tier}#ok"]
        if ok is True and all(
                run_row(compile_row(T0, "application"), apply_actions(rowT, acts, T0, pl.costs["levers"]))[f"{t0}#ok"] is True
                for a in acts for t0, T0 in a.checks):
            best = cost
    return best


def _search(pl, tier, T, rowT, levers):
    found = []
    pl.search(tier, T, rowT, levers, DateResult(T, tier), found, None)
    return min((f.cost for f in found), default=None)


INSTANCES = [
    ("r2022-innovative-rd-exactly-3pct", "srdi_sme", dt.date(2026, 1, 1)),
    ("r2022-innovative-category-floor", "innovative_sme", dt.date(2026, 1, 1)),
    ("r2026-srdi-rd-each-year", "srdi_sme", dt.date(2027, 1, 1)),
    ("r2022-srdi-scored", "innovative_sme", dt.date(2027, 1, 1)),
    ("r2026-little-giant-pass", "srdi_sme", dt.date(2026, 12, 1)),   # title chain: pass the entry tier first
    ("r2022-innovative-rd-exactly-3pct", "srdi_sme", dt.date(2026, 2, 1)),  # digitalisation level lever
]


@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_search_equals_exhaustive(case, target, T):
    row, as_of = _row(case)
    pl = Planner(row, as_of, target, "application", 3, load_costs())
    tier, rowT, levers = pl.setup(T)
    levers = _small(levers)
    assert levers, "instance has levers"
    assert _search(pl, tier, T, rowT, levers) == _brute(pl, tier, T, rowT, levers)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.integers(min_value=0, max_value=400), min_size=6, max_size=6))
def test_search_equals_exhaustive_random_costs(prices):
    """Random cost models (prices per lever, 万元): the optimum still matches exhaustive search."""
    row, as_of = _row("r2022-innovative-rd-exactly-3pct")
    over = {"levers": {"rd_spend": {"cost_per_yuan": prices[0] / 100 + 0.01}, "growth": {"cost_rate": prices[1] / 1000},
                       "debt": {"cost_rate": prices[2] / 1000}, "rd_hire": {"salary": 10000 + prices[3] * 1000},
                       "shed": {"cost_rate": prices[4] / 1000}, "digital_level": {"cost_per_level": prices[5] * 1000}}}
    pl = Planner(row, as_of, "srdi_sme", "application", 3, load_costs(over))
    T = dt.date(2026, 1, 1)
    tier, rowT, levers = pl.setup(T)
    levers = _small(levers, 200)
    assert _search(pl, tier, T, rowT, levers) == _brute(pl, tier, T, rowT, levers)


def test_enumeration_is_in_cost_order_and_complete():
    from srdi.planner.levers import Action
    from srdi.planner.search import enumerate_by_cost

    levers = [[Action("x", i, 0, c) for c in cs] for i, cs in enumerate([[3, 5], [1, 4, 9], [2]])]
    seen = list(enumerate_by_cost(levers))
    costs = [c for c, _ in seen]
    assert costs == sorted(costs)
    assert len(seen) == 3 * 4 * 2
    assert len({tuple((a.year, a.cost) for a in acts) for _, acts in seen}) == len(seen)


def test_instances_cover_chain_and_state_levers():
    row, as_of = _row("r2026-little-giant-pass")
    pl = Planner(row, as_of, "srdi_sme", "application", 3, load_costs())
    _, _, levers = pl.setup(dt.date(2026, 12, 1))
    assert any(a.checks for o in _small(levers) for a in o)
    row, as_of = _row("r2022-innovative-rd-exactly-3pct")
    pl = Planner(row, as_of, "srdi_sme", "application", 3, load_costs())
    _, _, levers = pl.setup(dt.date(2026, 2, 1))
    assert any(a.lever == "digital_level" for o in _small(levers) for a in o)
