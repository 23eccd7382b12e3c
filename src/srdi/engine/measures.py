"""Measures: the quantities the rules compare, as small functions over whole columns.

A measure is an exact rational `num / den` over input columns (money in fen, percents scaled by
10^4), so that every threshold is decided by integer arithmetic (convention C2), plus a float
`obs` used only for display. One definition serves one firm (rowcode.RowOps) and a table (PolarsOps).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

# Input columns of the engine's frame: contract paths (contract.md §1), with units fixed here.
FEN = 100  # money is held in integer fen (0.01 yuan)
SCALE4 = 10_000  # decimal inputs (percent, scores) are held as integers x 10^4

FIN_MONEY = (
    "operating_revenue", "main_business_revenue", "main_product_revenue", "rd_expense",
    "net_profit", "total_assets", "total_liabilities", "total_costs",
)
FIN_COUNT = ("employees", "rd_employees", "tech_employees")

BOOL_PATHS = (
    "quality.provincial_quality_award", "quality.quality_system_certified", "quality.own_brand",
    "quality.standards_drafting",
    "product_field.strategic_emerging", "product_field.chain_gap_filling",
    "product_field.six_foundations", "product_field.little_giant_key_field",
    "compliance.abnormal_operations_list", "compliance.serious_dishonesty_list",
    "compliance.prohibited_or_eliminated_products", "compliance.major_incident_3y",
    "compliance.tax_violation_3y", "compliance.data_fraud",
    "group.holding_link_to_little_giant", "group.same_group_similar_product",
    "management_cert_or_foreign_product_cert", "info_system_core_business",
    "market_position_declared", "rd_institution_joint",
)
COUNT_PATHS = (
    "ip.class1", "ip.class1_self_developed", "ip.class1_high_value", "ip.class2",
    "ip.class1_applied_with_benefit", "digital_level", "domestic_rank", "maker_china.year",
)
SCALED_PATHS = ("market_share_pct", "local_score")  # x 10^4
ENUM_PATHS = ("rd_institution", "maker_china.group", "province", "industry", "size_industry")
DATE_PATHS = ("niche_since",)
LIST_PATHS = ("titles", "awards", "equity_financing", "standards_led")


def path_kind(path: str) -> str:
    """The storage kind of an input column (money, count, scaled, bool, enum, date, list)."""
    if path.startswith("financials."):
        f = path.rsplit(".", 1)[1]
        return "money" if f in FIN_MONEY else "count"
    if path.startswith("quality_score."):
        return "scaled"
    if path in BOOL_PATHS:
        return "bool"
    if path in COUNT_PATHS:
        return "count"
    if path in SCALED_PATHS:
        return "scaled"
    if path in ENUM_PATHS:
        return "enum"
    if path in DATE_PATHS:
        return "date"
    if path in LIST_PATHS:
        return path
    if path.startswith("local_indicators."):
        return "local"
    raise KeyError(path)


@dataclass
class Ctx:
    """What a compiled rule needs to know besides the columns."""

    as_of: Any  # datetime.date
    mode: str  # application | review
    local_kinds: dict[str, str] = field(default_factory=dict)  # local_indicators.* kinds

    @property
    def year(self) -> int:
        return self.as_of.year


@dataclass
class Q:
    """An exact quantity num/den (den > 0 required where it is a column) and its display value.

    unit: money (yuan) | ratio (fraction) | percent | count | score | bool | enum
    den: a backend value, or a positive int constant.
    cagr: compare sqrt(num/den) - 1 instead of num/den (C3, R2026 growth).
    """

    num: Any
    den: Any
    unit: str
    inputs: list[str]
    obs: Any
    cagr: bool = False
    label: str = ""
    # optional exact comparison that avoids computing `num` (e.g. niche years as a date test)
    compare: Any = None

    @property
    def den_is_constant(self) -> bool:
        # constant denominators are plain ints given by the measure itself (FEN, SCALE4, 1);
        # (a flag rather than a type test: it also says the denominator must be bound as a column)
        return isinstance(self.den, int) and not self.den_col

    den_col: bool = False
    # the display value as a function of `num` (the compiler passes it num's bound column, so
    # that an expensive num, e.g. a sum over a list, is computed once)
    obs_of: Callable[[Any], Any] | None = None


def fin(year: int, f: str) -> str:
    return f"financials.{year}.{f}"


# ---------------------------------------------------------------- per-year financial measures
RATIOS = {
    # name: (numerator field, denominator field, zh, en)
    "rd_intensity": ("rd_expense", "operating_revenue"),
    "main_business_share": ("main_business_revenue", "operating_revenue"),
    "main_product_share": ("main_product_revenue", "operating_revenue"),
    "net_margin": ("net_profit", "operating_revenue"),
    "debt_ratio": ("total_liabilities", "total_assets"),
    "rd_staff_share": ("rd_employees", "employees"),
    "tech_staff_share": ("tech_employees", "employees"),
    "rd_cost_share": ("rd_expense", "total_costs"),
}


def _raw(o, ctx: Ctx, path: str) -> Q:
    kind = path_kind(path) if not path.startswith("local_indicators.") else ctx.local_kinds.get(path, "enum")
    c = o.col(path, kind)
    if kind == "money":
        return Q(c, FEN, "money", [path], o.to_float(c, FEN))
    if kind == "scaled":
        unit = "percent" if path == "market_share_pct" else "score"
        return Q(c, SCALE4, unit, [path], o.to_float(c, SCALE4))
    if kind == "count":
        return Q(c, 1, "count", [path], o.to_float(c))
    if kind in ("bool", "enum", "date"):
        return Q(c, 1, kind, [path], None)
    raise KeyError(f"{path} cannot be compared directly")


def measure(o, ctx: Ctx, name: str, year: int | None = None, args: dict | None = None) -> Q:
    """Build the quantity `name` for fiscal year `year` (absolute) with arguments `args`."""
    args = args or {}
    Y = ctx.year
    if name in RATIOS:
        nf, df = RATIOS[name]
        n, d = fin(year, nf), fin(year, df)
        cn, cd = o.col(n), o.col(d)
        return Q(cn, cd, "ratio", [n, d], o.div_float(cn, cd), label=name, den_col=True)
    if name in FIN_MONEY or name in FIN_COUNT:
        return _raw(o, ctx, fin(year, name))
    if name == "quality_score":
        return _raw(o, ctx, f"quality_score.{year}")
    if name == "main_growth":
        # 上年度主营业务收入增长率: R[y]/R[y-1] - 1 = (R[y] - R[y-1]) / R[y-1]
        a, b = fin(year, "main_business_revenue"), fin(year - 1, "main_business_revenue")
        ca, cb = o.col(a), o.col(b)
        return Q(o.sub(ca, cb), cb, "ratio", [a, b], o.div_float(o.sub(ca, cb), cb), den_col=True,
                 obs_of=lambda n: o.div_float(n, cb))
    if name == "main_growth_avg_2y":
        # C3: ((a/b - 1) + (b/c - 1)) / 2 = ((a-b)c + (b-c)b) / (2bc); products need 128 bits
        a, b, c = (fin(year - k, "main_business_revenue") for k in (0, 1, 2))
        ca, cb, cc = (o.wide(o.col(p)) for p in (a, b, c))
        num = o.add(o.mul(o.sub(ca, cb), cc), o.mul(o.sub(cb, cc), cb))
        den = o.mul(o.mul(cb, cc), o.lit(2))
        # display only: the same mean in floats from the 64-bit columns (cheaper than 128-bit)
        ra = o.div_float(o.col(a), o.col(b))
        rb = o.div_float(o.col(b), o.col(c))
        obs = o.sub_float(o.mul(o.add(ra, rb), o.lit(0.5)), 1.0)
        return Q(num, den, "ratio", [a, b, c], obs, den_col=True)
    if name == "revenue_cagr_2y":
        # C3 (R2026): sqrt(Rev[y]/Rev[y-2]) - 1, compared exactly by squaring
        a, c = fin(year, "operating_revenue"), fin(year - 2, "operating_revenue")
        ca, cc = o.wide(o.col(a)), o.wide(o.col(c))
        r = o.div_float(ca, cc)
        obs = o.sub_float(o.sqrt_float(r), 1.0)
        return Q(ca, cc, "ratio", [a, c], obs, cagr=True, den_col=True)
    if name == "rd_expense_sum_2y":
        a, b = fin(year, "rd_expense"), fin(year - 1, "rd_expense")
        s = o.add(o.col(a), o.col(b))
        return Q(s, FEN, "money", [a, b], o.to_float(s, FEN), obs_of=lambda n: o.to_float(n, FEN))
    if name == "rd_expense_avg_2y":
        a, b = fin(year, "rd_expense"), fin(year - 1, "rd_expense")
        s = o.add(o.col(a), o.col(b))
        return Q(s, 2 * FEN, "money", [a, b], o.to_float(s, 2 * FEN), obs_of=lambda n: o.to_float(n, 2 * FEN))
    if name == "niche_years":
        # C9: full years from niche_since to 1 January of the as-of year
        d = o.col("niche_since")
        yrs = o.full_years_to_jan1(d, Y)

        def compare(op: str, n):
            # full years >= N  <=>  niche_since <= 1 January of (Y - N): a date comparison
            import datetime as _dt

            if n.denominator != 1:
                return None
            n = int(n)
            at_least = lambda k: o.lit(True) if k <= 0 else o.cmp(d, "<=", o.lit(_dt.date(Y - k, 1, 1)))  # noqa: E731
            known = o.not_(o.is_null(d))
            ge = {">=": n, ">": n + 1}.get(op)
            if ge is not None:
                return o.and_([known, at_least(ge)]) if ge <= 0 else at_least(ge)
            if op in ("<", "<="):
                lim = n if op == "<" else n + 1
                return o.and_([known, o.lit(False)]) if lim <= 0 else o.not_(at_least(lim))
            if op == "==":
                return o.and_([known, at_least(n), o.not_(at_least(n + 1))]) if n >= 0 else o.and_([known, o.lit(False)])
            return None

        return Q(yrs, 1, "count", ["niche_since"], None, compare=compare)
    if name == "qualified_equity":
        # 新增股权融资 paid in by qualified institutional investors, in the `years` fiscal years before Y
        n = int(args.get("years", 2))
        lo_y, hi_y = Y - n, Y - 1

        def pred(el):
            yr = o.year_of(el("date"))
            return o.and_([o.cmp(yr, ">=", o.lit(lo_y)), o.cmp(yr, "<=", o.lit(hi_y)),
                           o.cmp(el("qualified_investor"), "==", o.lit(True))])

        s = o.list_sum("equity_financing", "amount", pred)
        return Q(s, FEN, "money", ["equity_financing"], o.to_float(s, FEN), obs_of=lambda n: o.to_float(n, FEN))
    if name == "title":
        # a title of one of `types`, valid on the as-of date
        types = list(args["types"])
        as_of = ctx.as_of

        def pred(el):
            return o.and_([o.isin(el("type"), types), o.cmp(el("valid_from"), "<=", o.lit(as_of)),
                           o.cmp(el("valid_until"), ">=", o.lit(as_of))])

        return Q(o.list_any("titles", pred), 1, "bool", ["titles"], None)
    if name == "title_held":
        # a title of one of `types` at any time up to the as-of date (exclusions: "已列为")
        types = list(args["types"])
        as_of = ctx.as_of

        def pred(el):
            return o.and_([o.isin(el("type"), types), o.cmp(el("valid_from"), "<=", o.lit(as_of))])

        return Q(o.list_any("titles", pred), 1, "bool", ["titles"], None)
    if name == "award":
        # S&T award of a level in `levels`, in the `years` calendar years before Y plus Y (C4),
        # ranked within `rank_max` among the winning units when a rank is required
        levels = list(args["levels"])
        n = int(args.get("years", 3))
        rank_max = args.get("rank_max")

        def pred(el):
            parts = [o.isin(el("level"), levels), o.cmp(el("year"), ">=", o.lit(Y - n)),
                     o.cmp(el("year"), "<=", o.lit(Y))]
            if rank_max is not None:
                parts.append(o.cmp(el("rank"), "<=", o.lit(int(rank_max))))
            return o.and_(parts)

        return Q(o.list_any("awards", pred), 1, "bool", ["awards"], None)
    if name == "standard_led":
        levels = list(args.get("levels", ["international", "national", "industry"]))
        n = int(args.get("years", 5))

        def pred(el):
            return o.and_([o.isin(el("level"), levels), o.cmp(el("year"), ">=", o.lit(Y - n)),
                           o.cmp(el("year"), "<=", o.lit(Y))])

        return Q(o.list_any("standards_led", pred), 1, "bool", ["standards_led"], None)
    if name == "maker_china":
        groups = list(args["groups"])
        n = int(args.get("years", 3))
        yr, grp = o.col("maker_china.year"), o.col("maker_china.group")
        ok = o.and_([o.isin(grp, groups), o.cmp(yr, ">=", o.lit(Y - n)), o.cmp(yr, "<=", o.lit(Y))])
        return Q(ok, 1, "bool", ["maker_china"], None)
    if name == "rd_institution_any":
        # 自建或联合建立研发机构: any recognised level, own or joint
        inst = o.col("rd_institution")
        own = o.isin(inst, ["national", "provincial", "municipal", "below_municipal"])
        joint = o.cmp(o.col("rd_institution_joint"), "==", o.lit(True))
        return Q(o.or_([own, joint]), 1, "bool", ["rd_institution", "rd_institution_joint"], None)
    if name in ("size_sme", "size_class"):
        from .size import size_measure

        return size_measure(o, ctx, name, year)
    if "." in name or name in ENUM_PATHS or name in COUNT_PATHS or name in BOOL_PATHS or name in SCALED_PATHS or name in DATE_PATHS:
        return _raw(o, ctx, name)
    raise KeyError(f"unknown measure {name!r}")


MEASURE_NAMES = sorted(
    list(RATIOS) + list(FIN_MONEY) + list(FIN_COUNT) + [
        "quality_score", "main_growth", "main_growth_avg_2y", "revenue_cagr_2y", "rd_expense_sum_2y",
        "rd_expense_avg_2y", "niche_years", "qualified_equity", "title", "title_held", "award",
        "standard_led", "maker_china", "rd_institution_any", "size_sme", "size_class",
    ]
)

YEAR_MEASURES = set(RATIOS) | set(FIN_MONEY) | set(FIN_COUNT) | {
    "quality_score", "main_growth", "main_growth_avg_2y", "revenue_cagr_2y", "rd_expense_sum_2y",
    "rd_expense_avg_2y", "size_sme", "size_class",
}


Builder = Callable[..., Q]
