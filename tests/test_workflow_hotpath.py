"""The reviewers' hot paths (plain-SQL session lookup, task list and score), the bulk submission
path, and the audit chain under concurrent writers (threads, two stores, separate processes,
savepoints). No timings: only that what is written is the same and the chain stays valid."""
import datetime as dt
import json
import os
import subprocess
import sys
import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from srdi.workflow import audit, roles, service
from srdi.workflow.db import Store, set_store
from srdi.workflow.models import Application, AuditEntry, Review, User
from srdi.workflow.synth import DEMO_PASSWORD, make_profile, make_uscc, seed_demo

API = "/api/v1/cycle"
D = dt.date(2025, 6, 1)


@pytest.fixture()
def world(tmp_path):
    from srdi.workflow.web import router

    store = Store(f"sqlite:///{tmp_path / 'c.db'}").init()
    ids = seed_demo(store, D)
    set_store(store)
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as c:
        yield c, store, ids
    set_store(None)
    store.dispose()


def _login(c, user):
    r = c.post(f"{API}/login", json={"username": user, "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _reviewers(store, app_id):
    with store.read() as s:
        return [s.get(User, r.reviewer_id).username
                for r in s.execute(select(Review).where(Review.application_id == app_id).order_by(Review.id)).scalars()]


def _entries(store, app_id, review_ids):
    with store.read() as s:
        rows = s.execute(select(AuditEntry).where(
            ((AuditEntry.entity == "application") & (AuditEntry.entity_id == str(app_id)))
            | ((AuditEntry.entity == "review") & AuditEntry.entity_id.in_([str(i) for i in review_ids])))
            .order_by(AuditEntry.seq)).scalars().all()
        return [(e.actor.split(":")[0], e.action, json.loads(e.before) if e.before else None,
                 json.loads(e.after) if e.after else None) for e in rows]


def _new_in_review(store, ids, n=2):
    """n more SRDI applications of E1 in review (the seeded one is kept for other tests)."""
    import random

    rng = random.Random(3)
    out = []
    with store.session() as s:
        ent = s.get(User, ids["ent-e1"])
        for i in range(n):
            a = service.create_application(s, ent, ids["e1"], "srdi_sme", 2025, make_profile(50 + i, "320000", "srdi_sme", rng), on=D)
            service.submit(s, ent, a.id, on=D)
            assert a.status == "in_review", a.status
            out.append(a.id)
    return out


def test_fast_score_writes_what_submit_score_writes(world):
    """One application scored over HTTP (the fast path), its twin through service.submit_score (ORM):
    the same states, scores, mean and audit entries (actors, actions, before/after)."""
    c, store, ids = world
    fast_id, orm_id = _new_in_review(store, ids, 2)
    for (aid, via_http) in ((fast_id, True), (orm_id, False)):
        for k, name in enumerate(_reviewers(store, aid)):
            score = (60, 71, 88)[k]
            if via_http:
                r = c.post(f"{API}/applications/{aid}/score", json={"score": score, "comment": "c"}, headers=_login(c, name))
                assert r.status_code == 200, r.text
                assert r.json()["application_id"] == aid and r.json()["score"] == score
            else:
                with store.session() as s:
                    u = s.execute(select(User).where(User.username == name)).scalar_one()
                    service.submit_score(s, u, aid, score, None, "c")
    with store.read() as s:
        a, b = s.get(Application, fast_id), s.get(Application, orm_id)
        assert (a.status, a.mean_score, a.version) == (b.status, b.mean_score, b.version) == ("scored", (60 + 71 + 88) / 3, b.version)
        ra = s.execute(select(Review).where(Review.application_id == fast_id).order_by(Review.id)).scalars().all()
        rb = s.execute(select(Review).where(Review.application_id == orm_id).order_by(Review.id)).scalars().all()
        assert [(r.score, r.recommend, r.comment) for r in ra] == [(r.score, r.recommend, r.comment) for r in rb]
        assert all(isinstance(r.submitted_at, dt.datetime) for r in ra + rb)
        assert audit.verify(s).ok
        ra, rb = [r.id for r in ra], [r.id for r in rb]
    ea = [e for e in _entries(store, fast_id, ra) if e[1] in ("review.score", "application.scores_complete")]
    eb = [e for e in _entries(store, orm_id, rb) if e[1] in ("review.score", "application.scores_complete")]
    strip = lambda es: [(x, act, bef, {k: v for k, v in (aft or {}).items() if k != "application_id"}) for x, act, bef, aft in es]  # noqa: E731
    assert strip(ea) == strip(eb)
    assert [e[1] for e in ea] == ["review.score"] * 3 + ["application.scores_complete"]


def test_fast_paths_refuse_as_before(world):
    c, store, ids = world
    aid = ids["app-e1"]
    names = _reviewers(store, aid)
    outsider = next(n for n in ("rev-gd1", "rev-nat1", "rev-js1", "rev-js2", "rev-js3") if n not in names)
    h = _login(c, names[0])
    assert c.post(f"{API}/applications/{aid}/score", json={"score": 70}).status_code == 401
    assert c.post(f"{API}/applications/{aid}/score", json={"score": 70},
                  headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert c.post(f"{API}/applications/{aid}/score", json={"score": 101}, headers=h).status_code == 422
    assert c.post(f"{API}/applications/{aid}/score", json={"score": "70"}, headers=h).status_code == 422
    assert c.post(f"{API}/applications/{aid}/score", content=b"{", headers=h).status_code == 422
    assert c.post(f"{API}/applications/abc/score", json={"score": 70}, headers=h).status_code == 422
    assert c.post(f"{API}/applications/999999/score", json={"score": 70}, headers=h).status_code == 404
    assert c.post(f"{API}/applications/{aid}/score", json={"score": 70}, headers=_login(c, outsider)).status_code in (403, 404)
    assert c.post(f"{API}/applications/{aid}/score", json={"score": 70}, headers=_login(c, "admin-js")).status_code == 403
    assert c.get(f"{API}/reviews/tasks", headers=_login(c, "admin-js")).status_code == 403
    assert c.get(f"{API}/reviews/tasks?limit=abc", headers=h).status_code == 422
    assert c.get(f"{API}/reviews/tasks").status_code == 401
    tasks = c.get(f"{API}/reviews/tasks", headers=h).json()
    assert [t["application_id"] for t in tasks] == [aid] and tasks[0]["submitted"] is False
    # a cookie session must send the CSRF token
    c2 = TestClient(c.app)
    r = c2.post(f"{API}/login", json={"username": names[0], "password": DEMO_PASSWORD})
    csrf = r.json()["csrf_token"]
    r = c2.post(f"{API}/applications/{aid}/score", json={"score": 70})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    assert c2.post(f"{API}/applications/{aid}/score", json={"score": 70}, headers={"X-CSRF-Token": "bad"}).status_code == 403
    assert c2.post(f"{API}/applications/{aid}/score", json={"score": 70}, headers={"X-CSRF-Token": csrf}).status_code == 200
    again = c.post(f"{API}/applications/{aid}/score", json={"score": 10}, headers=h)
    assert again.status_code == 409 and "already" in again.json()["detail"]
    done = c.get(f"{API}/reviews/tasks?all=true", headers=h).json()
    assert done[0]["submitted"] is True and done[0]["score"] == 70
    assert c.get(f"{API}/reviews/tasks", headers=h).json() == []
    # a logged-out session is refused at once (the lookup is per request, never cached)
    c.post(f"{API}/logout", headers=h)
    assert c.get(f"{API}/reviews/tasks", headers=h).status_code == 401
    with store.read() as s:
        assert audit.verify(s).ok


def test_chain_stays_valid_with_concurrent_writers_in_two_stores(tmp_path):
    """Two Store objects on one SQLite file (as two server processes: separate in-process locks), each
    with threads writing through the ORM session path and the plain-SQL hot path at once."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    st1 = Store(url).init()
    st2 = Store(url)
    errors = []
    per, nthreads = 15, 3
    barrier = threading.Barrier(2 * 2 * nthreads)

    def orm_writer(st, tag):
        barrier.wait()
        try:
            for i in range(per):
                with st.session() as s:
                    audit.append(s, "system", "test.orm", "test", f"{tag}-{i}", None, {"i": i})
                    audit.append(s, "system", "test.orm2", "test", f"{tag}-{i}", {"i": i}, None)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    def hot_writer(st, tag):
        barrier.wait()
        try:
            for i in range(per):
                with st.hot_write() as raw:
                    audit.write_raw(raw, None, [("system", "test.hot", "test", f"{tag}-{i}", None, {"i": i})])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ths = []
    for st, name in ((st1, "a"), (st2, "b")):
        for k in range(nthreads):
            ths.append(threading.Thread(target=orm_writer, args=(st, f"{name}o{k}")))
            ths.append(threading.Thread(target=hot_writer, args=(st, f"{name}h{k}")))
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors[:3]
    with st1.read() as s:
        r = audit.verify(s)
        seqs = list(s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
    assert r.ok, r.problems
    assert r.entries == 2 * nthreads * per * 3 and seqs == list(range(1, r.entries + 1))
    st1.dispose()
    st2.dispose()


_CHILD = """
import sys
from srdi.workflow import audit
from srdi.workflow.db import Store
st = Store(sys.argv[1])
for i in range(int(sys.argv[3])):
    if i % 2:
        with st.hot_write() as raw:
            audit.write_raw(raw, None, [("system", "test.proc", "test", sys.argv[2] + str(i), None, {"i": i})])
    else:
        with st.session() as s:
            audit.append(s, "system", "test.proc", "test", sys.argv[2] + str(i), None, {"i": i})
st.dispose()
"""


def test_chain_stays_valid_with_writers_in_separate_processes(tmp_path):
    """Three processes append at the same time: the database lock serialises them (SQLite's write lock;
    on PostgreSQL the head row's FOR UPDATE), so the chain has no gaps and verifies."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Store(url).init().dispose()
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, url, f"p{k}-", "40"], env=env) for k in range(3)]
    assert all(p.wait(300) == 0 for p in procs)
    st = Store(url)
    with st.read() as s:
        r = audit.verify(s)
    st.dispose()
    assert r.ok and r.entries == 120, r.problems


def test_rolled_back_savepoint_leaves_no_gap(tmp_path):
    st = Store(f"sqlite:///{tmp_path / 'c.db'}").init()
    with st.session() as s:
        audit.append(s, "system", "one", "test", 1)
        with pytest.raises(RuntimeError):
            with s.begin_nested():
                audit.append(s, "system", "rolled-back", "test", 2)
                raise RuntimeError("undo")
        audit.append(s, "system", "two", "test", 3)
        with s.begin_nested():
            audit.append(s, "system", "three", "test", 4)
        audit.append(s, "system", "four", "test", 5)
    with pytest.raises(RuntimeError):
        with st.hot_write() as raw:
            audit.write_raw(raw, None, [("system", "hot-rolled-back", "test", 6, None, None)])
            raise RuntimeError("undo")
    with st.read() as s:
        r = audit.verify(s)
        acts = list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())
    assert r.ok, r.problems
    assert acts == ["one", "two", "three", "four"]
    st.dispose()


def test_bulk_submission_writes_what_one_by_one_writes(tmp_path):
    """submit_new_many (the bench's path) against create_application + submit one by one: the same
    statuses, assessments, reviewer draws and audit actions for each application."""
    import random

    st = Store(f"sqlite:///{tmp_path / 'c.db'}").init()
    h = roles.hash_password("password-123")
    rng = random.Random(4)
    with st.session() as s:
        na = roles.create_user(s, "miit", "", "national_admin", password_hash=h)
        for i in range(6):
            roles.create_user(s, f"rev{i}", "", "reviewer", province="320000" if i >= 3 else None, password_hash=h)
        plan = [("320000", "srdi_sme", False), ("320000", "innovative_sme", True), ("320000", "little_giant", False)]
        profs = [make_profile(200 + k, p, t, rng, f) for k, (p, t, f) in enumerate(plan)]
        twins = [dict(p, name=p["name"] + "-B", uscc=make_uscc(rng, "320000")) for p in profs]  # same figures
        eids = service.create_enterprises_many(s, na, [(p["name"], "320000", p["uscc"]) for p in profs])
        uids = roles.create_users_many(s, [{"username": f"bulk{k}", "role": "enterprise", "enterprise_id": e,
                                            "password_hash": h} for k, e in enumerate(eids)], actor=na.ref())
        bulk_ids = service.submit_new_many(s, [(s.get(User, u), e, t, 2025, p, "b") for u, e, p, (_pr, t, _f)
                                               in zip(uids, eids, profs, plan)], on=D)
        singles = []
        for k, (tw, (_pr, t, _f)) in enumerate(zip(twins, plan)):
            e = service.create_enterprise(s, na, tw["name"], "320000", tw["uscc"])
            u = roles.create_user(s, f"single{k}", "", "enterprise", enterprise_id=e.id, password_hash=h, actor=na.ref())
            a = service.create_application(s, u, e.id, t, 2025, tw, batch="b", on=D)
            service.submit(s, u, a.id, on=D)  # record_precheck, one by one (the scalar engine)
            singles.append(a)
        assert [a.status for a in singles] == ["in_review", "rejected", "in_review"]
        with pytest.raises(service.WorkflowError, match="already registered"):
            service.create_enterprises_many(s, na, [("X", "320000", profs[0]["uscc"])])
        with pytest.raises(ValueError, match="already exists"):
            roles.create_users_many(s, [{"username": "bulk0", "role": "enterprise", "enterprise_id": eids[0], "password_hash": h}])
    with st.read() as s:
        assert audit.verify(s).ok
        for bid, a in zip(bulk_ids, singles):
            b = s.get(Application, bid)
            assert (b.status, b.precheck_outcome, b.regime) == (a.status, a.precheck_outcome, a.regime)
            nb = s.execute(select(Review).where(Review.application_id == bid)).scalars().all()
            na_ = s.execute(select(Review).where(Review.application_id == a.id)).scalars().all()
            assert len(nb) == len(na_) == (0 if a.status == "rejected" else 3)

            def acts(aid):
                return [(e.action, json.loads(e.before) if e.before else None, json.loads(e.after) if e.after else None)
                        for e in s.execute(select(AuditEntry).where(AuditEntry.entity == "application",
                                                                    AuditEntry.entity_id == str(aid))
                                           .order_by(AuditEntry.seq)).scalars()
                        if e.action not in ("review.draw", "assessment.freeze")]
            assert acts(bid) == acts(a.id)
        n_sub = s.execute(text("SELECT count(*) FROM wf_audit WHERE action='application.submit'")).scalar_one()
        assert n_sub == 6
    st.dispose()

