"""Cultivation-pool jobs over the web API (POST /api/v1/pool): the same ranked file as
srdi.planner.pool, polled and downloaded like batch jobs; bad targets and uploads are problems."""
from __future__ import annotations

import io
import os
import tempfile
import time

os.environ.setdefault("SRDI_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='srdi-web-pool-')}/cycle.db")

import polars as pl
import pytest
from fastapi.testclient import TestClient

from srdi.batch.synth import write_population
from srdi.planner.pool import plan_pool
from srdi.web import create_app


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    p = tmp_path_factory.mktemp("pool") / "firms.csv"
    write_population(120, 7, p, headers="contract")
    return p


def _wait(client, job_id, seconds=120):
    end = time.time() + seconds
    while time.time() < end:
        j = client.get(f"/api/v1/batch/{job_id}").json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_pool_job_ranks_the_population(client, population, monkeypatch):
    from srdi.web import jobs

    monkeypatch.setattr(jobs, "POOL_PLAN_LIMIT", 5)
    r = client.post("/api/v1/pool", files={"file": ("firms.csv", population.read_bytes(), "text/csv")},
                    data={"target": "srdi_sme", "as_of": "2025-06-01", "horizon": "2", "lang": "en"})
    assert r.status_code == 202, r.text
    assert r.json()["kind"] == "pool" and r.json()["target"] == "srdi_sme"
    j = _wait(client, r.json()["id"])
    assert j["status"] == "done", j
    s = j["summary"]
    assert s["kind"] == "pool" and s["firms"] == 120
    assert sum(s["by_cost_kind"].values()) == 120 and sum(s["by_failing_conditions"].values()) == 120
    d = client.get(j["result_url"])
    assert d.status_code == 200 and "pool-srdi_sme" in d.headers["content-disposition"]
    got = pl.read_csv(io.BytesIO(d.content))
    want = plan_pool(str(population), "2025-06-01", "srdi_sme", horizon=2, lang="en", plan_limit=5)
    cols = ["row", "passes_now", "failing_conditions", "cost_kind", "cost_yuan", "passes_on"]
    assert got.select(cols).sort("row").to_dicts() == want.select(cols).sort("row").to_dicts()
    assert s["passing_now"] == int(want["passes_now"].fill_null(False).sum())


def test_pool_bad_requests(client, population):
    files = {"file": ("firms.csv", population.read_bytes(), "text/csv")}
    r = client.post("/api/v1/pool", files=files, data={"target": "nonsense"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert any(e["path"] == "target" for e in r.json()["errors"])
    r = client.post("/api/v1/pool", files=files, data={"target": "little_giant", "horizon": "9"})
    assert r.status_code == 422 and any(e["path"] == "horizon" for e in r.json()["errors"])
    r = client.post("/api/v1/pool", files={"file": ("f.exe", b"MZ", "application/octet-stream")},
                    data={"target": "srdi_sme"})
    assert r.status_code == 415
    r = client.post("/api/v1/pool", files=files)  # no target
    assert r.status_code == 422 and any(e["path"] == "target" for e in r.json()["errors"])
