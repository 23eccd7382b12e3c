"""Database engine and sessions from a URL; migrations (Alembic, configured in code).

Default URL: env SRDI_DB_URL, else SQLite file `srdi-cycle.db` in the current directory.
PostgreSQL: `postgresql+psycopg://user:pass@host/db`.

SQLite is opened in WAL mode (synchronous=NORMAL, busy_timeout 60 s) and every write transaction
starts with BEGIN IMMEDIATE, so concurrent writers queue on the database lock instead of failing on
lock upgrades. Within a process, writers take turns under one lock on one connection; reads use a
separate pool with a deferred BEGIN (WAL readers never wait for the writer).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///srdi-cycle.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def default_url() -> str:
    return os.environ.get("SRDI_DB_URL") or DEFAULT_URL


def make_engine(url: str, readonly: bool = False) -> Engine:
    if url.startswith("sqlite"):
        # writers of one process take turns (Store's lock) on few connections; readers get a pool
        eng = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False},
                            pool_size=20 if readonly else 2, max_overflow=80 if readonly else 8)

        @event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _rec):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if ":memory:" not in url and url not in ("sqlite://", "sqlite:///"):
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @event.listens_for(eng, "begin")
        def _begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return eng
    return create_engine(url, pool_size=20, max_overflow=100, pool_pre_ping=True)


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> Optional[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


class Store:
    """An engine plus a session factory. `Store(url).init()` migrates to head."""

    def __init__(self, url: Optional[str] = None):
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.dialect = self.engine.dialect.name
        # SQLite: reads use a second engine with plain (deferred) BEGIN, so they do not queue on the write lock
        self.read_engine = make_engine(self.url, readonly=True) if self.dialect == "sqlite" and ":memory:" not in self.url else self.engine
        self.ReadSession = sessionmaker(self.read_engine, expire_on_commit=False)
        self._wlock = threading.RLock() if self.dialect == "sqlite" else None
        self._memory = self.dialect == "sqlite" and (":memory:" in self.url or self.url in ("sqlite://", "sqlite:///"))
        self._hot_writer = self._hot_reader = None
        self._hot_reader_thread: Optional[int] = None
        self._ckpt_stop: Optional[threading.Event] = None

    def init(self) -> "Store":
        upgrade(self.engine)
        return self

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write transaction, committed at the end. SQLite: writers of this process queue on a
        lock (FIFO-ish, no busy-sleep back-off); other processes still meet the busy timeout."""
        lock = self._wlock
        if lock is not None:
            lock.acquire()
        s = self.Session()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()
            if lock is not None:
                lock.release()

    @contextmanager
    def hot_write(self, blocking: bool = True):
        """A write transaction as a rawsql.Raw cursor, for the hot paths. SQLite: the process's one
        writer connection, kept checked out, BEGIN IMMEDIATE / COMMIT issued directly (no pool or
        event round trip), under the process write lock; with blocking=False yields None at once if
        another thread of this process is writing. Other databases: a pooled Connection transaction."""
        from .rawsql import Raw

        lock = self._wlock
        if lock is not None and not lock.acquire(blocking):
            yield None
            return
        try:
            if lock is None or self._memory:  # a server database, or SQLite in memory (one connection)
                with self.engine.begin() as conn:
                    raw = Raw(conn)
                    try:
                        yield raw
                    finally:
                        raw.close()
                return
            if self._hot_writer is None:
                self._hot_writer = self.engine.raw_connection()
                self._start_checkpointer(self._hot_writer)
            dbc = self._hot_writer
            raw = Raw(dbc, sqlite=True)
            raw.cur.execute("BEGIN IMMEDIATE")
            try:
                yield raw
            except BaseException:
                dbc.rollback()
                raise
            else:
                try:
                    dbc.commit()
                except BaseException:
                    dbc.rollback()
                    raise
            finally:
                raw.close()
        finally:
            if lock is not None:
                lock.release()

    def _start_checkpointer(self, writer) -> None:
        """SQLite WAL: the hot writer does not checkpoint itself (a checkpoint copies pages into the
        database file and fsyncs it, tens of milliseconds that would stall the event loop); a daemon
        thread runs PRAGMA wal_checkpoint(PASSIVE) on its own connection a few times a second instead
        (PASSIVE never blocks the writer; other connections keep SQLite's automatic checkpoints)."""
        if self._memory or self._ckpt_stop is not None:
            return
        cur = writer.cursor()
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()
        stop = self._ckpt_stop = threading.Event()
        eng = self.read_engine

        def run():
            conn = eng.raw_connection()
            try:
                while not stop.wait(0.25):
                    try:
                        c = conn.cursor()
                        c.execute("PRAGMA wal_checkpoint(PASSIVE)")
                        c.fetchall()
                        c.close()
                    except Exception:  # pragma: no cover - busy or closing: try again next time
                        pass
            finally:
                conn.close()

        threading.Thread(target=run, name="srdi-wal-checkpoint", daemon=True).start()

    @contextmanager
    def hot_read(self):
        """A rawsql.Raw cursor for short reads on the hot paths. SQLite, on the thread that first
        asked (the server's event loop): one kept connection, each SELECT its own snapshot (WAL:
        never waits for the writer); elsewhere a pooled read Connection."""
        from .rawsql import Raw

        me = threading.get_ident()
        if self.dialect == "sqlite" and not self._memory and self.read_engine is not self.engine \
                and self._hot_reader_thread in (None, me):
            if self._hot_reader is None:
                self._hot_reader = self.read_engine.raw_connection()
                self._hot_reader_thread = me
            raw = Raw(self._hot_reader, sqlite=True)
            try:
                yield raw
            finally:
                raw.close()
            return
        with self.read_engine.connect() as conn:
            raw = Raw(conn)
            try:
                yield raw
            finally:
                raw.close()
                conn.rollback()

    @contextmanager
    def read_conn(self) -> Iterator[Connection]:
        """A Core read transaction (SQLite: deferred BEGIN, never waits for writers)."""
        with self.read_engine.connect() as conn:
            try:
                yield conn
            finally:
                conn.rollback()

    @contextmanager
    def read(self) -> Iterator[Session]:
        s = self.ReadSession()
        try:
            yield s
        finally:
            s.rollback()
            s.close()

    def dispose(self) -> None:
        if self._ckpt_stop is not None:
            self._ckpt_stop.set()
            self._ckpt_stop = None
        for c in (self._hot_writer, self._hot_reader):
            if c is not None:
                c.close()
        self._hot_writer = self._hot_reader = None
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


_store: Optional[Store] = None
_lock = threading.Lock()


def get_store() -> Store:
    """The process-wide store (created from SRDI_DB_URL and migrated on first use)."""
    global _store
    with _lock:
        if _store is None:
            _store = Store().init()
        return _store


def set_store(store: Optional[Store]) -> None:
    global _store
    with _lock:
        _store = store
