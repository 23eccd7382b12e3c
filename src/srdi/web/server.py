"""Running the app under uvicorn (`srdi serve`): one worker, or a supervisor dealing connections
to N workers in turn.

With N workers sharing one listening socket, whichever worker wakes first accepts a whole burst of
new connections (50 keep-alive clients connecting at once were split 36/14, 39/11, 41/9 between 2
workers); with one SO_REUSEPORT socket per worker the kernel hashes connections to workers, which
is even only on average (27/23, 29/21). Under keep-alive clients sending back to back, the worker
holding more connections sets the tail latency. So the supervisor accepts every connection itself
(a thread) and hands it to the next worker in turn over a Unix socket (SCM_RIGHTS), as a load
balancer would: 50 connections become 25/25. Each worker serves the connections it is handed with
uvicorn's own protocol. uvicorn's supervisor is kept (health checks, restarts, signals); only how
a worker receives connections changes.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import sys
import threading

from uvicorn.config import STARTUP_FAILURE
from uvicorn.server import Server
from uvicorn.supervisors.multiprocess import Multiprocess, Process

APP = "srdi.web.app:create_app"
logger = logging.getLogger("uvicorn.error")

# loop="asyncio", not uvloop: under 25 keep-alive clients sending back to back, uvloop answered ~3% of
# requests a whole round late (about twice the median: p50 23 ms, p99 46 ms on one worker), the
# stdlib loop in order (p50 24 ms, p99 26 ms) for ~1.5% less throughput (bench/load_assess.py)
OPTIONS = dict(factory=True, access_log=False, server_header=False, proxy_headers=False, loop="asyncio")
FDS_PER_MESSAGE = 64  # connections a worker takes from one message at most (the dealer sends one)


def config(host: str, port: int, workers: int, log_level: str = "warning"):
    import uvicorn

    return uvicorn.Config(APP, host=host, port=port, workers=workers, log_level=log_level, **OPTIONS)


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A TCP socket listening on (host, port) (port 0: a free one); OSError when the address is taken.
    IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket saying it is TCP,
    and without it Nagle held back each answer's second write for the client's delayed ACK
    (about 40 ms a request)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return s


class Dealer:
    """The supervisor's accept loop (a thread): each new connection goes to the next worker in turn
    whose channel takes it (a worker being restarted is skipped)."""

    def __init__(self, listener: socket.socket, n: int):
        self.listener, self.channels = listener, [None] * n
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.turn = itertools.cycle(range(n))
        self.dealt = [0] * n
        self.thread = threading.Thread(target=self._run, name="srdi-dealer", daemon=True)

    def channel(self, idx: int) -> socket.socket:
        """A new channel for worker idx: its end to pass to the worker (the dealer keeps the other)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)  # a worker not reading (hung until the health check) must not stall the rest
        with self.lock:
            old, self.channels[idx] = self.channels[idx], ours
        if old is not None:
            old.close()
        return theirs

    def _deal(self, conn: socket.socket) -> bool:
        with self.lock:
            for _ in range(len(self.channels)):
                idx = next(self.turn)
                ch = self.channels[idx]
                if ch is None:
                    continue
                try:
                    socket.send_fds(ch, [b"c"], [conn.fileno()])
                except BlockingIOError:  # its channel is full: the next worker's turn
                    continue
                except OSError:  # the worker is gone: its replacement gets a new channel
                    ch.close()
                    self.channels[idx] = None
                    continue
                self.dealt[idx] += 1
                return True
        return False

    def _run(self) -> None:
        self.listener.settimeout(0.25)  # to see `stop`
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError as e:  # a connection reset before it was accepted, or out of descriptors
                if self.stop.is_set():
                    break
                logger.warning("accept failed: %s", e)
                self.stop.wait(0.01)  # (EMFILE would fail again at once)
                continue
            try:
                with conn:  # the worker holds its own copy from here
                    if not self._deal(conn):
                        logger.warning("no worker to take a connection; closed")
            except Exception:  # noqa: BLE001 - the loop must outlive any one connection
                logger.exception("could not hand a connection to a worker; closed")

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        with self.lock:
            for ch in self.channels:
                if ch is not None:
                    ch.close()
            self.channels = [None] * len(self.channels)


class DealtServer(Server):
    """uvicorn's Server in a worker, serving the connections the supervisor hands it over the channel
    (`sockets` = [the channel]) instead of accepting from a listening socket."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config

        def create_protocol(_loop=None) -> asyncio.Protocol:  # as uvicorn's Server.startup makes them
            return config.http_protocol_class(config=config, server_state=self.server_state,
                                              app_state=self.lifespan.state, _loop=_loop)

        loop = asyncio.get_running_loop()
        (chan,) = sockets or [None]
        chan.setblocking(False)
        self.servers, self._chan = [], chan

        async def serve(conn: socket.socket) -> None:
            try:
                await loop.connect_accepted_socket(create_protocol, conn)
            except OSError:
                conn.close()

        def take() -> None:
            while True:
                try:
                    msg, fds, _, _ = socket.recv_fds(chan, 16, FDS_PER_MESSAGE)
                except BlockingIOError:
                    return
                except OSError:
                    msg, fds = b"", []
                if not msg and not fds:  # the supervisor is gone: serve what is open, take no more
                    loop.remove_reader(chan.fileno())
                    return
                for fd in fds:
                    conn = socket.socket(fileno=fd)
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    loop.create_task(serve(conn))

        loop.add_reader(chan.fileno(), take)
        self.started = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        chan = getattr(self, "_chan", None)
        if chan is not None and chan.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(chan.fileno())
        await super().shutdown(sockets)  # closes the channel, then the connections, gracefully


class DealtProcess(Process):
    """A worker process running DealtServer."""

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = DealtServer(config=self.config)
        return self._server


class Dealing(Multiprocess):
    """uvicorn's Multiprocess with the Dealer: worker i is started on a fresh channel i."""

    def __init__(self, config, listener: socket.socket):
        super().__init__(config, [])
        self.dealer = Dealer(listener, config.workers)

    def _spawn(self, idx: int) -> Process:
        theirs = self.dealer.channel(idx)
        try:
            p = DealtProcess(self.config, [theirs])
            p.start()
        finally:
            theirs.close()  # the child has its copy (multiprocessing dups it while pickling)
        return p

    def init_processes(self) -> None:
        self.processes = [self._spawn(i) for i in range(self.processes_num)]
        self.dealer.start()

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung or dead
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting will not help
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[idx] = self._spawn(idx)

    def restart_all(self) -> None:
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(idx)  # new connections go to the new worker from here
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def terminate_all(self) -> None:
        self.dealer.close()  # no new connections; the workers finish theirs
        super().terminate_all()

    def handle_ttin(self) -> None:  # the dealer has one channel per worker: the number is fixed
        logger.info("SIGTTIN ignored: srdi serve runs a fixed number of workers")

    def handle_ttou(self) -> None:
        logger.info("SIGTTOU ignored: srdi serve runs a fixed number of workers")


def run(host: str, port: int, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted: uvicorn as it is for one worker, else the Dealer over `workers`
    worker processes (OSError when the address cannot be bound)."""
    import uvicorn

    if workers <= 1 or not hasattr(socket, "send_fds"):  # (no fd passing, e.g. Windows: uvicorn's shared socket)
        uvicorn.run(APP, host=host, port=port, workers=workers, log_level=log_level, **OPTIONS)
        return
    cfg = config(host, port, workers, log_level)
    listener = listening_socket(host, port)
    try:
        Dealing(cfg, listener).run()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()
