"""The cycle on PostgreSQL (scripts/ci-setup.d/40-postgres.sh sets SRDI_TEST_PG_URL).
These tests share one database, so scripts/test.sh runs this module on its own, serially.

Skipped only when SRDI_TEST_PG_URL is unset AND not in CI; in CI (CI=true) a missing PostgreSQL fails."""
import datetime as dt
import os
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

PG_URL = os.environ.get("SRDI_TEST_PG_URL")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")

pytestmark = [
    pytest.mark.skipif(not PG_URL and not IN_CI,
                       reason="SRDI_TEST_PG_URL unset (run: source scripts/ci-setup.d/40-postgres.sh)"),
]


def test_pg_configured():
    assert PG_URL, "CI is set but SRDI_TEST_PG_URL is not: scripts/ci-setup.d/40-postgres.sh did not provide PostgreSQL"


@pytest.fixture(scope="module")
def store():

    from srdi.workflow.db import Store, current_revision

    assert PG_URL, "SRDI_TEST_PG_URL is not set"
    st = Store(PG_URL)
    # start from an empty schema whatever an earlier run (or the bench) left behind
    with st.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    st.init()
    assert current_revision(st.engine) == "0001"
    yield st
    st.dispose()


def test_pg_cycle_concurrency_and_audit(store):
    """A seeded world; then many applications whose 3 reviewers score at the same moment from
    threads: every application must reach 'scored' exactly once and the chain stay gapless."""
    import random

    from srdi.workflow import audit, service
    from srdi.workflow.models import Application, Review, User
    from srdi.workflow.synth import make_profile, seed_demo

    D = dt.date(2025, 6, 1)
    ids = seed_demo(store, D)
    rng = random.Random(5)
    app_ids = []
    with store.session() as s:
        ent = s.get(User, ids["ent-e1"])
        for i in range(12):
            a = service.create_application(s, ent, ids["e1"], "srdi_sme", 2025, make_profile(100 + i, "320000", "srdi_sme", rng), on=D)
            service.submit(s, ent, a.id, on=D)
            app_ids.append(a.id)
    with store.read() as s:
        jobs = [(r.application_id, r.reviewer_id) for r in s.query(Review).filter(Review.application_id.in_(app_ids))]
    assert len(jobs) == 36
    barrier = threading.Barrier(len(jobs))
    errors = []

    def work(aid, rid):
        barrier.wait()
        try:
            with store.session() as s:
                service.submit_score(s, s.get(User, rid), aid, 72)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ths = [threading.Thread(target=work, args=j) for j in jobs]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors[:3]
    with store.read() as s:
        st = {a.status for a in s.query(Application).filter(Application.id.in_(app_ids))}
        assert st == {"scored"}
        n_complete = s.execute(text("SELECT count(*) FROM wf_audit WHERE action='application.scores_complete'")).scalar_one()
        assert n_complete == 12 + 1  # + the seeded E2
        r = audit.verify(s)
        assert r.ok, r.problems


def test_pg_audit_is_append_only(store):
    for sql in ("UPDATE wf_audit SET actor='x' WHERE seq=1", "DELETE FROM wf_audit WHERE seq=1"):
        with pytest.raises(DatabaseError, match="append-only"):
            with store.session() as s:
                s.execute(text(sql))


def test_pg_bench_small():
    from srdi.workflow import bench

    r = bench.run(40, reviewers=6, db_url=PG_URL, log=lambda m: None)
    assert r["lost"] == 0 and r["audit_ok"] and r["errors"] == 0
    assert r["certified"] + r["rejected"] == 40
    assert bench.line(r).startswith("cycle: n=40 certified=")


def test_pg_hot_path_concurrent_scores_and_appends(store):
    """The reviewers' plain-SQL path on PostgreSQL: three reviewers of each application score at the
    same moment (application row FOR UPDATE, then the head row FOR UPDATE), while other threads append
    through the ORM session: every application is scored exactly once and the chain has no gaps."""
    import random

    from srdi.workflow import audit, roles, service
    from srdi.workflow.models import Application, AuditEntry, Review, User
    from srdi.workflow.synth import make_profile

    from srdi.workflow.synth import seed_demo

    D = dt.date(2025, 6, 1)
    with store.engine.begin() as conn:  # a fresh world (the bench test before reset the schema)
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    store.init()
    ids = seed_demo(store, D)
    rng = random.Random(9)
    with store.session() as s:
        ent = s.get(User, ids["ent-e1"])
        app_ids = []
        for i in range(8):
            a = service.create_application(s, ent, ent.enterprise_id, "srdi_sme", 2025,
                                           make_profile(300 + i, "320000", "srdi_sme", rng), on=D)
            service.submit(s, ent, a.id, on=D)
            app_ids.append(a.id)
    with store.read() as s:
        jobs = [(r.application_id, s.get(User, r.reviewer_id).username)
                for r in s.query(Review).filter(Review.application_id.in_(app_ids))]
    tokens = {}
    with store.session() as s:
        for name in {n for _a, n in jobs}:
            from srdi.workflow.synth import DEMO_PASSWORD

            tokens[name] = roles.login(s, name, DEMO_PASSWORD)[0]
    errors = []
    barrier = threading.Barrier(len(jobs) + 4)

    def score(aid, name):
        barrier.wait()
        try:
            with store.hot_write() as raw:
                u, _csrf = roles.principal_raw(raw, tokens[name])
                service.submit_score_core(raw, u, aid, 66)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    def other(k):
        barrier.wait()
        try:
            for i in range(5):
                with store.session() as s:
                    audit.append(s, "system", "test.pg", "test", f"{k}-{i}")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ths = [threading.Thread(target=score, args=j) for j in jobs] + [threading.Thread(target=other, args=(k,)) for k in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    assert not errors, errors[:3]
    with store.read() as s:
        assert {a.status for a in s.query(Application).filter(Application.id.in_(app_ids))} == {"scored"}
        assert all(a.mean_score == 66 for a in s.query(Application).filter(Application.id.in_(app_ids)))
        n = s.execute(text("SELECT count(*) FROM wf_audit WHERE action='application.scores_complete' "
                           "AND entity_id IN (%s)" % ",".join(f"'{i}'" for i in app_ids))).scalar_one()
        assert n == len(app_ids)
        r = audit.verify(s)
        assert r.ok, r.problems
        seqs = [x for (x,) in s.query(AuditEntry.seq).order_by(AuditEntry.seq)]
        assert seqs == list(range(1, len(seqs) + 1))
