"""Threshold amounts: the value one field must take for a measure to reach a threshold.

Plain integer arithmetic (+ - * //, % and ==, a bool counting as 0 or 1), so one definition serves
one firm (Python ints: levers.financial_levers, the search's levels) and every firm at once (Polars
Int128 columns: bundles.financial_items, topup._needs). Fractions enter only through their
numerator and denominator. `0 - x` instead of `-x`: Polars has no Int128 negation.

`strict` is a test with `>` (or `<`) instead of `>=` (`<=`). Where the amounts below add `strict`
unconditionally (growth), the level is 1 fen above the least one when the bound is not whole, as
the search has always had it; the others step over the bound only when it is whole.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable, Iterator

from srdi.engine.measures import FEN


def ceil_div(a, b):
    """ceil(a / b) for b > 0."""
    return 0 - ((0 - a) // b)


def at_least_times(base, r: Fraction, strict: bool):
    """The least integer x with x >= base x r, or x > base x r when strict."""
    q = base * r.numerator
    if strict:
        return ceil_div(q, r.denominator) + (q % r.denominator == 0)
    return ceil_div(q, r.denominator)


def growth_revenue(prev, e: Fraction, strict: bool):
    """Main-business revenue growing by e over `prev`: ceil(prev x (1 + e)) (+1 when strict)."""
    return ceil_div(prev * (e.denominator + e.numerator), e.denominator) + strict


def growth_avg_2y_revenue(prev, prev2, e: Fraction, strict: bool):
    """Main-business revenue x whose two-year average growth ((prev/prev2 - 1) + (x/prev - 1)) / 2
    reaches e (prev2 > 0): ceil(prev x (2 + 2e - prev/prev2)) (+1 when strict)."""
    k = 2 + 2 * e
    return ceil_div(prev * prev2 * k.numerator - prev * prev * k.denominator, prev2 * k.denominator) + strict


def cagr_2y_revenue(rev2, e: Fraction, strict: bool):
    """Operating revenue growing at e a year over two years from `rev2`: ceil(rev2 x (1 + e)^2)
    (+1 when strict)."""
    g = (1 + e) ** 2
    return ceil_div(rev2 * g.numerator, g.denominator) + strict


def share_total_max(part, m: Fraction, strict: bool):
    """The largest total with part / total >= m (> m when strict), m > 0: floor(part / m), less 1
    when strict and part / m is whole."""
    q = part * m.denominator
    if strict:
        return q // m.numerator - (q % m.numerator == 0)
    return q // m.numerator


def hires_for_share(emp, cur, s: Fraction, strict: bool):
    """Heads k to hire into a group of `cur` among `emp` staff for (cur + k) / (emp + k) >= s (> s
    when strict), s < 1."""
    a, b = s.numerator, s.denominator
    k = ceil_div(emp * a - cur * b, b - a)
    if strict:
        return k + ((cur + k) * b == (emp + k) * a)
    return k


def debt_cut_for_ratio(liab, assets, r: Fraction, strict: bool):
    """Liabilities to repay for liabilities / assets <= r (< r when strict):
    liab - floor(r x assets), plus 1 when strict and r x assets is whole."""
    q = assets * r.numerator
    if strict:
        return liab - q // r.denominator + (q % r.denominator == 0)
    return liab - q // r.denominator


def money_fen(v) -> int:
    """A money threshold (yuan, exact) in fen, rounded up."""
    q = (v if isinstance(v, Fraction) else Fraction(str(v))) * FEN
    return ceil_div(q.numerator, q.denominator)


# ------------------------------------------------------------------------------ per lever
# The amounts of one lever for every threshold the packs set (th: levers.Thresholds), the same
# loop for one firm and for columns; levels outside the lever's range are dropped by the caller.

def growth_amounts(th, mbr, orb, prev, prev2, rev2,
                   if_positive: Callable[[Any, Callable[[], Any]], Any]) -> Iterator:
    """Main-business revenue to add in a year (mbr, orb: its main-business and operating revenue)
    for growth to reach each growth threshold, or operating revenue its floor: prev, prev2 the
    main-business revenue one and two years before, rev2 the operating revenue two years before
    (None: unknown). The two-year average divides by prev2: `if_positive(prev2, amount)` gives
    the amount where prev2 > 0 (one firm: the value or None; columns: a when/then)."""
    for op, e in th.get("main_growth"):
        if op in (">=", ">") and prev is not None:
            yield growth_revenue(prev, Fraction(e), op == ">") - mbr
    for op, e in th.get("main_growth_avg_2y"):
        if op in (">=", ">") and prev is not None and prev2 is not None:
            strict = op == ">"
            yield if_positive(prev2, lambda e=e, strict=strict: growth_avg_2y_revenue(prev, prev2, Fraction(e), strict) - mbr)
    for op, e in th.get("revenue_cagr_2y"):
        if op in (">=", ">") and rev2 is not None:
            yield cagr_2y_revenue(rev2, Fraction(e), op == ">") - orb
    for op, t in th.get("operating_revenue"):
        if op in (">=", ">"):
            yield money_fen(t) + (op == ">") - orb


def shed_amounts(th, orb, mbr, mpr) -> Iterator:
    """Non-core revenue to shed from operating revenue `orb` so that main-business revenue `mbr`
    (main-product revenue `mpr`, None: unknown) reaches each share threshold."""
    for measure, part in (("main_business_share", mbr), ("main_product_share", mpr)):
        if part is None:
            continue
        for op, m in th.get(measure):
            if op in (">=", ">") and m > 0:
                yield orb - share_total_max(part, Fraction(m), op == ">")
