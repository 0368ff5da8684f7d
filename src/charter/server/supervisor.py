"""``charter serve --workers N``: N forked worker processes sharing one listening socket.

The supervisor is a fresh interpreter that ``charter serve`` becomes (exec) once it has
migrated the database. It binds the port, imports the app's modules (``PRELOAD``), forks
the workers, forwards signals and replaces a worker that dies. Each worker builds the
app — engines, pools, threads, caches — and runs uvicorn on the socket it inherited. No
multiprocessing helper process is needed (uvicorn's own ``--workers`` runs one).

Why import before the fork: the modules (FastAPI, SQLAlchemy, uvicorn, Charter's own,
the first-name lists of the naming policy) are most of a worker's memory at start. Read
once in the supervisor, the pages a worker only reads stay shared copy-on-write between
the supervisor and every worker instead of one private copy each; ``gc.freeze()`` keeps
the collector from writing into them. The trade-off: the supervisor is no longer a few
MB of standard library (it holds the shared part, counted once), and an import that
fails stops ``charter serve`` before any worker starts. It still creates nothing that
must not cross a fork — no engine, database connection or thread: those are the workers'.

Why one listening socket, balanced (server/balance.py): the workers share the socket, and
a worker accepts a connection only while it holds no more than the fewest any worker
holds, so a client's keep-alive connections split evenly — a request waits only for its
own worker's share. The kernel's choice was uneven: a socket per worker (SO_REUSEPORT)
hashed 16 connections 7/9 or 6/10 in most trials; one shared socket with no rule let the
worker that woke first take them all. And a worker that dies strands nothing: new
connections go to the others while the supervisor starts its replacement.

    python -m charter.server.supervisor '{"host": …, "port": …, "workers": N, "uvicorn": {…}}'
"""

from __future__ import annotations

import gc
import glob
import importlib
import json
import os
import shutil
import signal
import socket
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from charter.server.balance import Holdings

APP = "charter.server.app:factory"
EARLY_EXIT_S = 5.0     # a worker exiting this soon after its start failed to start
STOP_TIMEOUT_S = 20.0  # after SIGTERM, how long workers get before SIGKILL
# Where workers write their metrics (charter.metrics): a private directory `charter serve`
# made for this run. The supervisor removes a dead worker's live gauges, and the
# directory when it stops.
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# What every worker imports anyway, on its way to serving: the app (which imports the
# API, UI, service, store and domain), what uvicorn imports for the options `charter
# serve` gives it, and the metrics' library; on PostgreSQL, its driver (10 MB).
PRELOAD = ("charter.server.app", "charter.bootstrap", "charter.server.balance", "uvicorn",
           "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
           "charter.server.protocol", "uvicorn.protocols.websockets.auto", "uvicorn.lifespan.on",
           "prometheus_client", "prometheus_client.multiprocess")
POSTGRESQL_PRELOAD = ("psycopg", "sqlalchemy.dialects.postgresql.psycopg")
DATABASE_URL_ENV = "CHARTER_DATABASE_URL"


def bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def preload() -> None:
    """Import what the workers would each import (``PRELOAD``), before they are forked.

    The collector stays off meanwhile (Python's advice before a fork without exec): what
    it freed during the imports would leave holes among the shared objects, which the
    workers' own allocations would then fill, writing — so copying — those pages."""
    gc.disable()
    try:
        for module in PRELOAD:
            importlib.import_module(module)
        if os.environ.get(DATABASE_URL_ENV, "").startswith("postgresql"):
            for module in POSTGRESQL_PRELOAD:
                importlib.import_module(module)
        from charter.person_names import first_names

        first_names()  # the naming policy's name lists (Faker's modules, read once: data)
    finally:
        gc.enable()


def run_worker(sock: socket.socket, holdings: Holdings, slot: int,
               options: dict[str, object], supervisor: int) -> None:
    """In a forked child: the app, taking its share of the shared socket's connections
    (server/balance.py), until uvicorn shuts down."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    end_with_supervisor(supervisor)
    import uvicorn

    from charter.server.balance import BalancedServer

    config = uvicorn.Config(APP, factory=True, **options)  # type: ignore[arg-type]
    BalancedServer(config, sock, holdings, slot).run()


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent ends


def end_with_supervisor(supervisor: int) -> None:
    """Ask Linux to send this worker SIGTERM when its supervisor ends, however it ends:
    a supervisor killed with SIGKILL would otherwise leave its workers serving the port,
    with no one to stop them. (Elsewhere: not asked.)"""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it ended before the request: end now
        os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    def __init__(self, sock: socket.socket, workers: int, options: dict[str, object]) -> None:
        # The listening socket stays open here while a worker is replaced: connections
        # wait in its queue for the other workers, not for the replacement.
        self.sock = sock
        from charter.server.balance import Holdings  # preloaded: imports uvicorn

        self.workers = workers
        self.holdings = Holdings(workers)
        self.options = options
        self.children: dict[int, tuple[float, int]] = {}  # pid -> start time, slot
        self.stopping = False
        self.exit_code = 0

    def start(self, slot: int) -> None:
        # Whatever the supervisor holds now is moved out of the collector's reach, so no
        # collection in a worker writes into (and so copies) a page the two share.
        gc.freeze()
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run_worker(self.sock, self.holdings, slot, self.options, supervisor)
            except BaseException as error:  # noqa: BLE001 - reported, then the child ends
                print(f"charter worker {os.getpid()} failed: {error!r}", file=sys.stderr)
                code = 1
            finally:
                os._exit(code)
        self.children[pid] = (time.monotonic(), slot)

    def stop(self, *_args: object) -> None:
        if not self.stopping:
            self.stopping = True
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, number: int) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                self.children.pop(pid, None)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for slot in range(self.workers):
            self.start(slot)
        deadline: float | None = None
        while self.children:
            if self.stopping and deadline is None:
                deadline = time.monotonic() + STOP_TIMEOUT_S
            if deadline is not None and time.monotonic() > deadline:
                self._signal_all(signal.SIGKILL)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.1)
                continue
            known = self.children.pop(pid, None)
            if known is None:  # not a worker of ours
                continue
            started, slot = known
            self.holdings.leave(slot)  # its connections died with it: nobody's fewest
            forget_worker(pid)
            if self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            # Exiting on its own right after start is a start-up failure (a bad setting,
            # a busy port): starting it again would fail again. A killed worker is replaced.
            if not os.WIFSIGNALED(status) and time.monotonic() - started < EARLY_EXIT_S:
                print(f"charter: a worker exited at start-up (code {code}); stopping",
                      file=sys.stderr)
                self.exit_code = code or 1
                self.stop()
                continue
            print(f"charter: worker {pid} exited (code {code}); starting another",
                  file=sys.stderr)
            self.start(slot)
        return self.exit_code


def forget_worker(pid: int) -> None:
    """A worker ended: its live gauges (connections in use, cache bytes) end with it; its
    counters stay, so totals never go backwards."""
    directory = os.environ.get(METRICS_ENV)
    if directory:
        for path in glob.glob(os.path.join(directory, f"gauge_live*_{pid}.db")):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    try:
        try:
            sock = bind(spec["host"], spec["port"])
        except OSError as error:
            print(f"charter: cannot listen on {spec['host']}:{spec['port']}: {error.strerror}",
                  file=sys.stderr)
            return 1
        try:
            preload()
        except Exception as error:  # noqa: BLE001 - reported; the workers would fail alike
            print(f"charter: the app could not be loaded: {error!r}", file=sys.stderr)
            return 1
        return Supervisor(sock, int(spec["workers"]), dict(spec["uvicorn"])).run()
    finally:
        if spec.get("private_metrics_dir") and os.environ.get(METRICS_ENV):
            shutil.rmtree(os.environ[METRICS_ENV], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
