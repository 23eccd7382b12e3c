"""Property-based fuzzing of every input door: bad input gives a clear error naming the field,
never an uncaught exception (ProfileError in Python, exit 2 in the CLI, 422 in the API, a bad
cell in batch)."""
from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal

os.environ.setdefault("SRDI_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='srdi-fuzz-')}/cycle.db")

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from srdi.batch import io
from srdi.engine.assess import assess_profile
from srdi.profile import ProfileError, validate_profile

from conftest import ROOT, canon, load_cases

EXAMPLE = ROOT / "src" / "srdi" / "examples" / "precision_machinery.yaml"
BASES = [c["profile"] for c in load_cases()] + [yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))]
AS_OFS = ("2025-06-01", "2026-06-01")

# ------------------------------------------------------------------------------ hostile values
HOSTILE_SCALARS = [
    None, True, False, 0, -1, 1, 10**40, -10**40, 2**63, -2**63 - 1,
    float("nan"), float("inf"), float("-inf"), 1e308, -1e308, -0.0, 1e-30, 0.1, 12.345,
    Decimal("NaN"), Decimal("Infinity"), Decimal("1e30"), Decimal("-1e-30"), Decimal("1E+1000"),
    "", " ", "1e30", "-1e30", "NaN", "nan", "Infinity", "-inf", "１２３", "١٢٣", "1_000", "0x10", "1,000",
    "x" * 5000, "\x00", "\ufeff", "💥", "null", "true", "是",
    "2024-02-30", "2024/06/01", "20240601", "01-06-2024", "2024-6-1", "0000-01-01", "9999-12-31",
    "2024-06-01T00:00:00", "2024-06-01 ", "+002024-06-01",
    dt.date(1, 1, 1), dt.date(9999, 12, 31), dt.datetime(2024, 6, 1, 12, 0),
    [], [None], [{}], {}, {"x": 1}, {"2024": {}}, {2024: None},
]

leaf = st.sampled_from(HOSTILE_SCALARS) | st.integers() | st.text(max_size=30) \
    | st.floats(allow_nan=True, allow_infinity=True) \
    | st.decimals(allow_nan=True, allow_infinity=True, places=None)
hostile = st.recursive(leaf, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
    st.sampled_from(["name", "type", "year", "level", "date", "amount", "2024", "x", ""]) | st.integers(1980, 2110),
    kids, max_size=3), max_leaves=6)


def _paths(obj, prefix=()):
    """Every path (tuple of keys / indices) into obj, containers included."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _get(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def mutated_profiles(draw, max_mutations=3):
    p = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = [q for q in _paths(p) if q]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "year_key"]))
        if op == "replace" and paths:
            path = draw(st.sampled_from(paths))
            _get(p, path[:-1])[path[-1]] = draw(hostile)
        elif op == "delete" and paths:
            path = draw(st.sampled_from(paths))
            parent = _get(p, path[:-1])
            del parent[path[-1]]
        elif op == "add":
            dicts = [q for q in _paths(p) if isinstance(_get(p, q), dict)]
            path = draw(st.sampled_from(dicts))
            key = draw(st.sampled_from(["colour", "", " ", "name", "financials", "2024", "niche_since"])
                       | st.integers(-10**20, 10**20) | st.text(max_size=8))
            _get(p, path)[key] = draw(hostile)
        elif op == "year_key" and isinstance(p.get("financials"), dict) and p["financials"]:
            fin = p["financials"]
            k = draw(st.sampled_from(list(fin)))
            new = draw(st.sampled_from([str(k), int(str(k)) if str(k).isdigit() else k, f" {k}", f"{k}.0", "２０２４",
                                        "1989", "2101", "99999999999999999999", -2024, 2024.0, True, None]))
            if isinstance(new, (list, dict)):
                continue
            fin[new] = fin.pop(k)
    return p


def _check_error(e: ProfileError):
    assert e.errors
    for fe in e.errors:
        assert isinstance(fe.path, str) and isinstance(fe.problem, str) and fe.problem.strip(), fe
        assert isinstance(fe.problem_zh, str) and fe.problem_zh.strip(), fe


def _refused_or_assessed(p, error_prefix: str | None = None) -> None:
    """validate_profile refuses p with clear field errors (under `error_prefix` when given), or
    accepts it and then every as-of date assesses it."""
    try:
        prof = validate_profile(p)
    except ProfileError as e:
        _check_error(e)
        if error_prefix is not None:
            assert all(fe.path.startswith(error_prefix) for fe in e.errors), e.errors
        return
    for as_of in AS_OFS:
        out = assess_profile(prof, as_of)
        assert isinstance(out, dict) and out["tiers"]


# ------------------------------------------------------------------------------- profiles
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_profiles())
def test_validate_then_assess_never_crashes(p):
    _refused_or_assessed(p)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([
    "operating_revenue", "main_business_revenue", "rd_expense", "net_profit", "total_assets",
    "employees", "rd_employees", "total_costs"]), leaf)
def test_financial_leaves(field, value):
    p = copy.deepcopy(BASES[-1])
    p["financials"][2024][field] = value
    _refused_or_assessed(p, "financials.2024")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["market_share_pct", "local_score", "digital_level", "domestic_rank", "niche_since",
                        "uscc", "province", "industry", "size_industry", "name", "local_indicators",
                        "quality_score", "rd_institution", "titles", "awards", "equity_financing"]), hostile)
def test_top_level_fields(field, value):
    p = copy.deepcopy(BASES[-1])
    p[field] = value
    _refused_or_assessed(p)


LOCAL_KEYS = ["key_field", "innovative_items", "provincial_rank", "listing", "modern_industry_system",
              "heritage_or_first_set", "local_resources", "free_key"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["370000", "510000", "320000"]),
       st.dictionaries(st.sampled_from(LOCAL_KEYS), hostile | st.sampled_from(
           ["plan_and_chain", "none", "listed", 0, 3, True, "{zh}", "{en}"]), max_size=4))
def test_local_indicators(province, indicators):
    p = copy.deepcopy(BASES[-1])
    p["province"], p["local_indicators"] = province, indicators
    _refused_or_assessed(p, "local_indicators")


def test_braces_in_values_are_not_template_fields():
    with pytest.raises(ProfileError) as ei:
        validate_profile({"name": "a", "niche_since": "{zh}", "local_indicators": {"listing": "{en}"}})
    got = {fe.path: fe.problem for fe in ei.value.errors}
    assert got["niche_since"] == "must be a date YYYY-MM-DD, got '{zh}'"
    assert got["local_indicators.listing"].endswith("got '{en}'")


@pytest.mark.parametrize("data", [None, [], "x", 1, [{"name": "a"}], {}, {"name": None}, {"name": 1},
                                  {"name": "a", "financials": {"2024": None}}, {"name": "a", "financials": []}])
def test_root_problems(data):
    with pytest.raises(ProfileError) as ei:
        validate_profile(data)
    _check_error(ei.value)


# ------------------------------------------------------------------------------------- CLI
CLI_FILES = {
    "huge.json": '{"name": "a", "financials": {"2024": {"operating_revenue": 1e30}}}',
    "huge_exp.json": '{"name": "a", "financials": {"2024": {"rd_expense": 1e400}}}',
    "nan.yaml": "name: a\nmarket_share_pct: .nan\n",
    "inf.yaml": "name: a\nfinancials:\n  2024:\n    rd_expense: .inf\n",
    "year.yaml": "name: a\nfinancials:\n  2024.5:\n    employees: 3\n",
    "bigyear.json": '{"name": "a", "financials": {"99999999999999999999999": {"employees": 3}}}',
    "list.json": '[{"name": "a"}]',
    "date.yaml": "name: a\nniche_since: 2017-02-30\n",
    "datetime.yaml": "name: a\nniche_since: 2017-02-03 10:00:00\n",
    "nul.json": '{"name": "\\u0000", "uscc": "\\u0000"}',
    "int_tag.yaml": "name: a\ndigital_level: !!int abc\n",
    "bool_tag.yaml": "name: a\nquality: {own_brand: !!bool maybe}\n",
    "date_tag.yaml": "name: a\nniche_since: !!timestamp 2017-02-30\n",
    "deep_flow.yaml": "name: a\nip: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep_block.yaml": "name: a\nip:\n  " + "- " * 100_000 + "1\n",
    "deep.json": '{"name": "a", "ip": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "deep_noext": "[" * 100_000,
    "share_places.yaml": "name: a\nmarket_share_pct: 0.03125\n",
    "score_places.json": '{"name": "a", "quality_score": {"2024": 70.00001}}',
    "titles.json": '{"name": "a", "titles": [{"type": "little_giant", "valid_from": "2024-01-01", "valid_until": 5}]}',
    "nested.json": '{"name": "a", "ip": [1, 2], "quality": "yes", "titles": {"type": "x"}}',
    "bad.json": '{"name": "a",',
    "binary.yaml": "\x00\x01\x02",
    "anchors.yaml": "a: &a [1]\nname: *a\n",
    "int_keys.yaml": "name: a\n1: 2\nfinancials: {2024: {employees: 1e2}}\n",
}


@pytest.mark.parametrize("name", sorted(CLI_FILES))
def test_cli_hostile_files(tmp_path, name):
    f = tmp_path / name
    f.write_text(CLI_FILES[name], encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "srdi", "assess", str(f), "--as-of", "2025-06-01"],
                       capture_output=True, text=True)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert r.stderr.startswith("srdi:"), r.stderr


def test_cli_full_width_digits_are_read_or_refused_cleanly(tmp_path):
    """Decimal() and int() read full-width digits: accepted today (a product decision), never a crash."""
    f = tmp_path / "fullwidth.json"
    f.write_text('{"name": "a", "digital_level": "１", "financials": {"２０２４": {"employees": "１２３"}}}', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "srdi", "assess", str(f), "--as-of", "2025-06-01", "--format", "json"],
                       capture_output=True, text=True)
    assert r.returncode in (0, 2) and "Traceback" not in r.stderr + r.stdout, r.stderr


# ------------------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from srdi.web import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def _jsonable(obj):
    """JSON-able form of a hostile profile (nan/inf as strings: JSON has none)."""
    def default(o):
        return str(o)

    text = json.dumps(obj, ensure_ascii=False, default=default, allow_nan=True)
    return text.replace("NaN", '"NaN"').replace("-Infinity", '"-Infinity"').replace("Infinity", '"Infinity"') \
        if ("NaN" in text or "Infinity" in text) else text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(mutated_profiles(max_mutations=2), st.sampled_from(AS_OFS))
def test_api_assess_never_500(client, p, as_of):
    try:
        body = '{"profile": %s, "as_of": "%s"}' % (json.dumps(canon(p), allow_nan=True), as_of)
    except (TypeError, ValueError):
        return
    r = client.post("/api/v1/assess", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code in (200, 422), (r.status_code, r.text[:2000])
    if r.status_code == 422:
        errs = r.json()["errors"]
        assert errs and all(e["path"] and e["detail"] for e in errs), errs
    else:
        assert r.json()["tiers"]


@pytest.mark.parametrize("raw", [
    b'{"profile": {"name": "a", "financials": {"2024": {"operating_revenue": 1e30}}}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "financials": {"2024": {"operating_revenue": 1e400}}}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "market_share_pct": NaN}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "local_score": Infinity}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "financials": {"99999999999999999999999": {}}}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "digital_level": 1e400}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "domestic_rank": 123456789012345678901234567890}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a"}, "as_of": "2025-13-01"}',
    b'{"profile": {"name": "a"}, "as_of": 20250601}',
    b'{"profile": [], "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "ip": ' + b"[" * 5000 + b"]" * 5000 + b'}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "a", "local_indicators": {"innovative_items": "x"}}, "as_of": "2025-06-01"}',
    b'{"profile": {"name": "\\u0000"}, "as_of": "2025-06-01", "mode": "x"}',
])
def test_api_fixed_hostile_bodies(client, raw):
    r = client.post("/api/v1/assess", content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400, 422), (r.status_code, r.text[:2000])
    if r.status_code == 422:
        assert r.json()["errors"]


# ----------------------------------------------------------------------------------- batch
AS_OF = dt.date(2025, 6, 1)
BATCH_HEADERS = [
    "营业收入（万元）", "2024年研发费用（万元）", "financials.2024.rd_expense", "2024年从业人员（人）",
    "ip.class1", "细分市场占有率（%）", "2024年发展质量评价得分", "进入细分市场时间", "高新技术企业有效期至",
    "自主品牌", "quality.own_brand", "研发机构级别", "创客中国企业组", "所在省份", "行业代码",
    "统一社会信用代码", "股权融资1金额（万元）", "股权融资1日期", "科技奖励1年份", "科技奖励1级别",
    "equity_financing.0.qualified_investor", "awards", "titles", "企业名称", "数字化水平等级",
    "domestic_rank", "maker_china.year", "local_score", "划型行业", "创客中国获奖年份", "科技奖励1排名",
    "主导制定标准1级别", "titles.little_giant.valid_from", "equity_financing", "standards_led",
]
CELL_STRINGS = st.sampled_from([
    "", " ", "-", "1e30", "1E5", "NaN", "inf", "-0", "+0", "0", "１２３", "٣", "1,234.5", ",,,", ".", "-.", "1.",
    ".5", "99999999999999999999999999999", "9" * 17, "9" * 13, "-9" + "9" * 15, "1" + "0" * 40, "12.3456789",
    "\x00", "x" * 300, "是", "否", "TRUE", "√", "2024-02-30", "2024/06/01", "20240601", "2024.06.01", "0000-00-00",
    "9999-12-31", "2024-06-01T10:00", "2024-6-1", "浙江", "浙江省", "Zhejiang", "990000", "c3484", "C9999", "Z",
    "91320500MA1N8RQP74", "91320500MA1N8RQP75", "é" * 9, "ＡＢ" * 9, "省级", "国家级", "全国50强",
    "[]", "{}", "[{}]", '[{"level": "national", "year": "x"}]', '[{"year": 1e400}]', '[{"type": "little_giant"}]',
    '[{"type": "little_giant", "valid_from": "x"}]', '{"date": "2024-13-01"}', '[{"amount": "1e30"}]',
    '[{"amount": "NaN"}]', '[{"amount": "inf"}]', '[{"amount": 1e308}]', '[{"year": true}]', '[{"rank": "3"}]',
    '[{"year": 1e30}]', '[{"year": 1e-30}]', '[{"year": 99999999999999999999999}]', "null", "[null]", "[1]",
    '[{"year": 1e400}]', '[{"amount": 1e30}]', '[{"amount": "Infinity"}]', "[" * 3000, "software_it", "top50",
]) | st.text(max_size=20)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(BATCH_HEADERS), min_size=1, max_size=6, unique=True),
       st.integers(1, 5), st.data())
def test_batch_cells_never_raise(headers, n, data):
    cols = {h: data.draw(st.lists(st.none() | CELL_STRINGS, min_size=n, max_size=n)) for h in headers}
    raw = pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in cols.items()})
    raw = raw.with_columns(pl.int_range(1, n + 1, dtype=pl.Int64).alias("row"))
    specs, unmatched = io.resolve_columns(headers, AS_OF, {})
    assert not unmatched, unmatched
    conv = io.convert_chunk(raw, specs)
    assert conv.frame["row"].to_list() == list(range(1, n + 1))
    err = {(r, f) for r, f in zip(conv.errors["row"].to_list(), conv.errors["field"].to_list())}
    for s in specs:
        col = cols[s.header]
        for r, cell in enumerate(col, start=1):
            if cell is None or cell.strip() in io.NULL_MARKERS or s.kind == "string":
                continue
            if s.list_name and s.kind != "json":
                continue  # list components: checked through the list below
            if s.kind == "json":
                ok = conv.frame[s.path][r - 1] is not None
            else:
                ok = conv.frame[s.path][r - 1] is not None
            assert ok or (r, s.header) in err, (s, r, cell, conv.errors)
