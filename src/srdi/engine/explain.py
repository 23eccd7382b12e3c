"""Turn one row of evaluated outputs into the contract's assessment JSON (contract.md §2).

Nothing is re-derived here: outcomes, points and observed values were produced by the blocks
while evaluating; this module only reads them and formats them for people.
"""
from __future__ import annotations

from typing import Any

from .blocks import PT, Entry, TierPlan
from .packs import Node, weakest_mark
from .syntax import Test

OUT = {True: "pass", False: "fail", None: "undetermined"}


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
    def __init__(self, values: dict[str, Any], row: dict[str, Any], lang: str, doc: str):
        self.v = values
        self.row = row
        self.lang = lang
        self.doc = doc
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
            return lambda ex: ex._entry(e, st)
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
        # observed values: the general rules (`observed`) only for tests of flags and codes
        special = n.test is not None and n.test.op in ("truthy", "falsy", "in", "not in", "==", "!=")
        units = e.units or ["count"] * len(k_obs)
        lang = self.lang

        def build(ex: "Explainer") -> dict:
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
                if special:
                    obs, raw = ex.observed(e, k_obs)
                else:
                    raw = [v.get(k) for k in k_obs]
                    obs = None
                    for x in raw:
                        if x is not None:
                            obs = ", ".join(fmt_value(x, u, lang) for x, u in zip(raw, units))
                            break
                if obs is not None:
                    d["observed"] = obs
                if raw:
                    d["observed_value"] = [float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
                                           for x in raw]
            d["missing"] = ex.missing_inputs(e) if out == "undetermined" and not category else []
            return d

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

    def tier(self, plan: TierPlan) -> dict:
        pack = plan.pack
        doc = pack.cite
        ok = self.v.get(f"{plan.prefix}#ok")
        built = plan.__dict__.setdefault("_builders", {})  # [(entry, builder)] per language, made once
        pairs = built.get(self.lang)
        if pairs is None:
            pairs = built[self.lang] = [(e, self._static(e, doc)["build"]) for e in plan.entries]
        pairs = [(e, b) for e, b in pairs if e.province is None or self._sheet_used(e.province)]
        entries = [e for e, _ in pairs]
        conds = [b(self) for _, b in pairs]
        t: dict[str, Any] = {
            "regime": pack.regime, "outcome": OUT[ok], "score": None, "route": self.v.get(f"{plan.prefix}#route"),
            "title": pack.title, "pack": pack.id, "document": pack.document,
        }
        if plan.scored:
            lo, hi = self.v[f"{plan.prefix}#score_lo"], self.v[f"{plan.prefix}#score_hi"]
            t["score"] = _intish(lo / PT) if lo == hi else None
            t["score_min"], t["score_max"] = _intish(lo / PT), _intish(hi / PT)
            t["pass_line"] = pack.score["pass_line"]
            t["score_outcome"] = OUT[self.v.get(f"{plan.prefix}#score_ok")]
            t["score_parts"] = {c["id"]: c["points"] for c in conds if c["kind"] == "category"}
        t["conditions"] = conds
        # inputs that would decide what is undetermined: follow undetermined nodes from the top
        missing: list[str] = []
        by_key = None
        for e, c in zip(entries, conds):
            if c["outcome"] != "undetermined" or c["kind"] == "category":
                continue
            if by_key is None:
                by_key = {e.key: c for e, c in zip(entries, conds)}
            if c["kind"] == "route" and ok is True:
                continue  # another route already decided the tier
            parent = e.key.rsplit(".", 1)[0] if "." in e.key.split("/", 1)[-1] else None
            if parent and parent in by_key and by_key[parent]["outcome"] != "undetermined":
                continue
            for m in c["missing"]:
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
        t["mark"] = weakest_mark(*(c["mark"] for c in conds if c.get("mark")))
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
