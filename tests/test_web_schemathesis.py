"""Property-based API testing from /openapi.json (schemathesis): no server error (5xx) on any
generated request, and every response conforms to its declared content type. Bounded examples."""
from __future__ import annotations

import os
import sys
import tempfile
import types

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

# The workflow endpoints (srdi.workflow.web, included by create_app) keep state in SQLite: a
# throw-away database, never srdi-cycle.db in the working directory.
os.environ.setdefault("SRDI_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='srdi-web-st-')}/cycle.db")

from srdi.web import create_app  # noqa: E402

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture(autouse=True)
def _no_real_batch(monkeypatch):
    # Generated uploads must not start real jobs in the background of the test run: a stub batch
    # module (the upload checks, which are the web app's, still run on every generated file).
    stub = types.ModuleType("srdi.batch")

    def run_batch(input_path, output_path, as_of, mode="application", mapping=None, lang="zh", progress=None):
        open(output_path, "wb").close()
        return {"rows": 0}

    stub.run_batch = run_batch
    monkeypatch.setitem(sys.modules, "srdi.batch", stub)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_has_no_server_errors(case):
    case.call_and_validate(checks=[not_a_server_error])
