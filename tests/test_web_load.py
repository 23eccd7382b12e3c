"""bench/load_assess.py: the open-loop schedule, percentiles, the sweep's search, the request
templates and the raw HTTP/1.1 client (against a stub server on loopback). No timing is asserted:
speed is shown by running the script, not by tests."""
from __future__ import annotations

import asyncio
import json
import math
import random
import statistics

import pytest



def run_async(coro):
    """asyncio.run in a thread of its own: the browser tests (Playwright's sync API) may leave an
    event loop running in this process's main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


# ----------------------------------------------------------------------------- percentiles
def test_percentile_matches_inclusive_quantiles(load):
    rng = random.Random(5)
    for n in (2, 3, 10, 101, 1000):
        xs = sorted(rng.expovariate(0.1) for _ in range(n))
        q = statistics.quantiles(xs, n=100, method="inclusive")
        assert load.percentile(xs, 50) == pytest.approx(q[49])
        assert load.percentile(xs, 99) == pytest.approx(q[98])
        assert load.percentile(xs, 0) == xs[0] and load.percentile(xs, 100) == xs[-1]


def test_percentile_small(load):
    assert math.isnan(load.percentile([], 99))
    assert load.percentile([7.0], 99) == 7.0
    assert load.percentile([1.0, 2.0], 50) == 1.5
    # 300 samples: p99 lies between the 3rd and 4th largest
    xs = [float(i) for i in range(300)]
    assert 296 <= load.percentile(xs, 99) <= 297


# ------------------------------------------------------------------------- the schedule
def test_uniform_arrivals_are_evenly_spread(load):
    t = load.arrival_times(50, 2.0, "uniform")
    assert len(t) == 100
    assert t[0] == 0 and all(b - a == pytest.approx(0.02) for a, b in zip(t, t[1:]))
    assert t[-1] < 2.0


def test_poisson_arrivals(load):
    t = load.arrival_times(200, 50.0, "poisson", seed=3)
    assert t == sorted(t) and 0 < t[0] and t[-1] < 50.0
    n = 200 * 50
    assert abs(len(t) - n) < 5 * math.sqrt(n)  # a Poisson count: sd sqrt(n)
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert statistics.mean(gaps) == pytest.approx(1 / 200, rel=0.05)
    # exponential gaps: the standard deviation equals the mean
    assert statistics.stdev(gaps) == pytest.approx(statistics.mean(gaps), rel=0.1)
    assert load.arrival_times(200, 1.0, "poisson", seed=3) == load.arrival_times(200, 1.0, "poisson", seed=3)
    assert load.arrival_times(200, 1.0, "poisson", seed=3) != load.arrival_times(200, 1.0, "poisson", seed=4)


def test_arrivals_edge_cases(load):
    assert load.arrival_times(0, 10) == [] and load.arrival_times(10, 0) == []
    with pytest.raises(ValueError):
        load.arrival_times(10, 1, "bursty")


# ------------------------------------------------------------------------------ the sweep
def _fake_measure(limit: float, calls: list):
    async def measure(rate):
        calls.append(rate)
        p99 = 10.0 if rate <= limit else 100.0
        return {"rate": rate, "requests": 100, "scheduled": 100, "errors": 0, "p99_ms": p99, "p50_ms": 5.0,
                "requests_per_s": rate}
    return measure


def test_sweep_finds_the_highest_passing_rate(load):
    calls = []
    best, steps = run_async(load.sweep(_fake_measure(100.0, calls), 30.0, start=20, factor=1.5, refine=4))
    # 20, 30, 45, 67.5, 101.2 (fails), then bisection between 67.5 and 101.2
    assert calls[:5] == [20, 30, 45, 67.5, 101.2]
    assert best["rate"] <= 100.0 and best["rate"] > 67.5
    assert best["rate"] == max(s["rate"] for s in steps if s["ok"])
    assert all(s["ok"] == (s["rate"] <= 100.0) for s in steps)
    assert len(steps) == 5 + 4


def test_sweep_goes_down_when_the_start_fails(load):
    calls = []
    best, steps = run_async(load.sweep(_fake_measure(8.0, calls), 30.0, start=20, factor=2, refine=2, min_rate=1))
    assert calls[:3] == [20, 10, 5]
    assert 5 <= best["rate"] <= 8.0


def test_sweep_nothing_passes(load):
    best, steps = run_async(load.sweep(_fake_measure(0.1, []), 30.0, start=20, factor=2, refine=2, min_rate=5))
    assert best is None and [s["rate"] for s in steps] == [20, 10, 5]


def test_step_ok(load):
    base = {"rate": 10, "requests": 100, "scheduled": 100, "errors": 0, "p99_ms": 29.0}
    assert load.step_ok(base, 30)
    assert not load.step_ok({**base, "p99_ms": 31.0}, 30)
    assert not load.step_ok({**base, "errors": 1}, 30)
    assert not load.step_ok({**base, "requests": 99}, 30)  # a request never answered
    assert not load.step_ok({**base, "requests": 0, "scheduled": 0}, 30)


# -------------------------------------------------------------------------- request bodies
def test_bodies_are_distinct_valid_requests(load):
    prof = load.example_profile()
    b = load.Bodies(prof, "2026-06-01", distinct=True, nonce="abc")
    docs = [json.loads(b.next()) for _ in range(3)]
    assert len({d["profile"]["name"] for d in docs}) == 3
    years = sorted(prof["financials"])
    rd = [d["profile"]["financials"][years[-1]]["rd_expense"] for d in docs]
    assert len(set(rd)) == 3
    for d in docs:
        assert d["as_of"] == "2026-06-01" and d["mode"] == "application"
        assert "abc" in d["profile"]["name"]
        # everything else is the example's
        p = dict(d["profile"])
        p.pop("name")
        p["financials"] = {y: v for y, v in p["financials"].items() if y != years[-1]}
        want = dict(prof)
        want.pop("name")
        want["financials"] = {y: v for y, v in prof["financials"].items() if y != years[-1]}
        assert p == want
    same = load.Bodies(prof, "2026-06-01", distinct=False)
    assert same.next() == same.next() and json.loads(same.next())["profile"] == prof


def test_two_runs_do_not_share_names(load):
    prof = load.example_profile()
    a, b = load.Bodies(prof, "2026-06-01"), load.Bodies(prof, "2026-06-01")
    assert a.next() != b.next()


# ------------------------------------------------------------------------ the HTTP client
def _reader(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


def test_read_response_content_length_and_chunked(load):
    async def go():
        body = b'{"a":1}'
        r = _reader(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nServer-Timing: engine;dur=4.20, cache;desc=\"miss\"\r\n\r\n"
                    + body + b"HTTP/1.1 422 Unprocessable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    + b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        a = await load.read_response(r)
        b = await load.read_response(r)
        c = await load.read_response(r)
        return a, b, c

    a, b, c = run_async(go())
    assert a == (200, b'engine;dur=4.20, cache;desc="miss"', True)
    assert b == (422, b"", True)
    assert c == (200, b"", False)


def test_summarize_reads_server_timing(load):
    res = load.summarize([1.0, 2.0, 3.0], 0, 1.5, [b'validate;dur=0.5, engine;dur=4.0, cache;desc="miss"',
                                                 b'validate;dur=0.7, key;dur=0.1, cache;desc="hit"',
                                                 b'validate;dur=0.6, engine;dur=6.0, cache;desc="miss"'])
    assert res["requests"] == 3 and res["requests_per_s"] == 2.0 and res["p50_ms"] == 2.0
    assert res["cache_hits"] == 1 and res["cache_misses"] == 2
    assert res["server_ms_median"] == {"validate": 0.6, "engine": 5.0, "key": 0.1}
    assert res["server_total_p50_ms"] == 4.5 and 4.5 < res["server_total_p99_ms"] <= 6.6


async def _stub_server(closes_after: int | None = None):
    """A loopback HTTP/1.1 server answering every POST with 200 and a Server-Timing header;
    with ``closes_after`` it closes each connection after that many answers (a keep-alive timeout)."""
    async def handle(reader, writer):
        n = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n"
                             b"server-timing: engine;dur=1.00, cache;desc=\"miss\"\r\n\r\n{}")
                await writer.drain()
                n += 1
                if closes_after and n >= closes_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def test_open_loop_sends_every_scheduled_request(load):
    async def go():
        server = await _stub_server()
        port = server.sockets[0].getsockname()[1]
        t = load.Target("127.0.0.1", port)
        bodies = load.Bodies(load.example_profile(), "2026-06-01", nonce="t")
        await load.connect(t, 4, bodies, warmup=8)
        res = await load.run_open(t, bodies, rate=400, seconds=0.1, arrivals="uniform", seed=1)
        closed = await load.run_closed(t, bodies, seconds=0.05, total=30)
        for c in t.conns:
            c.close()
        server.close()
        return res, closed

    res, closed = run_async(go())
    assert res["scheduled"] == 40 and res["requests"] == 40 and res["errors"] == 0
    assert res["cache_misses"] == 40 and res["server_ms_median"] == {"engine": 1.0}
    assert res["p50_ms"] >= 0 and res["p99_ms"] >= res["p50_ms"] and res["send_lag_p99_ms"] >= 0
    assert res["client_cpu_ms_per_request"] >= 0 and "server_cpu_ms_per_request" not in res
    assert load.step_ok(res, 1e9)
    assert 0 < closed["requests"] <= 30 and closed["errors"] == 0 and closed["mode"] == "closed"


def test_client_reconnects_when_the_server_closed_the_connection(load):
    async def go():
        server = await _stub_server(closes_after=1)
        port = server.sockets[0].getsockname()[1]
        c = load.Conn("127.0.0.1", port)
        req = load.request_bytes(f"127.0.0.1:{port}", b"{}")
        out = [await c.post(req) for _ in range(3)]
        c.close()
        server.close()
        return out, c.reconnects

    out, reconnects = run_async(go())
    assert [s for s, _ in out] == [200, 200, 200] and reconnects >= 3


def test_loopback_only(load):
    with pytest.raises(SystemExit):
        load.main(["--url", "http://example.com:8000", "--mode", "closed"])


def test_client_pool_spreads_the_load_over_processes(load, monkeypatch):
    """ClientPool: 2 generating processes, each with half the connections and half the rate; the
    parent merges what they measured (every scheduled request, each process's CPU)."""
    import pathlib
    import threading

    monkeypatch.syspath_prepend(str(pathlib.Path(load.__file__).parent))  # the children import the script
    # the stub server's loop in a thread of its own (this thread may hold a running loop: run_async)
    ports: list = []
    up, stop = threading.Event(), threading.Event()

    async def serve():
        server = await _stub_server()
        ports.append(server.sockets[0].getsockname()[1])
        up.set()
        while not stop.is_set():
            await asyncio.sleep(0.01)
        server.close()

    th = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    th.start()
    assert up.wait(10)
    try:
        pool = load.ClientPool("127.0.0.1", ports[0], clients=4, procs=2, profiles="distinct", as_of="2026-06-01",
                               warmup=8)
        try:
            assert len(pool.local_ports) == 4 and len(set(pool.local_ports)) == 4
            res = run_async(pool.open(rate=200, seconds=0.2, arrivals="uniform", seed=3))
            closed = run_async(pool.closed(seconds=0.05, total=30))
        finally:
            pool.close()
    finally:
        stop.set()
        th.join(5)
    assert res["client_processes"] == 2 and res["scheduled"] == 40 and res["requests"] == 40 and res["errors"] == 0
    assert res["cache_misses"] == 40 and res["rate"] == 200 and load.step_ok(res, 1e9)
    assert res["client_cpu_ms_per_request"] > 0
    assert closed["client_processes"] == 2 and 0 < closed["requests"] <= 30 and closed["errors"] == 0
    assert all(not p.is_alive() for p in pool.procs)
