"""Turn one row of evaluated outputs into the contract's assessment JSON (contract.md §2).

Nothing is re-derived here: outcomes, points and observed values were produced by the blocks
while evaluating; this module only reads them and formats them for people.
"""
from __future__ import annotations

import datetime as dt
import operator
from typing import Any

from .blocks import PT, Entry, TierPlan
from .jsonout import fragment, orjson_dumps
from .packs import Node, weakest_mark
from .syntax import Test

OUT = {True: "pass", False: "fail", None: "undetermined"}
# values whose == tells apart what they show (floats but 0.0 and -0.0, which build() leaves out; nan != nan)
_MEMO_TYPES = frozenset({int, bool, float, str, type(None), dt.date})
_MEMO_SIZE = 256  # decided dicts kept per entry builder
_OUTCOME = operator.itemgetter("outcome")


def _encode(d: dict):
    """A decided condition's dict as pre-encoded JSON with what the tier reads of it: (fragment,
    outcome, points, its bytes); False when orjson refuses it (an integer beyond 64 bits: the
    caller's fallback encodes the whole answer)."""
    try:
        b = orjson_dumps(d)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return False
    return fragment(b), d["outcome"], d["points"], b


def _discrete(e: Entry) -> bool:
    """Whether a condition shows only flags and codes (most firms share them): such neighbours are
    memoised together (Explainer._encoded_conditions)."""
    return not e.scored and not e.node.waived and e.kind != "category" and all(u in ("bool", "enum") for u in e.units or ())


_RUN_MEMO_SIZE = 256  # decided runs kept per run


def _num(v: float, digits: int = 2) -> str:
    s = f"{v:,.{digits}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_value(v: Any, unit: str, lang: str) -> str:
    if v is None:
        return "—"
    if unit == "money":
        return f"{_num(v / 10_000, 4)}万元" if lang == "zh" else f"¥{_num(v, 2)}"
    if unit == "ratio":
        return f"{v * 100:.2f}%"
    if unit == "percent":
        return f"{_num(v, 4)}%"
    if unit in ("count", "score"):
        return _num(v, 4)
    if isinstance(v, bool):
        return ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
    return str(v)


def _threshold(n: Node, lang: str) -> str | None:
    if n.test is not None:
        return n.test.threshold_text() if n.test.op not in ("truthy", "falsy") else _plain(n.test, lang)
    if n.bands is not None:
        parts = []
        for t, p in n.bands:
            if t is None:
                parts.append(("其他" if lang == "zh" else "else") + f" → {p}")
            elif n.measure is not None and t.measure == n.measure.measure:
                parts.append(f"{t.threshold_text()} → {p}")
            else:
                parts.append(f"{t.text} → {p}")
        return "; ".join(parts)
    if n.count_of is not None:
        c = n.count_of
        return (f"每项{c['each']}分，最高{c['cap']}分" if lang == "zh" else f"{c['each']} per item, at most {c['cap']}")
    if n.best_of is not None:
        return "取高档 (C5)" if lang == "zh" else "the better band (C5)"
    if n.local:
        return "0–15"
    if n.all is not None:
        return "全部满足" if lang == "zh" else "all of"
    if n.any is not None:
        return "满足其一" if lang == "zh" else "any of"
    if n.brackets is not None:
        return "按适用档次" if lang == "zh" else "by applicable bracket"
    return None


def _plain(t: Test, lang: str) -> str:
    if t.text and not t.text.startswith(("not ", t.measure)) or t.args:
        return t.text
    want = t.op == "truthy"
    return ("是" if want else "否") if lang == "zh" else ("yes" if want else "no")


class Explainer:
    def __init__(self, values: dict[str, Any], row: dict[str, Any], lang: str, doc: str, encoded: bool = False):
        self.v = values
        self.row = row
        self.lang = lang
        self.doc = doc
        # encoded: conditions decided before (memoised) come as pre-encoded JSON (orjson.Fragment);
        # the answer is then only for orjson.dumps (explain_json)
        self.encoded = encoded
        self._given: bool | None = None  # whether any provincial 特色化 input is given

    def _local_given(self) -> bool:
        """Whether the firm gave any provincial 特色化 input (scanned once per firm)."""
        if self._given is None:
            self._given = any(k.startswith("local_indicators.") and v is not None for k, v in self.row.items())
        return self._given

    def _sheet_used(self, province: str) -> bool:
        """A province's 特色化 sheet is shown for firms of that province that gave its inputs."""
        return self.row.get("province") == province and self._local_given()

    def missing_inputs(self, e: Entry) -> list[str]:
        out = []
        if e.node.local:
            from .packs import local_pack

            if self.row.get("province") is None and self._local_given():
                # a provincial sheet's inputs are given, but not which province's sheet applies
                return ["province"] + (["local_score"] if self.row.get("local_score") is None else [])
            lp = local_pack(self.row.get("province") or "")
            keys = [f"local_indicators.{k}" for k in (lp or {}).get("inputs", {})]
            if lp and self._sheet_used(self.row["province"]):
                return [k for k in keys if self.row.get(k) is None]
            return ["local_score"] + keys
        inputs = e.inputs
        if e.node.test is not None and e.node.test.measure == "size_sme":
            # only the indicators of the firm's own size-standard industry
            from .size import bounds

            spec = bounds().get(self.row.get("size_industry") or "")
            if spec:
                fields = {f for lv in spec.values() for f, _ in lv}
                order = ["size_industry", "employees", "operating_revenue", "total_assets"]
                inputs = sorted((p for p in inputs if p == "size_industry" or p.rsplit(".", 1)[-1] in fields),
                                key=lambda p: order.index(p.rsplit(".", 1)[-1]))
        for p in inputs:
            if self.row.get(p) is None and p not in out:
                out.append(p)
        return out

    def observed(self, e: Entry, obs_keys: list[str] | None = None) -> tuple[str | None, list]:
        v = self.v
        vals = [v.get(k) for k in obs_keys] if obs_keys is not None else [v.get(f"{e.key}#obs{i}") for i in range(e.n_obs)]
        n = e.node
        if n.test is not None and n.test.op in ("truthy", "falsy", "in", "not in", "==", "!=") and all(x is None for x in vals):
            if n.test.op in ("in", "not in", "==", "!=") and len(e.inputs) == 1 and not n.test.args:
                raw = self.row.get(e.inputs[0])
                return (None if raw is None else str(raw)), [raw]
            ok = self.v.get(f"{e.key}#ok")
            if n.test.args or n.test.op in ("truthy", "falsy"):
                if len(e.inputs) == 1 and not n.test.args:
                    raw = self.row.get(e.inputs[0])
                    return (None if raw is None else fmt_value(raw, "bool", self.lang)), [raw]
                if ok is None:
                    return None, []
                hit = ok if n.test.op != "falsy" else not ok
                return fmt_value(bool(hit) if n.test.op != "==" else ok, "bool", self.lang), [ok]
        if not vals or all(x is None for x in vals):
            return None, vals
        return ", ".join(fmt_value(x, u, self.lang) for x, u in zip(vals, e.units or ["count"] * len(vals))), vals

    def _static(self, e: Entry, plan_doc: str) -> dict:
        """The parts of an entry that depend only on the rules and the language, built once per
        compiled entry (the evaluation is per firm; the text around it is not)."""
        cache = e.__dict__.setdefault("_explain", {})
        k = (self.lang, plan_doc)
        st = cache.get(k)
        if st is None:
            n = e.node
            src, cite = n.source, n.cite or plan_doc
            st = cache[k] = {
                "threshold": _threshold(n, self.lang) if e.kind != "category" else (
                    f"≥ {n.minimum}" if n.minimum is not None else None),
                "source": f"{cite} {src}" if src else cite,
                "waived_observed": (n.waived.get(self.lang) or n.waived.get("zh")) if n.waived else None,
                "k_lo": f"{e.key}#lo", "k_hi": f"{e.key}#hi", "k_ok": f"{e.key}#ok",
                "k_obs": [f"{e.key}#obs{i}" for i in range(e.n_obs)],
            }
            st["build"] = self._builder(e, st)
        return st

    def _builder(self, e: Entry, st: dict):
        """A function of the Explainer giving the entry's dict: the static keys are copied from a
        template made once (in the contract's key order), and only the per-firm parts are computed.
        Waived entries take the general path (`_entry`)."""
        n = e.node
        if n.waived:
            general = lambda ex, *_: ex._entry(e, st)  # noqa: E731
            general.key_keys = ()
            return general
        scored, category = e.scored, e.kind == "category"
        tmpl: dict[str, Any] = {"id": n.id, "kind": e.kind, "group": e.group, "title": n.title, "outcome": None,
                                "points": None, "max_points": n.max if scored else None}
        if scored:
            tmpl.update(points_min=None, points_max=None)
            if category and n.minimum is not None:
                tmpl["minimum"] = n.minimum
        tmpl.update(observed=None, observed_value=None, threshold=st["threshold"], source=st["source"], mark=n.mark,
                    missing=None)
        k_ok, k_lo, k_hi, k_obs = st["k_ok"], st["k_lo"], st["k_hi"], st["k_obs"]
        minimum = None if not (category and n.minimum is not None) else n.minimum * PT
        units = e.units or ["count"] * len(k_obs)
        lang = self.lang
        # observed values: when every observed output is None, tests of flags and codes read the input
        # or the outcome instead (the general rules: `observed`); which rule applies is known here
        smode, inp0, t_op = 0, None, None
        t = n.test
        if t is not None and t.op in ("truthy", "falsy", "in", "not in", "==", "!="):
            single = len(e.inputs) == 1
            inp0, t_op = (e.inputs[0] if single else None), t.op
            if t.op in ("in", "not in", "==", "!=") and single and not t.args:
                smode = 1  # the input, as text
            elif t.args or t.op in ("truthy", "falsy"):
                smode = 2 if single and not t.args else 3  # the input as yes/no, else the outcome
        yes_no = ("是", "否") if lang == "zh" else ("yes", "no")
        reads_row = smode == 1 or smode == 2
        # the outputs a dict is made of: outcome (and points) first, then the observed values
        head = [k_lo, k_hi] if scored else [k_ok]
        if scored and smode == 3:
            head.append(k_ok)
        key_keys, n_head = (*head, *(k_obs if not category else ())), len(head)
        undetermined_missing = not category

        memo: dict = {}  # decided results by what they are made of (see `build`)
        enc: dict = {}  # the same, pre-encoded (_encode), for encoded Explainers

        def build(ex: "Explainer", vs: tuple | None = None, ts: tuple | None = None) -> dict:
            # A decided entry's dict is a function of the outputs and the input it reads, with their
            # types (True == 1 but shows otherwise): such dicts are kept in `memo` by the key
            # values + types (+ the input and its type) and copied (many firms share flags, counts and
            # codes). Only values of _MEMO_TYPES but zero floats (-0.0 == 0.0) are kept, so any key
            # may be looked up: one with other values finds nothing.
            # `vs`, `ts`: the values of `key_keys` and their types, when the caller (tier) read them
            # for every entry at once.
            if vs is None:
                vs = tuple(map(ex.v.get, key_keys))
                ts = tuple(map(type, vs))
            key = vs + ts
            if category:
                raw = r = None
            else:
                raw = vs[n_head:]
                if reads_row:
                    r = ex.row.get(inp0)
                    key += (r, type(r))
                else:
                    r = None
            try:
                c = memo.get(key)
            except TypeError:  # an unhashable value
                c = key = None
            if c is not None:
                if ex.encoded:
                    f = enc.get(key)
                    if f is None:
                        f = enc[key] = _encode(c)
                    if f:
                        return f
                d = c.copy()
                ov = d["observed_value"]
                if ov is not None:
                    d["observed_value"] = ov.copy()
                d["missing"] = []
                return d
            v = ex.v
            d = tmpl.copy()
            if scored:
                lo, hi = v.get(k_lo), v.get(k_hi)
                if minimum is not None:
                    out = "pass" if lo >= minimum else ("fail" if hi < minimum else "undetermined")
                elif lo == hi:
                    out = "pass" if lo > 0 else "fail"
                else:
                    out = "undetermined"
                d["outcome"] = out
                d["points_min"] = p_lo = _points(lo)
                d["points_max"] = _points(hi)
                if lo == hi:
                    d["points"] = p_lo
            else:
                out = d["outcome"] = OUT[v.get(k_ok)]
            if not category:
                obs = None
                raw = list(raw)
                for x in raw:
                    if x is not None:
                        obs = ", ".join([fmt_value(x, u, lang) for x, u in zip(raw, units)])
                        break
                else:
                    if smode == 1:
                        obs, raw = (None if r is None else str(r)), [r]
                    elif smode == 2:
                        obs = None if r is None else (yes_no[0 if r else 1] if isinstance(r, bool) else str(r))
                        raw = [r]
                    elif smode == 3:
                        ok = v.get(k_ok)
                        if ok is None:
                            raw = []
                        else:
                            hit = ok if t_op != "falsy" else not ok
                            obs = fmt_value(bool(hit) if t_op != "==" else ok, "bool", lang)
                            raw = [ok]
                if obs is not None:
                    d["observed"] = obs
                if raw:
                    d["observed_value"] = [float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
                                           for x in raw]
            if out == "undetermined" and undetermined_missing:
                d["missing"] = ex.missing_inputs(e)
                return d
            d["missing"] = []
            all_ts, all_vs = ((*ts, type(r)), (*vs, r)) if reads_row else (ts, vs)
            # (zero floats: by value only, as False == 0 == 0.0 but a bool or an int is told apart by its type)
            if key is not None and _MEMO_TYPES.issuperset(all_ts) and (
                    float not in all_ts or not any(t is float and x == 0 for x, t in zip(all_vs, all_ts))):
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                    enc.clear()
                c = d.copy()  # complete before it is seen (batch jobs explain in another thread)
                ov = c["observed_value"]
                if ov is not None:
                    c["observed_value"] = ov.copy()
                c["missing"] = []  # nothing shared with `d`, which the caller may change (encoded hits read c)
                memo[key] = c
            return d

        build.key_keys = key_keys
        build.reads = inp0 if reads_row else None  # the input its memo key adds (with its type)
        return build

    def entry(self, e: Entry, plan_doc: str) -> dict:
        return self._static(e, plan_doc)["build"](self)

    def _entry(self, e: Entry, st: dict) -> dict:
        """The general path (waived entries)."""
        n = e.node
        d: dict[str, Any] = {"id": n.id, "kind": e.kind, "group": e.group, "title": n.title}
        if e.scored:
            lo, hi = self.v.get(st["k_lo"]), self.v.get(st["k_hi"])
            decided = lo == hi
            pts = lo / PT if decided else None
            if e.kind == "category" and n.minimum is not None:
                outcome = "pass" if lo >= n.minimum * PT else ("fail" if hi < n.minimum * PT else "undetermined")
            elif decided:
                outcome = "pass" if lo > 0 else "fail"
            else:
                outcome = "undetermined"
            d.update(outcome=outcome, points=_intish(pts), max_points=n.max,
                     points_min=_intish(lo / PT), points_max=_intish(hi / PT))
            if e.kind == "category" and n.minimum is not None:
                d["minimum"] = n.minimum
        else:
            ok = self.v.get(st["k_ok"])
            d.update(outcome=OUT[ok], points=None, max_points=None)
        obs, raw = self.observed(e, st["k_obs"]) if e.kind != "category" else (None, [])
        d["observed"] = obs
        d["observed_value"] = [float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in raw] or None
        d["threshold"] = st["threshold"]
        d["source"] = st["source"]
        d["mark"] = n.mark
        if n.waived:
            d["outcome"] = "pass"
            d["waived"] = True
            d["observed"] = st["waived_observed"]
            if n.waived.get("document"):
                d["source"] = n.waived["document"]
        d["missing"] = self.missing_inputs(e) if d["outcome"] == "undetermined" and e.kind != "category" else []
        return d

    def _encoded_conditions(self, runs: tuple, vals: tuple, types: tuple) -> tuple:
        """The conditions of a tier for orjson: (items, outcomes, points, dicts by index). An item
        is one condition (a dict, or pre-encoded when decided before) or, for a run of flag and
        code conditions decided together before, one fragment holding them all: its key is the
        members' memo keys end to end, so it finds what they would."""
        items: list = []
        outs: list = []
        pts: list = []
        dicts: dict = {}
        row = self.row
        for members, ksl, reads, memo in runs:
            if memo is not None:
                key = vals[ksl] + types[ksl]
                if reads:
                    rv = tuple(map(row.get, reads))
                    key += rv + tuple(map(type, rv))
                try:
                    hit = memo.get(key)
                except TypeError:  # an unhashable value
                    hit = key = None
                if hit is not None:
                    items.append(hit[0])
                    outs.extend(hit[1])
                    pts.extend(hit[2])
                    continue
            parts = []
            for i, b, sl in members:
                c = b(self, vals[sl], types[sl])
                if type(c) is dict:
                    items.append(c)
                    outs.append(c["outcome"])
                    pts.append(c["points"])
                    dicts[i] = c
                    parts = None
                else:
                    items.append(c[0])
                    outs.append(c[1])
                    pts.append(c[2])
                    if parts is not None:
                        parts.append(c)
            if memo is not None and parts and key is not None:  # every member decided before
                if len(memo) >= _RUN_MEMO_SIZE:
                    memo.clear()
                memo[key] = (fragment(b",".join(c[3] for c in parts)), [c[1] for c in parts], [c[2] for c in parts])
        return items, outs, pts, dicts

    def tier(self, plan: TierPlan) -> dict:
        pack = plan.pack
        doc = pack.cite
        v = self.v
        # per language, made once: [(entry, builder)], whether any entry is of a provincial sheet, and
        # by the sheet shown (None: none) the entries shown, their builders and their weakest mark
        built = plan.__dict__.setdefault("_builders", {})
        sel = built.get(self.lang)
        if sel is None:
            sel = built[self.lang] = ([(e, self._static(e, doc)["build"]) for e in plan.entries],
                                      any(e.province is not None for e in plan.entries), {})
        all_pairs, has_sheets, by_sheet = sel
        # an entry of a province's sheet is shown when _sheet_used(its province)
        sheet = (self.row.get("province") if self._local_given() else None) if has_sheets else None
        shown = by_sheet.get(sheet)
        if shown is None:
            pairs = [(e, b) for e, b in all_pairs if e.province is None or e.province == sheet]
            # a condition's mark is its node's (both paths)
            # the outputs every builder reads, all in one tuple, and each builder's slice of it
            keys: list[str] = []
            spans = []
            for _, b in pairs:
                spans.append((b, slice(len(keys), len(keys) + len(b.key_keys))))
                keys.extend(b.key_keys)
            # a condition's kind and id are its entry's and node's (both paths)
            categories = tuple((i, e.node.id) for i, (e, _) in enumerate(pairs) if e.kind == "category")
            shown = (tuple(e for e, _ in pairs), tuple(spans), tuple(keys),
                     weakest_mark(*(e.node.mark for e, _ in pairs if e.node.mark)), categories,
                     tuple(f"{plan.prefix}#{k}" for k in ("ok", "route", "score_lo", "score_hi", "score_ok")),
                     _runs([e for e, _ in pairs], spans))
            if len(by_sheet) < 256:
                by_sheet[sheet] = shown
        entries, spans, keys, mark, categories, (k_ok, k_route, k_lo, k_hi, k_sok), runs = shown
        ok = v.get(k_ok)
        vals = tuple(map(v.get, keys))
        types = tuple(map(type, vals))
        if self.encoded:
            items, outs, pts, dicts = self._encoded_conditions(runs, vals, types)
        else:
            items = dicts = [b(self, vals[sl], types[sl]) for b, sl in spans]
            outs = list(map(_OUTCOME, items))
            pts = [c["points"] for c in items] if categories else None
        t: dict[str, Any] = {
            "regime": pack.regime, "outcome": OUT[ok], "score": None, "route": v.get(k_route),
            "title": pack.title, "pack": pack.id, "document": pack.document,
        }
        if plan.scored:
            lo, hi = v[k_lo], v[k_hi]
            t["score"] = _intish(lo / PT) if lo == hi else None
            t["score_min"], t["score_max"] = _intish(lo / PT), _intish(hi / PT)
            t["pass_line"] = pack.score["pass_line"]
            t["score_outcome"] = OUT[v.get(k_sok)]
            t["score_parts"] = {cid: pts[i] for i, cid in categories}
        t["conditions"] = items
        # inputs that would decide what is undetermined: follow undetermined nodes from the top
        # (an undetermined condition is one of `dicts`: only categories are memoised undetermined)
        missing: list[str] = []
        at = None
        for i in ([i for i, o in enumerate(outs) if o == "undetermined"] if "undetermined" in outs else ()):
            e = entries[i]
            if e.kind == "category":
                continue
            if at is None:
                at = {e.key: i for i, e in enumerate(entries)}
            if e.kind == "route" and ok is True:
                continue  # another route already decided the tier
            parent = e.key.rsplit(".", 1)[0] if "." in e.key.split("/", 1)[-1] else None
            if parent and parent in at and outs[at[parent]] != "undetermined":
                continue
            for m in dicts[i]["missing"]:
                if m not in missing:
                    missing.append(m)
        t["missing"] = missing
        t["notes"] = [dict(n) for n in pack.notes]
        if plan.subs:
            t["sub_results"] = {s.pack.tier: self.tier(s) for s in plan.subs}
            for s in t["sub_results"].values():
                for m in s["missing"]:
                    if m not in t["missing"] and t["outcome"] == "undetermined":
                        t["missing"].append(m)
        t["mark"] = mark
        return t


def _intish(x: float | None):
    if x is None:
        return None
    return int(x) if float(x).is_integer() else round(x, 4)


_POINTS: dict[int, Any] = {}


def _points(v: int):
    """Points x 10^4 (an engine integer) as shown: _intish(v / PT), memoised (few distinct values)."""
    p = _POINTS.get(v)
    if p is None:
        p = _intish(v / PT)
        if len(_POINTS) < 100_000:
            _POINTS[v] = p
    return p


def _runs(entries: list, spans: list) -> tuple:
    """A tier's conditions in order, as runs for Explainer._encoded_conditions: each
    ([(index, builder, its slice of the keys)], the run's slice of the keys, the inputs its
    members' memo keys add, the run's memo (None: a single condition))."""
    out: list = []
    cur: list = []

    def flush():
        if len(cur) >= 2:
            ksl = slice(cur[0][2].start, cur[-1][2].stop)
            out.append((tuple(cur), ksl, tuple(b.reads for _, b, _ in cur if b.reads is not None), {}))
        else:
            out.extend(((m,), None, (), None) for m in cur)
        cur.clear()

    for i, (e, (b, sl)) in enumerate(zip(entries, spans)):
        if _discrete(e) and hasattr(b, "reads"):
            cur.append((i, b, sl))
        else:
            flush()
            out.append((((i, b, sl),), None, (), None))
    flush()
    return tuple(out)
