"""REST API (/api/v1): the contract JSON, problem JSON errors, limits, headers, batch jobs."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import zipfile

# /cycle (srdi.workflow.web) keeps state in SQLite: a throw-away database, never ./srdi-cycle.db.
os.environ.setdefault("SRDI_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='srdi-web-api-')}/cycle.db")

import pytest
from fastapi.testclient import TestClient

from srdi.engine.assess import assess_profile
from srdi.profile import validate_profile
from srdi.web import create_app
from srdi.web import jobs as web_jobs

from conftest import ROOT, canon, load_cases


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(), raise_server_exceptions=False)


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c["name"])
def test_assess_is_the_contract_json(client, case):
    body = {"profile": canon(case["profile"]), "as_of": str(case["as_of"]), "mode": case["mode"]}
    r = client.post("/api/v1/assess", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    got = r.json()
    want = canon(assess_profile(validate_profile(canon(case["profile"])), str(case["as_of"]), case["mode"], "zh"))
    assert got == want
    for tid, exp in case["expect"].get("tiers", {}).items():
        assert got["tiers"][tid]["outcome"] == exp["outcome"]
        if "score" in exp:
            assert float(got["tiers"][tid]["score"]) == exp["score"]


def test_assess_agrees_with_the_cli(client, tmp_path):
    """The same bytes of meaning as `srdi assess --format json` on the bundled example."""
    ex = ROOT / "src" / "srdi" / "examples" / "precision_machinery.yaml"
    cli = subprocess.run([sys.executable, "-m", "srdi", "assess", str(ex), "--as-of", "2026-06-01", "--format", "json"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    import yaml

    prof = canon(yaml.safe_load(ex.read_text(encoding="utf-8")))
    r = client.post("/api/v1/assess", json={"profile": prof, "as_of": "2026-06-01"})
    assert r.status_code == 200
    assert r.json() == json.loads(cli.stdout)


def test_assess_en_and_review(client):
    prof = canon(load_cases()[0]["profile"])
    r = client.post("/api/v1/assess", json={"profile": prof, "as_of": "2026-06-01", "mode": "review", "lang": "en"})
    assert r.status_code == 200
    d = r.json()
    assert d["mode"] == "review" and d["as_of"] == "2026-06-01"


def _problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["status"] == status and p["title"] and "detail" in p
    assert "Traceback" not in r.text and 'File "' not in r.text
    return p


def test_bad_profile_names_the_field(client):
    r = client.post("/api/v1/assess", json={"profile": {"name": "X", "financials": {"2024": {"rd_expense": "abc"}}},
                                            "as_of": "2025-05-01"})
    p = _problem(r, 422)
    paths = [e["path"] for e in p["errors"]]
    assert "profile.financials.2024.rd_expense" in paths
    e = p["errors"][paths.index("profile.financials.2024.rd_expense")]
    assert e["detail"] and e["detail_zh"]


@pytest.mark.parametrize("body, path", [
    ({"profile": {}}, "profile.name"),
    ({"profile": {"name": "X", "uscc": "91320500MA1N8RQP75"}}, "profile.uscc"),
    ({"profile": {"name": "X", "unknown_field": 1}}, "profile.unknown_field"),
    ({"profile": {"name": "X"}, "as_of": "2021-01-01"}, "as_of"),
    ({"profile": {"name": "X"}, "as_of": "2025-02-30"}, "as_of"),
    ({"profile": {"name": "X"}, "as_of": "tomorrow"}, "as_of"),
    ({"profile": {"name": "X"}, "mode": "audit"}, "mode"),
    ({"profile": "not an object"}, "profile"),
    ({"profile": {"name": "X"}, "extra": 1}, "extra"),
    ({}, "profile"),
])
def test_bad_requests_are_problems_with_paths(client, body, path):
    p = _problem(client.post("/api/v1/assess", json=body), 422)
    assert path in [e["path"] for e in p["errors"]], p


def test_malformed_json_is_a_problem(client):
    r = client.post("/api/v1/assess", content=b"{not json", headers={"content-type": "application/json"})
    _problem(r, 422)


def test_crash_is_a_problem_without_trace(monkeypatch):
    import srdi.engine.assess as engine

    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine, "assess_profile", boom)
    monkeypatch.setattr(engine, "assess_profile_json", boom)  # the API's
    from srdi.web import api

    api.ASSESS_CACHE.data.clear()
    c = TestClient(create_app(), raise_server_exceptions=False)
    r = c.post("/api/v1/assess", json={"profile": {"name": "崩溃测试"}, "as_of": "2026-06-01"})
    p = _problem(r, 500)
    assert "secret internals" not in r.text


def test_body_size_limit(client):
    big = {"profile": {"name": "X", "local_indicators": {"pad": "x" * (2 * 1024 * 1024)}}}
    p = _problem(client.post("/api/v1/assess", json=big), 413)
    assert "larger" in p["detail"]


def test_streamed_body_over_limit_is_413(client):
    def gen():
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/v1/assess", content=gen(), headers={"content-type": "application/json"})
    _problem(r, 413)


@pytest.mark.parametrize("url", ["/", "/assess", "/api/v1/health", "/openapi.json", "/static/app.css", "/nope"])
def test_security_headers(client, url):
    r = client.get(url)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_404_is_a_problem(client):
    _problem(client.get("/api/v1/nope"), 404)


def test_pages_have_no_inline_scripts(client):
    import re

    for url in ["/", "/assess", "/batch", "/result"]:
        html = client.get(url).text
        for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in m.group(1) and not m.group(2).strip(), url
        assert " style=" not in html and "<style" not in html, url
        assert " onclick=" not in html and "javascript:" not in html, url


def test_health_and_rules(client):
    h = client.get("/api/v1/health").json()
    assert h["status"] == "ok" and set(h["components"]) >= {"batch", "planner", "workflow"}
    r = client.get("/api/v1/rules", params={"as_of": "2026-06-01"}).json()
    assert r["regime"] == "R2026" and "little_giant" in r["tiers"] and "srdi_sme" in r["tiers"]
    r = client.get("/api/v1/rules", params={"as_of": "2025-05-01"}).json()
    assert r["regime"] == "R2022" and "innovative_sme" in r["tiers"]
    _problem(client.get("/api/v1/rules", params={"as_of": "2020-01-01"}), 422)


def test_plan_and_support_degrade_cleanly(client):
    from srdi.web.api import optional_module

    body = {"profile": {"name": "X"}, "as_of": "2026-06-01"}
    for url, mod, fn in (("/api/v1/plan", "srdi.planner", "make_plan"), ("/api/v1/support", "srdi.support", "support_for")):
        r = client.post(url, json=body)
        if not hasattr(optional_module(mod), fn):
            p = _problem(r, 503)
            assert "not available yet" in p["detail"]
        else:
            assert r.status_code in (200, 422), r.text
        _problem(client.post(url, json={"profile": {}}), 422)


def test_openapi_lists_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/assess", "/api/v1/plan", "/api/v1/rules", "/api/v1/batch", "/api/v1/health"):
        assert path in spec["paths"]
    assert not any(p.startswith("/form") or p == "/result" for p in spec["paths"])


# ------------------------------------------------------------------------------- batch
@pytest.fixture
def fake_batch(monkeypatch):
    """A stand-in srdi.batch (the real one is built elsewhere): copies rows, reports progress."""
    mod = types.ModuleType("srdi.batch")
    calls = []

    def run_batch(input_path, output_path, as_of, mode="application", mapping=None, lang="zh", progress=None):
        calls.append((input_path, as_of, mode))
        data = open(input_path, "rb").read()
        n = max(0, data.count(b"\n") - 1)
        for i in range(n):
            if progress:
                progress(i + 1, n)
        with open(output_path, "wb") as fh:
            fh.write(b"result\n" + data)
        return {"rows": n, "tiers": {"srdi_sme": {"pass": n, "fail": 0, "undetermined": 0}}}

    mod.run_batch = run_batch
    monkeypatch.setitem(sys.modules, "srdi.batch", mod)
    return calls


def _wait(client, job_id):
    for _ in range(200):
        j = client.get(f"/api/v1/batch/{job_id}").json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_batch_job_flow(client, fake_batch):
    csv = "name,financials.2025.rd_expense\n甲公司,100\n乙公司,200\n".encode()
    r = client.post("/api/v1/batch", files={"file": ("firms.csv", csv, "text/csv")}, data={"as_of": "2026-06-01"})
    assert r.status_code == 202, r.text
    j = _wait(client, r.json()["id"])
    assert j["status"] == "done" and j["percent"] == 100 and j["summary"]["rows"] == 2
    d = client.get(j["result_url"])
    assert d.status_code == 200 and d.content.startswith(b"result\n")
    assert "attachment" in d.headers["content-disposition"]
    assert fake_batch[0][1] == dt.date(2026, 6, 1)
    assert j["errors_url"] is None  # the stub writes no errors file
    _problem(client.get(f"/api/v1/batch/{j['id']}/errors"), 404)


def test_batch_absent_is_503(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "srdi.batch", None)  # import fails as if absent
    r = client.post("/api/v1/batch", files={"file": ("f.csv", b"name\nA\n", "text/csv")})
    _problem(r, 503)


def test_batch_unknown_job(client):
    _problem(client.get("/api/v1/batch/" + "0" * 32), 404)
    _problem(client.get("/api/v1/batch/../../etc/passwd"), 404)


def test_batch_rejects_bad_uploads(client, fake_batch, monkeypatch):
    _problem(client.post("/api/v1/batch", files={"file": ("f.exe", b"MZ", "application/octet-stream")}), 415)
    _problem(client.post("/api/v1/batch", files={"file": ("f.xlsx", b"not a zip", "application/zip")}), 422)
    _problem(client.post("/api/v1/batch", files={"file": ("f.csv", b"", "text/csv")}), 422)
    monkeypatch.setattr(web_jobs, "MAX_ROWS", 5)
    p = _problem(client.post("/api/v1/batch", files={"file": ("f.csv", b"h\n" + b"a\n" * 10, "text/csv")}), 413)
    assert p["errors"][0]["path"] == "file"


def test_batch_upload_too_large(client, fake_batch):
    big = b"a,b\n" * (3 * 1024 * 1024)  # 12 MiB
    _problem(client.post("/api/v1/batch", files={"file": ("f.csv", big, "text/csv")}), 413)


def _xlsx(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_batch_rejects_xlsx_bomb(client, fake_batch):
    bomb = _xlsx({"[Content_Types].xml": b"<x/>", "xl/worksheets/sheet1.xml": b"\0" * (120 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    p = _problem(client.post("/api/v1/batch", files={"file": ("bomb.xlsx", bomb, "application/zip")}), 413)
    assert "bomb" in p["errors"][0]["detail_zh"] or "uncompressed" in p["detail"] or "ratio" in p["detail"]


def test_xlsx_rows_counted(tmp_path, monkeypatch):
    rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(1, 12))
    sheet = b'<worksheet xmlns="x"><sheetData>' + rows + b"</sheetData></worksheet>"
    p = tmp_path / "a.xlsx"
    p.write_bytes(_xlsx({"xl/worksheets/sheet1.xml": sheet}))
    assert web_jobs.check_xlsx(p) == 10
    monkeypatch.setattr(web_jobs, "MAX_ROWS", 5)
    with pytest.raises(web_jobs.UploadRejected):
        web_jobs.check_xlsx(p)


def test_batch_job_visible_to_other_workers(client, fake_batch):
    """With `srdi serve --workers 2` a poll may reach another process: the state is on disk."""
    r = client.post("/api/v1/batch", files={"file": ("firms.csv", b"name\nA\nB\n", "text/csv")},
                    data={"as_of": "2026-06-01"})
    job_id = r.json()["id"]
    _wait(client, job_id)
    web_jobs._jobs.pop(job_id)  # as if this process had never seen the job
    j = client.get(f"/api/v1/batch/{job_id}").json()
    assert j["status"] == "done" and j["summary"]["rows"] == 2
    assert client.get(j["result_url"]).content.startswith(b"result\n")
    assert (web_jobs.JOBS_ROOT / job_id / "status.json").exists()


def test_workflow_router_included_when_present(client):
    from srdi.web.api import optional_module

    spec = client.get("/openapi.json").json()
    wf = optional_module("srdi.workflow.web")
    if wf is None or not hasattr(wf, "router"):
        pytest.skip("srdi.workflow.web is not available")
    prefixes = {getattr(r, "path", "") for r in wf.router.routes}
    assert any(p in spec["paths"] for p in prefixes)
    r = client.get("/cycle/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "script-src 'self' 'unsafe-inline'" not in csp


def test_assess_server_timing(client):
    r = client.post("/api/v1/assess", json={"profile": {"name": "计时测试"}, "as_of": "2026-06-01"})
    assert "validate;dur=" in r.headers["server-timing"] and "cache;desc=" in r.headers["server-timing"]


@pytest.mark.parametrize("kw", [
    {"json": {"profile": {"name": "快速路径", "industry": "C3484"}, "as_of": "2026-06-01"}},
    {"json": {"profile": {"name": "快速路径"}, "as_of": "2025-05-01", "mode": "review", "lang": "en"}},
    {"json": {"profile": {"name": "X", "financials": {"2024": {"rd_expense": "abc"}}}, "as_of": "2025-05-01"}},
    {"json": {"profile": {"name": "X"}, "extra": 1}},
    {"json": {"profile": "not an object"}},
    {"json": [1, 2]},
    {"content": b"{not json", "headers": {"content-type": "application/json"}},
    {"content": b'{"profile": {"name": "X"}}', "headers": {"content-type": "text/plain"}},
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"content": b'{"profile": {"name": "X"}}', "headers": {"content-type": "application/merge-patch+json"}},
])
def test_assess_fast_path_answers_as_the_route(monkeypatch, kw):
    """srdi.web.api.AssessFastPath serves POST /api/v1/assess past FastAPI's routing: the same status,
    body and headers as the FastAPI route (SRDI_WEB_FASTPATH=0)."""
    fast = TestClient(create_app(), raise_server_exceptions=False)
    monkeypatch.setenv("SRDI_WEB_FASTPATH", "0")
    slow = TestClient(create_app(), raise_server_exceptions=False)
    a, b = fast.post("/api/v1/assess", **kw), slow.post("/api/v1/assess", **kw)
    assert a.status_code == b.status_code
    assert a.content == b.content
    ha = {k: v for k, v in a.headers.items() if k != "server-timing"}
    hb = {k: v for k, v in b.headers.items() if k != "server-timing"}
    assert ha == hb


def test_assess_fast_path_leaves_other_methods_to_the_router(client):
    assert client.get("/api/v1/assess").status_code == 405
    assert client.post("/api/v1/assess/", json={}).status_code in (307, 404, 422)
