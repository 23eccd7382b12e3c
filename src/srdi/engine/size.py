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
        # size_measure relies on both: each level lists the same indicators, rising with the level
        fs = [sorted(dict(out[ind][lv])) for lv in ("small", "medium", "large")]
        if fs[0] != fs[1] or fs[1] != fs[2]:
            raise ValueError(f"size standard {ind}: levels list different indicators")
        for f in fs[0]:
            if not dict(out[ind]["small"])[f] <= dict(out[ind]["medium"])[f] <= dict(out[ind]["large"])[f]:
                raise ValueError(f"size standard {ind}: {f} bounds do not rise with the level")
    return out


LEVELS = ("small", "medium", "large")
CLASS_OF_LEVEL = ("micro", "small", "medium", "large")


def size_measure(o, ctx: Ctx, name: str, year: int) -> Q:
    """Size class / SME flag in one pass over a table, whatever the industry mix.

    Per indicator f the row's bounds are looked up by its industry, and r_f counts the levels
    (small, medium, large) whose f-bound it meets. An industry's bounds rise with the level, so
    the level met on ALL indicators (drop one size, §2.2) is min_f r_f: 0 micro .. 3 large.
    An unknown indicator leaves the level unknown, unless a known one already gives micro.
    """
    ind = o.col("size_industry")
    table = bounds()
    keys = list(table)
    fields = ("employees", "operating_revenue", "total_assets")

    def uses(spec, f):
        return any(g == f for g, _ in spec["small"])

    # every indicator some industry uses (the explanation lists only the firm's own industry's)
    used = [f for f in fields if any(uses(s, f) for s in table.values())]
    inputs = ["size_industry"] + [fin(year, f) for f in used]
    code = o.share("size#industry_code", o.code_of(ind, keys))
    known = o.not_(o.is_null(code))
    rs = []
    for f in used:
        x = o.col(fin(year, f))
        met = [o.cmp(x, ">=", o.take([dict(table[k][lv]).get(f, 0) for k in keys], code)) for lv in LEVELS]
        unused = o.take([0 if uses(table[k], f) else 1 for k in keys], code)
        rs.append(o.share(f"size[{year}]#levels_met.{f}",
                          o.if_(o.is_true(o.cmp(unused, "==", o.lit(1))), o.lit(3), o.count_true(met))))
    low = o.share(f"size[{year}]#low", o.min_known(rs))
    any_unknown = o.share(f"size[{year}]#unknown", o.or_([o.is_null(r) for r in rs]))
    level = o.first([o.not_(known), o.is_true(o.and_([any_unknown, o.cmp(low, "==", o.lit(0))])), any_unknown],
                    [None, 0, None], low)
    if name == "size_class":
        # level is null or 0..3: read the class label at it (one gather, not a chain over levels)
        c = o.take(list(CLASS_OF_LEVEL), level)
        return Q(c, 1, "enum", inputs, None)
    # not large as soon as one known indicator falls short of its large bound
    sme = o.first([o.not_(known), o.is_true(o.cmp(low, "<", o.lit(3))), any_unknown], [None, True, None], False)
    if o.name == "polars":
        sme = sme.cast(o.pl.Boolean)
    return Q(sme, 1, "bool", inputs, None)
