"""Bulk evaluation for the planner: many candidate rows (lever combinations of one firm, or of
many firms) evaluated with the column-wise engine in one call.

Two pieces, both exact (tests/test_plan_bulk.py compares them with the one-row paths):

- `candidate_frame(base, combos, at, params, schema)`: the Polars frame of `apply_actions(base,
  combo, at, params)` for every combo, built column-wise from each action's effect (actions are
  additive, see levers.py) instead of one dict per row: untouched columns are one repeated value.
- `table_ok(df, at, mode, keys)`: `evaluate_table(df, at, mode, keys)`, which computes only the
  outputs the keys depend on (their dependency closure), eagerly for small frames.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from .levers import Action, apply_actions

_ADD, _SET, _APPEND = 0, 1, 2


def table_inputs(as_of: dt.date, mode: str, keys: Iterable[str]) -> tuple:
    from srdi.engine.assess import evaluation_plan

    return evaluation_plan(as_of, mode, tuple(keys))[1]


def table_ok(df, as_of: dt.date, mode: str, keys: Iterable[str], conformed: bool = False):
    """The output columns `keys` (suffix match) for the rows of df, computing only what they need
    (`conformed`: df holds exactly the input columns with the engine dtypes already)."""
    from srdi.engine.assess import evaluate_table

    return evaluate_table(df, as_of, mode, keys=tuple(keys), conformed=conformed)


def _effect(base: dict, a: Action, params: dict) -> tuple:
    """What one action does to the base row once in effect: ((column, kind, value), ...)."""
    after = apply_actions(base, [a], dt.date.max, params)
    out = []
    for k, v in after.items():
        b = base.get(k)
        if v is b:
            continue
        if k == "titles":
            out.append((k, _APPEND, tuple(v[len(b or []):])))
        elif a.lever in ("rd_spend", "rd_hire", "growth", "shed", "debt", "ip_class1", "ip_high_value",
                         "ip_class2", "ip_apply"):
            if v != b:
                out.append((k, _ADD, v - (b or 0)))
        elif v != b:
            out.append((k, _SET, v))
    return tuple(out)


class Effects:
    """Per-action effects on one base row at one date (memoised). An action's effect does not
    depend on the date once it is in effect (apply_actions reads the date only for that), so
    `memo` may be shared by the dates of one base row."""

    def __init__(self, base: dict, at: dt.date, params: dict, memo: dict | None = None):
        self.base, self.at, self.params = base, at, params
        self._m: dict = {} if memo is None else memo

    def of(self, a: Action) -> tuple:
        if a.eff is not None and a.eff > self.at:
            return ()
        m = self._m.get(id(a))  # by identity: title actions hold dicts (unhashable)
        if m is None or m[0] is not a:
            m = self._m[id(a)] = (a, _effect(self.base, a, self.params))
        return m[1]


def candidate_columns(eff: Effects, combos: list[tuple]) -> dict[str, Any]:
    """{column: values per combo} for the columns some combo changes (others: the base).

    A column of integers only added to (money in fen, head counts: exact and order-free) is one
    NumPy array, built per action over the rows holding it; any other column (a missing base, a
    value set, titles appended) is built row by row, applying each combo's actions in order."""
    import numpy as np

    base = eff.base
    n = len(combos)
    rows_of: dict[int, tuple[Action, list[int]]] = {}
    for i, acts in enumerate(combos):
        for a in acts:
            r = rows_of.get(id(a))
            if r is None:
                rows_of[id(a)] = (a, [i])
            else:
                r[1].append(i)
    effects: dict[str, list] = {}
    for a, rows in rows_of.values():
        es = eff.of(a)
        if es:
            ra = np.fromiter(rows, dtype=np.int64, count=len(rows))
            once = len(ra) < 2 or bool((ra[1:] != ra[:-1]).all())  # rows ascend: a repeat is adjacent
            for k, kind, v in es:
                effects.setdefault(k, []).append((kind, v, ra, once))
    cols: dict[str, Any] = {}
    slow: set = set()
    for k, es in effects.items():
        b = base.get(k)
        if type(b) is int and all(kind == _ADD and type(v) is int for kind, v, _, _ in es):
            arr = np.full(n, b, dtype=np.int64)
            for _, v, ra, once in es:
                if once:
                    arr[ra] += v
                else:
                    np.add.at(arr, ra, v)
            cols[k] = arr
        else:
            slow.add(k)
    if not slow:
        return cols
    # the other columns row by row, each combo's actions in order (a set after an add is not an add)
    slow_of = {}
    for key, (a, _) in rows_of.items():
        se = [e for e in eff.of(a) if e[0] in slow]
        if se:
            slow_of[key] = se
    for i, acts in enumerate(combos):
        for a in acts:
            se = slow_of.get(id(a))
            if se is None:
                continue
            for k, kind, v in se:
                col = cols.get(k)
                if col is None:
                    b = base.get(k)
                    col = cols[k] = [b] * n
                cur = col[i]
                if kind == _ADD:
                    col[i] = (cur or 0) + v  # _add: a missing value counts as 0 (levers.apply_actions)
                elif kind == _SET:
                    col[i] = v
                else:
                    col[i] = list(cur or []) + list(v)
    return cols


def candidate_frame(base: dict, combos: list[tuple], at: dt.date, params: dict, schema: dict,
                    eff: Effects | None = None):
    """The frame of apply_actions(base, combo, at, params) for each combo, over the columns of
    `schema` ({column: dtype}; columns absent from the base and untouched are null)."""
    import polars as pl

    eff = eff or Effects(base, at, params)
    n = len(combos)
    changed = candidate_columns(eff, combos)
    series = []
    for k, dtp in schema.items():
        vals = changed.get(k)
        if vals is None:
            series.append(pl.Series(k, [base.get(k)], dtype=dtp).new_from_index(0, n))
        else:
            series.append(column(k, vals, dtp))
    return pl.DataFrame(series)


def column(name: str, vals: list, dtp):
    """A typed Series of vals; list-of-struct cells are built once per distinct value and
    gathered (candidates mostly share them)."""
    import polars as pl

    from .search import _list_key

    if not isinstance(dtp, pl.List):
        return pl.Series(name, vals, dtype=dtp)
    uniq: dict = {}
    objs: list[Any] = []
    idx = []
    seen: dict = {}  # id(cell) -> its index: untouched rows share the base row's very object
    for v in vals:
        j = seen.get(id(v))
        if j is None:
            key = _list_key(v)
            j = uniq.get(key)
            if j is None:
                j = uniq[key] = len(objs)
                objs.append(v)
            seen[id(v)] = j
        idx.append(j)
    return pl.Series(name, objs, dtype=dtp).gather(idx)
