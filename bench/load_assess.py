#!/usr/bin/env python3
"""Load test of POST /api/v1/assess on loopback (issue 5 target: p99 <= 30 ms at 50 concurrent clients).

    .venv/bin/python bench/load_assess.py                      # sweep (the headline), then closed loop
    .venv/bin/python bench/load_assess.py --mode sweep         # open loop: highest rate with p99 <= 30 ms
    .venv/bin/python bench/load_assess.py --rate 60            # open loop at 60 requests/s over 50 connections
    .venv/bin/python bench/load_assess.py --mode closed        # closed loop: 50 clients back to back (throughput)
    .venv/bin/python bench/load_assess.py --profiles same      # one profile repeated (result cache hits)
    .venv/bin/python bench/load_assess.py --url http://127.0.0.1:8000   # a server already running

Two ways to load a server, and what each measures:

* **Open loop** (the headline): `--clients` keep-alive connections (50) stay open; requests *arrive*
  at a given total rate (`--arrivals poisson`, the default, or `uniform`), whatever the server is
  doing, and each one goes out on an idle connection (it waits for one when all are busy). Latency
  is counted from the request's scheduled arrival, so time spent waiting for a connection counts
  (no coordinated omission). `--sweep` raises the rate until p99 exceeds `--target-ms` (30), then
  bisects: the answer is the highest rate at which p99 <= 30 ms holds with 50 clients connected.
* **Closed loop**: 50 clients fire back to back. Then 50 requests are always in flight and, by
  Little's law, latency = 50 / throughput (e.g. 100 requests/s -> p50 about 500 ms): this measures
  throughput, not latency, and is reported as such.

The client is a minimal asyncio HTTP/1.1 keep-alive client over raw streams (uvloop when installed):
request bytes are built from a template (a few microseconds each), `Server-Timing` headers are
parsed after the run. Its own CPU time (and, for a server started here, the server's) is measured
and printed per request, because on a 2-core machine the load generator competes with the server.

Profiles: `distinct` (default) sends a different profile every request (the bundled example with
its name and R&D expense varied, names carry a per-run nonce), so every request really runs the
engine (the server's result cache misses; the hit count is printed); `same` repeats one.
Only 127.0.0.1 / localhost URLs are accepted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/assess"


# ------------------------------------------------------------------------------ pure logic
def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, linear interpolation between closest ranks
    (numpy's default; statistics.quantiles(method="inclusive"))."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def arrival_times(rate: float, duration: float, arrivals: str = "poisson", seed: int = 0) -> list[float]:
    """Offsets (s, from 0) of the requests of an open loop at ``rate`` requests/s for ``duration`` s:
    a Poisson process (exponential gaps) or evenly spread (1/rate apart)."""
    if rate <= 0 or duration <= 0:
        return []
    if arrivals == "uniform":
        return [i / rate for i in range(int(math.floor(rate * duration + 1e-9)))]
    if arrivals != "poisson":
        raise ValueError(f"arrivals: poisson or uniform, not {arrivals!r}")
    rng = random.Random(seed)
    out, t = [], rng.expovariate(rate)
    while t < duration:
        out.append(t)
        t += rng.expovariate(rate)
    return out


def step_ok(res: dict, target_ms: float) -> bool:
    """A step holds the target when every scheduled request was answered 200 and p99 <= target (latency
    counts from the scheduled arrival, so a generator that falls behind fails the step too)."""
    return (res["requests"] > 0 and res["errors"] == 0 and res["requests"] == res.get("scheduled", res["requests"])
            and res["p99_ms"] <= target_ms)


async def sweep(measure: Callable[[float], Awaitable[dict]], target_ms: float, start: float = 20.0,
                factor: float = 1.5, refine: int = 3, max_rate: float = 5000.0, min_rate: float = 1.0,
                ) -> tuple[dict | None, list[dict]]:
    """Highest rate whose open-loop step holds p99 <= target_ms: multiply the rate by ``factor`` while
    it holds (divide while it does not, from ``start``), then bisect ``refine`` times between the last
    rate that held and the first that did not. Returns (best step or None, every step in order)."""
    steps: list[dict] = []

    async def run(rate: float) -> bool:
        res = await measure(rate)
        res["ok"] = step_ok(res, target_ms)
        steps.append(res)
        return res["ok"]

    good = bad = None
    rate = start
    if await run(rate):
        good = rate
        while rate * factor <= max_rate:
            rate = round(rate * factor, 1)
            if await run(rate):
                good = rate
            else:
                bad = rate
                break
    else:
        bad = rate
        while rate / factor >= min_rate:
            rate = round(rate / factor, 1)
            if await run(rate):
                good = rate
                break
            bad = rate
    if good is not None and bad is not None:
        for _ in range(refine):
            mid = round((good + bad) / 2, 1)
            if mid in (good, bad):
                break
            if await run(mid):
                good = mid
            else:
                bad = mid
    passing = [s for s in steps if s["ok"]]
    best = max(passing, key=lambda s: s["rate"]) if passing else None
    return best, steps


def summarize(lat_ms: list[float], errors: int, elapsed: float, timings: list[bytes]) -> dict:
    lat = sorted(lat_ms)
    server: dict[str, list[float]] = {}
    hits = misses = 0
    totals: list[float] = []
    for raw in timings:
        total = 0.0
        for part in raw.decode("latin-1").split(","):
            name, _, dur = part.strip().partition(";dur=")
            if dur:
                server.setdefault(name, []).append(float(dur))
                total += float(dur)
            elif name.startswith("cache"):
                if '"hit"' in name:
                    hits += 1
                else:
                    misses += 1
        if total:
            totals.append(total)
    totals.sort()
    return {"requests": len(lat), "errors": errors, "seconds": round(elapsed, 2),
            "p50_ms": round(percentile(lat, 50), 2), "p90_ms": round(percentile(lat, 90), 2),
            "p99_ms": round(percentile(lat, 99), 2), "max_ms": round(lat[-1], 2) if lat else math.nan,
            "requests_per_s": round(len(lat) / elapsed, 1) if elapsed > 0 else 0.0,
            "cache_hits": hits, "cache_misses": misses,
            # server-side milliseconds per request (Server-Timing): where the time goes
            "server_ms_median": {k: round(percentile(sorted(v), 50), 2) for k, v in server.items()},
            # the handler's own time (sum of the stages): its tail against the end-to-end tail tells
            # time inside the handler from queueing, HTTP work and CPU scheduling outside it
            "server_total_p50_ms": round(percentile(totals, 50), 2) if totals else None,
            "server_total_p99_ms": round(percentile(totals, 99), 2) if totals else None}


# --------------------------------------------------------------------------- request bodies
def example_profile() -> dict:
    import yaml

    p = ROOT / "src" / "srdi" / "examples" / "precision_machinery.yaml"
    return json.loads(json.dumps(yaml.safe_load(p.read_text(encoding="utf-8")), default=str))


class Bodies:
    """Request bodies from a template: distinct ones vary the name (with a per-run nonce) and the
    R&D expense of the last year, so no two requests of a run, or of two runs, are the same input."""

    NAME, RD = "\u0001NAME\u0001", 987654321987

    def __init__(self, profile: dict, as_of: str, distinct: bool = True, nonce: str | None = None):
        self.distinct, self.count = distinct, 0
        self.nonce = nonce or f"{random.getrandbits(32):08x}"
        years = sorted(profile.get("financials") or {})
        self.base_name, self.base_rd = profile.get("name", "load"), None
        p = json.loads(json.dumps(profile))
        if distinct:
            p["name"] = self.NAME
            if years:
                self.base_rd = int(float(p["financials"][years[-1]].get("rd_expense") or 4_000_000))
                p["financials"][years[-1]]["rd_expense"] = self.RD
        raw = json.dumps({"profile": p, "as_of": as_of, "mode": "application"}, ensure_ascii=False)
        if distinct:
            head, rest = raw.split(json.dumps(self.NAME), 1)
            mid, tail = rest.split(str(self.RD), 1) if self.base_rd is not None else (rest, "")
            self.parts = (head.encode(), mid.encode(), tail.encode())
        else:
            self.same = raw.encode()

    def next(self) -> bytes:
        self.count += 1
        if not self.distinct:
            return self.same
        head, mid, tail = self.parts
        name = json.dumps(f"{self.base_name}-{self.nonce}-{self.count}", ensure_ascii=False).encode()
        if self.base_rd is None:
            return head + name + mid
        return head + name + mid + str(self.base_rd + self.count).encode() + tail


async def post_one(c: "Conn", data: bytes, timings: list) -> bool:
    """One POST on connection c; its Server-Timing goes to `timings`; True when answered 200."""
    try:
        status, timing = await c.post(data)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HTTPError):
        return False
    timings.append(timing)
    return status == 200


def request_bytes(host: str, body: bytes) -> bytes:
    return (f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


# ------------------------------------------------------------------------- the HTTP client
class HTTPError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: (status, Server-Timing value, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise HTTPError(f"bad status line {lines[0][:80]!r}") from None
    length, chunked, keep, timing = None, False, True, b""
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding":
            chunked = b"chunked" in v.lower()
        elif k == b"connection":
            keep = b"close" not in v.lower()
        elif k == b"server-timing":
            timing = v.strip()
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()
        keep = False
    return status, timing, keep


class Conn:
    """One keep-alive connection. The server closes connections idle for 5 s (uvicorn's
    timeout_keep_alive): one idle longer than ``idle_s`` is reopened before sending, and a request
    that finds a reused connection closed before any answer is sent again once on a new one
    (what HTTP clients do); the reconnection is inside the measured time."""

    def __init__(self, host: str, port: int, idle_s: float = 4.0):
        self.host, self.port, self.idle_s = host, port, idle_s
        self.reader = self.writer = None
        self.used = 0.0
        self.reconnects = 0

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.used = 0.0

    def local_port(self) -> int | None:
        s = self.writer.get_extra_info("sockname") if self.writer else None
        return s[1] if s else None

    async def post(self, data: bytes) -> tuple[int, bytes]:
        now = time.monotonic()
        if self.writer is not None and self.used and now - self.used > self.idle_s:
            self.close()
        if self.writer is None:
            await self.open()
            self.reconnects += 1
        reused = bool(self.used)
        try:
            self.writer.write(data)
            status, timing, keep = await read_response(self.reader)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            self.close()
            if not reused or (isinstance(e, asyncio.IncompleteReadError) and e.partial):
                raise
            await self.open()  # the server had closed it: once more on a new connection
            self.reconnects += 1
            try:
                self.writer.write(data)
                status, timing, keep = await read_response(self.reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                self.close()
                raise
        except (OSError, asyncio.LimitOverrunError):
            self.close()
            raise
        self.used = time.monotonic()
        if not keep:
            self.close()
        return status, timing

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.used = 0.0


# -------------------------------------------------------------------------------- the runs
@dataclass
class Target:
    host: str
    port: int
    server_pid: int | None = None
    conns: list[Conn] = field(default_factory=list)


async def connect(t: Target, n: int, bodies: Bodies, warmup: int) -> None:
    """Open the connections one at a time (each with a first request: the server's workers accept
    them as clients arriving one by one would be accepted), then warm up back to back."""
    hostport = f"{t.host}:{t.port}"
    for _ in range(n):
        c = Conn(t.host, t.port)
        await c.post(request_bytes(hostport, bodies.next()))
        t.conns.append(c)
    left = max(0, warmup - n)

    async def w(c: Conn):
        nonlocal left
        while left > 0:
            left -= 1
            await c.post(request_bytes(hostport, bodies.next()))

    await asyncio.gather(*(w(c) for c in t.conns))
    for c in t.conns:
        c.reconnects = 0


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have used (Linux /proc/stat), None elsewhere."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int | None) -> list[int]:
    """pid and its descendants (Linux /proc), for the server's CPU time."""
    if pid is None or not Path("/proc").is_dir():
        return []
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return out


def socket_owners(port: int, client_ports: set[int], pids: list[int]) -> dict[int, int]:
    """{pid: how many of the TCP connections from `client_ports` to `port` it holds} (Linux /proc;
    {} elsewhere): how the server's worker processes share the client connections."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            lport, rport = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
            if lport == port and rport in client_ports:
                inodes.add(f[9])
    out: dict[int, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                out[pid] = out.get(pid, 0) + 1
    return out


async def _until(start_at: float | None) -> None:
    """Wait for a step's common start (time.monotonic(); the clients of every process start together)."""
    if start_at is not None:
        d = start_at - time.monotonic()
        if d > 0:
            await asyncio.sleep(d)


async def open_raw(t: Target, bodies: Bodies, rate: float, seconds: float, arrivals: str, seed: int,
                   phase: float = 0.0, start_at: float | None = None) -> dict:
    """An open-loop step's raw measurements (see run_open); `phase`: arrivals start that much later."""
    hostport = f"{t.host}:{t.port}"
    offsets = arrival_times(rate, seconds, arrivals, seed)
    queue: asyncio.Queue = asyncio.Queue()
    lat: list[float] = []
    lag: list[float] = []
    timings: list[bytes] = []
    errors = 0
    clock = time.perf_counter  # not loop.time(): uvloop's is in whole milliseconds, cached per loop turn

    async def producer(t0: float):
        for off in offsets:
            due = t0 + off
            d = due - clock()
            if d > 0.0005:
                await asyncio.sleep(d)
            queue.put_nowait(due)
        for _ in t.conns:
            queue.put_nowait(None)

    async def worker(c: Conn):
        nonlocal errors
        while True:
            due = await queue.get()
            if due is None:
                return
            data = request_bytes(hostport, bodies.next())
            sent = clock()
            ok = await post_one(c, data, timings)
            lat.append((clock() - due) * 1000)
            lag.append((sent - due) * 1000)
            errors += not ok

    await _until(start_at)
    r0 = sum(c.reconnects for c in t.conns)
    c0 = time.process_time()
    t0 = clock() + 0.01
    await asyncio.gather(producer(t0 + phase), *(worker(c) for c in t.conns))
    return {"lat": lat, "lag": lag, "timings": timings, "errors": errors, "elapsed": clock() - t0,
            "scheduled": len(offsets), "reconnects": sum(c.reconnects for c in t.conns) - r0,
            "client_cpu": time.process_time() - c0}


async def closed_raw(t: Target, bodies: Bodies, seconds: float, total: int, start_at: float | None = None) -> dict:
    """A closed loop's raw measurements (see run_closed)."""
    hostport = f"{t.host}:{t.port}"
    lat: list[float] = []
    timings: list[bytes] = []
    errors = 0
    clock = time.perf_counter
    sent = 0

    async def worker(c: Conn):
        nonlocal errors, sent
        while sent < total and clock() < deadline:
            sent += 1
            data = request_bytes(hostport, bodies.next())
            s = clock()
            ok = await post_one(c, data, timings)
            lat.append((clock() - s) * 1000)
            errors += not ok

    await _until(start_at)
    c0 = time.process_time()
    t0 = clock()
    deadline = t0 + seconds
    await asyncio.gather(*(worker(c) for c in t.conns))
    return {"lat": lat, "timings": timings, "errors": errors, "elapsed": clock() - t0,
            "client_cpu": time.process_time() - c0}


def finish(raws: list[dict], mode: str, server_cpu: float | None, machine_busy0: float | None,
           rate: float | None = None, arrivals: str | None = None) -> dict:
    """One step's result from the raw measurements of every client process."""
    lat = [x for r in raws for x in r["lat"]]
    elapsed = max(r["elapsed"] for r in raws)
    res = summarize(lat, sum(r["errors"] for r in raws), elapsed, [x for r in raws for x in r["timings"]])
    res.update({"mode": mode, "rate": rate})
    if mode == "open":
        lag = sorted(x for r in raws for x in r["lag"])
        res.update({"arrivals": arrivals, "scheduled": sum(r["scheduled"] for r in raws),
                    "reconnects": sum(r["reconnects"] for r in raws), "send_lag_p99_ms": round(percentile(lag, 99), 2)})
    res.update(cpu_report(res["requests"], elapsed, sum(r["client_cpu"] for r in raws), server_cpu, machine_busy0))
    res["client_processes"] = len(raws)
    return res


async def run_open(t: Target, bodies: Bodies, rate: float, seconds: float, arrivals: str, seed: int) -> dict:
    """Open loop: arrivals at ``rate``/s for ``seconds``; each request goes out on an idle connection;
    latency from the scheduled arrival (waiting for a connection included)."""
    pids = process_tree(t.server_pid)
    s0, m0 = cpu_seconds(pids), machine_busy_seconds()
    raw = await open_raw(t, bodies, rate, seconds, arrivals, seed)
    return finish([raw], "open", cpu_seconds(pids) - s0 if pids else None, m0, rate, arrivals)


async def run_closed(t: Target, bodies: Bodies, seconds: float, total: int) -> dict:
    """Closed loop: every connection sends its next request as soon as the answer arrives."""
    pids = process_tree(t.server_pid)
    s0, m0 = cpu_seconds(pids), machine_busy_seconds()
    raw = await closed_raw(t, bodies, seconds, total)
    return finish([raw], "closed", cpu_seconds(pids) - s0 if pids else None, m0)


# --------------------------------------------------------- the load generator over processes
def client_process(conn, host: str, port: int, n: int, profiles: str, as_of: str, warmup: int, nonce: str) -> None:
    """One load-generating process (ClientPool): opens its `n` connections, then runs the steps the
    parent sends over `conn` and answers each with its raw measurements."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        t = Target(host, port)
        bodies = Bodies(example_profile(), as_of, distinct=profiles == "distinct", nonce=nonce)
        runner.run(connect(t, n, bodies, warmup))
        conn.send([c.local_port() for c in t.conns])
        while True:
            cmd = conn.recv()
            if cmd[0] == "open":
                conn.send(runner.run(open_raw(t, bodies, *cmd[1:])))
            elif cmd[0] == "closed":
                conn.send(runner.run(closed_raw(t, bodies, *cmd[1:])))
            else:
                break
        for c in t.conns:
            c.close()
    conn.close()


class ClientPool:
    """The load generator as `procs` processes (as `wrk -t2`), each with its share of the connections
    and of the rate. On 2 cores one process's CPU (~0.1 ms a request) is taken from whichever worker
    shares its core, and that worker answered ~30% slower than the other (p50 35 vs 23 ms); spread
    over 2 processes, the workers answer alike."""

    def __init__(self, host: str, port: int, clients: int, procs: int, profiles: str, as_of: str, warmup: int,
                 server_pid: int | None = None):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.host, self.port, self.server_pid = host, port, server_pid
        nonce = f"{random.getrandbits(32):08x}"
        shares = [clients // procs + (i < clients % procs) for i in range(procs)]
        self.procs, self.pipes = [], []
        for i, n in enumerate(s for s in shares if s):
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=client_process, args=(theirs, host, port, n, profiles, as_of,
                                                         max(n, warmup // procs), f"{nonce}-{i}"), daemon=True)
            p.start()
            theirs.close()
            self.procs.append(p)
            self.pipes.append(ours)
        self.local_ports = [x for c in self.pipes for x in c.recv()]  # each is connected and warm

    def _run(self, cmds: list[tuple], mode: str, rate: float | None = None, arrivals: str | None = None) -> dict:
        pids = process_tree(self.server_pid)
        s0, m0 = cpu_seconds(pids), machine_busy_seconds()
        start_at = time.monotonic() + 0.05
        for c, cmd in zip(self.pipes, cmds):
            c.send(cmd + (start_at,))
        raws = [c.recv() for c in self.pipes]
        return finish(raws, mode, cpu_seconds(pids) - s0 if pids else None, m0, rate, arrivals)

    # async for the callers' sake (main_async, like InProcess); they block: this process only waits
    async def open(self, rate: float, seconds: float, arrivals: str, seed: int) -> dict:
        """Each process at rate / k: Poisson processes add up to one at the whole rate; even arrivals
        are interleaved (process i starts i / rate later)."""
        k = len(self.pipes)
        return self._run([("open", rate / k, seconds, arrivals, seed * 1000 + i, i / rate if arrivals == "uniform" else 0.0)
                          for i in range(k)], "open", rate, arrivals)

    async def closed(self, seconds: float, total: int) -> dict:
        k = len(self.pipes)
        return self._run([("closed", seconds, total // k + (i < total % k)) for i in range(k)], "closed")

    def close(self) -> None:
        for c in self.pipes:
            try:
                c.send(("stop",))
            except OSError:
                pass
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def cpu_report(n: int, elapsed: float, client_cpu: float, server_cpu: float | None,
               machine_busy0: float | None = None) -> dict:
    """CPU per request of the load generator (this process) and of the server (when its pid is known),
    and the cores the rest of the machine (other people's jobs) kept busy meanwhile."""
    out = {"client_cpu_ms_per_request": round(client_cpu * 1000 / n, 3) if n else None,
           "client_cpu_share": round(client_cpu / elapsed, 3) if elapsed > 0 else None}
    if server_cpu is not None:
        out["server_cpu_ms_per_request"] = round(server_cpu * 1000 / n, 2) if n else None
        out["server_cpu_share"] = round(server_cpu / elapsed, 3) if elapsed > 0 else None
    busy = machine_busy_seconds()
    if machine_busy0 is not None and busy is not None and server_cpu is not None and elapsed > 0:
        out["other_cores"] = round(max(0.0, busy - machine_busy0 - client_cpu - server_cpu) / elapsed, 2)
    return out


# ------------------------------------------------------------------------------- reporting
def step_line(r: dict, target_ms: float | None = None) -> str:
    head = f"open {r['rate']:>7.1f}/s" if r["mode"] == "open" else "closed loop  "
    s = (f"{head}  n {r['requests']:>5}{'/%-5d' % r['scheduled'] if 'scheduled' in r else ''}  p50 {r['p50_ms']:>7.1f} ms  p99 {r['p99_ms']:>8.1f} ms  "
         f"max {r['max_ms']:>8.1f} ms  {r['requests_per_s']:>6.1f} req/s  err {r['errors']}  "
         f"hits {r['cache_hits']}  client {r['client_cpu_ms_per_request']:.2f} ms/req "
         f"({100 * r['client_cpu_share']:.0f}% of a core)")
    if r.get("server_cpu_ms_per_request") is not None:
        s += f"  server {r['server_cpu_ms_per_request']:.1f} ms/req ({100 * r['server_cpu_share']:.0f}%)"
    if r.get("other_cores") is not None:
        s += f"  other jobs {r['other_cores']:.2f} cores"
    if r["mode"] == "open":
        s += f"  send lag p99 {r['send_lag_p99_ms']:.1f} ms  reconnects {r['reconnects']}"
    if target_ms is not None and "ok" in r:
        s += "  OK" if r["ok"] else f"  > {target_ms:g} ms"
    if r.get("server_ms_median"):
        s += "\n    server-side medians (Server-Timing, ms): " + "  ".join(
            f"{k} {v}" for k, v in r["server_ms_median"].items())
        if r.get("server_total_p99_ms") is not None:
            s += f"   handler total p50 {r['server_total_p50_ms']} p99 {r['server_total_p99_ms']}"
    return s


def load_text() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f} on {os.cpu_count()} cpus"


# ------------------------------------------------------------------------------------ main
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("srdi")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "srdi"]
    # its own session, as a service runs: with the kernel's autogroup scheduling the server then has
    # its own CPU share instead of splitting this script's with the load generator
    proc = subprocess.Popen(cmd + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("server did not start")


class InProcess:
    """The load generator in this process, with ClientPool's interface."""

    def __init__(self, t: Target, bodies: Bodies):
        self.t, self.bodies = t, bodies
        self.local_ports = [c.local_port() for c in t.conns]

    async def open(self, rate: float, seconds: float, arrivals: str, seed: int) -> dict:
        return await run_open(self.t, self.bodies, rate, seconds, arrivals, seed)

    async def closed(self, seconds: float, total: int) -> dict:
        return await run_closed(self.t, self.bodies, seconds, total)

    def close(self) -> None:
        for c in self.t.conns:
            c.close()


async def generator(a, host: str, port: int, server_pid: int | None, procs: int):
    """The load generator: `procs` processes (ClientPool) or this one, connected and warm."""
    if procs > 1:
        return ClientPool(host, port, a.clients, procs, a.profiles, a.as_of, a.warmup, server_pid)
    t = Target(host, port, server_pid)
    bodies = Bodies(example_profile(), a.as_of, distinct=a.profiles == "distinct")
    await connect(t, a.clients, bodies, a.warmup)
    return InProcess(t, bodies)


async def main_async(a, url: str, server_pid: int | None) -> dict:
    u = urlparse(url)
    host, port = u.hostname, u.port or 80
    say = (lambda *x: None) if a.json else (lambda s: print(s, flush=True))
    out: dict = {"clients": a.clients, "profiles": a.profiles, "target_ms": a.target_ms}
    mode = "open" if a.rate is not None and a.mode == "all" else a.mode
    seed = a.seed

    async def connected(procs: int):
        gen = await generator(a, host, port, server_pid, procs)
        owners = socket_owners(port, set(gen.local_ports), process_tree(server_pid))
        split = sorted(owners.values(), reverse=True)
        out.setdefault("connections_per_worker", split)
        if split:
            say(f"{a.clients} connections over the server's workers: " + "/".join(map(str, split))
                + f" (load generator: {procs} process{'es' if procs > 1 else ''})")
        return gen

    if mode in ("all", "sweep", "open"):
        gen = await connected(a.open_procs)
        try:
            if mode in ("all", "sweep"):
                async def measure(rate: float) -> dict:
                    nonlocal seed
                    seed += 1
                    # long enough for a meaningful p99 (--min-requests), at least --seconds
                    r = await gen.open(rate, max(a.seconds, a.min_requests / rate), a.arrivals, seed)
                    r["ok"] = step_ok(r, a.target_ms)
                    say(step_line(r, a.target_ms))
                    return r

                say(f"sweep: open loop ({a.arrivals} arrivals), {a.seconds:g} s a step, target p99 <= {a.target_ms:g} ms")
                best, steps = await sweep(measure, a.target_ms, start=a.start_rate, factor=a.factor, refine=a.refine,
                                          max_rate=a.max_rate, min_rate=a.min_rate)
                out["sweep"] = {"best": best, "steps": steps, "load": load_text()}
            if mode == "open":
                r = await gen.open(a.rate, a.seconds, a.arrivals, seed)
                r["ok"] = step_ok(r, a.target_ms)
                say(step_line(r, a.target_ms))
                out["open"] = r
        finally:
            gen.close()
    if mode in ("all", "closed"):
        gen = await connected(a.closed_procs)
        try:
            r = await gen.closed(a.closed_seconds if mode == "all" else a.seconds, a.requests)
            say(step_line(r))
            out["closed"] = r
        finally:
            gen.close()
    out["load"] = load_text()
    return out


def summary_line(out: dict) -> str:
    workers = "/".join(map(str, out.get("connections_per_worker") or [])) or "?"
    parts = [f"POST {PATH}, {out['clients']} connections (per server worker: {workers}), {out['profiles']} profiles:"]
    if "sweep" in out:
        b = out["sweep"]["best"]
        if b:
            parts.append(f"highest open-loop rate with p99 <= {out['target_ms']:g} ms: {b['rate']:g} req/s "
                         f"(p50 {b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms, {b['requests_per_s']:g} req/s sent);")
        else:
            parts.append(f"no open-loop rate held p99 <= {out['target_ms']:g} ms;")
    if "open" in out:
        r = out["open"]
        parts.append(f"open loop at {r['rate']:g}/s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                     f"{r['requests_per_s']:g} req/s;")
    if "closed" in out:
        r = out["closed"]
        parts.append(f"closed loop (throughput): {r['requests_per_s']:g} req/s, p50 {r['p50_ms']:.0f} ms, "
                     f"p99 {r['p99_ms']:.0f} ms;")
    others = [r.get("other_cores") for r in (out.get("sweep", {}).get("steps", []) + [out.get("open"), out.get("closed")])
              if r and r.get("other_cores") is not None]
    if others:
        parts.append(f"other jobs kept {min(others):.2f}-{max(others):.2f} cores busy;")
    parts.append(out["load"])
    return "SUMMARY " + " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (loopback only); default: start one")
    ap.add_argument("--server-pid", type=int, help="with --url: the server's main pid (for its CPU time and workers)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="uvicorn workers of the server started here (default: one per core)")
    ap.add_argument("--mode", choices=["all", "sweep", "open", "closed"], default="all",
                    help="all (default): sweep, then closed loop; open needs --rate")
    ap.add_argument("--rate", type=float, help="open loop at this total rate (requests/s)")
    ap.add_argument("--sweep", dest="mode", action="store_const", const="sweep", help="same as --mode sweep")
    ap.add_argument("--clients", type=int, default=50, help="concurrent keep-alive connections")
    ap.add_argument("--client-procs", type=int,
                    help="load-generating processes sharing the connections and the rate (as wrk -t), in both "
                         "loops; default: 1 (this process) for the open loop, one per core up to 2 for the closed "
                         "loop")
    ap.add_argument("--seconds", type=float, default=10, help="length of each open-loop step (and of --mode closed)")
    ap.add_argument("--closed-seconds", type=float, default=10, help="length of the closed loop in --mode all")
    ap.add_argument("--requests", type=int, default=100_000, help="closed loop: stop after this many")
    ap.add_argument("--arrivals", choices=["poisson", "uniform"], default="poisson")
    ap.add_argument("--target-ms", type=float, default=30.0)
    ap.add_argument("--start-rate", type=float, default=20.0)
    ap.add_argument("--factor", type=float, default=1.5, help="sweep: rate multiplier while the target holds")
    ap.add_argument("--refine", type=int, default=3, help="sweep: bisection steps")
    ap.add_argument("--max-rate", type=float, default=5000.0)
    ap.add_argument("--min-rate", type=float, default=5.0, help="sweep: lowest rate tried")
    ap.add_argument("--min-requests", type=int, default=300,
                    help="sweep: a step lasts until this many requests are due (p99 = the 3rd largest of 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profiles", choices=["distinct", "same"], default="distinct")
    ap.add_argument("--as-of", default="2026-06-01")
    ap.add_argument("--warmup", type=int, default=200, help="requests before measuring (at least one per connection)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args(argv)
    if a.rate is not None and a.mode == "all":
        a.mode = "open"
    if a.mode == "open" and a.rate is None:
        ap.error("--mode open needs --rate")
    if a.client_procs is not None and not 1 <= a.client_procs <= a.clients:
        ap.error("--client-procs: 1 to --clients")
    # the open loop's arrivals keep time best from one process (two woke up on both cores, later:
    # send lag p99 13-43 ms against 3-13 ms at 1,300 req/s); back to back, one process's CPU
    # came out of one worker, which then answered ~30% slower than the other
    a.open_procs = a.client_procs or 1
    a.closed_procs = a.client_procs or min(os.cpu_count() or 1, 2)
    proc = None
    if a.url:
        u = urlparse(a.url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load tests run on loopback only (127.0.0.1)")
        url = a.url.rstrip("/")
    else:
        proc, url = start_server(a.workers)
    try:
        try:
            import uvloop

            factory, loop_name = uvloop.new_event_loop, "uvloop"
        except ImportError:
            factory, loop_name = None, "asyncio"
        with asyncio.Runner(loop_factory=factory) as runner:
            out = runner.run(main_async(a, url, proc.pid if proc else a.server_pid))
        out["client_loop"] = loop_name
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    out.update({"workers": None if a.url else a.workers, "cpus": os.cpu_count()})
    if a.json:
        print(json.dumps(out))
    else:
        print(summary_line(out))


if __name__ == "__main__":
    main()
