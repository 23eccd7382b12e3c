import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("SRDI_SHARED", ROOT.parent / "shared"))
CASES_DIR = SHARED / "cases"


def case_files():
    return sorted(CASES_DIR.glob("*.yaml"))


@pytest.fixture(scope="session")
def shared_cases():
    import yaml

    files = case_files()
    assert files, f"no worked cases found in {CASES_DIR}"
    return [yaml.safe_load(f.read_text(encoding="utf-8")) for f in files]


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestCollectionWarning")


def run_closures(comp, value, row: dict):
    """Evaluate `value`, built by a Compiler over ClosureOps (the one-firm backend), for one row:
    the outputs it bound first, in order, as engine.assess.run_row does."""
    e = dict(row)
    for k, f in comp.out.items():
        e[k] = f(e)
    return value(e) if callable(value) else value
