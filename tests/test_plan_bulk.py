"""The planner's bulk paths give the same answers as the one-row paths on the same candidates:
candidate frames (column-wise) == rows built with apply_actions; table evaluation of the
dependency closure == the scalar engine; the gated A* enumeration == the plain enumeration
filtered by the Gate; condition oracles only drop combinations the scalar engine rejects; the
outcome cache across dates == fresh evaluation."""
import datetime as dt
import itertools
import random
from pathlib import Path

import polars as pl
import pytest
import yaml

from srdi.engine.frame import column_dtype, profile_row, rows_to_frame
from srdi.planner.bulk import candidate_frame, table_inputs
from srdi.planner.costs import load_costs
from srdi.planner.levers import apply_actions
from srdi.planner.search import (DateResult, Planner, action_key, enumerate_by_cost, enumerate_gated, fields_of,
                                 scalar_tier)
from srdi.profile import validate_profile

CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"

# (case, target, date): scored R2022 tiers, R2026 condition tiers, title chains, state levers,
# several failing conditions (oracles)
INSTANCES = [
    ("r2022-innovative-rd-exactly-3pct", "srdi_sme", dt.date(2026, 2, 1)),
    ("r2022-innovative-category-floor", "innovative_sme", dt.date(2026, 1, 1)),
    ("r2026-little-giant-pass", "srdi_sme", dt.date(2026, 12, 1)),
    ("r2026-little-giant-pass", "little_giant", dt.date(2027, 6, 1)),
    ("r2026-srdi-rd-each-year", "srdi_sme", dt.date(2028, 1, 1)),
    ("r2026-srdi-missing-quality-score", "srdi_sme", dt.date(2029, 1, 1)),
]


def _planner(case, target, horizon=3, costs=None):
    c = yaml.safe_load((CASES / f"{case}.yaml").read_text(encoding="utf-8"))
    row = profile_row(validate_profile(c["profile"]).to_contract_dict())
    return Planner(row, dt.date.fromisoformat(str(c["as_of"])), target, "application", horizon, costs or load_costs())


def _setup(case, target, T, limit=400):
    pl_ = _planner(case, target, horizon=4)
    tier, rowT, levers = pl_.setup(T)
    assert not pl_.blocked(tier, T, rowT, levers)
    levers = pl_.useful(tier, T, rowT, levers)
    out = []
    for opts in levers:  # a small instance: at most `limit` combinations
        opts = opts[:3]
        if len(out) and (1 + len(opts)) * _prod(out) > limit:
            continue
        out.append(opts)
    return pl_, tier, rowT, out


def _prod(levers):
    n = 1
    for o in levers:
        n *= len(o) + 1
    return n


def _all(levers):
    return [tuple(o[k - 1] for o, k in zip(levers, idx) if k)
            for idx in itertools.product(*[range(len(o) + 1) for o in levers])]


@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_candidate_frame_equals_rows(case, target, T):
    pl_, tier, rowT, levers = _setup(case, target, T)
    combos = _all(levers)
    random.Random(1).shuffle(combos)
    combos = combos[:120]
    p = pl_.costs["levers"]
    keys = (f"{tier}#ok",)
    cols = table_inputs(T, "application", keys)
    sch = {k: column_dtype(k) for k in cols}
    bulk = candidate_frame(rowT, combos, T, p, sch)
    rows = [apply_actions(rowT, acts, T, p) for acts in combos]
    ref = rows_to_frame(rows, cols)
    assert bulk.columns == ref.columns
    for c in cols:
        assert bulk[c].to_list() == ref[c].to_list(), c


@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_table_closure_equals_scalar(case, target, T):
    """Bulk result == scalar result on the same candidates: the tier outcome and the top-level
    conditions the oracles read."""
    pl_, tier, rowT, levers = _setup(case, target, T)
    combos = _all(levers)
    combos = (combos * (1 + 9 // len(combos)))[:200]  # more than SCALAR_MAX: the table path
    p = pl_.costs["levers"]
    failing = pl_.analyse(tier, T, rowT, "application")[0]
    keys = [f"{tier}#ok"] + [f"{tier}/{cid}#ok" for cid, *_ in failing]
    vals = pl_.ev.values(rowT, combos, T, tier, "application", keys, p)
    for i, acts in enumerate(combos):
        ref = scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0]
        for k in keys:
            assert vals[k][i] == ref.get(k), (k, acts)
    # the cached path (Evaluator.combos_ok via Planner.outcomes) agrees too
    got = pl_.outcomes(rowT, T.year, combos, T, tier, "application")
    assert got == vals[f"{tier}#ok"]
    assert pl_.outcomes(rowT, T.year, combos, T, tier, "application") == got  # from the cache


@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_gated_enumeration_equals_filtered_plain(case, target, T):
    pl_, tier, rowT, levers = _setup(case, target, T)
    gate = pl_.analyse(tier, T, rowT, "application")[1]
    plain = [(c, acts) for c, acts in enumerate_by_cost(levers)
             if gate.allows(fields_of([a for a in acts if a.eff is None or a.eff <= T]))]
    got = list(enumerate_gated(levers, T, gate, [0]))
    costs = [c for c, _, _ in got]
    assert costs == sorted(costs)
    key = lambda acts: tuple(sorted(id(a) for a in acts))  # noqa: E731
    assert sorted((c, key(a)) for c, _, a in got) == sorted((c, key(a)) for c, a in plain)


@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_oracles_only_drop_failing_combinations(case, target, T):
    pl_, tier, rowT, levers = _setup(case, target, T)
    gate = pl_.analyse(tier, T, rowT, "application")[1]
    orc = pl_.oracles(tier, T, rowT, levers)
    with_o = {id_ for _, id_, _ in enumerate_gated(levers, T, gate, [0], orc)}
    p = pl_.costs["levers"]
    for c, idx, acts in enumerate_gated(levers, T, gate, [0]):
        if idx in with_o:
            continue
        ok = scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0][f"{tier}#ok"]
        assert ok is not True, acts


def _brute(pl_, tier, T, rowT, levers):
    best = None
    p = pl_.costs["levers"]
    for acts in _all(levers):
        cost = sum(a.cost for a in acts)
        if best is not None and cost >= best:
            continue
        r = apply_actions(rowT, acts, T, p)
        if scalar_tier(r, T, "application", tier)[0][f"{tier}#ok"] is True and all(
                scalar_tier(apply_actions(rowT, acts, T0, p), T0, "application", t0)[0][f"{t0}#ok"] is True
                for a in acts for t0, T0 in a.checks):
            best = cost
    return best


@pytest.mark.parametrize("oracles", [True, False])
@pytest.mark.parametrize("case,target,T", INSTANCES)
def test_search_with_and_without_oracles_equals_exhaustive(case, target, T, oracles):
    pl_, tier, rowT, levers = _setup(case, target, T)
    pl_.use_oracles = oracles
    found = []
    pl_.search(tier, T, rowT, levers, DateResult(T, tier), found, None)
    assert min((f.cost for f in found), default=None) == _brute(pl_, tier, T, rowT, levers)


def test_some_instances_use_oracles():
    n = 0
    for case, target, T in INSTANCES:
        pl_, tier, rowT, levers = _setup(case, target, T)
        n += len(pl_.oracles(tier, T, rowT, levers))
    assert n >= 3


def test_outcome_cache_context_is_the_year_pack_and_title_validity():
    """Two dates of one year with the same pack and title validity share outcomes; the key
    of a combination ignores actions not yet effective."""
    pl_, tier, rowT, levers = _setup("r2022-innovative-rd-exactly-3pct", "srdi_sme", dt.date(2026, 2, 1))
    a = pl_.context(rowT, 2026, dt.date(2026, 1, 1), tier, "application")
    b = pl_.context(rowT, 2026, dt.date(2026, 2, 1), tier, "application")
    assert a == b
    late = [x for o in levers for x in o if x.eff and x.eff > dt.date(2026, 1, 1)]
    assert late and action_key(late, dt.date(2026, 1, 1)) == frozenset()
    combos = _all(levers)[:60]
    p = pl_.costs["levers"]
    for d in (dt.date(2026, 1, 1), dt.date(2026, 2, 1)):
        got = pl_.outcomes(rowT, 2026, combos, d, tier, "application")
        ref = [scalar_tier(apply_actions(rowT, acts, d, p), d, "application", tier)[0][f"{tier}#ok"] for acts in combos]
        assert got == ref


def test_rows_frame_repeats_shared_cells():
    from srdi.planner.search import rows_frame

    base = {"financials.2025.rd_expense": 5, "titles": [{"type": "x", "valid_from": dt.date(2025, 1, 1),
                                                          "valid_until": dt.date(2027, 1, 1)}]}
    rows = [dict(base), dict(base, **{"financials.2025.rd_expense": 7}),
            dict(base, titles=base["titles"] + [{"type": "y", "valid_from": None, "valid_until": None}])]
    sch = {k: column_dtype(k) for k in base}
    df = rows_frame(rows, sch)
    ref = pl.DataFrame({k: [r.get(k) for r in rows] for k in sch}, schema=sch)
    assert df.to_dicts() == ref.to_dicts()


@pytest.mark.parametrize("case,target,T,failing", [
    ("r2022-innovative-rd-exactly-3pct", "srdi_sme", dt.date(2026, 2, 1), ["rd_prior_year"]),
    ("r2026-srdi-rd-each-year", "srdi_sme", dt.date(2028, 1, 1), ["revenue_or_equity", "quality_score"]),
    ("r2026-srdi-missing-quality-score", "srdi_sme", dt.date(2029, 1, 1),
     ["tech_innovative_title", "revenue_or_equity", "quality_score"]),
])
def test_oracle_restart_evaluates_few_combinations(case, target, T, failing):
    """After the first small batch fails, the oracles (also for a single failing condition) leave
    mostly passing combinations: the search starts again with a small batch instead of
    evaluating everything below a large one (144, 1,897 and 4,113 combinations before; the
    optimum is unchanged, see the exhaustive tests above)."""
    pl_ = _planner(case, target, horizon=4)
    tier, rowT, levers = pl_.setup(T)
    levers = pl_.useful(tier, T, rowT, levers)
    assert [f[0] for f in pl_.analyse(tier, T, rowT, "application")[0]] == failing
    dr, found = DateResult(T, tier), []
    pl_.search(tier, T, rowT, levers, dr, found, None)
    assert found and dr.complete
    assert dr.evaluated <= 40


# --------------------------------------------------------------- years that must each hold
def _rd_each_year_planner(rd_2025: int):
    """The shared case r2026-srdi-rd-each-year (as-of 2026-06-01; 2024 R&D below 100万) with its
    2025 R&D set to `rd_2025` yuan."""
    c = yaml.safe_load((CASES / "r2026-srdi-rd-each-year.yaml").read_text(encoding="utf-8"))
    c["profile"]["financials"][2025]["rd_expense"] = rd_2025
    row = profile_row(validate_profile(c["profile"]).to_contract_dict())
    return Planner(row, dt.date(2026, 6, 1), "srdi_sme", "application", 3, load_costs())


def test_necessary_parts_are_the_years_of_each_year_tests():
    from srdi.planner.search import necessary_parts

    pl_ = _rd_each_year_planner(500_000)
    T = dt.date(2028, 1, 1)
    tier, rowT, _ = pl_.setup(T)
    plan = scalar_tier(rowT, T, "application", tier)[1]
    parts = necessary_parts(plan, "srdi_sme/rd_each_year")
    assert sorted((y, k.rsplit(".", 1)[1]) for y, k, _ in parts) == sorted(
        (y, f"{m}#ok[{y}]") for y in (2026, 2027) for m in ("rd_amount_each_year", "rd_share_each_year"))
    assert all(any(f"financials.{y}.rd_expense" == i for i in inp) for y, _, inp in parts)
    assert necessary_parts(plan, "srdi_sme/class1_ip") == []  # its exemptions are alternatives


def test_a_past_year_that_fails_blocks_the_date():
    """On 2026-12-01 the R&D of each of 2025 and 2024 must reach 100万: 2024 (95万) is past, so no
    lever can help though 2025's levers touch the condition; on 2027-01-01 (2026 and 2025) they can."""
    pl_ = _rd_each_year_planner(1_200_000)
    T = dt.date(2026, 12, 1)
    tier, rowT, levers = pl_.setup(T)
    assert "rd_each_year" in [i for i, _ in pl_.blocked(tier, T, rowT, levers)]
    top = [o[-1] for o in levers]  # every lever at its highest level still fails
    assert scalar_tier(apply_actions(rowT, top, T, pl_.costs["levers"]), T, "application", tier)[0][
        f"{tier}/rd_each_year#ok"] is not True
    T2 = dt.date(2027, 1, 1)
    tier2, rowT2, levers2 = pl_.setup(T2)
    assert "rd_each_year" not in [i for i, _ in pl_.blocked(tier2, T2, rowT2, levers2)]


def test_year_oracles_prune_and_keep_the_optimum(monkeypatch):
    """2025 R&D of 50万: on 2028-01-01 both 2027 and 2026 must reach 100万 and 3%. With too many
    lever combinations for one oracle of the condition (ORACLE_MAX lowered to make it so on a small
    instance), one oracle per year: they drop only failing combinations, and the search equals the
    exhaustive one."""
    import srdi.planner.search as search

    monkeypatch.setattr(search, "ORACLE_MAX", 40)
    pl_ = _rd_each_year_planner(500_000)
    T = dt.date(2028, 1, 1)
    tier, rowT, levers = pl_.setup(T)
    levers = pl_.useful(tier, T, rowT, levers)
    failing = [f[0] for f in pl_.analyse(tier, T, rowT, "application")[0]]
    assert "rd_each_year" in failing
    small = []
    for opts in levers:  # a small instance, the R&D levers of both years kept
        opts = opts[:2]
        if small and (1 + len(opts)) * _prod(small) > 600 and opts[0].lever not in ("rd_spend",):
            continue
        small.append(opts)
    orc = pl_.oracles(tier, T, rowT, small)
    years = [{small[j][0].year for j in L} for L, _ in orc if L is not None]
    assert {2026} in years and {2027} in years  # one oracle per year of rd_each_year
    gate = pl_.analyse(tier, T, rowT, "application")[1]
    with_o = {idx for _, idx, _ in enumerate_gated(small, T, gate, [0], orc)}
    p = pl_.costs["levers"]
    for c, idx, acts in enumerate_gated(small, T, gate, [0]):
        if idx not in with_o:
            assert scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0][f"{tier}#ok"] is not True
    found = []
    pl_.search(tier, T, rowT, small, DateResult(T, tier), found, None)
    assert min((f.cost for f in found), default=None) == _brute(pl_, tier, T, rowT, small)
