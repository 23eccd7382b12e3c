"""The contract's compact JSON as bytes: the CLI's `json.dumps(default=str)` without indentation,
encoded by orjson where that gives the same bytes (the API's answers, the encoded explanation).

orjson is imported on first use (25 ms: a one-firm `srdi assess` starts without it)."""
from __future__ import annotations

import json
from typing import Any

_orjson: Any = None


def _lib():
    global _orjson
    if _orjson is None:
        import orjson

        _orjson = orjson
    return _orjson


def orjson_dumps(obj: Any) -> bytes:
    """orjson with the stdlib's behaviour of `default=str` (dates, datetimes and dataclasses go
    through str(): orjson would write datetimes with a "T" and dataclasses as objects). String keys
    only; raises TypeError or orjson.JSONEncodeError for what it refuses (ints over 64 bits)."""
    o = _lib()
    return o.dumps(obj, default=str, option=o.OPT_PASSTHROUGH_DATETIME | o.OPT_PASSTHROUGH_DATACLASS)


def stdlib_dumps(obj: Any, sort_keys: bool = False) -> bytes:
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":"), sort_keys=sort_keys).encode()


def dumps(obj: Any, sort_keys: bool = False) -> bytes:
    """The CLI's JSON (srdi.cli.one.dump_json: `json.dumps(default=str)`) without the indentation.
    Encoded by orjson (the same bytes for the engine's output: str, int, float, bool, None, Decimal,
    date); anything orjson refuses (ints over 64 bits, non-scalar keys) falls back to the stdlib."""
    o = _lib()
    if not sort_keys:
        # first without OPT_NON_STR_KEYS, which doubles orjson's time; it refuses a non-str key
        # (TypeError), and then the call below is the one that answers
        try:
            return orjson_dumps(obj)
        except TypeError:
            pass
    opts = o.OPT_NON_STR_KEYS | o.OPT_PASSTHROUGH_DATETIME | o.OPT_PASSTHROUGH_DATACLASS
    try:
        return o.dumps(obj, default=str, option=opts | o.OPT_SORT_KEYS if sort_keys else opts)
    except (TypeError, o.JSONEncodeError):
        return stdlib_dumps(obj, sort_keys)


def fragment(b: bytes):
    """Bytes of JSON to be copied as they are into an orjson.dumps (orjson.Fragment)."""
    return _lib().Fragment(b)
