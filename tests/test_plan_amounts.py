"""Threshold amounts (srdi.planner.amounts): the one definition that the search's levels (one firm,
Python ints) and the pool's column-wise levels (Polars Int128 columns) share. Each amount is the
least (or largest) integer meeting its inequality, decided exactly with fractions, and the column
version equals the one-firm version value for value."""
from fractions import Fraction

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from srdi.planner import amounts as am

money = st.integers(0, 10**13)  # fen
pos = st.integers(1, 10**13)
rate = st.fractions(0, 3, max_denominator=10_000)
share = st.fractions(Fraction(1, 10_000), Fraction(9_999, 10_000), max_denominator=10_000)


@settings(max_examples=300, deadline=None)
@given(money, rate, st.booleans())
def test_at_least_times_is_the_least(base, r, strict):
    x = am.at_least_times(base, r, strict)
    meets = (lambda v: v > base * r) if strict else (lambda v: v >= base * r)
    assert meets(x) and not meets(x - 1)


@settings(max_examples=300, deadline=None)
@given(pos, rate, st.booleans())
def test_growth_revenue(prev, e, strict):
    x = am.growth_revenue(prev, e, strict)
    assert Fraction(x, prev) - 1 >= e and (not strict or Fraction(x, prev) - 1 > e)
    assert Fraction(x - 1 - strict, prev) - 1 < e  # no less (the strict level is 1 fen above it)


@settings(max_examples=300, deadline=None)
@given(pos, pos, st.fractions(-1, 3, max_denominator=10_000), st.booleans())
def test_growth_avg_2y_revenue(prev, prev2, e, strict):
    x = am.growth_avg_2y_revenue(prev, prev2, e, strict)

    def avg(v):
        return ((Fraction(prev, prev2) - 1) + (Fraction(v, prev) - 1)) / 2

    assert avg(x) >= e and (not strict or avg(x) > e)
    assert avg(x - 1 - strict) < e


@settings(max_examples=300, deadline=None)
@given(pos, rate, st.booleans())
def test_cagr_2y_revenue(rev2, e, strict):
    x = am.cagr_2y_revenue(rev2, e, strict)
    assert x >= rev2 * (1 + e) ** 2 and (not strict or x > rev2 * (1 + e) ** 2)
    assert x - 1 - strict < rev2 * (1 + e) ** 2


@settings(max_examples=300, deadline=None)
@given(money, share, st.booleans())
def test_share_total_max_is_the_largest(part, m, strict):
    t = am.share_total_max(part, m, strict)
    meets = (lambda v: part > m * v) if strict else (lambda v: part >= m * v)
    assert meets(t) and not meets(t + 1)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 100_000), st.data(), share, st.booleans())
def test_hires_for_share_is_the_least(emp, data, s, strict):
    cur = data.draw(st.integers(0, emp))
    k = am.hires_for_share(emp, cur, s, strict)
    meets = (lambda j: Fraction(cur + j, emp + j) > s) if strict else (lambda j: Fraction(cur + j, emp + j) >= s)
    if k > 0:
        assert meets(k) and not meets(k - 1)
    else:  # met already: no hire (the levers keep k > 0 only)
        assert meets(0)


@settings(max_examples=300, deadline=None)
@given(money, pos, st.fractions(0, 1, max_denominator=10_000), st.booleans())
def test_debt_cut_is_the_least(liab, assets, r, strict):
    d = am.debt_cut_for_ratio(liab, assets, r, strict)
    meets = (lambda c: Fraction(liab - c, assets) < r) if strict else (lambda c: Fraction(liab - c, assets) <= r)
    assert meets(d) and not meets(d - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(pos, pos, st.integers(0, 10**13)), min_size=1, max_size=20), rate, share,
       st.booleans())
def test_columns_equal_one_firm(rows, e, s, strict):
    """The same functions over Polars Int128 columns give the one-firm values row by row."""
    df = pl.DataFrame({"a": [r[0] for r in rows], "b": [r[1] for r in rows], "c": [r[2] for r in rows]},
                      schema={"a": pl.Int128, "b": pl.Int128, "c": pl.Int128})
    a, b, c = pl.col("a"), pl.col("b"), pl.col("c")
    exprs = {
        "times": (am.at_least_times(c, e, strict), lambda a_, b_, c_: am.at_least_times(c_, e, strict)),
        "growth": (am.growth_revenue(a, e, strict), lambda a_, b_, c_: am.growth_revenue(a_, e, strict)),
        "avg": (am.growth_avg_2y_revenue(a, b, e, strict),
                lambda a_, b_, c_: am.growth_avg_2y_revenue(a_, b_, e, strict)),
        "cagr": (am.cagr_2y_revenue(c, e, strict), lambda a_, b_, c_: am.cagr_2y_revenue(c_, e, strict)),
        "share": (am.share_total_max(c, s, strict), lambda a_, b_, c_: am.share_total_max(c_, s, strict)),
        "hires": (am.hires_for_share(a + b, b, s, strict), lambda a_, b_, c_: am.hires_for_share(a_ + b_, b_, s, strict)),
        "debt": (am.debt_cut_for_ratio(c, a, s, strict), lambda a_, b_, c_: am.debt_cut_for_ratio(c_, a_, s, strict)),
    }
    out = df.select([ex.alias(k) for k, (ex, _) in exprs.items()])
    for k, (_, one) in exprs.items():
        assert out[k].to_list() == [int(one(*r)) for r in rows], k


class _Th:
    """Thresholds as the packs give them (levers.Thresholds.get: [(op, value)] by measure)."""

    def __init__(self, d):
        self.d = d

    def get(self, m):
        return self.d.get(m, [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(pos, pos, pos, pos, pos), min_size=1, max_size=12), rate, share,
       st.sampled_from([">=", ">"]))
def test_lever_amounts_of_columns_equal_one_firm(rows, e, s, op):
    """growth_amounts / shed_amounts: the same thresholds give the same amounts for one firm and
    over columns (where the one-firm amount exists)."""
    th = _Th({"main_growth": [(op, e)], "main_growth_avg_2y": [(op, e)], "revenue_cagr_2y": [(op, e)],
              "operating_revenue": [(op, Fraction(3_000_000))], "main_business_share": [(op, s)],
              "main_product_share": [(op, s)]})
    names = ("orb", "mbr", "p", "pp", "o2")
    df = pl.DataFrame({k: [r[i] for r in rows] for i, k in enumerate(names)}, schema={k: pl.Int128 for k in names})
    c = {k: pl.col(k) for k in names}
    col = list(am.growth_amounts(th, c["mbr"], c["orb"], c["p"], c["pp"], c["o2"],
                                 lambda b, d: pl.when(b > 0).then(d())))
    col += list(am.shed_amounts(th, c["orb"], c["mbr"], c["p"]))
    out = df.select([x.alias(str(i)) for i, x in enumerate(col)])
    for r, got in zip(rows, out.iter_rows()):
        orb, mbr, p, pp, o2 = r
        one = list(am.growth_amounts(th, mbr, orb, p, pp, o2, lambda b, d: d() if b > 0 else None))
        one += list(am.shed_amounts(th, orb, mbr, p))
        assert list(got) == one
