"""The search's oracles (srdi.planner.search): the lower bound they give the A*; oracles on the same levers merged, a
condition no combination meets ending the date at once, and oracles added for conditions that a
failed batch shows broken (a side effect, or a condition only its years had oracles for). They
only drop combinations the engine rejects: the search still equals the exhaustive one.

The two firms in tests/data/plan are synthetic (srdi synth) firms on which the search used to run
out of budget: 9 s and 2 s, and a plan three times the optimum."""
import dataclasses
import datetime as dt
import itertools
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import srdi.planner.search as search
from srdi.engine.frame import profile_row
from srdi.planner import make_plan
from srdi.planner.costs import load_costs
from srdi.planner.levers import apply_actions
from srdi.planner.search import DateResult, Planner, merge_oracles, scalar_tier
from srdi.profile import validate_profile

DATA = Path(__file__).parent / "data" / "plan"
AS_OF = dt.date(2025, 6, 1)


def _profile(name: str) -> dict:
    return yaml.safe_load((DATA / f"{name}.yaml").read_text(encoding="utf-8"))


def _planner(name: str, horizon: int = 3) -> Planner:
    row = profile_row(validate_profile(_profile(name)).to_contract_dict())
    return Planner(row, AS_OF, "srdi_sme", "application", horizon, load_costs())


# ------------------------------------------------------------------------------ merge_oracles
@st.composite
def _oracles(draw):
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))  # levels per lever
    n = len(sizes)
    out = []
    for _ in range(draw(st.integers(1, 5))):
        L = tuple(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))))
        keys = list(itertools.product(*[range(sizes[j] + 1) for j in L]))
        vals = draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
        out.append((L, dict(zip(keys, vals))))
    return sizes, out


def _meets(oracles, idx) -> bool:
    return all(tab.get(tuple(idx[i] for i in L)) is True for L, tab in oracles if L is not None)


@settings(max_examples=200, deadline=None)
@given(_oracles())
def test_merged_oracles_accept_the_same_combinations(case):
    sizes, oracles = case
    merged = merge_oracles(oracles)
    assert len({L for L, _ in merged}) == len(merged) <= len(oracles)
    for idx in itertools.product(*[range(k + 1) for k in sizes]):
        assert _meets(merged, idx) == _meets(oracles, idx), idx


def test_merge_folds_a_subset_and_keeps_the_score_oracle():
    a = ((0, 1), {(i, j): (i + j) % 2 == 0 for i in range(2) for j in range(2)})
    b = ((1,), {(0,): True, (1,): False})
    score = (None, object())
    merged = merge_oracles([a, b, score])
    assert [L for L, _ in merged] == [(0, 1), None]
    assert merged[0][1] == {(0, 0): True, (0, 1): False, (1, 0): False, (1, 1): False}
    assert merged[1] is score


def test_conflicting_oracles_end_the_date_at_once():
    """Three conditions on the same two levers that no combination meets together: the merged
    table has no true entry and the enumeration yields nothing without expanding a node."""
    pl_ = _planner("side_effect_shed")
    T = dt.date(2026, 6, 1)
    tier, rowT, levers = pl_.setup(T)
    gate = pl_.analyse(tier, T, rowT, "application")[1]
    L = (0, 1)
    never = {k: False for k in itertools.product(range(len(levers[0]) + 1), range(len(levers[1]) + 1))}
    work = [0]
    got = list(search._with_oracles(levers, T, gate, work, [(L, never)], set(), 0))
    assert got == [] and work[0] == 0


# ------------------------------------------------------------------------ learned conditions
def test_a_side_effect_is_learned_and_the_date_completes():
    """On 2027-01-01 (R2026) the firm's main-business share fails; shedding other revenue raises it
    but sinks revenue below the threshold of the revenue condition, met on the baseline. The first
    failed batch shows it, an oracle is added, and no combination meets both: the date is proven
    infeasible in a few evaluations (before: 20,000 combinations and the budget ran out)."""
    from srdi.planner.search import entry_inputs, fields_of

    pl_ = _planner("side_effect_shed")
    T = dt.date(2027, 1, 1)
    tier, rowT, levers = pl_.setup(T)
    levers = pl_.useful(tier, T, rowT, levers)
    failing = [f[0] for f in pl_.analyse(tier, T, rowT, "application")[0]]
    assert "main_business_share" in failing and "revenue_or_equity" not in failing
    dr, found = DateResult(T, tier), []
    pl_.search(tier, T, rowT, levers, dr, found, None)
    assert dr.complete and not found
    assert pl_._learned[(tier, None)] == [f"{tier}/revenue_or_equity"]
    assert dr.evaluated < 100
    # the proof, exhaustively: both conditions read only the levers touching their inputs, and no
    # combination of those levers meets both
    _, plan = pl_.scalar(rowT, (), T, tier, "application")
    keys = [f"{tier}/{c}" for c in ("main_business_share", "revenue_or_equity")]
    inputs = set().union(*[entry_inputs(plan, k) for k in keys])
    L = [o for o in levers if fields_of(o) & inputs]
    assert {o[0].lever for o in L} == {"growth", "shed"}
    p = pl_.costs["levers"]
    both = []
    for idx in itertools.product(*[range(len(o) + 1) for o in L]):
        acts = [o[k - 1] for o, k in zip(L, idx) if k]
        v = scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0]
        both.append(all(v[f"{k}#ok"] is True for k in keys))
    assert len(both) == _prod(L) and not any(both)


def _brute(pl_, tier, T, rowT, levers):
    best = None
    p = pl_.costs["levers"]
    for idx in itertools.product(*[range(len(o) + 1) for o in levers]):
        acts = tuple(o[k - 1] for o, k in zip(levers, idx) if k)
        cost = sum(a.cost for a in acts)
        if best is not None and cost >= best:
            continue
        ok = scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0][f"{tier}#ok"] is True
        if ok and all(scalar_tier(apply_actions(rowT, acts, T0, p), T0, "application", t0)[0][f"{t0}#ok"] is True
                      for a in acts for t0, T0 in a.checks):
            best = cost
    return best


def _small(levers, best, keep, limit=6_000):
    """A small instance around a known plan: each lever the plan uses with its level and the next
    cheaper one, the levers of `keep` with their two cheapest levels, the others left out."""
    out = []
    for opts in levers:
        used = [a for a in opts if a in best]
        if used:
            i = opts.index(used[0])
            out.append(opts[max(0, i - 1):i + 1] if _prod(out) * 3 <= limit else [used[0]])
        elif opts[0].lever in keep and _prod(out) * (1 + min(2, len(opts))) <= limit:
            out.append(opts[:2])
    return out


def _first_levels(levers, limit: int) -> list:
    """A small instance: the levers' three cheapest levels, levers kept while at most `limit`
    combinations."""
    out = []
    for opts in levers:
        opts = opts[:3]
        if out and _prod(out) * (1 + len(opts)) > limit:
            continue
        out.append(opts)
    return out


def _prod(levers):
    n = 1
    for o in levers:
        n *= len(o) + 1
    return n


@pytest.mark.parametrize("name,T,keep", [
    ("rd_each_year_big", dt.date(2027, 1, 1), ("rd_spend", "rd_hire", "shed")),
    ("rd_each_year_big", dt.date(2027, 6, 1), ("rd_spend", "rd_hire")),
])
def test_learned_oracles_keep_the_optimum(monkeypatch, name, T, keep):
    """Small instances around the optimum, with the oracle limit lowered so that the learned path
    runs (R&D in each of two years: too many combinations for one oracle, only its years had
    one): the search equals the exhaustive one."""
    monkeypatch.setattr(search, "ORACLE_MAX", 24)
    monkeypatch.setattr(search, "BATCHES", (4, 8, 64, 1024))
    pl_ = _planner(name)
    tier, rowT, levers = pl_.setup(T)
    levers = pl_.useful(tier, T, rowT, levers)
    ref = []
    pl_.search(tier, T, rowT, levers, DateResult(T, tier), ref, None)
    best = min(ref, key=lambda f: f.cost).actions
    small = _small(levers, best, keep)
    assert _prod(small) <= 24_000
    pl_ = _planner(name)  # fresh: nothing learned yet
    tier, rowT, _ = pl_.setup(T)
    found = []
    dr = DateResult(T, tier)
    pl_.search(tier, T, rowT, small, dr, found, None)
    assert dr.complete and pl_._learned[(tier, None)]
    assert min((f.cost for f in found), default=None) == _brute(pl_, tier, T, rowT, small)


@pytest.mark.parametrize("name", ["side_effect_shed", "rd_each_year_big"])
def test_realistic_plans_complete_and_verified(name):
    """Whole plans of both firms: the search completes (the optimum, not a budget-limited bound)
    and the plan's profile passes when assessed."""
    out = make_plan(_profile(name), AS_OF, "srdi_sme", alternatives=0)
    plan = out["plan"]
    assert plan["feasible"] and plan["verified"] and plan["optimal"]
    # before: the budget ran out at 19,459,430.14 yuan (the two-year R&D average route) for the second
    if name == "rd_each_year_big":
        assert plan["total_cost"] < 19_459_430.14


# ------------------------------------------------------------ the oracles' lower bound (A*)
@st.composite
def _levers_and_oracles(draw):
    from srdi.planner.levers import Action

    n = draw(st.integers(2, 5))
    kinds = [("rd_spend", 2026), ("rd_spend", 2027), ("debt", 2026), ("debt", 2027), ("growth", 2026)]
    levers = []
    for j in range(n):
        costs = sorted(draw(st.lists(st.integers(0, 50), min_size=1, max_size=3)))
        lever, year = kinds[j]
        levers.append([Action(lever, year, 100 * (k + 1), c) for k, c in enumerate(costs)])
    oracles = []
    for _ in range(draw(st.integers(0, 3))):
        L = tuple(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3))))
        keys = list(itertools.product(*[range(len(levers[j]) + 1) for j in L]))
        vals = draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
        oracles.append((L, dict(zip(keys, vals))))
    return levers, oracles


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_levers_and_oracles())
def test_enumeration_with_oracle_bounds_is_complete_and_in_cost_order(case):
    """With condition oracles, the A* (whose bound now also counts the cheapest way to meet each
    oracle) yields exactly the combinations meeting every oracle, each once, in non-decreasing
    cost, with their true cost."""
    from srdi.planner.search import Gate, enumerate_gated

    levers, oracles = case
    T = dt.date(2028, 1, 1)
    got = list(enumerate_gated(levers, T, Gate([]), [0], oracles))
    costs = [g for g, _, _ in got]
    assert costs == sorted(costs)
    for g, idx, acts in got:
        assert g == sum(a.cost for a in acts) == sum(levers[j][k - 1].cost for j, k in enumerate(idx) if k)
    want = {idx for idx in itertools.product(*[range(len(o) + 1) for o in levers]) if _meets(oracles, idx)}
    assert [idx for _, idx, _ in got] == list(dict.fromkeys(idx for _, idx, _ in got))
    assert {idx for _, idx, _ in got} == want


@pytest.mark.parametrize("cutoff", [1, 30, 80])
def test_oracle_bounds_respect_the_cutoff(cutoff):
    """Only combinations cheaper than the cutoff are wanted; none cheaper is lost."""
    from srdi.planner.levers import Action
    from srdi.planner.search import Gate, enumerate_gated

    levers = [[Action("rd_spend", 2026, 1, 10), Action("rd_spend", 2026, 2, 40)],
              [Action("debt", 2026, 1, 5), Action("debt", 2026, 2, 25)],
              [Action("rd_spend", 2027, 1, 7)]]
    # meet the oracle: lever 0 at its second level, or levers 1 and 2 both used
    tab = {(a, b, c): a == 2 or (b > 0 and c > 0) for a in range(3) for b in range(3) for c in range(2)}
    got = [g for g, _, _ in enumerate_gated(levers, dt.date(2028, 1, 1), Gate([]), [0], [((0, 1, 2), tab)], cutoff)]
    ref = sorted(sum(levers[j][k - 1].cost for j, k in enumerate(idx) if k) for idx in tab if tab[idx])
    assert got == [c for c in ref if c < cutoff]


@pytest.mark.parametrize("first_nodes", [1, 3, 50])
def test_a_cut_first_enumeration_keeps_the_optimum(monkeypatch, first_nodes):
    """The plain enumeration of the first batch stops after FIRST_NODES nodes (with or without
    combinations in hand) and the oracles take over: the search still equals the exhaustive one
    on the bulk tests' small instances."""
    import test_plan_bulk as tb

    monkeypatch.setattr(search, "FIRST_NODES", first_nodes)
    for case, target, T in tb.INSTANCES:
        pl_, tier, rowT, levers = tb._setup(case, target, T)
        found = []
        dr = DateResult(T, tier)
        pl_.search(tier, T, rowT, levers, dr, found, None)
        assert dr.complete
        assert min((f.cost for f in found), default=None) == tb._brute(pl_, tier, T, rowT, levers), case


def test_title_levels_with_a_hopeless_past_step_are_dropped():
    """A title level whose chain starts with a tier to pass on a date no lever can reach (the
    as-of date itself: nothing is in effect yet) is dropped when the firm fails that tier there;
    every level kept either passes such a step or has a step some lever can still help."""
    pl_ = _planner("side_effect_shed")
    T = dt.date(2027, 6, 1)
    tier, rowT, levers = pl_.setup(T)
    titles = [a for o in levers for a in o if a.checks]
    kept = [a for o in pl_.live_titles(T, rowT, levers) for a in o if a.checks]
    dropped = [a for a in titles if a not in kept]
    assert dropped and kept
    for a in dropped:
        assert any(T0 <= AS_OF or pl_._step_fixed(t0, T0, rowT, levers) for t0, T0 in a.checks)
        assert any(pl_._step_fixed(t0, T0, rowT, levers) and scalar_tier(
            apply_actions(rowT, [a], T0, pl_.costs["levers"]), T0, "application", t0)[0][f"{t0}#ok"] is not True
            for t0, T0 in a.checks)
    for a in kept:  # its fixed steps pass
        for t0, T0 in a.checks:
            if pl_._step_fixed(t0, T0, rowT, levers):
                assert scalar_tier(apply_actions(rowT, [a], T0, pl_.costs["levers"]), T0, "application",
                                   t0)[0][f"{t0}#ok"] is True


# ------------------------------------------------------- a tier passed by one of alternatives
@pytest.mark.parametrize("name,T,feasible", [("side_effect_shed", dt.date(2026, 12, 1), True),
                                             ("rd_each_year_big", dt.date(2027, 1, 1), False),
                                             ("tech_staff_minimum", dt.date(2026, 4, 1), True)])
def test_alternatives_searched_by_branch_equal_the_exhaustive_search(name, T, feasible):
    """R2026 科技和创新型: the tier passes when the R2022 innovative evaluation or the 科技型
    evaluation passes. Each alternative is searched with its own gate and oracles; the cheapest
    over both equals the exhaustive search on a small instance, and a branch's gate only drops
    combinations that fail its alternative."""
    row = profile_row(validate_profile(_profile(name)).to_contract_dict())
    pl_ = Planner(row, AS_OF, "innovative_sme", "application", 3, load_costs())
    tier, rowT, levers = pl_.setup(T)
    assert tier == "tech_innovative_sme"
    _, top = pl_.scalar(rowT, (), T, tier, "application")
    assert top.pack.decision == "alternatives" and len(top.subs) == 2
    small = _first_levels(pl_.useful(tier, T, rowT, levers), 4_000)
    found = []
    dr = DateResult(T, tier)
    best = None
    for b in range(len(top.subs)):
        best = pl_.search(tier, T, rowT, small, dr, found, best, branch=b)
    assert dr.complete
    ref = _brute(pl_, tier, T, rowT, small)
    assert (ref is not None) == feasible
    assert min((f.cost for f in found), default=None) == ref
    p = pl_.costs["levers"]
    for b, sub in enumerate(top.subs):
        gate = pl_.analyse(tier, T, rowT, "application", b)[1]
        for idx in itertools.islice(itertools.product(*[range(len(o) + 1) for o in small]), 0, None, 7):
            acts = [o[k - 1] for o, k in zip(small, idx) if k]
            if not gate.allows(search.fields_of(acts)):
                v = scalar_tier(apply_actions(rowT, acts, T, p), T, "application", tier)[0]
                assert not (v[f"{sub.prefix}#ok"] is True and v[f"{tier}#ok"] is True), idx


# --------------------------------------------------- the score oracle's cost bound (scored tiers)
def _scored_instances():
    import test_plan_bulk as tb

    out = []
    for case, target, T in tb.INSTANCES:
        pl_, tier, rowT, levers = tb._setup(case, target, T)
        out.append((pl_, tier, rowT, levers, T))
    for name in ("side_effect_shed", "rd_each_year_big"):
        row = profile_row(validate_profile(_profile(name)).to_contract_dict())
        pl_ = Planner(row, AS_OF, "innovative_sme", "application", 3, load_costs())
        T = dt.date(2026, 1, 1)
        tier, rowT, levers = pl_.setup(T)
        out.append((pl_, tier, rowT, _first_levels(pl_.useful(tier, T, rowT, levers), 3_000), T))
    pl_, tier, rowT, levers, T, b, _ = _tech_sme_branch(dt.date(2026, 4, 1))
    out.append((pl_, tier, rowT, _first_levels(levers, 3_000), T, b))  # an indicator minimum
    return out


def _tech_sme_branch(T: dt.date = dt.date(2027, 1, 1)):
    """The firm of tech_staff_minimum.yaml (3 staff, none in S&T) on the 科技型 alternative of
    R2026 科技和创新型: its S&T staff indicator scores 0 and must not (得分不得为0分)."""
    row = profile_row(validate_profile(_profile("tech_staff_minimum")).to_contract_dict())
    pl_ = Planner(row, AS_OF, "innovative_sme", "application", 3, load_costs())
    tier, rowT, levers = pl_.setup(T)
    _, top = pl_.scalar(rowT, (), T, tier, "application")
    b = next(i for i, sub in enumerate(top.subs) if sub.pack.tier == "tech_sme")
    return pl_, tier, rowT, pl_.useful(tier, T, rowT, levers), T, b, top.subs[b]


def test_an_indicator_minimum_gates_the_score():
    """An indicator with its own minimum (科技人员指标得分不得为0分) must reach it for the score
    to pass: the Gate and the score oracle drop what leaves it short (they let through only what
    a direct route could pass), so the branch no longer evaluates combinations that reach 60
    points without S&T staff (181 of them at this date before)."""
    pl_, tier, rowT, levers, T, b, sub = _tech_sme_branch()
    gate = pl_.analyse(tier, T, rowT, "application", b)[1]
    q = next(i for i, k in enumerate(gate.keys) if k.endswith(".tech_staff"))
    assert gate.mins[q] == 10_000 and gate.inds[q][1] < gate.mins[q]
    inp = gate.inds[q][0]
    routes = set().union(*gate.route_inputs)
    # every field but the S&T staff indicator's and the routes' touched: the score could reach
    # its line, the minimum cannot
    others = set().union(*[i for i, *_ in gate.inds]) - inp - routes
    assert not gate.allows(others | set().union(*gate.conds))
    small = _first_levels(levers, 3_000)
    orc = [o for L, o in pl_.oracles(tier, T, rowT, small, branch=b) if L is None]
    assert len(orc) == 1
    idxs = list(itertools.product(*[range(len(o) + 1) for o in small]))
    combos = [tuple(o[k - 1] for o, k in zip(small, idx) if k) for idx in idxs]
    staff, ok, sub_ok = f"{sub.prefix}/tech.tech_staff#lo", f"{tier}#ok", f"{sub.prefix}#ok"
    got = pl_.ev.values(rowT, combos, T, tier, "application", [staff, ok, sub_ok], pl_.costs["levers"])
    n = 0
    for i, (idx, acts) in enumerate(zip(idxs, combos)):
        tch = search.fields_of([a for a in acts if a.eff is None or a.eff <= T])
        short = got[staff][i] < 10_000 and not any(tch & r for r in gate.route_inputs)
        n += short
        if orc[0](idx, tch):
            assert not short, idx  # accepted: the minimum is met (or a route may pass)
        else:
            assert not (got[ok][i] is True and got[sub_ok][i] is True), idx  # dropped: it fails
    assert n > 0
    # on the whole date, the 200 cheapest leaves the score oracle lets through under a Gate blind
    # to the minimum all meet it or touch a route (without the oracle's minimum, the cheapest
    # ones reach 60 points with no S&T staff)
    full = pl_.oracles(tier, T, rowT, levers, branch=b, wide=True)  # as after a short score
    blind = dataclasses.replace(gate, mins=[None] * len(gate.mins))
    leaves = list(itertools.islice(search.enumerate_gated(levers, T, blind, [0], full), 200))
    assert len(leaves) == 200
    got = pl_.ev.values(rowT, [acts for _, _, acts in leaves], T, tier, "application", [staff],
                        pl_.costs["levers"])
    for (_, idx, acts), v in zip(leaves, got[staff]):
        tch = search.fields_of([a for a in acts if a.eff is None or a.eff <= T])
        assert v >= 10_000 or any(tch & r for r in gate.route_inputs), idx
    # below the optimum found earlier (180,461.88 yuan, at 2026-01-01): nothing to evaluate
    found, dr = [], DateResult(T, tier)
    pl_.search(tier, T, rowT, levers, dr, found, 18_046_188, branch=b)
    assert dr.complete and dr.evaluated <= 16


def test_score_cost_bound_keeps_every_leaf_in_cost_order():
    """With a scored tier's oracle, the A* bound also counts the least the unfixed levers must cost
    for the score to reach the pass line (or for a direct route): the enumeration still yields
    exactly the combinations the oracles accept, in non-decreasing cost, and a cutoff loses none
    cheaper than it."""
    from srdi.planner.search import enumerate_gated

    n_scored = 0
    for pl_, tier, rowT, levers, T, *br in _scored_instances():
        b = br[0] if br else None
        gate = pl_.analyse(tier, T, rowT, "application", b)[1]
        orc = pl_.oracles(tier, T, rowT, levers, branch=b)
        if not any(L is None for L, _ in orc):
            continue
        n_scored += 1
        got = list(enumerate_gated(levers, T, gate, [0], orc))
        costs = [g for g, _, _ in got]
        assert costs == sorted(costs)
        ref = []
        for g, idx, acts in enumerate_gated(levers, T, gate, [0]):
            tch = search.fields_of([a for a in acts if a.eff is None or a.eff <= T])
            if all(tab(idx, tch) if L is None else tab.get(tuple(idx[i] for i in L)) is True for L, tab in orc):
                ref.append((g, idx))
        assert sorted(idx for _, idx, _ in got) == sorted(idx for _, idx in ref)
        if ref:
            cut = sorted(g for g, _ in ref)[len(ref) // 2] + 1
            assert sorted(idx for _, idx, _ in enumerate_gated(levers, T, gate, [0], orc, cut)) == \
                sorted(idx for g, idx in ref if g < cut)
    assert n_scored >= 4


def test_oracles_trimmed_at_a_cutoff_keep_every_leaf_below_it():
    """With a cheaper plan known, the oracle tables leave unevaluated every level combination that
    alone costs the cutoff or more (read as failing, or as 0 points): below the cutoff the
    enumeration yields exactly the leaves the full tables accept, and the tables evaluate fewer
    combinations."""
    from srdi.planner.search import enumerate_gated

    n_cut, fewer = 0, 0
    for pl_, tier, rowT, levers, T, *br in _scored_instances():
        b = br[0] if br else None
        gate = pl_.analyse(tier, T, rowT, "application", b)[1]
        pl_.ev = search.Evaluator("application")  # nothing cached: count the rows each evaluates
        full = pl_.oracles(tier, T, rowT, levers, branch=b)
        rows_full = pl_.ev.rows
        leaves = sorted({g for g, _, _ in enumerate_gated(levers, T, gate, [0], full)})
        if len(leaves) < 4:
            continue
        for cut in leaves[1:: max(1, len(leaves) // 3)]:
            pl_.ev = search.Evaluator("application")
            trimmed = pl_.oracles(tier, T, rowT, levers, branch=b, cutoff=cut)
            assert pl_.ev.rows <= rows_full
            fewer += pl_.ev.rows < rows_full
            want = sorted(idx for g, idx, _ in enumerate_gated(levers, T, gate, [0], full, cut))
            got = sorted(idx for g, idx, _ in enumerate_gated(levers, T, gate, [0], trimmed, cut))
            assert got == want
            n_cut += 1
    assert n_cut >= 3 and fewer >= 1


@pytest.mark.parametrize("name", ["side_effect_shed", "rd_each_year_big"])
def test_step_outcomes_are_keyed_by_the_actions_the_step_reads(name):
    """A title-chain step (a lower tier judged on an earlier date) is cached by the actions that
    change one of that tier's inputs then: combinations differing only in later years' levers
    share one evaluation, and every cached outcome equals the one-firm engine's."""
    pl_ = _planner(name)
    T = dt.date(2028, 1, 1)
    tier, rowT, levers = pl_.setup(T)
    titles = next(o for o in levers if o[0].lever == "title")
    title = max(titles, key=lambda a: a.checks[-1][1])  # the step on the latest date
    t0, T0 = title.checks[-1]
    fin = [o for o in levers if o[0].year == T0.year - 1][:3] + [o for o in levers if o[0].year == T0.year][:3]
    assert {o[0].year for o in fin} == {T0.year - 1, T0.year}  # levers the step reads, and later ones
    small = [o[:2] for o in fin] + [[title]]
    combos = [tuple(o[k - 1] for o, k in zip(small, idx) if k)
              for idx in itertools.product(*[range(len(o) + 1) for o in small])]
    r0 = pl_.ev.rows
    got = pl_.outcomes(rowT, T.year, combos, T0, t0, "application")
    assert pl_.ev.rows - r0 < len(combos) // 2  # the later years' levels add no evaluation
    p = pl_.costs["levers"]
    for acts, v in zip(combos, got):
        assert v == scalar_tier(apply_actions(rowT, acts, T0, p), T0, "application", t0)[0][f"{t0}#ok"], acts


def test_outcomes_on_two_dates_of_one_context_tell_apart_what_is_in_effect():
    """Two dates of the same year share an evaluation context, but an action with a lead time may
    be in effect on the later one only (here a provincial R&D institution, from 2027-06-01, which
    passes the R2026 科技和创新型 tier): judged on the later date first, then on the earlier, each
    outcome still equals the one-firm engine's on its own date (a cache of action keys by context
    alone once gave the later date's outcome to the earlier one)."""
    row = profile_row(validate_profile(_profile("side_effect_shed")).to_contract_dict())
    pl_ = Planner(row, AS_OF, "innovative_sme", "application", 3, load_costs())
    T = dt.date(2027, 6, 1)
    tier, rowT, levers = pl_.setup(T)
    early = dt.date(T.year, 1, 1)
    assert pl_.context(rowT, T.year, early, tier, "application") == pl_.context(rowT, T.year, T, tier, "application")
    late = [a for o in levers for a in o if a.eff is not None and early < a.eff <= T]
    assert any(a.lever == "rd_institution" for a in late)
    fin = [o for o in levers if o[0].year is not None][:3]
    small = [o[:2] for o in fin]
    combos = [tuple(o[k - 1] for o, k in zip(small, idx) if k)
              for idx in itertools.product(*[range(len(o) + 1) for o in small])]
    combos += [c + (a,) for c in combos for a in late]
    p = pl_.costs["levers"]
    flips = 0
    for at in (T, early):
        got = pl_.outcomes(rowT, T.year, combos, at, tier, "application")
        for acts, v in zip(combos, got):
            want = scalar_tier(apply_actions(rowT, acts, at, p), at, "application", tier)[0][f"{tier}#ok"]
            assert v == want, (at, acts)
            flips += at == T and want is True
    assert flips  # some late action passes the tier on T (and cannot on the earlier date)


def test_plans_keep_no_memory():
    """Nothing a plan builds outlives it (the web server and pools plan in one process for long).
    A module-wide cache of the score envelopes once kept every oracle table alive: ~10 MB over
    8 plans of this firm, and the garbage collector walking them slowed every later plan."""
    import gc
    import tracemalloc

    p = _profile("rd_each_year_big")
    for _ in range(2):  # compiled packs and other per-process caches
        make_plan(p, AS_OF, "innovative_sme", alternatives=0)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2):
            make_plan(p, AS_OF, "innovative_sme", alternatives=0)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 500_000, grown  # the leak: ~2.6 MB for these 2


# ------------------------------------------------------------------- title-chain steps learned
@st.composite
def _levers_and_nogoods(draw):
    levers, oracles = draw(_levers_and_oracles())
    n = len(levers)
    nogoods = []
    for _ in range(draw(st.integers(1, 3))):
        # a nogood's levers in any order (Planner.search lists the title lever last)
        L = tuple(draw(st.permutations(sorted(draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3))))))
        keys = list(itertools.product(*[range(len(levers[j]) + 1) for j in L]))
        bad = set(draw(st.lists(st.sampled_from(keys), max_size=len(keys))))
        nogoods.append((L, bad))
    return levers, oracles, nogoods


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_levers_and_nogoods(), st.booleans())
def test_nogoods_drop_exactly_the_combinations_they_name(case, reorder):
    """With nogoods (levels of some levers known to fail a title-chain step), the enumeration
    yields exactly the combinations it yields without them minus those holding a nogood's levels,
    still in cost order; through _with_oracles (levers reordered) as well."""
    from srdi.planner.search import Gate, _with_oracles, enumerate_gated

    levers, oracles, nogoods = case
    T = dt.date(2028, 1, 1)
    if reorder and oracles:
        got = list(_with_oracles(levers, T, Gate([]), [0], oracles, set(), 0, None, nogoods))
    else:
        got = list(enumerate_gated(levers, T, Gate([]), [0], oracles, nogoods=nogoods))
    costs = [g for g, _, _ in got]
    assert costs == sorted(costs)

    def named(idx):
        return any(tuple(idx[j] for j in L) in bad for L, bad in nogoods)

    want = {idx for idx in itertools.product(*[range(len(o) + 1) for o in levers])
            if _meets(oracles, idx) and not named(idx)}
    assert [idx for _, idx, _ in got] == list(dict.fromkeys(idx for _, idx, _ in got))
    assert {idx for _, idx, _ in got} == want


def test_nogoods_learned_while_enumerating_apply_to_what_comes_next():
    """The sets grow while the enumeration runs (Planner.search adds to them after each batch):
    a nogood added after the first combination drops the later ones holding it."""
    from srdi.planner.levers import Action
    from srdi.planner.search import Gate, enumerate_gated

    levers = [[Action("rd_spend", 2026, 1, 10), Action("rd_spend", 2026, 2, 20)],
              [Action("debt", 2027, 1, 1), Action("debt", 2027, 2, 2)]]
    bad: set = set()
    gen = enumerate_gated(levers, dt.date(2028, 1, 1), Gate([]), [0], nogoods=[((0,), bad)])
    first = next(gen)
    assert first[1] == (0, 0)
    bad.add((0,))  # lever 0 unused fails: (0, 1), (0, 2) must not come
    rest = [idx for _, idx, _ in gen]
    assert rest and all(idx[0] != 0 for idx in rest)
    assert len(rest) == 6


def _step_planner(learn: bool) -> Planner:
    row = profile_row(validate_profile(_profile("step_fails")).to_contract_dict())
    pl_ = Planner(row, AS_OF, "srdi_sme", "application", 3, load_costs())
    pl_.learn_steps = learn
    return pl_


def test_steps_learned_keep_the_plan_and_cut_the_combinations():
    """On the firm whose SRDI plan needs the 创新型 title first and whose combinations mostly
    fail that step: with the failing steps learned (nogoods, steps judged first) the search gives
    the same plan, cost and date, as without, proven optimal both ways, and evaluates well under
    half the combinations (3,400 over three dates without, 583 with). With them the steps' levels
    are judged leaf by leaf once the steps come first, and a later date starts from the levels
    found failing before (seeded); both still give the plan found without any of it."""
    runs = {}
    for learn in (False, True):
        pl_ = _step_planner(learn)
        found, results = pl_.run()
        best = min(found, key=lambda f: (f.cost, f.date))
        runs[learn] = (best.cost, best.date, sorted(a.key for a in best.actions), all(r.complete for r in results),
                       sum(r.evaluated for r in results), pl_)
    off, on = runs[False], runs[True]
    assert on[:4] == off[:4] and on[3]
    assert on[4] * 2 < off[4], (on[4], off[4])
    assert on[5]._steps_first  # some date judged its steps first
    assert on[5].judged > 0 and on[5].seeded > 0, (on[5].judged, on[5].seeded)
    assert off[5].judged == off[5].seeded == 0


def test_steps_first_and_tier_first_judge_alike():
    """check() gives the same verdicts whichever it judges first, the tier or its steps, and lists
    as failing a step exactly the combinations that pass the Gate and whose step is not true."""
    found, _ = _step_planner(True).run()
    best = min(found, key=lambda f: (f.cost, f.date))
    pl_ = _step_planner(True)
    T = best.date
    tier, rowT, levers = pl_.setup(T)
    titles = next(o for o in levers if o[0].lever == "title")
    acts = [a for a in best.actions if a.lever != "title"]
    # the plan, the plan less one action, the plan with each title chain, and halves of it
    combos = [tuple(best.actions)] + [tuple(b for b in best.actions if b is not a) for a in best.actions]
    combos += [tuple(acts) + (t,) for t in titles] + [tuple(acts[::2]) + (t,) for t in titles]
    combos += [tuple(acts[1::2]) + (t,) for t in titles]
    batch = [(0, c) for c in combos]
    tier_first, failed = pl_.check(tier, T, rowT, batch)
    failed_tf = {i for i, _ in failed}
    pl_._steps_first.add((tier, T))
    steps_first, failed = pl_.check(tier, T, rowT, batch)
    failed_sf = {i for i, _ in failed}
    assert steps_first == tier_first
    assert any(tier_first) and not all(tier_first)
    assert failed_sf and len(failed_sf) < len(batch)
    p = pl_.costs["levers"]
    for i, (_, acts) in enumerate(batch):
        steps = [(t0, T0) for a in acts for t0, T0 in a.checks]
        if not steps:
            continue
        step_ok = all(scalar_tier(apply_actions(rowT, acts, T0, p), T0, "application", t0)[0][f"{t0}#ok"] is True
                      for t0, T0 in steps)
        gated = i in failed_sf or step_ok  # judged (the Gate let it through)
        assert (i in failed_sf) == (gated and not step_ok)
        assert failed_tf <= failed_sf  # tier first: only those passing the tier reach the step


def test_every_nogood_learned_fails_its_step_whatever_the_other_levers():
    """A nogood names levels of the levers a step reads (and the title chain): any combination
    holding them fails a step of its title chain, whatever the other levers' levels. Checked with
    the one-firm engine on the nogoods the search learned, each with the other levers drawn at
    random. Steps reading the same levers share one set of nogoods (a key's title level says
    which steps it is judged on)."""
    import random

    pl_ = _step_planner(True)
    pl_.run()
    rng = random.Random(0)
    p = pl_.costs["levers"]
    n_checked = n_shared = 0
    for (tier, T, _), (levers, steps) in pl_.nogoods.items():
        rowT = pl_.setup(T)[1]
        sets = {id(bad): (L, bad) for L, bad in steps.values()}
        for (t0, T0), (L, bad) in steps.items():
            # a set is shared by the steps reading the same levers, and only by those
            assert sets[id(bad)][0] == L
            n_shared += sum(1 for L2, b2 in steps.values() if b2 is bad) > 1
        for L, bad in sets.values():
            for key in sorted(bad)[:12]:
                for _ in range(3):
                    idx = [rng.randrange(len(o) + 1) for o in levers]
                    for j, k in zip(L, key):
                        idx[j] = k
                    acts = tuple(levers[j][k - 1] for j, k in enumerate(idx) if k)
                    # the steps of its title chain that read L (their outcome is fixed by the key)
                    chain = [c for a in acts for c in a.checks if steps[c][0] == L]
                    assert chain and all(steps[c][1] is bad for c in chain)
                    assert any(scalar_tier(apply_actions(rowT, acts, T0, p), T0, "application", t0)[0][f"{t0}#ok"]
                               is not True for t0, T0 in chain), (T, key)
                    n_checked += 1
    assert n_checked >= 100
    assert n_shared > 0  # the instance has steps sharing a set


def _whole_sum(sc, idx: tuple, tch: frozenset) -> bool:
    """The score oracle's answer for a node, written out plainly (the reference for its
    incremental form): a direct route met or touched lets it through; else every indicator's
    points (a table: its value if all its levers are fixed, its best otherwise; no table: its
    maximum if touched, its baseline otherwise) must meet their minimums, the pass line and the
    category minimums."""
    if sc.gate.route_true:
        return True
    j = len(idx)
    if any(inp & tch for inp in sc.route_fb):
        return True
    if any(tab[get(idx)] if last < j else anytrue for get, tab, last, anytrue, _, _ in sc.route_tabs):
        return True
    if sc.sure_short:
        return False
    tot, per = sc.const_tot, list(sc.const_per)
    parts = [(tab[get(idx)] if last < j else best, ci, m)
             for (get, tab, ci, last, best, _, _), m in zip(sc.exact, sc.exact_min)]
    parts += [(mx if inp & tch else lo, ci, m) for (inp, lo, mx, ci), m in zip(sc.fallback, sc.fb_min)]
    for v, ci, m in parts:
        if m is not None and v < m:
            return False
        tot += v
        if ci is not None:
            per[ci] += v
    return tot >= sc.gate.line and all(m is None or per[i] >= m for i, m in enumerate(sc.cats))


def test_child_score_checks_equal_the_whole_sum(monkeypatch):
    """The A* asks the score oracle of each child it makes from what the node's children share
    (ScoreOracle.prefix: the parent's closed tables, the open tables' best, the indicators
    without a table) and the tables closing at the new lever (child_ok); it answers exactly what
    the whole sum over every indicator answers, on the plans of the fixtures for the scored
    tiers, children and complete combinations alike."""
    from srdi.planner.search import ScoreOracle

    prefix, child_ok = ScoreOracle.prefix, ScoreOracle.child_ok
    seen = {"n": 0, "false": 0}

    def pre2(self, node, idx, tch):
        return (prefix(self, node, idx, tch), tch)

    def both(self, pre, idx):
        got = child_ok(self, pre[0], idx)
        assert got == _whole_sum(self, idx, pre[1]), idx
        seen["n"] += 1
        seen["false"] += not got
        return got

    monkeypatch.setattr(ScoreOracle, "prefix", pre2)
    monkeypatch.setattr(ScoreOracle, "child_ok", both)
    for name in ("step_fails", "tech_staff_minimum", "rd_each_year_big", "side_effect_shed"):
        for target in ("innovative_sme", "srdi_sme"):
            make_plan(_profile(name), AS_OF, target, alternatives=0)
    assert seen["n"] > 5_000 and 0 < seen["false"] < seen["n"], seen  # ~9,000 (the split-cost bound prunes)


@pytest.mark.parametrize("d", [dt.date(2025, 6, 1), dt.date(2026, 6, 1), dt.date(2027, 12, 1)])
@pytest.mark.parametrize("mode", ["application", "review"])
def test_one_tier_evaluations_equal_the_whole_row(d, mode):
    """The search evaluates one tier of a row (search.tier_outputs: its outputs and what they
    read, not the other tiers nor the display values); every output it computes equals the whole
    row's evaluation, on the fixtures and on synthetic firms, for every tier of the date."""
    from srdi.engine.assess import compile_row, run_row
    from srdi.planner.search import tier_outputs

    c = compile_row(d, mode)
    rows = [profile_row(validate_profile(_profile(n)).to_contract_dict())
            for n in ("step_fails", "tech_staff_minimum", "rd_each_year_big", "side_effect_shed")]
    rows += [dict(r, **{"financials.2024.rd_expense": None}) for r in rows]  # some input missing
    n = 0
    for p in c.plans:
        keys = tier_outputs(d, mode, p.tier)
        assert keys is not None and f"{p.tier}#ok" in keys and len(keys) < len(c.values)
        for row in rows:
            part, whole = scalar_tier(row, d, mode, p.tier)[0], run_row(c, row)
            for k in keys:
                assert part[k] == whole[k], (p.tier, k)
                n += 1
    assert n > 500


def test_split_cost_bound_is_a_lower_bound_and_tighter():
    """The split-cost relaxation (ScoreOracle.full_cost_bound: a lever's cost shared out among the
    tables reading it, each table along its envelope given the levels fixed so far) never exceeds
    what the cheapest completion the score oracle accepts costs, at every node of small scored
    instances; it is never below the family bound (cost_bound) and above it somewhere (the
    relaxation is what prunes the R2026 科技和创新型 searches)."""
    n_nodes, tighter = 0, 0
    for pl_, tier, rowT, levers, T, *br in _scored_instances():
        b = br[0] if br else None
        orc = [o for L, o in pl_.oracles(tier, T, rowT, levers, branch=b) if L is None]
        if not orc:
            continue
        sc = orc[0]
        n = len(levers)
        F = [frozenset(search.fields_of([a for a in o if a.eff is None or a.eff <= T])) for o in levers]
        sc.costs(levers, F)
        # the cheapest accepted completion of each prefix, from every leaf
        best: dict = {}
        for idx in itertools.product(*[range(len(o) + 1) for o in levers]):
            tch = frozenset().union(*[F[j] for j, k in enumerate(idx) if k])
            if not sc(idx, tch):
                continue
            cost = sum(levers[j][k - 1].cost for j, k in enumerate(idx) if k)
            for j in range(n + 1):
                pre = idx[:j]
                c = cost - sum(levers[i][k - 1].cost for i, k in enumerate(pre) if k)
                if c < best.get(pre, search.INF):
                    best[pre] = c
        for pre in itertools.chain.from_iterable(itertools.product(*[range(len(o) + 1) for o in levers[:j]])
                                                 for j in range(n + 1)):
            tch = frozenset().union(*[F[j] for j, k in enumerate(pre) if k], *F[len(pre):])
            full, cheap = sc.full_cost_bound(pre, tch), sc.cost_bound(pre, tch)
            assert full >= cheap
            assert full <= best.get(pre, search.INF) + 1e-6, (pre, full, best.get(pre))
            tighter += full > cheap
            n_nodes += 1
    assert n_nodes > 1000 and tighter > 0


def test_envelope_counts_gains_at_no_cost():
    """A level priced 0 (a cost file may say so) gains its points for nothing: the envelope starts
    with them, so a bound built on it stays below the true cost (it was dropped before)."""
    from srdi.planner.search import envelope, greedy_cost

    tab = {(0, 0): 10, (1, 0): 30, (0, 1): 25, (1, 1): 50}
    segs = envelope(tab, [[0], [100]], 10)  # lever 0 free (+20), lever 1 costs 100 (+15, +20 with both)
    assert greedy_cost([segs], 20) == 0
    assert greedy_cost([segs], 40) == 100
    assert greedy_cost([segs], 30) == pytest.approx(50)
    assert greedy_cost([segs], 41) == search.INF
    assert greedy_cost([segs], 0) == 0
    other = envelope({(0,): 5, (1,): 9, (2,): 12}, [[10, 30]], 5)  # +4 for 10, +7 for 30
    assert greedy_cost([other], 7) == pytest.approx(30)
    assert greedy_cost([segs, other], 24) == pytest.approx(10)  # 20 free, then the steepest 4


def test_split_envelopes_by_arrays_equal_the_plain_ones(monkeypatch):
    """The split-cost envelopes of tables over ScoreOracle.SPLIT_ARRAY_ROWS rows are computed with
    NumPy, the others in plain Python: both ways give the same value and segments, for every table
    and fixed levels the A* asks for on the scored instances."""
    from srdi.planner.search import ScoreOracle

    seen = []
    orig = ScoreOracle._split_envelope

    def both(self, q, fixed):
        got = orig(self, q, fixed)
        seen.append((self, q, fixed, len(self.exact[q][6]), got))
        return got

    monkeypatch.setattr(ScoreOracle, "_split_envelope", both)
    for pl_, tier, rowT, levers, T, *br in _scored_instances():
        b = br[0] if br else None
        for L, sc in pl_.oracles(tier, T, rowT, levers, branch=b):
            if L is not None:
                continue
            F = [frozenset(search.fields_of([a for a in o if a.eff is None or a.eff <= T])) for o in levers]
            sc.costs(levers, F)
            for j in range(len(levers) + 1):
                for pre in itertools.product(*[range(len(o) + 1) for o in levers[:j]]):
                    sc.full_cost_bound(pre, frozenset().union(*F))
    monkeypatch.setattr(ScoreOracle, "_split_envelope", orig)
    big = [x for x in seen if x[3] > ScoreOracle.SPLIT_ARRAY_ROWS]
    assert len(big) > 20 and len(seen) > len(big)
    for rows in (10**9, 0):  # every table in plain Python, then every table through NumPy
        monkeypatch.setattr(ScoreOracle, "SPLIT_ARRAY_ROWS", rows)
        for sc, q, fixed, _, (v0, segs) in seen:
            w0, wsegs = orig(sc, q, fixed)
            assert w0 == v0
            assert [(pytest.approx(a), pytest.approx(g), pytest.approx(c)) for a, g, c in wsegs] == segs, (q, fixed)


@pytest.mark.parametrize("province", ["370000", "340000", None])
def test_gate_counts_each_indicator_once(province):
    """The Gate (and the score oracle built on it) adds up the indicators the score adds up: at
    the baseline its points are the engine's score. The items of a province's 特色化 sheet are
    indicators nested in `local` (R2022): they were counted beside it, so a firm with a 10%+
    niche share (4 points on the 山东 sheet, whatever its province) was thought 4 points nearer the
    pass line, and whole batches short of it were evaluated."""
    pl_ = _planner("step_fails")
    T = dt.date(2026, 1, 1)
    tier, rowT, _ = pl_.setup(T)
    rowT = dict(rowT, province=province, market_share_pct=150_000)  # 15% (x 10^4)
    pl_._row_year[id(rowT)] = T.year
    vals, _ = scalar_tier(rowT, T, "application", tier)
    assert vals["srdi_sme/distinctiveness.local.sd_market_share#lo"] == 40_000  # the nested item scores
    _, gate, _ = pl_.analyse(tier, T, rowT, "application")
    assert gate.scored and len(gate.inds) == len(gate.keys)
    assert not any(k.startswith(o + ".") for k in gate.keys for o in gate.keys)
    assert sum(lo for _, lo, _, _ in gate.inds) == vals["srdi_sme#score_lo"]


def test_step_levels_group_the_levels_a_step_sees_alike():
    """StepLevels: levels of a step's levers that give the step the same action key (a level not
    in effect on the step's date is as good as unused) fail it alike, so a nogood covers them all
    (`like`), and a key found failing maps back to them (`giving`); the title lever keeps only
    its levels whose chain judges this step."""
    from srdi.planner.levers import Action
    from srdi.planner.search import StepLevels, action_key, fields_of

    T0 = dt.date(2026, 3, 1)
    step = ("innovative_sme", T0)
    spend = [Action("rd_spend", 2025, 1_000_000, 1_000_000), Action("rd_spend", 2025, 2_000_000, 2_000_000)]
    ip = [Action("ip_class1", None, 1, 800_000, eff=dt.date(2026, 1, 1)),
          Action("ip_class1", None, 2, 1_600_000, eff=dt.date(2027, 1, 1))]  # not in effect on T0
    title = [Action("title", None, [{"type": "innovative_sme", "valid_from": T0}], 100, checks=(step,)),
             Action("title", None, [{"type": "innovative_sme", "valid_from": dt.date(2026, 6, 1)}], 100,
                    checks=(("innovative_sme", dt.date(2026, 6, 1)),))]
    levers = [spend, ip, title]
    rel = frozenset(fields_of(spend + ip + title))
    sl = StepLevels(levers, (0, 1, 2), T0, "innovative_sme", rel)
    assert sorted(sl.like((1, 2, 1))) == [(1, 0, 1), (1, 2, 1)]  # ip level 2 counts from 2027
    assert sl.like((1, 1, 1)) == [(1, 1, 1)]
    assert sl.like((1, 0, 2)) == []  # title level 2 is judged on another step
    key = action_key([spend[0], title[0]], T0)
    assert sorted(sl.giving(key)) == [(1, 0, 1), (1, 2, 1)]
    assert sl.giving(action_key([spend[0], Action("debt", 2025, 5, 5), title[0]], T0)) == []  # not from L
    # whatever the levels grouped, the step sees the same actions
    for levels in [(1, 2, 1), (2, 1, 1), (0, 0, 1)]:
        keys = {action_key([levers[j][k - 1] for j, k in enumerate(t) if k], T0) for t in sl.like(levels)}
        assert len(keys) == 1


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_envelope_by_arrays_equals_the_plain_one(data):
    """envelope() goes through NumPy over ENVELOPE_ARRAY_ROWS rows: the same segments as the plain
    sum over the table, for tables of random points (zero-priced levels, ties and losses included)
    and integer or fractional level costs."""
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    keys = list(itertools.product(*[range(k + 1) for k in sizes]))
    vals = data.draw(st.lists(st.integers(-5, 40), min_size=len(keys), max_size=len(keys)))
    tab = {k: v * 10_000 for k, v in zip(keys, vals)}
    money = st.integers(0, 10**9) if data.draw(st.booleans()) else st.floats(0, 1e9, allow_nan=False)
    costs = [data.draw(st.lists(money, min_size=k, max_size=k)) for k in sizes]
    v0 = tab[(0,) * len(sizes)]
    plain = (search.ENVELOPE_ARRAY_ROWS, 10**9)
    try:
        search.ENVELOPE_ARRAY_ROWS = 10**9
        want = search.envelope(tab, costs, v0)
        search.ENVELOPE_ARRAY_ROWS = 0
        got = search.envelope(tab, costs, v0)
    finally:
        search.ENVELOPE_ARRAY_ROWS = plain[0]
    assert got == want
