"""One-firm assessment, shared by the Typer command and the fast entry path.

`srdi assess` is the command people run most, one firm at a time; its start-up is dominated by
imports. This module imports neither Typer nor Polars, so `srdi assess` can run from a plain
argparse front (`fast_main`) while `srdi --help` and every other command go through Typer.
Both fronts call `run_assess`.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Optional

EXIT_BAD_INPUT = 2
MODES, FORMATS, LANGS = ("application", "review"), ("text", "json"), ("zh", "en")


def fail(msg: str) -> None:
    """Unusable input: one clear message on stderr, exit 2, no traceback."""
    sys.stderr.write(f"srdi: {msg}\n")
    raise SystemExit(EXIT_BAD_INPUT)


def parse_as_of(value: Optional[str]) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        d = dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of: {value!r} is not a date (YYYY-MM-DD) / 不是有效日期")
    if d < dt.date(2022, 8, 1):
        fail(f"--as-of: {d} is before 2022-08-01; the pre-Measures provincial rules are not encoded / 2022-08-01 之前的规则未编码")
    return d


def dump_json(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str)


def bad_profile(e, lang: str) -> None:
    lines = []
    for fe in e.errors:
        prob = fe.problem_zh if lang == "zh" and fe.problem_zh else fe.problem
        lines.append(f"{fe.path or '(profile)'}: {prob}")
    sys.stderr.write("srdi: " + ("输入无效" if lang == "zh" else "unusable input") + "\n  " + "\n  ".join(lines) + "\n")
    raise SystemExit(EXIT_BAD_INPUT)


def load_profile_arg(profile: str, lang: str):
    from srdi.profile import ProfileError, load_profile, validate_profile

    try:
        if profile == "-":
            from srdi.profile.load import read_profile_text

            return validate_profile(read_profile_text(sys.stdin.read()))
        if not Path(profile).exists():
            fail(f"PROFILE: file not found: {profile} / 找不到文件")
        return load_profile(profile)
    except ProfileError as e:
        bad_profile(e, lang)


def run_assess(profile: str, as_of: Optional[str], mode: str, fmt: str, lang: str) -> None:
    d = parse_as_of(as_of)
    p = load_profile_arg(profile, lang)
    from srdi.engine.assess import assess_profile

    result = assess_profile(p, d, mode, lang)
    if fmt == "json":
        sys.stdout.write(dump_json(result) + "\n")
    else:
        from srdi.cli.report import render_assessment

        render_assessment(result, lang=lang)


def fast_main(argv: list[str]) -> None:
    """`srdi assess ...` without Typer (same options as the Typer command, see app.py)."""
    import argparse
    import os

    # a one-shot command needs no pydantic plugins; their discovery (importlib.metadata) alone
    # costs ~40 ms of start-up
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    ap = argparse.ArgumentParser(prog="srdi assess", description="Assess one enterprise against every tier of the regime in force.")
    ap.add_argument("profile", metavar="PROFILE", help="Enterprise profile, JSON or YAML; '-' reads stdin.")
    ap.add_argument("--as-of", dest="as_of", default=None, help="YYYY-MM-DD; default today.")
    ap.add_argument("--mode", choices=MODES, default="application")
    ap.add_argument("--format", choices=FORMATS, default="text")
    ap.add_argument("--lang", choices=LANGS, default="zh")
    a = ap.parse_args(argv)  # bad options: argparse prints the problem and exits 2
    run_assess(a.profile, a.as_of, a.mode, a.format, a.lang)
