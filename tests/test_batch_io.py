"""Batch input: exact money conversion, header mapping, list columns, bad cells."""
import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from srdi.batch import io

AS_OF = dt.date(2025, 6, 1)


def _convert(cols: dict, mapping=None):
    raw = pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in cols.items()})
    raw = raw.with_columns(pl.int_range(1, raw.height + 1, dtype=pl.Int64).alias("row"))
    specs, unmatched = io.resolve_columns([c for c in cols], AS_OF, io.load_mapping(mapping))
    return io.convert_chunk(raw, specs), unmatched


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2, allow_nan=False, allow_infinity=False))
def test_yuan_text_to_fen_is_exact(d):
    conv, _ = _convert({"financials.2024.rd_expense": [str(d)]})
    assert conv.frame["financials.2024.rd_expense"][0] == int(d * 100)
    assert conv.errors.height == 0


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=6, allow_nan=False, allow_infinity=False))
def test_wan_text_to_fen_is_exact(d):
    conv, _ = _convert({"2024年研发费用（万元）": [format(d, "f")]})
    assert conv.frame["financials.2024.rd_expense"][0] == int(d * 1_000_000)


def test_bad_money_cells_are_reported_and_left_missing():
    vals = ["12.345", "abc", "1e5", "", "1,234.50", "-", " 7 ", "12.3400"]
    conv, _ = _convert({"financials.2024.operating_revenue": vals})
    got = conv.frame["financials.2024.operating_revenue"].to_list()
    assert got == [None, None, None, None, 123450, None, 700, 1234]
    assert conv.errors["row"].to_list() == [1, 2, 3]
    assert set(conv.errors["field"]) == {"financials.2024.operating_revenue"}
    assert conv.errors["value"].to_list() == ["12.345", "abc", "1e5"]


def test_default_chinese_headers_and_prior_year():
    conv, unmatched = _convert({"企业名称": ["甲"], "营业收入（万元）": ["8200"], "2023年研发费用（万元）": ["0.01"],
                                "所在省份": ["浙江省"], "行业代码": ["c3484"], "研发机构级别": ["省级"],
                                "高新技术企业有效期至": ["2026/11/30"], "高新技术企业有效期起": ["2023-12-01"],
                                "细分市场占有率（%）": ["12.5%"], "数字化水平等级": ["3"], "自主品牌": ["是"],
                                "something else": ["x"]})
    r = conv.frame.to_dicts()[0]
    assert r["financials.2024.operating_revenue"] == 8200 * 1_000_000  # 万元 -> fen
    assert r["financials.2023.rd_expense"] == 10_000  # 0.01 万元 = 100 元
    assert r["province"] == "330000" and r["industry"] == "C3484" and r["size_industry"] == "industry"
    assert r["rd_institution"] == "provincial" and r["market_share_pct"] == 125_000
    assert r["quality.own_brand"] is True and r["digital_level"] == 3
    assert r["titles"] == [{"type": "high_tech_enterprise", "valid_from": dt.date(2023, 12, 1), "valid_until": dt.date(2026, 11, 30)}]
    assert unmatched == ["something else"]
    assert conv.errors.height == 0


def test_mapping_file_and_indexed_and_json_lists(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("Revenue: {path: financials.2024.operating_revenue, unit: 万元}\nRD: financials.2024.rd_expense\n", encoding="utf-8")
    conv, _ = _convert({
        "Revenue": ["1.5", "2"], "RD": ["100.10", "x"],
        "equity_financing.0.date": ["2024-06-30", ""], "equity_financing.0.amount": ["25000000", ""],
        "equity_financing.0.qualified_investor": ["true", ""],
        "equity_financing.1.date": ["2023-01-05", "2023-02-01"], "股权融资2金额（万元）": ["100", "50"],
        "awards": ['[{"level": "provincial", "year": 2024, "rank": 2}]', "not json"],
    }, mapping=str(m))
    rows = conv.frame.to_dicts()
    assert rows[0]["financials.2024.operating_revenue"] == 1_500_000  # 1.5 万元 = 15,000 元
    assert rows[0]["financials.2024.rd_expense"] == 10010
    assert [e["amount"] for e in rows[0]["equity_financing"]] == [2_500_000_000, 100_000_000]
    assert rows[1]["equity_financing"] == [{"date": dt.date(2023, 2, 1), "amount": 50_000_000, "qualified_investor": None}]
    assert rows[0]["awards"] == [{"level": "provincial", "year": 2024, "rank": 2}]
    assert rows[1]["awards"] is None
    assert sorted(zip(conv.errors["row"], conv.errors["field"])) == [(2, "RD"), (2, "awards")]


def test_bad_mapping_is_a_clear_error(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("A: not_a_field\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a contract path"):
        io.resolve_columns(["A"], AS_OF, io.load_mapping(str(m)))


def test_uscc_check_digit_vectorised():
    from srdi.profile.uscc import uscc_problem

    vals = ["91330106MA27Y0XW4P", "91330106MA27Y0XW4Q", "short", None, "91330106ma27y0xw4p"]
    mask = io.uscc_bad_mask(pl.Series(vals, dtype=pl.String)).to_list()
    assert mask == [uscc_problem(v) is not None if v else False for v in [v.upper() if v else v for v in vals]]


def test_gbk_csv_and_numeric_xlsx_cells(tmp_path):
    g = tmp_path / "g.csv"
    g.write_bytes("企业名称,营业收入（万元）,所在省份\n甲,12.5,浙江\n".encode("gbk"))
    raw = next(io.read_chunks(g))
    specs, _ = io.resolve_columns(io.read_headers(g), AS_OF)
    r = io.convert_chunk(raw, specs).frame.to_dicts()[0]
    assert r["name"] == "甲" and r["province"] == "330000" and r["financials.2024.operating_revenue"] == 12_500_000

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["企业名称", "2024年营业收入（万元）", "2024年研发费用（元）", "进入细分市场时间", "2024年从业人员（人）"])
    ws.append(["乙", 1234.56, 100000.1, dt.date(2016, 3, 1), 160])
    ws.append(["丙", 1.1234567, 7, "2016/03/01", 12.5])
    x = tmp_path / "x.xlsx"
    wb.save(x)
    raw = next(io.read_chunks(x))
    specs, _ = io.resolve_columns(io.read_headers(x), AS_OF)
    conv = io.convert_chunk(raw, specs)
    a, b = conv.frame.to_dicts()
    assert a["financials.2024.operating_revenue"] == 1_234_560_000 and a["financials.2024.rd_expense"] == 10_000_010
    assert a["niche_since"] == dt.date(2016, 3, 1) and a["financials.2024.employees"] == 160
    # 1.1234567 万元 is not an exact amount (7 decimals); 12.5 persons is not a count
    assert b["financials.2024.operating_revenue"] is None and b["niche_since"] == dt.date(2016, 3, 1)
    assert sorted(conv.errors["path"].to_list()) == ["financials.2024.employees", "financials.2024.operating_revenue"]


def test_parquet_decimal_and_integer_columns_exact():
    from decimal import Decimal as D

    raw = pl.DataFrame({
        "a": pl.Series([D("1.5"), D("-2.25"), None, D("0.001")], dtype=pl.Decimal(10, 3)),
        "b": pl.Series([D("12.000000"), D("0.000001"), D("-3"), None], dtype=pl.Decimal(20, 6)),
        "c": pl.Series([3, -1, None, 0], dtype=pl.Int32), "row": [1, 2, 3, 4]})
    specs, _ = io.resolve_columns(["a", "b", "c"], AS_OF, io.load_mapping(
        {"a": "financials.2024.rd_expense", "b": {"path": "financials.2024.net_profit", "unit": "万元"}, "c": "ip.class1"}))
    conv = io.convert_chunk(raw, specs)
    f = conv.frame
    assert f["financials.2024.rd_expense"].to_list() == [150, -225, None, None]
    assert f["financials.2024.net_profit"].to_list() == [12_000_000, 1, -3_000_000, None]
    assert f["ip.class1"].to_list() == [3, None, None, 0]
    assert sorted(zip(conv.errors["row"], conv.errors["field"])) == [(2, "c"), (4, "a")]


def test_parquet_chunks_cover_every_row_group_in_order(tmp_path):
    """Row groups of uneven sizes, chunks smaller and larger than them: every row once, in file
    order, numbered from 1; a column subset reads only those columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "groups.parquet"
    with pq.ParquetWriter(p, pa.schema([("a", pa.int64()), ("b", pa.string())])) as w:
        start = 0
        for size in (7, 1, 13, 5):
            w.write_table(pa.table({"a": list(range(start, start + size)), "b": [f"x{i}" for i in range(start, start + size)]}))
            start += size
    assert pq.ParquetFile(p).num_row_groups == 4
    for chunk in (1, 3, 5, 100):
        got = pl.concat(list(io.read_chunks(p, chunk)))
        assert got["a"].to_list() == list(range(26))
        assert got["row"].to_list() == list(range(1, 27))
        assert max(df.height for df in io.read_chunks(p, chunk)) <= chunk
    only = list(io.read_chunks(p, 4, ["b"]))
    assert all(df.columns == ["b", "row"] for df in only)
    assert pl.concat(only)["b"].to_list() == [f"x{i}" for i in range(26)]


def test_fullwidth_numbers_and_dates_read_as_ascii():
    """An IME in full-width mode: numbers and dates read as their ASCII forms (as a profile file's
    are); what is still not a number stays a bad cell; names are left as typed."""
    conv, _ = _convert({
        "营业收入（万元）": ["１２３４．５６", "1234.56", "１，２３４", "①", "ＡＢＣ"],
        "从业人员（人）": ["１６０", "160", "１６０．５", None, "８"],
        "进入细分市场时间": ["２０１８－０３－０１", "2018-03-01", "２０１８／０３／０１", "2018-02-30", None],
        "企业名称": ["（测试）Ａ", "b", "c", "d", "e"],
    })
    f = conv.frame
    y = AS_OF.year - 1
    assert f[f"financials.{y}.operating_revenue"].to_list() == [1234560000, 1234560000, 1234000000, None, None]
    assert f[f"financials.{y}.employees"].to_list() == [160, 160, None, None, 8]
    assert f["niche_since"].to_list()[:3] == [dt.date(2018, 3, 1)] * 3
    assert f["name"][0] == "（测试）Ａ"
    bad = {(r, fld) for r, fld in conv.errors.select("row", "field").iter_rows()}
    assert bad == {(4, "营业收入（万元）"), (5, "营业收入（万元）"), (3, "从业人员（人）"), (4, "进入细分市场时间")}
