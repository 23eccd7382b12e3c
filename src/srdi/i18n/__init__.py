"""Message catalogue and number formatting for srdi reports (zh default, en).

``t(key, lang, **fmt)`` looks a key up in ``messages.yaml`` (loaded lazily, once).
``fmt_yuan_wan`` and ``fmt_pct`` format money and ratios for display with Babel, which is
imported only when they are called (CLI cold start).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

__all__ = ["t", "has", "names", "name_pairs", "normalise_lang", "fmt_yuan_wan", "fmt_pct", "LANGS", "DEFAULT_LANG"]

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
_CATALOGUE_PATH = Path(__file__).with_name("messages.yaml")
_catalogue: dict[str, dict[str, str]] | None = None
_BABEL_LOCALES = {"zh": "zh_CN", "en": "en"}
_NONE = "—"


def _load() -> dict[str, dict[str, str]]:
    global _catalogue
    if _catalogue is None:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with _CATALOGUE_PATH.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=loader) or {}
        _catalogue = {str(k): v for k, v in data.items() if isinstance(v, dict)}
    return _catalogue


def normalise_lang(lang: str | None) -> str:
    """Map 'zh', 'zh_CN', 'zh-Hans', 'en_US', ... to 'zh' or 'en' (unknown -> 'zh')."""
    if not lang:
        return DEFAULT_LANG
    base = str(lang).replace("-", "_").split("_")[0].lower()
    return base if base in LANGS else DEFAULT_LANG


def has(key: str) -> bool:
    """True when the catalogue has ``key``."""
    return key in _load()


def t(key: str, lang: str = "zh", **fmt: Any) -> str:
    """The message ``key`` in ``lang``; an unknown key returns the key itself.

    Keyword arguments fill ``{name}`` placeholders; a formatting problem returns the raw text.
    """
    entry = _load().get(key)
    if entry is None:
        return key
    lang = normalise_lang(lang)
    text = entry.get(lang)
    if text is None:
        text = entry.get(DEFAULT_LANG, entry.get("en", key))
    text = str(text)
    if fmt:
        try:
            text = text.format(**fmt)
        except (KeyError, IndexError, ValueError):
            pass
    return text


def names(kind: str, lang: str = "zh") -> dict[str, str]:
    """Every name of one kind in ``lang``: ``names("tier", "en")`` -> {"srdi_sme": "SRDI SME ...", ...}.
    Kinds: tier, tier_short, title (the catalogue's ``<kind>.<id>`` keys)."""
    prefix = kind + "."
    return {k[len(prefix):]: t(k, lang) for k in _load() if k.startswith(prefix)}


def name_pairs(kind: str, keys: Any = None) -> dict[str, tuple[str, str]]:
    """{id: (zh, en)} of one kind, in catalogue order, or in the order of `keys` when given."""
    zh, en = names(kind, "zh"), names(kind, "en")
    return {k: (zh[k], en[k]) for k in (keys if keys is not None else zh)}


def _decimal(x: Any) -> Decimal | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        d = Decimal(str(x).replace(",", "").strip()) if not isinstance(x, Decimal) else x
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def fmt_yuan_wan(yuan: Any, lang: str = "zh") -> str:
    """Money given in yuan, shown in 万元.

    zh: ``350万元``; en: ``3,500,000 CNY (350 wan)``. At most two decimals. ``None`` or an
    unparsable value gives ``—``.
    """
    d = _decimal(yuan)
    if d is None:
        return _NONE
    from babel.numbers import format_decimal

    lang = normalise_lang(lang)
    locale = _BABEL_LOCALES[lang]
    wan = format_decimal(d / Decimal(10000), format="#,##0.##", locale=locale)
    if lang == "zh":
        return f"{wan}万元"
    full_pattern = "#,##0" if d == d.to_integral_value() else "#,##0.00"
    full = format_decimal(d, format=full_pattern, locale=locale)
    return f"{full} CNY ({wan} wan)"


def fmt_pct(x: Any, lang: str = "zh", digits: int = 2) -> str:
    """A ratio (0.0486) shown as a percentage (``4.86%``), up to ``digits`` decimals."""
    d = _decimal(x)
    if d is None:
        return _NONE
    from babel.numbers import format_percent

    pattern = "#,##0" + ("." + "#" * digits if digits > 0 else "") + "%"
    return format_percent(d, format=pattern, locale=_BABEL_LOCALES[normalise_lang(lang)])
