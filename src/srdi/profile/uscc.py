"""统一社会信用代码 (unified social credit code), GB 32100-2015: format and check digit."""

from __future__ import annotations

__all__ = ["USCC_CHARSET", "USCC_WEIGHTS", "uscc_check_char", "uscc_problem", "uscc_problem_zh"]

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, S, V, Z
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}


def uscc_check_char(first17: str) -> str:
    """Check character (18th) for the first 17 characters. Raises ValueError on bad input."""
    if len(first17) != 17:
        raise ValueError("need exactly 17 characters")
    total = 0
    for ch, w in zip(first17, USCC_WEIGHTS):
        if ch not in _VALUE:
            raise ValueError(f"bad character {ch!r}")
        total += _VALUE[ch] * w
    check = 31 - total % 31
    return USCC_CHARSET[0 if check == 31 else check]


def _problem(s: object) -> tuple[str, str] | None:
    if not isinstance(s, str):
        return (
            f"must be a string of 18 characters, got {type(s).__name__}",
            f"应为 18 位字符串，实际类型为 {type(s).__name__}",
        )
    if len(s) != 18:
        return (f"must have 18 characters, got {len(s)}", f"应为 18 位，实际为 {len(s)} 位")
    for i, ch in enumerate(s, start=1):
        if ch not in _VALUE:
            return (
                f"bad character {ch!r} at position {i} (allowed: digits and {USCC_CHARSET[10:]})",
                f"第 {i} 位字符“{ch}”无效（只允许数字和 {USCC_CHARSET[10:]}）",
            )
    expected = uscc_check_char(s[:17])
    if s[17] != expected:
        return (
            f"check digit expected {expected}, got {s[17]}",
            f"校验码应为 {expected}，实际为 {s[17]}",
        )
    return None


def uscc_problem(s: object) -> str | None:
    """None when ``s`` is a valid USCC (upper case expected), else a short English reason."""
    p = _problem(s)
    return None if p is None else p[0]


def uscc_problem_zh(s: object) -> str | None:
    """As ``uscc_problem``, in Chinese."""
    p = _problem(s)
    return None if p is None else p[1]
