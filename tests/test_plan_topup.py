"""Pool column-wise parts: R&D top-up bounds (srdi.planner.topup) — the rows equal the one-row
path (project_row + apply_actions), every bound passes on the scalar engine, an exact plan is never
dearer, the pool labels them; infeasibility proofs (srdi.planner.blocked) agree with the search."""
import datetime as dt
from fractions import Fraction

import polars as pl
import pytest

from srdi.batch.synth import write_population
from srdi.planner.costs import load_costs
from srdi.planner.levers import Action, apply_actions, ceil_frac, project_row
from srdi.planner.blocked import infeasible_rows
from srdi.planner.pool import _known, _screen, plan_firm, plan_pool, read_pool
from srdi.planner.search import scalar_tier, tier_at
from srdi.planner.topup import _project, topup_bounds

AS_OF = dt.date(2025, 6, 1)
TARGET = "srdi_sme"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from srdi.engine.measures import path_kind

    src = tmp_path_factory.mktemp("topup") / "pool.parquet"
    write_population(600, 3, src, headers="contract")  # money in yuan, as files hold it
    F = read_pool(str(src), AS_OF)
    now, _ = _screen(F, AS_OF, TARGET, "application")
    failing = [i for i, v in enumerate(now[f"{TARGET}#ok"].to_list()) if not v]
    keep = [c for c in F.columns if _known(c, path_kind)]
    rows = [{k: v for k, v in r.items() if v is not None} for r in F.select(keep).to_dicts()]
    cm = load_costs(None)
    bounds = topup_bounds(F, AS_OF, TARGET, "application", 2, cm, rows=failing)
    return src, F, failing, rows, cm, bounds


def _one_row(row, b, cm):
    """The bound's plan through the one-row path: projected row, rd_spend actions, its cost."""
    T = b["passes_on"]
    r, _ = project_row(row, AS_OF.year, T.year - 1, float(cm["projection"]["growth"]))
    price = Fraction(str(cm["levers"]["rd_spend"]["cost_per_yuan"]))
    acts = [Action("rd_spend", a["year"], a["fen"], ceil_frac(price * a["fen"])) for a in b["rd_added"] if a["fen"] > 0]
    return apply_actions(r, acts, T, cm["levers"]), sum(a.cost for a in acts)


def test_projection_equals_project_row(pool):
    _, F, _, rows, cm, _ = pool
    P = _project(F, AS_OF.year, 2026, Fraction("0.07"))
    cols = [c for c in P.columns if c.startswith(("financials.2025.", "financials.2026."))]
    assert cols
    for i in range(0, len(rows), 37):
        want, _ = project_row(rows[i], AS_OF.year, 2026, 0.07)
        got = P.row(i, named=True)
        for c in cols:
            assert got[c] == want.get(c), (i, c)


def test_most_failing_firms_get_a_bound(pool):
    _, _, failing, _, _, bounds = pool
    assert len(failing) > 300
    assert bounds.height >= 0.5 * len(failing)
    assert set(bounds["i"].to_list()) <= set(failing)
    assert bounds["i"].n_unique() == bounds.height


def test_every_bound_passes_on_the_scalar_engine(pool):
    _, _, _, rows, cm, bounds = pool
    for b in bounds.head(60).iter_rows(named=True):
        row, cost = _one_row(rows[b["i"]], b, cm)
        T = b["passes_on"]
        tier = tier_at(TARGET, T, "application")
        assert scalar_tier(row, T, "application", tier)[0][f"{tier}#ok"] is True, b
        assert cost == b["cost_fen"]


def test_an_exact_plan_is_never_dearer(pool):
    _, _, failing, rows, cm, bounds = pool
    by = {b["i"]: b for b in bounds.iter_rows(named=True)}
    equal = checked = 0
    for i in failing[:14]:
        cost, _, _, kind = plan_firm(rows[i], AS_OF, TARGET, "application", 2, cm, row_budget=12_000)
        if kind == "infeasible":
            assert i not in by  # nothing passes within the horizon: no top-up may pass either
        elif kind == "exact" and i in by:
            checked += 1
            assert round(cost * 100) <= by[i]["cost_fen"]
            equal += round(cost * 100) == by[i]["cost_fen"]
    assert checked >= 5 and equal >= 1


def test_pool_labels_topup_rows(pool):
    src = pool[0]
    res = plan_pool(str(src), AS_OF, TARGET, plan_limit=5, horizon=2)
    kinds = res["cost_kind"].value_counts()
    counts = dict(zip(kinds["cost_kind"].to_list(), kinds["count"].to_list()))
    assert counts.get("topup", 0) > 100
    assert res.height == 600
    top = res.filter(pl.col("cost_kind") == "topup")
    assert top["cost_yuan"].null_count() == 0 and top["passes_on"].null_count() == 0
    assert top["steps"].str.contains(r"^(rd_spend@\d{4}(, rd_spend@\d{4})?|-)$").all()


def test_proven_infeasible_firms_are_infeasible_for_the_search(pool):
    _, F, failing, rows, cm, bounds = pool
    proofs = infeasible_rows(F, AS_OF, TARGET, "application", 2, cm, rows=failing, lang="en")
    assert proofs.height >= 20
    assert not set(proofs["i"].to_list()) & set(bounds["i"].to_list())  # no top-up passes either
    assert proofs["blocked"].str.len_chars().min() > 0
    for i in proofs["i"].to_list()[:12]:
        assert plan_firm(rows[i], AS_OF, TARGET, "application", 2, cm)[3] == "infeasible"


def test_the_proof_needs_every_date_blocked(pool):
    """A firm blocked on some dates only (e.g. too few years in its niche until a later date) is
    not proven: with a longer horizon fewer firms are proven, never more."""
    _, F, failing, _, cm, _ = pool
    short = set(infeasible_rows(F, AS_OF, TARGET, "application", 1, cm, rows=failing)["i"].to_list())
    long_ = set(infeasible_rows(F, AS_OF, TARGET, "application", 3, cm, rows=failing)["i"].to_list())
    assert long_ <= short and len(long_) < len(short)


def test_pool_reports_a_bad_cell_and_plans_every_other_row(tmp_path):
    """A row with a bad cell is reported (cost_kind error, the column and the problem in steps)
    instead of being screened and planned as if the cell were missing; every other row is still
    there and priced as in the clean file."""
    import csv

    src = tmp_path / "pool.csv"
    write_population(120, 5, src, headers="contract")
    rows = list(csv.reader(src.open(encoding="utf-8-sig")))
    col = next(k for k, h in enumerate(rows[0]) if h.endswith(".operating_revenue"))
    rows[7][col] = "lots"
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    clean = plan_pool(str(src), AS_OF, TARGET, plan_limit=3, horizon=2)
    res = plan_pool(str(bad), AS_OF, TARGET, plan_limit=3, horizon=2)
    assert res.height == clean.height == 120
    err = res.filter(pl.col("cost_kind") == "error")
    assert err["row"].to_list() == [7]
    assert rows[0][col] in err["steps"][0] and err["passes_now"][0] is None and err["cost_yuan"][0] is None
    others = res.filter(pl.col("row") != 7).sort("row")
    want = clean.filter(pl.col("row") != 7).sort("row")
    assert others["passes_now"].to_list() == want["passes_now"].to_list()
    cost = dict(zip(want["row"].to_list(), want["cost_yuan"].to_list()))
    exact = others.filter(pl.col("cost_kind") == "exact")
    assert exact.height > 10
    assert all(c == cost[r] for r, c in zip(exact["row"].to_list(), exact["cost_yuan"].to_list()))
