"""Batch files in and out: column mapping, exact vectorised conversion to engine units, writers.

Reading: CSV (all cells read as text), Parquet (any column types) and XLSX (python-calamine),
in chunks of rows. Each input column is matched to a contract path (docs/batch.md):

1. the `--mapping` file (YAML/JSON: {header: path} or {header: {path: .., unit: 万元|元}});
2. a contract path flattened with dots (`financials.2024.rd_expense`, money in yuan);
3. the default Chinese headers of the national / provincial platform exports
   (`2024年营业收入（万元）`, `研发费用（万元）` = prior fiscal year, `统一社会信用代码`, ...).

Conversion is column-wise (Polars expressions): money is parsed from its decimal text to integer
fen exactly (no float arithmetic); a cell that is not an exact amount (yuan: at most 2 decimals;
万元: at most 6) or not a valid count / flag / date / code becomes a *bad cell*: it is reported
(row, field, value, problem) and the row is assessed with that field missing (undetermined).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterator

import polars as pl

from ..engine.measures import (BOOL_PATHS, COUNT_PATHS, FIN_COUNT, FIN_MONEY, SCALED_PATHS)
from ..engine.frame import column_dtype
from ..i18n import names

# ------------------------------------------------------------------------ the default mapping
FIN_ZH = {
    "operating_revenue": "营业收入", "main_business_revenue": "主营业务收入",
    "main_product_revenue": "主导产品收入", "rd_expense": "研发费用", "net_profit": "净利润",
    "total_assets": "资产总额", "total_liabilities": "负债总额", "total_costs": "成本费用总额",
    "employees": "从业人员", "rd_employees": "研发人员", "tech_employees": "科技人员",
}
SCALAR_ZH = {
    "企业名称": "name", "统一社会信用代码": "uscc", "所在省份": "province", "省份": "province",
    "行业代码": "industry", "国民经济行业代码": "industry", "划型行业": "size_industry",
    "进入细分市场时间": "niche_since",
    "Ⅰ类知识产权(项)": "ip.class1", "自主研发Ⅰ类知识产权(项)": "ip.class1_self_developed",
    "高价值Ⅰ类知识产权(项)": "ip.class1_high_value", "Ⅱ类知识产权(项)": "ip.class2",
    "实际应用并产生经济效益的Ⅰ类知识产权(项)": "ip.class1_applied_with_benefit",
    "研发机构级别": "rd_institution", "与高校院所联合建立研发机构": "rd_institution_joint",
    "数字化水平等级": "digital_level",
    "省级以上质量奖": "quality.provincial_quality_award",
    "质量管理体系认证": "quality.quality_system_certified", "自主品牌": "quality.own_brand",
    "参与制修订标准": "quality.standards_drafting",
    "管理体系认证或国外产品认证": "management_cert_or_foreign_product_cert",
    "核心业务采用信息系统": "info_system_core_business",
    "属于战略性新兴产业": "product_field.strategic_emerging",
    "补短板锻长板填空白成效": "product_field.chain_gap_filling",
    "属于工业六基领域": "product_field.six_foundations",
    "属于小巨人重点领域": "product_field.little_giant_key_field",
    "细分市场占有率(%)": "market_share_pct", "声明细分市场地位领先": "market_position_declared",
    "国内细分市场排名": "domestic_rank",
    "创客中国获奖年份": "maker_china.year", "创客中国企业组": "maker_china.group",
    "列入经营异常名录": "compliance.abnormal_operations_list",
    "列入严重失信主体名单": "compliance.serious_dishonesty_list",
    "生产禁止或淘汰类产品": "compliance.prohibited_or_eliminated_products",
    "近三年重大安全质量环境事故": "compliance.major_incident_3y",
    "近三年税务违法": "compliance.tax_violation_3y", "数据造假": "compliance.data_fraud",
    "与已认定小巨人存在控股关系": "group.holding_link_to_little_giant",
    "同一集团内生产相似主导产品": "group.same_group_similar_product",
    "特色化指标得分": "local_score",
}
TITLE_ZH = names("title", "zh")  # header prefixes of title columns, from the i18n catalogue
LIST_FIELDS = {  # list: {subfield: kind}
    "titles": {"type": "title_type", "valid_from": "date", "valid_until": "date"},
    "awards": {"level": "award_level", "year": "count", "rank": "count"},
    "equity_financing": {"date": "date", "amount": "money", "qualified_investor": "bool"},
    "standards_led": {"level": "standard_level", "year": "count"},
}
LIST_ZH = {"equity_financing": ("股权融资", {"date": "日期", "amount": "金额", "qualified_investor": "合格机构投资者"}),
           "awards": ("科技奖励", {"level": "级别", "year": "年份", "rank": "排名"}),
           "standards_led": ("主导制定标准", {"level": "级别", "year": "年份"})}
ENUMS = {
    "rd_institution": {"national": "国家级", "provincial": "省级", "municipal": "市级",
                       "below_municipal": "市级以下", "none": "无"},
    "maker_china.group": {"top50": "全国50强", "top500": "全国500强"},
    "award_level": {"national": "国家级", "provincial": "省级"},
    "standard_level": {"international": "国际", "national": "国家", "industry": "行业"},
    "title_type": {k: v for k, v in TITLE_ZH.items()},
    "size_industry": {k: k for k in (
        "agriculture", "industry", "construction", "wholesale", "retail", "transport", "warehousing",
        "postal", "accommodation", "catering", "information_transmission", "software_it",
        "real_estate_development", "property_management", "leasing_business_services", "other")},
}
ENUM_ALIASES = {"国家级": "national", "国家": "national", "省级": "provincial", "省部级": "provincial",
                "市级": "municipal", "市级以下": "below_municipal", "无": "none", "未建立": "none",
                "全国50强": "top50", "50强": "top50", "全国500强": "top500", "500强": "top500",
                "国际": "international", "国际标准": "international", "国家标准": "national",
                "行业": "industry", "行业标准": "industry"}
ENUM_ALIASES.update({v: k for k, v in TITLE_ZH.items()})
NULL_MARKERS = ["", "-", "--", "—", "/", "N/A", "n/a", "NA", "null", "NULL", "None", "nan", "NaN"]
TRUE_WORDS = ["true", "1", "yes", "y", "t", "是", "有", "√", "1.0"]
FALSE_WORDS = ["false", "0", "no", "n", "f", "否", "无", "×", "0.0"]

PROBLEMS = {
    "money": ("不是精确金额（数字，元最多2位小数、万元最多6位小数）", "not an exact amount (a number; yuan: at most 2 decimals, 万元: at most 6)"),
    "count": ("不是非负整数", "not a non-negative whole number"),
    "scaled": ("不是数字（最多4位小数）", "not a number with at most 4 decimals"),
    "bool": ("不是是/否", "not yes/no (是/否, true/false, 1/0)"),
    "date": ("不是日期（YYYY-MM-DD）", "not a date (YYYY-MM-DD)"),
    "enum": ("不是允许的取值", "not an allowed value"),
    "province": ("不是省份代码或名称", "not a province code or name"),
    "industry": ("不是 GB/T 4754-2017 行业代码", "not a GB/T 4754-2017 industry code"),
    "uscc": ("统一社会信用代码无效", "invalid unified social credit code"),
    "json": ("不是有效的 JSON 列表", "not a valid JSON list"),
}


@dataclass
class ColSpec:
    header: str  # as in the file
    path: str  # contract path, or list component "equity_financing.0.amount" / "titles.<type>.valid_until"
    kind: str  # money | count | scaled | bool | date | enum | province | industry | uscc | string | json
    unit: str = "yuan"  # money: yuan | wan
    enum: str | None = None  # key of ENUMS
    list_name: str | None = None  # component of a list
    list_key: str | None = None  # index or title type
    list_sub: str | None = None


def _norm_header(h: str) -> str:
    return re.sub(r"\s+", "", str(h)).replace("（", "(").replace("）", ")").replace("I类", "Ⅰ类").replace("II类", "Ⅱ类")


def _scalar_spec(header: str, path: str, unit: str | None = None) -> ColSpec | None:
    from ..engine.measures import path_kind

    if path in ("name",):
        return ColSpec(header, path, "string")
    if path == "uscc":
        return ColSpec(header, path, "uscc")
    if path == "province":
        return ColSpec(header, path, "province")
    if path == "industry":
        return ColSpec(header, path, "industry")
    if path in LIST_FIELDS:
        return ColSpec(header, path, "json", list_name=path)
    m = re.fullmatch(r"(titles)\.([a-z_]+)\.(valid_from|valid_until)", path)
    if m and m[2] in TITLE_ZH:
        return ColSpec(header, path, "date", list_name="titles", list_key=m[2], list_sub=m[3])
    m = re.fullmatch(r"(equity_financing|awards|standards_led|titles)\.(\d+)\.(\w+)", path)
    if m and m[3] in LIST_FIELDS[m[1]]:
        k = LIST_FIELDS[m[1]][m[3]]
        spec = ColSpec(header, path, k if k in ("money", "count", "bool", "date") else "enum",
                       unit=unit or "yuan", list_name=m[1], list_key=m[2], list_sub=m[3])
        if spec.kind == "enum":
            spec.enum = k
        return spec
    try:
        kind = path_kind(path)
    except KeyError:
        return None
    if kind == "money":
        return ColSpec(header, path, "money", unit=unit or "yuan")
    if kind in ("count", "scaled", "bool", "date"):
        return ColSpec(header, path, kind)
    if kind == "enum":
        return ColSpec(header, path, "enum", enum=path)
    if kind == "local":
        return ColSpec(header, path, "local")
    return None


def _default_spec(header: str, as_of: dt.date) -> ColSpec | None:
    h = _norm_header(header)
    if h in SCALAR_ZH:
        return _scalar_spec(header, SCALAR_ZH[h])
    m = re.fullmatch(r"(?:(\d{4})年)?(上年度)?(.+?)(?:\((万元|元|人)\))?", h)
    if m:
        year = int(m[1]) if m[1] else as_of.year - 1
        for f, zh in FIN_ZH.items():
            if m[3] == zh:
                if f in FIN_MONEY:
                    return ColSpec(header, f"financials.{year}.{f}", "money", unit="yuan" if m[4] == "元" else "wan")
                return ColSpec(header, f"financials.{year}.{f}", "count")
    m = re.fullmatch(r"(\d{4})年发展质量评价得分", h)
    if m:
        return ColSpec(header, f"quality_score.{m[1]}", "scaled")
    m = re.fullmatch(r"(.+?)有效期(起|至)", h)
    if m:
        t = ENUM_ALIASES.get(m[1]) if m[1] in TITLE_ZH.values() else None
        if t:
            sub = "valid_from" if m[2] == "起" else "valid_until"
            return ColSpec(header, f"titles.{t}.{sub}", "date", list_name="titles", list_key=t, list_sub=sub)
    for ln, (zh, subs) in LIST_ZH.items():
        m = re.fullmatch(zh + r"(\d+)(.+?)(?:\((万元|元)\))?", h)
        if m:
            for sub, szh in subs.items():
                if m[2] == szh:
                    return _scalar_spec(header, f"{ln}.{int(m[1]) - 1}.{sub}", "yuan" if m[3] == "元" else "wan")
    m = re.fullmatch(r"地方特色指标\.(\w+)", h)
    if m:
        return ColSpec(header, f"local_indicators.{m[1]}", "local")
    return None


def load_mapping(mapping: Any) -> dict[str, dict]:
    """{header: {path, unit}} from a YAML/JSON file path or a dict."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        import yaml

        text = Path(mapping).read_text(encoding="utf-8")
        try:
            mapping = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ValueError(f"--mapping: not valid YAML/JSON: {e}") from None
        if not isinstance(mapping, dict):
            raise ValueError("--mapping: the file must hold a mapping {input header: contract path}")
    out = {}
    for h, v in mapping.items():
        if isinstance(v, str):
            v = {"path": v}
        if not isinstance(v, dict) or "path" not in v:
            raise ValueError(f"--mapping: {h!r}: give a contract path or {{path: ..., unit: 万元|元}}")
        unit = {"万元": "wan", "wan": "wan", "元": "yuan", "yuan": "yuan", None: None}.get(v.get("unit"), "?")
        if unit == "?":
            raise ValueError(f"--mapping: {h!r}: unit must be 万元 or 元")
        out[str(h)] = {"path": str(v["path"]), "unit": unit}
    return out


def resolve_columns(headers: list[str], as_of: dt.date, mapping: dict | None = None,
                    local_kinds: dict | None = None) -> tuple[list[ColSpec], list[str]]:
    """Match the file's headers to contract paths. Returns (specs, unmatched headers)."""
    mapping = mapping or {}
    specs, unmatched = [], []
    for h in headers:
        if h in ("row", "行号"):
            unmatched.append(h)
            continue
        s = None
        if h in mapping:
            s = _scalar_spec(h, mapping[h]["path"], mapping[h]["unit"])
            if s is None:
                raise ValueError(f"--mapping: {h!r} -> {mapping[h]['path']!r} is not a contract path")
        if s is None:
            s = _scalar_spec(h, h)
        if s is None:
            s = _default_spec(h, as_of)
        if s is None:
            unmatched.append(h)
            continue
        if s.kind == "local":
            k = (local_kinds or {}).get(s.path, "enum")
            s.kind = {"bool": "bool", "count": "count"}.get(k, "string")
        specs.append(s)
    return specs, unmatched


# ------------------------------------------------------------------------- conversion (Polars)
def _text(c: str) -> pl.Expr:
    """A cell as trimmed text; null markers (empty, '-', 'N/A', ...) become null."""
    s = pl.col(c).cast(pl.String).str.strip_chars()
    return pl.when(s.is_in(NULL_MARKERS)).then(None).otherwise(s)


def _decimal_fixed(s: pl.Expr, decimals: int, int_digits: int, signed: bool = True) -> pl.Expr:
    """Exact decimal text -> integer x 10^decimals; null when not such a number (more decimals
    than allowed, other characters). Trailing zeros after the point are allowed."""
    s = s.str.replace_all(",", "", literal=True)
    sign_re = "[+-]?" if signed else r"\+?"
    frac = rf"(\.\d{{0,{decimals}}}0*)?" if decimals else r"(\.0*)?"
    ok = s.str.contains(rf"^{sign_re}\d{{1,{int_digits}}}{frac}$")
    s = pl.when(ok).then(s)  # only well-formed text is parsed: "1e30" would overflow the decimal product
    if decimals:
        v = (s.str.to_decimal(scale=decimals) * (10 ** decimals)).cast(pl.Int64, strict=False)
    else:
        v = s.str.split_exact(".", 1).struct.field("field_0").cast(pl.Int64, strict=False)
    return pl.when(ok).then(v).otherwise(None)


def _typed(spec: "ColSpec", c: pl.Expr, dtype) -> tuple[pl.Expr, pl.Expr] | None:
    """Fast exact paths for typed (Parquet) columns: (value, bad) or None to go through text."""
    k = spec.kind
    dec = {"money": 6 if spec.unit == "wan" else 2, "scaled": 4, "count": 0}.get(k)
    if dtype.is_integer() and dec is not None:
        v = c.cast(pl.Int64) * (10 ** dec)
        bad = (c < 0) if k == "count" else pl.lit(False)
        return pl.when(bad).then(None).otherwise(v), bad.fill_null(False)
    if isinstance(dtype, pl.Decimal) and dec is not None:
        # the unscaled integer of the decimal: value x 10^scale, exactly
        sc = dtype.scale or 0
        phys = c.to_physical()
        if sc <= dec:
            iv = (phys * (10 ** (dec - sc))).cast(pl.Int64, strict=False)
            exact = iv.is_not_null()
        else:
            q = 10 ** (sc - dec)
            iv = (phys // q).cast(pl.Int64, strict=False)
            exact = iv.is_not_null() & (phys % q == 0)
        if k == "count":
            exact = exact & (iv >= 0)
        return pl.when(exact).then(iv).otherwise(None), (c.is_not_null() & ~exact.fill_null(False))
    if dtype == pl.Boolean and k == "bool":
        return c, pl.lit(False)
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        if k == "date":
            return c.cast(pl.Date), pl.lit(False)
    return None


def convert_expr(spec: ColSpec, src: str) -> pl.Expr:
    """The expression turning the text column `src` into engine units (null when bad or missing)."""
    t = pl.col(src)
    k = spec.kind
    if k == "money":
        if spec.unit == "wan":  # 万元 -> fen: x 10^6, exact up to 6 decimals
            return _decimal_fixed(t, 6, 12)
        return _decimal_fixed(t, 2, 16)
    if k == "count":
        return _decimal_fixed(t, 0, 12, signed=False)
    if k == "scaled":
        return _decimal_fixed(t.str.strip_suffix("%"), 4, 10)
    if k == "bool":
        lo = t.str.to_lowercase()
        return pl.when(lo.is_in(TRUE_WORDS)).then(True).when(lo.is_in(FALSE_WORDS)).then(False).otherwise(None)
    if k == "date":
        d = t.str.replace_all("/", "-", literal=True).str.replace_all(".", "-", literal=True).str.slice(0, 10)
        iso = d.str.to_date("%Y-%m-%d", strict=False)
        compact = t.str.to_date("%Y%m%d", strict=False)
        return pl.coalesce(iso, compact)
    if k == "enum":
        raise AssertionError("enums are mapped by their distinct values in convert_chunk")
    if k in ("string", "uscc"):
        return t
    raise ValueError(k)


def _lookup(values: pl.Series, fn) -> dict:
    out = {}
    for v in values.drop_nulls().unique().to_list():
        try:
            out[v] = fn(v)
        except (ValueError, TypeError):
            out[v] = None
    return out


def uscc_bad_mask(values: pl.Series) -> pl.Series:
    """True where a non-null USCC fails GB 32100-2015 (length, charset, check digit); NumPy."""
    import numpy as np

    from ..profile.uscc import USCC_CHARSET, USCC_WEIGHTS

    table = np.full(256, -1, dtype=np.int64)
    for i, ch in enumerate(USCC_CHARSET):
        table[ord(ch)] = i
    u = values.str.to_uppercase()
    ok18 = (u.str.len_bytes() == 18).fill_null(False).to_numpy()
    bad = np.zeros(len(u), dtype=bool)
    idx = np.flatnonzero(ok18)
    if len(idx):
        import pyarrow as pa

        arr = u.gather(idx).to_arrow().cast(pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        offs = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
        b = data[offs[:-1, None] + np.arange(18)[None, :]]
        v = table[b]
        valid = (v >= 0).all(axis=1)
        total = (v[:, :17] * np.array(USCC_WEIGHTS)).sum(axis=1)
        chk = (31 - total % 31) % 31
        bad[idx] = ~(valid & (chk == v[:, 17]))
    nonnull = u.is_not_null().to_numpy()
    bad |= nonnull & ~ok18
    return pl.Series(bad)


@dataclass
class Converted:
    frame: pl.DataFrame  # row + engine columns
    errors: pl.DataFrame  # row, field, path, value, problem


ERR_SCHEMA = {"row": pl.Int64, "field": pl.String, "path": pl.String, "value": pl.String, "problem": pl.String}


def convert_chunk(raw: pl.DataFrame, specs: list[ColSpec], lang: str = "zh") -> Converted:
    """Raw chunk (with an Int64 `row` column) -> engine frame and its bad cells."""
    zi = 0 if lang == "zh" else 1
    exprs: dict[str, pl.Expr] = {}
    err_parts: list[pl.DataFrame] = []
    lists: dict[str, dict[str, dict[str, pl.Expr]]] = {}
    province_map = industry_map = None
    sel: list[pl.Expr] = []
    bad_exprs: list[tuple[ColSpec, pl.Expr, pl.Expr]] = []  # spec, value expr, bad mask
    typed: dict[int, tuple[pl.Expr, pl.Expr]] = {}
    stage1 = [pl.col("row")]
    for i, s in enumerate(specs):
        if s.kind == "json":
            continue
        dtype = raw.schema[s.header]
        tp = _typed(s, pl.col(s.header), dtype) if s.kind not in ("province", "industry", "uscc", "string", "enum") else None
        if tp is not None:
            typed[i] = tp
            stage1.append(pl.col(s.header).alias(f"__t{i}"))
        else:
            stage1.append(_text(s.header).alias(f"__t{i}"))
    pre = raw.select(stage1)
    for i, s in enumerate(specs):
        if s.kind == "json":
            continue
        src = f"__t{i}"
        t = pl.col(src)
        if i in typed:
            v, bad = _typed(s, t, raw.schema[s.header])
        elif s.kind == "province":
            from ..profile.codes import normalize_province

            province_map = _lookup(pre.get_column(src), normalize_province)
            v = t.replace_strict(province_map, default=None, return_dtype=pl.String)
        elif s.kind == "industry":
            from ..profile.codes import parse_industry, size_industry_for

            def norm(x):
                letter, digits = parse_industry(x)
                code = letter + digits
                return (code, size_industry_for(code))

            industry_map = _lookup(pre.get_column(src), norm)
            v = t.replace_strict({k: (x[0] if x else None) for k, x in industry_map.items()}, default=None, return_dtype=pl.String)
            sel.append(t.replace_strict({k: (x[1] if x else None) for k, x in industry_map.items()},
                                        default=None, return_dtype=pl.String).alias(f"__size_ind_{i}"))
        elif s.kind == "enum":
            allowed = ENUMS[s.enum]
            emap = _lookup(pre.get_column(src), lambda x: (lambda y: y if y in allowed else None)(ENUM_ALIASES.get(x, x)))
            v = t.replace_strict(emap, default=None, return_dtype=pl.String)
        else:
            v = convert_expr(s, src)
        if i in typed:
            pass
        elif s.kind == "uscc":
            bad = pl.lit(uscc_bad_mask(pre.get_column(src)))
        elif s.kind == "string":
            bad = pl.lit(False)
        else:
            bad = t.is_not_null() & v.is_null()
        name = f"__v{i}"
        sel.append(v.alias(name))
        sel.append(bad.alias(f"__b{i}"))
        bad_exprs.append((s, name, f"__b{i}"))
    work = pre.select([pl.col("row")] + sel) if sel else raw.select("row")
    work = _retry_fullwidth(work, pre, bad_exprs, typed)
    # bad cells -> errors
    for i, (s, name, bname) in enumerate(bad_exprs):
        b = work.get_column(bname)
        if not b.any():
            continue
        pk = s.kind if s.kind in PROBLEMS else "enum"
        problem = PROBLEMS[pk][zi]
        if s.kind == "enum":
            problem += "：" + "/".join(f"{a}" for a in ENUMS[s.enum]) if zi == 0 else problem + ": " + ", ".join(ENUMS[s.enum])
        e = raw.filter(b).select(
            pl.col("row"), pl.lit(s.header).alias("field"), pl.lit(s.path).alias("path"),
            pl.col(s.header).cast(pl.String).alias("value"), pl.lit(problem).alias("problem"))
        err_parts.append(e)
    # engine columns
    cols: dict[str, pl.Expr] = {}
    for i, (s, name, bname) in enumerate(bad_exprs):
        val = pl.col(name)
        if s.kind == "uscc":
            val = pl.col(name)  # kept for identification even when its check digit is wrong
        if s.list_name:
            lists.setdefault(s.list_name, {}).setdefault(s.list_key, {})[s.list_sub] = name
            continue
        cols[s.path] = pl.coalesce(cols[s.path], val) if s.path in cols else val
    size_ind = [c for c in work.columns if c.startswith("__size_ind_")]
    if size_ind and "size_industry" not in cols:
        cols["size_industry"] = pl.coalesce([pl.col(c) for c in size_ind])
    elif size_ind:
        cols["size_industry"] = pl.coalesce([cols["size_industry"]] + [pl.col(c) for c in size_ind])
    # list columns from component columns
    out = work.select([pl.col("row")] + [e.alias(p) for p, e in cols.items()])
    if lists:
        out = out.with_columns([build_list(work, ln, items) for ln, items in lists.items()])
    # JSON list cells
    for s in specs:
        if s.kind != "json":
            continue
        series, errs = _json_lists(raw, s, zi)
        if errs is not None:
            err_parts.append(errs)
        if s.path in out.columns:
            out = out.with_columns(pl.coalesce(pl.col(s.path), series).alias(s.path)) \
                if False else out.with_columns(_concat_lists(out.get_column(s.path), series).alias(s.path))
        else:
            out = out.with_columns(series.alias(s.path))
    errors = pl.concat(err_parts, how="vertical") if err_parts else pl.DataFrame(schema=ERR_SCHEMA)
    return Converted(out, errors.sort("row", maintain_order=True) if err_parts else errors)


# Full-width forms (Ｕ+FF01..FF5E: "１２３．４５", "２０２４／０５／０１", "％") and the ideographic space, as an
# IME in full-width mode types them: read as their ASCII forms in numbers and dates, as a profile
# file's are (Python's number parsing reads full-width digits). Names and codes are left alone.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_FULLWIDTH_KINDS = ("money", "count", "scaled", "date")


def _retry_fullwidth(work: pl.DataFrame, pre: pl.DataFrame, bad_exprs: list, typed: dict) -> pl.DataFrame:
    """Cells of number and date columns that did not convert are tried again with full-width
    characters made ASCII; the ones that convert then are no longer bad. Only bad cells are
    looked at, so a clean chunk costs nothing."""
    for s, name, bname in bad_exprs:
        i = int(name[3:])  # "__v{i}"
        if s.kind not in _FULLWIDTH_KINDS or i in typed:
            continue
        bad = work.get_column(bname)
        if not bad.any():
            continue
        idx = bad.arg_true()
        text = pre.get_column(f"__t{i}").gather(idx)
        norm = pl.Series([None if x is None else x.translate(_FULLWIDTH) for x in text.to_list()], dtype=pl.String)
        if norm.equals(text):
            continue
        redo = pl.DataFrame({f"__t{i}": norm}).select(convert_expr(s, f"__t{i}").alias("v")).get_column("v")
        ok = redo.is_not_null()
        if not ok.any():
            continue
        at = idx.filter(ok)
        work = work.with_columns(work.get_column(name).scatter(at, redo.filter(ok).cast(work.schema[name])),
                                 bad.scatter(at, False))
    return work


def build_list(work: pl.DataFrame, ln: str, items: dict[str, dict[str, str]]) -> pl.Series:
    """A List(Struct) column from component columns (e.g. equity_financing.0.amount, .1.amount,
    or titles.<type>.valid_until): the elements present in each row, in component order."""
    import numpy as np
    import pyarrow as pa

    dtype = column_dtype(ln)
    inner = dtype.inner
    n = work.height
    keys = sorted(items, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    rows_parts, field_parts = [], {f.name: [] for f in inner.fields}
    for key in keys:
        subs = items[key]
        present = np.zeros(n, dtype=bool)
        for col in subs.values():
            present |= work.get_column(col).is_not_null().to_numpy()
        idx = np.flatnonzero(present)
        rows_parts.append(idx)
        for f in inner.fields:
            if ln == "titles" and f.name == "type" and not key.isdigit():
                field_parts[f.name].append(pl.Series([key] * len(idx), dtype=pl.String))
            elif f.name in subs:
                field_parts[f.name].append(work.get_column(subs[f.name]).gather(idx).cast(f.dtype))
            else:
                field_parts[f.name].append(pl.Series([None] * len(idx), dtype=f.dtype))
    rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int32)
    struct = pl.DataFrame({f: pl.concat(v).gather(order) if v else pl.Series([], dtype=inner.fields[i].dtype)
                           for i, (f, v) in enumerate(field_parts.items())}).to_struct()
    arr = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), struct.to_arrow())
    return pl.Series(ln, pl.from_arrow(arr)).cast(dtype)


def _concat_lists(a: pl.Series, b: pl.Series) -> pl.Series:
    return pl.DataFrame({"a": a, "b": b}).select(
        pl.when(pl.col("a").is_null()).then(pl.col("b")).when(pl.col("b").is_null()).then(pl.col("a"))
        .otherwise(pl.concat_list(["a", "b"]))).to_series()


_INT64_MAX = 2 ** 63 - 1


def _json_value(kind: str, v: Any):
    if v is None:
        return None
    if kind == "money":
        try:
            d = Decimal(str(v)) * 100
        except InvalidOperation:
            raise ValueError(v)
        if not d.is_finite() or d != d.to_integral_value() or abs(d) > _INT64_MAX:
            raise ValueError(v)
        return int(d)
    if kind == "count":
        if isinstance(v, bool) or int(v) != v or v < 0 or v > _INT64_MAX:  # int(inf): OverflowError
            raise ValueError(v)
        return int(v)
    if kind == "bool":
        if not isinstance(v, bool):
            raise ValueError(v)
        return v
    if kind == "date":
        return dt.date.fromisoformat(str(v)[:10])
    allowed = ENUMS[kind]
    v = ENUM_ALIASES.get(str(v), str(v))
    if v not in allowed:
        raise ValueError(v)
    return v


def _json_lists(raw: pl.DataFrame, s: ColSpec, zi: int):
    """A JSON list cell per row (Python per non-empty cell: the column scheme is the fast one)."""
    subs = LIST_FIELDS[s.list_name]
    dtype = column_dtype(s.list_name)
    vals, bad_rows, bad_vals = [], [], []
    col = raw.get_column(s.header).cast(pl.String)
    rows = raw.get_column("row")
    for r, cell in zip(rows.to_list(), col.to_list()):
        if cell is None or cell.strip() in NULL_MARKERS:
            vals.append(None)
            continue
        try:
            data = json.loads(cell)
            if isinstance(data, dict):
                data = [data]
            if not isinstance(data, list):
                raise ValueError(cell)
            items = []
            for el in data:
                if not isinstance(el, dict):
                    raise ValueError(cell)
                items.append({k: _json_value(kind, el.get(k)) for k, kind in subs.items()})
            vals.append(items)
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError):
            vals.append(None)
            bad_rows.append(r)
            bad_vals.append(cell)
    series = pl.Series(s.path, vals, dtype=dtype)
    errs = None
    if bad_rows:
        errs = pl.DataFrame({"row": bad_rows, "field": [s.header] * len(bad_rows), "path": [s.path] * len(bad_rows),
                             "value": bad_vals, "problem": [PROBLEMS["json"][zi]] * len(bad_rows)}, schema=ERR_SCHEMA)
    return series, errs


# ------------------------------------------------------------------------------------ reading
def input_format(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    fmt = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".xlsm": "xlsx"}.get(ext)
    if fmt is None:
        raise ValueError(f"{path}: unknown file type {ext!r} (use .csv, .xlsx or .parquet)")
    return fmt


def count_rows(path: str | os.PathLike) -> int | None:
    fmt = input_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "csv":
        n = 0
        with open(path, "rb") as f:
            while True:
                b = f.read(1 << 24)
                if not b:
                    break
                n += b.count(b"\n")
            if n and f.seek(-1, 2) is not None and f.read(1) != b"\n":
                n += 1
        return max(n - 1, 0)
    return None


_TRANSCODED: dict = {}


def ensure_utf8(path) -> str:
    """CSV exported by Chinese software is often GB18030/GBK: transcode it (streamed) to UTF-8."""
    path = str(path)
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    try:
        head.decode("utf-8")
        return path
    except UnicodeDecodeError as e:
        if e.start > len(head) - 4:  # a character cut at the block end
            return path
    key = (path, os.path.getmtime(path))
    if key in _TRANSCODED and os.path.exists(_TRANSCODED[key]):
        return _TRANSCODED[key]
    try:
        head.decode("gb18030")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: the CSV is neither UTF-8 nor GB18030/GBK text; save it as CSV UTF-8")
    fd, tmp = tempfile.mkstemp(prefix="srdi-utf8-", suffix=".csv")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, open(path, encoding="gb18030", errors="replace", newline="") as src:
        while True:
            block = src.read(1 << 22)
            if not block:
                break
            out.write(block)
    _TRANSCODED[key] = tmp
    return tmp


def read_chunks(path: str | os.PathLike, chunk_size: int = 500_000, columns: list[str] | None = None
                ) -> Iterator[pl.DataFrame]:
    """Yield raw chunks (CSV: every column as text) with a `row` column (1-based data row)."""
    fmt = input_format(path)
    start = 1
    if fmt == "csv":
        path = ensure_utf8(path)
        it = pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", missing_columns="insert") \
            .collect_batches(chunk_size=chunk_size)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)

        def batches():
            # one reader per row group: a single iter_batches over the whole file kept buffers alive
            # as it went (10M rows peaked at 3.6 GiB, a third of it the reader); Polars'
            # collect_batches reads ahead of a slow consumer. Memory: one row group at most.
            for g in range(pf.num_row_groups):
                yield from pf.iter_batches(batch_size=chunk_size, row_groups=[g], columns=columns)

        it = (pl.from_arrow(b) for b in batches())
        it = (df if isinstance(df, pl.DataFrame) else df.to_frame() for df in it)
    else:
        it = _xlsx_chunks(path, chunk_size)
    for df in it:
        if df.height == 0:
            continue
        if "row" in df.columns:
            df = df.rename({"row": "row_in_file"})
        yield df.with_columns(pl.int_range(start, start + df.height, dtype=pl.Int64).alias("row"))
        start += df.height


def read_headers(path: str | os.PathLike) -> list[str]:
    fmt = input_format(path)
    if fmt == "parquet":
        return list(pl.scan_parquet(path).collect_schema().names())
    if fmt == "csv":
        return list(pl.scan_csv(ensure_utf8(path), infer_schema=False, n_rows=0).collect_schema().names())
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    for row in wb.get_sheet_by_index(0).iter_rows():
        return [str(h) if h is not None else "" for h in row]
    return []


def _cell_text(v) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v)) if abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _xlsx_chunks(path, chunk_size: int) -> Iterator[pl.DataFrame]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    rows = wb.get_sheet_by_index(0).iter_rows()
    header = None
    buf: list[list] = []
    for r in rows:
        if header is None:
            header = [str(h) if h is not None else f"column_{i + 1}" for i, h in enumerate(r)]
            continue
        buf.append(r)
        if len(buf) >= chunk_size:
            yield _xlsx_frame(header, buf)
            buf = []
    if buf and header:
        yield _xlsx_frame(header, buf)


def _xlsx_frame(header, buf) -> pl.DataFrame:
    n = len(header)
    cols = {h: [_cell_text(r[i]) if i < len(r) else None for r in buf] for i, h in enumerate(header)}
    return pl.DataFrame(cols, schema={h: pl.String for h in header})[:, :n]


# ------------------------------------------------------------------------------------ writing
def atomic_target(path: str | os.PathLike) -> tuple[str, Any]:
    """A temporary file beside `path`; call the returned commit() to move it into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=str(p.parent))
    os.close(fd)

    def commit():
        os.replace(tmp, p)

    return tmp, commit


class TableSink:
    """Streams DataFrame chunks to a Parquet or CSV file (written atomically on close)."""

    def __init__(self, path: str | os.PathLike, fmt: str):
        self.path, self.fmt = Path(path), fmt
        self.tmp, self._commit = atomic_target(path)
        self._writer = None
        self._fh = None
        self.rows = 0

    def write(self, df: pl.DataFrame):
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            t = df.to_arrow()
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, t.schema, compression="zstd")
            self._writer.write_table(t.cast(self._writer.schema) if t.schema != self._writer.schema else t)
        else:
            if self._fh is None:
                self._fh = open(self.tmp, "wb")
                df.write_csv(self._fh, include_header=True)
            else:
                df.write_csv(self._fh, include_header=False)
        self.rows += df.height

    def close(self, empty_schema: dict | None = None):
        if self.fmt == "parquet":
            if self._writer is None:
                pl.DataFrame(schema=empty_schema or {}).write_parquet(self.tmp)
            else:
                self._writer.close()
        else:
            if self._fh is None:
                pl.DataFrame(schema=empty_schema or {}).write_csv(self.tmp)
            else:
                self._fh.close()
        self._commit()

    def abort(self):
        try:
            if self._writer is not None:
                self._writer.close()
            if self._fh is not None:
                self._fh.close()
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
