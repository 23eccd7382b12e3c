"""HTTP interface of the cultivation cycle: `router` (FastAPI APIRouter).

JSON API under /api/v1/cycle/..., simple server-rendered pages under /cycle/... for each role.
Mount with `app.include_router(srdi.workflow.web.router)`. The database is
`srdi.workflow.db.get_store()` (env SRDI_DB_URL; SQLite file by default), migrated on first use.

Authentication: POST /api/v1/cycle/login sets an HttpOnly cookie and returns a CSRF token (and the
session token, for API clients that prefer `Authorization: Bearer`). Cookie-authenticated writes
must send the CSRF token (header X-CSRF-Token, or form field csrf_token on the pages).
Errors: 401 not logged in, 403 CSRF / not allowed, 404 not found or not yours, 409 refused by the
workflow (illegal transition), 422 bad input; the body's "detail" is one string "field: problem".
"""
from __future__ import annotations

import datetime as dt
import html
import json
from contextlib import contextmanager
from typing import Any, Iterator, Optional
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.routing import Route
from sqlalchemy import select

from . import audit, dashboards, importer, roles, service
from .db import get_store
from .models import Application, Certification, Enterprise, Objection, User
from .roles import AccessDenied, AuthError
from .states import FINAL, STATE_NAMES, TIER_NAMES, IllegalTransition, WorkflowError

router = APIRouter()
COOKIE = "srdi_cycle"
API = "/api/v1/cycle"


# ----------------------------------------------------------------------------- plumbing
def _token(request: Request) -> tuple[Optional[str], bool]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), True
    return request.cookies.get(COOKIE), False


def _err(status: int, message: str, field: Optional[str] = None):
    """The detail is one string naming the field and the problem ("score: must be 0..100"), so it
    reads the same through the web app's problem+json handler."""
    if field and not message.startswith(field):
        message = f"{field}: {message}"
    return HTTPException(status, message)


@contextmanager
def _errors() -> Iterator[None]:
    """Workflow exceptions -> HTTP errors (one string detail "field: problem")."""
    try:
        yield
    except AuthError as e:
        raise _err(403 if "CSRF" in str(e) else 401, str(e), "session") from None
    except AccessDenied as e:
        raise _err(404 if "not found" in str(e) else 403, str(e)) from None
    except IllegalTransition as e:
        raise _err(409, str(e), e.field) from None
    except WorkflowError as e:
        raise _err(422, str(e), e.field) from None
    except ValueError as e:
        raise _err(422, str(e)) from None


@contextmanager
def _tx(request: Request, write: bool = True, csrf: Optional[str] = None, auth: bool = True) -> Iterator[tuple]:
    """(session, user) for one request: authenticates, checks CSRF on cookie writes, commits."""
    store = get_store()
    with _errors():
        uid = None
        if auth:  # one indexed Core lookup of the token hash (before taking SQLite's write lock)
            tok, bearer = _token(request)
            with store.read_conn() as rc:
                pu, expected = roles.principal(rc, tok)
            if write and not bearer:
                roles.check_csrf_token(expected, csrf if csrf is not None else request.headers.get("x-csrf-token"))
            uid = pu.id
        with (store.session() if write else store.read()) as s:
            u = s.get(User, uid) if uid is not None else None
            if auth and u is None:
                raise AuthError("session expired / 会话已过期")
            yield s, u


def _json_response(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":")).encode(), status,
                    media_type="application/json")


def _on_loop(store) -> bool:
    """Run a short Core transaction on the event loop itself (no worker-thread hop)? Only for SQLite,
    where a read never waits and this process's writers take turns on one connection; a database
    server's lock waits belong in a worker thread."""
    return store.dialect == "sqlite"


async def _write(request: Request, fn):
    """fn(session, user) in one write transaction of this request (_tx), off the event loop."""
    def go():
        with _tx(request) as (s, u):
            return fn(s, u)

    return await run_in_threadpool(go)


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except Exception:
        raise _err(422, "body: not valid JSON / 请求体不是有效 JSON", "body") from None
    if not isinstance(body, dict):
        raise _err(422, "body: must be a JSON object", "body")
    return body


def _need(body: dict, key: str, typ=None):
    if key not in body or body[key] is None:
        raise _err(422, f"{key}: required / 必填", key)
    v = body[key]
    if typ is not None and not isinstance(v, typ):
        raise _err(422, f"{key}: wrong type ({type(v).__name__}) / 类型错误", key)
    return v


def _jsonable(obj):
    return json.loads(json.dumps(obj, ensure_ascii=False, default=str))


def _user_dict(u: User) -> dict:
    return {"id": u.id, "username": u.username, "role": u.role, "province": u.province, "enterprise_id": u.enterprise_id,
            "display_name": u.display_name}


# ----------------------------------------------------------------------------- reviewers' hot paths
# Plain DBAPI statements (rawsql) and plain Starlette routes placed first in the router: no
# dependency solving, JSON written directly; errors are raised as HTTPException for the app's
# handlers, as everywhere. The FastAPI declarations below keep them in OpenAPI (and serve a
# non-integer app_id, which the fast route does not match, with the usual validation error).
def _int_param(request: Request, name: str, default: int) -> int:
    v = request.query_params.get(name)
    if v is None:
        return default
    try:
        return int(v)
    except ValueError:
        raise _err(422, f"{name}: not an integer / 须为整数", name) from None


def _bool_param(request: Request, name: str) -> bool:
    v = request.query_params.get(name)
    if v is None:
        return False
    v = v.lower()
    if v in ("1", "true", "on", "yes", "t", "y"):
        return True
    if v in ("0", "false", "off", "no", "f", "n"):
        return False
    raise _err(422, f"{name}: not a boolean / 须为布尔值", name)


async def _tasks(request: Request, all: bool, limit: int) -> Response:
    store = get_store()
    tok, _bearer = _token(request)

    def go():
        with _errors(), store.hot_read() as raw:
            u, _csrf = roles.principal_raw(raw, tok)
            return service.reviewer_tasks_raw(raw, u, pending_only=not all, limit=min(limit, 500))

    return _json_response(go() if _on_loop(store) else await run_in_threadpool(go))


async def _score(request: Request, app_id: int) -> Response:
    body = await _json(request)
    score = _need(body, "score", int)
    recommend, comment = body.get("recommend"), str(body.get("comment") or "")
    store = get_store()
    tok, bearer = _token(request)
    given = request.headers.get("x-csrf-token")

    def run(raw):
        with _errors():
            u, expected = roles.principal_raw(raw, tok)
            if not bearer:
                roles.check_csrf_token(expected, given)
            return service.submit_score_core(raw, u, app_id, score, recommend, comment)

    def go():
        with store.hot_write() as raw:
            return run(raw)

    if _on_loop(store):  # SQLite: on the event loop unless another thread of this process is writing
        with store.hot_write(blocking=False) as raw:
            if raw is not None:
                return _json_response(run(raw))
    return _json_response(await run_in_threadpool(go))


async def _fast_tasks(request: Request) -> Response:
    return await _tasks(request, _bool_param(request, "all"), _int_param(request, "limit", 50))


async def _fast_score(request: Request) -> Response:
    return await _score(request, request.path_params["app_id"])


router.routes.insert(0, Route(f"{API}/reviews/tasks", _fast_tasks, methods=["GET"], include_in_schema=False))
router.routes.insert(1, Route(f"{API}/applications/{{app_id:int}}/score", _fast_score, methods=["POST"], include_in_schema=False))


@router.get(f"{API}/reviews/tasks")
async def api_tasks(request: Request, all: bool = False, limit: int = 50):
    """A reviewer's pending tasks (served by the fast route above; this declaration documents it)."""
    return await _tasks(request, all, limit)


@router.post(f"{API}/applications/{{app_id}}/score")
async def api_score(request: Request, app_id: int):
    """A reviewer's score, final (served by the fast route above; this declaration documents it)."""
    return await _score(request, app_id)


# ----------------------------------------------------------------------------- JSON API: session
@router.post(f"{API}/login")
async def api_login(request: Request, response: Response):
    body = await _json(request)
    username, password = str(_need(body, "username")), str(_need(body, "password"))

    def go():
        with _tx(request, auth=False) as (s, _):
            tok, csrf, u = roles.login(s, username, password)
            return tok, csrf, _user_dict(u)

    try:
        tok, csrf, ud = await run_in_threadpool(go)
    except HTTPException as e:
        raise _err(401, str(e.detail)) if e.status_code in (401, 422) else e
    response.set_cookie(COOKIE, tok, httponly=True, samesite="lax", max_age=roles.SESSION_HOURS * 3600)
    return {"user": ud, "csrf_token": csrf, "token": tok}


@router.post(f"{API}/logout")
def api_logout(request: Request, response: Response):
    with _tx(request) as (s, u):
        roles.logout(s, _token(request)[0])
    response.delete_cookie(COOKIE)
    return {"ok": True}


@router.get(f"{API}/me")
def api_me(request: Request):
    with _tx(request, write=False) as (s, u):
        return _user_dict(u)


# ----------------------------------------------------------------------------- applications
@router.get(f"{API}/applications")
def api_applications(request: Request, status: Optional[str] = None, tier: Optional[str] = None,
                     limit: int = 100, offset: int = 0):
    with _tx(request, write=False) as (s, u):
        q = roles.scope_applications(select(Application), u).order_by(Application.id).limit(min(limit, 1000)).offset(offset)
        if status:
            q = q.where(Application.status == status)
        if tier:
            q = q.where(Application.tier == tier)
        return _jsonable([service.application_dict(s, a, u) for a in s.execute(q).scalars()])


@router.post(f"{API}/applications", status_code=201)
async def api_create_application(request: Request):
    body = await _json(request)

    def go(s, u):
        eid = body.get("enterprise_id") or u.enterprise_id
        if eid is None:
            raise WorkflowError("enterprise_id: required / 必填", "enterprise_id")
        a = service.create_application(s, u, int(eid), str(_need(body, "tier")), int(body.get("year") or service.today().year),
                                       body.get("profile"), body.get("batch"))
        if body.get("profile") is not None:
            service._validate(body["profile"])
        return _jsonable(service.application_dict(s, a, u))

    return await _write(request, go)


@router.get(f"{API}/applications/{{app_id}}")
def api_application(request: Request, app_id: int):
    with _tx(request, write=False) as (s, u):
        return _jsonable(service.application_dict(s, service.get_application(s, u, app_id), u, full=True))


@router.put(f"{API}/applications/{{app_id}}/profile")
async def api_profile(request: Request, app_id: int):
    body = await _json(request)

    def go(s, u):
        return _jsonable(service.application_dict(s, service.update_draft(s, u, app_id, body.get("profile", body)), u))

    return await _write(request, go)


@router.post(f"{API}/applications/{{app_id}}/submit")
def api_submit(request: Request, app_id: int):
    with _tx(request) as (s, u):
        return _jsonable(service.application_dict(s, service.submit(s, u, app_id), u))


@router.post(f"{API}/applications/{{app_id}}/withdraw")
def api_withdraw(request: Request, app_id: int):
    with _tx(request) as (s, u):
        return _jsonable(service.application_dict(s, service.withdraw(s, u, app_id), u))


@router.get(f"{API}/applications/{{app_id}}/reviews")
def api_reviews(request: Request, app_id: int):
    with _tx(request, write=False) as (s, u):
        return _jsonable(service.reviews_visible(s, u, app_id))


@router.post(f"{API}/applications/{{app_id}}/decision")
async def api_decide(request: Request, app_id: int):
    body = await _json(request)

    def go(s, u):
        a = service.decide(s, u, app_id, str(_need(body, "action")), str(body.get("note") or ""))
        return _jsonable(service.application_dict(s, a, u))

    return await _write(request, go)


@router.post(f"{API}/applications/{{app_id}}/objections", status_code=201)
async def api_object(request: Request, app_id: int):
    body = await _json(request)

    def go(s, u):
        o = service.file_objection(s, u, app_id, str(_need(body, "text")))
        return {"id": o.id, "application_id": app_id, "filed_on": str(o.filed_on)}

    return await _write(request, go)


@router.post(f"{API}/objections/{{obj_id}}/resolve")
async def api_resolve(request: Request, obj_id: int):
    body = await _json(request)

    def go(s, u):
        o = service.resolve_objection(s, u, obj_id, bool(_need(body, "upheld", bool)), str(body.get("note") or ""))
        return {"id": o.id, "resolution": o.resolution}

    return await _write(request, go)


@router.post(f"{API}/applications/{{app_id}}/close-publicity")
def api_close(request: Request, app_id: int):
    with _tx(request) as (s, u):
        return _jsonable(service.application_dict(s, service.close_publicity(s, u, app_id), u))


# ----------------------------------------------------------------------------- registry
def _cert_dict(c: Certification) -> dict:
    return _jsonable({"id": c.id, "enterprise_id": c.enterprise_id, "tier": c.tier, "province": c.province, "year": c.year,
                      "batch": c.batch, "valid_from": c.valid_from, "valid_until": c.valid_until, "status": c.status,
                      "renewals": c.renewals, "review_eligible": c.review_eligible, "source": c.source})


@router.get(f"{API}/certifications")
def api_certs(request: Request, status: Optional[str] = None, limit: int = 100, offset: int = 0):
    with _tx(request, write=False) as (s, u):
        q = roles.scope_certifications(select(Certification), u).order_by(Certification.id).limit(min(limit, 1000)).offset(offset)
        if status:
            q = q.where(Certification.status == status)
        return [_cert_dict(c) for c in s.execute(q).scalars()]


@router.get(f"{API}/certifications/{{cert_id}}")
def api_cert(request: Request, cert_id: int):
    with _tx(request, write=False) as (s, u):
        return _cert_dict(service.get_certification(s, u, cert_id))


@router.post(f"{API}/certifications/{{cert_id}}/annual-update", status_code=201)
async def api_annual(request: Request, cert_id: int):
    body = await _json(request)

    def go(s, u):
        up = service.annual_update(s, u, cert_id, _need(body, "profile", dict), body.get("year"))
        return {"id": up.id, "year": up.year, "on_time": up.on_time}

    return await _write(request, go)


@router.post(f"{API}/certifications/{{cert_id}}/review", status_code=201)
async def api_open_review(request: Request, cert_id: int):
    body = await _json(request)

    def go(s, u):
        return _jsonable(service.application_dict(s, service.open_review(s, u, cert_id, body.get("profile")), u))

    return await _write(request, go)


def _ent_dict(e: Enterprise) -> dict:
    return _jsonable({"id": e.id, "name": e.name, "uscc": e.uscc, "province": e.province, "barred_until": e.barred_until})


@router.get(f"{API}/enterprises")
def api_enterprises(request: Request, limit: int = 100, offset: int = 0):
    with _tx(request, write=False) as (s, u):
        q = roles.scope_enterprises(select(Enterprise), u).order_by(Enterprise.id).limit(min(limit, 1000)).offset(offset)
        return [_ent_dict(e) for e in s.execute(q).scalars()]


@router.get(f"{API}/enterprises/{{eid}}")
def api_enterprise(request: Request, eid: int):
    with _tx(request, write=False) as (s, u):
        e = s.get(Enterprise, eid)
        if e is None or not roles.can_view_enterprise(u, e, s):
            raise AccessDenied(f"enterprise {eid}: not found / 不存在")
        return _ent_dict(e)


@router.post(f"{API}/enterprises", status_code=201)
async def api_create_enterprise(request: Request):
    body = await _json(request)

    def go(s, u):
        return _ent_dict(service.create_enterprise(s, u, str(_need(body, "name")), str(_need(body, "province")),
                                                   body.get("uscc")))

    return await _write(request, go)


@router.post(f"{API}/enterprises/{{eid}}/revoke")
async def api_revoke(request: Request, eid: int):
    body = await _json(request)

    def go(s, u):
        return _jsonable(service.revoke(s, u, eid, str(_need(body, "reason")), str(body.get("note") or ""),
                                        body.get("certification_id")))

    return await _write(request, go)


@router.post(f"{API}/users", status_code=201)
async def api_create_user(request: Request):
    body = await _json(request)

    def go(s, u):
        return _user_dict(create_account(s, u, body))

    return await _write(request, go)


def create_account(s, u: User, body: dict) -> User:
    """Admins create accounts: national any; provincial only enterprise / reviewer accounts of its province."""
    r = str(_need(body, "role"))
    prov = body.get("province")
    eid = body.get("enterprise_id")
    if u.role == "national_admin":
        pass
    elif u.role == "provincial_admin":
        if r not in ("enterprise", "reviewer"):
            raise AccessDenied("users: a provincial admin creates enterprise and reviewer accounts only")
        if r == "reviewer":
            prov = u.province
        if r == "enterprise":
            e = s.get(Enterprise, int(eid or 0))
            if e is None or e.province != u.province:
                raise AccessDenied("enterprise: not found in your province / 非本省企业")
    else:
        raise AccessDenied("users: admins only / 仅管理员")
    return roles.create_user(s, str(_need(body, "username")), str(_need(body, "password")), r, province=prov,
                             enterprise_id=eid, actor=u.ref(), display_name=str(body.get("display_name") or ""))


# ----------------------------------------------------------------------------- audit, dashboards, import
def _audit_scope(s, u: User, entity: Optional[str], entity_id: Optional[str]) -> None:
    if u.role == "national_admin":
        return
    if u.role != "provincial_admin":
        raise AccessDenied("audit: admins only / 仅管理员")
    if not (entity and entity_id):
        raise AccessDenied("audit: a provincial admin browses one entity of its province (entity, entity_id)")
    obj = {"application": Application, "certification": Certification, "enterprise": Enterprise}.get(entity)
    row = s.get(obj, int(entity_id)) if obj and str(entity_id).isdigit() else None
    if row is None or row.province != u.province:
        raise AccessDenied(f"{entity} {entity_id}: not found / 不存在")


@router.get(f"{API}/audit")
def api_audit(request: Request, entity: Optional[str] = None, entity_id: Optional[str] = None,
              actor: Optional[str] = None, limit: int = 100, before_seq: Optional[int] = None):
    with _tx(request, write=False) as (s, u):
        _audit_scope(s, u, entity, entity_id)
        return audit.browse(s, entity, entity_id, actor, min(limit, 1000), before_seq)


@router.get(f"{API}/audit/verify")
def api_audit_verify(request: Request):
    with _tx(request, write=False) as (s, u):
        if u.role != "national_admin":
            raise AccessDenied("audit: national admin only / 仅国家级管理员")
        r = audit.verify(s)
        return {"ok": r.ok, "entries": r.entries, "head": r.head, "problems": r.problems}


@router.get(f"{API}/dashboard")
def api_dashboard(request: Request, within_days: int = 180):
    with _tx(request, write=False) as (s, u):
        return _jsonable({"certifications": dashboards.certification_counts(s, u),
                          "applications": dashboards.application_counts(s, u),
                          "expiring": dashboards.expiring(s, u, within_days)})


@router.get(f"{API}/dashboard.xlsx")
def api_dashboard_xlsx(request: Request):
    with _tx(request, write=False) as (s, u):
        data = dashboards.export_xlsx(s, u)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="srdi-cycle-dashboard.xlsx"'})


@router.post(f"{API}/goals")
async def api_goal(request: Request):
    body = await _json(request)

    def go(s, u):
        g = dashboards.set_goal(s, u, str(_need(body, "province")), str(_need(body, "tier")), int(_need(body, "year")),
                                int(_need(body, "goal")))
        return {"province": g.province, "tier": g.tier, "year": g.year, "goal": g.goal}

    return await _write(request, go)


@router.post(f"{API}/import")
async def api_import(request: Request, filename: str = "list.csv"):
    data = await request.body()

    def go(s, u):
        return importer.import_file(s, u, data, filename).as_dict()

    return await _write(request, go)


# ============================================================================= pages
L = {
    "title": ("优质中小企业梯度培育", "Quality-SME cultivation cycle"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"), "user": ("用户名", "Username"),
    "password": ("密码", "Password"), "apps": ("申请", "Applications"), "certs": ("资质", "Titles"),
    "tasks": ("评审任务", "Review tasks"), "dash": ("统计", "Dashboard"), "audit": ("审计日志", "Audit log"),
    "import": ("导入名单", "Import list"), "new": ("新建申请", "New application"), "tier": ("层级", "Tier"),
    "year": ("年度", "Year"), "batch": ("批次", "Batch"), "status": ("状态", "Status"), "profile": ("企业信息 (JSON)", "Profile (JSON)"),
    "create": ("创建", "Create"), "submit": ("提交", "Submit"), "withdraw": ("撤回", "Withdraw"), "score": ("评分", "Score"),
    "comment": ("意见", "Comment"), "approve": ("通过", "Approve"), "recommend": ("推荐", "Recommend"),
    "reject": ("不通过", "Reject"), "object": ("提出异议", "Object"), "close": ("结束公示", "Close publicity"),
    "upheld": ("异议成立", "Uphold"), "dismissed": ("异议不成立", "Dismiss"), "update": ("年度更新", "Annual update"),
    "review": ("申请复核", "Request re-review"), "revoke": ("撤销", "Revoke"), "reason": ("原因", "Reason"),
    "precheck": ("自动预审", "Pre-check"), "reviews": ("专家评审", "Reviews"), "enterprise": ("企业", "Enterprise"),
    "valid": ("有效期至", "Valid until"), "expiring": ("即将到期", "Expiring"), "export": ("导出 Excel", "Export Excel"),
    "target": ("目标", "Target"), "active": ("有效", "Active"), "users": ("新建账户", "New account"), "role": ("角色", "Role"),
    "province": ("省份", "Province"), "csv": ("CSV 内容 (name,uscc,tier,batch,year)", "CSV text (name,uscc,tier,batch,year)"),
    "none": ("无", "none"), "conditions": ("条件", "Conditions"), "outcome": ("结果", "Outcome"),
}


def t(key: str, lang: str) -> str:
    zh, en = L.get(key, (key, key))
    return en if lang == "en" else zh


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _lang(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in ("zh", "en"):
        return q
    return "en" if request.cookies.get("srdi_lang") == "en" else "zh"


def _tier(tier: str, lang: str) -> str:
    n = TIER_NAMES.get(tier)
    return n[1 if lang == "en" else 0] if n else tier


def _state(st: str, lang: str) -> str:
    n = STATE_NAMES.get(st)
    return n[1 if lang == "en" else 0] if n else st


def _page(title: str, body: str, lang: str, u: Optional[User] = None, csrf: str = "", msg: str = "") -> HTMLResponse:
    nav = ""
    if u is not None:
        links = [("/cycle/", t("apps", lang))]
        if u.role == "reviewer":
            links.append(("/cycle/?view=tasks", t("tasks", lang)))
        if u.role in ("provincial_admin", "national_admin"):
            links += [("/cycle/dashboard", t("dash", lang)), ("/cycle/audit", t("audit", lang))]
        nav = " | ".join(f'<a href="{h}">{esc(x)}</a>' for h, x in links)
        nav += (f' | {esc(u.display_name)} ({esc(u.role)}) <form method="post" action="/cycle/logout" style="display:inline">'
                f'<input type="hidden" name="csrf_token" value="{esc(csrf)}"><button>{t("logout", lang)}</button></form>')
    other = "zh" if lang == "en" else "en"
    flash = f'<p class="msg">{esc(msg)}</p>' if msg else ""
    doc = f"""<!doctype html><html lang="{'en' if lang == 'en' else 'zh-CN'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)} · srdi</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:1.5rem;max-width:70rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}}.msg{{background:#fffbe6;padding:.5rem;border:1px solid #e6c200}}
.pass{{color:#0a7a28}}.fail{{color:#b00020}}.undetermined{{color:#8a6d00}}form.inline{{display:inline}}textarea{{width:100%}}
.bar{{background:#3b6fb6;height:1rem}}</style></head>
<body><header><strong>{t("title", lang)}</strong> · <a href="?lang={other}">{'中文' if lang == 'en' else 'English'}</a> · {nav}</header>
{flash}<main><h1>{esc(title)}</h1>{body}</main></body></html>"""
    resp = HTMLResponse(doc)
    resp.set_cookie("srdi_lang", lang, samesite="lax")
    return resp


def _form(action: str, csrf: str, inner: str, label: str) -> str:
    return (f'<form class="inline" method="post" action="{esc(action)}"><input type="hidden" name="csrf_token" value="{esc(csrf)}">'
            f'{inner}<button>{esc(label)}</button></form>')


async def _form_data(request: Request) -> dict:
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _page_ctx(request: Request):
    """(user, csrf) of the browser session, or (None, '')."""
    tok, _ = _token(request)
    if not tok:
        return None, ""
    with get_store().read() as s:
        try:
            u, ls = roles.session_user(s, tok)
            s.expunge(u)
            return u, ls.csrf_token
        except AuthError:
            return None, ""


def _redirect(path: str, msg: str = "") -> RedirectResponse:
    return RedirectResponse(path + (("&" if "?" in path else "?") + "msg=" + quote(msg) if msg else ""), status_code=303)


@router.get("/cycle/", response_class=HTMLResponse)
@router.get("/cycle", response_class=HTMLResponse, include_in_schema=False)
async def page_home(request: Request):
    lang = _lang(request)
    u, csrf = await run_in_threadpool(_page_ctx, request)
    msg = request.query_params.get("msg", "")
    if u is None:
        body = (f'<form method="post" action="/cycle/login"><p>{t("user", lang)} <input name="username" autocomplete="username"></p>'
                f'<p>{t("password", lang)} <input name="password" type="password" autocomplete="current-password"></p>'
                f'<button>{t("login", lang)}</button></form>')
        return _page(t("login", lang), body, lang, msg=msg)
    body = await run_in_threadpool(_home_body, u, csrf, lang, request.query_params)
    return _page(t("apps", lang), body, lang, u, csrf, msg)


def _home_body(u: User, csrf: str, lang: str, qp) -> str:
    store = get_store()
    out = []
    with store.read() as s:
        if u.role == "reviewer":
            rows = service.reviewer_tasks(s, u, pending_only=qp.get("view") == "tasks", limit=200)
            out.append(f"<h2>{t('tasks', lang)}</h2><table><tr><th>#</th><th>{t('tier', lang)}</th><th>{t('year', lang)}</th>"
                       f"<th>{t('status', lang)}</th><th>{t('score', lang)}</th></tr>")
            for r in rows:
                out.append(f'<tr><td><a href="/cycle/applications/{r["application_id"]}">{r["application_id"]}</a></td>'
                           f'<td>{esc(_tier(r["tier"], lang))}</td><td>{r["year"]}</td><td>{esc(_state(r["status"], lang))}</td>'
                           f'<td>{esc(r["score"])}</td></tr>')
            out.append("</table>")
            return "".join(out)
        st = qp.get("status")
        q = roles.scope_applications(select(Application), u).order_by(Application.id.desc()).limit(200)
        if st:
            q = q.where(Application.status == st)
        apps = s.execute(q).scalars().all()
        if u.role != "enterprise":
            out.append("<p>" + " ".join(f'<a href="/cycle/?status={k}">{esc(_state(k, lang))}</a>' for k in STATE_NAMES) + "</p>")
        out.append(f"<h2>{t('apps', lang)}</h2><table><tr><th>#</th><th>{t('enterprise', lang)}</th><th>{t('tier', lang)}</th>"
                   f"<th>{t('year', lang)}</th><th>{t('status', lang)}</th><th>{t('precheck', lang)}</th></tr>")
        for a in apps:
            out.append(f'<tr><td><a href="/cycle/applications/{a.id}">{a.id}</a></td><td>{esc(a.enterprise.name)}</td>'
                       f'<td>{esc(_tier(a.tier, lang))}</td><td>{a.year}</td><td>{esc(_state(a.status, lang))}</td>'
                       f'<td class="{esc(a.precheck_outcome)}">{esc(a.precheck_outcome)}</td></tr>')
        out.append("</table>")
        certs = s.execute(roles.scope_certifications(select(Certification), u).order_by(Certification.id.desc()).limit(200)).scalars().all()
        out.append(f"<h2>{t('certs', lang)}</h2><table><tr><th>#</th><th>{t('tier', lang)}</th><th>{t('status', lang)}</th>"
                   f"<th>{t('valid', lang)}</th><th></th></tr>")
        for c in certs:
            acts = ""
            if u.role == "enterprise" and c.status == "active":
                acts = (_form(f"/cycle/certifications/{c.id}/update", csrf, '<input type="hidden" name="profile" value="">',
                              t("update", lang) + " (= " + t("profile", lang) + " " + ("of the last application" if lang == "en" else "沿用最近申请") + ")")
                        + " " + _form(f"/cycle/certifications/{c.id}/review", csrf, "", t("review", lang)))
            if u.role.endswith("admin") and c.status == "active":
                acts = _form(f"/cycle/enterprises/{c.enterprise_id}/revoke", csrf,
                             f'<input type="hidden" name="certification_id" value="{c.id}"><select name="reason">'
                             + "".join(f"<option>{r}</option>" for r in service.REVOCATION_REASONS) + "</select>",
                             t("revoke", lang))
            out.append(f"<tr><td>{c.id}</td><td>{esc(_tier(c.tier, lang))}</td><td>{esc(c.status)}</td><td>{c.valid_until}</td>"
                       f"<td>{acts}</td></tr>")
        out.append("</table>")
        if u.role == "enterprise":
            from importlib import resources

            import yaml

            ex = yaml.safe_load(resources.files("srdi.examples").joinpath("precision_machinery.yaml").read_text(encoding="utf-8"))
            e = s.get(Enterprise, u.enterprise_id)
            ex["name"], ex["uscc"], ex["province"] = e.name, e.uscc, e.province
            tiers = "".join(f'<option value="{k}">{esc(_tier(k, lang))}</option>' for k in TIER_NAMES)
            out.append(f"<h2>{t('new', lang)}</h2>" + _form("/cycle/applications", csrf,
                       f'<p>{t("tier", lang)} <select name="tier">{tiers}</select> {t("year", lang)} '
                       f'<input name="year" value="{service.today().year}" size="5"> {t("batch", lang)} <input name="batch" size="5"></p>'
                       f'<p>{t("profile", lang)}<br><textarea name="profile" rows="16">'
                       f'{esc(json.dumps(ex, ensure_ascii=False, indent=1, default=str))}</textarea></p>', t("create", lang)))
        if u.role.endswith("admin"):
            out.append(f"<h2>{t('import', lang)}</h2>" + _form("/cycle/import", csrf,
                       f'<p>{t("csv", lang)}<br><textarea name="csv" rows="5">name,uscc,tier,batch,year\n</textarea></p>', t("import", lang)))
            roles_opts = "".join(f"<option>{r}</option>" for r in (("enterprise", "reviewer", "provincial_admin", "national_admin")
                                                                  if u.role == "national_admin" else ("enterprise", "reviewer")))
            out.append(f"<h2>{t('users', lang)}</h2>" + _form("/cycle/users", csrf,
                       f'<p>{t("user", lang)} <input name="username"> {t("password", lang)} <input name="password" type="password"> '
                       f'{t("role", lang)} <select name="role">{roles_opts}</select> {t("province", lang)} <input name="province" size="7"> '
                       f'enterprise_id <input name="enterprise_id" size="5"></p>', t("create", lang)))
            out.append(f"<h2>{t('enterprise', lang)}</h2>" + _form("/cycle/enterprises", csrf,
                       f'<p>name <input name="name"> uscc <input name="uscc" size="20"> {t("province", lang)} '
                       f'<input name="province" size="7" value="{esc(u.province or "")}"></p>', t("create", lang)))
    return "".join(out)


@router.post("/cycle/login")
async def page_login(request: Request):
    f = await _form_data(request)

    def go():
        with get_store().session() as s:
            return roles.login(s, f.get("username", ""), f.get("password", ""))

    try:
        tok, _csrf, _u = await run_in_threadpool(go)
    except AuthError as e:
        return _redirect("/cycle/", str(e))
    r = _redirect("/cycle/")
    r.set_cookie(COOKIE, tok, httponly=True, samesite="lax", max_age=roles.SESSION_HOURS * 3600)
    return r


@router.post("/cycle/logout")
async def page_logout(request: Request):
    f = await _form_data(request)

    def go():
        with _tx(request, csrf=f.get("csrf_token", "")) as (s, u):
            roles.logout(s, _token(request)[0])

    try:
        await run_in_threadpool(go)
    except HTTPException:
        pass
    r = _redirect("/cycle/")
    r.delete_cookie(COOKIE)
    return r


async def _page_action(request: Request, back: str, fn) -> RedirectResponse:
    """Run fn(s, u, form) for a page form post; redirect back with a message (the error, if refused)."""
    f = await _form_data(request)

    def go():
        with _tx(request, csrf=f.get("csrf_token", "")) as (s, u):
            return fn(s, u, f)

    try:
        res = await run_in_threadpool(go)
    except HTTPException as e:
        if e.status_code == 401:
            return _redirect("/cycle/", str(e.detail))
        return _redirect(back, str(e.detail))
    if isinstance(res, tuple):
        return _redirect(*res)
    return _redirect(back, res or "OK")


def _profile_field(f: dict) -> Optional[dict]:
    txt = (f.get("profile") or "").strip()
    if not txt:
        return None
    try:
        v = json.loads(txt)
    except json.JSONDecodeError as e:
        raise WorkflowError(f"profile: not valid JSON ({e}) / 不是有效 JSON", "profile") from None
    return v


@router.post("/cycle/applications")
async def page_create(request: Request):
    def fn(s, u, f):
        prof = _profile_field(f)
        if prof is not None:
            service._validate(prof)
        a = service.create_application(s, u, u.enterprise_id or 0, f.get("tier", ""), int(f.get("year") or service.today().year),
                                       prof, f.get("batch") or None)
        return (f"/cycle/applications/{a.id}", "OK")

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/applications/{app_id}/{action}")
async def page_app_action(request: Request, app_id: int, action: str):
    back = f"/cycle/applications/{app_id}"

    def fn(s, u, f):
        if action == "submit":
            a = service.submit(s, u, app_id)
            return f"{_state(a.status, 'zh')} / {a.status}"
        if action == "withdraw":
            service.withdraw(s, u, app_id)
        elif action == "score":
            try:
                sc = int(f.get("score", ""))
            except ValueError:
                raise WorkflowError("score: a whole number 0..100 / 分数须为整数", "score") from None
            service.submit_score(s, u, app_id, sc, None, f.get("comment", ""))
        elif action in ("approve", "recommend", "reject"):
            service.decide(s, u, app_id, action, f.get("note", ""))
        elif action == "object":
            service.file_objection(s, u, app_id, f.get("text", ""))
        elif action == "close":
            service.close_publicity(s, u, app_id)
        elif action == "profile":
            service.update_draft(s, u, app_id, _profile_field(f))
        else:
            raise WorkflowError(f"action: unknown {action!r}", "action")
        return "OK"

    return await _page_action(request, back, fn)


@router.post("/cycle/objections/{obj_id}/{verdict}")
async def page_resolve(request: Request, obj_id: int, verdict: str):
    def fn(s, u, f):
        o = service.resolve_objection(s, u, obj_id, verdict == "upheld", f.get("note", ""))
        return (f"/cycle/applications/{o.application_id}", o.resolution)

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/certifications/{cert_id}/{action}")
async def page_cert_action(request: Request, cert_id: int, action: str):
    def fn(s, u, f):
        prof = _profile_field(f)
        if prof is None:  # reuse the last application's profile
            c = service.get_certification(s, u, cert_id)
            a = s.execute(select(Application).where(Application.enterprise_id == c.enterprise_id, Application.profile.is_not(None))
                          .order_by(Application.id.desc())).scalars().first()
            prof = a.profile if a else None
        if action == "update":
            if prof is None:
                raise WorkflowError("profile: required / 必填", "profile")
            up = service.annual_update(s, u, cert_id, prof)
            return f"{up.year}: {'on time' if up.on_time else 'late'}"
        if action == "review":
            a = service.open_review(s, u, cert_id, prof)
            return (f"/cycle/applications/{a.id}", "OK")
        raise WorkflowError(f"action: unknown {action!r}", "action")

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/enterprises/{eid}/revoke")
async def page_revoke(request: Request, eid: int):
    def fn(s, u, f):
        cid = f.get("certification_id")
        r = service.revoke(s, u, eid, f.get("reason", ""), f.get("note", ""), int(cid) if cid else None)
        return f"revoked {r['revoked']}"

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/enterprises")
async def page_enterprise(request: Request):
    def fn(s, u, f):
        e = service.create_enterprise(s, u, f.get("name", ""), f.get("province", ""), f.get("uscc") or None)
        return f"enterprise {e.id}"

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/users")
async def page_users(request: Request):
    def fn(s, u, f):
        body = {k: (v or None) for k, v in f.items()}
        if body.get("enterprise_id"):
            body["enterprise_id"] = int(body["enterprise_id"])
        nu = create_account(s, u, body)
        return f"user {nu.username}"

    return await _page_action(request, "/cycle/", fn)


@router.post("/cycle/import")
async def page_import(request: Request):
    def fn(s, u, f):
        rep = importer.import_file(s, u, (f.get("csv") or "").encode(), "list.csv")
        details = "; ".join(f"row {x['row']} {x.get('field', '')}: {x.get('problem') or x.get('reason')}"
                            for x in (rep.errors + rep.duplicates)[:10])
        return rep.line() + (" — " + details if details else "")

    return await _page_action(request, "/cycle/", fn)


@router.get("/cycle/applications/{app_id}", response_class=HTMLResponse)
async def page_application(request: Request, app_id: int):
    lang = _lang(request)
    u, csrf = await run_in_threadpool(_page_ctx, request)
    if u is None:
        return _redirect("/cycle/", t("login", lang))

    def body():
        with get_store().read() as s:
            try:
                a = service.get_application(s, u, app_id)
                d = service.application_dict(s, a, u, full=True)
                revs = service.reviews_visible(s, u, app_id)
            except AccessDenied as e:
                return None, str(e)
            out = [f"<p>{t('enterprise', lang)}: {esc(d['enterprise'])} · {t('tier', lang)}: {esc(_tier(a.tier, lang))} · "
                   f"{t('year', lang)} {a.year} · {t('batch', lang)} {esc(a.batch)} · {esc(a.regime)} · {esc(a.kind)}</p>",
                   f"<p>{t('status', lang)}: <strong>{esc(_state(a.status, lang))}</strong>"
                   + (f" · {esc(a.decision_note)}" if a.decision_note else "") + "</p>"]
            asm = d.get("assessment")
            if asm:
                tr = asm["result"].get("tiers", {}).get(a.tier, {})
                out.append(f"<h2>{t('precheck', lang)}: <span class=\"{esc(asm['outcome'])}\">{esc(asm['outcome'])}</span></h2>"
                           f"<p>as_of {esc(asm['as_of'])} · score {esc(tr.get('score'))} · route {esc(tr.get('route'))} · "
                           f"sha256 {esc(asm['result_sha256'][:16])}…</p><table><tr><th>{t('conditions', lang)}</th>"
                           f"<th>{t('outcome', lang)}</th><th>observed</th><th>threshold</th></tr>")
                for c in tr.get("conditions", [])[:60]:
                    out.append(f"<tr><td>{esc(c.get('id'))}</td><td class=\"{esc(c.get('outcome'))}\">{esc(c.get('outcome'))}</td>"
                               f"<td>{esc(c.get('observed'))}</td><td>{esc(c.get('threshold'))}</td></tr>")
                out.append("</table>")
            if revs:
                out.append(f"<h2>{t('reviews', lang)}</h2><ul>" + "".join(
                    f"<li>{esc(r['reviewer'])}: {esc(r['score'])} {esc(r.get('comment') or '')}</li>" for r in revs) + "</ul>")
            if d.get("publicity"):
                p = d["publicity"]
                out.append(f"<h2>公示 / publicity {esc(p['starts_on'])} – {esc(p['ends_on'])}</h2><ul>")
                for o in d.get("objections", []):
                    acts = ""
                    if u.role.endswith("admin") and not o["resolution"]:
                        acts = (_form(f"/cycle/objections/{o['id']}/upheld", csrf, "", t("upheld", lang)) + " "
                                + _form(f"/cycle/objections/{o['id']}/dismissed", csrf, "", t("dismissed", lang)))
                    out.append(f"<li>{esc(o['filed_on'])}: {esc(o['text'])} — {esc(o['resolution'] or '')} {acts}</li>")
                out.append("</ul>")
            acts = []
            st = a.status
            if u.role == "enterprise" and st == "draft":
                acts.append(_form(f"/cycle/applications/{a.id}/submit", csrf, "", t("submit", lang)))
            if u.role == "enterprise" and st in ("draft", "submitted"):
                acts.append(_form(f"/cycle/applications/{a.id}/withdraw", csrf, "", t("withdraw", lang)))
            if u.role == "reviewer" and st == "in_review" and any(r["score"] is None for r in revs):
                acts.append(_form(f"/cycle/applications/{a.id}/score", csrf,
                                  f'{t("score", lang)} <input name="score" size="4"> {t("comment", lang)} <input name="comment">',
                                  t("submit", lang)))
            for act in d.get("actions", []):
                if act in ("approve", "recommend", "reject"):
                    acts.append(_form(f"/cycle/applications/{a.id}/{act}", csrf, '<input name="note" placeholder="note">',
                                      t(act, lang)))
                if act == "close_publicity":
                    acts.append(_form(f"/cycle/applications/{a.id}/close", csrf, "", t("close", lang)))
            if st == "publicity":
                acts.append(_form(f"/cycle/applications/{a.id}/object", csrf, '<input name="text" size="40">', t("object", lang)))
            out.append("<p>" + " ".join(acts) + "</p>")
            if u.role == "enterprise" and st == "draft":
                out.append(_form(f"/cycle/applications/{a.id}/profile", csrf,
                                 f'<textarea name="profile" rows="12">{esc(json.dumps(a.profile, ensure_ascii=False, indent=1))}</textarea>',
                                 t("profile", lang)))
            return "".join(out), None

    html_body, err = await run_in_threadpool(body)
    if err:
        return _page("404", f"<p>{esc(err)}</p>", lang, u, csrf)
    return _page(f"{t('apps', lang)} #{app_id}", html_body, lang, u, csrf, request.query_params.get("msg", ""))


@router.get("/cycle/dashboard", response_class=HTMLResponse)
async def page_dashboard(request: Request):
    lang = _lang(request)
    u, csrf = await run_in_threadpool(_page_ctx, request)
    if u is None:
        return _redirect("/cycle/", t("login", lang))

    def body():
        with get_store().read() as s:
            try:
                cc = dashboards.certification_counts(s, u)
                ac = dashboards.application_counts(s, u, ("tier", "status"))
                ex = dashboards.expiring(s, u, 180)
            except AccessDenied as e:
                return f"<p>{esc(e)}</p>"
        out = [f'<p><a href="{API}/dashboard.xlsx">{t("export", lang)}</a></p><h2>{t("target", lang)}</h2><table>'
               f'<tr><th>{t("tier", lang)}</th><th>{t("active", lang)}</th><th>{t("target", lang)}</th><th>%</th><th></th></tr>']
        for r in cc["national"]:
            w = min(100.0, r["pct"])
            out.append(f"<tr><td>{esc(_tier(r['tier'], lang))}</td><td>{r['active']}</td><td>{r['target']:,}</td><td>{r['pct']}</td>"
                       f'<td style="width:20rem"><div class="bar" style="width:{w:.2f}%"></div></td></tr>')
        out.append("</table><h2>" + t("province", lang) + "</h2><table><tr><th>province</th><th>tier</th><th>active</th><th>goal</th><th>%</th></tr>")
        for r in cc["provincial"]:
            out.append(f"<tr><td>{esc(r['province'])}</td><td>{esc(_tier(r['tier'], lang))}</td><td>{r['active']}</td>"
                       f"<td>{esc(r['goal'])}</td><td>{esc(r['pct'])}</td></tr>")
        out.append("</table><h2>" + t("apps", lang) + "</h2><table>")
        mx = max([r["count"] for r in ac] or [1])
        for r in ac:
            out.append(f"<tr><td>{esc(_tier(r['tier'], lang))}</td><td>{esc(_state(r['status'], lang))}</td><td>{r['count']}</td>"
                       f'<td style="width:20rem"><div class="bar" style="width:{100 * r["count"] / mx:.1f}%"></div></td></tr>')
        out.append(f"</table><h2>{t('expiring', lang)} (180d)</h2><table>")
        for r in ex[:200]:
            out.append(f"<tr><td>{esc(r['enterprise'])}</td><td>{esc(_tier(r['tier'], lang))}</td><td>{r['valid_until']}</td>"
                       f"<td>{r['days_left']}</td></tr>")
        out.append("</table>")
        return "".join(out)

    return _page(t("dash", lang), await run_in_threadpool(body), lang, u, csrf)


@router.get("/cycle/audit", response_class=HTMLResponse)
async def page_audit(request: Request):
    lang = _lang(request)
    u, csrf = await run_in_threadpool(_page_ctx, request)
    if u is None:
        return _redirect("/cycle/", t("login", lang))
    qp = request.query_params

    def body():
        with get_store().read() as s:
            try:
                _audit_scope(s, u, qp.get("entity"), qp.get("entity_id"))
                rows = audit.browse(s, qp.get("entity"), qp.get("entity_id"), qp.get("actor"), 200)
                ver = audit.verify(s).line() if u.role == "national_admin" and qp.get("verify") else ""
            except AccessDenied as e:
                return f"<p>{esc(e)}</p><p>?entity=application&amp;entity_id=…</p>"
        out = [f'<p><a href="/cycle/audit?verify=1">verify</a> {esc(ver)}</p><table><tr><th>seq</th><th>ts</th><th>actor</th>'
               f'<th>action</th><th>entity</th><th>before</th><th>after</th><th>hash</th></tr>']
        for r in rows:
            out.append(f"<tr><td>{r['seq']}</td><td>{esc(r['ts'])}</td><td>{esc(r['actor'])}</td><td>{esc(r['action'])}</td>"
                       f"<td>{esc(r['entity'])} {esc(r['entity_id'])}</td><td>{esc(json.dumps(r['before'], ensure_ascii=False) if r['before'] else '')}</td>"
                       f"<td>{esc(json.dumps(r['after'], ensure_ascii=False) if r['after'] else '')}</td><td>{esc(r['hash'][:12])}</td></tr>")
        out.append("</table>")
        return "".join(out)

    return _page(t("audit", lang), await run_in_threadpool(body), lang, u, csrf)
