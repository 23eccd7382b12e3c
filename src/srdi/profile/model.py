"""Pydantic v2 model of the enterprise profile (contract.md section 1).

Every model forbids unknown fields. Every field is optional except ``name`` (and the
identifying fields of list items: a title's ``type``, an award's ``level`` and ``year``, a
led standard's ``level`` and ``year``, maker_china's ``year`` and ``group``). An explicit
``null`` is treated as absent.

Custom errors are ``PydanticCustomError`` whose ``ctx`` carries ``zh`` (the Chinese message);
``srdi.profile.load`` turns them into ``FieldError``.

Keep imports light: this module is on the CLI cold-start path.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .codes import CodeError, normalize_province, parse_industry, size_industry_for
from .uscc import _problem as _uscc_problem

__all__ = [
    "Profile",
    "Financials",
    "IP",
    "EquityFinancing",
    "StandardLed",
    "Award",
    "Title",
    "MakerChina",
    "Quality",
    "ProductField",
    "Compliance",
    "Group",
    "TitleType",
    "SizeIndustryId",
    "TITLE_TYPES",
]


# --------------------------------------------------------------------------------------
# Error helpers
# --------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _err(kind: str, en: str, zh: str, key: str | None = None) -> PydanticCustomError:
    # The message is the template "{en}", filled last: pydantic fills a template by plain text
    # replacement of each ctx key in turn, so braces in the message ("{zh}" in a value) stay as given.
    # `key`: a mapping key under the field, appended to the error's path by load.field_errors.
    ctx = {"zh": zh} if key is None else {"zh": zh, "key": key}
    ctx["en"] = en
    return PydanticCustomError(kind, "{en}", ctx)


# --------------------------------------------------------------------------------------
# Scalar converters (BeforeValidator functions)
# --------------------------------------------------------------------------------------

_FEN = Decimal("0.01")
_MAX_DIGITS = 26  # whole digits an amount can have and still be checked to the fen (28-digit context)
_INT_FAST = 10 ** _MAX_DIGITS


def _to_decimal(value: Any, *, money: bool) -> Decimal:
    what_en = "an amount in yuan (a number or a decimal string like \"12345678.90\")" if money else "a number"
    what_zh = "以元为单位的金额（数字或如 \"12345678.90\" 的十进制字符串）" if money else "数字"
    if isinstance(value, bool):
        raise _err("number_type", f"must be {what_en}, got {_show(value)}", f"应为{what_zh}，实际为 {_show(value)}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        try:
            result = Decimal(text) if text else None
        except InvalidOperation:
            result = None
        if result is None:
            raise _err(
                "number_parsing", f"must be {what_en}, got {_show(value)}", f"应为{what_zh}，实际为 {_show(value)}"
            )
    else:
        raise _err(
            "number_type",
            f"must be {what_en}, got {type(value).__name__}",
            f"应为{what_zh}，实际类型为 {type(value).__name__}",
        )
    if not result.is_finite():
        raise _err("finite_number", f"must be a finite number, got {_show(value)}", f"应为有限数值，实际为 {_show(value)}")
    try:
        if result.as_tuple().exponent > 0:  # e.g. Decimal("1E+20") from a float: write it out in full
            result = result.quantize(Decimal(1))
        inexact = money and result != result.quantize(_FEN, rounding="ROUND_DOWN")
    except InvalidOperation:  # beyond the decimal context's 28 digits
        raise _err("number_too_large", f"must have at most {_MAX_DIGITS} digits before the decimal point, got {_show(value)}",
                   f"整数部分最多 {_MAX_DIGITS} 位，实际为 {_show(value)}") from None
    if inexact:
        raise _err(
            "decimal_places_fen",
            f"at most 2 decimal places (fen), got {_show(value)}",
            f"最多两位小数（精确到分），实际为 {_show(value)}",
        )
    return result


def _decimal_or_none(value: Any, money: bool) -> Any:
    if value is None:
        return None
    if type(value) is int and -_INT_FAST < value < _INT_FAST:  # most amounts: whole yuan, exact (not bool)
        return Decimal(value)
    return _to_decimal(value, money=money)


def _money(value: Any) -> Any:  # _decimal_or_none(value, True), its common case inline
    if type(value) is int and -_INT_FAST < value < _INT_FAST:
        return Decimal(value)
    return _decimal_or_none(value, True)


def _number(value: Any) -> Any:  # _decimal_or_none(value, False), its common case inline
    if type(value) is int and -_INT_FAST < value < _INT_FAST:
        return Decimal(value)
    return _decimal_or_none(value, False)


def _whole(value: Any) -> Any:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if type(value) is str:  # most often a year key ("2024"): plain ASCII digits are the integer they spell
        text = value.strip()
        if 0 < len(text) <= 18 and text.isascii() and text.isdigit():
            return int(text)
    if isinstance(value, bool):
        raise _err("int_type", f"must be a whole number, got {_show(value)}", f"应为整数，实际为 {_show(value)}")
    if isinstance(value, (float, Decimal, str)):
        try:
            d = _to_decimal(value, money=False)
        except PydanticCustomError:
            d = None
        if d is not None and d == d.to_integral_value():
            return int(d)
        raise _err("int_parsing", f"must be a whole number, got {_show(value)}", f"应为整数，实际为 {_show(value)}")
    raise _err(
        "int_type",
        f"must be a whole number, got {type(value).__name__}",
        f"应为整数，实际类型为 {type(value).__name__}",
    )


def _scaled(value: Any) -> Any:
    """A number the engine keeps to 4 decimal places (percentages, scores): no more places."""
    if type(value) is int and -_INT_FAST < value < _INT_FAST:  # a whole number has none
        return Decimal(value)
    result = _number(value)
    if result is not None and result.is_finite() and result.normalize().as_tuple().exponent < -4:
        raise _err(
            "decimal_places_4",
            f"at most 4 decimal places, got {_show(value)}",
            f"最多四位小数，实际为 {_show(value)}",
        )
    return result


_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _date(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise _err(
            "date_type",
            f"must be a date YYYY-MM-DD without a time, got {value.isoformat()}",
            f"应为日期 YYYY-MM-DD（不含时间），实际为 {value.isoformat()}",
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _DATE_RE.match(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise _err(
                    "date_invalid",
                    f"not a valid calendar date: {_show(value)}",
                    f"不是有效的日期：{_show(value)}",
                ) from None
        raise _err(
            "date_parsing", f"must be a date YYYY-MM-DD, got {_show(value)}", f"应为 YYYY-MM-DD 格式的日期，实际为 {_show(value)}"
        )
    raise _err(
        "date_type",
        f"must be a date YYYY-MM-DD, got {type(value).__name__}",
        f"应为 YYYY-MM-DD 格式的日期，实际类型为 {type(value).__name__}",
    )


Money = Annotated[Decimal, Field(ge=0), BeforeValidator(_money)]
SignedMoney = Annotated[Decimal, BeforeValidator(_money)]
Count = Annotated[int, Field(ge=0), BeforeValidator(_whole)]
Year = Annotated[int, Field(ge=1990, le=2100), BeforeValidator(_whole)]
Date = Annotated[date, BeforeValidator(_date)]
Percent = Annotated[Decimal, Field(ge=0, le=100), BeforeValidator(_scaled)]
StrictBool = Annotated[bool, Strict()]

TitleType = Literal[
    "innovative_sme",
    "tech_sme",
    "tech_innovative_sme",
    "provincial_srdi_sme",
    "little_giant",
    "high_tech_enterprise",
    "tech_innovation_demo_enterprise",
    "ip_advantage_enterprise",
    "ip_demo_enterprise",
    "single_champion",
]
TITLE_TYPES: tuple[str, ...] = TitleType.__args__  # type: ignore[attr-defined]

SizeIndustryId = Literal[
    "agriculture",
    "industry",
    "construction",
    "wholesale",
    "retail",
    "transport",
    "warehousing",
    "postal",
    "accommodation",
    "catering",
    "information_transmission",
    "software_it",
    "real_estate_development",
    "property_management",
    "leasing_business_services",
    "other",
]


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for v in data.values():
                if v is None:
                    return {k: v for k, v in data.items() if v is not None}
        return data


def _not_above(value: Any, info: ValidationInfo, other: str, zh: str, other_zh: str) -> Any:
    limit = info.data.get(other)
    if value is not None and limit is not None and value > limit:
        raise _err(
            "exceeds",
            f"{info.field_name} ({value}) must not exceed {other} ({limit})",
            f"{zh}（{value}）不能大于{other_zh}（{limit}）",
        )
    return value


class Financials(_Base):
    """One fiscal year; amounts in CNY yuan."""

    operating_revenue: Money | None = None
    main_business_revenue: Money | None = None
    main_product_revenue: Money | None = None
    rd_expense: Money | None = None
    net_profit: SignedMoney | None = None
    total_assets: Money | None = None
    total_liabilities: Money | None = None
    employees: Count | None = None
    rd_employees: Count | None = None
    tech_employees: Count | None = None
    total_costs: Money | None = None

    @field_validator("main_business_revenue", "main_product_revenue")
    @classmethod
    def _revenue_parts(cls, v: Any, info: ValidationInfo) -> Any:
        zh = "主营业务收入" if info.field_name == "main_business_revenue" else "主导产品收入"
        return _not_above(v, info, "operating_revenue", zh, "营业收入")

    @field_validator("rd_employees", "tech_employees")
    @classmethod
    def _staff_parts(cls, v: Any, info: ValidationInfo) -> Any:
        zh = "研发人员" if info.field_name == "rd_employees" else "科技人员"
        return _not_above(v, info, "employees", zh, "从业人员")


class IP(_Base):
    """Valid IP related to the main product."""

    class1: Count | None = None
    class1_self_developed: Count | None = None
    class1_high_value: Count | None = None
    class2: Count | None = None
    class1_applied_with_benefit: Count | None = None

    @field_validator("class1_self_developed", "class1_high_value", "class1_applied_with_benefit")
    @classmethod
    def _subset_of_class1(cls, v: Any, info: ValidationInfo) -> Any:
        zh = {
            "class1_self_developed": "自主研发的Ⅰ类知识产权数",
            "class1_high_value": "高价值Ⅰ类知识产权数",
            "class1_applied_with_benefit": "已实际应用并产生经济效益的Ⅰ类知识产权数",
        }[info.field_name]
        return _not_above(v, info, "class1", zh, "Ⅰ类知识产权总数")


class EquityFinancing(_Base):
    date: Date | None = None
    amount: Money | None = None
    qualified_investor: StrictBool | None = None


class StandardLed(_Base):
    level: Literal["international", "national", "industry"]
    year: Year


class Award(_Base):
    level: Literal["national", "provincial"]
    year: Year
    rank: Annotated[int, Field(ge=1), BeforeValidator(_whole)] | None = None


class Title(_Base):
    type: TitleType
    valid_from: Date | None = None
    valid_until: Date | None = None

    @field_validator("valid_until")
    @classmethod
    def _order(cls, v: Any, info: ValidationInfo) -> Any:
        start = info.data.get("valid_from")
        if v is not None and start is not None and v < start:
            raise _err(
                "date_order",
                f"valid_until ({v.isoformat()}) is before valid_from ({start.isoformat()})",
                f"有效期截止日（{v.isoformat()}）早于起始日（{start.isoformat()}）",
            )
        return v


class MakerChina(_Base):
    year: Year
    group: Literal["top50", "top500"]


class Quality(_Base):
    provincial_quality_award: StrictBool | None = None
    quality_system_certified: StrictBool | None = None
    own_brand: StrictBool | None = None
    standards_drafting: StrictBool | None = None


class ProductField(_Base):
    strategic_emerging: StrictBool | None = None
    chain_gap_filling: StrictBool | None = None
    six_foundations: StrictBool | None = None
    little_giant_key_field: StrictBool | None = None


class Compliance(_Base):
    """Each true means a problem."""

    abnormal_operations_list: StrictBool | None = None
    serious_dishonesty_list: StrictBool | None = None
    prohibited_or_eliminated_products: StrictBool | None = None
    major_incident_3y: StrictBool | None = None
    tax_violation_3y: StrictBool | None = None
    data_fraud: StrictBool | None = None


class Group(_Base):
    holding_link_to_little_giant: StrictBool | None = None
    same_group_similar_product: StrictBool | None = None


def _name(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if not value:
            raise _err("string_too_short", "must not be empty", "不能为空")
    return value


# What the code checks made of texts seen before (pure functions of the text; bounded memos):
# valid credit codes, and province and industry texts to their codes. Errors are not kept.
_VALID_USCC: dict[str, bool] = {}
_PROVINCE_CODES: dict[str, str] = {}
_INDUSTRY_CODES: dict[str, str] = {}


def _remember(memo: dict, key: str, value: Any) -> None:
    if len(memo) >= 4096:
        memo.clear()
    memo[key] = value


class Profile(_Base):
    """Enterprise profile, contract.md section 1."""

    name: Annotated[str, BeforeValidator(_name)]
    uscc: str | None = None
    province: str | None = None
    industry: str | None = None
    size_industry: SizeIndustryId | None = None
    niche_since: Date | None = None
    financials: dict[Year, Financials] | None = None
    ip: IP | None = None
    equity_financing: list[EquityFinancing] | None = None
    standards_led: list[StandardLed] | None = None
    awards: list[Award] | None = None
    titles: list[Title] | None = None
    rd_institution: Literal["national", "provincial", "municipal", "below_municipal", "none"] | None = None
    rd_institution_joint: StrictBool | None = None
    digital_level: Annotated[int, Field(ge=1, le=4), BeforeValidator(_whole)] | None = None
    quality: Quality | None = None
    management_cert_or_foreign_product_cert: StrictBool | None = None
    info_system_core_business: StrictBool | None = None
    product_field: ProductField | None = None
    market_share_pct: Percent | None = None
    market_position_declared: StrictBool | None = None
    domestic_rank: Annotated[int, Field(ge=1), BeforeValidator(_whole)] | None = None
    maker_china: MakerChina | None = None
    compliance: Compliance | None = None
    group: Group | None = None
    local_indicators: dict[str, Any] | None = None
    local_score: Annotated[Decimal, Field(ge=0, le=15), BeforeValidator(_scaled)] | None = None
    quality_score: dict[Year, Percent] | None = None

    @field_validator("uscc", mode="before")
    @classmethod
    def _uscc(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if not isinstance(v, str):
            return v  # pydantic reports the type error
        text = v.strip().upper()
        if text in _VALID_USCC:
            return text
        problem = _uscc_problem(text)
        if problem is None:
            _remember(_VALID_USCC, text, True)
        else:
            raise _err(
                "uscc_invalid",
                f"invalid unified social credit code: {problem[0]}",
                f"统一社会信用代码无效：{problem[1]}",
            )
        return text

    @field_validator("province", mode="before")
    @classmethod
    def _province(cls, v: Any) -> Any:
        code = _PROVINCE_CODES.get(v) if type(v) is str else None
        if code is not None:
            return code
        try:
            code = normalize_province(v)
            if type(v) is str:
                _remember(_PROVINCE_CODES, v, code)
            return code
        except CodeError as e:
            raise _err("province_invalid", str(e), e.zh) from None

    @field_validator("industry", mode="before")
    @classmethod
    def _industry(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            if not 1000 <= v <= 9999:
                raise _err(
                    "industry_invalid",
                    f"industry code {v} given as a number is ambiguous: quote it as a string (e.g. \"0511\")",
                    f"以数字形式给出的行业代码 {v} 有歧义：请加引号写成字符串（如 \"0511\"）",
                )
            v = str(v)
        code = _INDUSTRY_CODES.get(v) if type(v) is str else None
        if code is not None:
            return code
        try:
            letter, digits = parse_industry(v)
        except CodeError as e:
            raise _err("industry_invalid", str(e), e.zh) from None
        if type(v) is str:
            _remember(_INDUSTRY_CODES, v, letter + digits)
        return letter + digits

    @field_validator("local_indicators")
    @classmethod
    def _local_indicators(cls, v: Any) -> Any:
        """Indicators a provincial pack declares must have its kind (the engine reads them as such);
        other keys pass through. An error's ctx ``key`` extends its path (load.field_errors)."""
        if not v:
            return v
        from ..engine.packs import local_packs  # lazy: only profiles that give local indicators

        specs: dict[str, dict] = {}
        for lp in local_packs().values():
            for k, spec in lp.get("inputs", {}).items():
                specs.setdefault(k, spec)
        for k, x in v.items():
            spec = specs.get(k)
            if spec is None or x is None:
                continue
            kind = spec.get("kind")
            if kind == "count":
                try:
                    n = _whole(x)
                except PydanticCustomError:
                    n = None
                if n is None or n < 0:
                    raise _err("local_indicator", f"must be a whole number >= 0, got {_show(x)}",
                               f"应为非负整数，实际为 {_show(x)}", key=k)
                v[k] = n
            elif kind == "bool" and not isinstance(x, bool):
                raise _err("local_indicator", f"must be true or false, got {_show(x)}",
                           f"应为布尔值 true 或 false，实际为 {_show(x)}", key=k)
            elif kind == "enum" and spec.get("values") and (not isinstance(x, str) or x not in spec["values"]):
                allowed = ", ".join(spec["values"])
                raise _err("local_indicator", f"must be one of: {allowed}; got {_show(x)}",
                           f"应为以下之一：{allowed}；实际为 {_show(x)}", key=k)
        return v

    def effective_size_industry(self) -> str | None:
        """``size_industry`` when given, else the project mapping of ``industry`` (or None)."""
        if self.size_industry is not None:
            return self.size_industry
        if self.industry is None:
            return None
        return size_industry_for(self.industry)

    def to_contract_dict(self) -> dict[str, Any]:
        """Plain dict of the fields that were given (absent fields stay absent)."""
        return self.model_dump(mode="python", exclude_unset=True)
