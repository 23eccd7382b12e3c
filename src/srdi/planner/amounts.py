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
