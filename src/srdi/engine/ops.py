"""Column operations with three-valued (Kleene) logic, in two interchangeable backends.

Every rule building block is written once against this small interface. `PolarsOps` builds
Polars expressions (a table of any size; the same batch function runs inside Spark's
mapInArrow). `rowcode.RowOps` builds Python source over one row, one function generated per
as-of date and mode: a one-firm `srdi assess` runs it without importing Polars (cold start) and
the web API and the planner run it per request. Tests check that both backends agree.

Null means "input missing" (convention C6): comparisons with null give null; `and_` is false
as soon as one operand is false, `or_` is true as soon as one is true.
"""
from __future__ import annotations

import datetime as _dt
import operator as _op
from typing import Any, Callable


SCALE_PREFIX = "#scale:"  # columns holding one constant divisor (PolarsOps.to_float, frame.with_scales)


def scale_column(scale: int) -> str:
    return f"{SCALE_PREFIX}{int(scale)}"


# comparison operators; the same functions build Polars expressions from Exprs
_CMP = {">=": _op.ge, ">": _op.gt, "<=": _op.le, "<": _op.lt, "==": _op.eq, "!=": _op.ne}


def _years_table(year: int):
    """Full years (C9) from each day 1800-01-01 .. year-01-01 to 1 January `year`, as Int16."""
    import datetime as dt

    import polars as pl

    t = _YEARS_TABLES.get(year)
    if t is None:
        vals: list[int] = []
        for y in range(1800, year):
            # 1 January of y has year - y full years; the other days of y one fewer
            days = (dt.date(y + 1, 1, 1) - dt.date(y, 1, 1)).days
            vals += [year - y] + [year - y - 1] * (days - 1)
        vals.append(0)
        t = _YEARS_TABLES[year] = pl.Series(vals, dtype=pl.Int16)
    return t


_YEARS_TABLES: dict = {}


class PolarsOps:
    """Builds Polars expressions over whole columns."""

    name = "polars"

    def __init__(self):
        import polars as pl

        self.pl = pl

    def col(self, path: str, kind: str = ""):
        return self.pl.col(path)

    def lit(self, v: Any, kind: str = ""):
        pl = self.pl
        if v is None:
            return pl.lit(None)
        if isinstance(v, bool):
            return pl.lit(v, dtype=pl.Boolean)
        if isinstance(v, int):
            return pl.lit(v, dtype=pl.Int128 if abs(v) >= 2**62 else pl.Int64)
        if isinstance(v, _dt.date):
            return pl.lit(v, dtype=pl.Date)
        return pl.lit(v)

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def wide(self, a):
        return a.cast(self.pl.Int128)

    def cmp(self, a, op: str, b):
        return _CMP[op](a, b)

    def isin(self, a, values):
        # null (missing) stays null: is_in without nulls_equal gives null for a null value
        return a.is_in(list(values), nulls_equal=False)

    binder: Callable[[str, Any], Any] | None = None  # set by the Compiler: key, expr -> col(key)

    def share(self, key: str, x):
        return self.binder(key, x) if self.binder is not None else x

    @staticmethod
    def is_column(x) -> bool:
        return x.meta.is_column()

    def ref(self, key: str):
        return self.pl.col(key)

    def code_of(self, a, keys):
        pl = self.pl
        keys = list(keys)
        if keys and all(isinstance(k, str) for k in keys) and len(set(keys)) == len(keys):
            # strings: a non-strict cast to an Enum of the keys (unknown -> null) gives the
            # position as its physical value; about twice as fast as replace_strict
            return a.cast(pl.Enum(keys), strict=False).to_physical().cast(pl.UInt32)
        return a.replace_strict(list(keys), list(range(len(keys))), default=None, return_dtype=pl.UInt32)

    def take(self, values, code):
        pl = self.pl
        values = list(values)
        dtype = pl.String if values and all(isinstance(v, str) for v in values) else pl.Int64
        return pl.lit(pl.Series(values, dtype=dtype)).gather(code)

    def count_true(self, xs):
        pl = self.pl
        xs = list(xs)
        out = xs[0].cast(pl.Int8)
        for x in xs[1:]:
            out = out + x.cast(pl.Int8)
        return out

    def min_known(self, xs):
        return self.pl.min_horizontal(list(xs))

    def and_(self, xs):
        xs = list(xs)
        out = xs[0]
        for x in xs[1:]:
            out = out & x
        return out

    def or_(self, xs):
        xs = list(xs)
        out = xs[0]
        for x in xs[1:]:
            out = out | x
        return out

    def not_(self, x):
        return ~x

    def is_true(self, x):
        return x.fill_null(False)

    def is_null(self, x):
        return x.is_null()

    def fill_null(self, x, v):
        return x.fill_null(v)

    def if_(self, cond, then, otherwise):
        pl = self.pl
        return pl.when(cond).then(then).otherwise(otherwise)

    def first(self, conds, values, default):
        pl = self.pl
        conds, values = list(conds), list(values)
        if not conds:
            return pl.lit(default)
        if default is None and all(isinstance(v, str) for v in values):
            # string labels: choose an index, then read the label once (a when/then chain of
            # string literals builds a whole string column per branch)
            idx = pl.when(conds[0]).then(pl.lit(0, pl.UInt8))
            for i, c in enumerate(conds[1:], 1):
                idx = idx.when(c).then(pl.lit(i, pl.UInt8))
            return pl.lit(pl.Series(values, dtype=pl.String)).gather(idx.otherwise(None))
        w = lambda v: v if isinstance(v, pl.Expr) else pl.lit(v)  # noqa: E731
        chain = pl.when(conds[0]).then(w(values[0]))
        for c, v in zip(conds[1:], values[1:]):
            chain = chain.when(c).then(w(v))
        return chain.otherwise(w(default))

    def pick(self, gate, conds, labels):
        pl = self.pl
        if not all(isinstance(x, str) for x in labels):
            return self.if_(gate, self.first(conds, labels, None), pl.lit(None)).cast(pl.String)
        # strings: choose an index, then read the label once (a when/then chain of string
        # literals would build a whole string column per branch)
        idx = pl.when(conds[0]).then(pl.lit(0, pl.UInt8))
        for i, c in enumerate(conds[1:], 1):
            idx = idx.when(c).then(pl.lit(i, pl.UInt8))
        idx = pl.when(gate).then(idx.otherwise(None)).otherwise(None)
        return pl.lit(pl.Series(list(labels), dtype=pl.String)).gather(idx)

    def sum_(self, xs):
        xs = list(xs)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    def max_(self, xs):
        pl = self.pl
        xs = list(xs)
        if len(xs) == 1:
            return xs[0]
        # max_horizontal ignores nulls; keep null-propagation (C6)
        anynull = self.or_([x.is_null() for x in xs])
        return pl.when(anynull).then(None).otherwise(pl.max_horizontal(xs))

    def to_float(self, a, scale: float = 1.0):
        if scale == 1:
            return a.cast(self.pl.Float64)
        # Polars divides a column by a constant as a product with its inverse, 1 ulp off the quotient
        # (16500 / 10^4 gives 1.6500000000000001): dividing by a column holding the constant gives the
        # correctly rounded quotient, as Python's float(v) / scale does for one row
        return a.cast(self.pl.Float64) / self.pl.col(scale_column(scale))

    def div_float(self, a, b):
        pl = self.pl
        # null where b is 0 or null: a null divisor (cheaper than choosing between two columns)
        return a.cast(pl.Float64) / pl.when(b != 0).then(b.cast(pl.Float64))

    def sqrt_float(self, a):
        return a.sqrt()

    def sub_float(self, a, b):
        return a - b

    def year_of(self, d):
        return d.dt.year().cast(self.pl.Int64)

    def is_jan1(self, d):
        return (d.dt.month() == 1) & (d.dt.day() == 1)

    def full_years_to_jan1(self, d, year: int):
        """C9 over a date column: a table of the answer for every day from 1 January 1800 to
        1 January `year`, read at the row's day number (one gather; dates outside are clamped:
        later dates give 0, earlier ones count from 1800)."""
        import datetime as dt

        pl = self.pl
        base = dt.date(1800, 1, 1)
        table = _years_table(year)
        idx = (d.cast(pl.Int32) - (base - dt.date(1970, 1, 1)).days).clip(0, len(table) - 1)
        return pl.lit(table).gather(idx).cast(pl.Int64)

    def list_any(self, path, pred):
        pl = self.pl
        el = lambda f: pl.element().struct.field(f)  # noqa: E731
        p = pred(el)
        c = pl.col(path)
        # one pass: true -> 2, unknown -> 1, false -> 0 (the predicate evaluated once per item);
        # the max is the Kleene OR of the items, 0 for an empty list
        code = c.list.eval((p.cast(pl.Int8) * 2).fill_null(1)).list.max().fill_null(0)
        # read the code once (Polars does not share a list.eval between two uses of it): a null
        # list reads past the table's end (3: null), like code 1 (unknown)
        idx = code + c.is_null().cast(pl.Int8) * 3
        return pl.lit(pl.Series([False, None, True, None], dtype=pl.Boolean)).gather(idx)

    def list_sum(self, path, value_field, pred):
        pl = self.pl
        el = lambda f: pl.element().struct.field(f)  # noqa: E731
        p = pred(el)
        c = pl.col(path)
        v = el(value_field)
        total = c.list.eval(pl.when(p.fill_null(False)).then(v).otherwise(0)).list.sum()
        unknown = c.list.eval((p.is_null() | (p.fill_null(False) & v.is_null())).cast(pl.Int32)).list.sum()
        return pl.when(c.is_null() | (unknown > 0)).then(None).otherwise(total.cast(pl.Int64))
