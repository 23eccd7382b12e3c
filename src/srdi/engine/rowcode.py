"""The one-firm backend: the blocks compiled to Python source, one function per (as-of, mode).

`RowOps` implements the ops interface of `ops.PolarsOps` (Kleene three-valued logic, null = missing,
convention C6) by building Python *expressions* instead of columns. `row_function` then writes
every output of a compile as one straight-line function over a row dict: inputs read once into
locals, each output one assignment, operands held in walrus temporaries, short-circuits where
the Kleene rules allow. It replaces a tree of closures (one call and one dict lookup per
operation): the same blocks, evaluated 2-3 times faster, which the web API pays on every request and
the planner on every candidate row.

A `Src` (one expression) is also callable on a row, `src(row)`, compiled on first use: tests and
the size standard evaluate single expressions that way. Output keys are read from the row then.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

_CMP = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "==": "==", "!=": "!="}
_MARK = re.compile("\x01([CR])(\\d+)\x02")  # a column or an output key inside an expression's code
_MAX_DEPTH = 60  # nesting of one expression; deeper ones are bound to an output of their own


class Src:
    """One expression over a row. `code` holds columns and outputs as markers (rendered as locals
    in a row function, as row lookups when called alone); `deps` are the output keys it reads;
    `simple`: a name or a literal (read twice without a temporary)."""

    __slots__ = ("ops", "code", "deps", "simple", "ref", "const", "value", "depth", "_fn")

    def __init__(self, ops: "RowOps", code: str, deps: frozenset = frozenset(), simple: bool = False,
                 ref: bool = False, const: bool = False, value: Any = None, depth: int = 0):
        self.ops, self.code, self.deps, self.simple = ops, code, deps, simple
        self.ref, self.const, self.value, self.depth = ref, const, value, depth
        self._fn = None

    def __call__(self, e: dict):
        if self._fn is None:
            self._fn = self.ops.lambda_of(self)
        return self._fn(e)

    def __repr__(self) -> str:
        return f"Src({self.ops.render(self.code)})"


def _minknown(vs):
    known = [v for v in vs if v is not None]
    return min(known) if known else None


def _listany(items, p):
    if items is None:
        return None
    unknown = False
    for it in items:
        v = p(it)
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def _listsum(items, field: str, p):
    if items is None:
        return None
    total = 0
    for it in items:
        ok = p(it)
        if ok is None:
            return None
        if ok:
            v = it.get(field)
            if v is None:
                return None
            total += v
    return total


_HELPERS = {"_minknown": _minknown, "_listany": _listany, "_listsum": _listsum}


class RowOps:
    """Builds `Src` expressions (see the module doc). Literals other than None, booleans, ints and
    strings are module globals of the generated code (`_kN`), so they keep their exact objects
    (Fractions, dates, floats)."""

    name = "row"
    binder: Callable[[str, Any], Any] | None = None  # set by the Compiler, as for PolarsOps

    def __init__(self):
        self.syms: list[tuple[str, str]] = []  # marker index -> ("C", column path) | ("R", output key)
        self._sym_index: dict = {}
        self.globals: dict[str, Any] = dict(_HELPERS)
        self._consts: dict = {}
        self._tmp = 0
        self.hoisted = 0

    # ------------------------------------------------------------------ names and rendering
    def _sym(self, kind: str, name: str) -> str:
        i = self._sym_index.get((kind, name))
        if i is None:
            i = self._sym_index[(kind, name)] = len(self.syms)
            self.syms.append((kind, name))
        return f"\x01{kind}{i}\x02"

    def _const_code(self, v: Any) -> str:
        if v is None or v is True or v is False or (type(v) in (int, str)):
            return repr(v)
        # by type and repr: 1, 1.0 and Fraction(1) are equal keys but not the same literal
        k = (type(v), repr(v)) if _hashable(v) else id(v)
        name = self._consts.get(k)
        if name is None:
            name = self._consts[k] = f"_k{len(self._consts)}"
            self.globals[name] = v
        return name

    def _t(self) -> str:
        self._tmp += 1
        return f"_t{self._tmp}"

    def render(self, code: str) -> str:
        """`code` read alone from a row `e`: columns as `e.get(path)`, outputs as `e[key]`
        (row_function reads them from locals instead)."""
        syms = self.syms

        def one(m):
            kind, name = syms[int(m.group(2))]
            return f"e.get({name!r})" if kind == "C" else f"e[{name!r}]"
        return _MARK.sub(one, code)

    def lambda_of(self, s: Src):
        return eval(f"lambda e: {self.render(s.code)}", self.globals)  # noqa: S307 (our own source)

    # ------------------------------------------------------------------ building expressions
    def _s(self, x) -> Src:
        return x if isinstance(x, Src) else self.lit(x)

    def _mk(self, code: str, parts: Sequence[Src]) -> Src:
        deps = frozenset().union(*(p.deps for p in parts)) if parts else frozenset()
        depth = 1 + max((p.depth for p in parts), default=0)
        s = Src(self, code, deps, depth=depth)
        if depth > _MAX_DEPTH and self.binder is not None:
            # Python's parser refuses deeply nested expressions: give this one an output of its own
            self.hoisted += 1
            return self.binder(f"~expr{self.hoisted}", s)
        return s

    def _hold(self, x: Src) -> tuple[str, str]:
        """(the code that evaluates x once, the name to read its value by afterwards)."""
        if x.simple:
            return x.code, x.code
        t = self._t()
        return f"({t} := {x.code})", t

    def share(self, key: str, x):
        return self.binder(key, x) if self.binder is not None else x

    def col(self, path: str, kind: str = ""):
        return Src(self, self._sym("C", path), simple=True, ref=True)

    def ref(self, key: str):
        return Src(self, self._sym("R", key), frozenset((key,)), simple=True, ref=True)

    @staticmethod
    def is_column(x) -> bool:
        return not isinstance(x, Src) or x.ref or x.const

    def lit(self, v: Any, kind: str = ""):
        return Src(self, self._const_code(v), simple=True, const=True, value=v)

    def _none_unless(self, xs: Sequence[Src], then: Callable[..., str]) -> Src:
        """`then(names)` unless one of xs (evaluated in order, stopping at the first) is None.
        Literals are not tested (`3 is None` is a SyntaxWarning): a None literal makes it None."""
        if any(x.const and x.value is None for x in xs):
            return self.lit(None)
        holds = [self._hold(x) for x in xs]
        test = " or ".join(f"{h} is None" for (h, _), x in zip(holds, xs) if not x.const)
        code = then(*(n for _, n in holds))
        return self._mk(f"(None if {test} else {code})" if test else f"({code})", xs)

    def _bin(self, a, b, op: str):
        a, b = self._s(a), self._s(b)
        if b.const and b.value is None:
            return self.lit(None)
        if b.const:
            return self._none_unless([a], lambda x: f"{x} {op} {b.code}")
        return self._none_unless([a, b], lambda x, y: f"{x} {op} {y}")

    def add(self, a, b):
        return self._bin(a, b, "+")

    def sub(self, a, b):
        return self._bin(a, b, "-")

    def mul(self, a, b):
        return self._bin(a, b, "*")

    def wide(self, a):
        return a

    def cmp(self, a, op: str, b):
        return self._bin(a, b, _CMP[op])

    def isin(self, a, values: Sequence[Any]):
        vals = self._const_code(tuple(values))
        return self._none_unless([self._s(a)], lambda x: f"{x} in {vals}")

    def code_of(self, a, keys: Sequence[Any]):
        index = self._const_code({k: i for i, k in enumerate(keys)})  # a dict: a global of its own
        return self._none_unless([self._s(a)], lambda x: f"{index}.get({x})")

    def take(self, values: Sequence[Any], code):
        vals = self._const_code(tuple(values))
        return self._none_unless([self._s(code)], lambda c: f"{vals}[{c}]")

    def count_true(self, xs):
        return self.sum_(xs)  # booleans add as 0/1; a null makes the count null

    def min_known(self, xs):
        fs = [self._s(x) for x in xs]
        return self._mk(f"_minknown(({''.join(f.code + ', ' for f in fs)}))", fs)

    def _kleene(self, xs, decisive: bool):
        """AND (decisive False) or OR (decisive True) in three-valued logic, short-circuiting:
        the first operand that `is` decisive decides; else None if one is None; else not decisive."""
        fs = [self._s(x) for x in xs]
        if len(fs) == 1:
            return fs[0]
        consts = [f.value for f in fs if f.const]
        if any(v is decisive for v in consts):
            return self.lit(decisive)
        if consts:  # the rest decide; a None literal leaves at best None (`3 is None` would warn)
            others = [f for f in fs if not f.const]
            rest = self._kleene(others, decisive) if others else self.lit(not decisive)
            if not any(v is None for v in consts):
                return rest
            if rest.const:
                return self.lit(None)
            h, _ = self._hold(rest)
            return self._mk(f"({decisive!r} if {h} is {decisive!r} else None)", [rest])
        holds = [self._hold(f) for f in fs]
        d = repr(decisive)
        first = " or ".join(f"{h} is {d}" for h, _ in holds)
        unknown = " or ".join(f"{n} is None" for _, n in holds)
        return self._mk(f"({d} if {first} else (None if {unknown} else {not decisive!r}))", fs)

    def and_(self, xs):
        return self._kleene(xs, False)

    def or_(self, xs):
        return self._kleene(xs, True)

    def not_(self, x):
        return self._none_unless([self._s(x)], lambda v: f"(not {v})")

    def is_true(self, x):
        x = self._s(x)
        return self.lit(x.value is True) if x.const else self._mk(f"({x.code} is True)", [x])

    def is_null(self, x):
        x = self._s(x)
        return self.lit(x.value is None) if x.const else self._mk(f"({x.code} is None)", [x])

    def fill_null(self, x, v):
        x, v = self._s(x), self._s(v)
        if x.const:
            return v if x.value is None else x
        h, n = self._hold(x)
        return self._mk(f"({v.code} if {h} is None else {n})", [x, v])

    def if_(self, cond, then, otherwise):
        c, t, o = self._s(cond), self._s(then), self._s(otherwise)
        return self._mk(f"({t.code} if {c.code} else {o.code})", [c, t, o])

    def first(self, conds, values, default):
        cs, vs, d = [self._s(c) for c in conds], [self._s(v) for v in values], self._s(default)
        code = d.code
        for c, v in reversed(list(zip(cs, vs))):
            code = f"({v.code} if {c.code} else {code})"
        return self._mk(code, cs + vs + [d])

    def pick(self, gate, conds, labels):
        g, inner = self._s(gate), self.first(conds, labels, None)
        return self._mk(f"({inner.code} if {g.code} else None)", [g, inner])

    def sum_(self, xs):
        fs = [self._s(x) for x in xs]
        if not fs:
            return self.lit(0)
        return self._none_unless(fs, lambda *ns: "(0 + " + " + ".join(ns) + ")")

    def max_(self, xs):
        fs = [self._s(x) for x in xs]
        return self._none_unless(fs, lambda *ns: "max((" + "".join(n + ", " for n in ns) + "))")

    def to_float(self, a, scale: float = 1.0):
        sc = self._const_code(scale)
        return self._none_unless([self._s(a)], lambda v: f"float({v}) / {sc}")

    def div_float(self, a, b):
        a, b = self._s(a), self._s(b)
        if b.const and b.value is not None and b.value != 0:
            return self._none_unless([a], lambda x: f"float({x}) / {self._const_code(float(b.value))}")
        return self._none_unless([a, b], lambda x, y: f"(None if {y} == 0 else float({x}) / float({y}))")

    def sqrt_float(self, a):
        return self._none_unless([self._s(a)], lambda x: f"(None if {x} < 0 else {x} ** 0.5)")

    def sub_float(self, a, b):
        return self._bin(a, b, "-")

    def year_of(self, d):
        return self._none_unless([self._s(d)], lambda v: f"{v}.year")

    def is_jan1(self, d):
        return self._none_unless([self._s(d)], lambda v: f"({v}.month == 1 and {v}.day == 1)")

    def full_years_to_jan1(self, d, year: int):
        return self._none_unless([self._s(d)], lambda v: f"max(0, {int(year)} - {v}.year - "
                                                         f"(0 if ({v}.month, {v}.day) == (1, 1) else 1))")

    # lists of records: a predicate is a lambda over the item (`_it`)
    def _el(self, field: str):
        return Src(self, f"_it.get({field!r})", simple=True)

    def list_any(self, path: str, pred):
        p, items = self._s(pred(self._el)), self.col(path)
        return self._mk(f"_listany({items.code}, lambda _it: {p.code})", [items, p])

    def list_sum(self, path: str, value_field: str, pred):
        p, items = self._s(pred(self._el)), self.col(path)
        return self._mk(f"_listsum({items.code}, {value_field!r}, lambda _it: {p.code})", [items, p])


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def row_function(ops: RowOps, values: dict[str, Src], keys: Sequence[str] | None = None):
    """One Python function `f(row) -> {**row, output: value}` computing `keys` (default: every
    output of `values`, in their dependency order) with what they read."""
    keys = list(values) if keys is None else list(keys)
    cols: dict[str, str] = {}
    outs: dict[str, str] = {}
    syms = ops.syms

    def one(m):  # a column: a local read once at the top; an output: its local, else the row's
        kind, name = syms[int(m.group(2))]
        if kind == "C":
            n = cols.get(name)
            if n is None:
                n = cols[name] = f"_c{len(cols)}"
            return n
        return outs.get(name) or f"e[{name!r}]"

    body = []
    for i, k in enumerate(keys):
        body.append(f"    _o{i} = {_MARK.sub(one, values[k].code)}")
        outs[k] = f"_o{i}"
    head = ["def _row(e):", "    _g = e.get"] + [f"    {n} = _g({p!r})" for p, n in cols.items()]
    # the result: a copy of a dict holding the output keys already (a copy is one block copy;
    # inserting ~270 new keys one by one costs more than computing them), the row, the outputs
    ret = ["    o = _T.copy()", "    o.update(e)"] + [f"    o[{k!r}] = _o{i}" for i, k in enumerate(keys)] + ["    return o"]
    src = "\n".join(head + body + ret) + "\n"
    ns = dict(ops.globals)
    ns["_T"] = dict.fromkeys(keys)
    exec(_code(src), ns)  # noqa: S102 (source generated from our rule packs)
    f = ns["_row"]
    f.source = src
    return f


CODE_CACHE_MIN = 4_096  # characters of source below which compiling (< 1 ms) beats reading a file
CODE_CACHE_FILES = 256  # compiled functions kept on disk; the oldest go first


def _code(src: str):
    """The code object of `src`, from the disk cache beside the rules cache when there (compiling
    a date's function takes ~13 ms, a one-firm `srdi assess` starts in ~0.3 s): keyed by the
    source text and the interpreter's bytecode version, at most CODE_CACHE_FILES files.
    SRDI_NO_CACHE=1 turns it off."""
    import hashlib
    import importlib.util
    import marshal
    import os
    import tempfile

    from .packs import _cache_path, prune_cache

    if os.environ.get("SRDI_NO_CACHE") == "1" or len(src) < CODE_CACHE_MIN:
        return compile(src, "<srdi rules>", "exec")
    key = hashlib.sha1(importlib.util.MAGIC_NUMBER + src.encode()).hexdigest()[:24]
    path = _cache_path().parent / "code" / f"{key}.bin"
    try:
        return marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass  # not cached yet, or unreadable: compiled and written again
    code = compile(src, "<srdi rules>", "exec")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(marshal.dumps(code))
        os.replace(tmp, path)
        prune_cache(path.parent, "*.bin", CODE_CACHE_FILES)
    except OSError:
        pass  # a read-only home: no cache, just slower starts
    return code


def needed(values: dict[str, Src], wanted: Sequence[str]) -> tuple[str, ...]:
    """`wanted` with every output they read, in the order of `values` (dependency order)."""
    from .blocks import closure

    need = closure(wanted, lambda k: values[k].deps)
    return tuple(k for k in values if k in need)
