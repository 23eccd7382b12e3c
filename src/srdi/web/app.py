"""The srdi web app: `create_app()` -> FastAPI (pages, /api/v1, static files, hardening)."""
from __future__ import annotations

import contextlib
import gc
import logging
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from .problems import field_error, problem
from .security import BodyLimit, SecurityHeaders

HERE = Path(__file__).parent
log = logging.getLogger("srdi.web")


def _loc_path(loc) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts)


def warm_up() -> None:
    """Before the first request: import the engine and load the rule packs (the first assessment
    in a fresh process costs ~200 ms) by assessing the bundled example under both regimes and
    planning it from today, then move
    every object alive now into the permanent GC generation (gc.freeze), so later collections scan
    only what requests allocate and a full collection does not pause a request for tens of ms.
    SRDI_WEB_WARMUP=0 skips it."""
    if os.environ.get("SRDI_WEB_WARMUP", "1") == "0":
        return
    try:
        import datetime as dt

        from srdi.engine.assess import assess_profile
        from srdi.profile import load_profile

        from srdi.planner import make_plan

        profile = load_profile(HERE.parent / "examples" / "precision_machinery.yaml")
        contract = profile.to_contract_dict()
        for as_of in (dt.date(2025, 6, 1), dt.date.today()):
            assess_profile(contract, as_of, "application", "zh")
        # a plan from today compiles the packs of the dates plans search (~0.1 s): frozen below with
        # the rest, they are not walked by every full collection during later plans
        make_plan(contract, dt.date.today(), "srdi_sme", alternatives=0)
    except Exception:  # noqa: BLE001 - warming is an optimisation; the app serves without it
        log.exception("warm-up failed; serving anyway")
    gc.collect()
    gc.freeze()


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    warm_up()
    yield


def telemetry_config() -> dict:
    """FastAPI's OpenTelemetry traces, metrics and logs: off unless SRDI_WEB_TELEMETRY=1 (on, FastAPI
    asks OpenTelemetry on every request whether a provider is set up: ~25 us of a ~0.9 ms request)."""
    on = os.environ.get("SRDI_WEB_TELEMETRY", "0") == "1"
    return {"tracing": on, "metrics": on, "logs": on}


def create_app() -> FastAPI:
    from . import api, pages

    app = FastAPI(
        title="srdi API",
        version="1",
        summary="Rules-as-code for China's tiered quality-SME programme (创新型 / 专精特新 / 小巨人).",
        description="Assess an enterprise profile (contract.md §1) against the rules in force; answers follow "
                    "the contract's assessment JSON (§2). Errors are RFC 9457 problem JSON; `errors[].path` "
                    "names the field.",
        docs_url="/api/docs", redoc_url=None, openapi_url="/openapi.json", lifespan=lifespan,
        telemetry=telemetry_config(),
    )

    @app.exception_handler(api.ApiError)
    async def _api_error(request: Request, exc: api.ApiError):
        return problem(exc.status, exc.detail, errors=exc.errors, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = []
        for e in exc.errors()[:50]:
            errs.append(field_error(_loc_path(e.get("loc", ())), str(e.get("msg", "invalid"))))
        detail = "; ".join(f"{x['path'] or '(body)'}: {x['detail']}" for x in errs[:5]) or "invalid request"
        return problem(422, detail, errors=errs)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error; the incident was logged")

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    try:  # the cultivation workflow (its API and pages), when that package is installed
        from srdi.workflow.web import router as workflow_router
    except ImportError:
        workflow_router = None
    except Exception:  # noqa: BLE001 - a broken optional part must not take the app down
        log.exception("srdi.workflow.web failed to import; serving without it")
        workflow_router = None
    if workflow_router is not None:
        app.include_router(workflow_router)

    if os.environ.get("SRDI_WEB_FASTPATH", "1") != "0":  # innermost: inside BodyLimit and SecurityHeaders
        app.add_middleware(api.AssessFastPath, handlers=app.exception_handlers)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    return app
