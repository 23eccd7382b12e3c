"""Engine-unit rows back to contract profiles (the inverse of srdi.engine.frame.profile_row), for
per-row comparisons: the per-row benchmark and the tests that check the batch path against
`assess_profile` one firm at a time."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..engine.measures import path_kind


def _yuan(fen: int | None) -> str | None:
    return None if fen is None else str(Decimal(fen) / 100)


def _dec4(v: int | None):
    return None if v is None else float(Decimal(v) / 10_000) if Decimal(v) % 100 == 0 else str(Decimal(v) / 10_000)


def row_to_profile(row: dict[str, Any]) -> dict:
    """A contract profile dict from one engine row ({path: value in engine units})."""
    p: dict[str, Any] = {"name": row.get("name") or "unnamed"}
    for k, v in row.items():
        if v is None or k in ("row", "name", "size_industry"):
            continue
        if k in ("titles", "awards", "equity_financing", "standards_led"):
            items = []
            for el in v:
                el = dict(el)
                if k == "equity_financing" and el.get("amount") is not None:
                    el["amount"] = _yuan(el["amount"])
                items.append({a: b for a, b in el.items() if b is not None})
            p[k] = items
            continue
        if k.startswith("local_indicators."):
            p.setdefault("local_indicators", {})[k.split(".", 1)[1]] = v
            continue
        if k.startswith("financials."):
            _, y, f = k.split(".")
            p.setdefault("financials", {}).setdefault(int(y), {})[f] = _yuan(v) if path_kind(k) == "money" else v
            continue
        if k.startswith("quality_score."):
            p.setdefault("quality_score", {})[int(k.split(".")[1])] = _dec4(v)
            continue
        if k in ("market_share_pct", "local_score"):
            p[k] = _dec4(v)
            continue
        if k.startswith("maker_china."):
            p.setdefault("maker_china", {})[k.split(".")[1]] = v
            continue
        if "." in k:
            sect, f = k.split(".", 1)
            p.setdefault(sect, {})[f] = v
            continue
        p[k] = v
    if "maker_china" in p and (p["maker_china"].get("year") is None or p["maker_china"].get("group") is None):
        del p["maker_china"]
    return p
