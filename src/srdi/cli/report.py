"""Human-readable (Rich) rendering of an assessment (contract.md §2) and of input errors.

``render_assessment(assessment, lang="zh", console=None)`` prints:

1. a header panel (enterprise, USCC, as-of date, mode, regime, size class);
2. a summary table: each tier's verdict, score and route;
3. per tier: a heading with the coloured verdict, score / pass line, route and score parts, a
   table of its conditions grouped by kind (and indicator group) with observed value,
   threshold, points, source and confidence mark, notes, nested sub-results, and the missing
   inputs with the conditions they would decide;
4. a legend of the confidence marks.

``render_errors(errors, lang="zh", console=None)`` prints unusable-input errors given as
``(path, problem, problem_zh)`` tuples (or dicts with those keys).

Only rich and srdi.i18n are imported; every key of the assessment except ``tiers`` is optional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from srdi.i18n import has, normalise_lang, t

__all__ = ["render_assessment", "render_errors"]

NONE = "—"
OUTCOME_STYLE = {"pass": "bold green", "fail": "bold red", "undetermined": "bold yellow"}
MARK_STYLE = {"C": "green", "S": "yellow", "U": "red"}
TIER_ORDER = ("innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant")
KIND_ORDER = ("eligibility", "exclusion", "condition", "route", "indicator")


# --------------------------------------------------------------------------- helpers


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, Decimal) and v == v.to_integral_value():
        return str(int(v))
    return str(v)


def _loc(v: Any, lang: str) -> str | None:
    """A display string for a possibly bilingual value ({"zh": .., "en": ..})."""
    if v is None:
        return None
    if isinstance(v, Mapping):
        for key in (lang, "zh", "en", "text"):
            if v.get(key) not in (None, ""):
                return str(v[key])
        return None
    if isinstance(v, bool):
        return {"zh": "是" if v else "否", "en": "yes" if v else "no"}[lang]
    if isinstance(v, (list, tuple)):
        return ", ".join(_loc(x, lang) or NONE for x in v)
    return _num(v)


def _lookup(prefix: str, key: Any, lang: str, fallback: str | None = None) -> str:
    if key is None:
        return fallback if fallback is not None else NONE
    k = f"{prefix}.{key}"
    if has(k):
        return t(k, lang)
    return fallback if fallback is not None else str(key)


def _tier_name(tid: str, tier: Mapping[str, Any], lang: str) -> str:
    if has(f"tier.{tid}"):
        return t(f"tier.{tid}", lang)
    return _loc(tier.get("title"), lang) or str(tid)


def _outcome(outcome: Any, lang: str, short: bool = False) -> Text:
    if outcome is None:
        return Text(NONE, style="dim")
    key = ("outcome_short." if short else "outcome.") + str(outcome)
    label = t(key, lang) if has(key) else str(outcome)
    return Text(label, style=OUTCOME_STYLE.get(str(outcome), ""))


def _mark(mark: Any) -> Text:
    if mark in (None, ""):
        return Text(NONE, style="dim")
    return Text(str(mark), style=MARK_STYLE.get(str(mark), ""))


def _conditions(tier: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    conds = tier.get("conditions") or []
    return [c for c in conds if isinstance(c, Mapping)]


def _cond_title(cond: Mapping[str, Any], lang: str) -> str:
    return _loc(cond.get("title"), lang) or str(cond.get("id", NONE))


def _route(route: Any, tier: Mapping[str, Any], lang: str) -> Text:
    if route in (None, ""):
        return Text(NONE, style="dim")
    route = str(route)
    if route.startswith("direct:"):
        rid = route.split(":", 1)[1]
        name = None
        for c in _conditions(tier):
            if str(c.get("id")) == rid:
                name = f"{_cond_title(c, lang)} ({rid})"
                break
        if name is None:
            name = _lookup("route_id", rid, lang)
        return Text(t("route.direct_with", lang, name=name), style="cyan")
    return Text(_lookup("route", route, lang), style="cyan")


def _indicator_max(conds: Iterable[Mapping[str, Any]]) -> int | float | None:
    total: Any = 0
    seen = False
    for c in conds:
        if c.get("kind") == "indicator" and isinstance(c.get("max_points"), (int, float, Decimal)):
            total += c["max_points"]
            seen = True
    return total if seen else None


def _score(tier: Mapping[str, Any], lang: str) -> str | None:
    """'68 / 100', '55–70 (undetermined)' or None for an unscored tier."""
    score, lo, hi = tier.get("score"), tier.get("score_min"), tier.get("score_max")
    scale = tier.get("max_score", tier.get("score_scale", 100))  # scored tiers are out of 100
    if score is not None:
        text = _num(score)
        if scale is not None:
            text = t("report.score_of", lang, score=text, max=_num(scale))
    elif lo is not None and hi is not None:
        text = t("report.score_range", lang, lo=_num(lo), hi=_num(hi))
    else:
        return None
    if tier.get("pass_line") is not None:
        sep = "，" if lang == "zh" else ", "
        text += sep + t("report.pass_line", lang, line=_num(tier["pass_line"]))
    return text


def _points(cond: Mapping[str, Any]) -> Text:
    pts, mx = cond.get("points"), cond.get("max_points")
    lo, hi = cond.get("points_min"), cond.get("points_max")
    if pts is not None:
        body = _num(pts)
    elif lo is not None and hi is not None:
        body = _num(lo) if lo == hi else f"{_num(lo)}–{_num(hi)}"
    elif mx is not None:
        body = "?"
    else:
        return Text(NONE, style="dim")
    if mx is not None:
        body += f"/{_num(mx)}"
    return Text(body, style="yellow" if pts is None else "")


def _missing_paths(items: Any) -> list[str]:
    if not items:
        return []
    if isinstance(items, (str, bytes)):
        return [str(items)]
    return [str(x) for x in items]


# --------------------------------------------------------------------------- header & summary


def _header(a: Mapping[str, Any], lang: str) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()

    def row(key: str, value: Any) -> None:
        if value not in (None, ""):
            grid.add_row(t(key, lang), value if isinstance(value, Text) else Text(str(value)))

    row("report.enterprise", a.get("enterprise"))
    row("report.uscc", a.get("uscc"))
    row("report.as_of", a.get("as_of"))
    if a.get("mode") is not None:
        row("report.mode", _lookup("mode", a.get("mode"), lang))
    if a.get("regime") is not None:
        row("report.regime", _lookup("regime", a.get("regime"), lang))
    size = a.get("size")
    if isinstance(size, Mapping):
        row("report.size", _size_text(size, lang))
    return Panel(grid, title=Text(t("report.title", lang), style="bold"), box=box.ROUNDED,
                 title_align="left", expand=False)


def _size_text(size: Mapping[str, Any], lang: str) -> Text:
    text = Text()
    cls = _lookup("size", size.get("class"), lang) if size.get("class") else None
    industry = _lookup("industry", size.get("industry"), lang) if size.get("industry") else None
    if cls and industry:
        text.append(t("report.size_value", lang, cls=cls, industry=industry), style="bold")
    elif cls or industry:
        text.append(cls or industry or "", style="bold")
    outcome = size.get("outcome")
    if outcome is not None:
        text.append("  ")
        if outcome == "fail":
            text.append(t("report.size_not_sme", lang), style=OUTCOME_STYLE["fail"])
        else:
            text.append_text(_outcome(outcome, lang))
    if size.get("observed") not in (None, ""):
        text.append(f"  ({_loc(size['observed'], lang)})")
    extra = []
    if size.get("source"):
        extra.append(f"{t('col.source', lang)}: {_loc(size['source'], lang)}")
    if size.get("mark"):
        extra.append(f"{t('col.mark', lang)}: {size['mark']}")
    missing = _missing_paths(size.get("missing"))
    if missing:
        extra.append(t("report.missing_cell", lang, paths=", ".join(missing)))
    if extra:
        text.append("\n" + "; ".join(extra), style="dim")
    return text


def _ordered_tiers(tiers: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    items = [(str(k), v) for k, v in tiers.items() if isinstance(v, Mapping)]
    rank = {tid: i for i, tid in enumerate(TIER_ORDER)}
    return sorted(items, key=lambda kv: (rank.get(kv[0], len(TIER_ORDER)),))


def _summary(tiers: list[tuple[str, Mapping[str, Any]]], lang: str) -> Table:
    table = Table(title=Text(t("report.summary", lang), style="bold"), box=box.SIMPLE_HEAVY,
                  title_justify="left")
    table.add_column(t("col.tier", lang))
    table.add_column(t("col.regime", lang), no_wrap=True)
    table.add_column(t("col.outcome", lang), no_wrap=True)
    table.add_column(t("col.score", lang))
    table.add_column(t("col.route", lang))
    for tid, tier in tiers:
        table.add_row(Text(_tier_name(tid, tier, lang), style="bold"),
                      Text(str(tier.get("regime") or NONE)),
                      _outcome(tier.get("outcome"), lang),
                      Text(_score(tier, lang) or NONE),
                      _route(tier.get("route"), tier, lang))
    return table


# --------------------------------------------------------------------------- tiers


def _cell(value: str, style: str = "") -> Text:
    return Text(value, style=style, overflow="fold")


def _cond_row(table: Table, cond: Mapping[str, Any], lang: str) -> None:
    title = _cell(_cond_title(cond, lang))
    if cond.get("id") is not None:
        title.append("\n")
        title.append(str(cond["id"]), style="dim")
    observed = _cell(_loc(cond.get("observed"), lang) or NONE,
                    style="" if cond.get("observed") is not None else "dim")
    missing = _missing_paths(cond.get("missing"))
    if missing:
        observed.append("\n")
        observed.append(t("report.missing_cell", lang, paths=", ".join(missing)), style="yellow")
    table.add_row(
        title,
        _outcome(cond.get("outcome"), lang, short=True),
        observed,
        _cell(_loc(cond.get("threshold"), lang) or NONE),
        _points(cond),
        _cell(_loc(cond.get("source"), lang) or NONE, style="dim"),
        _mark(cond.get("mark")),
    )


def _section_row(table: Table, label: str, points: Text | None = None, style: str = "bold cyan") -> None:
    table.add_row(Text(label, style=style), "", "", "", points or "", "", "")


def _conditions_table(tier: Mapping[str, Any], lang: str) -> Table | None:
    conds = _conditions(tier)
    if not conds:
        return None
    table = Table(box=box.SIMPLE_HEAD, show_lines=False, pad_edge=False, expand=False)
    table.add_column(t("col.condition", lang), min_width=22)
    table.add_column(t("col.outcome", lang), no_wrap=True)
    table.add_column(t("col.observed", lang), min_width=8)
    table.add_column(t("col.threshold", lang), min_width=10)
    table.add_column(t("col.points", lang), no_wrap=True, justify="right")
    table.add_column(t("col.source", lang), min_width=10)
    table.add_column(t("col.mark", lang), no_wrap=True, justify="center")

    kinds: list[str] = [k for k in KIND_ORDER if any(c.get("kind") == k for c in conds)]
    for c in conds:
        k = str(c.get("kind") or "other")
        if k not in kinds:
            kinds.append(k)
    parts = tier.get("score_parts") if isinstance(tier.get("score_parts"), Mapping) else {}
    part_max = tier.get("score_parts_max")

    first = True
    for kind in kinds:
        in_kind = [c for c in conds if str(c.get("kind") or "other") == kind]
        if not first:
            table.add_section()
        first = False
        _section_row(table, _lookup("kind", kind, lang))
        groups: list[Any] = []
        for c in in_kind:
            if c.get("group") not in groups:
                groups.append(c.get("group"))
        if None in groups:  # ungrouped items first
            groups.remove(None)
            groups.insert(0, None)
        for g in groups:
            in_group = [c for c in in_kind if c.get("group") == g]
            if g is not None:
                sub = parts.get(g)
                mx = part_max.get(g) if isinstance(part_max, Mapping) else None
                if mx is None:  # the indicators' maxima, when they account for the subtotal
                    mx = _indicator_max(in_group)
                    if mx is not None and sub is not None and mx < sub:
                        mx = None
                pts = None
                if sub is not None:
                    pts = Text(_num(sub) + (f"/{_num(mx)}" if mx else ""), style="bold")
                _section_row(table, "· " + _lookup("group", g, lang), pts, style="bold")
            for c in in_group:
                _cond_row(table, c, lang)
    return table


def _missing_table(tier: Mapping[str, Any], lang: str) -> Table | None:
    decides: dict[str, list[str]] = {}
    for c in _conditions(tier):
        for p in _missing_paths(c.get("missing")):
            decides.setdefault(p, []).append(str(c.get("id", NONE)))
    for p in _missing_paths(tier.get("missing")):
        decides.setdefault(p, [])
    if not decides:
        return None
    table = Table(box=box.SIMPLE, show_header=True, pad_edge=False)
    table.add_column(t("col.input", lang), style="bold yellow", no_wrap=True)
    table.add_column(t("col.decides", lang))
    for path, ids in decides.items():
        table.add_row(Text(path), Text(", ".join(ids) if ids else NONE))
    return table


def _render_tier(console: Console, tid: str, tier: Mapping[str, Any], lang: str, depth: int = 0) -> None:
    indent = 4 * depth
    name = _tier_name(tid, tier, lang)
    if depth == 0:
        console.print()
        console.rule(Text(name, style="bold"), align="left")
    else:
        console.print(Padding(Text("└ " + name, style="bold"), (1, 0, 0, indent - 2)))

    line = Text()
    line.append(t("report.verdict", lang) + ": ", style="bold")
    line.append_text(_outcome(tier.get("outcome"), lang))
    score = _score(tier, lang)
    if score:
        line.append("   " + t("report.score", lang) + ": ", style="bold")
        line.append(score)
    line.append("   " + t("report.route", lang) + ": ", style="bold")
    line.append_text(_route(tier.get("route"), tier, lang))
    console.print(Padding(line, (0, 0, 0, indent)))

    meta = [str(x) for x in (tier.get("regime"), tier.get("document"), tier.get("pack")) if x]
    if meta:
        console.print(Padding(Text(" · ".join(meta), style="dim"), (0, 0, 0, indent)))

    parts = tier.get("score_parts")
    if isinstance(parts, Mapping) and parts:
        ptext = Text(t("report.score_parts", lang) + ": ", style="bold")
        ptext.append(" · ".join(f"{_lookup('group', k, lang)} {_num(v) if v is not None else '?'}"
                                for k, v in parts.items()))
        console.print(Padding(ptext, (0, 0, 0, indent)))

    table = _conditions_table(tier, lang)
    if table is not None:
        console.print(Padding(table, (0, 0, 0, indent)))
    elif not isinstance(tier.get("sub_results"), Mapping):
        console.print(Padding(Text(t("report.no_conditions", lang), style="dim"), (0, 0, 0, indent)))

    notes = tier.get("notes") or []
    if isinstance(notes, (str, Mapping)):
        notes = [notes]
    if notes:
        console.print(Padding(Text(t("report.notes", lang) + ":", style="bold"), (0, 0, 0, indent)))
        for n in notes:
            console.print(Padding(Text("• " + (_loc(n, lang) or NONE)), (0, 0, 0, indent + 2)))

    subs = tier.get("sub_results")
    if isinstance(subs, Mapping) and subs:
        console.print(Padding(Text(t("report.sub_results", lang) + ":", style="bold"), (1, 0, 0, indent)))
        for sid, sub in _ordered_tiers(subs):
            _render_tier(console, sid, sub, lang, depth + 1)

    missing = _missing_table(tier, lang)
    if missing is not None:
        console.print(Padding(Text(t("report.missing_inputs", lang), style="bold yellow"), (1, 0, 0, indent)))
        console.print(Padding(Text(t("report.missing_hint", lang), style="dim"), (0, 0, 0, indent)))
        console.print(Padding(missing, (0, 0, 0, indent)))


# --------------------------------------------------------------------------- public API


def render_assessment(assessment: Mapping[str, Any], lang: str = "zh", console: Console | None = None) -> None:
    """Print ``assessment`` (contract.md §2 dict) as a readable report in ``lang`` (zh | en)."""
    lang = normalise_lang(lang)
    console = console or Console()
    console.print(_header(assessment, lang))

    tiers_raw = assessment.get("tiers")
    tiers = _ordered_tiers(tiers_raw) if isinstance(tiers_raw, Mapping) else []
    if tiers:
        console.print(_summary(tiers, lang))
    for tid, tier in tiers:
        _render_tier(console, tid, tier, lang)

    console.print()
    console.print(Text(t("report.legend", lang), style="dim"))
    console.print(Text(t("report.disclaimer", lang), style="dim italic"))


def _error_parts(err: Any) -> tuple[str, str, str]:
    if isinstance(err, Mapping):
        path, problem, problem_zh = err.get("path"), err.get("problem"), err.get("problem_zh")
    elif isinstance(err, (list, tuple)):
        padded = list(err) + [None, None, None]
        path, problem, problem_zh = padded[:3]
    else:
        path, problem, problem_zh = None, err, None
    return (str(path) if path not in (None, "") else NONE,
            str(problem) if problem is not None else "",
            str(problem_zh) if problem_zh is not None else "")


def render_errors(errors: Iterable[Any], lang: str = "zh", console: Console | None = None) -> None:
    """Print input errors, each ``(path, problem, problem_zh)``; default to stderr."""
    lang = normalise_lang(lang)
    console = console or Console(stderr=True)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(t("col.field", lang), style="bold", no_wrap=True)
    table.add_column(t("col.problem", lang))
    for err in errors:
        path, problem, problem_zh = _error_parts(err)
        msg = (problem_zh or problem) if lang == "zh" else (problem or problem_zh)
        table.add_row(Text(path), Text(msg))
    body = Table.grid()
    body.add_row(table)
    body.add_row(Text(t("report.errors_hint", lang), style="dim"))
    console.print(Panel(body, title=Text(t("report.errors_title", lang), style="bold red"),
                        border_style="red", title_align="left", expand=False))
