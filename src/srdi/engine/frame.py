"""From contract profiles to the engine's columns (money in fen, decimals x 10^4).

`profile_row` flattens one validated profile (Profile.to_contract_dict()) to {column path: value};
`rows_to_frame` builds a Polars table from many rows with the dtypes the engine expects, adding
typed null columns for every input a plan needs but the data lacks (missing -> undetermined).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from .measures import FEN, SCALE4, path_kind


_WHOLE_FAST = 10 ** 25  # whole amounts below this: yuan x 100 is exact as Decimal arithmetic (28 digits)


def _fen(v) -> int | None:
    if v is None:
        return None
    if type(v) is Decimal and v.is_finite():  # most amounts are whole yuan: the integer x 100
        i = int(v)
        if -_WHOLE_FAST < i < _WHOLE_FAST and i == v:
            return i * FEN
    # a Decimal (what validation gives) as is: Decimal(str(d)) is d, digit for digit
    d = (v if type(v) is Decimal else Decimal(str(v))) * FEN
    if d != d.to_integral_value():
        raise ValueError(f"amount {v} has more than 2 decimal places")
    return int(d)


def _s4(v) -> int | None:
    if v is None:
        return None
    d = (v if type(v) is Decimal else Decimal(str(v))) * SCALE4
    if d != d.to_integral_value():
        raise ValueError(f"value {v} has more than 4 decimal places")
    return int(d)


_SCALARS = ("name", "uscc", "province", "industry", "niche_since", "rd_institution", "digital_level",
            "domestic_rank", "market_position_declared", "management_cert_or_foreign_product_cert",
            "info_system_core_business", "rd_institution_joint")
_FIN_MONEY: dict[str, bool] = {}  # financials field -> whether path_kind says money (memo)


def _fin_money(k: str) -> bool:
    m = _FIN_MONEY.get(k)
    if m is None:
        m = path_kind(f"financials.0.{k}") == "money"
        if len(_FIN_MONEY) < 1000:
            _FIN_MONEY[k] = m
    return m


def profile_row(p: dict) -> dict[str, Any]:
    """Flatten a contract profile dict (validated) into engine columns."""
    row: dict[str, Any] = {}
    get = p.get
    for k in _SCALARS:
        v = get(k)
        if v is not None:
            row[k] = v
    for k in ("market_share_pct", "local_score"):
        v = get(k)
        if v is not None:
            row[k] = _s4(v)
    for sect in ("ip", "quality", "product_field", "compliance", "group"):
        sv = get(sect)
        if sv:
            for k, v in sv.items():
                if v is not None:
                    row[f"{sect}.{k}"] = v
    for y, fy in (get("financials") or {}).items():
        if not fy:
            continue
        pre = f"financials.{int(y)}."
        for k, v in fy.items():
            if v is None:
                continue
            row[pre + k] = _fen(v) if _fin_money(k) else int(v)
    for y, v in (p.get("quality_score") or {}).items():
        if v is not None:
            row[f"quality_score.{int(y)}"] = _s4(v)
    mc = p.get("maker_china")
    if mc:
        row["maker_china.year"] = mc.get("year")
        row["maker_china.group"] = mc.get("group")
    for k, v in (p.get("local_indicators") or {}).items():
        row[f"local_indicators.{k}"] = v
    if p.get("titles") is not None:
        row["titles"] = [{"type": t.get("type"), "valid_from": t.get("valid_from"), "valid_until": t.get("valid_until")}
                         for t in p["titles"]]
    if p.get("awards") is not None:
        row["awards"] = [{"level": a.get("level"), "year": a.get("year"), "rank": a.get("rank")} for a in p["awards"]]
    if p.get("equity_financing") is not None:
        row["equity_financing"] = [{"date": e.get("date"), "amount": _fen(e.get("amount")),
                                    "qualified_investor": e.get("qualified_investor")} for e in p["equity_financing"]]
    if p.get("standards_led") is not None:
        row["standards_led"] = [{"level": s.get("level"), "year": s.get("year")} for s in p["standards_led"]]
    row["size_industry"] = resolve_size_industry(p.get("size_industry"), p.get("industry"))
    return row


def resolve_size_industry(override: str | None, industry: str | None) -> str | None:
    if override:
        return override
    if not industry:
        return None
    from ..profile.codes import size_industry_for

    try:
        return size_industry_for(industry)
    except ValueError:
        return None


def polars_dtype(kind: str):
    import polars as pl

    return {
        "money": pl.Int64, "count": pl.Int64, "scaled": pl.Int64, "bool": pl.Boolean, "enum": pl.String,
        "date": pl.Date,
        "titles": pl.List(pl.Struct({"type": pl.String, "valid_from": pl.Date, "valid_until": pl.Date})),
        "awards": pl.List(pl.Struct({"level": pl.String, "year": pl.Int64, "rank": pl.Int64})),
        "equity_financing": pl.List(pl.Struct({"date": pl.Date, "amount": pl.Int64, "qualified_investor": pl.Boolean})),
        "standards_led": pl.List(pl.Struct({"level": pl.String, "year": pl.Int64})),
    }[kind]


def column_dtype(path: str, local_kinds: dict[str, str] | None = None):
    import polars as pl

    if path in ("name", "uscc"):
        return pl.String
    if path.startswith("local_indicators."):
        k = (local_kinds or {}).get(path) or _local_kind(path)
        return {"count": pl.Int64, "bool": pl.Boolean}.get(k, pl.String)
    return polars_dtype(path_kind(path))


def _local_kind(path: str) -> str:
    from .packs import local_packs

    key = path.split(".", 1)[1]
    for lp in local_packs().values():
        if key in lp["inputs"]:
            return lp["inputs"][key]["kind"]
    return "enum"


def rows_to_frame(rows: Iterable[dict[str, Any]], columns: Iterable[str], local_kinds: dict | None = None):
    """A Polars DataFrame holding exactly `columns` (nulls where a row lacks one)."""
    import polars as pl

    rows = list(rows)
    cols = list(dict.fromkeys(columns))
    schema = {c: column_dtype(c, local_kinds) for c in cols}
    data = {c: [r.get(c) for r in rows] for c in cols}
    return pl.DataFrame(data, schema=schema)


def with_scales(df, columns: Iterable[str]):
    """df with the constant divisor columns among `columns` (ops.scale_column) it lacks, as data:
    a literal would be folded back into a division by a constant."""
    import polars as pl

    from .ops import SCALE_PREFIX

    have = set(df.columns)
    add = [pl.Series(c, [float(int(c[len(SCALE_PREFIX):]))], dtype=pl.Float64).new_from_index(0, df.height)
           for c in dict.fromkeys(columns) if c.startswith(SCALE_PREFIX) and c not in have]
    return df.with_columns(add) if add else df


def conform(df, columns: Iterable[str], local_kinds: dict | None = None):
    """Add typed null columns for inputs the table lacks; cast the others to the engine dtypes."""
    import polars as pl

    from .ops import SCALE_PREFIX

    exprs = []
    df = with_scales(df, columns)
    have = set(df.columns)
    for c in dict.fromkeys(columns):
        if c.startswith(SCALE_PREFIX):
            continue
        dt = column_dtype(c, local_kinds)
        exprs.append(pl.col(c).cast(dt) if c in have else pl.lit(None, dtype=dt).alias(c))
    return df.with_columns(exprs) if exprs else df
