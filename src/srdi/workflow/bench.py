"""`srdi cycle-bench --n N`: N synthetic applications through the whole cycle on a fresh database.

Phases (dates simulated, criteria §1.9):
  1. accounts: a national admin, a provincial admin per province used, R reviewers (national pool
     plus provincial pools), N enterprises, each with an application (tier mix 60/30/10 innovative /
     SRDI / little giant; ~10% built to fail the pre-check);
  2. submission and automatic pre-check (the engine's table backend; the profile and the result are
     frozen with each application) and the random reviewer draw;
  3. R concurrent reviewers over HTTP (Bearer sessions), each fetching its tasks and scoring them
     (blind): by default against a real uvicorn server on 127.0.0.1 in a subprocess (one worker; one
     keep-alive connection per reviewer), or (--server asgi) through an in-process ASGI test client; with
     --think-ms a reviewer pauses (exponential, that mean) before each score, as people do; with 0
     they fire back to back (a closed loop: latency = concurrency / throughput);
  4. provincial decisions / recommendations, national review of little giants;
  5. publicity (7 days) with objections on ~1% (half upheld), then certification;
  6. a sample of certified firms: data fraud found -> all titles revoked and a 3-year bar.
Then every application must be in a final state and the audit chain must verify.
Last line: cycle: n=<N> certified=<k> rejected=<k> lost=<k> audit_ok=<true|false> p99_ms=<reviewer p99>
"""
from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Optional

from sqlalchemy import func, select

BENCH_PROVINCES = ("320000", "440000", "330000", "370000", "110000", "420000", "310000", "340000")
PASSWORD = "bench-password-1"
D_SUBMIT = dt.date(2025, 6, 1)
D_DECIDE = dt.date(2025, 7, 1)


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def run(n: int, reviewers: int = 100, db_url: Optional[str] = None, seed: int = 7, chunk: int = 500, think_ms: float = 0.0,
        server: str = "auto",
        log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> dict:
    from . import audit, roles, service
    from .db import Store, set_store, upgrade
    from .models import Application, Review, User
    from .synth import make_profile

    rng = random.Random(seed)
    tmp = None
    if db_url is None:
        tmp = tempfile.mkdtemp(prefix="srdi-cycle-bench-")
        db_url = f"sqlite:///{os.path.join(tmp, 'cycle.db')}"
    store = Store(db_url)
    if store.dialect != "sqlite":  # a fresh schema on a server database
        from alembic import command

        from .db import alembic_config

        command.downgrade(alembic_config(store.engine), "base")
    upgrade(store.engine)
    set_store(store)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    # -- 1. accounts
    with store.session() as s:
        na = roles.create_user(s, "miit", PASSWORD, "national_admin", display_name="工信部")
        pas = {p: roles.create_user(s, f"admin-{p}", PASSWORD, "provincial_admin", province=p) for p in BENCH_PROVINCES}
        n_nat = max(3, reviewers // 5)
        rev_users = []
        for i in range(reviewers):
            prov = None if i < n_nat else BENCH_PROVINCES[(i - n_nat) % len(BENCH_PROVINCES)]
            rev_users.append(roles.create_user(s, f"reviewer-{i:03d}", PASSWORD, "reviewer", province=prov))
    ent_hash = roles.hash_password(PASSWORD)  # one hash shared by the synthetic enterprise accounts
    log(f"bench: accounts ({reviewers} reviewers) {time.perf_counter() - t0:.1f}s")

    # -- 1+2. enterprises, applications, submission, pre-check, reviewer draw
    t1 = time.perf_counter()
    tiers = ["innovative_sme"] * 6 + ["srdi_sme"] * 3 + ["little_giant"]
    plan = [(i, BENCH_PROVINCES[rng.randrange(len(BENCH_PROVINCES))], rng.choice(tiers), rng.random() < 0.10)
            for i in range(n)]
    for part in _chunks(plan, chunk):
        with store.session() as s:
            apps = []
            for i, prov, tier, fail in part:
                prof = make_profile(i, prov, tier, rng, fail)
                e = service.create_enterprise(s, na, prof["name"], prov, prof["uscc"])
                u = roles.create_user(s, f"ent-{i:06d}", "", "enterprise", enterprise_id=e.id, password_hash=ent_hash, actor=na.ref())
                a = service.create_application(s, u, e.id, tier, 2025, prof, batch="7" if tier == "little_giant" else "2025-1",
                                               on=D_SUBMIT)
                service.submit(s, u, a.id, on=D_SUBMIT, precheck=False)
                apps.append(a)
            service.precheck_many(s, apps, on=D_SUBMIT)
    timings["submit_precheck_s"] = time.perf_counter() - t1
    with store.read() as s:
        in_review = s.execute(select(func.count()).select_from(Application).where(Application.status == "in_review")).scalar_one()
        n_reviews = s.execute(select(func.count()).select_from(Review)).scalar_one()
    log(f"bench: {n} submitted, {in_review} passed pre-check, {n_reviews} reviews drawn ({timings['submit_precheck_s']:.1f}s)")

    # -- 3. concurrent reviewers over HTTP
    lat: list[float] = []
    lat_lock = threading.Lock()
    errors: list[str] = []
    t2 = time.perf_counter()
    with _server(server, db_url, log) as (make_client, shared):
        tokens = []
        c0 = make_client()
        for ru in rev_users:
            r = c0.post("/api/v1/cycle/login", json={"username": ru.username, "password": PASSWORD})
            r.raise_for_status()
            tokens.append(r.json()["token"])
        c0.cookies.clear()
        start = threading.Barrier(len(tokens))

        def reviewer(tok: str, wseed: int):
            wr = random.Random(wseed)
            client = c0 if shared else make_client()
            h = {"Authorization": f"Bearer {tok}"}
            mine: list[float] = []
            start.wait()
            if think_ms:  # people do not all click at the same instant
                time.sleep(wr.uniform(0, think_ms / 1000.0))
            while True:
                q0 = time.perf_counter()
                try:
                    r = client.get("/api/v1/cycle/reviews/tasks", params={"limit": 20}, headers=h)
                except Exception as e:  # httpx.TransportError: try again
                    errors.append(f"tasks: {type(e).__name__}: {e}")
                    if len(errors) > 1000:
                        break
                    continue
                mine.append(time.perf_counter() - q0)
                if r.status_code != 200:
                    errors.append(f"tasks {r.status_code} {r.text[:200]}")
                    break
                tasks = r.json()
                if not tasks:
                    break
                for tk in tasks:
                    if think_ms:
                        time.sleep(wr.expovariate(1.0 / (think_ms / 1000.0)))
                    score = wr.choice((52, 58, 64, 70, 75, 80, 85, 90))
                    for attempt in (1, 2):  # one retry on a dropped connection (the server refuses a double score)
                        q0 = time.perf_counter()
                        try:
                            r = client.post(f"/api/v1/cycle/applications/{tk['application_id']}/score",
                                            json={"score": score, "comment": "synthetic"}, headers=h)
                        except Exception as e:  # httpx.TransportError
                            errors.append(f"score: {type(e).__name__}: {e}")
                            continue
                        mine.append(time.perf_counter() - q0)
                        if r.status_code != 200 and not (attempt == 2 and r.status_code == 409):
                            errors.append(f"score {r.status_code} {r.text[:200]}")
                        break
            if not shared:
                client.close()
            with lat_lock:
                lat.extend(mine)

        threads = [threading.Thread(target=reviewer, args=(tok, seed * 1000 + i)) for i, tok in enumerate(tokens)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    timings["review_s"] = time.perf_counter() - t2
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else 0.0
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    log(f"bench: reviews {len(lat)} requests by {len(tokens)} concurrent reviewers in {timings['review_s']:.1f}s "
        f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {len(errors)})")
    for e in errors[:5]:
        log(f"  error: {e}")

    # -- 4. provincial decisions, national review
    t3 = time.perf_counter()

    def ids(status: str) -> list[int]:
        with store.read() as s:
            return list(s.execute(select(Application.id).where(Application.status == status).order_by(Application.id)).scalars())

    for part in _chunks(ids("scored"), chunk):
        with store.session() as s:
            for aid in part:
                a = s.get(Application, aid)
                pa = s.get(User, pas[a.province].id)
                ok = (a.mean_score or 0) >= 60
                act = ("recommend" if a.tier == "little_giant" else "approve") if ok else "reject"
                service.decide(s, pa, aid, act, "" if ok else "mean score below 60 / 平均分低于 60", on=D_DECIDE)
    for part in _chunks(ids("national_review"), chunk):
        with store.session() as s:
            nau = s.get(User, na.id)
            for aid in part:
                service.decide(s, nau, aid, "approve", on=D_DECIDE)

    # -- 5. publicity with objections, then certification
    pub = ids("publicity")
    objected = set(rng.sample(pub, max(1, len(pub) // 100))) if pub else set()
    with store.session() as s:
        for aid in objected:
            o = service.file_objection(s, None, aid, "群众反映数据不实 / reported inaccurate data", on=D_DECIDE + dt.timedelta(days=3),
                                       filed_by="public")
            a = s.get(Application, aid)
            admin = s.get(User, na.id if a.tier == "little_giant" else pas[a.province].id)
            service.resolve_objection(s, admin, o.id, upheld=rng.random() < 0.5, note="核查 / checked")
    d_close = D_DECIDE + dt.timedelta(days=8)
    for part in _chunks(ids("publicity"), chunk):
        with store.session() as s:
            for aid in part:
                a = s.get(Application, aid)
                admin = s.get(User, na.id if a.tier == "little_giant" else pas[a.province].id)
                service.close_publicity(s, admin, aid, on=d_close)

    # -- 6. data fraud found at a few certified firms: all titles revoked, 3-year bar
    with store.read() as s:
        cert_ents = list(s.execute(select(Application.enterprise_id).where(Application.status == "certified")).scalars())
    frauds = rng.sample(cert_ents, min(len(cert_ents), max(1, n // 500))) if cert_ents else []
    with store.session() as s:
        nau = s.get(User, na.id)
        for eid in frauds:
            service.revoke(s, nau, eid, "data_fraud", "synthetic: data fraud found", on=d_close + dt.timedelta(days=60))
    timings["decide_publicity_s"] = time.perf_counter() - t3

    # -- check
    t4 = time.perf_counter()
    with store.read() as s:
        counts = dict(s.execute(select(Application.status, func.count()).group_by(Application.status)).all())
        ver = audit.verify(s)
    timings["verify_s"] = time.perf_counter() - t4
    certified = counts.get("certified", 0) + counts.get("renewed", 0)
    rejected = counts.get("rejected", 0)
    lost = sum(v for k, v in counts.items() if k not in ("certified", "renewed", "rejected", "withdrawn"))
    log(f"bench: statuses {counts}; audit entries {ver.entries} ({timings['verify_s']:.1f}s verify); "
        f"total {time.perf_counter() - t0:.1f}s; db {store.dialect}")
    for p in ver.problems[:5]:
        log(f"  audit: {p}")
    set_store(None)
    store.dispose()
    res = {"n": n, "certified": certified, "rejected": rejected, "lost": lost, "audit_ok": ver.ok, "p99_ms": p99,
           "p50_ms": p50, "requests": len(lat), "errors": len(errors), "audit_entries": ver.entries, "timings": timings,
           "revoked_for_fraud": len(frauds), "db": store.dialect, "think_ms": think_ms, "server": server,
           "reviewers": reviewers}
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return res


def bench_app():
    """The app the uvicorn bench server runs (factory): the cycle router alone."""
    from fastapi import FastAPI

    from .web import router

    app = FastAPI()
    app.include_router(router)
    return app


@contextmanager
def _server(kind: str, db_url: str, log):
    """Yields (make_client, shared). 'uvicorn': a real HTTP server on 127.0.0.1 in a subprocess
    (one worker), one keep-alive httpx client per reviewer; 'asgi': the app in this process behind
    one shared ASGI test client (one event loop). 'auto': uvicorn when installed."""
    if kind == "auto":
        try:
            import uvicorn  # noqa: F401

            kind = "uvicorn"
        except ImportError:
            kind = "asgi"
    if kind == "asgi":
        from fastapi.testclient import TestClient

        with TestClient(bench_app()) as client:
            yield (lambda: client), True
        return
    import socket
    import subprocess

    import httpx

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    env = dict(os.environ, SRDI_DB_URL=db_url)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "srdi.workflow.bench:bench_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
                             "--timeout-keep-alive", "300"],
                            env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/cycle/me", timeout=1).status_code == 401:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("bench server exited")
            time.sleep(0.1)
        log(f"bench: uvicorn server pid {proc.pid} on {base}")
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        yield (lambda: httpx.Client(base_url=base, timeout=60, limits=limits)), False
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def line(r: dict) -> str:
    return (f"cycle: n={r['n']} certified={r['certified']} rejected={r['rejected']} lost={r['lost']} "
            f"audit_ok={'true' if r['audit_ok'] else 'false'} p99_ms={r['p99_ms']:.1f}")
