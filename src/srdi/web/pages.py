"""HTML pages: home, the self-assessment form, the result report, the batch page (zh / en)."""
from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import JSONResponse, Response

from . import forms, ui, view

HERE = Path(__file__).parent
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))
SAMPLE_AS_OF = dt.date(2026, 6, 1)
LANG_COOKIE = "srdi_lang"


def lang_of(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in ("zh", "en"):
        return q
    c = request.cookies.get(LANG_COOKIE)
    return c if c in ("zh", "en") else "zh"


def render(request: Request, name: str, lang: str, status: int = 200, **ctx: Any) -> Response:
    other = "en" if lang == "zh" else "zh"
    base = {"lang": lang, "other_lang": other, "t": lambda k: ui.t(k, lang), "path": request.url.path,
            "outcome_label": lambda o: ui.t(f"outcome.{o}", lang), "fmt_score": view.fmt_score,
            "title_of": lambda d: (d or {}).get(lang) if isinstance(d, dict) else d}
    resp = templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)
    if request.query_params.get("lang") in ("zh", "en"):
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp


@router.get("/")
def home(request: Request):
    return render(request, "home.html", lang_of(request))


@router.get("/assess")
def assess_form(request: Request):
    lang = lang_of(request)
    today = dt.date.today()
    layout = []
    for s in forms.sections():
        lists = [it for it in s.items if isinstance(it, forms.ListF)]
        fields = [it for it in s.items if not isinstance(it, forms.ListF)]
        layout.append({"s": s, "plain": [f for f in fields if not f.years], "yearly": [f for f in fields if f.years],
                       "lists": lists})
    return render(request, "form.html", lang, layout=layout, as_of=today.isoformat(), years=forms.year_map(today))


@lru_cache(maxsize=1)
def sample_profile() -> dict:
    from importlib import resources

    from srdi.profile import validate_profile
    from srdi.profile.load import read_profile_text

    text = resources.files("srdi.examples").joinpath("precision_machinery.yaml").read_text(encoding="utf-8")
    return validate_profile(read_profile_text(text)).to_contract_dict()


@router.get("/form/sample")
def form_sample():
    """The bundled example as form fields (amounts in 万元), for the 'sample firm' button."""
    return JSONResponse({"as_of": SAMPLE_AS_OF.isoformat(), "mode": "application",
                         "fields": forms.profile_to_form(sample_profile(), SAMPLE_AS_OF)})


def _as_of(value: Any) -> dt.date | None:
    try:
        d = dt.date.fromisoformat(str(value))
    except ValueError:
        return None
    return d if dt.date(2022, 8, 1) <= d <= dt.date(2100, 12, 31) else None


def check_fields(fields: Any, as_of: dt.date, lang: str):
    """Form fields -> (Profile, None) or (None, {form name: message})."""
    from srdi.profile import ProfileError, validate_profile

    if not isinstance(fields, dict):
        return None, {"": "bad form" if lang == "en" else "表单无效"}
    rows_map: dict = {}
    try:
        prof = forms.form_to_profile(fields, as_of, rows_map)
    except forms.FormError as e:
        return None, {k: (en if lang == "en" else zh) for k, (en, zh) in e.errors.items()}
    try:
        return validate_profile(prof), None
    except ProfileError as e:
        return None, {forms.profile_path_to_form(fe.path, as_of, rows_map): (fe.problem if lang == "en" else fe.problem_zh or fe.problem)
                      for fe in e.errors}


@router.post("/form/check")
async def form_check(request: Request):
    """Inline validation of the whole form with the profile's own rules (e.g. the USCC check digit)."""
    lang = lang_of(request)
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"ok": False, "errors": {"": "bad JSON"}}, status_code=400)
    if not isinstance(body, dict):
        return JSONResponse({"ok": False, "errors": {"": "bad JSON"}}, status_code=400)
    d = _as_of(body.get("as_of"))
    if d is None:
        return JSONResponse({"ok": False, "errors": {"as_of": "2022-08-01 .. 2100-12-31"}})
    _p, errors = check_fields(body.get("fields"), d, lang)
    return JSONResponse({"ok": not errors, "errors": errors or {}})


def _optional(name: str, fn: str, *args):
    """Call an optional module's function (planner, support); None when absent or failing."""
    import logging

    from .api import optional_module

    mod = optional_module(name)
    if mod is None or not hasattr(mod, fn):
        return None
    try:
        return getattr(mod, fn)(*args)
    except Exception:  # noqa: BLE001 - the result page shows the assessment without it
        logging.getLogger("srdi.web").exception("%s.%s failed", name, fn)
        return None


def result_page(request: Request, lang: str, fields: dict, as_of: dt.date, mode: str) -> Response:
    from srdi.engine.assess import assess_profile

    prof, errors = check_fields(fields, as_of, lang)
    if errors:
        return render(request, "result_error.html", lang, status=422, errors=errors)
    result = assess_profile(prof.to_contract_dict(), as_of, mode, lang)
    radar = view.radar(result)
    from .api import next_target, optional_module

    plan_target = next_target(result) if hasattr(optional_module("srdi.planner"), "make_plan") else None
    support = _optional("srdi.support", "support_for", prof, as_of, lang)
    tiers = [(tid, t, view.condition_rows(t)) for tid, t in result["tiers"].items()]
    radar_data = {"labels": [ui.t(f"dim.{d}", lang) for d in view.DIMENSIONS],
                  "values": [radar["values"][d] for d in view.DIMENSIONS], "how": radar["how"],
                  "tier": radar["tier"]}
    radar_title = (result["tiers"].get(radar["tier"]) or {}).get("title") or {}
    return render(request, "result.html", lang, result=result, tiers=tiers, radar=radar, mode=mode,
                  radar_title=radar_title.get(lang) if isinstance(radar_title, dict) else radar["tier"],
                  radar_json=json.dumps(radar_data, ensure_ascii=False),
                  result_json=json.dumps(result, ensure_ascii=False, default=str),
                  fields_json=json.dumps(fields, ensure_ascii=False), as_of=as_of.isoformat(),
                  plan_target=plan_target, support=support if isinstance(support, dict) else None)


@router.post("/result")
def result_post(request: Request, fields: str = Form("{}", max_length=200_000), as_of: str = Form(""),
                mode: str = Form("application"), lang: str = Form("")):
    lg = lang if lang in ("zh", "en") else lang_of(request)
    d = _as_of(as_of)
    try:
        data = json.loads(fields)
    except ValueError:
        data = None
    if d is None or mode not in ("application", "review") or not isinstance(data, dict):
        errs = {}
        if d is None:
            errs["as_of"] = "2022-08-01 .. 2100-12-31"
        if mode not in ("application", "review"):
            errs["mode"] = "application | review"
        if not isinstance(data, dict):
            errs["fields"] = "bad form data" if lg == "en" else "表单数据无效"
        return render(request, "result_error.html", lg, status=422, errors=errs)
    resp = result_page(request, lg, data, d, mode)
    if lang in ("zh", "en"):
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return resp


@router.post("/result/plan")
async def result_plan(request: Request):
    """The plan to the next tier as text, fetched by the result page after it is shown (the
    search takes up to a few seconds). 404 when there is nothing to plan or no planner."""
    from starlette.concurrency import run_in_threadpool

    from .api import ApiError, run_plan

    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "bad JSON"}, status_code=400)
    lang = body.get("lang") if body.get("lang") in ("zh", "en") else lang_of(request)
    mode = body.get("mode") if body.get("mode") in ("application", "review") else "application"
    d = _as_of(body.get("as_of"))
    if d is None:
        return JSONResponse({"error": "as_of"}, status_code=422)
    prof, errors = check_fields(body.get("fields"), d, lang)
    if errors:
        return JSONResponse({"errors": errors}, status_code=422)
    try:
        plan = await run_in_threadpool(run_plan, prof, d, None, mode, 3, None, lang)
    except ApiError as e:
        return JSONResponse({"error": e.detail}, status_code=e.status)
    if plan is None:
        return JSONResponse({"error": "nothing to plan"}, status_code=404)
    from srdi.planner import render_text

    p = plan.get("plan") or {}
    return JSONResponse({"target": p.get("target"), "feasible": p.get("feasible"), "text": render_text(plan, lang)})


@router.get("/result")
def result_sample(request: Request):
    """The sample firm's report (the form posts to /result; this shows the bundled example)."""
    lang = lang_of(request)
    fields = forms.profile_to_form(sample_profile(), SAMPLE_AS_OF)
    return result_page(request, lang, fields, SAMPLE_AS_OF, "application")


@router.get("/batch")
def batch_page(request: Request):
    from .api import optional_module
    from .jobs import MAX_ROWS, MAX_UPLOAD_BYTES

    lang = lang_of(request)
    return render(request, "batch.html", lang, available=optional_module("srdi.batch") is not None,
                  as_of=dt.date.today().isoformat(), max_rows=MAX_ROWS, max_bytes=MAX_UPLOAD_BYTES)
