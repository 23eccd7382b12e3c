"""Synthetic contract profiles for the cycle bench and tests (deterministic from a seed).

Built from the bundled example firm (a small precision-machinery maker), scaled and varied: most
pass the tier they apply for, some fail the pre-check (R&D too low), little-giant applicants carry
a provincial SRDI title and stronger figures.
"""
from __future__ import annotations

import copy
import random
from functools import lru_cache

from srdi.profile.codes import PROVINCES

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(rng: random.Random, province: str) -> str:
    from srdi.profile.uscc import uscc_check_char

    body = "91" + province + "".join(rng.choice(_USCC_CHARS) for _ in range(9))
    return body + uscc_check_char(body)


@lru_cache(maxsize=1)
def _base() -> dict:
    from importlib import resources

    import yaml

    text = resources.files("srdi.examples").joinpath("precision_machinery.yaml").read_text(encoding="utf-8")
    from srdi.profile import validate_profile

    return jsonable(validate_profile(yaml.safe_load(text)).to_contract_dict())


def jsonable(d):
    """A contract dict with plain JSON values (Decimal -> float, dates -> ISO strings, keys -> str)."""
    import json
    from decimal import Decimal

    return json.loads(json.dumps(d, default=lambda o: float(o) if isinstance(o, Decimal) else str(o)))


def provinces() -> list[str]:
    return sorted(PROVINCES)


def make_profile(i: int, province: str, tier: str, rng: random.Random, fail: bool = False) -> dict:
    """One contract profile (yuan). `fail=True` makes the R&D intensity fail every tier."""
    p = copy.deepcopy(_base())
    uscc = make_uscc(rng, province)
    p["name"] = f"合成企业{i:06d}有限公司"
    p["uscc"] = uscc
    p["province"] = province
    k = rng.uniform(0.8, 1.3)
    for y, f in p["financials"].items():
        for key, v in list(f.items()):
            if key in ("employees", "rd_employees", "tech_employees"):
                continue
            if v is not None and not isinstance(v, bool):
                f[key] = round(float(v) * k, 2)
    if tier == "little_giant":
        p["titles"] = list(p.get("titles") or []) + [
            {"type": "provincial_srdi_sme", "valid_from": "2023-01-01", "valid_until": "2026-12-31"}]
        p["market_share_pct"] = 12.0
        p["domestic_rank"] = 2
        p["product_field"] = dict(p["product_field"], chain_gap_filling=True, strategic_emerging=True)
        p["ip"] = dict(p["ip"], class1=6, class1_self_developed=5, class1_applied_with_benefit=4, class1_high_value=2)
        p["rd_institution"] = "provincial"
        p["maker_china"] = {"year": 2024, "group": "top500"}
        p["digital_level"] = 3
        p["quality"] = dict(p["quality"], standards_drafting=True)
        for y, rd in (("2024", 0.075), ("2023", 0.07), ("2025", 0.075)):
            if y in p["financials"]:
                f = p["financials"][y]
                f["rd_expense"] = round(f["operating_revenue"] * rd, 2)
        p["financials"]["2022"] = {kk: round(v * 0.85, 2) if isinstance(v, float) else v
                                   for kk, v in p["financials"]["2023"].items()}
    if fail:
        for f in p["financials"].values():
            f["rd_expense"] = round(f["operating_revenue"] * 0.005, 2)
    return p


DEMO_PASSWORD = "demo-password"


def seed_demo(store, on=None) -> dict:
    """A small world for demos and tests (every account's password: DEMO_PASSWORD).

    Jiangsu (320000): admin-js, reviewers rev-js1..3, enterprises E1 (SRDI application in review)
    and E2 (an innovative SME certified through the whole cycle); Guangdong (440000): admin-gd,
    rev-gd1..3, E3 (innovative application in review, and an imported SRDI title); national: miit,
    rev-nat1..3. Enterprise accounts: ent-e1, ent-e2, ent-e3.
    """
    import datetime as dt

    from . import roles, service
    from .importer import import_rows
    from .models import Review, User

    d = on or dt.date(2025, 6, 1)
    rng = random.Random(11)
    h = roles.hash_password(DEMO_PASSWORD)
    ids: dict = {}
    with store.session() as s:
        mk = lambda name, role, **kw: roles.create_user(s, name, "", role, password_hash=h, **kw)  # noqa: E731
        miit = mk("miit", "national_admin")
        ids["admin-js"] = mk("admin-js", "provincial_admin", province="320000").id
        ids["admin-gd"] = mk("admin-gd", "provincial_admin", province="440000").id
        ids["miit"] = miit.id
        for p, tag in (("320000", "js"), ("440000", "gd"), (None, "nat")):
            for i in (1, 2, 3):
                ids[f"rev-{tag}{i}"] = mk(f"rev-{tag}{i}", "reviewer", province=p).id
        ents = {}
        for key, prov, tier in (("e1", "320000", "srdi_sme"), ("e2", "320000", "innovative_sme"), ("e3", "440000", "innovative_sme")):
            prof = make_profile(len(ents) + 1, prov, tier, rng)
            e = service.create_enterprise(s, miit, prof["name"], prov, prof["uscc"])
            u = mk(f"ent-{key}", "enterprise", enterprise_id=e.id)
            a = service.create_application(s, u, e.id, tier, d.year, prof, batch="1", on=d)
            service.submit(s, u, a.id, on=d)
            ents[key] = (e, u, a)
            ids[key] = e.id
            ids[f"ent-{key}"] = u.id
            ids[f"app-{key}"] = a.id
        # E2 through the whole cycle
        a = ents["e2"][2]
        for r in s.query(Review).filter_by(application_id=a.id).all():
            service.submit_score(s, s.get(User, r.reviewer_id), a.id, 80)
        adm = s.get(User, ids["admin-js"])
        service.decide(s, adm, a.id, "approve", on=d)
        service.close_publicity(s, adm, a.id, on=d + dt.timedelta(days=8))
        from .models import Certification

        ids["cert-e2"] = s.query(Certification).filter_by(application_id=a.id).one().id
        rep = import_rows(s, miit, [{"name": ents["e3"][0].name, "uscc": ents["e3"][0].uscc, "tier": "srdi_sme",
                                     "batch": "2024-1", "year": 2024}])
        assert rep.imported == 1, rep.as_dict()
        ids["cert-e3"] = s.query(Certification).filter_by(enterprise_id=ents["e3"][0].id).one().id
    return ids
