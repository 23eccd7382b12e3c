"""Storage of the cultivation cycle (SQLAlchemy 2 declarative models).

Money and profiles are kept exactly as the contract gives them (yuan, JSON). The frozen copies of a
profile and of its engine assessment are stored zlib-compressed with their SHA-256, so that what
the reviewers saw can be shown to be unchanged.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def freeze(obj: Any) -> tuple[bytes, str]:
    """Canonical JSON of obj, compressed, and its SHA-256 (hex)."""
    raw = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
    return zlib.compress(raw, 6), hashlib.sha256(raw).hexdigest()


def thaw(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


ROLES = ("enterprise", "reviewer", "provincial_admin", "national_admin")


class User(Base):
    __tablename__ = "wf_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    province: Mapped[Optional[str]] = mapped_column(String(6), nullable=True)
    enterprise_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wf_enterprise.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def ref(self) -> str:
        return f"{self.role}:{self.username}"


class LoginSession(Base):
    __tablename__ = "wf_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("wf_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    user: Mapped[User] = relationship()


class Enterprise(Base):
    __tablename__ = "wf_enterprise"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    uscc: Mapped[Optional[str]] = mapped_column(String(18), unique=True, nullable=True)
    province: Mapped[str] = mapped_column(String(6), index=True)
    barred_until: Mapped[Optional[dt.date]] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Application(Base):
    __tablename__ = "wf_application"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("wf_enterprise.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="new")  # new | review (复核 of a certification)
    certification_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wf_certification.id"), nullable=True)
    tier: Mapped[str] = mapped_column(String(30))
    year: Mapped[int] = mapped_column(Integer)
    batch: Mapped[Optional[str]] = mapped_column(String(30), nullable=True)
    regime: Mapped[str] = mapped_column(String(6))
    province: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True, default="draft")
    profile: Mapped[Optional[dict]] = mapped_column(JSON, nullable=True)  # the editable draft
    precheck_outcome: Mapped[Optional[str]] = mapped_column(String(15), nullable=True)
    mean_score: Mapped[Optional[float]] = mapped_column(nullable=True)
    decision_note: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    enterprise: Mapped[Enterprise] = relationship()
    __mapper_args__ = {"version_id_col": version}


class Assessment(Base):
    """The frozen copy of the profile and of the engine result taken at submission (pre-check)."""
    __tablename__ = "wf_assessment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("wf_application.id"), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    mode: Mapped[str] = mapped_column(String(12))
    regime: Mapped[str] = mapped_column(String(6))
    outcome: Mapped[str] = mapped_column(String(15))
    profile_blob: Mapped[bytes] = mapped_column(LargeBinary)
    profile_sha256: Mapped[str] = mapped_column(String(64))
    result_blob: Mapped[bytes] = mapped_column(LargeBinary)
    result_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def profile(self) -> dict:
        return thaw(self.profile_blob)

    def result(self) -> dict:
        return thaw(self.result_blob)


class Review(Base):
    """One reviewer's assignment and (once given) score. Reviewers never see each other's rows."""
    __tablename__ = "wf_review"
    __table_args__ = (UniqueConstraint("application_id", "reviewer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("wf_application.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("wf_user.id"), index=True)
    stage: Mapped[str] = mapped_column(String(12), default="expert")
    score: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # 0..100
    recommend: Mapped[Optional[bool]] = mapped_column(Boolean, nullable=True)
    comment: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime, nullable=True)


class Publicity(Base):
    __tablename__ = "wf_publicity"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("wf_application.id"), unique=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    authority: Mapped[str] = mapped_column(String(10))  # province code or "national"


class Objection(Base):
    __tablename__ = "wf_objection"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("wf_application.id"), index=True)
    filed_by: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    filed_on: Mapped[dt.date] = mapped_column(Date)
    resolution: Mapped[Optional[str]] = mapped_column(String(10), nullable=True)  # upheld | dismissed
    resolved_by: Mapped[Optional[str]] = mapped_column(String(120), nullable=True)
    note: Mapped[Optional[str]] = mapped_column(Text, nullable=True)


class Certification(Base):
    __tablename__ = "wf_certification"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("wf_enterprise.id"), index=True)
    application_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)  # the granting application
    tier: Mapped[str] = mapped_column(String(30))
    province: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int] = mapped_column(Integer)
    batch: Mapped[Optional[str]] = mapped_column(String(30), nullable=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | expired | revoked
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    review_eligible: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(10), default="cycle")  # cycle | import
    enterprise: Mapped[Enterprise] = relationship()


class AnnualUpdate(Base):
    __tablename__ = "wf_annual_update"
    __table_args__ = (UniqueConstraint("certification_id", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("wf_certification.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    submitted_on: Mapped[dt.date] = mapped_column(Date)
    on_time: Mapped[bool] = mapped_column(Boolean)
    profile_blob: Mapped[bytes] = mapped_column(LargeBinary)
    profile_sha256: Mapped[str] = mapped_column(String(64))


class Revocation(Base):
    __tablename__ = "wf_revocation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("wf_enterprise.id"), index=True)
    certification_id: Mapped[Optional[int]] = mapped_column(ForeignKey("wf_certification.id"), nullable=True)
    reason: Mapped[str] = mapped_column(String(30))  # data_fraud | compliance | missed_updates | other
    note: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str] = mapped_column(String(120))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    bar_until: Mapped[Optional[dt.date]] = mapped_column(Date, nullable=True)


class ProvincialGoal(Base):
    __tablename__ = "wf_goal"
    __table_args__ = (UniqueConstraint("province", "tier", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    province: Mapped[str] = mapped_column(String(6))
    tier: Mapped[str] = mapped_column(String(30))
    year: Mapped[int] = mapped_column(Integer)
    goal: Mapped[int] = mapped_column(Integer)


class AuditEntry(Base):
    """Append-only, hash-chained (triggers refuse UPDATE and DELETE)."""
    __tablename__ = "wf_audit"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[Optional[str]] = mapped_column(String(40), nullable=True)
    before: Mapped[Optional[str]] = mapped_column(Text, nullable=True)  # canonical JSON
    after: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_wf_audit_entity", AuditEntry.entity, AuditEntry.entity_id)


class AuditHead(Base):
    """One row: the chain head. Locked (SELECT ... FOR UPDATE) while appending, so appends are serial."""
    __tablename__ = "wf_audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
