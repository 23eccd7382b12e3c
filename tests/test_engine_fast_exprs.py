"""The faster Polars expressions (Enum codes, string labels by index, one-pass list predicates,
null-divisor floats) give what the one-row closures give, including nulls and unknown values."""
import polars as pl

from srdi.engine.ops import PolarsOps
from srdi.engine.rowcode import RowOps


def _both(build, rows: dict):
    """Evaluate build(ops, col) with both backends over the columns in `rows`."""
    df = pl.DataFrame(rows)
    po, co = PolarsOps(), RowOps()
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


def test_list_any_kleene_mixed_items():
    """The list code is read once (true, unknown, false and null lists through one gather)."""
    t = pl.List(pl.Struct({"k": pl.Int64}))
    rows = {"l": pl.Series([[{"k": None}, {"k": 9}], [{"k": 0}, {"k": None}], [{"k": 9}, {"k": 0}],
                            [{"k": 0}, {"k": 1}], [{"k": None}, {"k": None}], None, []], dtype=t)}

    def build(o, c):
        return o.list_any("l", lambda el: o.cmp(el("k"), ">=", o.lit(5)))

    got, want = _both(build, rows)
    assert got == want == [True, None, True, False, None, None, False]
    df = pl.DataFrame(rows).select(PolarsOps().list_any("l", lambda el: pl.element().struct.field("k") >= 5))
    assert df.dtypes == [pl.Boolean]


def test_take_string_labels():
    rows = {"c": [0, 3, None, 1, 2]}
    got, want = _both(lambda o, c: o.take(["micro", "small", "medium", "large"], c("c")), rows)
    assert got == want == ["micro", "large", None, "small", "medium"]
    df = pl.DataFrame(rows).select(PolarsOps().take(["a", "b", "c", "d"], pl.col("c")))
    assert df.dtypes == [pl.String]


def _table_vs_rows(as_of, cols: dict, suffixes):
    """evaluate_table over `cols` against the one-row closures, for the outputs ending with `suffixes`."""
    from srdi.engine.assess import compile_row, evaluate_table, run_row

    df = pl.DataFrame(cols)
    out = evaluate_table(df, as_of, keys=tuple(suffixes))
    c = compile_row(as_of, "application")
    for i, row in enumerate(df.iter_rows(named=True)):
        e = run_row(c, row)
        for k in out.columns:
            assert out[k][i] == e[k], (k, i, row)
    return out


def test_growth_mean_zero_band_near_threshold():
    """The growth mean's last band (>= 0%) compares num with 0 directly (den present): exactly 0,
    one fen either side, huge (128-bit) products, missing or zero denominators."""
    import datetime as dt

    as_of = dt.date(2025, 6, 1)
    big = 9_000_000_000_000_000  # ~9e15 fen: products ~1e32
    # a, b, c = revenue of 2024, 2023, 2022 (fen); mean growth ((a-b)c + (b-c)b) / (2bc)
    rows = [(100, 100, 100), (101, 100, 100), (99, 100, 100), (100, 101, 100), (10_000, 9_999, 10_000),
            (big, big, big), (big + 1, big, big), (big - 1, big, big), (big, big - 1, big),
            (100, None, 100), (100, 0, 100), (100, 100, 0), (None, 100, 100), (-5, 100, 100),
            (0, 0, 0), (110, 100, 100), (109, 100, 100), (108, 100, 100)]
    cols = {f"financials.{y}.main_business_revenue": [r[i] for r in rows] for i, y in enumerate((2024, 2023, 2022))}
    out = _table_vs_rows(as_of, cols, ("main_growth_2y#lo", "main_growth_2y#hi", "main_growth_avg_2y[2024]#num"))
    lo = out[next(k for k in out.columns if k.endswith("main_growth_2y#lo"))].to_list()
    assert lo[0] > 0 and lo[1] > 0 and lo[2] == 0  # exactly 0% scores; one fen below does not
    assert lo[5] > 0 and lo[6] > 0 and lo[7] == 0
    assert lo[9] == lo[10] == lo[11] == lo[12] == 0


def test_equity_obs_reads_sum_column():
    """qualified_equity's display value is read from its sum column (not a second list pass) and
    equals the closures', including unknown items."""
    import datetime as dt

    from srdi.engine.assess import compile_table

    as_of = dt.date(2025, 6, 1)
    c = compile_table(as_of, "application")
    obs = [k for k in c.values if k.startswith("m:qualified_equity") and k.endswith("#obs")]
    assert obs
    for k in obs:
        assert [n for n in c.values[k].meta.root_names() if not n.startswith("#scale:")] == [k.replace("#obs", "#num")]
    t = pl.List(pl.Struct({"date": pl.Date, "amount": pl.Int64, "qualified_investor": pl.Boolean}))
    d = dt.date(2024, 3, 1)
    items = [[{"date": d, "amount": 500, "qualified_investor": True}],
             [{"date": d, "amount": None, "qualified_investor": True}],
             [{"date": d, "amount": 7, "qualified_investor": None}, {"date": d, "amount": 5, "qualified_investor": True}],
             [], None, [{"date": dt.date(2019, 1, 1), "amount": 9, "qualified_investor": True}]]
    _table_vs_rows(as_of, {"equity_financing": pl.Series(items, dtype=t)}, tuple(obs) + tuple(k.replace("#obs", "#num") for k in obs))
