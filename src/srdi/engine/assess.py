"""Assess enterprises: choose the regime, compile the packs once, evaluate, explain.

`assess_profile` serves one firm (the CLI, the API): it evaluates one Python function generated
from the blocks once per (as-of, mode) (rowcode.RowOps), so that a one-firm run needs no Polars import. `compile_table` + `evaluate_table` serve tables of any size
with the very same blocks over Polars columns; `explain_row` reads one row of either.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from .blocks import Compiler, TierPlan, closure
from .explain import OUT, Explainer, fmt_value
from .measures import Ctx, measure
from .ops import SCALE_PREFIX, PolarsOps
from .packs import choose_regime, parse_date, resolve_pack, size_table
from .rowcode import RowOps, row_function

CONTRACT_VERSION = 1


@dataclass
class Compiled:
    as_of: dt.date
    mode: str
    regime: str
    plans: list[TierPlan]
    values: dict[str, Any]  # rowcode.Src (one row) or Polars expressions, by output key
    ctx: Ctx
    ops: Any = None
    runners: dict = field(default_factory=dict)  # one row: generated functions by the outputs they compute


def compile_all(ops, as_of: dt.date, mode: str) -> Compiled:
    choice = choose_regime(as_of, mode)
    ctx = Ctx(as_of=as_of, mode=mode)
    comp = Compiler(ops, ctx)
    plans = []
    for tier, (pack_id, _regime, _why) in choice.tiers.items():
        pack = resolve_pack(pack_id, as_of.year, mode)
        plans.append(comp.tier(pack, tier))
    y1 = as_of.year - 1
    comp.out["size#class"] = measure(ops, ctx, "size_class", y1).num
    comp.out["size#sme"] = measure(ops, ctx, "size_sme", y1).num
    return Compiled(as_of, mode, choice.regime, plans, comp.out, ctx, ops)


# ---------------------------------------------------------------------------- one enterprise
def _row_of(profile: Any) -> dict[str, Any]:
    """The engine row of a Profile, or of a contract dict, which is validated first (ProfileError)."""
    from .frame import profile_row

    if not hasattr(profile, "to_contract_dict"):
        from ..profile import validate_profile

        profile = validate_profile(profile)
    return profile_row(profile.to_contract_dict())


def assess_profile(profile: Any, as_of: Any, mode: str = "application", lang: str = "zh") -> dict:
    """Assess one profile (a Profile, or a contract dict which is validated first).
    Returns the contract assessment JSON (contract.md §2)."""
    row = _row_of(profile)
    c = compile_row(parse_date(as_of), mode)
    return explain_row(c, run_row(c, row), row, lang)


def assess_profile_json(profile: Any, as_of: Any, mode: str = "application", lang: str = "zh") -> bytes:
    """assess_profile's answer as compact JSON (UTF-8, the API's bytes: `jsonout.dumps`).
    Conditions decided the same way before are copied in pre-encoded (explain.Explainer.encoded)."""
    row = _row_of(profile)
    c = compile_row(parse_date(as_of), mode)
    return explain_json(c, run_row(c, row), row, lang)


@functools.lru_cache(maxsize=64)
def compile_row(as_of: dt.date, mode: str) -> Compiled:
    """Compile every tier for (as_of, mode) into expressions over one row, once per process."""
    from .packs import save_cache

    c = compile_all(RowOps(), as_of, mode)
    save_cache()
    return c


def run_row(c: Compiled, row: dict[str, Any], keys: tuple | None = None) -> dict[str, Any]:
    """Evaluate one row: the inputs and every output, by key (outputs come in dependency order).
    `keys`: only these outputs, in dependency order with everything they read (rowcode.needed;
    the planner's search.tier_outputs). One generated function per set of keys, made on first use."""
    f = c.runners.get(keys)
    if f is None:
        f = c.runners[keys] = row_function(c.ops, c.values, keys)
    return f(row)


@functools.lru_cache(maxsize=1024)
def _size_inputs(ind: str | None, y1: int) -> tuple:
    """The size standard's inputs for an industry: (path, whether a head count) in the standard's order."""
    spec = size_table()["industries"].get(ind or "", {})
    letters = sorted(set(spec.get("large", {})) | set(spec.get("medium", {})) | set(spec.get("small", {})))
    fields = {"X": "employees", "Y": "operating_revenue", "Z": "total_assets"}
    paths = [f"financials.{y1}.{fields[k]}" for k in letters]
    return tuple((p, "employees" in p) for p in paths)


def explain_json(c: Compiled, values: dict[str, Any], row: dict[str, Any], lang: str = "zh") -> bytes:
    """explain_row as compact JSON: the bytes of `jsonout.dumps(explain_row(...))` (the API's)."""
    from .jsonout import orjson_dumps, stdlib_dumps

    try:
        return orjson_dumps(explain_row(c, values, row, lang, encoded=True))
    except TypeError:  # beyond orjson (an integer over 64 bits; JSONEncodeError is a TypeError)
        return stdlib_dumps(explain_row(c, values, row, lang))


def explain_row(c: Compiled, values: dict[str, Any], row: dict[str, Any], lang: str = "zh",
                encoded: bool = False) -> dict:
    """The contract's assessment dict of one evaluated row. `encoded`: for orjson only (explain_json)."""
    ex = Explainer(values, row, lang, "", encoded)
    y1 = c.as_of.year - 1
    ind = row.get("size_industry")
    size_inputs = _size_inputs(ind, y1) if ind is None or isinstance(ind, str) else _size_inputs.__wrapped__(ind, y1)
    sme = values.get("size#sme")
    size = {
        "industry": ind, "class": values.get("size#class"), "outcome": OUT[sme],
        "observed": ", ".join(fmt_value(row.get(p) / (100 if not heads else 1) if row.get(p) is not None else None,
                                        "count" if heads else "money", lang) for p, heads in size_inputs) or None,
        "source": "工信部联企业〔2011〕300号 第四条", "mark": "C",
        "missing": (["industry"] if ind is None else [p for p, _ in size_inputs if row.get(p) is None]) if sme is None else [],
    }
    out = {
        "contract": CONTRACT_VERSION,
        "enterprise": row.get("name"),
        "uscc": row.get("uscc"),
        "as_of": c.as_of.isoformat(),
        "mode": c.mode,
        "regime": c.regime,
        "size": size,
        "tiers": {plan.tier: ex.tier(plan) for plan in c.plans},
    }
    return out


# ------------------------------------------------------------------------------------ tables
@functools.lru_cache(maxsize=32)
def compile_table(as_of: dt.date, mode: str) -> Compiled:
    """Compile every tier for (as_of, mode) into Polars expressions, once."""
    return compile_all(PolarsOps(), as_of, mode)


def input_columns(c: Compiled) -> list[str]:
    """The input columns the compiled outputs read (not the outputs they refer to)."""
    cols: list[str] = []
    for e in c.values.values():
        for name in e.meta.root_names():
            if name not in cols and name not in c.values and not name.startswith(SCALE_PREFIX):
                cols.append(name)
    return cols


@functools.lru_cache(maxsize=32)
def _stages(as_of: dt.date, mode: str) -> list[list[str]]:
    """Outputs grouped by dependency depth: each stage reads only inputs and earlier stages."""
    c = compile_table(as_of, mode)
    level: dict[str, int] = {}

    def lv(k: str) -> int:
        if k not in level:
            deps = [n for n in c.values[k].meta.root_names() if n in c.values]
            level[k] = 1 + max((lv(d) for d in deps), default=-1)
        return level[k]

    stages: dict[int, list[str]] = {}
    for k in c.values:
        stages.setdefault(lv(k), []).append(k)
    return [stages[i] for i in sorted(stages)]


@functools.lru_cache(maxsize=256)
def evaluation_plan(as_of: dt.date, mode: str, keys: tuple | None = None) -> tuple:
    """(stages, inputs, wanted) for the outputs whose keys end with one of `keys` (all when None):
    the dependency stages restricted to what those outputs read, the input columns they need,
    and the wanted output keys in compile order. Cached per (as_of, mode, keys)."""
    c = compile_table(as_of, mode)
    wanted = tuple(k for k in c.values if keys is None or any(k.endswith(s) for s in keys))
    need = closure(wanted, lambda k: [n for n in c.values[k].meta.root_names() if n in c.values])
    stages = tuple(s for s in (tuple(k for k in st if k in need) for st in _stages(as_of, mode)) if s)
    inputs = tuple(dict.fromkeys(n for k in c.values if k in need for n in c.values[k].meta.root_names()
                                 if n not in c.values and not n.startswith(SCALE_PREFIX)))
    return stages, inputs, wanted


@functools.lru_cache(maxsize=64)
def _scale_columns(as_of: dt.date, mode: str) -> tuple:
    """The constant divisor columns the table compile reads (ops.scale_column)."""
    c = compile_table(as_of, mode)
    return tuple(dict.fromkeys(n for e in c.values.values() for n in e.meta.root_names() if n.startswith(SCALE_PREFIX)))


SMALL_TABLE = 20_000  # rows: below this, eager stages (Polars' query planning costs more than it saves)


def evaluate_table(df, as_of: Any, mode: str = "application", keys: Any = None, conformed: bool = False):
    """Evaluate all tiers over a Polars DataFrame of engine columns; returns the output columns.

    Money columns must be in fen and decimal inputs x 10^4 (see frame.py); missing columns are
    added as nulls (undetermined). `keys` limits the outputs (suffixes, e.g. '#ok', '#score_lo') and
    only what they depend on is computed. `conformed`: df already holds the needed inputs with the
    engine dtypes (skips the casts).
    """
    from .frame import conform, with_scales

    as_of = parse_date(as_of)
    c = compile_table(as_of, mode)
    stages, inputs, wanted = evaluation_plan(as_of, mode, None if keys is None else tuple(keys))
    f = with_scales(df if conformed else conform(df, inputs, c.ctx.local_kinds), _scale_columns(as_of, mode))
    if f.height <= SMALL_TABLE:
        for stage in stages:
            f = f.with_columns([c.values[k].alias(k) for k in stage])
        return f.select(list(wanted))
    lf = f.lazy()
    for stage in stages:
        lf = lf.with_columns([c.values[k].alias(k) for k in stage])
    return lf.select(list(wanted)).collect()


def assess_table_rows(rows: list[dict], as_of: Any, mode: str = "application", lang: str = "zh") -> list[dict]:
    """Assess many profile rows (from frame.profile_row) with the Polars backend; one dict each."""
    from .frame import rows_to_frame

    as_of = parse_date(as_of)
    c = compile_table(as_of, mode)
    cols = input_columns(c)
    df = rows_to_frame(rows, cols, c.ctx.local_kinds)
    res = evaluate_table(df, as_of, mode)
    out = []
    for i, vals in enumerate(res.iter_rows(named=True)):
        out.append(explain_row(c, vals, rows[i], lang))
    return out
