"""Loading rule packs (YAML data in srdi/rules) into node trees, and resolving them for a date.

A pack reads like its annex; this module only turns it into `Node`s, checks it, applies the
yearly notices (rules/notices) and keeps the variant of each condition that fits the mode.
"""
from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from .syntax import RuleSyntaxError, Test, parse_test
MARKS = ("C", "S", "U")
MARK_ORDER = {"U": 0, "S": 1, "C": 2}


class RulePackError(ValueError):
    pass


@dataclass
class Node:
    """One condition, indicator, route or group of a pack; `kind` says which."""

    id: str
    kind: str
    title: dict
    source: str | None = None
    mark: str | None = None
    test: Test | None = None
    all: list["Node"] | None = None
    any: list["Node"] | None = None
    brackets: list["Node"] | None = None
    when: list[Test] | None = None  # a bracket applies when all these hold
    measure: Test | None = None  # indicator measure shown as observed
    bands: list[tuple[Test | None, int]] | None = None
    best_of: list["Node"] | None = None
    count_of: dict | None = None  # {items: [Test], each: int, cap: int}
    local: bool = False
    exceptions: list["Node"] = field(default_factory=list)
    mode: str | None = None
    waived: dict | None = None
    max: int | None = None
    minimum: int | None = None
    indicators: list["Node"] | None = None  # categories
    cite: str | None = None  # document cited by `source`, when not the pack's own

    def children(self) -> list["Node"]:
        out: list[Node] = []
        for xs in (self.all, self.any, self.brackets, self.best_of, self.indicators):
            if xs:
                out.extend(xs)
        return out + list(self.exceptions)

    def walk(self):
        yield self
        for c in self.children():
            yield from c.walk()


@dataclass
class Pack:
    id: str
    tier: str
    regime: str
    title: dict
    document: str
    cite: str
    mark: str | None
    eligibility: list[Node]
    prerequisites: list[Node]
    exclusions: list[Node]
    conditions: list[Node]
    decision: str  # score | conditions | alternatives
    score: dict | None
    categories: list[Node]
    exceptions: list[Node]
    alternatives: list[dict]
    notes: list[dict] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)

    def sections(self) -> list[tuple[str, list[Node]]]:
        return [("eligibility", self.eligibility), ("prerequisite", self.prerequisites),
                ("exclusion", self.exclusions), ("condition", self.conditions),
                ("category", self.categories), ("route", self.exceptions)]

    def walk(self):
        for _, nodes in self.sections():
            for n in nodes:
                yield from n.walk()

    def marks(self) -> dict[str, int]:
        """Count of thresholds (tests and bands) by confidence mark."""
        counts = {m: 0 for m in MARKS}
        for n in self.walk():
            k = (1 if n.test else 0) + len(n.bands or []) + len(n.when or []) + len((n.count_of or {}).get("items", []))
            if k and n.mark:
                counts[n.mark] += k
        if self.score and self.score.get("mark"):
            counts[self.score["mark"]] += 1
        return counts


# ------------------------------------------------------------------------------------ reading
# Parsed rule files are kept in a pickle cache keyed by the files' sizes and times, so that a
# one-firm `srdi assess` does not re-parse YAML on every start (cold start). SRDI_NO_CACHE=1
# turns it off; any change to a rule file makes a new cache.
_STORE: dict | None = None


def _cache_path():
    import hashlib
    import os
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "rules"
    h = hashlib.sha1()
    for f in sorted(root.rglob("*.yaml")):
        st = f.stat()
        h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    base = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache") / "srdi"
    return base / f"rules-{h.hexdigest()[:16]}.pickle"


def _store() -> dict:
    global _STORE
    if _STORE is None:
        import os
        import pickle

        _STORE = {}
        if os.environ.get("SRDI_NO_CACHE") != "1":
            try:
                with open(_cache_path(), "rb") as fh:
                    _STORE = pickle.load(fh)
            except Exception:  # noqa: BLE001 - a missing or stale cache is rebuilt
                _STORE = {}
    return _STORE


def _cached(key: str, build):
    st = _store()
    if key not in st:
        st[key] = build()
        st["__dirty__"] = True
    return st[key]


def save_cache() -> None:
    """Write every parsed rule file to the cache (after a run that parsed some)."""
    import os
    import pickle
    import tempfile

    st = _store()
    if not st.pop("__dirty__", False) or os.environ.get("SRDI_NO_CACHE") == "1":
        return
    try:
        for pid in PACK_FILES:
            load_pack(pid)
        for prov in LOCAL_FILES:
            local_pack(prov)
        notices(), regimes(), size_table(), common_nodes()
        st.pop("__dirty__", None)
        path = _cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(st, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        prune_cache(path.parent, "rules-*.pickle", RULES_CACHES)  # one per edit of the rule files
    except OSError:
        pass  # a read-only home: no cache, just slower starts


RULES_CACHES = 4  # parsed-rules caches kept (the newest)


def prune_cache(folder, pattern: str, keep: int) -> None:
    """Remove all but the `keep` newest files matching `pattern` in `folder` (by modification time)."""
    files = []
    for f in folder.glob(pattern):
        try:
            files.append((f.stat().st_mtime_ns, f))
        except OSError:
            pass  # removed meanwhile
    for _, f in sorted(files, reverse=True)[keep:]:
        try:
            f.unlink()
        except OSError:
            pass  # another process removed it first


def _yaml():
    import yaml  # imported only when rule files are actually parsed (cold start)

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(rel: str) -> Any:
    yaml, loader = _yaml()
    text = resources.files("srdi.rules").joinpath(rel).read_text(encoding="utf-8")
    return yaml.load(text, Loader=loader)


def _read_all(rel: str) -> list[Any]:
    yaml, loader = _yaml()
    text = resources.files("srdi.rules").joinpath(rel).read_text(encoding="utf-8")
    return [d for d in yaml.load_all(text, Loader=loader) if d]


def _title(d: dict, where: str) -> dict:
    t = d.get("title")
    if isinstance(t, str):
        return {"zh": t, "en": t}
    if not isinstance(t, dict) or "zh" not in t:
        raise RulePackError(f"{where}: title needs zh (and en)")
    if set(t) - {"zh", "en"}:  # e.g. an unquoted comma in a flow mapping split the English title
        raise RulePackError(f"{where}: title has keys {sorted(set(t) - {'zh', 'en'})}; quote a title containing a comma")
    return {"zh": t["zh"], "en": t.get("en", t["zh"])}


def _band_test(spec: Any, measure: Test | None, where: str) -> Test | None:
    if spec == "else":
        return None
    s = str(spec).strip()
    if s[:1] in "<>=!" or s.startswith("in ") or s.startswith("not in "):
        if measure is None:
            raise RulePackError(f"{where}: band {s!r} needs the indicator's `measure`")
        s = f"{measure.text} {s}"
    return parse_test(s)


def _node(d: dict, kind: str, where: str, inherit_mark: str | None, inherit_source: str | None) -> Node:
    if "id" not in d:
        raise RulePackError(f"{where}: every node needs an id")
    nid = str(d["id"])
    here = f"{where}.{nid}"
    mark = d.get("mark", inherit_mark)
    if mark is not None and mark not in MARKS:
        raise RulePackError(f"{here}: mark must be C, S or U")
    source = d.get("source", inherit_source)
    try:
        n = Node(id=nid, kind=kind, title=_title(d, here), source=source, mark=mark,
                 mode=d.get("mode"), max=d.get("max"), minimum=d.get("minimum"))
        sub = lambda xs, k: [_node(x, k, here, mark, source) for x in xs]  # noqa: E731
        if "test" in d:
            n.test = parse_test(d["test"])
        if "all" in d:
            n.all = sub(d["all"], kind if kind != "indicator" else "condition")
        if "any" in d:
            n.any = sub(d["any"], kind if kind != "indicator" else "condition")
        if "brackets" in d:
            n.brackets = []
            for b in d["brackets"]:
                bn = _node(b, "bracket", here, mark, source)
                w = b.get("when")
                bn.when = [parse_test(x) for x in (w if isinstance(w, list) else [w])]
                n.brackets.append(bn)
        if "measure" in d:
            n.measure = parse_test(d["measure"])
        if "bands" in d:
            n.bands = [(_band_test(b[0], n.measure, here), int(b[1])) for b in d["bands"]]
            pts = [p for _, p in n.bands]
            if pts != sorted(pts, reverse=True):
                raise RulePackError(f"{here}: bands must go from the best band down")
        if "best_of" in d:
            n.best_of = sub(d["best_of"], "part")
        if "count_of" in d:
            c = d["count_of"]
            n.count_of = {"items": [parse_test(x) for x in c["items"]], "each": int(c["each"]), "cap": int(c["cap"])}
        n.local = bool(d.get("local", False))
        n.exceptions = sub(d.get("exceptions", []), "route")
    except RuleSyntaxError as e:
        raise RulePackError(f"{here}: {e}") from e
    shapes = [n.test is not None, n.all is not None, n.any is not None, n.brackets is not None,
              n.bands is not None, n.best_of is not None, n.count_of is not None, n.local]
    if sum(shapes) != 1:
        raise RulePackError(f"{here}: a node needs exactly one of test/all/any/brackets/bands/best_of/count_of/local")
    return n


@functools.lru_cache(maxsize=None)
def common_nodes() -> dict:
    return _cached("common", lambda: _read("common/eligibility.yaml"))


def _common(name: str, where: str) -> Node:
    d = common_nodes()
    if name not in d["nodes"]:
        raise RulePackError(f"{where}: unknown eligibility {name!r}")
    spec = dict(d["nodes"][name], id=name)
    n = _node(spec, "eligibility", where, spec.get("mark"), spec.get("source"))
    for x in n.walk():
        x.cite = d["document"]
    return n


PACK_FILES = {
    "r2022.innovative_sme": "r2022/innovative_sme.yaml",
    "r2022.srdi_sme": "r2022/srdi_sme.yaml",
    "r2022.little_giant": "r2022/little_giant.yaml",
    "r2026.tech_sme": "r2026/tech_sme.yaml",
    "r2026.tech_innovative_sme": "r2026/tech_innovative_sme.yaml",
    "r2026.srdi_sme": "r2026/srdi_sme.yaml",
    "r2026.little_giant": "r2026/little_giant.yaml",
}
LOCAL_FILES = {"370000": "r2022/local/shandong.yaml", "510000": "r2022/local/sichuan.yaml"}
NOTICE_FILES = ("notices/2024-little-giant.yaml", "notices/2025-little-giant.yaml")


@functools.lru_cache(maxsize=None)
def load_pack(pack_id: str) -> Pack:
    """The pack as written (no notice applied, every mode variant kept)."""
    return _cached(f"pack:{pack_id}", lambda: _load_pack(pack_id))


def _load_pack(pack_id: str) -> Pack:
    if pack_id not in PACK_FILES:
        raise RulePackError(f"unknown rule pack {pack_id!r}; known: {', '.join(PACK_FILES)}")
    d = _read(PACK_FILES[pack_id])
    where = pack_id
    mark = d.get("mark")
    sec = lambda key, kind: [_node(x, kind, where, x.get("mark", mark), x.get("source")) for x in d.get(key, [])]  # noqa: E731
    cats: list[Node] = []
    score = d.get("score")
    if score:
        for c in score["categories"]:
            cat = Node(id=c["id"], kind="category", title=_title(c, f"{where}.{c['id']}"),
                       max=c.get("max"), minimum=c.get("minimum"), source=score.get("source"), mark=score.get("mark"))
            cat.indicators = [_node(x, "indicator", f"{where}.{c['id']}", x.get("mark"), x.get("source")) for x in c["indicators"]]
            total = sum(i.max or 0 for i in cat.indicators)
            if cat.max is not None and total != cat.max:
                raise RulePackError(f"{where}.{cat.id}: indicator maxima add up to {total}, not {cat.max}")
            cats.append(cat)
    pack = Pack(
        id=d["pack"], tier=d["tier"], regime=d["regime"], title=_title(d, where), document=d["document"],
        cite=d.get("cite") or d["document"].split("《")[0].strip(),
        mark=mark, eligibility=[_common(x, where) for x in d.get("eligibility", [])],
        prerequisites=sec("prerequisites", "prerequisite"), exclusions=sec("exclusions", "exclusion"),
        conditions=sec("conditions", "condition"), decision=d.get("decision", "conditions"),
        score=score, categories=cats, exceptions=sec("exceptions", "route"),
        alternatives=list(d.get("alternatives", [])), raw=d,
    )
    if pack.decision == "score" and not pack.categories:
        raise RulePackError(f"{where}: decision score needs score.categories")
    return pack


@functools.lru_cache(maxsize=None)
def local_pack(province: str) -> dict | None:
    return _cached(f"local:{province}", lambda: _local_pack(province))


def _local_pack(province: str) -> dict | None:
    rel = LOCAL_FILES.get(province)
    if rel is None:
        return None
    d = _read(rel)
    inds = [_node(x, "indicator", d["pack"], x.get("mark"), x.get("source")) for x in d["indicators"]]
    if sum(i.max or 0 for i in inds) != d["max"]:
        raise RulePackError(f"{d['pack']}: maxima do not add up to {d['max']}")
    return {**d, "nodes": inds}


def local_packs() -> dict[str, dict]:
    return {p: local_pack(p) for p in LOCAL_FILES}


@functools.lru_cache(maxsize=None)
def notices() -> list[dict]:
    return _cached("notices", lambda: [d for rel in NOTICE_FILES for d in _read_all(rel)])


@functools.lru_cache(maxsize=None)
def regimes() -> list[dict]:
    return _cached("regimes", lambda: _read("regimes.yaml"))


@functools.lru_cache(maxsize=None)
def size_table() -> dict:
    return _cached("size", lambda: _read("common/size_standard.yaml"))


# ---------------------------------------------------------------------------------- resolving
def _find_parent(nodes: list[Node], nid: str):
    for n in nodes:
        for attr in ("all", "any", "brackets", "best_of", "indicators"):
            xs = getattr(n, attr)
            if xs:
                for i, c in enumerate(xs):
                    if c.id == nid:
                        return xs, i
                hit = _find_parent(xs, nid)
                if hit:
                    return hit
        if n.exceptions:
            for i, c in enumerate(n.exceptions):
                if c.id == nid:
                    return n.exceptions, i
            hit = _find_parent(n.exceptions, nid)
            if hit:
                return hit
    return None


def _locate(pack: Pack, nid: str):
    for _, nodes in pack.sections():
        for i, n in enumerate(nodes):
            if n.id == nid:
                return nodes, i
        hit = _find_parent(nodes, nid)
        if hit:
            return hit
    raise RulePackError(f"{pack.id}: no node {nid!r}")


def _select_mode(nodes: list[Node], mode: str) -> list[Node]:
    """Keep, for each id, the variant written for this mode; a node written for the other mode
    only is kept as waived (shown, not applied)."""
    out: list[Node] = []
    ids = {}
    for n in nodes:
        ids.setdefault(n.id, []).append(n)
    seen = set()
    for n in nodes:
        if n.id in seen:
            continue
        seen.add(n.id)
        variants = ids[n.id]
        pick = next((v for v in variants if v.mode == mode), None) or next((v for v in variants if v.mode is None), None)
        if pick is None:
            pick = copy.copy(variants[0])
            pick.waived = {"zh": f"仅适用于{'新申请' if pick.mode == 'application' else '复核'}，本次不作要求",
                           "en": f"applies to {pick.mode}s only; not checked"}
        for attr in ("all", "any", "brackets", "best_of", "indicators"):
            xs = getattr(pick, attr)
            if xs:
                setattr(pick, attr, _select_mode(xs, mode))
        if pick.exceptions:
            pick.exceptions = _select_mode(pick.exceptions, mode)
        out.append(pick)
    return out


@functools.lru_cache(maxsize=256)
def resolve_pack(pack_id: str, year: int, mode: str) -> Pack:
    """The pack as it applies to an assessment in `year` (as-of year) and `mode` (read-only:
    copy it before changing it). Kept in memory only: resolving takes a few ms, while persisting
    every (year, mode) ever used made the cache file, read on every start, grow without bound."""
    return _resolve_pack(pack_id, year, mode)


def _resolve_pack(pack_id: str, year: int, mode: str) -> Pack:
    pack = copy.deepcopy(load_pack(pack_id))
    for name, nodes in pack.sections():
        nodes[:] = _select_mode(nodes, mode)
    for nt in notices():
        if nt["pack"] != pack_id:
            continue
        ap = nt.get("applies", {})
        if year not in ap.get("years", [year]) or mode not in ap.get("modes", [mode]):
            continue
        pack.notes.append({"notice": nt["notice"], "document": nt["document"], "mark": nt.get("mark")})
        for ch in nt["changes"]:
            if "waive" in ch:
                xs, i = _locate(pack, ch["waive"])
                xs[i] = copy.copy(xs[i])
                xs[i].waived = dict(ch.get("reason", {}), document=nt["document"])
            elif "remove" in ch:
                xs, i = _locate(pack, ch["remove"])
                del xs[i]
            elif "add_exclusion" in ch:
                spec = ch["add_exclusion"]
                pack.exclusions.append(_node(spec, "exclusion", pack_id, spec.get("mark", nt.get("mark")), spec.get("source")))
            else:
                raise RulePackError(f"notice {nt['notice']}: unknown change {ch}")
    return pack


def parse_date(s: Any) -> dt.date:
    return s if isinstance(s, dt.date) else dt.date.fromisoformat(str(s))


@dataclass(frozen=True)
class RegimeChoice:
    regime: str  # regime in force for new applications on as_of
    tiers: dict  # tier -> (pack id, regime of that pack, why)


def choose_regime(as_of: dt.date, mode: str) -> RegimeChoice:
    """criteria.md §0.3: the regime and, per tier, the pack that judges it."""
    if mode not in ("application", "review"):
        raise ValueError(f"mode must be application or review, not {mode!r}")
    for r in regimes():
        lo, hi = parse_date(r["from"]), parse_date(r["until"]) if r.get("until") else None
        if as_of < lo or (hi and as_of > hi):
            continue
        tiers = {t: (p, r["regime"], r["source"]) for t, p in r["tiers"].items()}
        if mode == "review":
            for o in r.get("reviews", []):
                if as_of.year in o["years"]:
                    pid = o["pack"]
                    tiers[o["tier"]] = (pid, load_pack(pid).regime, o["source"])
        return RegimeChoice(r["regime"], tiers)
    raise ValueError(f"as-of date {as_of} is before 2022-08-01: pre-Measures provincial rules are not encoded")


def weakest_mark(*marks: str | None) -> str | None:
    ms = [m for m in marks if m]
    return min(ms, key=lambda m: MARK_ORDER[m]) if ms else None
