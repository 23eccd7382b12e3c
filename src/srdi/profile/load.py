"""Read and validate enterprise profiles; turn pydantic errors into field errors (en + zh)."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from typing import Any, NamedTuple

from pydantic import ValidationError

from .model import Profile

__all__ = [
    "FieldError",
    "ProfileError",
    "read_profile_file",
    "validate_profile",
    "load_profile",
    "profile_json_schema",
]


class FieldError(NamedTuple):
    path: str  # dotted, e.g. "financials.2024.rd_expense", "titles.0.valid_until"; "" = root
    problem: str  # English
    problem_zh: str  # Chinese


class ProfileError(Exception):
    """Unusable profile input. ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{e.path}: {e.problem}" if e.path else e.problem for e in self.errors)


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def _fail(problem: str, problem_zh: str) -> ProfileError:
    return ProfileError([FieldError("", problem, problem_zh)])


def _too_deep(name: str) -> ProfileError:
    return _fail(f"{name}: nested too deeply to read", f"{name}：嵌套层级过深，无法读取")


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as e:
        raise _fail(
            f"{name}: JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}",
            f"{name}：JSON 语法错误，第 {e.lineno} 行第 {e.colno} 列：{e.msg}",
        ) from None
    except RecursionError:
        raise _too_deep(name) from None


_YAML_LOADERS: dict[bool, Any] = {}


def _yaml_loader(fast: bool = True) -> Any:
    """The safe loader (libyaml's when `fast` and available), except that an impossible date
    (2017-02-30) stays text: validation then reports it under its field path instead of the YAML
    reader failing on it."""
    if fast not in _YAML_LOADERS:
        import yaml

        base = (getattr(yaml, "CSafeLoader", None) if fast else None) or yaml.SafeLoader

        class Loader(base):  # type: ignore[misc, valid-type]
            pass

        def timestamp(loader: Any, node: Any) -> Any:
            try:
                return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
            except (ValueError, OverflowError):
                return loader.construct_scalar(node)

        Loader.add_constructor("tag:yaml.org,2002:timestamp", timestamp)
        _YAML_LOADERS[fast] = Loader
    return _YAML_LOADERS[fast]


# libyaml (CSafeLoader) overflows the C stack (a crash, not an error) on flow or block nesting some
# 30,000 levels deep: text with that many openers goes to the pure-Python loader, which raises
# RecursionError instead. A real profile has a few dozen.
_C_LOADER_MAX_OPENERS = 2000


def _parse_yaml(text: str, name: str) -> Any:
    import yaml

    openers = text.count("[") + text.count("{") + text.count("- ") + text.count("? ")
    try:
        return yaml.load(text, Loader=_yaml_loader(openers <= _C_LOADER_MAX_OPENERS))  # noqa: S506 (safe loader)
    except RecursionError:
        raise _too_deep(name) from None
    except (ValueError, TypeError, LookupError) as e:  # a bad explicitly tagged value: !!int abc, !!bool maybe
        raise _fail(f"{name}: YAML value cannot be read: {e}", f"{name}：YAML 取值无法读取：{e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        if mark is not None:
            raise _fail(
                f"{name}: YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {what}",
                f"{name}：YAML 语法错误，第 {mark.line + 1} 行第 {mark.column + 1} 列：{what}",
            ) from None
        raise _fail(f"{name}: YAML syntax error: {what}", f"{name}：YAML 语法错误：{what}") from None


def read_profile_file(path: str | os.PathLike[str]) -> dict:
    """Read a profile file into a dict: JSON (.json) or YAML (.yaml/.yml); other extensions:
    JSON, then YAML. JSON floats are read as ``Decimal``. Raises ``ProfileError`` (path "")."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise _fail(f"cannot read {name}: file not found", f"无法读取 {name}：文件不存在") from None
    except IsADirectoryError:
        raise _fail(f"cannot read {name}: it is a directory", f"无法读取 {name}：这是一个目录") from None
    except OSError as e:
        raise _fail(f"cannot read {name}: {e.strerror or e}", f"无法读取 {name}：{e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(
            f"cannot read {name}: not UTF-8 text (byte {e.start})",
            f"无法读取 {name}：不是 UTF-8 文本（第 {e.start} 字节）",
        ) from None
    return read_profile_text(text, name)


def read_profile_text(text: str, name: str = "<stdin>") -> dict:
    """Parse profile text (JSON, else YAML; by the extension of `name` when it has one)."""
    if not text.strip():
        raise _fail(f"{name}: the file is empty", f"{name}：文件为空")

    ext = os.path.splitext(name)[1].lower()
    if ext == ".json":
        data = _parse_json(text, name)
    elif ext in (".yaml", ".yml"):
        data = _parse_yaml(text, name)
    else:
        try:
            data = json.loads(text, parse_float=Decimal)
        except ValueError:
            data = _parse_yaml(text, name)
        except RecursionError:
            raise _too_deep(name) from None
    if not isinstance(data, dict):
        raise _fail(
            f"{name}: the profile must be a mapping of fields (got {_type_name(data)})",
            f"{name}：企业画像应为字段映射（实际为 {_type_name(data)}）",
        )
    return data


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, Decimal) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expected(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace("'", "")


def _translate(err: dict[str, Any]) -> tuple[str, str]:
    """(English, Chinese) message for one pydantic error entry."""
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    msg = err.get("msg", "")
    got = err.get("input")
    if "zh" in ctx:  # our own PydanticCustomError (model._err)
        return str(ctx.get("en", msg)), str(ctx["zh"])
    if kind == "missing":
        return "required field is missing", "缺少必填字段"
    if kind == "extra_forbidden":
        return "unknown field (not in the contract)", "未知字段（不在数据契约中）"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')}, got {_show(got)}", f"应大于或等于 {ctx.get('ge')}，实际为 {_show(got)}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')}, got {_show(got)}", f"应小于或等于 {ctx.get('le')}，实际为 {_show(got)}"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')}, got {_show(got)}", f"应大于 {ctx.get('gt')}，实际为 {_show(got)}"
    if kind == "less_than":
        return f"must be < {ctx.get('lt')}, got {_show(got)}", f"应小于 {ctx.get('lt')}，实际为 {_show(got)}"
    if kind in ("literal_error", "enum"):
        exp = _expected(ctx)
        return f"must be one of: {exp}; got {_show(got)}", f"应为以下之一：{exp}；实际为 {_show(got)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {_show(got)}", f"应为布尔值 true 或 false，实际为 {_show(got)}"
    if kind.startswith("int_"):
        return f"must be a whole number, got {_show(got)}", f"应为整数，实际为 {_show(got)}"
    if kind.startswith("decimal_") or kind in ("finite_number", "float_type", "float_parsing"):
        return f"must be a number, got {_show(got)}", f"应为数字，实际为 {_show(got)}"
    if kind.startswith("date"):
        return f"must be a date YYYY-MM-DD, got {_show(got)}", f"应为 YYYY-MM-DD 格式的日期，实际为 {_show(got)}"
    if kind == "string_type":
        return f"must be a string, got {_show(got)}", f"应为字符串，实际为 {_show(got)}"
    if kind == "string_too_short":
        return "must not be empty", "不能为空"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return (
            f"must be a mapping of fields, got {_show(got)}",
            f"应为字段映射（键值对），实际为 {_show(got)}",
        )
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {_show(got)}", f"应为列表，实际为 {_show(got)}"
    return msg, f"无效值：{msg}"


def _path(loc: tuple[Any, ...]) -> tuple[str, bool]:
    parts: list[str] = []
    is_key = False
    for item in loc:
        if item == "[key]":
            is_key = True
            continue
        parts.append(str(item))
    return ".".join(parts), is_key


def field_errors(exc: ValidationError) -> list[FieldError]:
    """Convert a pydantic ValidationError into FieldErrors."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        path, is_key = _path(tuple(err.get("loc", ())))
        key = (err.get("ctx") or {}).get("key")
        if key is not None:  # model.Profile._local_indicators: the indicator's own key
            path = f"{path}.{key}" if path else str(key)
        en, zh = _translate(err)
        if is_key:
            en, zh = f"invalid key (year 1990..2100 expected): {en}", f"键无效（应为 1990..2100 的年份）：{zh}"
        out.append(FieldError(path, en, zh))
    return out


def validate_profile(data: Any) -> Profile:
    """Validate a parsed profile; raises ``ProfileError`` listing every problem."""
    if not isinstance(data, dict):
        raise _fail(
            f"the profile must be a mapping of fields (got {_type_name(data)})",
            f"企业画像应为字段映射（实际为 {_type_name(data)}）",
        )
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(field_errors(exc)) from None


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file (JSON or YAML)."""
    return validate_profile(read_profile_file(path))


def profile_json_schema() -> dict:
    """JSON Schema of the enterprise profile (contract section 1)."""
    schema = Profile.model_json_schema()
    schema["title"] = "srdi enterprise profile (contract 1)"
    return schema
