"""Running the app under uvicorn (`srdi serve`), with one listening socket per worker process.

uvicorn's workers share one listening socket, and whichever worker wakes first accepts a whole
burst of new connections: 50 keep-alive clients connecting at once were split 36/14, 39/11, 41/9
between 2 workers, and the busier worker set the tail latency. Here each worker gets its own socket
bound to the same address with SO_REUSEPORT, so the kernel spreads connections over the workers (by
a hash of the address pair). uvicorn's supervisor is kept (health checks, restarts, signals); only
the socket a worker is started with changes. Where SO_REUSEPORT is missing, the shared socket is used.
"""
from __future__ import annotations

import logging
import socket

APP = "srdi.web.app:create_app"
logger = logging.getLogger("uvicorn.error")


OPTIONS = dict(factory=True, access_log=False, server_header=False, proxy_headers=False)


def config(host: str, port: int, workers: int, log_level: str = "warning"):
    import uvicorn

    return uvicorn.Config(APP, host=host, port=port, workers=workers, log_level=log_level, **OPTIONS)


def reuseport_sockets(host: str, port: int, n: int) -> list[socket.socket]:
    """n listening sockets on (host, port), each with SO_REUSEPORT (port 0: one free port for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        # the port must be free, not merely shared: another server listening with SO_REUSEPORT (a
        # second `srdi serve` started by mistake) would otherwise silently take half the connections
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    out: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(family, socket.SOCK_STREAM)
            out.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind((host, port))
            port = s.getsockname()[1]
            # listening from now on: the kernel only spreads connections over listening sockets, and a
            # worker still starting would otherwise leave them all to the first one up (connections
            # for it wait in its backlog until it accepts)
            s.listen(2048)
            s.set_inheritable(True)
    except BaseException:
        for s in out:
            s.close()
        raise
    return out


def supervisor_class():
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess, Process

    class PerWorkerSockets(Multiprocess):
        """uvicorn's Multiprocess with worker i always started on sockets[i]."""

        def _spawn(self, idx: int):
            p = Process(self.config, [self.sockets[idx]])
            p.start()
            return p

        def init_processes(self) -> None:
            self.processes = [self._spawn(i) for i in range(self.processes_num)]

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
                new = self._spawn(idx)
                if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                    new.kill()
                    new.join()
                    return
                old.terminate()
                old.join()
                self.processes[idx] = new

        def handle_ttin(self) -> None:  # one socket per worker: the number of workers is fixed
            logger.info("SIGTTIN ignored: srdi serve runs a fixed number of workers")

        def handle_ttou(self) -> None:
            logger.info("SIGTTOU ignored: srdi serve runs a fixed number of workers")

    return PerWorkerSockets


def run(host: str, port: int, workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted: uvicorn as it is for one worker, else one SO_REUSEPORT socket per
    worker (OSError when the address cannot be bound)."""
    import uvicorn

    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, host=host, port=port, workers=workers, log_level=log_level, **OPTIONS)
        return
    cfg = config(host, port, workers, log_level)
    socks = reuseport_sockets(host, port, workers)
    try:
        supervisor_class()(cfg, socks).run()
    except KeyboardInterrupt:
        pass
    finally:
        for s in socks:
            s.close()
