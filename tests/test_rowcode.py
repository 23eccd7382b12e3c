"""The one-firm backend generates Python source (engine.rowcode): its functions give what the
Polars backend gives for every output, and its expressions keep Kleene logic, short-circuits and
literals exact however they are shared and nested."""
import datetime as dt
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import synthetic_engine_rows
from srdi.engine.assess import compile_row, compile_table, evaluate_table, input_columns, run_row
from srdi.engine.frame import profile_row, rows_to_frame
from srdi.engine.rowcode import RowOps, needed, row_function


@pytest.fixture(scope="module")
def synthetic_rows(tmp_path_factory):
    return synthetic_engine_rows(tmp_path_factory.mktemp("rowcode"), 600, 23)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("d", [dt.date(2025, 6, 1), dt.date(2026, 6, 1), dt.date(2027, 3, 1)])
@pytest.mark.parametrize("mode", ["application", "review"])
def test_generated_function_equals_polars_on_every_output(synthetic_rows, d, mode):
    """Every output of every row (600 synthetic firms, inputs missing in some) is the same, value
    and type, from the generated function and from the Polars expressions of the same blocks,
    display floats included (money in yuan, shares in percent: divided by a column of the scale,
    as Polars would otherwise multiply by 1/10^4, one unit in the last place off)."""
    c, t = compile_row(d, mode), compile_table(d, mode)
    assert list(c.values) == [k for k in t.values if k in c.values]
    df = rows_to_frame(synthetic_rows, input_columns(t), t.ctx.local_kinds)
    table = evaluate_table(df, d, mode).to_dicts()
    n = 0
    for row, want in zip(synthetic_rows, table):
        got = run_row(c, row)
        for k in c.values:
            assert _same(got[k], want[k]), (k, got[k], want[k])
            n += 1
        assert all(got[k] is row[k] for k in row)  # the row's own values come back unchanged
    assert n > 600 * 250


def test_a_subset_function_equals_the_whole_row(synthetic_rows):
    """run_row with keys computes exactly those outputs (and what they read) as the whole does."""
    d = dt.date(2026, 6, 1)
    c = compile_row(d, "application")
    for last in ("srdi_sme#ok", "tech_innovative_sme#route"):
        keys = needed(c.values, [last])
        assert last in keys and len(keys) < len(c.values)
        for row in synthetic_rows[:100]:
            part, whole = run_row(c, row, keys), run_row(c, row)
            assert all(_same(part[k], whole[k]) for k in keys)
            assert not (set(part) - set(keys) - set(row))


# ------------------------------------------------------------------ Kleene logic, by reference
def _and(vs):
    return False if any(v is False for v in vs) else (None if any(v is None for v in vs) else True)


def _or(vs):
    return True if any(v is True for v in vs) else (None if any(v is None for v in vs) else False)


tri = st.sampled_from([True, False, None])


@st.composite
def trees(draw, depth=4):
    """A random boolean expression over columns a..d: (ops builder, reference function)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from("abcd"))
        return (lambda o, shared: o.col(name)), (lambda r: r.get(name))
    kind = draw(st.sampled_from(["and", "or", "not", "fill", "first", "shared"]))
    if kind == "not":
        b, f = draw(trees(depth - 1))
        return (lambda o, s: o.not_(b(o, s))), (lambda r: None if f(r) is None else not f(r))
    if kind == "fill":
        b, f = draw(trees(depth - 1))
        v = draw(st.booleans())
        return (lambda o, s: o.fill_null(b(o, s), o.lit(v))), (lambda r: v if f(r) is None else f(r))
    if kind == "shared":  # one expression object used twice (its temporaries are reused)
        b, f = draw(trees(depth - 1))

        def build(o, s):
            x = b(o, s)
            return o.and_([x, o.or_([x, o.col("a")])])
        return build, (lambda r: _and([f(r), _or([f(r), r.get("a")])]))
    if kind == "first":
        (b1, f1), (b2, f2) = draw(trees(depth - 1)), draw(trees(depth - 1))
        return ((lambda o, s: o.first([o.is_true(b1(o, s))], [b2(o, s)], o.lit(None))),
                (lambda r: f2(r) if f1(r) is True else None))
    parts = draw(st.lists(trees(depth - 1), min_size=1, max_size=4))
    op = o_and = kind == "and"

    def build(o, s):
        xs = [b(o, s) for b, _ in parts]
        return o.and_(xs) if o_and else o.or_(xs)
    ref = _and if op else _or
    return build, (lambda r: ref([f(r) for _, f in parts]) if len(parts) > 1 else parts[0][1](r))


@settings(max_examples=200, deadline=None)
@given(tree=trees(), rows=st.lists(st.fixed_dictionaries({k: tri for k in "abcd"}), min_size=1, max_size=8),
       bind=st.booleans())
def test_kleene_expressions_match_the_reference(tree, rows, bind):
    """Random and / or / not / fill_null / first trees, with subexpressions shared, evaluated
    alone (Src(row)) and inside a generated function (bound as an output, read by another)."""
    build, ref = tree
    o = RowOps()
    out: dict = {}

    def binder(key, x):
        out[key] = x
        return o.ref(key)
    o.binder = binder
    x = build(o, None)
    if bind:
        x = o.share("x", x)
    out["y"] = o.or_([x, o.lit(False)])  # reads x (an output when bound)
    f = row_function(o, out)
    for r in rows:
        want = ref(r)
        assert f(r)["y"] is _or([want, False])
        if not bind:
            assert x(r) is want


def test_literals_keep_their_types_and_deep_expressions_compile():
    """1, 1.0 and Fraction(1) are equal but stay three literals; a chain deeper than Python's
    parser takes is split into outputs of its own and still computes the same."""
    o = RowOps()
    out: dict = {}
    o.binder = lambda k, x: out.__setitem__(k, x) or o.ref(k)
    code = o.col("c")
    out["i"], out["f"], out["q"] = (o.take(vals, code) for vals in ([1, 2], [1.0, 2.0], [Fraction(1), 2]))
    s = o.col("n")
    for _ in range(150):
        s = o.add(s, o.lit(1))
    out["deep"] = s
    f = row_function(o, out)
    r = f({"c": 0, "n": 5})
    assert [type(r[k]) for k in "ifq"] == [int, float, Fraction]
    assert r["deep"] == 155 and f({"c": None, "n": None})["deep"] is None
    assert o.hoisted >= 2 and any(k.startswith("~expr") for k in out)


# ------------------------------------------------------------------ each op, against Polars
_OPS = {
    "count_true one": (lambda o, c: o.count_true([c("p")]), {"p": "bool"}),
    "count_true two": (lambda o, c: o.count_true([c("p"), c("q")]), {"p": "bool", "q": "bool"}),
    "sum": (lambda o, c: o.sum_([c("x"), c("y"), o.lit(3)]), {"x": "int", "y": "int"}),
    "max": (lambda o, c: o.max_([c("x"), c("y")]), {"x": "int", "y": "int"}),
    "min_known": (lambda o, c: o.min_known([c("x"), c("y")]), {"x": "int", "y": "int"}),
    "div_float": (lambda o, c: o.div_float(c("x"), c("y")), {"x": "int", "y": "int"}),
    "cmp": (lambda o, c: o.cmp(o.mul(c("x"), o.lit(3)), ">=", o.sub(c("y"), o.lit(2))), {"x": "int", "y": "int"}),
    "isin": (lambda o, c: o.isin(c("x"), [0, 2, 5]), {"x": "int"}),
    "take": (lambda o, c: o.take(["a", "b", "c"], o.code_of(c("s"), ["u", "v", "w"])), {"s": "str"}),
    "dates": (lambda o, c: o.sum_([o.full_years_to_jan1(c("d"), 2025), o.year_of(c("d")),
                                   o.count_true([o.is_jan1(c("d"))])]), {"d": "date"}),
    "if_fill": (lambda o, c: o.if_(o.is_true(c("p")), o.fill_null(c("x"), o.lit(7)), o.lit(-1)), {"p": "bool", "x": "int"}),
}
_VALUES = {"bool": st.one_of(st.none(), st.booleans()), "int": st.one_of(st.none(), st.integers(-3, 6)),
           "str": st.sampled_from([None, "u", "v", "w", "z"]),
           "date": st.one_of(st.none(), st.dates(dt.date(2018, 1, 1), dt.date(2024, 12, 31)))}


@pytest.mark.parametrize("name", list(_OPS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_each_op_equals_polars(name, data):
    """Values and types of each op, alone and in a generated function, equal the Polars backend's
    (nulls included): e.g. a count of one boolean is an int, not the boolean."""
    import polars as pl

    from srdi.engine.ops import PolarsOps

    build, kinds = _OPS[name]
    rows = data.draw(st.lists(st.fixed_dictionaries({k: _VALUES[v] for k, v in kinds.items()}), min_size=1, max_size=6))
    schema = {"bool": pl.Boolean, "int": pl.Int64, "str": pl.Utf8, "date": pl.Date}
    df = pl.DataFrame(rows, schema={k: schema[v] for k, v in kinds.items()})
    po = PolarsOps()
    want = df.select(build(po, po.col).alias("x"))["x"].to_list()
    o = RowOps()
    x = build(o, o.col)
    f = row_function(o, {"x": x})
    for r, w in zip(rows, want):
        assert _same(x(r), w) and _same(f(r)["x"], w), (r, x(r), w)


@pytest.mark.parametrize("lits", [[None], [True], [False], [3], [None, False], [True, None], [None, 3]])
@pytest.mark.parametrize("row", [{"p": True}, {"p": False}, {"p": None}])
def test_kleene_with_literal_operands(lits, row):
    """Literal operands are folded when the expression is built; the value is the reference's
    (only `is` decides: a 3 is neither false for AND nor true for OR)."""
    o = RowOps()
    for build, ref, neutral in ((o.and_, _and, True), (o.or_, _or, False)):
        x = build([o.col("p")] + [o.lit(v) for v in lits])
        want = ref([row["p"]] + [v if v is None or isinstance(v, bool) else neutral for v in lits])
        assert x(row) is want and row_function(o, {"x": x})(row)["x"] is want


def test_code_cache_is_used_rewritten_when_corrupt_and_optional(tmp_path, monkeypatch):
    """Compiled functions are cached on disk by their source: a second process-level generation
    reads the file; a corrupt file is compiled and written again; SRDI_NO_CACHE=1 writes none."""
    import builtins

    from srdi.engine import rowcode

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SRDI_NO_CACHE", raising=False)
    monkeypatch.setattr(rowcode, "CODE_CACHE_MIN", 0)  # these functions are small
    compiled = []
    real_compile = builtins.compile
    monkeypatch.setattr(rowcode, "compile", lambda *a: compiled.append(1) or real_compile(*a), raising=False)

    def make(tag: str):
        o = RowOps()
        return row_function(o, {"x": o.add(o.col(tag), o.lit(1))})

    assert make("a")({"a": 1})["x"] == 2 and len(compiled) == 1
    files = list(tmp_path.rglob("*.bin"))
    assert len(files) == 1
    assert make("a")({"a": 2})["x"] == 3 and len(compiled) == 1  # read from the file
    files[0].write_bytes(b"\x00garbage")
    assert make("a")({"a": 3})["x"] == 4 and len(compiled) == 2
    assert make("a")({"a": 4})["x"] == 5 and len(compiled) == 2  # the rewritten file is good
    monkeypatch.setenv("SRDI_NO_CACHE", "1")
    assert make("b")({"b": 1})["x"] == 2 and len(list(tmp_path.rglob("*.bin"))) == 1


def test_code_cache_keeps_the_newest_files_and_skips_small_functions(tmp_path, monkeypatch):
    """At most CODE_CACHE_FILES compiled functions stay on disk (the newest); a function whose
    source is shorter than CODE_CACHE_MIN is compiled each time, not written."""
    import os

    from srdi.engine import rowcode

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SRDI_NO_CACHE", raising=False)

    def make(tag: str):
        o = RowOps()
        return row_function(o, {"x": o.add(o.col(tag), o.lit(1))})

    make("small")
    assert not list(tmp_path.rglob("*.bin"))
    monkeypatch.setattr(rowcode, "CODE_CACHE_MIN", 0)
    monkeypatch.setattr(rowcode, "CODE_CACHE_FILES", 3)
    paths = []
    for i, tag in enumerate("abcde"):
        f = make(tag)
        (p,) = [q for q in tmp_path.rglob("*.bin") if q not in paths]  # the file just written
        os.utime(p, ns=(10**18 + i * 10**9,) * 2)  # a later time for each, whatever the clock's resolution
        paths.append(p)
        assert f({tag: 1})["x"] == 2
    assert sorted(tmp_path.rglob("*.bin")) == sorted(paths[2:])  # the three newest


def test_parsed_rules_caches_keep_the_newest(tmp_path, monkeypatch):
    """Each edit of the rule files makes a new parsed-rules cache: writing one keeps only the
    RULES_CACHES newest (the one just written among them)."""
    import os

    from srdi.engine import packs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SRDI_NO_CACHE", raising=False)
    folder = tmp_path / "srdi"
    folder.mkdir()
    for i in range(6):  # caches of earlier rule files, oldest first
        f = folder / f"rules-old{i}.pickle"
        f.write_bytes(b"x")
        os.utime(f, ns=(10**18 + i * 10**9,) * 2)
    packs._store()["__dirty__"] = True
    packs.save_cache()
    left = sorted(p.name for p in folder.glob("rules-*.pickle"))
    assert len(left) == packs.RULES_CACHES
    assert packs._cache_path().name in left and "rules-old5.pickle" in left and "rules-old0.pickle" not in left
