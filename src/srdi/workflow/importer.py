"""Import of published lists (公示/公告名单) into the registry: CSV or XLSX with the columns
name, uscc, tier, batch, year (and optionally province, valid_from). Chinese headers are accepted
(企业名称, 统一社会信用代码, 层级, 批次, 年度, 省份, 认定日期).

Each good row becomes an enterprise (found by USCC, or created) and an active certification
(source=import) valid 3 years from valid_from (default: 1 January of `year`). Bad rows and
duplicates (within the file, or already in the registry) are reported; every other row is imported.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit
from .models import Certification, Enterprise, User
from .service import VALIDITY_YEARS, add_years, who
from .states import TIERS

HEADERS = {
    "name": "name", "企业名称": "name", "名称": "name", "enterprise": "name",
    "uscc": "uscc", "统一社会信用代码": "uscc", "信用代码": "uscc",
    "tier": "tier", "层级": "tier", "类别": "tier",
    "batch": "batch", "批次": "batch",
    "year": "year", "年度": "year", "年份": "year",
    "province": "province", "省份": "province", "地区": "province",
    "valid_from": "valid_from", "认定日期": "valid_from",
}
TIER_ALIASES = {
    "创新型中小企业": "innovative_sme", "科技和创新型中小企业": "tech_innovative_sme",
    "专精特新中小企业": "srdi_sme", "专精特新": "srdi_sme", "小巨人": "little_giant",
    '专精特新"小巨人"企业': "little_giant", "专精特新“小巨人”企业": "little_giant", "专精特新小巨人": "little_giant",
}


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    enterprises_created: int = 0
    duplicates: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "imported": self.imported, "enterprises_created": self.enterprises_created,
                "duplicates": self.duplicates, "errors": self.errors}

    def line(self) -> str:
        return (f"import: rows={self.rows} imported={self.imported} duplicates={len(self.duplicates)} "
                f"errors={len(self.errors)}")


def read_rows(data: bytes, filename: str = "") -> list[dict]:
    """Rows as dicts keyed by canonical column names. Raises ValueError for an unreadable file."""
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as e:
            raise ValueError(f"file: not a readable XLSX workbook ({e}) / 无法读取 XLSX") from None
        it = wb.active.iter_rows(values_only=True)
        header = next(it, None)
        raw = [list(r) for r in it]
    else:
        text = None
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        if text is None:
            raise ValueError("file: not UTF-8 or GB18030 text / 编码无法识别")
        rd = csv.reader(io.StringIO(text))
        header = next(rd, None)
        raw = [r for r in rd]
    if not header:
        raise ValueError("file: no header row / 缺少表头")
    cols = [HEADERS.get(str(h or "").strip().lower(), HEADERS.get(str(h or "").strip())) for h in header]
    missing = [c for c in ("name", "uscc", "tier", "year") if c not in cols]
    if missing:
        raise ValueError(f"header: missing column(s) {', '.join(missing)} / 缺少列 (have: {', '.join(str(h) for h in header)})")
    out = []
    for r in raw:
        if all(v in (None, "") for v in r):
            out.append(None)
            continue
        out.append({c: (r[i] if i < len(r) else None) for i, c in enumerate(cols) if c})
    return out


def _s(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def import_rows(s: Session, u: Optional[User], rows: Iterable[Optional[dict]]) -> ImportReport:
    from srdi.profile.codes import normalize_province
    from srdi.profile.uscc import uscc_problem

    if u is not None and u.role not in ("provincial_admin", "national_admin"):
        from .roles import AccessDenied

        raise AccessDenied("import: admins only / 仅管理员")
    rep = ImportReport()
    seen: set[tuple[str, str]] = set()
    for n, r in enumerate(rows, start=2):  # row 1 is the header
        if r is None:
            continue
        rep.rows += 1

        def bad(fieldname: str, problem: str):
            rep.errors.append({"row": n, "field": fieldname, "problem": problem})

        name, uscc = _s(r.get("name")), _s(r.get("uscc")).upper()
        tier = _s(r.get("tier"))
        tier = TIER_ALIASES.get(tier, tier)
        if not name:
            bad("name", "required / 必填")
            continue
        prob = uscc_problem(uscc) if uscc else "required / 必填"
        if prob:
            bad("uscc", prob)
            continue
        if tier not in TIERS:
            bad("tier", f"{tier!r} is not one of {', '.join(sorted(TIERS))}")
            continue
        try:
            year = int(_s(r.get("year")))
            if not 2011 <= year <= 2100:
                raise ValueError
        except ValueError:
            bad("year", f"{r.get('year')!r} is not a year / 年度无效")
            continue
        prov_raw = _s(r.get("province")) or uscc[2:4] + "0000"
        try:
            prov = normalize_province(prov_raw)
        except Exception as e:
            bad("province", str(e))
            continue
        if u is not None and u.role == "provincial_admin" and prov != u.province:
            bad("province", f"{prov} is outside your province {u.province} / 非本省")
            continue
        vf = r.get("valid_from")
        try:
            if isinstance(vf, dt.datetime):
                vf = vf.date()
            elif vf not in (None, ""):
                vf = dt.date.fromisoformat(_s(vf)[:10])
            else:
                vf = dt.date(year, 1, 1)
        except ValueError:
            bad("valid_from", f"{vf!r} is not a date (YYYY-MM-DD)")
            continue
        batch = _s(r.get("batch")) or None
        key = (uscc, tier)
        if key in seen:
            rep.duplicates.append({"row": n, "uscc": uscc, "tier": tier, "reason": "repeated in this file / 文件内重复"})
            continue
        seen.add(key)
        e = s.execute(select(Enterprise).where(Enterprise.uscc == uscc)).scalar_one_or_none()
        if e is not None:
            dup = s.execute(select(Certification.id).where(Certification.enterprise_id == e.id, Certification.tier == tier,
                                                           Certification.status == "active")).first()
            if dup:
                rep.duplicates.append({"row": n, "uscc": uscc, "tier": tier,
                                       "reason": f"already holds an active {tier} title (certification {dup[0]}) / 已有有效资质"})
                continue
            if e.province != prov:
                bad("province", f"USCC {uscc} is registered in {e.province}, not {prov}")
                continue
        else:
            e = Enterprise(name=name, uscc=uscc, province=prov)
            s.add(e)
            s.flush()
            rep.enterprises_created += 1
            audit.append(s, who(u), "enterprise.import", "enterprise", e.id, None, {"name": name, "uscc": uscc, "province": prov})
        c = Certification(enterprise_id=e.id, tier=tier, province=prov, year=year, batch=batch, valid_from=vf,
                          valid_until=add_years(vf, VALIDITY_YEARS) - dt.timedelta(days=1), source="import")
        s.add(c)
        s.flush()
        audit.append(s, who(u), "certification.import", "certification", c.id, None,
                     {"uscc": uscc, "tier": tier, "batch": batch, "year": year, "valid_until": c.valid_until})
        rep.imported += 1
    return rep


def import_file(s: Session, u: Optional[User], data: bytes, filename: str = "") -> ImportReport:
    return import_rows(s, u, read_rows(data, filename))
