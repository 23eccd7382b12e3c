"""The self-assessment form: its fields (grouped by 专业化 / 精细化 / 特色化 / 创新能力), and the exact
conversion between the form (amounts in 万元, years relative to the as-of date) and the contract
profile (amounts in yuan, fiscal years).

Form field names are contract paths, with ``y1``/``y2``/``y3`` for the fiscal years before the
as-of year (``financials.y1.rd_expense`` = ``financials.<as_of.year - 1>.rd_expense``) and list
items numbered (``titles.0.type``). Values are strings, as a browser sends them.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from srdi.i18n import name_pairs

YEARS = ("y1", "y2", "y3")
LISTS = ("titles", "awards", "standards_led", "equity_financing")
_WAN = Decimal(10000)
_WAN_RE = re.compile(r"^-?\d{1,12}(\.\d{1,6})?$")


@dataclass(frozen=True)
class F:
    """One form field. kind: text | wan (money in 万元) | swan (signed 万元) | int | num | bool |
    enum | date | year. ``years`` repeats it per fiscal year (y1..y3 or a subset)."""
    path: str
    zh: str
    en: str
    kind: str = "text"
    options: tuple = ()
    years: tuple = ()
    required: bool = False
    hint_zh: str = ""
    hint_en: str = ""
    min: str | None = None
    max: str | None = None


@dataclass(frozen=True)
class ListF:
    """A repeatable group (titles, awards, ...): ``path.N.sub``."""
    path: str
    zh: str
    en: str
    fields: tuple
    rows: int = 3


@dataclass(frozen=True)
class Section:
    id: str
    zh: str
    en: str
    items: tuple = field(default_factory=tuple)


def _opts(*pairs):
    return tuple(pairs)


def _province_options():
    from srdi.profile import PROVINCES

    return tuple((code, zh, en) for code, (zh, en) in PROVINCES.items())


def _size_industry_options():
    from srdi.profile import SIZE_INDUSTRIES

    return tuple((k, zh, en) for k, (zh, en) in SIZE_INDUSTRIES.items())


TITLE_NAMES = name_pairs("title")  # (zh, en) by titles[].type, from the i18n catalogue


def sections() -> list[Section]:
    """The form, in order. Built on call (province names come from the profile code tables)."""
    fin = "financials.{y}."
    return [
        Section("basic", "基本信息", "Basic information", (
            F("name", "企业名称", "Enterprise name", required=True),
            F("uscc", "统一社会信用代码", "Unified social credit code (USCC)", hint_zh="18 位，校验位会被核验",
              hint_en="18 characters; the check digit is verified"),
            F("province", "所在省份", "Province", "enum", _province_options()),
            F("industry", "行业代码（GB/T 4754-2017）", "Industry code (GB/T 4754-2017)", hint_zh="如 C3484",
              hint_en="e.g. C3484"),
            F("size_industry", "划型行业（可选覆盖）", "Size-standard industry (optional override)", "enum",
              _size_industry_options()),
            F(fin + "employees", "从业人员（人，年平均）", "Employees (persons, year average)", "int", years=YEARS),
        )),
        Section("specialisation", "专业化", "Specialisation", (
            F("niche_since", "开始从事细分市场的日期", "Serving the niche market since", "date"),
            F(fin + "operating_revenue", "营业收入（万元）", "Operating revenue (10k yuan)", "wan", years=YEARS),
            F(fin + "main_business_revenue", "主营业务收入（万元）", "Main-business revenue (10k yuan)", "wan", years=YEARS),
            F(fin + "main_product_revenue", "主导产品收入（万元）", "Main-product revenue (10k yuan)", "wan", years=YEARS),
            F("product_field.strategic_emerging", "主导产品属于战略性新兴产业", "Main product in a strategic emerging industry", "bool"),
            F("product_field.chain_gap_filling", "在产业链关键环节补短板/锻长板/填空白", "Fills gaps at key links of the industrial chain", "bool"),
            F("product_field.six_foundations", "属于工业“六基”、中华老字号或配套龙头企业", "Industrial 'six foundations', time-honoured brand or key-chain supplier", "bool"),
            F("product_field.little_giant_key_field", "属于“小巨人”重点领域", "In a little-giant priority field", "bool"),
        )),
        Section("refinement", "精细化", "Refinement", (
            F(fin + "net_profit", "净利润（万元）", "Net profit (10k yuan)", "swan", years=YEARS),
            F(fin + "total_assets", "资产总额（万元）", "Total assets (10k yuan)", "wan", years=YEARS),
            F(fin + "total_liabilities", "负债总额（万元）", "Total liabilities (10k yuan)", "wan", years=YEARS),
            F(fin + "total_costs", "成本费用支出总额（万元）", "Total costs and expenses (10k yuan)", "wan", years=YEARS),
            F("digital_level", "数字化水平等级（1–4）", "Digitalisation level (1-4)", "enum",
              _opts(("1", "一级", "Level 1"), ("2", "二级", "Level 2"), ("3", "三级", "Level 3"), ("4", "四级", "Level 4"))),
            F("quality.quality_system_certified", "通过质量管理体系认证", "Quality management system certified", "bool"),
            F("quality.provincial_quality_award", "获得省级以上质量奖", "Provincial (or higher) quality award", "bool"),
            F("quality.standards_drafting", "参与标准制修订", "Took part in drafting standards", "bool"),
            F("management_cert_or_foreign_product_cert", "获得管理体系认证或产品获境外认证", "Management certification or foreign product certification", "bool"),
            F("info_system_core_business", "至少一项核心业务采用信息系统", "A core business runs on an information system", "bool"),
            F("quality_score.{y}", "发展质量评价得分（0–100）", "Development-quality score (0-100)", "num", years=("y1", "y2"),
              min="0", max="100"),
        )),
        Section("distinctiveness", "特色化", "Distinctiveness", (
            F("market_share_pct", "细分市场全国占有率（%）", "National niche market share (%)", "num", min="0", max="100"),
            F("domestic_rank", "细分市场全国排名", "National rank in the niche", "int", min="1"),
            F("market_position_declared", "声明在细分领域具有领先地位和影响力", "Declares a leading, influential niche position", "bool"),
            F("quality.own_brand", "拥有自主品牌", "Has its own brand", "bool"),
            F("local_score", "特色化指标得分（省级评定，0–15）", "Distinctiveness score awarded by the province (0-15)", "num",
              min="0", max="15"),
        )),
        Section("innovation", "创新能力", "Innovation", (
            F(fin + "rd_expense", "研发费用（万元）", "R&D expense (10k yuan)", "wan", years=YEARS),
            F(fin + "rd_employees", "研发人员（人）", "R&D staff (persons)", "int", years=YEARS),
            F(fin + "tech_employees", "科技人员（人）", "Science & technology staff (persons)", "int", years=YEARS),
            F("ip.class1", "Ⅰ类知识产权（件）", "Class I IP (count)", "int"),
            F("ip.class1_self_developed", "其中自主研发（件）", "of which self-developed", "int"),
            F("ip.class1_high_value", "其中高价值（件）", "of which high-value", "int"),
            F("ip.class1_applied_with_benefit", "实际应用并产生经济效益的Ⅰ类（件）", "Class I applied with economic benefit", "int"),
            F("ip.class2", "Ⅱ类知识产权（件）", "Class II IP (count)", "int"),
            F("rd_institution", "研发机构最高级别", "Highest recognised R&D institution", "enum",
              _opts(("national", "国家级", "National"), ("provincial", "省级", "Provincial"), ("municipal", "市级", "Municipal"),
                    ("below_municipal", "市级以下", "Below municipal"), ("none", "无", "None"))),
            F("rd_institution_joint", "与高校或科研院所联合共建", "Built jointly with a university or institute", "bool"),
            ListF("titles", "已获称号", "Titles held", (
                F("type", "称号", "Title", "enum", tuple((k, zh, en) for k, (zh, en) in TITLE_NAMES.items())),
                F("valid_from", "有效期起", "Valid from", "date"),
                F("valid_until", "有效期止", "Valid until", "date"),
            )),
            ListF("awards", "科技奖励", "Science & technology awards", (
                F("level", "级别", "Level", "enum", _opts(("national", "国家级", "National"), ("provincial", "省级", "Provincial"))),
                F("year", "年份", "Year", "year"),
                F("rank", "获奖单位排名", "Rank among winners", "int", min="1"),
            ), rows=2),
            ListF("standards_led", "主导制定的标准", "Standards led", (
                F("level", "级别", "Level", "enum", _opts(("international", "国际标准", "International"),
                                                       ("national", "国家标准", "National"), ("industry", "行业标准", "Industry"))),
                F("year", "年份", "Year", "year"),
            ), rows=2),
            ListF("equity_financing", "新增股权融资", "New equity financing", (
                F("date", "日期", "Date", "date"),
                F("amount", "金额（万元）", "Amount (10k yuan)", "wan"),
                F("qualified_investor", "合格机构投资者", "Qualified institutional investor", "bool"),
            ), rows=2),
            F("maker_china.year", "“创客中国”获奖年份", "Maker China award year", "year"),
            F("maker_china.group", "“创客中国”组别", "Maker China group", "enum",
              _opts(("top50", "全国 50 强", "National top 50"), ("top500", "全国 500 强", "National top 500"))),
        )),
        Section("compliance", "合规与集团", "Compliance and group", (
            F("compliance.abnormal_operations_list", "被列入经营异常名录", "On the abnormal-operations list", "bool"),
            F("compliance.serious_dishonesty_list", "被列入严重失信主体名单", "On the serious-dishonesty list", "bool"),
            F("compliance.prohibited_or_eliminated_products", "生产禁止或淘汰类产品", "Makes prohibited or eliminated products", "bool"),
            F("compliance.major_incident_3y", "近三年发生重大安全、质量或环境事故", "Major safety, quality or environmental incident (3 years)", "bool"),
            F("compliance.tax_violation_3y", "近三年有偷漏税等违法行为", "Tax violation (3 years)", "bool"),
            F("compliance.data_fraud", "存在数据造假", "Data fraud", "bool"),
            F("group.holding_link_to_little_giant", "与已认定“小巨人”存在控股关系（>50%）", "Holding link (>50%) to an existing little giant", "bool"),
            F("group.same_group_similar_product", "同一集团内存在同类产品企业", "Same group, similar product", "bool"),
        )),
    ]


def all_fields() -> dict[str, tuple[F, str]]:
    """Every concrete form name -> (field, kind)."""
    out: dict[str, tuple[F, str]] = {}
    for s in sections():
        for it in s.items:
            if isinstance(it, ListF):
                out[f"{it.path}._none"] = (NONE_FIELD, "bool")  # "true": the firm has none (an empty list)
                for i in range(50):  # lists may grow in the browser; cap at 50 rows
                    for f in it.fields:
                        out[f"{it.path}.{i}.{f.path}"] = (f, f.kind)
            elif it.years:
                for y in it.years:
                    out[it.path.format(y=y)] = (it, it.kind)
            else:
                out[it.path] = (it, it.kind)
    return out


NONE_FIELD = F("_none", "无", "None", "bool")

_FIELDS_CACHE: dict[str, tuple[F, str]] | None = None


def _fields() -> dict[str, tuple[F, str]]:
    global _FIELDS_CACHE
    if _FIELDS_CACHE is None:
        _FIELDS_CACHE = all_fields()
    return _FIELDS_CACHE


# ------------------------------------------------------------------------------ 万元 <-> yuan
def plain(d: Decimal) -> str:
    """A decimal as a plain string: no exponent, no trailing zeros ("70000000", "12.5")."""
    if d == 0:
        return "0"
    s = format(d.normalize(), "f")
    return s


def wan_to_yuan(text: str) -> str:
    """'7000' (万元) -> '70000000' (yuan), exactly. At most 6 decimals in 万元 (= 2 in yuan, fen).
    Raises ValueError with a short reason."""
    t = text.strip().replace(",", "").replace("，", "")
    if not _WAN_RE.match(t):
        raise ValueError("not_wan")
    return plain(Decimal(t) * _WAN)


def yuan_to_wan(value: Any) -> str:
    """70000000 / '70000000' (yuan) -> '7000' (万元), exactly."""
    return plain(Decimal(str(value)) / _WAN)


class FormError(Exception):
    def __init__(self, errors: dict[str, tuple[str, str]]):
        self.errors = errors  # form name -> (en, zh)
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in errors.items()))


def year_map(as_of: dt.date) -> dict[str, int]:
    return {y: as_of.year - i for i, y in enumerate(YEARS, start=1)}


def form_to_profile(fields: dict[str, Any], as_of: dt.date, rows_map: dict | None = None) -> dict:
    """Form fields (strings) -> a contract profile dict (unvalidated; amounts as yuan strings).
    Unknown names and empty values are ignored. Raises FormError for values of the wrong shape.
    List rows are renumbered without the empty ones; ``rows_map`` (optional) receives
    {(list, new index): form row index} to show validation errors on the right row."""
    known = _fields()
    ymap = year_map(as_of)
    errors: dict[str, tuple[str, str]] = {}
    out: dict[str, Any] = {}
    lists: dict[str, dict[int, dict]] = {}
    for name, raw in fields.items():
        if not isinstance(name, str) or name not in known:
            continue
        if raw is None:
            continue
        text = str(raw).strip()
        if text == "":
            continue
        f, kind = known[name]
        try:
            value: Any = _convert(kind, text)
        except ValueError as e:
            errors[name] = _MESSAGES.get(str(e), _MESSAGES["bad"])
            continue
        parts = name.split(".")
        if parts[0] in LISTS:
            if parts[1] == "_none":
                if value is True:
                    lists.setdefault(parts[0], {})
                continue
            lists.setdefault(parts[0], {}).setdefault(int(parts[1]), {})[parts[2]] = value
            continue
        parts = [str(ymap[p]) if p in ymap else p for p in parts]
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    if errors:
        raise FormError(errors)
    for key, rows in lists.items():
        order = sorted(rows)
        out[key] = [rows[i] for i in order]
        if rows_map is not None:
            rows_map.update({(key, n): i for n, i in enumerate(order)})
    return out


_MESSAGES = {
    "not_wan": ("an amount in 10k yuan (万元), at most 6 decimals", "应为以万元为单位的金额，最多 6 位小数"),
    "not_int": ("a whole number", "应为整数"),
    "not_num": ("a number", "应为数字"),
    "not_bool": ("yes or no", "应为“是”或“否”"),
    "not_date": ("a date YYYY-MM-DD", "应为 YYYY-MM-DD 格式的日期"),
    "not_year": ("a year, e.g. 2024", "应为年份，如 2024"),
    "too_long": ("too long", "过长"),
    "bad": ("not a valid value", "取值无效"),
}


def _convert(kind: str, text: str) -> Any:
    if len(text) > 200:
        raise ValueError("too_long")
    if kind in ("wan", "swan"):
        if kind == "wan" and text.startswith("-"):
            raise ValueError("not_wan")
        return wan_to_yuan(text)
    if kind == "int":
        if not re.fullmatch(r"\d{1,9}", text):
            raise ValueError("not_int")
        return int(text)
    if kind == "year":
        if not re.fullmatch(r"\d{4}", text):
            raise ValueError("not_year")
        return int(text)
    if kind == "num":
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise ValueError("not_num") from None
        if not d.is_finite():
            raise ValueError("not_num")
        return plain(d)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError("not_bool")
        return text == "true"
    if kind == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError("not_date")
        return text
    return text


def profile_to_form(profile: dict, as_of: dt.date) -> dict[str, str]:
    """A contract profile dict -> form fields (strings; amounts in 万元; years y1..y3). Fields the
    form does not carry (e.g. financial years older than y3) are dropped."""
    known = _fields()
    inv = {str(v): k for k, v in year_map(as_of).items()}
    out: dict[str, str] = {}

    def put(name: str, value: Any):
        if name not in known or value is None:
            return
        kind = known[name][1]
        if kind in ("wan", "swan"):
            out[name] = yuan_to_wan(value)
        elif kind == "bool":
            out[name] = "true" if value else "false"
        elif isinstance(value, Decimal):
            out[name] = plain(value)
        else:
            out[name] = str(value)

    def walk(prefix: list[str], node: Any):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(prefix + [str(k)], v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(prefix + [str(i)], v)
        else:
            parts = list(prefix)
            if parts and parts[0] in ("financials", "quality_score") and len(parts) > 1:
                if parts[1] not in inv:
                    return
                parts[1] = inv[parts[1]]
            put(".".join(parts), node)

    walk([], profile)
    for key in LISTS:
        if profile.get(key) == []:
            out[f"{key}._none"] = "true"
    return out


def profile_path_to_form(path: str, as_of: dt.date, rows_map: dict | None = None) -> str:
    """'financials.2024.rd_expense' -> 'financials.y1.rd_expense' (for showing errors inline);
    'titles.0.type' -> the form row it came from (see ``form_to_profile``)."""
    inv = {str(v): k for k, v in year_map(as_of).items()}
    parts = path.split(".")
    if rows_map and len(parts) > 1 and parts[0] in LISTS and parts[1].isdigit():
        parts[1] = str(rows_map.get((parts[0], int(parts[1])), parts[1]))
    if len(parts) > 1 and parts[0] in ("financials", "quality_score") and parts[1] in inv:
        parts[1] = inv[parts[1]]
    return ".".join(parts)
