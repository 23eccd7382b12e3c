"""`srdi cycle-bench --n N`: N synthetic applications through the whole cycle on a fresh database.

Phases (dates simulated, criteria §1.9):
  1. accounts: a national admin, a provincial admin per province used, R reviewers (national pool
     plus provincial pools), N enterprises, each with an application (tier mix 60/30/10 innovative /
     SRDI / little giant; ~10% built to fail the pre-check);
  2. submission and automatic pre-check (the engine's table backend; the profile and the result are
     frozen with each application) and the random reviewer draw, written in bulk (multi-row
     statements; one audit entry per change, as one by one);
  3. R concurrent reviewers over HTTP (Bearer sessions), each fetching its tasks and scoring them
     (blind): by default against a real uvicorn server on 127.0.0.1 in a subprocess (one worker),
     driven by a separate client process (srdi.workflow.benchclient: R asyncio tasks, one keep-alive
     connection each, a minimal HTTP/1.1 client, so the client does not compete with the server for
     CPU); or (--server asgi) threads through an in-process ASGI test client. Load model: closed loop;
     with --think-ms a reviewer pauses (exponential, that mean) before each score, as people do; with
     0 they fire back to back (latency = concurrency / throughput). The server's and the client's CPU
     shares and the load average are printed with the percentiles;
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
    for part in _chunks(plan, chunk):  # in bulk: multi-row statements, one audit entry per change
        profs = [make_profile(i, prov, tier, rng, fail) for i, prov, tier, fail in part]
        with store.session() as s:
            eids = service.create_enterprises_many(s, na, [(p["name"], prov, p["uscc"]) for p, (_i, prov, _t, _f) in zip(profs, part)])
            uids = roles.create_users_many(s, [{"username": f"ent-{i:06d}", "role": "enterprise", "enterprise_id": eid,
                                                "password_hash": ent_hash} for (i, *_r), eid in zip(part, eids)], actor=na.ref())
            items = [(roles.Principal(uid, f"ent-{i:06d}", "enterprise", None, eid, True, ""), eid, tier, 2025, p,
                      "7" if tier == "little_giant" else "2025-1")
                     for (i, _prov, tier, _f), p, eid, uid in zip(part, profs, eids, uids)]
            service.submit_new_many(s, items, on=D_SUBMIT)
    timings["submit_precheck_s"] = time.perf_counter() - t1
    with store.read() as s:
        in_review = s.execute(select(func.count()).select_from(Application).where(Application.status == "in_review")).scalar_one()
        n_reviews = s.execute(select(func.count()).select_from(Review)).scalar_one()
    log(f"bench: {n} submitted, {in_review} passed pre-check, {n_reviews} reviews drawn ({timings['submit_precheck_s']:.1f}s)")

    # -- 3. concurrent reviewers over HTTP
    t2 = time.perf_counter()
    with _server(server, db_url, log) as (make_client, shared, srv):
        tokens = []
        c0 = make_client()
        for ru in rev_users:
            r = c0.post("/api/v1/cycle/login", json={"username": ru.username, "password": PASSWORD})
            r.raise_for_status()
            tokens.append(r.json()["token"])
        c0.cookies.clear()
        load0 = os.getloadavg()[0]
        t2 = time.perf_counter()
        if srv is not None:  # uvicorn: the asyncio client in its own process
            lat, errors, cpu = _drive_async(srv, tokens, think_ms, seed, log)
        else:
            lat, errors, cpu = _drive_threads(c0, tokens, think_ms, seed)
    timings["review_s"] = time.perf_counter() - t2
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else 0.0
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    rps = len(lat) / timings["review_s"] if timings["review_s"] else 0.0
    load = os.getloadavg()[0]
    model = (f"closed loop, {len(tokens)} reviewers back to back (think 0)" if not think_ms else
             f"closed loop, {len(tokens)} reviewers, think time exponential mean {think_ms:g} ms before each score")
    log(f"bench: reviews {len(lat)} requests in {timings['review_s']:.1f}s = {rps:.0f} req/s; p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, errors {len(errors)}; load model: {model}")
    log(f"bench: CPU during the review phase: server {cpu.get('server_cpu_pct', float('nan')):.0f}%, client "
        f"{cpu.get('client_cpu_pct', float('nan')):.0f}% of one core ({os.cpu_count()} cores); load average "
        f"{load0:.2f} -> {load:.2f}")
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
           "reviewers": reviewers, "review_rps": rps, "load_model": model, "loadavg": [load0, load],
           **{k: v for k, v in cpu.items()}}
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return res


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _drive_async(srv: dict, tokens: list[str], think_ms: float, seed: int, log) -> tuple[list, list, dict]:
    """The reviewers as asyncio tasks in a separate process (srdi.workflow.benchclient)."""
    import json
    import subprocess

    with tempfile.TemporaryDirectory(prefix="srdi-bench-client-") as td:
        job = {"host": srv["host"], "port": srv["port"], "tokens": tokens, "think_ms": think_ms, "seed": seed,
               "limit": 20, "out": os.path.join(td, "result.json")}
        s0 = _proc_cpu(srv["pid"])
        w0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "srdi.workflow.benchclient"], input=json.dumps(job),
                             capture_output=True, text=True, check=False)
        wall = time.perf_counter() - w0
        s1 = _proc_cpu(srv["pid"])
        if out.returncode != 0:
            raise RuntimeError(f"bench client failed: {out.stderr[-2000:]}")
        with open(job["out"]) as f:
            res = json.load(f)
    cpu = {"client_cpu_s": res["cpu_s"], "client_cpu_pct": 100 * res["cpu_s"] / max(res["wall_s"], 1e-9),
           "server_cpu_s": s1 - s0, "server_cpu_pct": 100 * (s1 - s0) / max(wall, 1e-9)}
    return res["lat"], res["errors"], cpu


def _drive_threads(client, tokens: list[str], think_ms: float, seed: int) -> tuple[list, list, dict]:
    """The reviewers as threads sharing one in-process ASGI test client (--server asgi)."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(tokens))

    def reviewer(tok: str, wseed: int):
        wr = random.Random(wseed)
        h = {"Authorization": f"Bearer {tok}"}
        mine: list[float] = []
        start.wait()
        if think_ms:  # people do not all click at the same instant
            time.sleep(wr.uniform(0, think_ms / 1000.0))
        while True:
            q0 = time.perf_counter()
            r = client.get("/api/v1/cycle/reviews/tasks", params={"limit": 20}, headers=h)
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
                q0 = time.perf_counter()
                r = client.post(f"/api/v1/cycle/applications/{tk['application_id']}/score",
                                json={"score": wr.choice((52, 58, 64, 70, 75, 80, 85, 90)), "comment": "synthetic"}, headers=h)
                mine.append(time.perf_counter() - q0)
                if r.status_code != 200:
                    errors.append(f"score {r.status_code} {r.text[:200]}")
        with lock:
            lat.extend(mine)

    c0, w0 = time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=reviewer, args=(tok, seed * 1000 + i)) for i, tok in enumerate(tokens)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    cpu_pct = 100 * (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-9)
    return lat, errors, {"process_cpu_pct": cpu_pct, "client_cpu_pct": float("nan"), "server_cpu_pct": cpu_pct}


def bench_app():
    """The app the uvicorn bench server runs (factory): the cycle router alone."""
    from fastapi import FastAPI

    from .web import router

    app = FastAPI()
    app.include_router(router)
    return app


@contextmanager
def _server(kind: str, db_url: str, log):
    """Yields (make_client, shared, server). 'uvicorn': a real HTTP server on 127.0.0.1 in a subprocess
    (one worker, uvloop + httptools when installed); server = {host, port, pid} for the asyncio client
    process; 'asgi': the app in this process behind one shared ASGI test client (server None).
    'auto': uvicorn when installed."""
    if kind == "auto":
        try:
            import uvicorn  # noqa: F401

            kind = "uvicorn"
        except ImportError:
            kind = "asgi"
    if kind == "asgi":
        from fastapi.testclient import TestClient

        with TestClient(bench_app()) as client:
            yield (lambda: client), True, None
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
                             "--timeout-keep-alive", "300", "--no-proxy-headers", "--no-server-header"],
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
        yield (lambda: httpx.Client(base_url=base, timeout=60)), False, {"host": "127.0.0.1", "port": port, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def line(r: dict) -> str:
    return (f"cycle: n={r['n']} certified={r['certified']} rejected={r['rejected']} lost={r['lost']} "
            f"audit_ok={'true' if r['audit_ok'] else 'false'} p99_ms={r['p99_ms']:.1f}")
