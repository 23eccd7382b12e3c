"""The small language of rule files: tests such as `rd_intensity[y-1,y-2] >= 3%`.

A test reads like the annex: a measure, the fiscal years it is taken in, an operator and a value
written as printed (100万, 1亿, 3%, 2). Values become exact fractions (C2).

    test      := ["not"] term | term op value
    term      := measure ["[" years "]"]           measure: a name in measures.py or a contract path
    years     := "y-1"            the prior fiscal year (上年度)
               | "y-1,y-2"        each of these years (均)
               | "y-1|y-2"        either of these years
    op        := ">=" | ">" | "<=" | "<" | "==" | "!=" | "in" | "not in"
    value     := number ["万" | "亿" | "%"] | "[" name, ... "]" | true | false
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

_TEST = re.compile(
    r"^\s*(?P<neg>not\s+)?(?P<measure>[A-Za-z_][\w.]*)(?:\[(?P<years>[^\]]*)\])?"
    r"(?:\s*(?P<op>>=|<=|==|!=|>|<|not in|in)\s*(?P<value>.+?))?\s*$"
)
_NUM = re.compile(r"^(?P<n>-?\d+(?:\.\d+)?)\s*(?P<unit>万|亿|%)?$")


class RuleSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Literal:
    """A threshold as printed, and its exact value in the measure's unit."""

    text: str
    value: Any  # Fraction for numbers, list[str] for `in`, bool
    unit: str  # money (yuan) | ratio | number | list | bool


def parse_value(text: Any) -> Literal:
    if isinstance(text, bool):
        return Literal(str(text).lower(), text, "bool")
    if isinstance(text, (int, float)):
        return Literal(str(text), Fraction(str(text)), "number")
    if isinstance(text, list):
        return Literal("[" + ", ".join(map(str, text)) + "]", [str(x) for x in text], "list")
    s = str(text).strip()
    if s in ("true", "false"):
        return Literal(s, s == "true", "bool")
    if s.startswith("[") and s.endswith("]"):
        items = [x.strip() for x in s[1:-1].split(",") if x.strip()]
        return Literal(s, items, "list")
    m = _NUM.match(s)
    if not m:
        if re.fullmatch(r"[A-Za-z_]\w*", s):
            return Literal(s, s, "enum")
        raise RuleSyntaxError(f"cannot read value {s!r}")
    n, unit = Fraction(m["n"]), m["unit"]
    if unit == "万":
        return Literal(s, n * 10_000, "money")
    if unit == "亿":
        return Literal(s, n * 100_000_000, "money")
    if unit == "%":
        return Literal(s, n / 100, "ratio")
    return Literal(s, n, "number")


@dataclass(frozen=True)
class Test:
    """One comparison of a measure, possibly in several years (each / either)."""

    text: str
    measure: str
    years: tuple[int, ...] = ()  # offsets from the as-of year, e.g. (-1, -2)
    combine: str = "each"  # each | either (over years)
    op: str = "truthy"  # truthy | falsy | >= | > | <= | < | == | != | in | not in
    value: Literal | None = None
    args: dict = field(default_factory=dict, hash=False, compare=False)

    def threshold_text(self) -> str:
        yrs = ""
        if len(self.years) > 1:
            yrs = " (" + ("each of " if self.combine == "each" else "either of ") + ", ".join(
                f"y{y}" for y in self.years) + ")"
        if self.op == "truthy":
            return "true" + yrs
        if self.op == "falsy":
            return "false" + yrs
        op = {">=": "≥", "<=": "≤", "!=": "≠"}.get(self.op, self.op)
        return f"{op} {self.value.text}{yrs}"


def _years(spec: str | None) -> tuple[tuple[int, ...], str]:
    if spec is None or not spec.strip():
        return (), "each"
    combine = "either" if "|" in spec else "each"
    out = []
    for part in re.split(r"[|,]", spec):
        part = part.strip().replace(" ", "")
        if part == "y":
            out.append(0)
            continue
        m = re.fullmatch(r"y([+-]\d+)", part)
        if not m:
            raise RuleSyntaxError(f"bad year {part!r} (write y-1, y-2, ...)")
        out.append(int(m[1]))
    return tuple(out), combine


def parse_test(spec: Any) -> Test:
    """A test from a string, or from a mapping {measure, op, value, years, ...args}."""
    if isinstance(spec, dict):
        d = dict(spec)
        measure = d.pop("measure")
        op = d.pop("op", "truthy")
        value = d.pop("value", None)
        years, combine = _years(d.pop("in_years", None))
        text = d.pop("text", None) or (measure + "(" + ", ".join(f"{k}={v}" for k, v in d.items()) + ")"
                                       + ("" if op == "truthy" else f" {op} {value}"))
        return Test(text, measure, years, combine, op, None if value is None else parse_value(value), d)
    s = str(spec)
    m = _TEST.match(s)
    if not m:
        raise RuleSyntaxError(f"cannot read test {s!r}")
    years, combine = _years(m["years"])
    if m["op"] is None:
        return Test(s, m["measure"], years, combine, "falsy" if m["neg"] else "truthy")
    if m["neg"]:
        raise RuleSyntaxError(f"'not' goes only before a plain true/false input: {s!r}")
    return Test(s, m["measure"], years, combine, m["op"], parse_value(m["value"].strip()))
