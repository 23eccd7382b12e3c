"""Append-only, hash-chained audit log.

Each entry records who, when, what (action, entity, id) and the state before and after, as
canonical JSON. Its hash is SHA-256 over (seq, ts, actor, action, entity, entity_id, before, after,
prev_hash), and prev_hash is the hash of the entry before it (64 zeros for the first). The chain
head lives in one row (wf_audit_head) that is locked while appending, so entries are numbered
1, 2, 3, ... without gaps even with concurrent writers. Database triggers refuse UPDATE and DELETE.

`verify(session)` recomputes the chain: any edited, removed, reordered or inserted entry breaks it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from .models import AuditEntry, AuditHead

GENESIS = "0" * 64


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session, transaction):
    """The locked head is valid only inside its transaction."""
    if transaction.parent is None:
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


def append(s: Session, actor: str, action: str, entity: str, entity_id: Any = None,
           before: Any = None, after: Any = None, ts: Optional[dt.datetime] = None) -> AuditEntry:
    """Append one entry inside the caller's transaction (committed with the change it records)."""
    head = s.info.get("audit_head")
    if head is None or head not in s:  # lock the head once per transaction (released at commit)
        head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
        s.info["audit_head"] = head
    seq = head.seq + 1
    t = (ts or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    eid = None if entity_id is None else str(entity_id)
    b, a = canon(before), canon(after)
    h = entry_hash(seq, t, actor, action, entity, eid, b, a, head.hash)
    e = AuditEntry(seq=seq, ts=t, actor=actor, action=action, entity=entity, entity_id=eid, before=b, after=a,
                   prev_hash=head.hash, hash=h)
    s.add(e)
    head.seq = seq
    head.hash = h
    return e


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


def verify(s: Session, batch: int = 5000) -> VerifyResult:
    head = s.get(AuditHead, 1)

    def stream():
        last = 0
        while True:
            rows = s.execute(select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq)
                             .limit(batch)).scalars().all()
            if not rows:
                return
            yield from rows
            last = rows[-1].seq
            s.expunge_all()

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
