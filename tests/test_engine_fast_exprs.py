"""The faster Polars expressions (Enum codes, string labels by index, one-pass list predicates,
null-divisor floats) give what the one-row closures give, including nulls and unknown values."""
import polars as pl

from srdi.engine.ops import ClosureOps, PolarsOps


def _both(build, rows: dict):
    """Evaluate build(ops, col) with both backends over the columns in `rows`."""
    df = pl.DataFrame(rows)
    po, co = PolarsOps(), ClosureOps()
    got = df.select(build(po, po.col).alias("x"))["x"].to_list()
    f = build(co, co.col)
    want = [f(dict(r)) for r in df.iter_rows(named=True)]
    return got, want


def test_code_of_strings_unknown_and_null():
    rows = {"a": ["b", "zz", None, "a", "", "c"]}
    got, want = _both(lambda o, c: o.code_of(c("a"), ["a", "b", "c"]), rows)
    assert got == want == [1, None, None, 0, None, 2]
    df = pl.DataFrame(rows).select(PolarsOps().code_of(pl.col("a"), ["a", "b", "c"]))
    assert df.dtypes == [pl.UInt32]


def test_first_string_labels():
    rows = {"v": [0, 1, 2, None, 7]}

    def build(o, c):
        return o.first([o.is_true(o.cmp(c("v"), "==", o.lit(i))) for i in range(3)], ["x", "y", "z"], None)

    got, want = _both(build, rows)
    assert got == want == ["x", "y", "z", None, None]


def test_list_any_kleene():
    t = pl.List(pl.Struct({"k": pl.Int64}))
    rows = {"l": pl.Series([[{"k": 1}], [{"k": None}], [{"k": None}, {"k": 5}], [], None, [{"k": 0}]], dtype=t)}

    def build(o, c):
        return o.list_any("l", lambda el: o.cmp(el("k"), ">=", o.lit(5)))

    got, want = _both(build, rows)
    assert got == want == [False, None, True, False, None, False]


def test_div_float_zero_and_null():
    rows = {"a": [1, 2, None, 0, -3], "b": [2, 0, 1, 0, None]}
    got, want = _both(lambda o, c: o.div_float(c("a"), c("b")), rows)
    assert got == want == [0.5, None, None, None, None]


def test_isin_keeps_missing_as_null():
    rows = {"a": ["x", None, "y", "z"]}
    got, want = _both(lambda o, c: o.isin(c("a"), ["x", "y"]), rows)
    assert got == want == [True, None, True, False]


def test_bands_guard_hoisted_matches_closures():
    """Ratio bands test the shared guard (den > 0, num present) once; zero, negative and
    missing denominators and numerators give the default band, as with the closures."""
    import datetime as dt

    from srdi.engine.assess import compile_table, evaluate_table

    as_of = dt.date(2025, 6, 1)
    c = compile_table(as_of, "application")
    key = next(k for k in c.values if k.endswith("refinement.net_margin#lo"))
    num = [None, 10, 0, 10, -5, 10, 1, 200_000]
    den = [100, None, 0, -100, 100, 100, 1, 10_000_000]
    df = pl.DataFrame({"financials.2024.net_profit": num, "financials.2024.operating_revenue": den})
    out = evaluate_table(df, as_of, keys=(key, key.replace("#lo", "#hi")))
    lo, hi = out[key].to_list(), out[key.replace("#lo", "#hi")].to_list()
    assert lo[:5] == [0, 0, 0, 0, 0]
    assert hi[0] == hi[1] == max(hi) and hi[2:5] == [0, 0, 0]
    assert lo[5] == lo[6] == max(hi) and lo[7] == 20000  # 10%: best band; 2%: the last
