"""Every role against every resource, over the HTTP API: no access across enterprises or provinces."""
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from srdi.workflow.db import Store, set_store
from srdi.workflow.synth import DEMO_PASSWORD, seed_demo

API = "/api/v1/cycle"
USERS = ["ent-e1", "ent-e3", "rev-js1", "rev-gd1", "rev-nat1", "admin-js", "admin-gd", "miit"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from srdi.workflow.web import router

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('acc') / 'c.db'}").init()
    ids = seed_demo(store)
    set_store(store)
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as c:
        tokens = {}
        for u in USERS:
            r = c.post(f"{API}/login", json={"username": u, "password": DEMO_PASSWORD})
            assert r.status_code == 200, r.text
            tokens[u] = r.json()["token"]
        c.cookies.clear()
        yield c, ids, tokens
    set_store(None)
    store.dispose()


def get(world, user, path):
    c, _ids, tokens = world
    return c.get(API + path, headers={"Authorization": f"Bearer {tokens[user]}"})


# resource -> path template, and the users who may read it
RESOURCES = {
    "application_e1": ("/applications/{app-e1}", {"ent-e1", "rev-js1", "admin-js", "miit"}),
    "application_e3": ("/applications/{app-e3}", {"ent-e3", "rev-gd1", "admin-gd", "miit"}),
    "reviews_e1": ("/applications/{app-e1}/reviews", {"ent-e1", "rev-js1", "admin-js", "miit"}),
    "reviews_e3": ("/applications/{app-e3}/reviews", {"ent-e3", "rev-gd1", "admin-gd", "miit"}),
    "enterprise_e1": ("/enterprises/{e1}", {"ent-e1", "admin-js", "miit"}),
    "enterprise_e3": ("/enterprises/{e3}", {"ent-e3", "admin-gd", "miit"}),
    "certification_e2": ("/certifications/{cert-e2}", {"admin-js", "miit"}),
    "certification_e3": ("/certifications/{cert-e3}", {"ent-e3", "admin-gd", "miit"}),
    "audit_app_e1": ("/audit?entity=application&entity_id={app-e1}", {"admin-js", "miit"}),
    "audit_app_e3": ("/audit?entity=application&entity_id={app-e3}", {"admin-gd", "miit"}),
    "audit_all": ("/audit", {"miit"}),
    "audit_verify": ("/audit/verify", {"miit"}),
    "dashboard": ("/dashboard", {"admin-js", "admin-gd", "miit"}),
    "dashboard_xlsx": ("/dashboard.xlsx", {"admin-js", "admin-gd", "miit"}),
    "review_tasks": ("/reviews/tasks", {"rev-js1", "rev-gd1", "rev-nat1"}),
}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_read_matrix(world, user, resource):
    path, allowed = RESOURCES[resource]
    r = get(world, user, path.format(**world[1]))
    if user in allowed:
        assert r.status_code == 200, (user, resource, r.text)
    else:
        assert r.status_code in (403, 404), (user, resource, r.status_code, r.text)


@pytest.mark.parametrize("user", USERS)
def test_lists_are_scoped(world, user):
    ids = world[1]
    apps = {a["id"] for a in get(world, user, "/applications").json()}
    ents = {e["id"] for e in get(world, user, "/enterprises").json()}
    certs = {c["id"] for c in get(world, user, "/certifications").json()}
    expect_apps = {"ent-e1": {ids["app-e1"]}, "ent-e3": {ids["app-e3"]}, "rev-js1": {ids["app-e1"], ids["app-e2"]},
                   "rev-gd1": {ids["app-e3"]}, "rev-nat1": set(), "admin-js": {ids["app-e1"], ids["app-e2"]},
                   "admin-gd": {ids["app-e3"]}, "miit": {ids["app-e1"], ids["app-e2"], ids["app-e3"]}}[user]
    assert apps == expect_apps
    expect_ents = {"ent-e1": {ids["e1"]}, "ent-e3": {ids["e3"]}, "admin-js": {ids["e1"], ids["e2"]},
                   "admin-gd": {ids["e3"]}, "miit": {ids["e1"], ids["e2"], ids["e3"]}}.get(user, set())
    assert ents == expect_ents
    expect_certs = {"ent-e3": {ids["cert-e3"]}, "admin-js": {ids["cert-e2"]}, "admin-gd": {ids["cert-e3"]},
                    "miit": {ids["cert-e2"], ids["cert-e3"]}}.get(user, set())
    assert certs == expect_certs


# writes: (user, method path, body) that must be refused
WRITES = [
    ("ent-e3", "/applications/{app-e1}/submit", {}),
    ("ent-e3", "/applications/{app-e1}/withdraw", {}),
    ("ent-e1", "/applications/{app-e1}/score", {"score": 90}),
    ("rev-gd1", "/applications/{app-e1}/score", {"score": 90}),
    ("rev-nat1", "/applications/{app-e1}/score", {"score": 90}),
    ("admin-gd", "/applications/{app-e1}/decision", {"action": "approve"}),
    ("ent-e1", "/applications/{app-e1}/decision", {"action": "approve"}),
    ("rev-js1", "/applications/{app-e1}/decision", {"action": "approve"}),
    ("admin-gd", "/enterprises/{e1}/revoke", {"reason": "data_fraud"}),
    ("ent-e1", "/enterprises/{e1}/revoke", {"reason": "data_fraud"}),
    ("ent-e3", "/certifications/{cert-e2}/annual-update", {"profile": {"name": "x"}}),
    ("admin-gd", "/enterprises", {"name": "新企业", "province": "320000"}),
    ("ent-e1", "/users", {"username": "x1", "password": "password123", "role": "reviewer"}),
    ("admin-js", "/users", {"username": "x2", "password": "password123", "role": "national_admin"}),
    ("admin-gd", "/users", {"username": "x3", "password": "password123", "role": "enterprise", "enterprise_id": "{e1}"}),
    ("rev-js1", "/import", None),
    ("ent-e1", "/goals", {"province": "320000", "tier": "srdi_sme", "year": 2025, "goal": 10}),
    ("admin-gd", "/goals", {"province": "320000", "tier": "srdi_sme", "year": 2025, "goal": 10}),
]


@pytest.mark.parametrize("user,path,body", WRITES)
def test_write_refused(world, user, path, body):
    c, ids, tokens = world
    if isinstance(body, dict):
        body = {k: (int(v.format(**ids)) if isinstance(v, str) and v.startswith("{") else v) for k, v in body.items()}
    h = {"Authorization": f"Bearer {tokens[user]}"}
    if body is None:
        r = c.post(API + path.format(**ids), content=b"name,uscc,tier,batch,year\n", headers=h)
    else:
        r = c.post(API + path.format(**ids), json=body, headers=h)
    assert r.status_code in (403, 404), (user, path, r.status_code, r.text)


def test_blind_review(world):
    """A reviewer sees only its own score, never the others'."""
    c, ids, tokens = world
    h = {"Authorization": f"Bearer {tokens['rev-js1']}"}
    r = c.post(f"{API}/applications/{ids['app-e1']}/score", json={"score": 77, "comment": "ok"}, headers=h)
    assert r.status_code == 200, r.text
    mine = get(world, "rev-js1", f"/applications/{ids['app-e1']}/reviews").json()
    assert len(mine) == 1 and mine[0]["score"] == 77
    assert len(get(world, "admin-js", f"/applications/{ids['app-e1']}/reviews").json()) == 3
    assert get(world, "ent-e1", f"/applications/{ids['app-e1']}/reviews").json() == []  # still in review
    again = c.post(f"{API}/applications/{ids['app-e1']}/score", json={"score": 10}, headers=h)
    assert again.status_code == 409 and "already" in again.json()["detail"]


def test_unauthenticated_and_csrf(world):
    c, ids, tokens = world
    assert c.get(f"{API}/applications").status_code == 401
    assert c.get(f"{API}/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    r = c.post(f"{API}/login", json={"username": "ent-e1", "password": "wrong-password"})
    assert r.status_code == 401
    # cookie session: writes need the CSRF token
    c2 = TestClient(c.app)
    r = c2.post(f"{API}/login", json={"username": "ent-e1", "password": DEMO_PASSWORD})
    csrf = r.json()["csrf_token"]
    assert c2.get(f"{API}/me").json()["username"] == "ent-e1"
    r = c2.post(f"{API}/applications", json={"tier": "srdi_sme", "year": 2025})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = c2.post(f"{API}/applications", json={"tier": "srdi_sme", "year": 2025}, headers={"X-CSRF-Token": "bad"})
    assert r.status_code == 403
    r = c2.post(f"{API}/applications", json={"tier": "srdi_sme", "year": 2025}, headers={"X-CSRF-Token": csrf})
    assert r.status_code in (201, 422), r.text  # 422 only if the regime on today's date lacks the tier
