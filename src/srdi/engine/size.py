"""The 2011 SME size standard as a measure over columns (criteria.md §2, convention C8).

large  = every ceiling indicator at or above its ceiling ("X以下或Y以下" is SME);
medium = all medium lower bounds met ("及以上" is >=), else drop one size;
small  = all small lower bounds met, else micro.
The industry column `size_industry` holds the resolved size-standard industry id.
"""
from __future__ import annotations

import functools

from .measures import FEN, Q, Ctx, fin
from .packs import size_table
from .syntax import parse_value

_FIELDS = {"X": "employees", "Y": "operating_revenue", "Z": "total_assets"}


@functools.lru_cache(maxsize=None)
def bounds() -> dict:
    """Per industry and level: [(field, lower bound in engine units)], parsed once."""
    out = {}
    for ind, spec in size_table()["industries"].items():
        out[ind] = {level: [(_FIELDS[k], int(parse_value(v).value * FEN) if k in ("Y", "Z") else int(parse_value(v).value))
                            for k, v in spec[level].items()] for level in ("large", "medium", "small")}
    return out


def classes(o, year: int, only: str | None = None):
    """Per industry: (large, medium, small) outcomes and the input paths used."""
    out = {}
    for ind, spec in bounds().items():
        if only is not None and ind != only:
            continue
        parts, paths = {}, []
        for level in ("large", "medium", "small"):
            tests = []
            for f, v in spec[level]:
                p = fin(year, f)
                tests.append(o.cmp(o.col(p), ">=", o.lit(v)))
                if p not in paths:
                    paths.append(p)
            parts[level] = o.and_(tests)
        out[ind] = (parts["large"], parts["medium"], parts["small"], paths)
    return out


def size_measure(o, ctx: Ctx, name: str, year: int) -> Q:
    ind = o.col("size_industry")
    # one firm: only its own industry's table; a table: every industry, chosen per row
    per = classes(o, year, only=ind if o.name == "scalar" else None)
    conds, classes_, larges, inputs = [], [], [], ["size_industry"]
    for iid, (large, medium, small, paths) in per.items():
        nl, nm = o.not_(large), o.not_(medium)
        cls = o.first(
            [o.is_true(large), o.is_true(o.and_([nl, medium])), o.is_true(o.and_([nl, nm, small])),
             o.is_true(o.and_([nl, nm, o.not_(small)]))],
            ["large", "medium", "small", "micro"], None)
        conds.append(o.is_true(o.cmp(ind, "==", o.lit(iid))))
        classes_.append(cls)
        larges.append(large)
        inputs.extend(p for p in paths if p not in inputs)
    if name == "size_class":
        c = o.first(conds, classes_, None)
        if o.name == "polars":
            c = c.cast(o.pl.String)
        return Q(c, 1, "enum", inputs, None)
    large = o.first(conds, larges, None)
    if o.name == "polars":
        large = large.cast(o.pl.Boolean)
    return Q(o.not_(large), 1, "bool", inputs, None)
