"""The planner's cost model: documented defaults (costs_default.yaml) merged with a user file."""
from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class CostModelError(ValueError):
    pass


@functools.lru_cache(maxsize=1)
def _defaults() -> dict:
    text = resources.files("srdi.planner").joinpath("costs_default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _merge(base: dict, over: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if k not in out:
            raise CostModelError(f"{where}{k}: unknown key in the cost model / 成本模型中没有该项")
        if isinstance(out[k], dict):
            if not isinstance(v, dict):
                raise CostModelError(f"{where}{k}: expected a mapping / 应为映射")
            out[k] = _merge(out[k], v, f"{where}{k}.")
        else:
            if isinstance(out[k], bool) != isinstance(v, bool) or (
                    isinstance(out[k], (int, float)) and not isinstance(v, (int, float))):
                raise CostModelError(f"{where}{k}: expected {type(out[k]).__name__}, got {v!r} / 类型不符")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise CostModelError(f"{where}{k}: must not be negative / 不能为负数")
            out[k] = v
    return out


def load_costs(costs: Any = None) -> dict:
    """The cost model: defaults, overridden by a dict or a YAML file path."""
    if costs is None:
        return copy.deepcopy(_defaults())
    if isinstance(costs, (str, Path)):
        try:
            over = yaml.safe_load(Path(costs).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise CostModelError(f"{costs}: cannot read the cost file ({e.strerror}) / 无法读取成本文件") from e
        except yaml.YAMLError as e:
            raise CostModelError(f"{costs}: not valid YAML / 不是有效的 YAML") from e
        if not isinstance(over, dict):
            raise CostModelError(f"{costs}: expected a mapping at the top / 顶层应为映射")
    else:
        over = costs
    return _merge(_defaults(), over, "")
