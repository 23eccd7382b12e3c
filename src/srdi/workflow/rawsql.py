"""Plain DBAPI statements on a SQLAlchemy Connection's transaction, for the reviewers' hot paths.

SQLAlchemy Core costs tens of microseconds per statement on top of the driver; a score takes about
eight statements, so the hot paths (session lookup, task list, score, its audit entries) talk to
the driver directly, inside the same transaction the Connection began (BEGIN IMMEDIATE on SQLite,
committed or rolled back by the Connection). SQL is written with `?` placeholders and rewritten to
`%s` for PostgreSQL (psycopg). Values are stored exactly as the ORM stores them (SQLite keeps
datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Optional, Sequence

from sqlalchemy.engine import Connection

_PG_SQL: dict[str, str] = {}


class Raw:
    __slots__ = ("conn", "cur", "sqlite")

    def __init__(self, conn: Connection | Any, sqlite: Optional[bool] = None):
        """conn: a SQLAlchemy Connection (its transaction), or a DBAPI connection with sqlite given."""
        self.conn = conn
        if isinstance(conn, Connection):
            self.sqlite = conn.dialect.name == "sqlite"
            self.cur = conn.connection.dbapi_connection.cursor()
        else:
            self.sqlite = bool(sqlite)
            self.cur = conn.cursor()

    def _sql(self, sql: str) -> str:
        if self.sqlite:
            return sql
        s = _PG_SQL.get(sql)
        if s is None:
            s = _PG_SQL[sql] = sql.replace("?", "%s")
        return s

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.cur
        cur.execute(self._sql(sql), params)
        return cur.fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list:
        cur = self.cur
        cur.execute(self._sql(sql), params)
        return cur.fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = self.cur
        cur.execute(self._sql(sql), params)
        return cur.rowcount

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.cur.executemany(self._sql(sql), rows)

    def ts(self, d: dt.datetime) -> Any:
        """A naive UTC datetime as the DateTime column stores it."""
        return d.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else d

    def close(self) -> None:
        self.cur.close()
