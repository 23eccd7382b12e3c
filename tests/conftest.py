import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SRDI_SHARED", ROOT.parent / "shared"))
CASES_DIR = SHARED / "cases"


def case_files():
    return sorted(CASES_DIR.glob("*.yaml"))


def load_cases() -> list[dict]:
    """The shared worked cases, parsed (for parametrize at collection time)."""
    import yaml

    return [yaml.safe_load(f.read_text(encoding="utf-8")) for f in case_files()]


def canon(obj):
    """obj as its JSON round trip (dates and decimals as the API prints them)."""
    import json

    return json.loads(json.dumps(obj, ensure_ascii=False, default=str))


@pytest.fixture(scope="session")
def shared_cases():
    assert case_files(), f"no worked cases found in {CASES_DIR}"
    return load_cases()


@pytest.fixture(scope="session")
def load():
    """bench/load_assess.py as a module (the load script is a file, not part of the package)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("load_assess", ROOT / "bench" / "load_assess.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["load_assess"] = mod  # dataclasses look the module up
    spec.loader.exec_module(mod)
    return mod


def synthetic_engine_rows(folder: pathlib.Path, n: int, seed: int) -> list[dict]:
    """`n` synthetic firms (srdi synth, inputs missing in some) as engine rows (frame.profile_row)."""
    import datetime as dt

    from srdi.batch.profiles import row_to_profile
    from srdi.batch.synth import write_population
    from srdi.engine.frame import profile_row
    from srdi.planner.pool import read_pool

    src = folder / "pop.parquet"
    write_population(n, seed, src, headers="contract")
    F = read_pool(str(src), dt.date(2025, 6, 1))
    return [profile_row(row_to_profile(F.row(i, named=True))) for i in range(F.height)]


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestCollectionWarning")


def run_closures(comp, value, row: dict):
    """Evaluate `value`, built by a Compiler over RowOps (the one-firm backend), for one row:
    the outputs it bound first, in order, as engine.assess.run_row does."""
    e = dict(row)
    for k, f in comp.out.items():
        e[k] = f(e)
    return value(e) if callable(value) else value
