"""Per-row results in words, column-wise: each tier's outcome, score, route and the failing or
undetermined top-level conditions, built from the engine's output keys with Polars expressions."""
from __future__ import annotations

import datetime as dt
import functools

import polars as pl

from ..engine.assess import compile_table
from ..i18n import names

PT = 10_000
OUTCOME = {"zh": {"pass": "通过", "fail": "未通过", "undetermined": "待定"},
           "en": {"pass": "pass", "fail": "fail", "undetermined": "undetermined"}}
SIZE_ZH = {"micro": "微型", "small": "小型", "medium": "中型", "large": "大型"}
TIER_ZH = names("tier_short", "zh")  # table headings, from the i18n catalogue
TIER_EN = names("tier_short", "en")

ENGINE_KEYS = ["#ok", "#route", "#score_lo", "#score_hi", "#score_ok", "size#class"]


@functools.lru_cache(maxsize=64)
def tier_words(as_of: dt.date, mode: str, lang: str) -> list[dict]:
    """For each tier: its key, title, scored flag, pass line and top-level conditions in words."""
    c = compile_table(as_of, mode)
    out = []
    for plan in c.plans:
        conds = []
        for e in plan.entries:
            if e.depth != 0 or e.scored or e.kind in ("route", "category", "indicator", "part"):
                continue
            conds.append((f"{e.key}#ok", e.node.title.get(lang) or e.node.title["zh"]))
        line = plan.pack.score.get("pass_line") if plan.scored and plan.pack.score else None
        if plan.scored:
            decision = [f"{plan.prefix}#score_ok"] + [f"{e.key}#ok" for e in plan.entries if e.depth == 0 and e.kind == "route"]
        elif plan.pack.decision == "alternatives":
            decision = [f"{sp.prefix}#ok" for sp in plan.subs]
        else:
            decision = []
        out.append({"tier": plan.tier, "prefix": plan.prefix, "scored": plan.scored, "line": line,
                    "alternatives": plan.pack.decision == "alternatives", "conds": conds,
                    "decision": decision})
    return out


def _decision_words(t: dict, lang: str) -> tuple[str, str]:
    zh = lang == "zh"
    if t["scored"]:
        return ((f"评价得分未达{t['line']}分且不满足直通条件", f"评价得分是否达{t['line']}分待定")
                if zh else (f"score below {t['line']} and no direct route", f"score {t['line']}+ undetermined"))
    if t["alternatives"]:
        return (("所有评价路径均未通过", "评价路径待定") if zh else ("no evaluation route passed", "evaluation routes undetermined"))
    return ("", "")


def result_exprs(as_of: dt.date, mode: str, lang: str = "zh") -> list[pl.Expr]:
    """Expressions over the engine output columns giving the per-tier result columns."""
    sep = "；" if lang == "zh" else "; "
    exprs = []
    for t in tier_words(as_of, mode, lang):
        p = t["prefix"]
        ok = pl.col(f"{p}#ok")
        exprs.append(pl.when(ok).then(pl.lit("pass")).when(~ok).then(pl.lit("fail"))
                     .otherwise(pl.lit("undetermined")).alias(f"{p}.outcome"))
        if t["scored"]:
            lo, hi = pl.col(f"{p}#score_lo"), pl.col(f"{p}#score_hi")
            exprs.append(pl.when(lo == hi).then(lo.cast(pl.Float64) / PT).otherwise(None).alias(f"{p}.score"))
            exprs.append((lo.cast(pl.Float64) / PT).alias(f"{p}.score_min"))
            exprs.append((hi.cast(pl.Float64) / PT).alias(f"{p}.score_max"))
        exprs.append(pl.col(f"{p}#route").alias(f"{p}.route"))
        fails = [pl.when(pl.col(k) == False).then(pl.lit(w)).otherwise(None) for k, w in t["conds"]]  # noqa: E712
        unds = [pl.when(pl.col(k).is_null()).then(pl.lit(w)).otherwise(None) for k, w in t["conds"]]
        fw, uw = _decision_words(t, lang)
        if t["decision"]:
            dec = pl.any_horizontal([pl.col(k) for k in t["decision"]])  # Kleene OR
            fails.append(pl.when(dec == False).then(pl.lit(fw)).otherwise(None))  # noqa: E712
            unds.append(pl.when(dec.is_null()).then(pl.lit(uw)).otherwise(None))
        exprs.append(pl.concat_str(fails, separator=sep, ignore_nulls=True).replace("", None).alias(f"{p}.failing"))
        exprs.append(pl.concat_str(unds, separator=sep, ignore_nulls=True).replace("", None).alias(f"{p}.undetermined"))
    return exprs


def result_columns(as_of: dt.date, mode: str) -> list[str]:
    cols = ["row", "name", "uscc", "province", "industry", "size_class"]
    for t in tier_words(as_of, mode, "zh"):
        p = t["prefix"]
        cols.append(f"{p}.outcome")
        if t["scored"]:
            cols += [f"{p}.score", f"{p}.score_min", f"{p}.score_max"]
        cols += [f"{p}.route", f"{p}.failing", f"{p}.undetermined"]
    return cols


def header_zh(col: str) -> str:
    fixed = {"row": "行号", "name": "企业名称", "uscc": "统一社会信用代码", "province": "省份",
             "industry": "行业代码", "size_class": "企业规模"}
    if col in fixed:
        return fixed[col]
    tier, _, part = col.partition(".")
    names = {"outcome": "结果", "score": "得分", "score_min": "得分下限", "score_max": "得分上限",
             "route": "通过路径", "failing": "未满足条件", "undetermined": "待定条件"}
    return f"{TIER_ZH.get(tier, tier)}·{names.get(part, part)}"


def results_frame(inputs: pl.DataFrame, values: pl.DataFrame, as_of: dt.date, mode: str, lang: str) -> pl.DataFrame:
    """One output row per input row: identification + per-tier words."""
    ident = []
    for c in ("row", "name", "uscc", "province", "industry"):
        ident.append(inputs.get_column(c) if c in inputs.columns else pl.Series(c, [None] * inputs.height, pl.String))
    base = pl.DataFrame(ident)
    res = values.select([pl.col("size#class").cast(pl.String).alias("size_class")] + result_exprs(as_of, mode, lang))
    out = pl.concat([base, res], how="horizontal")
    return out.select(result_columns(as_of, mode))
