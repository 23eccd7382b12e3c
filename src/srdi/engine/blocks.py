"""Building blocks: compile a resolved pack into named outputs over columns.

Blocks: threshold tests (each/either year), all/any, brackets, bands with points (first band
met), best-of bands (C5), capped counts, local (特色化) indicators, scores with category
minimums, prerequisites, exclusions, and direct-qualifying routes as exceptions to a base rule.

Every block yields, while it evaluates, what the explanation needs: the outcome (true / false /
null = undetermined), the points as an interval [lo, hi] (lo = hi once decided; an undetermined
input counts as its worst band in lo and its best in hi, so a tier is decided whenever the
missing inputs cannot change it, C6), and the observed values. Points are held x 10^4 so that
a fractional 特色化 score stays exact.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .measures import SCALE4, YEAR_MEASURES, Ctx, measure
from .packs import Node, Pack, local_packs, resolve_pack
from .syntax import Literal, Test

PT = SCALE4  # points scale
_CMP_OPS = (">=", ">", "<=", "<", "==", "!=")


class RuleCompileError(ValueError):
    pass


@dataclass
class Entry:
    """One node's place in the outputs, for the explanation."""

    key: str  # output key prefix
    node: Node
    kind: str
    group: str | None
    units: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    n_obs: int = 0
    scored: bool = False
    depth: int = 0
    province: str | None = None  # entries of a province's 特色化 sheet
    # a test over several years, each of which must hold: each year's outcome, bound as an output
    # ((year, output key, inputs), ...), so that the planner can check one year's levers alone
    year_parts: tuple = ()


@dataclass
class TierPlan:
    tier: str
    pack: Pack
    entries: list[Entry]
    prefix: str
    scored: bool
    subs: list["TierPlan"] = field(default_factory=list)


def closure(wanted, reads) -> set:
    """`wanted` output keys with every output they read, transitively (`reads(key)`: the
    outputs one reads directly), whatever the backend."""
    need: set = set()
    todo = list(wanted)
    while todo:
        k = todo.pop()
        if k not in need:
            need.add(k)
            todo.extend(d for d in reads(k) if d not in need)
    return need


class Compiler:
    def __init__(self, ops, ctx: Ctx):
        self.o = ops
        self.ctx = ctx
        self.out: dict[str, Any] = {}
        self._measures: dict[tuple, Any] = {}
        ops.binder = self.bind  # measures share intermediate columns (ops.share)

    def measure(self, name: str, year: int | None, args: dict):
        """A measure instance, built once per compile; in a table each of its parts is one
        column that every test and band reading it shares."""
        k = (name, year, repr(sorted(args.items())))
        q = self._measures.get(k)
        if q is None:
            q = measure(self.o, self.ctx, name, year, args)
            base = f"m:{name}[{year}]{k[2] if args else ''}"
            is_col = self.o.is_column
            if not is_col(q.num):
                q.num = self.bind(f"{base}#num", q.num)
            if q.obs_of is not None:
                q.obs = q.obs_of(q.num)  # read num's column rather than recompute it
            if q.den_col and not is_col(q.den):
                q.den = self.bind(f"{base}#den", q.den)
            if q.obs is not None and not is_col(q.obs):
                q.obs = self.bind(f"{base}#obs", q.obs)
            if q.obs is None and q.unit == "count":
                q.obs = self.o.to_float(q.num)  # a count shows as itself (read from its column)
            self._measures[k] = q
        return q

    def bind(self, key: str, value):
        """Record an output; later blocks refer to it by name, so that a table computes each
        output once, as a column (staged evaluation in assess.evaluate_table)."""
        self.out[key] = value
        return self.ref(key)

    def ref(self, key: str):
        return self.o.ref(key)

    # ------------------------------------------------------------------ tests and literals
    _FRACTIONS: dict = {}

    def _lit_fraction(self, unit: str, lit: Literal) -> Fraction:
        k = (unit, lit.text, lit.unit)
        f = self._FRACTIONS.get(k)
        if f is None:
            f = self._FRACTIONS[k] = self._lit_fraction_new(unit, lit)
        return f

    def _lit_fraction_new(self, unit: str, lit: Literal) -> Fraction:
        v = lit.value
        if unit == "money":
            if lit.unit not in ("money", "number"):
                raise RuleCompileError(f"money compared with {lit.text}")
            return Fraction(v)
        if unit == "ratio":
            if lit.unit not in ("ratio", "number"):
                raise RuleCompileError(f"ratio compared with {lit.text}")
            return Fraction(v)
        if unit == "percent":
            return Fraction(v) * (100 if lit.unit == "ratio" else 1)
        if unit in ("count", "score"):
            if lit.unit != "number":
                raise RuleCompileError(f"{unit} compared with {lit.text}")
            return Fraction(v)
        raise RuleCompileError(f"cannot compare a {unit} with {lit.text}")

    def compare(self, q, op: str, lit: Literal | None):
        o = self.o
        if op == "truthy":
            return o.cmp(q.num, "==", o.lit(True))
        if op == "falsy":
            return o.cmp(q.num, "==", o.lit(False))
        if op in ("in", "not in"):
            r = o.isin(q.num, lit.value)
            return r if op == "in" else o.not_(r)
        if q.unit in ("bool", "enum") or lit.unit in ("bool", "enum"):
            return o.cmp(q.num, op, o.lit(lit.value))
        f = self._lit_fraction(q.unit, lit)
        if q.compare is not None:
            r = q.compare(op, f)
            if r is not None:
                return r
        guard, c = self._numeric_parts(q, op, f)
        return c if guard is None else o.and_([guard, c])

    def _numeric_parts(self, q, op: str, f: Fraction):
        """(guard, cmp) of a numeric test: the test is `guard AND cmp` (guard None: just cmp).
        The guard is the same for every threshold of one measure (a positive denominator), and
        cmp is null only when an operand (num, den) is null."""
        o = self.o
        p, qd = f.numerator, f.denominator
        if q.cagr:
            # sqrt(a/c) - 1 OP p/qd  <=>  a * qd^2 OP c * (qd + p)^2   (c > 0)
            lhs, rhs = o.mul(q.num, o.lit(qd * qd)), o.mul(q.den, o.lit((qd + p) ** 2))
            return o.cmp(q.den, ">", o.lit(0)), o.cmp(lhs, op, rhs)
        if q.den_is_constant:
            return None, o.cmp(self._times(q.num, qd), op, o.lit(q.den * p))
        # a ratio over a column: decided only for a positive denominator (zero revenue or
        # assets make the ratio undefined: the test is not met)
        return o.cmp(q.den, ">", o.lit(0)), o.cmp(self._times(q.num, qd), op, self._times(q.den, p))

    def _band_parts(self, q, tests):
        """For bands that all compare one numeric measure with a literal: (known, cmps), where
        `known` (never null) says that every band test is decided by its cmp alone (guard met,
        operands present) and is false when none of the tests can be met; else None."""
        o = self.o
        if q.unit in ("bool", "enum") or q.compare is not None:
            return None
        guard, cmps = None, []
        for t in tests:
            if t.op not in _CMP_OPS or t.value is None or t.value.unit in ("bool", "enum"):
                return None
            f = self._lit_fraction(q.unit, t.value)
            g, c = self._numeric_parts(q, t.op, f)
            if f == 0 and g is not None and not q.cagr:
                # num*qd OP den*0 with den present (inside `known`): num OP 0, without the
                # product by zero (128-bit for the growth mean)
                c = o.cmp(q.num, t.op, o.lit(0))
            guard = g
            cmps.append(c)
        present = [o.not_(o.is_null(q.num))]
        if guard is not None:
            # the guard reads den: a true guard means den is present
            present.append(o.is_true(guard))
        return o.and_(present), cmps

    def _times(self, x, k: int):
        """x * k, without the product when k is 1 (most thresholds are n/1 or 1/n)."""
        return x if k == 1 else self.o.mul(x, self.o.lit(k))

    def test(self, t: Test, parts_key: str | None = None, e: Entry | None = None):
        """(ok, [obs...], [units], [inputs]) for a test over its years. With `parts_key`, a test
        that must hold in each of several years binds each year's outcome as `{parts_key}[year]`
        and records it in `e.year_parts`."""
        o, Y = self.o, self.ctx.year
        years = t.years or (None,)
        oks, obs, units, inputs = [], [], [], []
        parts = []
        for off in years:
            yr = None if off is None else Y + off
            if t.measure in YEAR_MEASURES and yr is None:
                raise RuleCompileError(f"{t.text}: {t.measure} needs a year, e.g. [y-1]")
            q = self.measure(t.measure, yr, t.args)
            oks.append(self.compare(q, t.op, t.value))
            obs.append(q.obs)
            units.append(q.unit)
            inputs.extend(q.inputs)
            parts.append((yr, list(q.inputs)))
        if parts_key is not None and len(oks) > 1 and t.combine == "each" and None not in years:
            oks = [self.bind(f"{parts_key}[{yr}]", ok) for ok, (yr, _) in zip(oks, parts)]
            e.year_parts = tuple((yr, f"{parts_key}[{yr}]", tuple(inp)) for yr, inp in parts)
        ok = oks[0] if len(oks) == 1 else (o.and_(oks) if t.combine == "each" else o.or_(oks))
        return ok, obs, units, inputs

    # ------------------------------------------------------------------------------- nodes
    def node(self, n: Node, key: str, group: str | None, entries: list[Entry], depth: int = 0):
        """Compile a pass/fail node (condition, route, prerequisite, ...); returns its outcome."""
        o = self.o
        e = Entry(key, n, n.kind, group, depth=depth)
        entries.append(e)
        if n.waived:
            ok = o.lit(True)
        elif n.test is not None:
            ok, obs, e.units, e.inputs = self.test(n.test, f"{key}#ok", e)
            self._obs(e, obs)
        elif n.all is not None or n.any is not None:
            kids = [self.node(c, f"{key}.{c.id}", n.id, entries, depth + 1) for c in (n.all or n.any)]
            ok = o.and_(kids) if n.all is not None else o.or_(kids)
        elif n.brackets is not None:
            parts = []
            for b in n.brackets:
                applies = []
                for w in b.when:
                    wok, _, _, winp = self.test(w)
                    applies.append(wok)
                    e.inputs.extend(winp)
                bok = self.node(b, f"{key}.{b.id}", n.id, entries, depth + 1)
                parts.append(o.and_(applies + [bok]))
            ok = o.or_(parts) if parts else o.lit(False)
        else:
            raise RuleCompileError(f"{n.id}: not a pass/fail node")
        if n.exceptions and not n.waived:
            ex = [self.node(x, f"{key}.{x.id}", n.id, entries, depth + 1) for x in n.exceptions]
            base = ok
            ok = o.or_([base] + ex)
            self.bind(f"{key}#base", base)
        return self.bind(f"{key}#ok", ok)

    def _obs(self, e: Entry, obs: list):
        e.n_obs = len(obs)
        for i, v in enumerate(obs):
            self.out[f"{e.key}#obs{i}"] = v if v is not None else self.o.lit(None)

    def _bands(self, bands, key: str, e: Entry):
        """(lo, hi) of banded points: the first band met, with a missing input counted as its
        worst band in lo and its best in hi. (A null condition of `first`/`if_`/`pick` counts as
        not met in both backends, so conditions are passed without `is_true`.)"""
        o = self.o
        oks, pts = [], []
        default = None
        for t, p in bands:
            if t is None:
                default = p * PT
                continue
            ok, _, _, inputs = self.test(t)
            e.inputs.extend(i for i in inputs if i not in e.inputs)
            oks.append(ok)
            pts.append(p * PT)
        if default is None:  # exhaustive bands (e.g. a yes/no field): the worst is the last band
            default = min(pts)
        tests = [t for t, _ in bands if t is not None]
        one = {(t.measure, t.years, repr(sorted(t.args.items()))) for t in tests}
        if len(one) == 1 and all(len(t.years) <= 1 for t in tests) and tests[0].op not in ("truthy", "falsy"):
            # all bands read one measure: a band test is null only when that measure is missing,
            # so `hi` is the best band where it is missing and `lo` otherwise (one chain, not two)
            t0 = tests[0]
            q = self.measure(t0.measure, None if not t0.years else self.ctx.year + t0.years[0], t0.args)
            parts = self._band_parts(q, tests)
            if parts is not None:
                # the shared guard (den > 0, operands present) once, then the bare comparisons
                known, cmps = parts
                lo = o.first([known], [o.first(cmps, pts, default)], default)
            else:
                lo = o.first(oks, pts, default)
            missing = o.or_([o.is_null(o.col(i)) for i in q.inputs])
            lo = self.bind(f"{key}#lo", lo)  # `hi` reads the `lo` column
            return lo, o.if_(missing, o.lit(max(pts)), lo)
        lo = o.first(oks, pts, default)
        return lo, o.first([o.fill_null(ok, True) for ok in oks], pts, default)

    def indicator(self, n: Node, key: str, group: str | None, entries: list[Entry], depth: int = 0):
        """Compile a scored indicator; returns (lo, hi) in points x 10^4."""
        o = self.o
        e = Entry(key, n, "indicator" if n.kind != "part" else "part", group, scored=True, depth=depth)
        entries.append(e)
        if n.measure is not None:
            _, obs, e.units, minputs = self.test(n.measure)
            e.inputs.extend(minputs)
            self._obs(e, obs)
        if n.bands is not None:
            lo, hi = self._bands(n.bands, key, e)
        elif n.best_of is not None:
            parts = [self.indicator(c, f"{key}.{c.id}", n.id, entries, depth + 1) for c in n.best_of]
            lo, hi = o.max_([p[0] for p in parts]), o.max_([p[1] for p in parts])
        elif n.count_of is not None:
            each, cap = n.count_of["each"] * PT, n.count_of["cap"] * PT
            n_true, n_maybe = [], []
            for t in n.count_of["items"]:
                ok, _, _, inputs = self.test(t)
                e.inputs.extend(inputs)
                n_true.append(o.if_(ok, o.lit(each), o.lit(0)))
                n_maybe.append(o.if_(o.fill_null(ok, True), o.lit(each), o.lit(0)))
            s_lo, s_hi = o.sum_(n_true), o.sum_(n_maybe)
            lo = o.first([o.cmp(s_lo, ">=", o.lit(cap))], [cap], s_lo)
            hi = o.first([o.cmp(s_hi, ">=", o.lit(cap))], [cap], s_hi)
        elif n.local:
            lo, hi = self.local(n, e, entries, depth)
        else:
            raise RuleCompileError(f"{n.id}: not an indicator")
        if f"{key}#lo" not in self.out:  # bands bind `lo` themselves
            lo = self.bind(f"{key}#lo", lo)
        return lo, self.bind(f"{key}#hi", hi)

    def local(self, n: Node, e: Entry, entries: list[Entry], depth: int):
        """特色化 (R2022 Annex 2 indicator 9): the province's own sheet where it is encoded and its
        inputs are given; otherwise the score the province awarded (`local_score`)."""
        o = self.o
        mx = (n.max or 15) * PT
        score = o.col("local_score")  # x 10^4 already
        e.inputs.extend(["local_score"])
        conds, los, his, sheet_conds = [], [], [], []
        for prov, lp in local_packs().items():
            keys = [f"local_indicators.{k}" for k in lp["inputs"]]
            for k, spec in lp["inputs"].items():
                self.ctx.local_kinds[f"local_indicators.{k}"] = spec["kind"] if spec["kind"] != "count" else "count"
            given = o.or_([o.not_(o.is_null(o.col(k))) for k in keys])
            first = len(entries)
            sub = [self.indicator(x, f"{e.key}.{x.id}", n.id, entries, depth + 1) for x in lp["nodes"]]
            for se in entries[first:]:
                se.province = prov
            conds.append(o.and_([o.cmp(o.col("province"), "==", o.lit(prov)), given]))
            sheet_conds.append((prov, given))
            los.append(o.sum_([s[0] for s in sub]))
            his.append(o.sum_([s[1] for s in sub]))
        has_score = o.not_(o.is_null(score))
        fb_lo, fb_hi = o.if_(has_score, score, o.lit(0)), o.if_(has_score, score, o.lit(mx))
        # the province picks the sheet: when it is missing, every sheet whose inputs are given may
        # apply, or none (the awarded score): lo is the lowest of those, hi the highest (C6)
        givens = [c[1] for c in sheet_conds]
        any_lo = o.min_known([o.if_(g, l_, fb_lo) for g, l_ in zip(givens, los)] + [fb_lo])
        any_hi = o.max_([o.if_(g, h_, fb_hi) for g, h_ in zip(givens, his)] + [fb_hi])
        unknown = o.is_null(o.col("province"))
        conds.append(has_score)
        los.append(score)
        his.append(score)
        lo = o.if_(unknown, any_lo, o.first(conds, los, 0))
        hi = o.if_(unknown, any_hi, o.first(conds, his, mx))
        return lo, hi

    # -------------------------------------------------------------------------------- tiers
    def tier(self, pack: Pack, prefix: str) -> TierPlan:
        o = self.o
        entries: list[Entry] = []
        oks = []
        for kind, nodes in pack.sections():
            if kind in ("category", "route"):
                continue
            for n in nodes:
                oks.append(self.node(n, f"{prefix}/{n.id}", None, entries))
        plan = TierPlan(pack.tier, pack, entries, prefix, scored=pack.decision == "score")
        routes_labels, routes_oks = [], []
        if pack.decision == "score":
            sc = pack.score
            line = int(sc["pass_line"]) * PT
            tot_lo, tot_hi, sure_pass, sure_fail = [], [], [], []
            for cat in pack.categories:
                ck = f"{prefix}/{cat.id}"
                entries.append(Entry(ck, cat, "category", None, scored=True))
                parts = [self.indicator(i, f"{ck}.{i.id}", cat.id, entries, 1) for i in cat.indicators]
                clo, chi = o.sum_([p[0] for p in parts]), o.sum_([p[1] for p in parts])
                clo, chi = self.bind(f"{ck}#lo", clo), self.bind(f"{ck}#hi", chi)
                tot_lo.append(clo)
                tot_hi.append(chi)
                mins = [(cat.minimum, clo, chi)] + [(i.minimum, p[0], p[1]) for i, p in zip(cat.indicators, parts)]
                for m, lo_, hi_ in mins:
                    if m is not None:
                        sure_pass.append(o.cmp(lo_, ">=", o.lit(m * PT)))
                        sure_fail.append(o.cmp(hi_, "<", o.lit(m * PT)))
            slo, shi = o.sum_(tot_lo), o.sum_(tot_hi)
            slo, shi = self.bind(f"{prefix}#score_lo", slo), self.bind(f"{prefix}#score_hi", shi)
            sure_pass.append(o.cmp(slo, ">=", o.lit(line)))
            sure_fail.append(o.cmp(shi, "<", o.lit(line)))
            score_ok = o.first([o.and_(sure_pass), o.or_(sure_fail)], [True, False], None)
            if o.name == "polars":
                score_ok = score_ok.cast(o.pl.Boolean)
            score_ok = self.bind(f"{prefix}#score_ok", score_ok)
            ex = [self.node(x, f"{prefix}/{x.id}", None, entries) for x in pack.exceptions]
            decision = o.or_([score_ok] + ex)
            routes_labels = ["score"] + [f"direct:{x.id}" for x in pack.exceptions]
            routes_oks = [score_ok] + ex
        elif pack.decision == "alternatives":
            alts = []
            for a in pack.alternatives:
                sub = resolve_pack(a["pack"], self.ctx.year, self.ctx.mode)
                sp = self.tier(sub, f"{prefix}~{sub.tier}")
                plan.subs.append(sp)
                aok = self.ref(f"{sp.prefix}#ok")
                alts.append(aok)
                routes_oks.append(aok)
                routes_labels.append(a.get("route") or self.ref(f"{sp.prefix}#route"))
            decision = o.or_(alts)
        else:
            decision = o.lit(True)
        ok = o.and_(oks + [decision])
        ok = self.bind(f"{prefix}#ok", ok)
        if routes_oks:
            route = o.pick(ok, routes_oks, routes_labels)
        else:
            route = o.pick(o.is_true(ok), [o.lit(True)], ["conditions"])
        self.out[f"{prefix}#route"] = route
        return plan
