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
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from . import audit
from .models import ROLES, Application, Certification, Enterprise, LoginSession, Review, User, utcnow

# OWASP minimum for Argon2id (m=19 MiB, t=2, p=1): a login costs tens of ms, not half a second.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
SESSION_HOURS = 12


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


def session_user(s: Session, token: Optional[str]) -> tuple[User, LoginSession]:
    if not token:
        raise AuthError("not logged in / 未登录")
    ls = s.execute(select(LoginSession).options(joinedload(LoginSession.user))
                   .where(LoginSession.token_hash == _token_hash(token))).scalar_one_or_none()
    if ls is None or ls.expires_at < utcnow() or not ls.user.active:
        raise AuthError("session expired / 会话已过期")
    return ls.user, ls


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
