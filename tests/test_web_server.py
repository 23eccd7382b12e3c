"""`srdi serve --workers N` (srdi.web.server): the supervisor accepts every connection and deals
them to the workers in turn (SCM_RIGHTS over a Unix socket per worker), so 40 connections are
split 20/20; a worker restarted gets the connections that come after; a taken port is a clear
error (exit 2); connections have TCP_NODELAY (no Nagle wait for the client's delayed ACK)."""
from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srdi.web.server import Dealer, listening_socket

pytestmark = pytest.mark.skipif(not hasattr(socket, "send_fds") or not Path("/proc/net/tcp").exists(),
                                reason="Unix fd passing and Linux /proc")


def _srdi() -> list[str]:
    exe = Path(sys.executable).with_name("srdi")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "srdi"]


def _wait_health(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    end = time.time() + seconds
    while time.time() < end:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/v1/health")
            if c.getresponse().status == 200:
                c.close()
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not answer /api/v1/health")


@contextlib.contextmanager
def _serving(tmp_path, load, **env):
    """`srdi serve --workers 2` on a free port: (process, port); SIGTERM at the end, which must stop it."""
    port = load.free_port()
    proc = subprocess.Popen(_srdi() + ["serve", "--port", str(port), "--workers", "2"],
                            env={**os.environ, "SRDI_WEB_JOBS": str(tmp_path / "jobs"), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_health(port, proc)
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise


def _connections(port: int, n: int) -> list[http.client.HTTPConnection]:
    """n keep-alive connections, each with one answered request (so a worker holds it)."""
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/api/v1/health")
        r = c.getresponse()
        assert r.status == 200
        r.read()
        conns.append(c)
    return conns


def test_listening_socket_is_tcp_and_listens():
    s = listening_socket("127.0.0.1", 0)
    try:
        port = s.getsockname()[1]
        assert port and s.proto == socket.IPPROTO_TCP  # what asyncio looks at to set TCP_NODELAY
        with socket.create_connection(("127.0.0.1", port), timeout=2):  # queued before any accept
            pass
    finally:
        s.close()


def test_dealer_hands_connections_to_workers_in_turn_and_skips_a_gone_one():
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    d = Dealer(listener, 3)
    theirs = [d.channel(i) for i in range(3)]
    theirs[1].close()  # worker 1 is gone (its replacement is not up yet)
    d.start()
    clients = []
    try:
        for _ in range(6):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        got = {0: [], 2: []}
        for i in (0, 2):
            theirs[i].settimeout(5)
            while len(got[i]) < 3:
                _, fds, _, _ = socket.recv_fds(theirs[i], 16, 8)
                got[i].extend(socket.socket(fileno=fd) for fd in fds)
        # every connection reached a live worker, in turn; each is the client's peer
        local = {c.getsockname() for c in clients}
        assert {s.getpeername() for i in (0, 2) for s in got[i]} == local
        end = time.time() + 5
        while d.dealt != [3, 0, 3] and time.time() < end:  # counted just after each hand-over
            time.sleep(0.01)
        assert d.dealt == [3, 0, 3]
        # a replacement for worker 1 gets the next ones
        theirs[1] = d.channel(1)
        theirs[1].settimeout(5)
        more = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(3)]
        clients += more
        _, fds, _, _ = socket.recv_fds(theirs[1], 16, 8)
        assert len(fds) >= 1
        for fd in fds:
            socket.socket(fileno=fd).close()
        for s in got[0] + got[2]:
            s.close()
    finally:
        d.close()
        listener.close()
        for c in clients:
            c.close()
        for t in theirs:
            t.close()


def test_dealer_skips_a_worker_that_does_not_read():
    """A worker whose channel is full (hung until uvicorn's health check kills it) is passed over,
    not waited for and not dropped."""
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    d = Dealer(listener, 2)
    stuck, live = d.channel(0), d.channel(1)
    live.settimeout(5)
    clients = []
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as probe:
            conn, _ = listener.accept()
            with conn:
                while True:  # fill worker 0's channel with copies of one connection
                    try:
                        socket.send_fds(d.channels[0], [b"c"], [conn.fileno()])
                    except BlockingIOError:
                        break
        d.start()
        clients = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(3)]
        got = 0
        while got < 3:
            _, fds, _, _ = socket.recv_fds(live, 16, 8)
            for fd in fds:
                socket.socket(fileno=fd).close()
            got += len(fds)
        end = time.time() + 5
        while d.dealt != [0, 3] and time.time() < end:  # counted just after each hand-over
            time.sleep(0.01)
        assert d.channels[0] is not None and d.dealt == [0, 3]
    finally:
        d.close()
        listener.close()
        for c in clients:
            c.close()
        stuck.close()
        live.close()


def test_dealer_outlives_a_failed_hand_over(monkeypatch):
    listener = listening_socket("127.0.0.1", 0)
    port = listener.getsockname()[1]
    d = Dealer(listener, 1)
    theirs = d.channel(0)
    theirs.settimeout(5)
    real, calls = d._deal, []

    def flaky(conn):
        calls.append(conn)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(conn)

    monkeypatch.setattr(d, "_deal", flaky)
    d.start()
    try:
        first = socket.create_connection(("127.0.0.1", port), timeout=2)
        assert first.recv(1) == b""  # closed, not left hanging
        second = socket.create_connection(("127.0.0.1", port), timeout=2)
        _, fds, _, _ = socket.recv_fds(theirs, 16, 8)
        assert len(fds) == 1 and d.thread.is_alive()
        socket.socket(fileno=fds[0]).close()
        first.close()
        second.close()
    finally:
        d.close()
        listener.close()
        theirs.close()


def test_two_workers_share_the_connections_and_stop_on_sigterm(tmp_path, load):
    with _serving(tmp_path, load) as (proc, port):
        conns = _connections(port, 40)
        procs = load.process_tree(proc.pid)
        assert len(procs) >= 3, procs  # the supervisor and 2 workers
        owners = load.socket_owners(port, {c.sock.getsockname()[1] for c in conns}, procs)
        assert sum(owners.values()) == 40, owners
        # dealt in turn: 20 each, none left with the supervisor
        assert sorted(owners.values()) == [20, 20] and proc.pid not in owners, owners
        worker = next(iter(owners))
        assert _server_nodelay(worker, port), "the workers' connections must have TCP_NODELAY"
        for c in conns:
            c.close()
    assert proc.returncode is not None


def test_a_killed_worker_is_replaced_and_no_connection_is_lost(tmp_path, load):
    def workers(proc):
        return [p for p in load.process_tree(proc.pid) if p != proc.pid and "spawn_main" in
                Path(f"/proc/{p}/cmdline").read_text()]

    with _serving(tmp_path, load, SRDI_WEB_WARMUP="0") as (proc, port):
        before = workers(proc)
        assert len(before) == 2, before
        os.kill(before[0], signal.SIGKILL)
        end = time.time() + 10
        while time.time() < end and Path(f"/proc/{before[0]}").exists():  # gone (reaped by the supervisor):
            time.sleep(0.02)  # a connection handed over while it was dying would be lost with it
        # every new connection is answered meanwhile (the dead worker's turns go to the other)
        for c in _connections(port, 20):
            c.close()
        end = time.time() + 60
        while time.time() < end:  # the supervisor starts a replacement
            now = workers(proc)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no replacement worker")
        _wait_health(port, proc)
        conns = _connections(port, 10)  # the replacement takes its turn again
        owners = load.socket_owners(port, {c.sock.getsockname()[1] for c in conns}, now)
        assert len(owners) == 2 and sum(owners.values()) == 10, owners
        for c in conns:
            c.close()


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run(_srdi() + ["serve", "--port", str(port), "--workers", "2"], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def _server_nodelay(pid: int, port: int) -> bool:
    """Whether the connections worker `pid` holds on `port` have TCP_NODELAY, read from a copy of
    one of its sockets (pidfd_getfd: the worker descends from this test process)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                continue
            mine = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd
            if mine < 0:
                pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
            s = socket.socket(fileno=mine)
            try:
                if s.family == socket.AF_INET and s.type == socket.SOCK_STREAM and s.getsockname()[1] == port:
                    try:
                        s.getpeername()
                    except OSError:
                        continue  # a listening socket
                    return bool(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            finally:
                s.close()
    finally:
        os.close(pidfd)
    return False


def test_fastapi_telemetry_is_opt_in(monkeypatch):
    """FastAPI's OpenTelemetry hooks cost every request a provider lookup: off unless asked for."""
    from srdi.web import create_app

    monkeypatch.delenv("SRDI_WEB_TELEMETRY", raising=False)
    app = create_app()
    assert not any(app._telemetry[k] for k in ("tracing", "metrics", "logs"))
    monkeypatch.setenv("SRDI_WEB_TELEMETRY", "1")
    app = create_app()
    assert all(app._telemetry[k] for k in ("tracing", "metrics", "logs"))
