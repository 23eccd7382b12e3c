"""`srdi serve --workers N` (srdi.web.server): one SO_REUSEPORT listening socket per worker, so
the kernel spreads connections over the workers; a taken port is a clear error (exit 2)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srdi.web.server import reuseport_sockets

pytestmark = pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT") or not Path("/proc/net/tcp").exists(),
                                reason="Linux SO_REUSEPORT and /proc")


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


def test_reuseport_sockets_share_one_port_and_listen():
    socks = reuseport_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1 and ports != {0}
        # listening already: a connection is queued before any worker accepts
        with socket.create_connection(("127.0.0.1", ports.pop()), timeout=2):
            pass
    finally:
        for s in socks:
            s.close()


def test_two_workers_share_the_connections_and_stop_on_sigterm(tmp_path, load):
    port = load.free_port()
    env = {**os.environ, "SRDI_WEB_JOBS": str(tmp_path / "jobs")}
    proc = subprocess.Popen(_srdi() + ["serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    conns = []
    try:
        _wait_health(port, proc)
        for _ in range(40):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("GET", "/api/v1/health")
            r = c.getresponse()
            assert r.status == 200
            r.read()
            conns.append(c)
        procs = load.process_tree(proc.pid)
        assert len(procs) >= 3, procs  # the supervisor and 2 workers
        owners = load.socket_owners(port, {c.sock.getsockname()[1] for c in conns}, procs)
        assert sum(owners.values()) == 40, owners
        # the kernel hashes each connection to a worker: both get a share (P(<5 of 40) ~ 1e-7)
        assert len(owners) == 2 and min(owners.values()) >= 5, owners
    finally:
        for c in conns:
            c.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert proc.returncode is not None


def test_a_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run(_srdi() + ["serve", "--port", str(port), "--workers", "2"], capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_a_port_held_by_another_reuseport_group_is_refused():
    held = reuseport_sockets("127.0.0.1", 0, 2)  # e.g. a first `srdi serve --workers 2`
    try:
        with pytest.raises(OSError):
            reuseport_sockets("127.0.0.1", held[0].getsockname()[1], 2)
    finally:
        for s in held:
            s.close()
