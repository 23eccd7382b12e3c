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
import threading
import time
from pathlib import Path
from collections import OrderedDict
from typing import Any, Literal, Optional

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response

from .problems import field_error, problem

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


def dumps(obj: Any) -> bytes:
    """The CLI's JSON (srdi.cli.app.dump_json) without the indentation."""
    return json.dumps(obj, ensure_ascii=False, default=str, separators=(",", ":")).encode()


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


def assess_bytes(profile_obj, as_of: dt.date, mode: str, lang: str, timing: dict | None = None) -> bytes:
    """The contract JSON of one validated profile, as bytes (cached by canonical input).
    ``timing`` (optional) receives the milliseconds spent: key, engine, encode; cache = hit|miss."""
    from srdi.engine.assess import assess_profile

    t0 = time.perf_counter()
    contract = profile_obj.to_contract_dict()
    key = hashlib.sha256(json.dumps([contract, as_of.isoformat(), mode, lang], sort_keys=True, default=str,
                                    ensure_ascii=False).encode()).digest()
    hit = ASSESS_CACHE.get(key)
    t1 = time.perf_counter()
    if timing is not None:
        timing["key"] = (t1 - t0) * 1000
        timing["cache"] = "hit" if hit is not None else "miss"
    if hit is not None:
        return hit
    result = assess_profile(contract, as_of, mode, lang)
    t2 = time.perf_counter()
    body = dumps(result)
    if timing is not None:
        timing["engine"] = (t2 - t1) * 1000
        timing["encode"] = (time.perf_counter() - t2) * 1000
    ASSESS_CACHE.put(key, body)
    return body


def server_timing(timing: dict) -> str:
    """A Server-Timing header (visible in browser dev tools; read by bench/load_assess.py)."""
    parts = [f"{k};dur={v:.2f}" for k, v in timing.items() if isinstance(v, float)]
    if "cache" in timing:
        parts.append(f'cache;desc="{timing["cache"]}"')
    return ", ".join(parts)


@router.post("/assess", responses=PROBLEM_RESPONSES,
             summary="Assess one enterprise against every tier of the regime in force",
             response_description="The contract's assessment JSON (contract.md §2), as `srdi assess --format json`.")
async def assess(req: AssessRequest) -> Response:
    # async on purpose: the engine is pure Python (a few ms, CPU-bound), so a thread hop would only
    # add GIL hand-offs; throughput comes from worker processes (`srdi serve --workers 2`).
    t0 = time.perf_counter()
    d = parse_as_of(req.as_of)
    p = validate(req.profile)
    timing: dict = {"validate": (time.perf_counter() - t0) * 1000}
    body = assess_bytes(p, d, req.mode, req.lang, timing)
    return Response(body, media_type="application/json", headers={"server-timing": server_timing(timing)})


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
