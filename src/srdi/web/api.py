"""REST API under /api/v1: assess, plan, support, rules, batch jobs, health.

`POST /assess` answers exactly what `srdi assess --format json` prints (the same
`assess_profile`). Errors are RFC 9457 problem JSON naming the field path. The planner, support
and batch modules are built by other parts of the project: they are imported when called, and
while they are absent the endpoints answer 503 "not available yet".
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import re
import threading
import time
from pathlib import Path
from collections import OrderedDict
from typing import Any, Literal, Optional

import orjson
from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from srdi.engine.jsonout import dumps  # the API's answers: the CLI's JSON, compact

from .problems import field_error

router = APIRouter(prefix="/api/v1", tags=["api"])

EARLIEST = dt.date(2022, 8, 1)
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

Mode = Literal["application", "review"]
Lang = Literal["zh", "en"]

PROBLEM_RESPONSES = {
    422: {"description": "Unusable input: RFC 9457 problem JSON; `errors[].path` names each field.",
          "content": {"application/problem+json": {}}},
}


class ApiError(Exception):
    """Raised inside handlers; turned into problem JSON by the app's handler."""

    def __init__(self, status: int, detail: str, errors: list[dict] | None = None, **extra):
        self.status, self.detail, self.errors, self.extra = status, detail, errors, extra
        super().__init__(detail)


_LONG_DIGITS = re.compile(rb"\d{19,}")
# The same test as _LONG_DIGITS.search (a run of 19 ASCII digits) in a few microseconds instead of tens:
# every digit becomes "0", every other byte " ", then a substring search.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_NINETEEN = b"0" * 19


def _long_digits(data) -> bool:
    if type(data) is bytes:
        return len(data) >= 19 and _NINETEEN in data.translate(_DIGITS_TO_ZERO)
    return _LONG_DIGITS.search(data) is not None


def loads(data: bytes) -> Any:
    """json.loads, by orjson when that gives the same: not for integers beyond 64 bits (orjson makes
    them floats) and not for what orjson refuses (NaN, Infinity, 1e400 and malformed JSON: the stdlib
    decides, and its error, position included, is the one reported)."""
    if not _long_digits(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status_code=status, media_type="application/json")


def parse_as_of(value: Optional[str], path: str = "as_of") -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        d = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ApiError(422, "as_of is not a date", [field_error(path, f"{value!r} is not a date YYYY-MM-DD",
                                                                 f"{value!r} 不是有效日期（YYYY-MM-DD）")]) from None
    if d < EARLIEST or d.year > 2100:
        raise ApiError(422, "as_of out of range", [field_error(
            path, f"{d} is outside 2022-08-01..2100-12-31; the pre-Measures provincial rules are not encoded",
            f"{d} 超出 2022-08-01 至 2100-12-31；2022-08-01 之前的规则未编码")])
    return d


def validate(profile: Any, path: str = "profile"):
    """validate_profile, with its field errors re-rooted at ``path``."""
    from srdi.profile import ProfileError, validate_profile

    if not isinstance(profile, dict):
        raise ApiError(422, "profile must be an object", [field_error(path, "must be a JSON object", "应为 JSON 对象")])
    try:
        return validate_profile(profile)
    except ProfileError as e:
        errs = [field_error(f"{path}.{fe.path}" if fe.path else path, fe.problem, fe.problem_zh) for fe in e.errors]
        raise ApiError(422, "unusable profile: " + "; ".join(f"{x['path']}: {x['detail']}" for x in errs[:5]), errs) from None


# --------------------------------------------------------------------------------- assess
class AssessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"profile": {"name": "示例精密机械有限公司", "industry": "C3484", "province": "320000"},
         "as_of": "2026-06-01", "mode": "application"}]})
    profile: dict[str, Any] = Field(..., description="Enterprise profile (contract.md §1): money in yuan.")
    as_of: Optional[str] = Field(None, pattern=DATE_PATTERN, description="Assessment date YYYY-MM-DD; default today.")
    mode: Mode = Field("application", description="application (新申请) or review (复核).")
    lang: Lang = Field("zh", description="Language of titles and observed values.")


class _LRU:
    """Results of assess_profile by canonical input: it is a pure function of its input."""

    def __init__(self, size: int = 2048):
        self.size, self.data, self.lock = size, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    def get(self, key):
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return v

    def put(self, key, value):
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


ASSESS_CACHE = _LRU()


def _assess_miss(profile_obj, as_of: dt.date, mode: str, lang: str, timing: dict | None, key: Any, t1: float) -> bytes:
    """The contract JSON of one validated profile, as bytes, kept in the result cache under `key`;
    `timing` receives the engine's milliseconds (evaluation, explanation and encoding: conditions
    decided before come pre-encoded, engine.assess.assess_profile_json)."""
    from srdi.engine.assess import assess_profile_json  # looked up per call (tests replace it)

    # the validated Profile, not its contract dict: it would be validated again
    body = assess_profile_json(profile_obj, as_of, mode, lang)
    if timing is not None:
        timing["engine"] = (time.perf_counter() - t1) * 1000
    ASSESS_CACHE.put(key, body)
    return body


def server_timing(timing: dict) -> str:
    """A Server-Timing header (visible in browser dev tools; read by bench/load_assess.py)."""
    parts = [f"{k};dur={v:.2f}" for k, v in timing.items() if isinstance(v, float)]
    if "cache" in timing:
        parts.append(f'cache;desc="{timing["cache"]}"')
    return ", ".join(parts)


# The request body is read and parsed here (orjson or json, then AssessRequest) rather than by FastAPI's
# body machinery: the same checks and the same problem JSON (RequestValidationError, handled in
# app.py), without FastAPI's generic per-request work; the OpenAPI entry still shows AssessRequest.
ASSESS_OPENAPI = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": AssessRequest.model_json_schema()}}}}


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test (strict content type): application/json or application/*+json."""
    if not content_type:
        return False
    main, _, sub = content_type.split(";", 1)[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def read_assess_request(request: Request) -> AssessRequest:
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect

    try:
        raw = await request.body()
    except ClientDisconnect:  # a body cut off (BodyLimit answers 413 for one over the limit)
        raise HTTPException(400, "There was an error parsing the body") from None
    return parse_assess_request(raw, request.headers.get("content-type"))


def parse_assess_request(raw: bytes, content_type: str | None) -> AssessRequest:
    """The request body (bytes) as an AssessRequest; RequestValidationError as FastAPI would raise."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import ValidationError

    data: Any = raw
    if raw and _is_json(content_type):
        try:
            data = loads(raw)
        except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError
            pos = getattr(e, "pos", 0)
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": getattr(e, "msg", str(e))}}]) from None
        except RecursionError:  # the stdlib decoder on arrays/objects nested ~1000 deep (orjson refuses them too)
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                           "msg": "JSON decode error: nested too deeply / JSON 嵌套层级过深",
                                           "input": {}, "ctx": {"error": "nested too deeply"}}]) from None
    elif not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return AssessRequest.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err.get("loc", ()))}
                                      for err in e.errors(include_url=False)]) from None


@router.post("/assess", responses=PROBLEM_RESPONSES, openapi_extra=ASSESS_OPENAPI,
             summary="Assess one enterprise against every tier of the regime in force",
             response_description="The contract's assessment JSON (contract.md §2), as `srdi assess --format json`.")
async def assess(request: Request) -> Response:
    # async on purpose: the engine is pure Python (a few ms, CPU-bound), so a thread hop would only
    # add GIL hand-offs; throughput comes from worker processes (`srdi serve --workers 2`).
    t0 = time.perf_counter()
    req = await read_assess_request(request)
    body, timing = assess_request(req, await request.body(), t0)
    return Response(body, media_type="application/json", headers={"server-timing": server_timing(timing)})


def assess_request(req: AssessRequest, raw: bytes, t0: float) -> tuple[bytes, dict]:
    """The answer to a parsed request (its body ``raw``), as bytes, and its timings. The result cache
    is keyed by the body's bytes (with the date it resolves to, the mode and the language): the same
    bytes are the same input, so a repeated request is answered without validating its profile again
    (it was valid: only answers are cached) nor dumping it to a canonical form for a key."""
    d = parse_as_of(req.as_of)
    t1 = time.perf_counter()
    key = (hashlib.blake2b(raw, digest_size=32).digest(), d, req.mode, req.lang)  # faster than sha256 here
    hit = ASSESS_CACHE.get(key)
    t2 = time.perf_counter()
    if hit is not None:
        return hit, {"validate": (t1 - t0) * 1000, "key": (t2 - t1) * 1000, "cache": "hit"}
    p = validate(req.profile)
    t3 = time.perf_counter()
    timing: dict = {"validate": (t1 - t0 + t3 - t2) * 1000, "key": (t2 - t1) * 1000, "cache": "miss"}
    return _assess_miss(p, d, req.mode, req.lang, timing, key, t3), timing


ASSESS_PATH = "/api/v1/assess"


class AssessFastPath:
    """ASGI middleware: `POST /api/v1/assess` goes straight to ``assess`` above, past FastAPI's
    routing (matching every route of the app), dependency solving and per-request middleware
    (0.2-0.5 ms a request; the endpoint itself takes a few ms). Errors go to the app's own exception
    handlers (``handlers``: FastAPI's ``app.exception_handlers``), so answers are the same as the
    route's, which stays registered (OpenAPI, and every other method on the path). It sits inside
    BodyLimit and SecurityHeaders, which apply as before."""

    def __init__(self, app, handlers: dict):
        self.app, self.handlers = app, handlers

    def _handler(self, exc: Exception):
        for cls in type(exc).__mro__:
            h = self.handlers.get(cls)
            if h is not None:
                return h
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path != ASSESS_PATH:
            return await self.app(scope, receive, send)
        # the body and content type straight from the ASGI messages and scope (what Request.body()
        # and Request.headers would give), and the answer sent as Response would send it
        t0 = time.perf_counter()
        try:
            chunks = []
            while True:
                message = await receive()
                if message["type"] == "http.request":
                    chunk = message.get("body", b"")
                    if chunk:
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                elif message["type"] == "http.disconnect":
                    from starlette.exceptions import HTTPException

                    raise HTTPException(400, "There was an error parsing the body")
            raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            content_type = None
            for k, v in scope["headers"]:
                if k == b"content-type":
                    content_type = v.decode("latin-1")
                    break
            req = parse_assess_request(raw, content_type)
            body, timing = assess_request(req, raw, t0)
        except Exception as exc:  # noqa: BLE001 - every error becomes the app's problem JSON
            handler = self._handler(exc)
            if handler is None:
                raise
            request = Request(scope, receive)
            response = await handler(request, exc)
            await response(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"server-timing", server_timing(timing).encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------ plan and support
def optional_module(name: str):
    """Import a module built by another part of the project; None while it is absent."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def not_available(what: str) -> ApiError:
    return ApiError(503, f"{what} is not available yet", None, title="Service Unavailable")


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: dict[str, Any]
    as_of: Optional[str] = Field(None, pattern=DATE_PATTERN)
    target: Optional[Literal["innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant"]] = Field(
        None, description="Tier to plan for; default the next tier the enterprise does not pass yet.")
    mode: Mode = "application"
    horizon: int = Field(3, ge=1, le=5, description="Years ahead.")
    costs: Optional[dict[str, Any]] = Field(None, description="Cost-model overrides (docs/planner.md).")
    lang: Lang = "zh"


TIER_ORDER = ("innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant")


def next_target(assessment: dict) -> str | None:
    """The lowest tier of the regime in force that the enterprise does not pass yet."""
    tiers = assessment.get("tiers") or {}
    for t in TIER_ORDER:
        if t in tiers and tiers[t].get("outcome") != "pass":
            return t
    return None


def run_plan(profile_obj, as_of: dt.date, target: str | None, mode: str, horizon: int, costs, lang: str) -> dict | None:
    """make_plan for the target (default: the next tier); None when every tier passes already."""
    mod = optional_module("srdi.planner")
    if mod is None or not hasattr(mod, "make_plan"):
        raise not_available("the planner")
    if target is None:
        from srdi.engine.assess import assess_profile

        target = next_target(assess_profile(profile_obj.to_contract_dict(), as_of, mode, lang))
        if target is None:
            return None
    try:
        return mod.make_plan(profile_obj, as_of, target, mode, horizon, costs, lang)
    except (ValueError, KeyError, TypeError) as e:  # bad target for the regime, bad cost model
        raise ApiError(422, f"cannot plan: {str(e)[:300]}", [field_error("costs" if "cost" in str(e).lower() else "target",
                                                                    str(e)[:300])]) from None


@router.post("/plan", responses={**PROBLEM_RESPONSES, 503: {"description": "planner not available yet"}},
             summary="Plan the way to the next tier (srdi.planner.make_plan)",
             response_description="The planner's JSON; `{\"plan\": null}` when every tier passes already.")
def plan(req: PlanRequest) -> Response:
    d = parse_as_of(req.as_of)
    p = validate(req.profile)
    out = run_plan(p, d, req.target, req.mode, req.horizon, req.costs, req.lang)
    return json_response(out if out is not None else {"plan": None})


class SupportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: dict[str, Any]
    as_of: Optional[str] = Field(None, pattern=DATE_PATTERN)
    lang: Lang = "zh"


@router.post("/support", responses={**PROBLEM_RESPONSES, 503: {"description": "support catalogue not available yet"}},
             summary="Support measures the enterprise's titles unlock (srdi.support)")
def support(req: SupportRequest) -> Response:
    d = parse_as_of(req.as_of)
    p = validate(req.profile)
    mod = optional_module("srdi.support")
    if mod is None or not hasattr(mod, "support_for"):
        raise not_available("the support catalogue")
    return json_response(mod.support_for(p, d, req.lang))


# ---------------------------------------------------------------------------------- rules
@router.get("/rules", responses=PROBLEM_RESPONSES, summary="The rule packs in force on a date")
def rules(as_of: Optional[str] = Query(None, pattern=DATE_PATTERN), mode: Mode = "application",
          lang: Lang = "zh") -> Response:
    from srdi.engine.packs import choose_regime, resolve_pack

    d = parse_as_of(as_of)
    ch = choose_regime(d, mode)
    tiers = {}
    for tier, (pid, regime, why) in ch.tiers.items():
        pack = resolve_pack(pid, d.year, mode)
        tiers[tier] = {"pack": pid, "regime": regime, "why": why, "title": pack.title.get(lang),
                       "document": pack.document, "decision": pack.decision, "marks": pack.marks(),
                       "notices": [n.get("notice") for n in pack.notes]}
    return json_response({"as_of": d.isoformat(), "mode": mode, "regime": ch.regime, "tiers": tiers})


# ---------------------------------------------------------------------------------- health
@router.get("/health", summary="Liveness and which optional components are installed")
def health() -> Response:
    import srdi

    comps = {name: optional_module(f"srdi.{name}") is not None for name in ("batch", "planner", "support", "workflow")}
    return json_response({"status": "ok", "version": getattr(srdi, "__version__", None) or _version(),
                          "components": comps})


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("srdi")
    except Exception:  # noqa: BLE001
        return None


# ----------------------------------------------------------------------------------- batch
@router.post("/batch", status_code=202, responses={**PROBLEM_RESPONSES, 413: {"description": "upload too large"},
                                                   503: {"description": "batch not available yet"}},
             summary="Upload an XLSX/CSV of enterprises; starts a job (poll it, then download the result)")
async def batch_submit(file: UploadFile = File(..., description="XLSX or CSV, one enterprise a row"),
                       as_of: Optional[str] = Form(None, pattern=DATE_PATTERN), mode: Mode = Form("application"),
                       lang: Lang = Form("zh")) -> Response:
    from . import jobs

    d = parse_as_of(as_of)
    if optional_module("srdi.batch") is None:
        raise not_available("batch assessment")
    job = await jobs.submit(file, d, mode, lang)
    return json_response(job.public(), status=202)


Target = Literal["innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant"]


@router.post("/pool", status_code=202, responses={**PROBLEM_RESPONSES, 413: {"description": "upload too large"},
                                                  503: {"description": "the planner is not available"}},
             summary="Upload an XLSX/CSV population; starts a cultivation-pool job (firms ranked by what stands "
                     "between them and the target tier, with costs); poll and download it like a batch job")
async def pool_submit(file: UploadFile = File(..., description="XLSX or CSV, one enterprise a row (batch columns)"),
                      target: Target = Form(..., description="the tier to rank the firms for"),
                      as_of: Optional[str] = Form(None, pattern=DATE_PATTERN), mode: Mode = Form("application"),
                      horizon: int = Form(2, ge=1, le=5, description="years ahead"),
                      lang: Lang = Form("zh")) -> Response:
    from . import jobs

    d = parse_as_of(as_of)
    if optional_module("srdi.planner") is None or optional_module("srdi.batch") is None:
        raise not_available("cultivation pools")
    from srdi.planner.search import tier_at

    if tier_at(target, d, mode) is None:
        raise ApiError(422, f"target {target} is not a tier on {d.isoformat()}",
                       [field_error("target", f"not a tier of the regime in force on {d.isoformat()}",
                                    f"{d.isoformat()} 适用的规则体系中没有该层级")])
    job = await jobs.submit(file, d, mode, lang, kind="pool", target=target, horizon=horizon)
    return json_response(job.public(), status=202)


@router.get("/batch/{job_id}", responses={404: {"description": "no such job"}}, summary="A batch job's progress")
def batch_status(job_id: str) -> Response:
    from . import jobs

    return json_response(jobs.get(job_id).public())


@router.get("/batch/{job_id}/result", responses={404: {"description": "no such job"}, 409: {"description": "not finished"}},
            summary="Download a finished batch job's result file")
def batch_result(job_id: str):
    from . import jobs

    job = jobs.get(job_id)
    if job.status != "done" or not job.output_path:
        raise ApiError(409, f"job {job_id} is {job.status}", None)
    return FileResponse(job.output_path, filename=job.download_name, media_type=job.media_type)


@router.get("/batch/{job_id}/errors", responses={404: {"description": "no such job or no errors file"}},
            summary="Download a finished batch job's file of bad rows and cells")
def batch_errors(job_id: str):
    from . import jobs

    job = jobs.get(job_id)
    path = job.errors_path() if job.status == "done" else None
    if path is None:
        raise ApiError(404, f"job {job_id} has no errors file")
    return FileResponse(path, filename=f"{Path(job.download_name).stem}.errors{path.suffix}",
                        media_type=jobs._EXT.get(path.suffix, "application/octet-stream"))
