#!/usr/bin/env python3
"""Load test of POST /api/v1/assess on loopback: N concurrent clients (asyncio + httpx), bounded
by a request count and a time limit. Prints p50, p99 (ms) and requests/s.

    .venv/bin/python bench/load_assess.py                      # starts `srdi serve --workers 2` itself
    .venv/bin/python bench/load_assess.py --profiles same      # one profile repeated (result cache hits)
    .venv/bin/python bench/load_assess.py --rate 150           # open loop: 150 req/s spread over the clients
    .venv/bin/python bench/load_assess.py --url http://127.0.0.1:8000   # a server already running

Profiles: `distinct` (default) sends a different profile every request (the bundled example with
its name and R&D expense varied), so every request really runs the engine; `same` repeats one.
Only 127.0.0.1 / localhost URLs are accepted.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]


def example_profile() -> dict:
    import yaml

    p = ROOT / "src" / "srdi" / "examples" / "precision_machinery.yaml"
    return json.loads(json.dumps(yaml.safe_load(p.read_text(encoding="utf-8")), default=str))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("srdi")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "srdi"]
    proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(200):
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("server did not start")


async def run(url: str, clients: int, total: int, seconds: float, profiles: str, as_of: str, rate: float | None,
              warmup: int) -> dict:
    import httpx

    base = example_profile()
    counter = 0

    def body() -> bytes:
        nonlocal counter
        counter += 1
        p = base
        if profiles == "distinct":
            p = copy.deepcopy(base)
            p["name"] = f"{base['name']}-{counter}"
            p["financials"]["2025"]["rd_expense"] = 4_100_000 + counter
        return json.dumps({"profile": p, "as_of": as_of, "mode": "application"}, ensure_ascii=False).encode()

    lat: list[float] = []
    server: dict[str, list[float]] = {}
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                 headers={"content-type": "application/json"}) as client:
        for _ in range(warmup):  # warm the workers (imports, rule packs, caches)
            await client.post("/api/v1/assess", content=body())
        deadline = time.perf_counter() + seconds
        sent = 0
        t0 = time.perf_counter()

        async def worker(i: int):
            nonlocal sent, errors
            interval = clients / rate if rate else 0.0
            nxt = t0 + (i * interval / clients if rate else 0.0)
            while sent < total and time.perf_counter() < deadline:
                if rate:
                    delay = nxt - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    nxt += interval
                sent += 1
                data = body()
                s = time.perf_counter()
                try:
                    r = await client.post("/api/v1/assess", content=data)
                    ok = r.status_code == 200
                    for part in r.headers.get("server-timing", "").split(","):
                        name, _, dur = part.strip().partition(";dur=")
                        if dur:
                            server.setdefault(name, []).append(float(dur))
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - s) * 1000)
                errors += not ok

        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) >= 2 else [lat[0]] * 99
    return {"requests": len(lat), "errors": errors, "seconds": round(elapsed, 2),
            "p50_ms": round(q[49], 2), "p99_ms": round(q[98], 2), "max_ms": round(lat[-1], 2),
            "requests_per_s": round(len(lat) / elapsed, 1),
            # server-side milliseconds per request (Server-Timing): where the time goes
            "server_ms_median": {k: round(statistics.median(v), 2) for k, v in server.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (loopback only); default: start one")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn workers of the server started here")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=3000, help="stop after this many requests")
    ap.add_argument("--seconds", type=float, default=20, help="stop after this long")
    ap.add_argument("--profiles", choices=["distinct", "same"], default="distinct")
    ap.add_argument("--rate", type=float, help="open loop: total requests/s (default: closed loop, back to back)")
    ap.add_argument("--as-of", default="2026-06-01")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    proc = None
    if a.url:
        host = urlparse(a.url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load tests run on loopback only (127.0.0.1)")
        url = a.url.rstrip("/")
    else:
        proc, url = start_server(a.workers)
    try:
        res = asyncio.run(run(url, a.clients, a.requests, a.seconds, a.profiles, a.as_of, a.rate, a.warmup))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    res.update({"clients": a.clients, "profiles": a.profiles, "rate": a.rate,
                "workers": None if a.url else a.workers, "cpus": os.cpu_count()})
    if a.json:
        print(json.dumps(res))
    else:
        print(f"POST /api/v1/assess  clients={a.clients} profiles={a.profiles} "
              f"{'rate=%s/s' % a.rate if a.rate else 'closed loop'} workers={res['workers']} cpus={res['cpus']}")
        print(f"requests {res['requests']} in {res['seconds']} s, errors {res['errors']}")
        print(f"p50 {res['p50_ms']} ms   p99 {res['p99_ms']} ms   max {res['max_ms']} ms   {res['requests_per_s']} requests/s")
        print("server-side median ms: " + "  ".join(f"{k} {v}" for k, v in res["server_ms_median"].items())
              + f"   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
