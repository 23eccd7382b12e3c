"""Database engine and sessions from a URL; migrations (Alembic, configured in code).

Default URL: env SRDI_DB_URL, else SQLite file `srdi-cycle.db` in the current directory.
PostgreSQL: `postgresql+psycopg://user:pass@host/db`.

SQLite is opened in WAL mode and every transaction starts with BEGIN IMMEDIATE, so concurrent
writers queue on the database lock (busy timeout) instead of failing on lock upgrades.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///srdi-cycle.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def default_url() -> str:
    return os.environ.get("SRDI_DB_URL") or DEFAULT_URL


def make_engine(url: str, readonly: bool = False) -> Engine:
    if url.startswith("sqlite"):
        eng = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=20,
                            max_overflow=80)

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
    def read(self) -> Iterator[Session]:
        s = self.ReadSession()
        try:
            yield s
        finally:
            s.rollback()
            s.close()

    def dispose(self) -> None:
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
