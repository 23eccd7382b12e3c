"""Dashboards: counts by tier / province / year / status against the national targets (criteria
§10.1: 1,000,000 innovative, 100,000 SRDI, 10,000 little giants) and the provincial goals;
certifications expiring; Excel export (openpyxl). Every figure is limited to what the user may see.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Application, Certification, Enterprise, ProvincialGoal, User
from .roles import AccessDenied, scope_applications, scope_certifications
from .service import today

# criteria.md §10.1 (十四五 plan, [C]); the R2026 科技和创新型 tier counts toward the innovative target.
NATIONAL_TARGETS = {"innovative_sme": 1_000_000, "srdi_sme": 100_000, "little_giant": 10_000}
TARGET_TIER = {"innovative_sme": "innovative_sme", "tech_innovative_sme": "innovative_sme",
               "srdi_sme": "srdi_sme", "little_giant": "little_giant"}
GROUPS = ("tier", "province", "year", "status")


def _admin(u: User) -> None:
    if u.role not in ("provincial_admin", "national_admin"):
        raise AccessDenied("dashboard: admins only / 仅管理员")


def application_counts(s: Session, u: User, by: tuple[str, ...] = GROUPS) -> list[dict]:
    _admin(u)
    bad = [b for b in by if b not in GROUPS]
    if bad:
        raise ValueError(f"by: {bad} not in {GROUPS}")
    cols = [getattr(Application, b) for b in by]
    q = scope_applications(select(*cols, func.count()).group_by(*cols).order_by(*cols), u)
    return [dict(zip(by + ("count",), row)) for row in s.execute(q)]


def certification_counts(s: Session, u: User, on: Optional[dt.date] = None) -> dict:
    """Active titles by tier (and province) against national targets and provincial goals."""
    _admin(u)
    d = today(on)
    q = scope_certifications(select(Certification.tier, Certification.province, func.count())
                             .where(Certification.status == "active", Certification.valid_until >= d)
                             .group_by(Certification.tier, Certification.province), u)
    by_tier: dict[str, int] = {}
    by_prov: dict[tuple[str, str], int] = {}
    for tier, prov, n in s.execute(q):
        t = TARGET_TIER.get(tier, tier)
        by_tier[t] = by_tier.get(t, 0) + n
        by_prov[(prov, t)] = by_prov.get((prov, t), 0) + n
    national = [{"tier": t, "active": by_tier.get(t, 0), "target": target,
                 "pct": round(100 * by_tier.get(t, 0) / target, 3)} for t, target in NATIONAL_TARGETS.items()]
    gq = select(ProvincialGoal)
    if u.role == "provincial_admin":
        gq = gq.where(ProvincialGoal.province == u.province)
    goals = {}
    for g in s.execute(gq).scalars():
        k = (g.province, TARGET_TIER.get(g.tier, g.tier))
        if k not in goals or g.year > goals[k][0]:
            goals[k] = (g.year, g.goal)
    keys = sorted(set(by_prov) | set(goals))
    provincial = [{"province": p, "tier": t, "active": by_prov.get((p, t), 0),
                   "goal": goals.get((p, t), (None, None))[1], "goal_year": goals.get((p, t), (None, None))[0],
                   "pct": (round(100 * by_prov.get((p, t), 0) / goals[(p, t)][1], 1) if (p, t) in goals and goals[(p, t)][1] else None)}
                  for p, t in keys]
    return {"as_of": d, "national": national, "provincial": provincial}


def set_goal(s: Session, u: User, province: str, tier: str, year: int, goal: int) -> ProvincialGoal:
    from . import audit

    _admin(u)
    if u.role == "provincial_admin" and province != u.province:
        raise AccessDenied("goal: outside your province / 非本省")
    if goal < 0:
        raise ValueError("goal: must be >= 0")
    g = s.execute(select(ProvincialGoal).where(ProvincialGoal.province == province, ProvincialGoal.tier == tier,
                                               ProvincialGoal.year == year)).scalar_one_or_none()
    before = {"goal": g.goal} if g else None
    if g is None:
        g = ProvincialGoal(province=province, tier=tier, year=year, goal=goal)
        s.add(g)
    g.goal = goal
    s.flush()
    audit.append(s, u.ref(), "goal.set", "goal", f"{province}/{tier}/{year}", before, {"goal": goal})
    return g


def expiring(s: Session, u: User, within_days: int = 180, on: Optional[dt.date] = None, limit: int = 500) -> list[dict]:
    _admin(u)
    d = today(on)
    q = scope_certifications(
        select(Certification, Enterprise.name, Enterprise.uscc).join(Enterprise, Enterprise.id == Certification.enterprise_id)
        .where(Certification.status == "active", Certification.valid_until >= d,
               Certification.valid_until <= d + dt.timedelta(days=within_days))
        .order_by(Certification.valid_until).limit(limit), u)
    return [{"certification_id": c.id, "enterprise": name, "uscc": uscc, "tier": c.tier, "province": c.province,
             "valid_until": c.valid_until, "days_left": (c.valid_until - d).days, "review_eligible": c.review_eligible}
            for c, name, uscc in s.execute(q)]


def export_xlsx(s: Session, u: User, on: Optional[dt.date] = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font

    cc = certification_counts(s, u, on)
    wb = Workbook()
    ws = wb.active
    ws.title = "目标 Targets"
    ws.append(["层级 tier", "有效 active", "目标 target", "完成 %"])
    for r in cc["national"]:
        ws.append([r["tier"], r["active"], r["target"], r["pct"]])
    ch = BarChart()
    ch.title = "Active titles vs target"
    ch.add_data(Reference(ws, min_col=2, min_row=1, max_row=1 + len(cc["national"])), titles_from_data=True)
    ch.set_categories(Reference(ws, min_col=1, min_row=2, max_row=1 + len(cc["national"])))
    ws.add_chart(ch, "F2")
    ws2 = wb.create_sheet("省 Provinces")
    ws2.append(["省份 province", "层级 tier", "有效 active", "目标 goal", "目标年 goal year", "完成 %"])
    for r in cc["provincial"]:
        ws2.append([r["province"], r["tier"], r["active"], r["goal"], r["goal_year"], r["pct"]])
    ws3 = wb.create_sheet("申请 Applications")
    ws3.append(["层级 tier", "省份 province", "年度 year", "状态 status", "数量 count"])
    for r in application_counts(s, u):
        ws3.append([r["tier"], r["province"], r["year"], r["status"], r["count"]])
    ws4 = wb.create_sheet("到期 Expiring")
    ws4.append(["资质 id", "企业 enterprise", "USCC", "层级 tier", "省份 province", "有效期至 valid until", "剩余天数 days",
                "复核资格 review eligible"])
    for r in expiring(s, u, 365, on):
        ws4.append([r["certification_id"], r["enterprise"], r["uscc"], r["tier"], r["province"], r["valid_until"],
                    r["days_left"], r["review_eligible"]])
    for w in (ws, ws2, ws3, ws4):
        for c in w[1]:
            c.font = Font(bold=True)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
