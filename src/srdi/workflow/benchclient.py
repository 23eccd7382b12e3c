"""The cycle bench's reviewer load generator: R reviewers as asyncio tasks in a separate process,
each with its own keep-alive HTTP/1.1 connection to the server, speaking just enough HTTP (a
request line, a few headers, a Content-Length body). Cheap on purpose: on a small machine a client
of 100 threads with a full HTTP library costs as much CPU as the server it measures.

Run by bench.py as `python -m srdi.workflow.benchclient`: reads the job as JSON on stdin
({"host", "port", "tokens", "think_ms", "seed", "limit", "out"}) and writes the result as JSON to
the file `out` (else stdout): {"lat": [seconds, ...], "errors": [...], "cpu_s", "wall_s", "requests"}.

Load model: closed loop. Each reviewer fetches its task list, then scores each task, one request
at a time, until the list is empty. With think_ms = 0 it fires back to back (latency ~ concurrency
/ throughput, Little's law); with think_ms > 0 it first waits uniform(0, think) and then pauses
exponential(mean think) before each score, as people do.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import time


class Conn:
    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\nHost: {host}:{port}\r\n".encode()
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.auth
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        self.writer.write(head + b"\r\n" + body)
        line = await self.reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        status = int(line.split(b" ", 2)[1])
        length, close = 0, False
        while True:
            h = await self.reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"connection" and v.strip().lower() == b"close":
                close = True
            elif k == b"transfer-encoding":
                raise ConnectionError("chunked responses are not supported by the bench client")
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, data


async def reviewer(host: str, port: int, token: str, think: float, seed: int, limit: int, start: asyncio.Event,
                   lat: list, errors: list) -> None:
    wr = random.Random(seed)
    c = Conn(host, port, token)
    await c.open()
    await start.wait()
    if think:
        await asyncio.sleep(wr.uniform(0, think))
    clock = time.perf_counter
    try:
        while True:
            q0 = clock()
            try:
                st, data = await c.request("GET", f"/api/v1/cycle/reviews/tasks?limit={limit}")
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                errors.append(f"tasks: {type(e).__name__}: {e}")
                c.close()
                if len(errors) > 1000:
                    return
                continue
            lat.append(clock() - q0)
            if st != 200:
                errors.append(f"tasks {st} {data[:200]!r}")
                return
            tasks = json.loads(data)
            if not tasks:
                return
            for tk in tasks:
                if think:
                    await asyncio.sleep(wr.expovariate(1.0 / think))
                body = json.dumps({"score": wr.choice((52, 58, 64, 70, 75, 80, 85, 90)), "comment": "synthetic"}).encode()
                for attempt in (1, 2):  # one retry on a dropped connection (the server refuses a double score)
                    q0 = clock()
                    try:
                        st, data = await c.request("POST", f"/api/v1/cycle/applications/{tk['application_id']}/score", body)
                    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
                        errors.append(f"score: {type(e).__name__}: {e}")
                        c.close()
                        continue
                    lat.append(clock() - q0)
                    if st != 200 and not (attempt == 2 and st == 409):
                        errors.append(f"score {st} {data[:200]!r}")
                    break
    finally:
        c.close()


async def run(job: dict) -> dict:
    start = asyncio.Event()
    lat: list[float] = []
    errors: list[str] = []
    think = float(job.get("think_ms") or 0) / 1000.0
    tasks = [asyncio.create_task(reviewer(job["host"], job["port"], tok, think, int(job.get("seed", 7)) * 1000 + i,
                                          int(job.get("limit", 20)), start, lat, errors))
             for i, tok in enumerate(job["tokens"])]
    await asyncio.sleep(0.2)  # let every reviewer connect first
    c0, t0 = time.process_time(), time.perf_counter()
    start.set()
    await asyncio.gather(*tasks, return_exceptions=False)
    return {"lat": lat, "errors": errors, "cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - t0,
            "requests": len(lat)}


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        import uvloop

        res = uvloop.run(run(job))
    except ImportError:  # pragma: no cover - optional
        res = asyncio.run(run(job))
    if job.get("out"):  # a file: a large result through a pipe is fragile (the pipe may be non-blocking)
        with open(job["out"], "w") as f:
            json.dump(res, f)
    else:
        sys.stdout.write(json.dumps(res))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
