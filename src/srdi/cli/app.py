"""The `srdi` command line (Typer). Heavy modules are imported inside the commands: a one-firm
`srdi assess` must start fast (it never imports Polars)."""
from __future__ import annotations

import datetime as dt
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="srdi: rules-as-code for China's tiered quality-SME programme (创新型 / 专精特新 / 小巨人).")
rules_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Browse the rule packs.")
app.add_typer(rules_app, name="rules")


class Mode(str, Enum):
    application = "application"
    review = "review"


class Fmt(str, Enum):
    json = "json"
    text = "text"


class Lang(str, Enum):
    zh = "zh"
    en = "en"


from srdi.cli.one import EXIT_BAD_INPUT, dump_json, fail, parse_as_of, run_assess  # noqa: E402,F401


@app.command()
def assess(
    profile: str = typer.Argument(..., help="Enterprise profile, JSON or YAML (contract.md §1); '-' reads stdin."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Assessment (application or review) date, YYYY-MM-DD; default today."),
    mode: Mode = typer.Option(Mode.application, "--mode", help="application (新申请) or review (复核)."),
    format: Fmt = typer.Option(Fmt.text, "--format", help="json (the contract) or text (a report)."),
    lang: Lang = typer.Option(Lang.zh, "--lang", help="zh (default) or en."),
):
    """Assess one enterprise against every tier of the regime in force."""
    run_assess(profile, as_of, mode.value, format.value, lang.value)


@app.command()
def demo(
    as_of: Optional[str] = typer.Option("2026-06-01", "--as-of", help="Assessment date."),
    lang: Lang = typer.Option(Lang.zh, "--lang"),
    format: Fmt = typer.Option(Fmt.text, "--format"),
):
    """Assess the bundled example profile (a small precision-machinery maker)."""
    from importlib import resources

    path = resources.files("srdi.examples").joinpath("precision_machinery.yaml")
    with resources.as_file(path) as f:
        assess(str(f), as_of, Mode.application, format, lang)


@app.command()
def example():
    """Print the bundled example profile (a template for your own)."""
    from importlib import resources

    sys.stdout.write(resources.files("srdi.examples").joinpath("precision_machinery.yaml").read_text(encoding="utf-8"))


@app.command()
def schema():
    """Print the JSON Schema of the enterprise profile."""
    from srdi.profile import profile_json_schema

    sys.stdout.write(dump_json(profile_json_schema()) + "\n")


@rules_app.command("list")
def rules_list(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Show which pack judges each tier on this date."),
    mode: Mode = typer.Option(Mode.application, "--mode"),
    lang: Lang = typer.Option(Lang.zh, "--lang"),
    format: Fmt = typer.Option(Fmt.text, "--format"),
):
    """List the rule packs, with their counts of C/S/U thresholds."""
    from srdi.engine.packs import PACK_FILES, choose_regime, load_pack, local_packs, notices

    in_force = {}
    if as_of:
        d = parse_as_of(as_of)
        ch = choose_regime(d, mode.value)
        in_force = {pid: tier for tier, (pid, _r, _w) in ch.tiers.items()}
    rows = []
    for pid in PACK_FILES:
        p = load_pack(pid)
        rows.append({"id": pid, "tier": p.tier, "regime": p.regime, "title": p.title[lang.value],
                     "document": p.document, "marks": p.marks(), "in_force_for": in_force.get(pid)})
    for prov, lp in local_packs().items():
        rows.append({"id": lp["pack"], "tier": "srdi_sme (特色化)", "regime": "R2022", "title": lp["document"],
                     "document": lp["document"], "marks": {"C": 0, "S": sum(len(n.bands or []) for n in lp["nodes"]), "U": 0},
                     "in_force_for": None})
    for nt in notices():
        rows.append({"id": f"notice: {nt['notice']}", "tier": nt["pack"], "regime": "", "title": nt["notice"],
                     "document": nt["document"], "marks": {}, "in_force_for": None})
    if format == Fmt.json:
        sys.stdout.write(dump_json(rows) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="srdi rule packs" if lang == Lang.en else "srdi 规则包")
    for h in ("id", "tier", "regime", "title", "C/S/U", "in force" if lang == Lang.en else "当日适用"):
        t.add_column(h)
    for r in rows:
        m = r["marks"]
        t.add_row(r["id"], r["tier"], r["regime"], r["title"], f"{m.get('C', 0)}/{m.get('S', 0)}/{m.get('U', 0)}" if m else "",
                  r["in_force_for"] or "")
    Console().print(t)


@rules_app.command("show")
def rules_show(
    pack_id: str = typer.Argument(..., help="Pack id, e.g. r2022.srdi_sme (see `srdi rules list`)."),
    as_of: Optional[str] = typer.Option(None, "--as-of", help="Apply the notices in force on this date."),
    mode: Mode = typer.Option(Mode.application, "--mode"),
    format: Fmt = typer.Option(Fmt.text, "--format"),
    lang: Lang = typer.Option(Lang.zh, "--lang"),
):
    """Show a rule pack: every condition and band with its source and mark."""
    from srdi.engine.packs import PACK_FILES, RulePackError, load_pack, resolve_pack

    if pack_id not in PACK_FILES:
        fail(f"rules show: unknown pack {pack_id!r}; known: {', '.join(PACK_FILES)}")
    try:
        pack = resolve_pack(pack_id, parse_as_of(as_of).year, mode.value) if as_of else load_pack(pack_id)
    except RulePackError as e:
        fail(str(e))
    from srdi.engine.explain import _threshold

    def node_dict(n, depth=0):
        d = {"id": n.id, "kind": n.kind, "title": n.title[lang.value], "threshold": _threshold(n, lang.value),
             "source": n.source, "mark": n.mark}
        if n.mode:
            d["mode"] = n.mode
        if n.waived:
            d["waived"] = n.waived.get(lang.value)
        if n.max is not None:
            d["max"] = n.max
        kids = [node_dict(c, depth + 1) for c in n.children()]
        if kids:
            d["children"] = kids
        return d

    doc = {"pack": pack.id, "tier": pack.tier, "regime": pack.regime, "title": pack.title[lang.value],
           "document": pack.document, "decision": pack.decision, "marks": pack.marks(),
           "sections": {k: [node_dict(n) for n in ns] for k, ns in pack.sections() if ns},
           "notes": pack.notes}
    if pack.score:
        doc["pass_line"] = pack.score["pass_line"]
    if pack.alternatives:
        doc["alternatives"] = pack.alternatives
    if format == Fmt.json:
        sys.stdout.write(dump_json(doc) + "\n")
        return
    from rich.console import Console
    from rich.tree import Tree

    tree = Tree(f"[bold]{pack.id}[/bold]  {doc['title']}  ({pack.regime})\n{pack.document}")
    if pack.score:
        tree.add(f"pass line / 及格线: {pack.score['pass_line']}")
    for k, ns in doc["sections"].items():
        br = tree.add(f"[bold]{k}[/bold]")

        def add(b, d):
            label = f"{d['id']}  {d['title']}"
            if d.get("threshold"):
                label += f"\n  [cyan]{d['threshold']}[/cyan]"
            if d.get("max") is not None:
                label += f"  (max {d['max']})"
            label += f"\n  [dim]{d.get('source') or ''}[/dim] [{d.get('mark') or '-'}]"
            if d.get("mode"):
                label += f" mode={d['mode']}"
            if d.get("waived"):
                label += f" [yellow]waived: {d['waived']}[/yellow]"
            sub = b.add(label)
            for c in d.get("children", []):
                add(sub, c)

        for d in ns:
            add(br, d)
    for a in pack.alternatives:
        tree.add(f"alternative: {a['pack']} ({a.get('source', '')})")
    for nt in pack.notes:
        tree.add(f"[yellow]notice applied: {nt['notice']}[/yellow]")
    Console().print(tree)


# Command groups of the other subsystems register themselves here. Each module imports only
# Typer at import time (cold start) and defines `register(app)`.
_COMMAND_MODULES = ("batch_cmd", "plan_cmd", "serve_cmd", "cycle_cmd")


_CORE = {"assess", "demo", "example", "schema", "rules"}


def _register_all() -> None:
    import importlib

    # a core command (the one-firm path) does not pay for building the other groups' commands
    if len(sys.argv) > 1 and sys.argv[1] in _CORE:
        return
    for mod in _COMMAND_MODULES:
        try:
            m = importlib.import_module(f"srdi.cli.{mod}")
        except ModuleNotFoundError as e:
            if e.name == f"srdi.cli.{mod}":
                continue
            raise
        m.register(app)


_register_all()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
