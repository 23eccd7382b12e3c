"""Operations of the cycle. Each takes a session and the acting user (None = the platform itself),
checks access (roles.py) and the state machine (states.py), changes the rows and appends an audit
entry (before/after) in the same transaction. The caller commits.

Dates: `today` defaults to the real date (env SRDI_CYCLE_TODAY=YYYY-MM-DD overrides it, for demos).
"""
from __future__ import annotations

import datetime as dt
import os
import random
from typing import Any, Iterable, Optional

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from . import audit
from .models import (AnnualUpdate, Application, Assessment, Certification, Enterprise, Objection, Publicity,
                     Revocation, Review, User, freeze, utcnow)
from .roles import AccessDenied, can_view_application, can_view_certification, can_view_enterprise, require
from .states import (FINAL, FRAUD_BAR_YEARS, NATIONAL_TIERS, PASS_SCORE, PUBLICITY_DAYS, REVIEWERS_PER_APPLICATION,
                     TIERS, VALIDITY_YEARS, IllegalTransition, WorkflowError, next_state)

_A = Application.__table__
_R = Review.__table__
UPDATE_DEADLINE = (4, 30)          # criteria §1.6: Beijing 30 April [S]; no national deadline [U]
MISSED_UPDATES_REVOKE = 2          # criteria §1.6: Beijing 2024, two consecutive years [S]
_rng = random.SystemRandom()


def today(d: Optional[dt.date] = None) -> dt.date:
    if d is not None:
        return d
    env = os.environ.get("SRDI_CYCLE_TODAY")
    return dt.date.fromisoformat(env) if env else dt.date.today()


def add_years(d: dt.date, n: int) -> dt.date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 February
        return d.replace(year=d.year + n, day=28)


def who(u: Optional[User]) -> str:
    return u.ref() if u is not None else "system"


def role(u: Optional[User]) -> str:
    return u.role if u is not None else "system"


def snap(a: Application) -> dict:
    return {"status": a.status, "tier": a.tier, "year": a.year, "batch": a.batch, "kind": a.kind,
            "precheck": a.precheck_outcome, "mean_score": a.mean_score}


def cert_snap(c: Certification) -> dict:
    return {"status": c.status, "tier": c.tier, "valid_from": c.valid_from, "valid_until": c.valid_until,
            "renewals": c.renewals, "review_eligible": c.review_eligible}


def _lock_app(s: Session, app_id: int) -> Application:
    a = s.execute(select(Application).where(Application.id == app_id).with_for_update()).scalar_one_or_none()
    if a is None:
        raise AccessDenied(f"application {app_id}: not found / 不存在")
    return a


def get_application(s: Session, u: Optional[User], app_id: int, lock: bool = False) -> Application:
    a = _lock_app(s, app_id) if lock else s.get(Application, app_id)
    if a is None:
        raise AccessDenied(f"application {app_id}: not found / 不存在")
    if u is not None:
        require(can_view_application(u, a, s), f"application {app_id}")
    return a


def _move(s: Session, u: Optional[User], a: Application, action: str, note: Optional[str] = None,
          target: Optional[str] = None) -> None:
    before = snap(a)
    new = next_state(a.status, action, a.tier, role(u))
    if new == "*":
        new = target
    a.status = new
    if note is not None:
        a.decision_note = note
    if new in FINAL:
        a.closed_at = utcnow()
    audit.append(s, who(u), f"application.{action}", "application", a.id, before, snap(a))


# ----------------------------------------------------------------------------- registry
def _name_and_province(name: str, province: str) -> str:
    """The province code of a new enterprise, after checking its name and province."""
    from srdi.profile.codes import normalize_province

    if not name or not name.strip():
        raise WorkflowError("name: required / 企业名称必填", "name")
    try:
        return normalize_province(province)
    except Exception as e:  # CodeError
        raise WorkflowError(f"province: {e}", "province") from None


def create_enterprise(s: Session, u: Optional[User], name: str, province: str, uscc: Optional[str] = None) -> Enterprise:
    prov = _name_and_province(name, province)
    if uscc:
        _check_uscc(uscc)
        if s.execute(select(Enterprise.id).where(Enterprise.uscc == uscc)).first():
            raise WorkflowError(f"uscc: {uscc} is already registered / 统一社会信用代码已登记", "uscc")
    if u is not None and u.role == "provincial_admin" and prov != u.province:
        raise AccessDenied("province: outside your province / 非本省")
    if u is not None and u.role in ("enterprise", "reviewer"):
        raise AccessDenied("enterprise: only admins register enterprises / 仅管理员可登记企业")
    e = Enterprise(name=name.strip(), province=prov, uscc=uscc or None)
    s.add(e)
    s.flush()
    audit.append(s, who(u), "enterprise.create", "enterprise", e.id, None,
                 {"name": e.name, "province": prov, "uscc": e.uscc})
    return e


def _check_uscc(uscc: str) -> None:
    from srdi.profile.uscc import uscc_problem, uscc_problem_zh

    prob = uscc_problem(uscc)
    if prob:
        raise WorkflowError(f"uscc: {prob} / {uscc_problem_zh(uscc)}", "uscc")


# ----------------------------------------------------------------------------- bulk (authorities' batches, the bench)
def create_enterprises_many(s: Session, u: Optional[User], rows: list[tuple[str, str, Optional[str]]]) -> list[int]:
    """create_enterprise for many (name, province, uscc) at once: the same checks (a USCC repeated in
    the batch counts as already registered), one multi-row INSERT, one audit entry per enterprise.
    All or nothing (the first bad row raises). Returns the new ids in order."""
    if u is not None and u.role in ("enterprise", "reviewer"):
        raise AccessDenied("enterprise: only admins register enterprises / 仅管理员可登记企业")
    recs, seen = [], set()
    for name, province, uscc in rows:
        prov = _name_and_province(name, province)
        if uscc:
            _check_uscc(uscc)
            if uscc in seen:
                raise WorkflowError(f"uscc: {uscc} is already registered / 统一社会信用代码已登记", "uscc")
            seen.add(uscc)
        if u is not None and u.role == "provincial_admin" and prov != u.province:
            raise AccessDenied("province: outside your province / 非本省")
        recs.append({"name": name.strip(), "province": prov, "uscc": uscc or None})
    if not recs:
        return []
    s.flush()
    for part in _parts(sorted(seen), 900):
        dup = s.execute(select(Enterprise.uscc).where(Enterprise.uscc.in_(part))).scalars().first()
        if dup:
            raise WorkflowError(f"uscc: {dup} is already registered / 统一社会信用代码已登记", "uscc")
    E = Enterprise.__table__
    ids = list(s.connection().execute(insert(E).returning(E.c.id, sort_by_parameter_order=True), recs).scalars())
    audit.append_many(s, [(who(u), "enterprise.create", "enterprise", i, None, r) for i, r in zip(ids, recs)])
    return ids


def _parts(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def submit_new_many(s: Session, items: list[tuple], on: Optional[dt.date] = None, precheck: bool = True) -> list[int]:
    """create_application + submit (+ the pre-check) for many new applications at once, as each
    enterprise account would do them: items are (user, enterprise_id, tier, year, profile, batch).
    The same checks (own enterprise, tier, bar, profile valid) and audit entries (application.create,
    application.submit, then the pre-check's), written with multi-row statements. All or nothing."""
    d = today(on)
    s.flush()
    eids = sorted({it[1] for it in items})
    ents = {}
    for part in _parts(eids, 900):
        ents.update({e.id: e for e in s.execute(select(Enterprise).where(Enterprise.id.in_(part))).scalars()})
    regimes: dict[str, str] = {}
    recs, contracts = [], []
    now = utcnow()
    for u, eid, tier, year, profile, batch in items:
        e = ents.get(eid)
        if e is None:
            raise AccessDenied(f"enterprise {eid}: not found / 不存在")
        if u is not None:
            require(u.role == "enterprise" and u.enterprise_id == e.id, f"enterprise {eid}")
        if tier not in TIERS:
            raise WorkflowError(f"tier: {tier!r} is not one of {', '.join(sorted(TIERS))}", "tier")
        if e.barred_until and d < e.barred_until:
            raise WorkflowError(f"enterprise: barred from applying until {e.barred_until} (data fraud) / "
                                f"因数据造假 {e.barred_until} 前不得申请", "enterprise")
        if profile is None:
            raise WorkflowError("profile: the application has no profile yet / 尚未填写企业信息", "profile")
        if tier not in regimes:
            regimes[tier] = regime_for(tier, d, "new")
        contracts.append(_validate(profile))
        recs.append({"enterprise_id": e.id, "tier": tier, "year": year, "batch": batch, "regime": regimes[tier],
                     "province": e.province, "status": "submitted", "profile": profile, "kind": "new",
                     "submitted_at": now, "version": 1})
    if not recs:
        return []
    A = _A
    ids = list(s.connection().execute(insert(A).returning(A.c.id, sort_by_parameter_order=True), recs).scalars())
    log, apps = [], []
    for (u, *_rest), i, r in zip(items, ids, recs):
        draft = {"status": "draft", "tier": r["tier"], "year": r["year"], "batch": r["batch"], "kind": "new",
                 "precheck": None, "mean_score": None}
        new = next_state("draft", "submit", r["tier"], role(u))
        log.append((who(u), "application.create", "application", i, None, draft))
        log.append((who(u), "application.submit", "application", i, draft, dict(draft, status=new)))
        apps.append(_Row(id=i, status=new, tier=r["tier"], year=r["year"], batch=r["batch"], kind="new",
                         regime=r["regime"], province=r["province"], precheck_outcome=None, mean_score=None,
                         version=1, decision_note=None, closed_at=None))
    audit.append_many(s, log)
    if precheck:
        _precheck_rows(s, list(zip(apps, contracts)), d)
    return ids


class _Row:
    """An application's columns as plain attributes (bulk paths)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


# ----------------------------------------------------------------------------- applications
def regime_for(tier: str, year_date: dt.date, kind: str) -> str:
    from srdi.engine.packs import choose_regime

    ch = choose_regime(year_date, "review" if kind == "review" else "application")
    if tier not in ch.tiers:
        raise WorkflowError(f"tier: {tier} is not a tier of regime {ch.regime} on {year_date} "
                            f"(tiers: {', '.join(ch.tiers)}) / 该日期的规则中无此层级", "tier")
    return ch.tiers[tier][1]


SUCCESSOR = {"innovative_sme": "tech_innovative_sme", "tech_innovative_sme": "innovative_sme"}


def _successor_tier(tier: str, d: dt.date) -> str:
    from srdi.engine.packs import choose_regime

    tiers = choose_regime(d, "review").tiers
    return tier if tier in tiers or SUCCESSOR.get(tier) not in tiers else SUCCESSOR[tier]


def create_application(s: Session, u: Optional[User], enterprise_id: int, tier: str, year: int,
                       profile: Optional[dict] = None, batch: Optional[str] = None, kind: str = "new",
                       certification_id: Optional[int] = None, on: Optional[dt.date] = None) -> Application:
    e = s.get(Enterprise, enterprise_id)
    if e is None:
        raise AccessDenied(f"enterprise {enterprise_id}: not found / 不存在")
    if u is not None:
        require(u.role == "enterprise" and u.enterprise_id == e.id or u.role == "national_admin"
                or (u.role == "provincial_admin" and u.province == e.province), f"enterprise {enterprise_id}")
    if tier not in TIERS:
        raise WorkflowError(f"tier: {tier!r} is not one of {', '.join(sorted(TIERS))}", "tier")
    d = today(on)
    if e.barred_until and d < e.barred_until:
        raise WorkflowError(f"enterprise: barred from applying until {e.barred_until} (data fraud) / "
                            f"因数据造假 {e.barred_until} 前不得申请", "enterprise")
    if kind == "review":  # a pre-2026 innovative title is re-reviewed as the R2026 tier that succeeded it
        tier = _successor_tier(tier, d)
    regime = regime_for(tier, d, kind)
    a = Application(enterprise_id=e.id, tier=tier, year=year, batch=batch, regime=regime, province=e.province,
                    status="draft", profile=profile, kind=kind, certification_id=certification_id)
    s.add(a)
    s.flush()
    audit.append(s, who(u), "application.create", "application", a.id, None, snap(a))
    return a


def update_draft(s: Session, u: Optional[User], app_id: int, profile: dict) -> Application:
    a = get_application(s, u, app_id, lock=True)
    if u is not None and u.role != "enterprise":
        raise AccessDenied("profile: only the enterprise edits its application / 仅企业本身可编辑")
    if a.status != "draft":
        raise IllegalTransition(f"profile: the application is {a.status}, no longer a draft / 已提交，不能修改", "status")
    _validate(profile)
    a.profile = profile
    audit.append(s, who(u), "application.edit", "application", a.id, None, {"profile_fields": sorted(profile)})
    return a


def withdraw(s: Session, u: Optional[User], app_id: int) -> Application:
    a = get_application(s, u, app_id, lock=True)
    if u is not None and u.role != "enterprise":
        raise AccessDenied("withdraw: only the enterprise withdraws its application / 仅企业本身可撤回")
    _move(s, u, a, "withdraw")
    return a


def _validate(profile: Any) -> dict:
    from srdi.profile import ProfileError, validate_profile

    if not isinstance(profile, dict):
        raise WorkflowError("profile: must be a JSON object (contract.md §1) / 须为 JSON 对象", "profile")
    try:
        return validate_profile(profile).to_contract_dict()
    except ProfileError as e:
        msg = "; ".join(f"{fe.path or '(profile)'}: {fe.problem}" for fe in e.errors[:5])
        raise WorkflowError(f"profile: {msg}", "profile") from None


def submit(s: Session, u: Optional[User], app_id: int, on: Optional[dt.date] = None, precheck: bool = True) -> Application:
    """draft -> submitted, then (by default) the automatic pre-check and the reviewer draw."""
    a = get_application(s, u, app_id, lock=True)
    if u is not None and u.role != "enterprise":
        raise AccessDenied("submit: only the enterprise submits its application / 仅企业本身可提交")
    if a.profile is None:
        raise WorkflowError("profile: the application has no profile yet / 尚未填写企业信息", "profile")
    e = s.get(Enterprise, a.enterprise_id)
    d = today(on)
    if e.barred_until and d < e.barred_until:
        raise WorkflowError(f"enterprise: barred from applying until {e.barred_until} / {e.barred_until} 前不得申请",
                            "enterprise")
    contract = _validate(a.profile)
    _move(s, u, a, "submit")
    a.submitted_at = utcnow()
    if precheck:
        result = _assess(contract, d, a.kind)
        record_precheck(s, a, contract, result, d)
    return a


def _assess(contract: dict, d: dt.date, kind: str) -> dict:
    from srdi.engine.assess import assess_profile

    return assess_profile(contract, d, "review" if kind == "review" else "application", "zh")


def precheck_many(s: Session, apps: list[Application], on: Optional[dt.date] = None) -> None:
    """The pre-check for many submitted applications at once: the engine's table backend, then the
    rows written in bulk (Core executemany: assessments, state changes, reviewer draws) with the
    same audit entries, one per change and in the same order, as record_precheck one by one."""
    d = today(on)
    s.flush()
    after = _precheck_rows(s, [(a, _validate(a.profile)) for a in apps], d)
    for a, vals in after:  # keep the session's objects in step with the rows, without another UPDATE
        for k, v in vals.items():
            set_committed_value(a, k, v)


def _precheck_rows(s: Session, pairs: list[tuple[Any, dict]], d: dt.date) -> list[tuple[Any, dict]]:
    """Pre-check (application-like row, validated contract) pairs in bulk; returns (row, new values)."""
    from srdi.engine.assess import assess_table_rows
    from srdi.engine.frame import profile_row

    by_mode: dict[str, list[tuple[Any, dict]]] = {}
    for a, c in pairs:
        if a.status != "submitted":
            raise IllegalTransition(f"precheck: the application is {a.status}, not submitted", "status")
        by_mode.setdefault("review" if a.kind == "review" else "application", []).append((a, c))
    pools: dict = {}
    asm_rows, app_rows, review_rows, items, after = [], [], [], [], []
    for mode, group in by_mode.items():
        results = assess_table_rows([profile_row(c) for _a, c in group], d, mode, "zh")
        for (a, c), result in zip(group, results):
            tier = result.get("tiers", {}).get(a.tier)
            outcome = tier["outcome"] if tier else "fail"
            pblob, psha = freeze(c)
            rblob, rsha = freeze(result)
            asm_rows.append({"application_id": a.id, "as_of": d, "mode": result.get("mode", "application"),
                             "regime": (tier or {}).get("regime") or result.get("regime", a.regime), "outcome": outcome,
                             "profile_blob": pblob, "profile_sha256": psha, "result_blob": rblob, "result_sha256": rsha})
            items.append(("system", "assessment.freeze", "application", a.id, None,
                          {"profile_sha256": psha, "result_sha256": rsha, "outcome": outcome, "as_of": d}))
            before = dict(snap(a), precheck=outcome)  # as record_precheck: the outcome is set first
            action = "precheck_fail" if outcome == "fail" else "precheck_pass"
            new = next_state(a.status, action, a.tier, "system")
            vals = {"status": new, "precheck_outcome": outcome, "version": a.version + 1,
                    "decision_note": "engine pre-check: fail / 自动预审未通过" if outcome == "fail" else a.decision_note,
                    "closed_at": utcnow() if new in FINAL else a.closed_at}
            app_rows.append(dict({f"b_{k}": v for k, v in vals.items()}, b_id=a.id, b_ver=a.version))
            items.append(("system", f"application.{action}", "application", a.id, before, dict(before, status=new)))
            after.append((a, vals))
            if outcome != "fail":
                key = (a.tier in NATIONAL_TIERS, None if a.tier in NATIONAL_TIERS else a.province)
                if key not in pools:
                    pools[key] = reviewer_pool(s, a)
                pool = pools[key]
                if not pool:
                    raise WorkflowError("reviewers: no reviewer available for this application / 无可用评审专家", "reviewers")
                chosen = _rng.sample(pool, min(REVIEWERS_PER_APPLICATION, len(pool)))
                review_rows.extend({"application_id": a.id, "reviewer_id": rid} for rid in chosen)
                items.append(("system", "review.draw", "application", a.id, None, {"reviewers": sorted(chosen)}))
    if not asm_rows:
        return after
    conn = s.connection()
    conn.execute(insert(Assessment.__table__), asm_rows)
    cols = ("status", "precheck_outcome", "version", "decision_note", "closed_at")
    res = conn.execute(update(_A).where(_A.c.id == bindparam("b_id"), _A.c.version == bindparam("b_ver"))
                       .values({c: bindparam(f"b_{c}") for c in cols}), app_rows)
    if res.rowcount not in (-1, len(app_rows)):
        raise IllegalTransition("precheck: applications changed meanwhile; try again / 申请已变更，请重试", "status")
    if review_rows:
        conn.execute(insert(_R), review_rows)
    audit.append_many(s, items)
    for a, vals in after:
        if isinstance(a, _Row):
            a.__dict__.update(vals)
    return after


def record_precheck(s: Session, a: Application, contract: dict, result: dict, d: dt.date) -> None:
    if a.status != "submitted":
        raise IllegalTransition(f"precheck: the application is {a.status}, not submitted", "status")
    tier = result.get("tiers", {}).get(a.tier)
    outcome = tier["outcome"] if tier else "fail"
    pblob, psha = freeze(contract)
    rblob, rsha = freeze(result)
    s.add(Assessment(application_id=a.id, as_of=d, mode=result.get("mode", "application"),
                     regime=(tier or {}).get("regime") or result.get("regime", a.regime), outcome=outcome,
                     profile_blob=pblob, profile_sha256=psha, result_blob=rblob, result_sha256=rsha))
    audit.append(s, "system", "assessment.freeze", "application", a.id, None,
                 {"profile_sha256": psha, "result_sha256": rsha, "outcome": outcome, "as_of": d})
    a.precheck_outcome = outcome
    if outcome == "fail":
        _move(s, None, a, "precheck_fail", note="engine pre-check: fail / 自动预审未通过")
        return
    _move(s, None, a, "precheck_pass")
    draw_reviewers(s, a)


def reviewer_pool(s: Session, a: Application) -> list[int]:
    national = list(s.execute(select(User.id).where(User.role == "reviewer", User.active, User.province.is_(None))).scalars())
    if a.tier in NATIONAL_TIERS:
        return national
    local = list(s.execute(select(User.id).where(User.role == "reviewer", User.active, User.province == a.province)).scalars())
    return local if len(local) >= REVIEWERS_PER_APPLICATION else local + national


_pool_cache: dict = {}


def draw_reviewers(s: Session, a: Application, k: int = REVIEWERS_PER_APPLICATION, pool: Optional[list[int]] = None) -> list[int]:
    """Random draw (双随机): k distinct reviewers from the pool, each blind to the others."""
    pool = pool if pool is not None else reviewer_pool(s, a)
    if len(pool) < 1:
        raise WorkflowError("reviewers: no reviewer available for this application / 无可用评审专家", "reviewers")
    chosen = _rng.sample(pool, min(k, len(pool)))
    for rid in chosen:
        s.add(Review(application_id=a.id, reviewer_id=rid))
    audit.append(s, "system", "review.draw", "application", a.id, None, {"reviewers": sorted(chosen)})
    return chosen


_TASKS = (select(_R.c.id, _R.c.application_id, _A.c.tier, _A.c.year, _A.c.status, _R.c.score, _R.c.submitted_at)
          .select_from(_R.join(_A, _A.c.id == _R.c.application_id))
          .where(_R.c.reviewer_id == bindparam("rid")).order_by(_R.c.id).limit(bindparam("lim")))
_TASKS_PENDING = _TASKS.where(_R.c.submitted_at.is_(None), _A.c.status == "in_review")


def reviewer_tasks(s: Session | Connection, u: User, pending_only: bool = True, limit: int = 50) -> list[dict]:
    """The reviewer's assignments (one Core query; s may be a Session or a Connection)."""
    if u.role != "reviewer":
        raise AccessDenied("tasks: reviewers only / 仅评审专家")
    rows = s.execute(_TASKS_PENDING if pending_only else _TASKS, {"rid": u.id, "lim": int(limit)})
    return [{"review_id": r[0], "application_id": r[1], "tier": r[2], "year": r[3], "status": r[4],
             "score": r[5], "submitted": r[6] is not None} for r in rows]


_SQL_TASKS = ("SELECT r.id, r.application_id, a.tier, a.year, a.status, r.score, r.submitted_at FROM wf_review r "
              "JOIN wf_application a ON a.id = r.application_id WHERE r.reviewer_id = ?")
_SQL_TASKS_PENDING = _SQL_TASKS + " AND r.submitted_at IS NULL AND a.status = 'in_review' ORDER BY r.id LIMIT ?"
_SQL_TASKS_ALL = _SQL_TASKS + " ORDER BY r.id LIMIT ?"


def reviewer_tasks_raw(raw, u: User, pending_only: bool = True, limit: int = 50) -> list[dict]:
    """reviewer_tasks on a rawsql.Raw cursor (the hot path)."""
    if u.role != "reviewer":
        raise AccessDenied("tasks: reviewers only / 仅评审专家")
    rows = raw.all(_SQL_TASKS_PENDING if pending_only else _SQL_TASKS_ALL, (u.id, int(limit)))
    return [{"review_id": r[0], "application_id": r[1], "tier": r[2], "year": r[3], "status": r[4],
             "score": r[5], "submitted": r[6] is not None} for r in rows]


_SQL_APP_REVIEW = ("SELECT a.status, a.tier, a.year, a.batch, a.kind, a.precheck_outcome, a.mean_score, a.version, "
                   "r.id, r.submitted_at FROM wf_application a LEFT JOIN wf_review r "
                   "ON r.application_id = a.id AND r.reviewer_id = ? WHERE a.id = ?")
_SQL_SET_SCORE = "UPDATE wf_review SET score = ?, recommend = ?, comment = ?, submitted_at = ? WHERE id = ?"
_SQL_TALLY = ("SELECT count(*), sum(CASE WHEN submitted_at IS NULL THEN 1 ELSE 0 END), sum(score) "
              "FROM wf_review WHERE application_id = ?")
_SQL_SCORED = "UPDATE wf_application SET status = ?, mean_score = ?, version = ? WHERE id = ? AND version = ?"
_SQL_SCORED_FINAL = ("UPDATE wf_application SET status = ?, mean_score = ?, version = ?, closed_at = ? "
                     "WHERE id = ? AND version = ?")


def submit_score_core(conn, u: User, app_id: int, score: int, recommend: Optional[bool] = None,
                      comment: str = "") -> dict:
    """submit_score on a Connection's transaction (the reviewers' hot path: four to six plain
    statements, no ORM unit of work). Same checks, errors, rows and audit entries as submit_score;
    the caller commits. `conn`: a Connection or a rawsql.Raw cursor on the transaction. On PostgreSQL
    the application row is locked (FOR UPDATE) first, then the audit head, as submit_score does."""
    from .rawsql import Raw

    if u is None or u.role != "reviewer":
        raise AccessDenied("score: reviewers only / 仅评审专家")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        raise WorkflowError(f"score: {score!r} must be a whole number 0..100 / 分数须为 0-100 的整数", "score")
    raw = conn if isinstance(conn, Raw) else Raw(conn)
    try:
        row = raw.one(_SQL_APP_REVIEW + ("" if raw.sqlite else " FOR UPDATE OF a"), (u.id, app_id))
        if row is None:
            raise AccessDenied(f"application {app_id}: not found / 不存在")
        status, tier, year, batch, kind, pre, _mean, version, rid, submitted = row
        if rid is None:
            raise AccessDenied(f"application {app_id}: not assigned to you / 未分配给您")
        if status != "in_review":
            raise IllegalTransition(f"score: the application is {status}, not in review / 当前不在评审阶段", "status")
        if submitted is not None:
            raise IllegalTransition("score: already submitted; scores are final / 已提交评分，不能修改", "score")
        rec = score >= PASS_SCORE if recommend is None else recommend
        now = utcnow()
        raw.run(_SQL_SET_SCORE, (score, rec, comment, raw.ts(now), rid))
        items = [(who(u), "review.score", "review", rid, None, {"application_id": app_id, "score": score, "recommend": rec})]
        n, still_open, total = raw.one(_SQL_TALLY, (app_id,))
        if not still_open:
            mean = total / n
            before = {"status": status, "tier": tier, "year": year, "batch": batch, "kind": kind, "precheck": pre,
                      "mean_score": mean}  # as submit_score: the mean is set before the move
            new = next_state(status, "scores_complete", tier, "system")
            if new in FINAL:
                done = raw.run(_SQL_SCORED_FINAL, (new, mean, version + 1, raw.ts(now), app_id, version))
            else:
                done = raw.run(_SQL_SCORED, (new, mean, version + 1, app_id, version))
            if done != 1:  # the ORM's optimistic version check, kept for mixed writers
                raise IllegalTransition(f"score: application {app_id} changed meanwhile; try again / 申请已变更，请重试",
                                        "status")
            items.append(("system", "application.scores_complete", "application", app_id, before,
                          dict(before, status=new)))
        audit.write_raw(raw, None, items)
    finally:
        if raw is not conn:
            raw.close()
    return {"review_id": rid, "application_id": app_id, "score": score}


def submit_score(s: Session, u: User, app_id: int, score: int, recommend: Optional[bool] = None,
                 comment: str = "") -> Review:
    if u is None or u.role != "reviewer":
        raise AccessDenied("score: reviewers only / 仅评审专家")
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        raise WorkflowError(f"score: {score!r} must be a whole number 0..100 / 分数须为 0-100 的整数", "score")
    a = _lock_app(s, app_id)
    r = s.execute(select(Review).where(Review.application_id == app_id, Review.reviewer_id == u.id)).scalar_one_or_none()
    if r is None:
        raise AccessDenied(f"application {app_id}: not assigned to you / 未分配给您")
    if a.status != "in_review":
        raise IllegalTransition(f"score: the application is {a.status}, not in review / 当前不在评审阶段", "status")
    if r.submitted_at is not None:
        raise IllegalTransition("score: already submitted; scores are final / 已提交评分，不能修改", "score")
    r.score, r.recommend, r.comment, r.submitted_at = score, (score >= PASS_SCORE if recommend is None else recommend), comment, utcnow()
    audit.append(s, who(u), "review.score", "review", r.id, None,
                 {"application_id": app_id, "score": score, "recommend": r.recommend})
    s.flush()
    left = s.execute(select(func.count()).select_from(Review)
                     .where(Review.application_id == app_id, Review.submitted_at.is_(None))).scalar_one()
    if left == 0:
        scores = list(s.execute(select(Review.score).where(Review.application_id == app_id)).scalars())
        a.mean_score = sum(scores) / len(scores)
        _move(s, None, a, "scores_complete")
    return r


def reviews_visible(s: Session, u: User, app_id: int) -> list[dict]:
    """Blind review: a reviewer sees only its own review; admins and the enterprise (after scoring) see all."""
    a = get_application(s, u, app_id)
    q = select(Review).where(Review.application_id == app_id).order_by(Review.id)
    if u.role == "reviewer":
        q = q.where(Review.reviewer_id == u.id)
    elif u.role == "enterprise":
        if a.status in ("in_review", "submitted", "draft"):
            return []
    rows = s.execute(q).scalars().all()
    out = []
    for i, r in enumerate(rows, 1):
        d = {"review_id": r.id, "score": r.score, "recommend": r.recommend, "submitted": r.submitted_at is not None}
        if u.role in ("provincial_admin", "national_admin", "reviewer"):
            d["comment"] = r.comment
        d["reviewer"] = f"专家{i}" if u.role == "enterprise" else r.reviewer_id
        out.append(d)
    return out


def _authority_ok(u: Optional[User], a: Application) -> None:
    if u is None:
        return
    if u.role not in ("provincial_admin", "national_admin"):
        raise AccessDenied(f"application {a.id}: decisions are the authorities' (admins) / 仅主管部门可操作")
    if u.role == "provincial_admin" and u.province != a.province:
        raise AccessDenied(f"application {a.id}: outside your province / 非本省")


def decide(s: Session, u: Optional[User], app_id: int, action: str, note: str = "",
           on: Optional[dt.date] = None) -> Application:
    """Provincial decision (approve / recommend / reject) or national decision (approve / reject)."""
    if action not in ("approve", "recommend", "reject"):
        raise WorkflowError(f"action: {action!r} is not approve, recommend or reject", "action")
    a = get_application(s, u, app_id, lock=True)
    _authority_ok(u, a)
    if a.status == "national_review" and u is not None and u.role != "national_admin":
        raise IllegalTransition(f"{action}: the national review is MIIT's (national admin) / 国家级审核由工信部进行", "action")
    _move(s, u, a, action, note=note or None)
    if a.status == "publicity":
        d = today(on)
        p = Publicity(application_id=a.id, starts_on=d, ends_on=d + dt.timedelta(days=PUBLICITY_DAYS),
                      authority="national" if a.tier in NATIONAL_TIERS else a.province)
        s.add(p)
        audit.append(s, who(u), "publicity.open", "application", a.id, None,
                     {"starts_on": p.starts_on, "ends_on": p.ends_on})
    return a


def file_objection(s: Session, u: Optional[User], app_id: int, text: str, on: Optional[dt.date] = None,
                   filed_by: Optional[str] = None) -> Objection:
    """Anyone logged in (or the public, u=None with filed_by) may object during publicity."""
    a = s.get(Application, app_id)
    if a is None:
        raise AccessDenied(f"application {app_id}: not found")
    if a.status != "publicity":
        raise IllegalTransition(f"objection: the application is {a.status}, not in publicity / 不在公示期", "status")
    p = s.execute(select(Publicity).where(Publicity.application_id == app_id)).scalar_one()
    d = today(on)
    if not p.starts_on <= d <= p.ends_on:
        raise WorkflowError(f"objection: publicity runs {p.starts_on}..{p.ends_on} / 不在公示期内", "date")
    if not text or not text.strip():
        raise WorkflowError("text: the objection needs a reason / 异议须说明理由", "text")
    o = Objection(application_id=app_id, filed_by=filed_by or who(u), text=text.strip(), filed_on=d)
    s.add(o)
    s.flush()
    audit.append(s, who(u), "objection.file", "objection", o.id, None, {"application_id": app_id, "text": o.text})
    return o


def resolve_objection(s: Session, u: Optional[User], objection_id: int, upheld: bool, note: str = "") -> Objection:
    o = s.get(Objection, objection_id)
    if o is None:
        raise AccessDenied(f"objection {objection_id}: not found")
    a = get_application(s, u, o.application_id, lock=True)
    _authority_ok(u, a)
    if u is not None and u.role not in ("provincial_admin", "national_admin"):
        raise AccessDenied("objection: admins only / 仅管理员")
    if a.tier in NATIONAL_TIERS and u is not None and u.role != "national_admin":
        raise AccessDenied("objection: little-giant publicity is MIIT's / 小巨人公示由工信部处理")
    if o.resolution:
        raise IllegalTransition(f"objection {objection_id}: already {o.resolution}", "objection")
    before = {"resolution": None}
    o.resolution, o.resolved_by, o.note = ("upheld" if upheld else "dismissed"), who(u), note or None
    audit.append(s, who(u), "objection.resolve", "objection", o.id, before, {"resolution": o.resolution, "note": o.note})
    if upheld:
        _move(s, u, a, "objection_upheld", note=f"objection upheld / 异议成立: {o.text[:200]}")
    return o


def close_publicity(s: Session, u: Optional[User], app_id: int, on: Optional[dt.date] = None) -> Application:
    """After the publicity period, with every objection resolved: certify (or renew)."""
    a = get_application(s, u, app_id, lock=True)
    _authority_ok(u, a)
    if a.tier in NATIONAL_TIERS and u is not None and u.role != "national_admin":
        raise AccessDenied("publicity: little giants are recognised by MIIT (national admin) / 小巨人由工信部认定")
    if a.status != "publicity":
        next_state(a.status, "close_publicity", a.tier, role(u))  # raises the clear error
    p = s.execute(select(Publicity).where(Publicity.application_id == app_id)).scalar_one()
    d = today(on)
    if d <= p.ends_on:
        raise WorkflowError(f"publicity: runs until {p.ends_on}; it can be closed from {p.ends_on + dt.timedelta(days=1)} "
                            f"/ 公示期未满", "date")
    open_obj = s.execute(select(func.count()).select_from(Objection)
                         .where(Objection.application_id == app_id, Objection.resolution.is_(None))).scalar_one()
    if open_obj:
        raise WorkflowError(f"objections: {open_obj} not yet resolved / 尚有异议未处理", "objections")
    if a.kind == "review":
        c = s.get(Certification, a.certification_id)
        before = cert_snap(c)
        c.valid_until = add_years(c.valid_until, VALIDITY_YEARS)
        c.renewals += 1
        c.status = "active"
        audit.append(s, who(u), "certification.renew", "certification", c.id, before, cert_snap(c))
        _move(s, u, a, "close_publicity", target="renewed")
    else:
        c = Certification(enterprise_id=a.enterprise_id, application_id=a.id, tier=a.tier, province=a.province,
                          year=a.year, batch=a.batch, valid_from=d,
                          valid_until=add_years(d, VALIDITY_YEARS) - dt.timedelta(days=1))
        s.add(c)
        s.flush()
        audit.append(s, who(u), "certification.grant", "certification", c.id, None, cert_snap(c))
        _move(s, u, a, "close_publicity", target="certified")
    return a


# ----------------------------------------------------------------------------- after certification
def get_certification(s: Session, u: Optional[User], cert_id: int) -> Certification:
    c = s.get(Certification, cert_id)
    if c is None:
        raise AccessDenied(f"certification {cert_id}: not found / 不存在")
    if u is not None:
        require(can_view_certification(u, c, s), f"certification {cert_id}")
    return c


def annual_update(s: Session, u: Optional[User], cert_id: int, profile: dict, year: Optional[int] = None,
                  on: Optional[dt.date] = None) -> AnnualUpdate:
    """The yearly data update (年度信息更新), due by 30 April (criteria §1.6, Beijing [S])."""
    c = get_certification(s, u, cert_id)
    if u is not None and u.role != "enterprise":
        raise AccessDenied("update: only the enterprise updates its data / 仅企业本身可更新")
    if c.status != "active":
        raise IllegalTransition(f"update: the certification is {c.status} / 资质已{c.status}", "status")
    d = today(on)
    y = year or d.year
    contract = _validate(profile)
    if s.execute(select(AnnualUpdate.id).where(AnnualUpdate.certification_id == c.id, AnnualUpdate.year == y)).first():
        raise WorkflowError(f"year: the {y} update was already filed / {y} 年度已更新", "year")
    on_time = d <= dt.date(y, *UPDATE_DEADLINE)
    blob, sha = freeze(contract)
    up = AnnualUpdate(certification_id=c.id, year=y, submitted_on=d, on_time=on_time, profile_blob=blob, profile_sha256=sha)
    s.add(up)
    s.flush()
    audit.append(s, who(u), "certification.annual_update", "certification", c.id, None,
                 {"year": y, "on_time": on_time, "profile_sha256": sha})
    return up


def enforce_annual_updates(s: Session, u: Optional[User], year: int, on: Optional[dt.date] = None) -> dict:
    """After the deadline of `year`: a title without that year's update loses its review eligibility;
    MISSED_UPDATES_REVOKE consecutive missed years revoke it (criteria §1.6, local rules [S])."""
    d = today(on)
    if d <= dt.date(year, *UPDATE_DEADLINE):
        raise WorkflowError(f"year: the {year} deadline {dt.date(year, *UPDATE_DEADLINE)} has not passed", "year")
    q = select(Certification).where(Certification.status == "active", Certification.valid_from < dt.date(year, 1, 1))
    if u is not None and u.role == "provincial_admin":
        q = q.where(Certification.province == u.province)
    elif u is not None and u.role != "national_admin":
        raise AccessDenied("admins only / 仅管理员")
    lost = revoked = 0
    for c in s.execute(q).scalars().all():
        done = {y for (y,) in s.execute(select(AnnualUpdate.year).where(AnnualUpdate.certification_id == c.id,
                                                                        AnnualUpdate.on_time))}
        missed = [y for y in range(year - MISSED_UPDATES_REVOKE + 1, year + 1)
                  if y not in done and dt.date(y, 1, 1) > c.valid_from]
        if year not in done and c.review_eligible:
            before = cert_snap(c)
            c.review_eligible = False
            lost += 1
            audit.append(s, who(u), "certification.review_eligibility_lost", "certification", c.id, before, cert_snap(c))
        if len(missed) >= MISSED_UPDATES_REVOKE:
            _revoke_cert(s, u, c, "missed_updates", f"no annual update in {missed}", d)
            revoked += 1
    return {"lost_review_eligibility": lost, "revoked": revoked}


def open_review(s: Session, u: Optional[User], cert_id: int, profile: Optional[dict] = None,
                on: Optional[dt.date] = None) -> Application:
    """Re-review (复核) at expiry: a review application for the certification (engine mode 'review')."""
    c = get_certification(s, u, cert_id)
    if c.status != "active":
        raise IllegalTransition(f"review: the certification is {c.status} / 资质已{c.status}", "status")
    if not c.review_eligible:
        raise WorkflowError("review: lost review eligibility (annual update missed) / 未按时更新信息，取消复核资格",
                            "review_eligible")
    d = today(on)
    if d < c.valid_until - dt.timedelta(days=366):
        raise WorkflowError(f"review: opens in the last year of validity (valid until {c.valid_until}) / 未到复核期", "date")
    if s.execute(select(Application.id).where(Application.certification_id == c.id, Application.kind == "review",
                                              Application.status.not_in(FINAL))).first():
        raise WorkflowError("review: a review is already open / 已有进行中的复核", "review")
    return create_application(s, u if u is None or u.role != "enterprise" else u, c.enterprise_id, c.tier, d.year,
                              profile, c.batch, kind="review", certification_id=c.id, on=d)


def expire_due(s: Session, u: Optional[User], on: Optional[dt.date] = None) -> int:
    """Active titles past their validity end with no open re-review expire; a failed re-review expires too."""
    d = today(on)
    n = 0
    q = select(Certification).where(Certification.status == "active", Certification.valid_until < d)
    for c in s.execute(q).scalars().all():
        open_rev = s.execute(select(Application.status).where(Application.certification_id == c.id,
                                                              Application.kind == "review")
                             .order_by(Application.id.desc())).first()
        if open_rev and open_rev[0] not in FINAL:
            continue
        before = cert_snap(c)
        c.status = "expired"
        audit.append(s, who(u), "certification.expire", "certification", c.id, before, cert_snap(c))
        n += 1
    return n


def _revoke_cert(s: Session, u: Optional[User], c: Certification, reason: str, note: str, d: dt.date,
                 bar_until: Optional[dt.date] = None) -> None:
    before = cert_snap(c)
    c.status = "revoked"
    s.add(Revocation(enterprise_id=c.enterprise_id, certification_id=c.id, reason=reason, note=note,
                     decided_by=who(u), decided_on=d, bar_until=bar_until))
    audit.append(s, who(u), f"certification.revoke.{reason}", "certification", c.id, before, cert_snap(c))


REVOCATION_REASONS = ("data_fraud", "compliance", "missed_updates", "other")


def revoke(s: Session, u: Optional[User], enterprise_id: int, reason: str, note: str = "",
           cert_id: Optional[int] = None, on: Optional[dt.date] = None) -> dict:
    """Revoke a title (cert_id) or, for data fraud, ALL titles of the enterprise, close its open
    applications and bar new applications for 3 years (criteria §1.8)."""
    if reason not in REVOCATION_REASONS:
        raise WorkflowError(f"reason: {reason!r} is not one of {', '.join(REVOCATION_REASONS)}", "reason")
    e = s.get(Enterprise, enterprise_id)
    if e is None:
        raise AccessDenied(f"enterprise {enterprise_id}: not found")
    if u is not None:
        if u.role not in ("provincial_admin", "national_admin"):
            raise AccessDenied("revoke: admins only / 仅管理员")
        require(can_view_enterprise(u, e, s), f"enterprise {enterprise_id}")
    d = today(on)
    if reason == "data_fraud":
        certs = s.execute(select(Certification).where(Certification.enterprise_id == e.id,
                                                      Certification.status == "active")).scalars().all()
        bar = add_years(d, FRAUD_BAR_YEARS)
        for c in certs:
            _revoke_cert(s, u, c, reason, note, d, bar)
        apps = s.execute(select(Application).where(Application.enterprise_id == e.id,
                                                   Application.status.not_in(FINAL))).scalars().all()
        for a in apps:
            _move(s, u, a, "revoke", note="data fraud / 数据造假")
        before = {"barred_until": e.barred_until}
        e.barred_until = bar
        if not certs:
            s.add(Revocation(enterprise_id=e.id, reason=reason, note=note, decided_by=who(u), decided_on=d, bar_until=bar))
        audit.append(s, who(u), "enterprise.bar", "enterprise", e.id, before, {"barred_until": bar})
        return {"revoked": len(certs), "closed_applications": len(apps), "barred_until": bar}
    if cert_id is None:
        raise WorkflowError("certification: which title? (cert_id) / 请指定资质", "cert_id")
    c = s.get(Certification, cert_id)
    if c is None or c.enterprise_id != e.id:
        raise AccessDenied(f"certification {cert_id}: not found for this enterprise")
    if c.status != "active":
        raise IllegalTransition(f"revoke: the certification is already {c.status}", "status")
    _revoke_cert(s, u, c, reason, note, d)
    return {"revoked": 1, "closed_applications": 0, "barred_until": None}


def application_dict(s: Session, a: Application, u: Optional[User] = None, full: bool = False) -> dict:
    from .states import actions_from

    d = {"id": a.id, "enterprise_id": a.enterprise_id, "enterprise": a.enterprise.name if a.enterprise else None,
         "kind": a.kind, "tier": a.tier, "year": a.year, "batch": a.batch, "regime": a.regime, "province": a.province,
         "status": a.status, "precheck": a.precheck_outcome, "submitted_at": a.submitted_at, "closed_at": a.closed_at,
         "decision_note": a.decision_note}
    if u is None or u.role != "reviewer":
        d["mean_score"] = a.mean_score if (u is None or u.role != "enterprise" or a.status != "in_review") else None
    if u is not None:
        d["actions"] = [x for x in actions_from(a.status, a.tier, u.role)
                        if x not in ("revoke",)]
    if full:
        asm = s.execute(select(Assessment).where(Assessment.application_id == a.id)
                        .order_by(Assessment.id.desc())).scalars().first()
        if asm is not None:
            d["assessment"] = {"as_of": asm.as_of, "outcome": asm.outcome, "regime": asm.regime,
                               "profile_sha256": asm.profile_sha256, "result_sha256": asm.result_sha256,
                               "result": asm.result()}
        if u is None or u.role == "enterprise" or u.role.endswith("admin"):
            d["profile"] = a.profile
        elif asm is not None:  # a reviewer sees the frozen copy it scores
            d["profile"] = asm.profile()
        p = s.execute(select(Publicity).where(Publicity.application_id == a.id)).scalar_one_or_none()
        if p:
            d["publicity"] = {"starts_on": p.starts_on, "ends_on": p.ends_on, "authority": p.authority}
            d["objections"] = [{"id": o.id, "text": o.text, "filed_on": o.filed_on, "resolution": o.resolution}
                               for o in s.execute(select(Objection).where(Objection.application_id == a.id)).scalars()]
    return d
