"""Accounts, roles, sessions, CSRF, and who may see or do what.

Roles:
- enterprise: its own enterprise's data only;
- reviewer: only the applications assigned to it (and only its own scores: blind review);
- provincial_admin: its own province;
- national_admin: everything.

Passwords are Argon2id hashes (argon2-cffi). A login creates a session: a random token (the
cookie; only its SHA-256 is stored) and a CSRF token that every state-changing request must echo
in the `X-CSRF-Token` header or a `csrf_token` form field. Requests authenticated with
`Authorization: Bearer <token>` (API clients, not browsers) need no CSRF token.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from . import audit
from .models import ROLES, Application, Certification, Enterprise, LoginSession, Review, User, utcnow

# OWASP minimum for Argon2id (m=19 MiB, t=2, p=1): a login costs tens of ms, not half a second.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
SESSION_HOURS = 12
_S = LoginSession.__table__
_U = User.__table__


class AccessDenied(Exception):
    """The actor may not see or change this resource (HTTP 403 / 404)."""


class AuthError(Exception):
    """Bad credentials, expired session or bad CSRF token (HTTP 401 / 403)."""


def hash_password(pw: str) -> str:
    if len(pw) < 8:
        raise ValueError("password: at least 8 characters / 密码至少 8 位")
    return _hasher.hash(pw)


def check_password(hash_: str, pw: str) -> bool:
    try:
        return _hasher.verify(hash_, pw)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_user(s: Session, username: str, password: str, role: str, *, province: Optional[str] = None,
                enterprise_id: Optional[int] = None, display_name: str = "", actor: str = "system",
                password_hash: Optional[str] = None) -> User:
    if role not in ROLES:
        raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
    if role == "provincial_admin" and not province:
        raise ValueError("province: a provincial admin needs a province")
    if role == "enterprise" and not enterprise_id:
        raise ValueError("enterprise_id: an enterprise account needs its enterprise")
    if s.execute(select(User.id).where(User.username == username)).first():
        raise ValueError(f"username: {username!r} already exists / 用户名已存在")
    u = User(username=username, password_hash=password_hash or hash_password(password), role=role,
             province=province, enterprise_id=enterprise_id, display_name=display_name or username)
    s.add(u)
    s.flush()
    audit.append(s, actor, "user.create", "user", u.id, None,
                 {"username": username, "role": role, "province": province, "enterprise_id": enterprise_id})
    return u


def create_users_many(s: Session, rows: list[dict], actor: str = "system") -> list[int]:
    """create_user for many accounts at once (each row: username, role, password_hash, and province,
    enterprise_id, display_name as needed; the hash is given, e.g. one shared by synthetic accounts):
    the same checks, one multi-row INSERT, one audit entry per account. All or nothing."""
    from sqlalchemy import insert

    recs, seen = [], set()
    for r in rows:
        username, role = r["username"], r["role"]
        if role not in ROLES:
            raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        if role == "provincial_admin" and not r.get("province"):
            raise ValueError("province: a provincial admin needs a province")
        if role == "enterprise" and not r.get("enterprise_id"):
            raise ValueError("enterprise_id: an enterprise account needs its enterprise")
        if not r.get("password_hash"):
            raise ValueError("password_hash: required for bulk accounts")
        if username in seen:
            raise ValueError(f"username: {username!r} already exists / 用户名已存在")
        seen.add(username)
        recs.append({"username": username, "password_hash": r["password_hash"], "role": role,
                     "province": r.get("province"), "enterprise_id": r.get("enterprise_id"),
                     "display_name": r.get("display_name") or username, "active": True})
    if not recs:
        return []
    s.flush()
    names = sorted(seen)
    for i in range(0, len(names), 900):
        dup = s.execute(select(User.username).where(User.username.in_(names[i:i + 900]))).scalars().first()
        if dup:
            raise ValueError(f"username: {dup!r} already exists / 用户名已存在")
    ids = list(s.connection().execute(insert(_U).returning(_U.c.id, sort_by_parameter_order=True), recs).scalars())
    audit.append_many(s, [(actor, "user.create", "user", i, None,
                           {"username": r["username"], "role": r["role"], "province": r["province"],
                            "enterprise_id": r["enterprise_id"]}) for i, r in zip(ids, recs)])
    return ids


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(s: Session, username: str, password: str) -> tuple[str, str, User]:
    """Check the password; returns (session token, csrf token, user). Raises AuthError."""
    u = s.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if u is None or not u.active or not check_password(u.password_hash, password):
        raise AuthError("bad username or password / 用户名或密码错误")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    s.add(LoginSession(token_hash=_token_hash(token), csrf_token=csrf, user_id=u.id,
                       expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
    audit.append(s, u.ref(), "session.login", "user", u.id)
    return token, csrf, u


def logout(s: Session, token: str) -> None:
    ls = s.execute(select(LoginSession).where(LoginSession.token_hash == _token_hash(token))).scalar_one_or_none()
    if ls is not None:
        audit.append(s, ls.user.ref(), "session.logout", "user", ls.user_id)
        s.delete(ls)


_PRINCIPAL = (select(_S.c.csrf_token, _S.c.expires_at, _U.c.id, _U.c.username, _U.c.role, _U.c.province,
                     _U.c.enterprise_id, _U.c.active, _U.c.display_name)
              .select_from(_S.join(_U, _U.c.id == _S.c.user_id))
              .where(_S.c.token_hash == bindparam("th")))


def principal(conn, token: Optional[str]) -> tuple[Principal, str]:
    """The session's user (a Principal, not an ORM object) and its CSRF token,
    in one indexed lookup of the token's SHA-256 (no password hashing per request: Argon2 runs only
    at login). `conn` is a Connection or a Session. Raises AuthError."""
    if not token:
        raise AuthError("not logged in / 未登录")
    row = conn.execute(_PRINCIPAL, {"th": _token_hash(token)}).first()
    if row is None or row.expires_at < utcnow() or not row.active:
        raise AuthError("session expired / 会话已过期")
    return Principal(row.id, row.username, row.role, row.province, row.enterprise_id, bool(row.active),
                     row.display_name), row.csrf_token


class Principal:
    """The user of a session as the hot paths need it: plain attributes, no ORM instrumentation.
    Service functions read u.id, u.role, u.province, u.enterprise_id and u.ref() only."""
    __slots__ = ("id", "username", "role", "province", "enterprise_id", "active", "display_name")

    def __init__(self, id, username, role, province, enterprise_id, active, display_name):
        self.id, self.username, self.role, self.province = id, username, role, province
        self.enterprise_id, self.active, self.display_name = enterprise_id, active, display_name

    def ref(self) -> str:
        return f"{self.role}:{self.username}"


_SQL_PRINCIPAL = ("SELECT s.csrf_token, s.expires_at, u.id, u.username, u.role, u.province, u.enterprise_id, u.active, "
                  "u.display_name FROM wf_session s JOIN wf_user u ON u.id = s.user_id WHERE s.token_hash = ?")


def principal_raw(raw, token: Optional[str]) -> tuple[Principal, str]:
    """principal() on a rawsql.Raw cursor (the hot paths)."""
    if not token:
        raise AuthError("not logged in / 未登录")
    row = raw.one(_SQL_PRINCIPAL, (_token_hash(token),))
    if row is None or row[1] < raw.ts(utcnow()) or not row[7]:
        raise AuthError("session expired / 会话已过期")
    return Principal(row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8]), row[0]


def session_user(s: Session, token: Optional[str]) -> tuple[User, LoginSession]:
    if not token:
        raise AuthError("not logged in / 未登录")
    ls = s.execute(select(LoginSession).options(joinedload(LoginSession.user))
                   .where(LoginSession.token_hash == _token_hash(token))).scalar_one_or_none()
    if ls is None or ls.expires_at < utcnow() or not ls.user.active:
        raise AuthError("session expired / 会话已过期")
    return ls.user, ls


def check_csrf_token(expected: str, given: Optional[str]) -> None:
    if not given or not hmac.compare_digest(expected, given):
        raise AuthError("CSRF token missing or wrong / CSRF 校验失败")


def check_csrf(ls: LoginSession, given: Optional[str]) -> None:
    if not given or not hmac.compare_digest(ls.csrf_token, given):
        raise AuthError("CSRF token missing or wrong / CSRF 校验失败")


# ------------------------------------------------------------------------------ authorization
def can_view_enterprise(u: User, e: Enterprise, s: Session) -> bool:
    if u.role == "national_admin":
        return True
    if u.role == "provincial_admin":
        return e.province == u.province
    if u.role == "enterprise":
        return u.enterprise_id == e.id
    return False  # reviewers see applications, not registry records


def is_assigned(s: Session, u: User, app_id: int) -> bool:
    return s.execute(select(Review.id).where(Review.application_id == app_id, Review.reviewer_id == u.id)).first() is not None


def can_view_application(u: User, a: Application, s: Session) -> bool:
    if u.role == "national_admin":
        return True
    if u.role == "provincial_admin":
        return a.province == u.province
    if u.role == "enterprise":
        return u.enterprise_id == a.enterprise_id
    if u.role == "reviewer":
        return is_assigned(s, u, a.id)
    return False


def can_view_certification(u: User, c: Certification, s: Session) -> bool:
    if u.role == "national_admin":
        return True
    if u.role == "provincial_admin":
        return c.province == u.province
    if u.role == "enterprise":
        return u.enterprise_id == c.enterprise_id
    return False


def require(ok: bool, what: str) -> None:
    if not ok:
        raise AccessDenied(f"{what}: not accessible to this account / 无权访问")


def scope_applications(q, u: User):
    """Restrict a select(Application) to what u may see."""
    if u.role == "national_admin":
        return q
    if u.role == "provincial_admin":
        return q.where(Application.province == u.province)
    if u.role == "enterprise":
        return q.where(Application.enterprise_id == u.enterprise_id)
    if u.role == "reviewer":
        return q.where(Application.id.in_(select(Review.application_id).where(Review.reviewer_id == u.id)))
    return q.where(False)


def scope_certifications(q, u: User):
    if u.role == "national_admin":
        return q
    if u.role == "provincial_admin":
        return q.where(Certification.province == u.province)
    if u.role == "enterprise":
        return q.where(Certification.enterprise_id == u.enterprise_id)
    return q.where(False)


def scope_enterprises(q, u: User):
    if u.role == "national_admin":
        return q
    if u.role == "provincial_admin":
        return q.where(Enterprise.province == u.province)
    if u.role == "enterprise":
        return q.where(Enterprise.id == u.enterprise_id)
    return q.where(False)


def is_admin(u: User) -> bool:
    return u.role in ("provincial_admin", "national_admin")
