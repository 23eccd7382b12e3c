"""The cycle through the server-rendered pages, as each role's new user would click it; and
`srdi cycle-bench` (small n) through the CLI."""
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from srdi.workflow.db import Store, set_store
from srdi.workflow.synth import DEMO_PASSWORD, seed_demo


@pytest.fixture()
def site(tmp_path, monkeypatch):
    from srdi.workflow.web import router

    monkeypatch.setenv("SRDI_CYCLE_TODAY", "2025-06-01")
    store = Store(f"sqlite:///{tmp_path / 'c.db'}").init()
    ids = seed_demo(store)
    set_store(store)
    app = FastAPI()
    app.include_router(router)
    yield app, ids, monkeypatch
    set_store(None)
    store.dispose()


def browser(app, username):
    c = TestClient(app, follow_redirects=True)
    r = c.get("/cycle/")
    assert r.status_code == 200 and 'name="password"' in r.text
    r = c.post("/cycle/login", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 200 and username in r.text, r.text[:500]
    return c


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_full_cycle_through_pages(site):
    app, ids, mp = site
    ent = browser(app, "ent-e1")
    home = ent.get("/cycle/").text
    assert "新建申请" in home
    profile = re.search(r'<textarea name="profile" rows="16">(.*?)</textarea>', home, re.S).group(1)
    import html as H

    r = ent.post("/cycle/applications", data={"csrf_token": csrf(home), "tier": "innovative_sme", "year": "2025",
                                              "batch": "2", "profile": H.unescape(profile)})
    assert r.status_code == 200 and "草稿" in r.text, r.text[:800]
    app_id = int(re.search(r"/cycle/applications/(\d+)/submit", r.text).group(1))
    r = ent.post(f"/cycle/applications/{app_id}/submit", data={"csrf_token": csrf(r.text)})
    assert "专家评审中" in r.text and "自动预审" in r.text
    # CSRF: a forged form post is refused
    r2 = ent.post(f"/cycle/applications/{app_id}/withdraw", data={"csrf_token": "forged"})
    assert "CSRF" in r2.text
    # the three Jiangsu reviewers score through their task lists
    for rv in ("rev-js1", "rev-js2", "rev-js3"):
        c = browser(app, rv)
        tasks = c.get("/cycle/?view=tasks").text
        assert f"/cycle/applications/{app_id}" in tasks
        page = c.get(f"/cycle/applications/{app_id}").text
        r = c.post(f"/cycle/applications/{app_id}/score", data={"csrf_token": csrf(page), "score": "78", "comment": "好"})
        assert r.status_code == 200
    # Guangdong's reviewer cannot even open it
    assert "无权访问" in browser(app, "rev-gd1").get(f"/cycle/applications/{app_id}").text
    adm = browser(app, "admin-js")
    page = adm.get(f"/cycle/applications/{app_id}").text
    assert "待省级决定" in page and "78" in page
    r = adm.post(f"/cycle/applications/{app_id}/approve", data={"csrf_token": csrf(page), "note": ""})
    assert "公示中" in r.text
    mp.setenv("SRDI_CYCLE_TODAY", "2025-06-03")
    pub = ent.get(f"/cycle/applications/{app_id}").text
    r = ent.post(f"/cycle/applications/{app_id}/object", data={"csrf_token": csrf(pub), "text": "测试异议"})
    oid = int(re.search(r"/cycle/objections/(\d+)/dismissed", adm.get(f"/cycle/applications/{app_id}").text).group(1))
    page = adm.get(f"/cycle/applications/{app_id}").text
    adm.post(f"/cycle/objections/{oid}/dismissed", data={"csrf_token": csrf(page)})
    r = adm.post(f"/cycle/applications/{app_id}/close", data={"csrf_token": csrf(page)})
    assert "公示期未满" in r.text  # 7 days not over
    mp.setenv("SRDI_CYCLE_TODAY", "2025-06-09")
    r = adm.post(f"/cycle/applications/{app_id}/close", data={"csrf_token": csrf(page)})
    assert "已认定" in r.text
    dash = adm.get("/cycle/dashboard").text
    assert "1,000,000" in dash and "100,000" in dash and "10,000" in dash
    assert adm.get("/api/v1/cycle/dashboard.xlsx").content[:2] == b"PK"
    audit_page = adm.get(f"/cycle/audit?entity=application&entity_id={app_id}").text
    assert "application.close_publicity" in audit_page
    en = ent.get("/cycle/?lang=en").text
    assert "Applications" in en and "certified" in en
    assert "Applications" in ent.get("/cycle/").text  # remembered
    assert "新建申请" in ent.get("/cycle/?lang=zh").text


def test_pages_refuse_other_province(site):
    app, ids, _ = site
    c = browser(app, "admin-gd")
    page = c.get(f"/cycle/applications/{ids['app-e1']}").text
    assert "无权访问" in page or "not accessible" in page
    assert f"/cycle/applications/{ids['app-e1']}\"" not in c.get("/cycle/").text


def test_cycle_bench_cli_small():
    from srdi.cli.app import app as cli

    res = CliRunner().invoke(cli, ["cycle-bench", "--n", "300", "--reviewers", "20"])
    assert res.exit_code == 0, res.output
    last = res.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"cycle: n=300 certified=(\d+) rejected=(\d+) lost=0 audit_ok=true p99_ms=[\d.]+", last)
    assert m, last
    assert int(m.group(1)) + int(m.group(2)) == 300 and int(m.group(1)) > 150


def test_mounted_in_the_web_app(site):
    """The web app (srdi.web.app.create_app) mounts this router: pages and API work there too."""
    app_mod = pytest.importorskip("srdi.web.app")
    _app, ids, _ = site
    c = TestClient(app_mod.create_app())
    r = c.get("/cycle/")
    assert r.status_code == 200 and 'name="password"' in r.text
    r = c.get("/api/v1/cycle/me")
    assert r.status_code == 401 and "not logged in" in r.text
    r = c.post("/api/v1/cycle/login", json={"username": "admin-js", "password": DEMO_PASSWORD})
    assert r.status_code == 200
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    r = c.post(f"/api/v1/cycle/applications/{ids['app-e1']}/decision", json={"action": "approve"}, headers=h)
    assert r.status_code == 409 and "approve" in r.text and "in_review" in r.text


def test_bench_in_process_asgi_mode():
    from srdi.workflow import bench

    r = bench.run(20, reviewers=4, server="asgi", log=lambda m: None)
    assert r["lost"] == 0 and r["audit_ok"] and r["errors"] == 0 and r["requests"] > 20
