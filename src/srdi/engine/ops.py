"""Column operations with three-valued (Kleene) logic, in two interchangeable backends.

Every rule building block is written once against this small interface. `PolarsOps` builds
Polars expressions (a table of any size; the same batch function runs inside Spark's
mapInArrow). `ClosureOps` builds plain Python closures over one row, compiled once per as-of
date and mode: a one-firm `srdi assess` runs them without importing Polars (cold start) and the
web API and the planner run them per request. Tests check that both backends agree.

Null means "input missing" (convention C6): comparisons with null give null; `and_` is false
as soon as one operand is false, `or_` is true as soon as one is true.
"""
from __future__ import annotations

import datetime as _dt
import operator as _op
from typing import Any, Callable, Sequence


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
        pl = self.pl
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
        return a.cast(self.pl.Float64) / scale

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


# ------------------------------------------------------------------------------- closures
def _const(v):
    def f(e):
        return v

    f.const = True
    f.value = v
    return f


def _fn(v):
    return v if callable(v) else _const(v)


def _path(f):
    """The key a closure only reads from the row (a column or an output), else None: the closures
    below read such operands with one dict lookup instead of a call (most operands are these)."""
    return getattr(f, "path", None)


class ClosureOps:
    """Compiles the blocks once into plain Python closures over one row; `assess.run_row` then
    evaluates a firm in one pass over the outputs (the rule structure is walked once per
    (as-of, mode), not once per firm).

    A row is a dict: input paths and, as they are computed, output keys (which hold '#').
    """

    name = "closure"
    binder: Callable[[str, Any], Any] | None = None  # set by the Compiler, as for PolarsOps

    def share(self, key: str, x):
        return self.binder(key, x) if self.binder is not None else x

    def col(self, path: str, kind: str = ""):
        def f(e):
            return e.get(path)

        f.ref = True
        f.path = path
        return f

    def ref(self, key: str):
        def f(e):
            return e[key]

        f.ref = True
        f.path = key
        return f

    @staticmethod
    def is_column(x) -> bool:
        return getattr(x, "ref", False) or getattr(x, "const", False) or not callable(x)

    def lit(self, v: Any, kind: str = ""):
        return _const(v)

    def _bin(self, a, b, op):
        a, b = _fn(a), _fn(b)
        pa, pb = _path(a), _path(b)
        if getattr(b, "const", False):
            bv = b.value
            if bv is None:
                return _const(None)
            if pa is not None:
                def fp(e):
                    x = e.get(pa)
                    return None if x is None else op(x, bv)
                return fp

            def f(e):
                x = a(e)
                return None if x is None else op(x, bv)
            return f
        if pa is not None and pb is not None:
            def gp(e):
                x = e.get(pa)
                if x is None:
                    return None
                y = e.get(pb)
                return None if y is None else op(x, y)
            return gp

        def g(e):
            x = a(e)
            if x is None:
                return None
            y = b(e)
            return None if y is None else op(x, y)
        return g

    def add(self, a, b):
        return self._bin(a, b, _op.add)

    def sub(self, a, b):
        return self._bin(a, b, _op.sub)

    def mul(self, a, b):
        return self._bin(a, b, _op.mul)

    def wide(self, a):
        return a

    def cmp(self, a, op: str, b):
        return self._bin(a, b, _CMP[op])

    def isin(self, a, values: Sequence[Any]):
        vals = tuple(values)
        pa = _path(a)
        if pa is not None:
            def fp(e):
                x = e.get(pa)
                return None if x is None else x in vals
            return fp

        def f(e):
            x = a(e)
            return None if x is None else x in vals
        return f

    def code_of(self, a, keys: Sequence[Any]):
        index = {k: i for i, k in enumerate(keys)}

        def f(e):
            x = a(e)
            return None if x is None else index.get(x)
        return f

    def take(self, values: Sequence[Any], code):
        vals = tuple(values)

        def f(e):
            c = code(e)
            return None if c is None else vals[c]
        return f

    def count_true(self, xs):
        return self.sum_(xs)  # booleans add as 0/1; a null makes the count null

    def min_known(self, xs):
        fs = [_fn(x) for x in xs]

        def f(e):
            known = [v for v in (g(e) for g in fs) if v is not None]
            return min(known) if known else None
        return f

    @staticmethod
    def _kleene(xs, decisive: bool):
        """AND (decisive False) or OR (decisive True) in three-valued logic, short-circuiting."""
        fs = [_fn(x) for x in xs]
        if len(fs) == 1:
            return fs[0]
        paths = [_path(g) for g in fs]
        if all(p is not None for p in paths):
            def fp(e):
                unknown = False
                for p in paths:
                    v = e.get(p)
                    if v is decisive:
                        return decisive
                    if v is None:
                        unknown = True
                return None if unknown else (not decisive)
            return fp

        def f(e):
            unknown = False
            for g in fs:
                v = g(e)
                if v is decisive:
                    return decisive
                if v is None:
                    unknown = True
            return None if unknown else (not decisive)
        return f

    def and_(self, xs):
        return self._kleene(xs, False)

    def or_(self, xs):
        return self._kleene(xs, True)

    def not_(self, x):
        px = _path(x)
        if px is not None:
            def fp(e):
                v = e.get(px)
                return None if v is None else (not v)
            return fp

        def f(e):
            v = x(e)
            return None if v is None else (not v)
        return f

    def is_true(self, x):
        x = _fn(x)
        px = _path(x)
        if px is not None:
            def fp(e):
                return e.get(px) is True
            return fp

        def f(e):
            return x(e) is True
        return f

    def is_null(self, x):
        x = _fn(x)
        px = _path(x)
        if px is not None:
            def fp(e):
                return e.get(px) is None
            return fp

        def f(e):
            return x(e) is None
        return f

    def fill_null(self, x, v):
        x, v = _fn(x), _fn(v)
        px = _path(x)
        if px is not None and getattr(v, "const", False):
            dv = v.value

            def fp(e):
                r = e.get(px)
                return dv if r is None else r
            return fp

        def f(e):
            r = x(e)
            return v(e) if r is None else r
        return f

    def if_(self, cond, then, otherwise):
        c, t, o = _fn(cond), _fn(then), _fn(otherwise)

        def f(e):
            return t(e) if c(e) else o(e)
        return f

    def first(self, conds, values, default):
        pairs = [(_fn(c), _fn(v)) for c, v in zip(conds, values)]
        d = _fn(default)

        def f(e):
            for c, v in pairs:
                if c(e):
                    return v(e)
            return d(e)
        return f

    def pick(self, gate, conds, labels):
        g, inner = _fn(gate), self.first(conds, labels, None)

        def f(e):
            return inner(e) if g(e) else None
        return f

    def sum_(self, xs):
        fs = [_fn(x) for x in xs]
        paths = [_path(g) for g in fs]
        if all(p is not None for p in paths):
            def fp(e):
                s = 0
                for p in paths:
                    v = e.get(p)
                    if v is None:
                        return None
                    s += v
                return s
            return fp

        def f(e):
            s = 0
            for g in fs:
                v = g(e)
                if v is None:
                    return None
                s += v
            return s
        return f

    def max_(self, xs):
        fs = [_fn(x) for x in xs]

        def f(e):
            vs = [g(e) for g in fs]
            return None if any(v is None for v in vs) else max(vs)
        return f

    def to_float(self, a, scale: float = 1.0):
        a = _fn(a)

        def f(e):
            v = a(e)
            return None if v is None else float(v) / scale
        return f

    def div_float(self, a, b):
        a, b = _fn(a), _fn(b)

        def f(e):
            x, y = a(e), b(e)
            if x is None or y is None or y == 0:
                return None
            return float(x) / float(y)
        return f

    def sqrt_float(self, a):
        def f(e):
            v = a(e)
            return None if v is None or v < 0 else v ** 0.5
        return f

    def sub_float(self, a, b):
        return self._bin(a, b, _op.sub)

    def year_of(self, d):
        def f(e):
            v = d(e)
            return None if v is None else v.year
        return f

    def is_jan1(self, d):
        def f(e):
            v = d(e)
            return None if v is None else (v.month == 1 and v.day == 1)
        return f

    def full_years_to_jan1(self, d, year: int):
        def f(e):
            v = d(e)
            if v is None:
                return None
            return max(0, year - v.year - (0 if (v.month, v.day) == (1, 1) else 1))
        return f

    # lists of records: the current item is held under the key "@item" while a predicate runs
    @staticmethod
    def _el(field: str):
        def f(e):
            return e["@item"].get(field)
        return f

    def list_any(self, path: str, pred):
        p = _fn(pred(self._el))

        def f(e):
            items = e.get(path)
            if items is None:
                return None
            unknown = False
            for it in items:
                e["@item"] = it
                v = p(e)
                if v is True:
                    return True
                if v is None:
                    unknown = True
            return None if unknown else False
        return f

    def list_sum(self, path: str, value_field: str, pred):
        p = _fn(pred(self._el))

        def f(e):
            items = e.get(path)
            if items is None:
                return None
            total = 0
            for it in items:
                e["@item"] = it
                ok = p(e)
                if ok is None:
                    return None
                if ok:
                    v = it.get(value_field)
                    if v is None:
                        return None
                    total += v
            return total
        return f
