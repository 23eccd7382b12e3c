"""`srdi plan` (the pathway planner, also for pools) and `srdi support` (what each tier unlocks).
Imports only typer/stdlib at import time."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

TIERS = ("innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant")


from srdi.cli.one import fail as _fail  # noqa: E402  (one message style for bad input, exit 2)
from srdi.cli.one import parse_as_of as _date  # noqa: E402


def _choice(name: str, v: str, allowed) -> None:
    if v not in allowed:
        _fail(f"{name}: {v!r} is not one of {', '.join(allowed)} / 取值无效")


def _profile(path: str, lang: str):
    from srdi.cli.one import load_profile_arg

    return load_profile_arg(path, lang)


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan(
        profile: Optional[str] = typer.Argument(None, help="profile file (YAML/JSON); omit with --pool"),
        as_of: str = typer.Option(..., "--as-of", help="start date YYYY-MM-DD"),
        target: str = typer.Option(..., "--target", help="innovative_sme | tech_innovative_sme | srdi_sme | little_giant"),
        mode: str = typer.Option("application", "--mode", help="application | review"),
        horizon: int = typer.Option(3, "--horizon", help="years to look ahead"),
        costs: Optional[str] = typer.Option(None, "--costs", help="YAML cost model overriding the defaults"),
        fmt: str = typer.Option("text", "--format", help="text | json"),
        lang: str = typer.Option("zh", "--lang", help="zh | en"),
        pool: Optional[str] = typer.Option(None, "--pool", help="CSV/XLSX/Parquet population (batch columns)"),
        output: Optional[str] = typer.Option(None, "-o", "--output", help="pool result: .xlsx or .csv"),
        plan_limit: int = typer.Option(50, "--plan-limit", help="pool: exact plans for the N nearest firms"),
        all_plans: bool = typer.Option(False, "--all-plans", help="pool: exact plans for every firm (within --budget)"),
        budget: Optional[float] = typer.Option(None, "--budget", help="pool: seconds for the whole run; "
                                               "firms not planned by then get a labelled estimate"),
        workers: int = typer.Option(1, "--workers", help="pool: processes planning firms in parallel"),
    ):
        """Cheapest changes that make TARGET pass, and when (year-by-year actions)."""
        _choice("--target", target, TIERS)
        _choice("--mode", mode, ("application", "review"))
        _choice("--format", fmt, ("text", "json"))
        _choice("--lang", lang, ("zh", "en"))
        if not 1 <= horizon <= 6:
            _fail("--horizon: must be 1..6 years / 规划年限应为1至6年")
        d = _date(as_of)
        from srdi.planner import CostModelError, load_costs

        try:
            cm = load_costs(costs)
        except CostModelError as e:
            _fail(f"--costs: {e}")
        if pool:
            if not output:
                _fail("-o/--output: required with --pool / 使用 --pool 时必须指定输出文件")
            if not (output.endswith(".csv") or output.endswith(".xlsx")):
                _fail("-o/--output: must end with .csv or .xlsx / 输出文件须为 .csv 或 .xlsx")
            if not Path(pool).exists():
                _fail(f"--pool: file not found: {pool} / 找不到文件")
            from srdi.planner.pool import plan_pool, write_pool

            if plan_limit < 0:
                _fail("--plan-limit: must be 0 or more / 不能为负数")
            if budget is not None and budget <= 0:
                _fail("--budget: must be more than 0 seconds / 须大于0秒")
            if not 1 <= workers <= 64:
                _fail("--workers: must be 1..64 / 进程数应为1至64")
            try:
                res = plan_pool(pool, d, target, mode, horizon, cm, lang, None if all_plans else plan_limit,
                                time_budget=budget, workers=workers)
            except ValueError as e:
                _fail(f"--pool: {e}")
            write_pool(res, output, lang)
            kinds = ""
            if "cost_kind" in res.columns:
                counts = res.group_by("cost_kind").len().sort("cost_kind").iter_rows()
                kinds = " (" + ", ".join(f"{k}: {n}" for k, n in counts) + ")"
            sys.stdout.write(f"{res.height} firms{kinds} -> {output}\n")
            return
        if profile is None:
            _fail("PROFILE: a profile file is required (or --pool) / 需要企业档案文件")
        p = _profile(profile, lang)
        from srdi.planner import make_plan, render_text

        out = make_plan(p, d, target, mode, horizon, cm, lang)
        if fmt == "json":
            sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str) + "\n")
        else:
            sys.stdout.write(render_text(out, lang) + "\n")

    @app.command("support")
    def support(
        profile: str = typer.Argument(..., help="profile file (YAML/JSON)"),
        as_of: str = typer.Option(..., "--as-of", help="date YYYY-MM-DD"),
        fmt: str = typer.Option("text", "--format", help="text | json"),
        lang: str = typer.Option("zh", "--lang", help="zh | en"),
    ):
        """Support measures the firm gets now and what each tier would add (dated, cited)."""
        _choice("--format", fmt, ("text", "json"))
        _choice("--lang", lang, ("zh", "en"))
        d = _date(as_of)
        p = _profile(profile, lang)
        from srdi.support import support_for

        out = support_for(p, d, lang)
        if fmt == "json":
            sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2, default=str) + "\n")
            return
        zh = lang == "zh"
        lines = [f"{'日期' if zh else 'As of'} {out['as_of']}  {'省份' if zh else 'province'} {out['province']}"]
        lines.append(("现有支持" if zh else "Support now") + f" ({len(out['now'])})")
        for m in out["now"]:
            lines.append(_line(m, zh))
        for tier, t in out["tiers"].items():
            lines.append(f"{t['name']} [{t['outcome']}{', ' + ('已持有' if zh else 'held') if t['held'] else ''}]"
                         f" {'新增' if zh else 'adds'} {len(t['adds'])}")
            for m in t["adds"]:
                lines.append(_line(m, zh))
        lines.append(out["note"])
        sys.stdout.write("\n".join(lines) + "\n")


def _line(m: dict, zh: bool) -> str:
    amt = "—" if m["amount_wan"] is None else f"{'最高' if zh and m['up_to'] else ('up to ' if m['up_to'] else '')}{m['amount_wan']}万"
    where = " ".join(x for x in (m.get("city"), m.get("district")) if x)
    return f"  - {m['title']} {where} {amt} ({m['kind']}; {m['date'] or ('日期不详' if zh else 'undated')}; " \
           f"{', '.join(m['source'])}; [{m['mark']}])"
