"""Pools: every row says what its cost is (cost_kind); exact rows are the planner's optimum for
that firm; estimates rest on exact plans of firms failing the same conditions; workers and
time budgets do not change the exact answers."""
import datetime as dt

import polars as pl
import pytest

from srdi.planner.costs import load_costs
from srdi.planner.pool import plan_firm, plan_pool, read_pool

KINDS = {"exact", "infeasible", "bound", "budget", "topup", "estimate", "none", "error"}


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory):
    from srdi.batch.synth import write_population

    f = tmp_path_factory.mktemp("pool") / "pool.parquet"
    write_population(200, 5, f, headers="contract")  # money in yuan, as files hold it
    return str(f)


@pytest.fixture(scope="module")
def pool_res(pool_file):
    return plan_pool(pool_file, "2025-06-01", "srdi_sme", horizon=1, plan_limit=6)


def test_every_row_is_labelled(pool_res):
    res = pool_res
    assert res.height == 200
    assert set(res["cost_kind"].unique().to_list()) <= KINDS
    now = res.filter(pl.col("passes_now").fill_null(False))
    assert now["cost_kind"].to_list() == ["exact"] * now.height
    assert now["cost_yuan"].to_list() == [0.0] * now.height
    # infeasible rows proven column-wise name their blocking conditions; the search's have no steps
    proven = (pl.col("cost_kind") == "infeasible") & pl.col("steps").is_not_null()
    # (bound rows are the search's when their steps end in "(budget)", else bundle plans)
    searched = pl.col("cost_kind").is_in(["exact", "infeasible", "budget", "error"]) \
        | (pl.col("cost_kind") == "bound") & pl.col("steps").str.ends_with("(budget)")
    planned = res.filter(searched & pl.col("passes_now").fill_null(False).not_() & proven.not_())
    assert planned.height == 6
    assert res.filter(proven).height >= 1
    assert res.filter((pl.col("cost_kind") == "bound") & pl.col("steps").str.ends_with("(budget)").not_()).height >= 1
    est = res.filter(pl.col("cost_kind") == "estimate")
    assert est["estimate_n"].min() is None or est["estimate_n"].min() >= 1
    assert res.filter(pl.col("cost_kind") == "none")["cost_yuan"].null_count() == res.filter(pl.col("cost_kind") == "none").height


def test_exact_rows_are_the_planner_optimum(pool_file, pool_res):
    from srdi.engine.measures import path_kind
    from srdi.planner.pool import _known

    as_of = dt.date(2025, 6, 1)
    F = read_pool(pool_file, as_of)
    keep = [c for c in F.columns if _known(c, path_kind)]
    by_row = {r["row"]: r for r in pool_res.iter_rows(named=True)}
    checked = 0
    for i in range(F.height):
        r = by_row[F["row"][i] if "row" in F.columns else i + 1]
        if r["cost_kind"] != "exact" or r["passes_now"]:
            continue
        row = {k: v for k, v in F.row(i, named=True).items() if k in keep and v is not None}
        cost, when, _, kind = plan_firm(row, as_of, "srdi_sme", "application", 1, load_costs())
        assert (cost, when, kind) == (r["cost_yuan"], r["passes_on"], "exact")
        checked += 1
    assert checked >= 1


def test_estimates_are_medians_of_exact_plans(pool_res):
    res = pool_res
    ex = res.filter((pl.col("cost_kind") == "exact") & pl.col("passes_now").fill_null(False).not_())
    for r in res.filter(pl.col("cost_kind") == "estimate").iter_rows(named=True):
        same = ex.filter(pl.col("failing") == r["failing"])["cost_yuan"]
        assert r["cost_yuan"] == same.median() and r["estimate_n"] == same.len()


def test_time_budget_zero_plans_nothing(pool_file):
    res = plan_pool(pool_file, "2025-06-01", "srdi_sme", horizon=1, plan_limit=None, time_budget=0)
    assert set(res.filter(pl.col("passes_now").fill_null(False).not_())["cost_kind"].to_list()) <= {"none"}


def test_workers_give_the_same_answers(pool_file, pool_res):
    res2 = plan_pool(pool_file, "2025-06-01", "srdi_sme", horizon=1, plan_limit=6, workers=2)
    cols = ["row", "cost_yuan", "passes_on", "steps", "cost_kind"]
    assert res2.sort("row").select(cols).to_dicts() == pool_res.sort("row").select(cols).to_dicts()


def test_a_pool_without_data_columns_is_infeasible_for_want_of_data(tmp_path):
    """Only names: every firm is proven infeasible column-wise (its conditions are undetermined and
    no lever supplies their inputs), and steps say which data is missing; no row is lost."""
    f = tmp_path / "names.csv"
    f.write_text("name,province\nA公司,广东\nB公司,山东\n", encoding="utf-8")
    res = plan_pool(str(f), "2025-06-01", "srdi_sme", horizon=1, plan_limit=5, lang="en")
    assert res.height == 2 and res["cost_kind"].to_list() == ["infeasible"] * 2
    assert all("(missing data)" in s for s in res["steps"].to_list())
