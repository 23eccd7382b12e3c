"""Append-only, hash-chained audit log.

Each entry records who, when, what (action, entity, id) and the state before and after, as
canonical JSON. Its hash is SHA-256 over (seq, ts, actor, action, entity, entity_id, before, after,
prev_hash), and prev_hash is the hash of the entry before it (64 zeros for the first). The chain
head lives in one row (wf_audit_head) that is locked while appending, so entries are numbered
1, 2, 3, ... without gaps even with concurrent writers. Database triggers refuse UPDATE and DELETE.

Serialisation is the database's, so it holds across processes: on SQLite every write transaction
starts with BEGIN IMMEDIATE (one writer at a time, all processes); on PostgreSQL the head row is
read FOR UPDATE. The head is read once per transaction (a primary-key read, microseconds) and kept
for that transaction only (a savepoint's end forgets it), never across transactions: another
process may have appended in between. Entries and the new head are written with plain Core
statements (append, append_many: one multi-row INSERT; write_raw: the reviewers' hot path).

`verify(session)` recomputes the chain: any edited, removed, reordered or inserted entry breaks it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .models import AuditEntry, AuditHead

GENESIS = "0" * 64


_T = AuditEntry.__table__
_H = AuditHead.__table__
_HEAD_SELECT = select(_H.c.seq, _H.c.hash).where(_H.c.id == 1)
_HEAD_LOCK = _HEAD_SELECT.with_for_update()
_HEAD_UPDATE = update(_H).where(_H.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
_INSERT = insert(_T)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session, transaction):
    """The locked head is valid only inside its transaction; after a savepoint ends it is read again
    (a rolled-back savepoint also rolled back the entries it appended)."""
    session.info.pop("audit_head", None)


def canon(obj: Any) -> Optional[str]:
    if obj is None:
        return None
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(seq: int, ts: str, actor: str, action: str, entity: str, entity_id: Optional[str],
               before: Optional[str], after: Optional[str], prev_hash: str) -> str:
    payload = json.dumps([seq, ts, actor, action, entity, entity_id, before, after, prev_hash],
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lock_head(conn: Connection) -> list:
    """[seq, hash] of the chain head, locked for the rest of the transaction: SELECT ... FOR UPDATE on
    PostgreSQL (appenders in every process queue on that row); on SQLite the transaction already holds
    the database write lock (BEGIN IMMEDIATE), which serialises every writer of every process."""
    seq, h = conn.execute(_HEAD_LOCK if conn.dialect.name != "sqlite" else _HEAD_SELECT).one()
    return [seq, h]


def _chain(head: list, items: Iterable[tuple]) -> list[tuple]:
    """Entries (actor, action, entity, entity_id, before, after[, ts]) chained after head
    (advanced in place), as row tuples in column order."""
    rows = []
    seq, prev = head
    t_default = None
    for it in items:
        actor, action, entity, entity_id, before, after = it[:6]
        ts = it[6] if len(it) > 6 else None
        if ts is None:
            t = t_default = t_default or _now()
        else:
            t = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        seq += 1
        eid = None if entity_id is None else str(entity_id)
        b, a = canon(before), canon(after)
        h = entry_hash(seq, t, actor, action, entity, eid, b, a, prev)
        rows.append((seq, t, actor, action, entity, eid, b, a, prev, h))
        prev = h
    head[0], head[1] = seq, prev
    return rows


_COLS = ("seq", "ts", "actor", "action", "entity", "entity_id", "before", "after", "prev_hash", "hash")


def write_entries(conn: Connection, head: list, items: Iterable[tuple]) -> int:
    """Append entries (actor, action, entity, entity_id, before, after[, ts]) after `head` (from
    lock_head, advanced in place): one multi-row INSERT and one head UPDATE. Returns the last seq."""
    rows = _chain(head, items)
    if rows:
        conn.execute(_INSERT, [dict(zip(_COLS, r)) for r in rows])
        conn.execute(_HEAD_UPDATE, {"new_seq": head[0], "new_hash": head[1]})
    return head[0]


_RAW_INSERT = ('INSERT INTO wf_audit (seq, ts, actor, action, entity, entity_id, "before", "after", prev_hash, hash) '
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def write_raw(raw, head: Optional[list], items: Iterable[tuple]) -> list:
    """The same on a rawsql.Raw cursor (the hot paths): locks the head if head is None, writes the
    entries and the new head; returns the head."""
    if head is None:
        head = list(raw.one("SELECT seq, hash FROM wf_audit_head WHERE id = 1"
                            + ("" if raw.sqlite else " FOR UPDATE")))
    rows = _chain(head, items)
    if rows:
        raw.many(_RAW_INSERT, rows)
        raw.run("UPDATE wf_audit_head SET seq = ?, hash = ? WHERE id = 1", (head[0], head[1]))
    return head


def append_conn(conn: Connection, state: dict, actor: str, action: str, entity: str, entity_id: Any = None,
                before: Any = None, after: Any = None, ts: Optional[dt.datetime] = None) -> int:
    """Core variant of append for a plain Connection transaction; `state` is a dict that lives as long
    as the transaction (it caches the locked head)."""
    head = state.get("audit_head")
    if head is None:
        head = state["audit_head"] = lock_head(conn)
    return write_entries(conn, head, [(actor, action, entity, entity_id, before, after, ts)])


def append(s: Session, actor: str, action: str, entity: str, entity_id: Any = None,
           before: Any = None, after: Any = None, ts: Optional[dt.datetime] = None) -> int:
    """Append one entry inside the caller's transaction (committed with the change it records).
    The entry and the new head are written at once with Core statements on the session's connection;
    the head is locked once per transaction. Returns the entry's seq."""
    return append_conn(s.connection(), s.info, actor, action, entity, entity_id, before, after, ts)


def append_many(s: Session | Connection, items: Iterable[tuple], state: Optional[dict] = None) -> int:
    """Many entries at once (bulk operations), one per change: items are (actor, action, entity,
    entity_id, before, after[, ts]). Same chain as append, in the order given."""
    if isinstance(s, Session):
        conn, state = s.connection(), s.info
    else:
        conn, state = s, (state if state is not None else {})
    head = state.get("audit_head")
    if head is None:
        head = state["audit_head"] = lock_head(conn)
    return write_entries(conn, head, items)


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    head: str
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"audit: entries={self.entries} ok={'true' if self.ok else 'false'} head={self.head[:16]}"


def verify_entries(entries: Iterable[AuditEntry], head: Optional[AuditHead] = None, limit: int = 20) -> VerifyResult:
    prev = GENESIS
    n = 0
    problems: list[str] = []
    expected = 1
    for e in entries:
        n += 1
        if e.seq != expected:
            problems.append(f"seq {e.seq}: expected {expected} (an entry is missing or out of order)")
            expected = e.seq
        if e.prev_hash != prev:
            problems.append(f"seq {e.seq}: prev_hash does not match the hash of the entry before")
        h = entry_hash(e.seq, e.ts, e.actor, e.action, e.entity, e.entity_id, e.before, e.after, e.prev_hash)
        if h != e.hash:
            problems.append(f"seq {e.seq}: content does not match its hash (edited)")
        prev = e.hash
        expected += 1
        if len(problems) >= limit:
            break
    if head is not None and not problems:
        if head.seq != n or head.hash != prev:
            problems.append(f"chain head (seq {head.seq}) does not match the last entry (seq {n}): entries removed at the end")
    return VerifyResult(not problems, n, prev, problems)


def verify(s: Session | Connection, batch: int = 20000) -> VerifyResult:
    """Recompute the whole chain (Core rows, streamed in seq order, `batch` at a time)."""
    head = s.execute(select(_H.c.seq, _H.c.hash).where(_H.c.id == 1)).first()
    cols = (_T.c.seq, _T.c.ts, _T.c.actor, _T.c.action, _T.c.entity, _T.c.entity_id, _T.c.before, _T.c.after,
            _T.c.prev_hash, _T.c.hash)

    def stream():
        last = 0
        while True:
            rows = s.execute(select(*cols).where(_T.c.seq > last).order_by(_T.c.seq).limit(batch)).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    return verify_entries(stream(), head)


def browse(s: Session, entity: Optional[str] = None, entity_id: Optional[str] = None, actor: Optional[str] = None,
           limit: int = 100, before_seq: Optional[int] = None) -> list[dict]:
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if entity:
        q = q.where(AuditEntry.entity == entity)
    if entity_id:
        q = q.where(AuditEntry.entity_id == str(entity_id))
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if before_seq:
        q = q.where(AuditEntry.seq < before_seq)
    return [entry_dict(e) for e in s.execute(q).scalars()]


def entry_dict(e: AuditEntry) -> dict:
    return {"seq": e.seq, "ts": e.ts, "actor": e.actor, "action": e.action, "entity": e.entity,
            "entity_id": e.entity_id, "before": json.loads(e.before) if e.before else None,
            "after": json.loads(e.after) if e.after else None, "prev_hash": e.prev_hash, "hash": e.hash}
