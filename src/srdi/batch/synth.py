"""A synthetic enterprise population in the batch input format (`srdi synth`), vectorised (NumPy).

One latent "capability" z ~ N(0, 1) per firm drives revenue, R&D intensity, IP, growth, margins,
certifications and titles, so that the fields are jointly realistic (capable firms are larger,
more R&D-intensive, hold more IP and more titles). Provinces and industries are drawn from
weights modelled on the published counts (criteria.md §10.4; docs/batch.md). The constants are
calibrated so that, assessed on 2025-06-01 (R2022, fiscal year 2024), the shares passing each
tier are close to the national ratios of §10.2 (60万 : 14万 : 1.76万) in a candidate population of
3,000,000 SMEs: innovative 20%, SRDI 4.7%, little giant 0.59% (docs/batch.md: targets and fit).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from .io import FIN_ZH, TITLE_ZH

# Province weights (GB/T 2260 code: weight), modelled on reported little-giant / SRDI counts.
PROVINCE_WEIGHTS = {
    "320000": 12.0, "440000": 12.0, "330000": 11.0, "370000": 8.0, "110000": 5.0, "310000": 5.0,
    "420000": 4.0, "340000": 4.0, "430000": 4.0, "510000": 4.0, "410000": 4.0, "350000": 3.5,
    "130000": 3.0, "210000": 2.0, "500000": 2.0, "120000": 1.5, "360000": 2.0, "610000": 2.0,
    "450000": 1.0, "530000": 1.0, "520000": 1.0, "140000": 1.0, "220000": 0.8, "230000": 0.7,
    "150000": 0.6, "650000": 0.5, "620000": 0.5, "640000": 0.3, "460000": 0.3, "630000": 0.2,
    "540000": 0.1,
}
# GB/T 4754-2017 codes (weight): manufacturing dominates the programme (~70%), then software/IT,
# research and technical services, wholesale, construction.
INDUSTRY_WEIGHTS = {
    "C2614": 3, "C2662": 3, "C2710": 2, "C2927": 2, "C3099": 2, "C3311": 2, "C3392": 2,
    "C3421": 3, "C3484": 4, "C3511": 3, "C3562": 3, "C3699": 3, "C3761": 2, "C3824": 4,
    "C3832": 3, "C3971": 4, "C3982": 4, "C4011": 4, "C4090": 2, "C3589": 4, "C3463": 3,
    "C2438": 1, "C1469": 1, "C3051": 2,
    "I6511": 4, "I6513": 4, "I6531": 2, "I6450": 2,
    "M7320": 3, "M7484": 2, "M7520": 2,
    "F5179": 2, "F5176": 2, "E4851": 1, "E4910": 1, "A0141": 0.5, "L7251": 0.5, "D4411": 0.5,
}

# Calibration constants (docs/batch.md). Tuned by `calibrate()` on 200k rows, seed 0.
K = {
    "log_rev_mu": 16.35, "log_rev_sd": 1.0, "log_rev_z": 0.55,  # ln(yuan): median ~1,270万
    "rd_mu": -4.5, "rd_sd": 0.75, "rd_z": 0.45,  # ln(R&D intensity): median ~2.1%
    "ip_z": 0.9, "ip_c1": -1.9, "growth_mu": 0.025, "growth_z": 0.05, "growth_sd": 0.12,
    "title_z": 0.9, "title_c": -3.0, "srdi_title_c": -2.6, "lg_c": -3.1, "champion": 2.05,
}


def _choice(rng, weights: dict, n: int):
    keys = list(weights)
    p = np.array(list(weights.values()), dtype=float)
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return pl.Series(keys, dtype=pl.String).gather(idx)


def _pick(mask, a: str, b: str) -> pl.Series:
    return pl.Series([b, a], dtype=pl.String).gather(np.asarray(mask, dtype=np.int64))


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def generate(n: int, seed: int = 0, year: int = 2024, offset: int = 0) -> pl.DataFrame:
    """The population as contract columns: money in integer fen, flags, codes, dates, titles."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    # little-giant-like cluster: the most capable firms with a coherent profile (niche leaders)
    champ = (z + 0.5 * rng.standard_normal(n)) > K["champion"]
    prov = _choice(rng, PROVINCE_WEIGHTS, n)
    ind = _choice(rng, INDUSTRY_WEIGHTS, n)
    manuf = ind.str.starts_with("C").to_numpy()
    # revenue (yuan) in the latest year and growth
    lrev = K["log_rev_mu"] + K["log_rev_z"] * z + K["log_rev_sd"] * rng.standard_normal(n)
    lrev = np.where(champ, np.maximum(lrev, np.log(6e7)) + 0.6 * np.abs(rng.standard_normal(n)), lrev)
    rev = np.exp(np.minimum(lrev, np.log(3.5e8)))  # SMEs: below the large-enterprise revenue line mostly
    g1 = K["growth_mu"] + K["growth_z"] * z + K["growth_sd"] * rng.standard_normal(n)
    g2 = K["growth_mu"] + K["growth_z"] * z + K["growth_sd"] * rng.standard_normal(n)
    g0 = K["growth_mu"] + K["growth_z"] * z + K["growth_sd"] * rng.standard_normal(n)
    mbs = np.clip(0.55 + 0.08 * z + 0.12 * rng.standard_normal(n), 0.3, 1.0)  # main business share
    rd_int = np.exp(K["rd_mu"] + K["rd_z"] * z + K["rd_sd"] * rng.standard_normal(n))
    rd_int = np.where(rng.random(n) < 0.06, 0.0, np.minimum(rd_int, 0.6))
    rd_int = np.where(champ, np.maximum(rd_int, 0.045 + 0.03 * np.abs(rng.standard_normal(n))), rd_int)
    margin = 0.05 + 0.03 * z + 0.06 * rng.standard_normal(n)
    debt = np.clip(0.55 - 0.05 * z + 0.17 * rng.standard_normal(n), 0.03, 1.3)
    asset_turn = np.exp(0.0 + 0.35 * rng.standard_normal(n))  # revenue / assets
    per_cap = np.exp(np.log(8e5) + 0.5 * rng.standard_normal(n))  # revenue per employee, yuan

    def fen(x):
        return np.round(np.maximum(x, 0) * 100).astype(np.int64)

    cols: dict[str, object] = {}
    revs = {year: rev, year - 1: rev / (1 + g1), year - 2: rev / (1 + g1) / (1 + g2)}
    revs[year - 3] = revs[year - 2] / (1 + g0)
    rds = {y: r * rd_int * np.exp(0.15 * rng.standard_normal(n)) for y, r in revs.items()}
    mshare = {y: np.clip(mbs + 0.02 * rng.standard_normal(n), 0.3, 1.0) for y in revs}
    for y in (year, year - 1, year - 2):
        r = revs[y]
        cols[f"financials.{y}.operating_revenue"] = fen(r)
        cols[f"financials.{y}.main_business_revenue"] = fen(r * mshare[y])
        cols[f"financials.{y}.main_product_revenue"] = fen(r * mshare[y] * np.clip(0.75 + 0.15 * rng.standard_normal(n), 0.2, 1))
        cols[f"financials.{y}.rd_expense"] = fen(rds[y])
        assets = r / asset_turn
        cols[f"financials.{y}.total_assets"] = fen(assets)
        cols[f"financials.{y}.total_liabilities"] = fen(assets * np.clip(debt + 0.03 * rng.standard_normal(n), 0.01, 1.5))
        cols[f"financials.{y}.net_profit"] = np.round((r * (margin + 0.01 * rng.standard_normal(n))) * 100).astype(np.int64)
        cols[f"financials.{y}.total_costs"] = fen(r * np.clip(0.9 - margin, 0.3, 1.5))
        emp = np.maximum(3, np.round(r / per_cap)).astype(np.int64)
        emp = np.minimum(emp, 2000)
        cols[f"financials.{y}.employees"] = emp
        rd_emp_share = np.clip(0.06 + 0.05 * z + 0.06 * rng.standard_normal(n) + 2.0 * rd_int, 0, 0.9)
        cols[f"financials.{y}.rd_employees"] = np.round(emp * rd_emp_share).astype(np.int64)
        cols[f"financials.{y}.tech_employees"] = np.round(emp * np.clip(rd_emp_share * 1.3, 0, 1)).astype(np.int64)
    # IP
    lam = np.exp(K["ip_c1"] + K["ip_z"] * z)
    c1 = rng.poisson(lam * 2.0) + np.where(champ, rng.poisson(4.0, n), 0)
    c1_self = rng.binomial(c1, 0.8)
    c1_hv = rng.binomial(c1, 0.12)
    cols["ip.class1"] = c1
    cols["ip.class1_self_developed"] = c1_self
    cols["ip.class1_high_value"] = c1_hv
    cols["ip.class2"] = rng.poisson(np.exp(0.8 + 0.6 * z))
    cols["ip.class1_applied_with_benefit"] = rng.binomial(c1, 0.6)
    # niche, digital, quality, fields
    niche_years = np.clip(rng.gamma(2.0 + np.maximum(z, -1.5), 3.0), 0, 40)
    niche_days = (niche_years * 365.25).astype(np.int64)
    ref = np.datetime64(f"{year + 1}-01-01")
    cols["niche_since"] = (ref - niche_days.astype("timedelta64[D]")).astype("datetime64[D]")
    cols["digital_level"] = np.clip(np.round(1.9 + 0.7 * z + 0.7 * rng.standard_normal(n)), 1, 4).astype(np.int64)
    cols["quality.provincial_quality_award"] = rng.random(n) < _sig(-3.0 + 1.0 * z)
    cols["quality.quality_system_certified"] = rng.random(n) < _sig(0.6 + 0.9 * z)
    cols["quality.own_brand"] = (rng.random(n) < _sig(0.3 + 0.8 * z)) | champ
    cols["quality.standards_drafting"] = rng.random(n) < _sig(-1.8 + 0.9 * z)
    cols["management_cert_or_foreign_product_cert"] = (rng.random(n) < _sig(-0.2 + 0.9 * z)) | (champ & (rng.random(n) < 0.9))
    cols["info_system_core_business"] = (rng.random(n) < _sig(0.5 + 0.9 * z)) | champ
    cols["product_field.strategic_emerging"] = rng.random(n) < _sig(-0.5 + 0.7 * z + 0.5 * manuf)
    cols["product_field.chain_gap_filling"] = (rng.random(n) < _sig(-2.8 + 1.0 * z)) | (champ & (rng.random(n) < 0.85))
    cols["product_field.six_foundations"] = rng.random(n) < _sig(-1.3 + 0.6 * z + 0.5 * manuf)
    cols["product_field.little_giant_key_field"] = (rng.random(n) < _sig(-1.6 + 0.9 * z + 0.6 * manuf)) | (champ & (rng.random(n) < 0.9))
    share = np.exp(np.log(1.0) + 1.1 * z + 1.0 * rng.standard_normal(n)) * np.where(champ, 4.0, 1.0)
    cols["market_share_pct"] = np.round(np.minimum(share, 80) * 100).astype(np.int64)  # 0.01 %
    cols["market_position_declared"] = rng.random(n) < _sig(-1.0 + 1.0 * z)
    cols["domestic_rank"] = np.maximum(1, np.round(np.exp(3.0 - 1.0 * z + 0.8 * rng.standard_normal(n)))).astype(np.int64)
    inst = np.select([z + 0.6 * rng.standard_normal(n) > 2.9, z + 0.6 * rng.standard_normal(n) > 1.9,
                      z + 0.6 * rng.standard_normal(n) > 0.5, z + 0.6 * rng.standard_normal(n) > -0.3],
                     [0, 1, 2, 3], 4)
    cols["rd_institution"] = pl.Series(["national", "provincial", "municipal", "below_municipal", "none"]).gather(inst)
    cols["rd_institution_joint"] = rng.random(n) < _sig(-1.5 + 0.6 * z)
    cols["local_score"] = (np.round(np.clip(7 + 3 * z + 3 * rng.standard_normal(n), 0, 15) * 2) * 5).astype(np.int64)  # 0.1 points
    # compliance and group (true = a problem): rare
    for k, p in (("abnormal_operations_list", 0.015), ("serious_dishonesty_list", 0.004),
                 ("prohibited_or_eliminated_products", 0.002), ("major_incident_3y", 0.005),
                 ("tax_violation_3y", 0.008), ("data_fraud", 0.002)):
        cols[f"compliance.{k}"] = rng.random(n) < p
    cols["group.holding_link_to_little_giant"] = rng.random(n) < 0.01
    cols["group.same_group_similar_product"] = rng.random(n) < 0.01
    qs = np.clip(45 + 9 * z + 8 * rng.standard_normal(n), 0, 100)
    cols[f"quality_score.{year}"] = np.round(qs * 10).astype(np.int64)  # 0.1 points
    # equity financing: one round for a minority, larger for capable firms
    has_eq = rng.random(n) < _sig(-3.1 + 0.8 * z)
    eq_amt = np.exp(np.log(1.5e7) + 0.6 * z + 1.0 * rng.standard_normal(n))
    eq_day = rng.integers(0, 3 * 365, n)
    eq_date = (np.datetime64(f"{year - 2}-01-01") + eq_day.astype("timedelta64[D]")).astype("datetime64[D]")
    cols["equity_financing.0.date"] = np.where(has_eq, eq_date, np.datetime64("NaT"))
    cols["equity_financing.0.amount"] = np.where(has_eq, fen(np.round(eq_amt, -4)), -1)
    cols["equity_financing.0.qualified_investor"] = np.where(has_eq, rng.random(n) < 0.8, False)
    # awards
    has_aw = rng.random(n) < _sig(-3.9 + 1.0 * z)
    cols["awards.0.level"] = _pick(rng.random(n) < 0.1, "national", "provincial")
    cols["awards.0.year"] = rng.integers(year - 3, year + 1, n)
    cols["awards.0.rank"] = rng.integers(1, 8, n)
    cols["__has_award"] = has_aw
    # titles: valid certificates (3-year validity)
    t_hte = rng.random(n) < _sig(K["title_c"] + K["title_z"] * z + 4 * rd_int)
    t_srdi = (rng.random(n) < _sig(K["srdi_title_c"] + 1.2 * z)) | (champ & (rng.random(n) < 0.9))
    t_lg = (rng.random(n) < _sig(K["lg_c"] + 1.0 * z)) & t_srdi
    t_champ = rng.random(n) < 0.002
    start = (np.datetime64(f"{year - 2}-01-01") + rng.integers(0, 900, n).astype("timedelta64[D]")).astype("datetime64[D]")
    until = (start + np.timedelta64(3 * 365 - 1, "D")).astype("datetime64[D]")
    cols["__titles"] = (t_hte, t_srdi, t_lg, t_champ, start, until)
    has_mc = rng.random(n) < _sig(-4.5 + 1.0 * z)
    cols["maker_china.year"] = np.where(has_mc, rng.integers(year - 2, year + 1, n), -1)
    cols["maker_china.group"] = _pick(rng.random(n) < 0.1, "top50", "top500")
    cols["__has_mc"] = has_mc

    # ---- assemble (Polars)
    titles = cols.pop("__titles")
    has_aw = cols.pop("__has_award")
    has_mc = cols.pop("__has_mc")
    df = pl.DataFrame({k: v for k, v in cols.items()})
    names = pl.select(pl.format("合成企业{}", pl.int_range(offset + 1, offset + n + 1))).to_series().alias("name")
    uscc = _usccs(rng, n, prov)
    df = df.with_columns(names, uscc.alias("uscc"), prov.alias("province"), ind.alias("industry"))
    df = df.with_columns(
        pl.when(pl.col("equity_financing.0.amount") < 0).then(None).otherwise(pl.col("equity_financing.0.amount"))
        .alias("equity_financing.0.amount"),
        pl.when(pl.col("equity_financing.0.date").is_null()).then(None).otherwise(pl.col("equity_financing.0.qualified_investor"))
        .alias("equity_financing.0.qualified_investor"),
        pl.when(pl.Series(has_aw)).then(pl.col("awards.0.level")).otherwise(None).alias("awards.0.level"),
        pl.when(pl.Series(has_aw)).then(pl.col("awards.0.year")).otherwise(None).alias("awards.0.year"),
        pl.when(pl.Series(has_aw)).then(pl.col("awards.0.rank")).otherwise(None).alias("awards.0.rank"),
        pl.when(pl.Series(has_mc)).then(pl.col("maker_china.year")).otherwise(None).alias("maker_china.year"),
        pl.when(pl.Series(has_mc)).then(pl.col("maker_china.group")).otherwise(None).alias("maker_china.group"),
    )
    t_hte, t_srdi, t_lg, t_champ, start, until = titles
    tcols = {}
    for key, held in (("high_tech_enterprise", t_hte), ("provincial_srdi_sme", t_srdi), ("little_giant", t_lg),
                      ("single_champion", t_champ)):
        tcols[f"titles.{key}.valid_from"] = pl.Series(np.where(held, start, np.datetime64("NaT")))
        tcols[f"titles.{key}.valid_until"] = pl.Series(np.where(held, until, np.datetime64("NaT")))
    df = df.with_columns([s.alias(k).cast(pl.Date) for k, s in tcols.items()])
    return df.with_columns(pl.col("niche_since").cast(pl.Date), pl.col("equity_financing.0.date").cast(pl.Date))


def _usccs(rng, n: int, prov) -> np.ndarray:
    """Valid 统一社会信用代码 (GB 32100-2015 check digit), vectorised."""
    from ..profile.uscc import USCC_CHARSET, USCC_WEIGHTS

    cs = np.frombuffer(USCC_CHARSET.encode(), dtype=np.uint8)
    head = np.tile(np.array([9, 1]), (n, 1))  # 91: enterprise, company
    uniq, inv = np.unique(np.asarray(prov.to_numpy()).astype(str), return_inverse=True)
    digits = np.array([[int(c) for c in p] for p in uniq]) if len(uniq) else np.zeros((0, 6), int)
    area = digits[inv].reshape(n, 6).copy() if n else np.zeros((0, 6), int)
    if n:
        area[:, 2:] = rng.integers(0, 10, (n, 4))
        area[:, 4:] = np.where(area[:, 4:] == 0, 1, area[:, 4:])
    body = rng.integers(0, 31, (n, 9))
    vals = np.concatenate([head, area, body], axis=1)
    total = (vals * np.array(USCC_WEIGHTS)).sum(axis=1)
    chk = (31 - total % 31) % 31
    allv = np.concatenate([vals, chk[:, None]], axis=1)
    chars = cs[allv]
    return _join_fast(chars)


def _join_fast(chars: np.ndarray) -> pl.Series:
    import pyarrow as pa

    b = np.ascontiguousarray(np.vectorize(ord, otypes=[np.uint8])(chars) if chars.dtype.kind == "U" else chars)
    a = pa.Array.from_buffers(pa.binary(18), len(b), [None, pa.py_buffer(b.tobytes())])
    return pl.Series(pl.from_arrow(a.cast(pa.binary()).cast(pa.string())))


# ------------------------------------------------------------------------------ file layout
def to_headers(df: pl.DataFrame, headers: str = "zh", fmt: str = "parquet") -> pl.DataFrame:
    """Rename to the input headers; money in 万元 (zh) or yuan (contract). Numbers stay exact:
    Parquet/XLSX get Decimal / strings, CSV decimal text."""
    from .io import SCALAR_ZH

    rev_scalar = {}
    for h, p in SCALAR_ZH.items():
        rev_scalar.setdefault(p, h)
    rev_scalar["market_share_pct"] = "细分市场占有率（%）"
    exprs = []
    for c in df.columns:
        e = pl.col(c)
        name = c
        if c in ("market_share_pct", "local_score") or c.startswith("quality_score."):
            e = _fen_text(e, 2 if c == "market_share_pct" else 1)
        money = c.startswith("financials.") and df.schema[c] == pl.Int64 and c.rsplit(".", 1)[1] not in (
            "employees", "rd_employees", "tech_employees") or c == "equity_financing.0.amount"
        if money:
            if headers == "zh":
                e = _fen_text(e, 6)
                if c.startswith("financials."):
                    _, y, f = c.split(".")
                    name = f"{y}年{FIN_ZH[f]}（万元）"
                else:
                    name = "股权融资1金额（万元）"
            else:
                e = _fen_text(e, 2)
        elif headers == "zh":
            if c.startswith("financials."):
                _, y, f = c.split(".")
                name = f"{y}年{FIN_ZH[f]}（人）"
            elif c.startswith("titles."):
                _, t, sub = c.split(".")
                name = f"{TITLE_ZH[t]}有效期{'起' if sub == 'valid_from' else '至'}"
            elif c.startswith("quality_score."):
                name = f"{c.split('.')[1]}年发展质量评价得分"
            elif c in rev_scalar:
                name = rev_scalar[c].replace("(", "（").replace(")", "）")
        exprs.append(e.alias(name))
    if fmt == "parquet":  # numbers as exact decimals, built from the integer units directly
        dec_cols = {}
        for c, ex in zip(df.columns, exprs):
            name = ex.meta.output_name()
            if _is_money_header(name, headers):
                dec_cols[name] = decimal_from_units(df.get_column(c), 6 if headers == "zh" else 2)
            elif _is_scaled_header(name):
                dec_cols[name] = decimal_from_units(df.get_column(c), 2 if c == "market_share_pct" else 1, 10)
        exprs = [pl.lit(dec_cols[ex.meta.output_name()]).alias(ex.meta.output_name())
                 if ex.meta.output_name() in dec_cols else ex for ex in exprs]
    return df.select(exprs)


def _is_scaled_header(c: str) -> bool:
    return c in ("market_share_pct", "local_score", "细分市场占有率（%）", "特色化指标得分") or "质量评价得分" in c \
        or c.startswith("quality_score.")


def _is_money_header(c: str, headers: str) -> bool:
    if headers == "zh":
        return c.endswith("（万元）")
    return (c.startswith("financials.") and c.rsplit(".", 1)[1] not in ("employees", "rd_employees", "tech_employees")) \
        or c == "equity_financing.0.amount"


def decimal_from_units(values: pl.Series, scale: int, precision: int = 20) -> pl.Series:
    """Int64 units (fen for money in 万元 at scale 6 or yuan at scale 2) -> an exact Decimal
    column holding the same unscaled integers: zero arithmetic, zero rounding."""
    import pyarrow as pa

    arr = values.cast(pl.Int64).to_numpy(allow_copy=True)
    valid = values.is_not_null().to_numpy()
    arr = np.where(valid, arr, 0).astype(np.int64)
    words = np.empty((len(arr), 2), dtype=np.int64)
    words[:, 0] = arr
    words[:, 1] = arr >> 63
    vbuf = pa.py_buffer(np.packbits(valid, bitorder="little")) if not valid.all() else None
    a = pa.Array.from_buffers(pa.decimal128(precision, scale), len(arr), [vbuf, pa.py_buffer(words.tobytes())],
                              null_count=int((~valid).sum()))
    return pl.Series(values.name, pl.from_arrow(a))


def _fen_text(e: pl.Expr, decimals: int) -> pl.Expr:
    """Integer fen -> exact decimal text in 万元 (6 decimals) or yuan (2 decimals)."""
    scale = 10 ** decimals
    sign = pl.when(e < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    a = e.abs()
    return pl.when(e.is_null()).then(None).otherwise(
        pl.concat_str([sign, (a // scale).cast(pl.String), pl.lit("."),
                       (a % scale).cast(pl.String).str.zfill(decimals)]))


def write_population(n: int, seed: int, output, year: int = 2024, headers: str = "zh") -> Path:
    from .io import atomic_target

    if headers not in ("zh", "contract"):
        raise ValueError("--headers must be zh or contract")
    out = Path(output)
    fmt = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".xlsx": "xlsx"}.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"-o {output}: use .parquet, .csv or .xlsx")
    if fmt == "xlsx" and n > 1_048_575:
        raise ValueError("XLSX holds at most 1,048,575 rows: use .parquet or .csv")
    parts = []
    tmp, commit = atomic_target(out)
    step = 1_000_000
    if fmt == "parquet":
        import pyarrow.parquet as pq

        writer = None
        for i, s in enumerate(range(0, max(n, 1), step)):
            m = min(step, n - s)
            if m <= 0 and writer is not None:
                break
            df = to_headers(generate(max(m, 0), seed * 1000 + i, year, offset=s), headers, fmt)
            t = df.to_arrow()
            if writer is None:
                dict_cols = [f.name for f in t.schema if str(f.type) in ("string", "large_string")
                             and f.name not in ("企业名称", "统一社会信用代码", "name", "uscc")]
                writer = pq.ParquetWriter(tmp, t.schema, compression="lz4", use_dictionary=dict_cols)
            writer.write_table(t, row_group_size=250_000)
        writer.close()
    elif fmt == "csv":
        with open(tmp, "wb") as fh:
            for i, s in enumerate(range(0, max(n, 1), step)):
                m = min(step, n - s)
                df = to_headers(generate(max(m, 0), seed * 1000 + i, year, offset=s), headers, fmt)
                df.write_csv(fh, include_header=(i == 0))
    else:
        df = to_headers(generate(n, seed * 1000, year), headers, "xlsx")
        parts.append(df)
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("enterprises")
        ws.append(df.columns)
        for r in df.iter_rows():
            ws.append(list(r))
        wb.save(tmp)
    commit()
    return out
