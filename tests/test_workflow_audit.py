"""The audit log: hash chain, append-only triggers, tamper detection, the `srdi audit-verify` command;
import of published lists; dashboards and the Excel export."""
import datetime as dt
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from srdi.cli.app import app as cli
from srdi.workflow import audit, dashboards, importer
from srdi.workflow.db import Store
from srdi.workflow.models import AuditEntry, Certification, User
from srdi.workflow.synth import make_uscc, seed_demo

D = dt.date(2025, 6, 1)


@pytest.fixture()
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = Store(url).init()
    ids = seed_demo(store, D)
    yield store, ids, url
    store.dispose()


def test_chain_verifies_and_records_before_after(world):
    store, ids, _ = world
    with store.read() as s:
        r = audit.verify(s)
        assert r.ok and r.entries > 30
        rows = audit.browse(s, "application", str(ids["app-e2"]), limit=50)
        acts = [x["action"] for x in rows]
        assert "application.close_publicity" in acts and "assessment.freeze" in acts
        close = next(x for x in rows if x["action"] == "application.close_publicity")
        assert close["before"]["status"] == "publicity" and close["after"]["status"] == "certified"
        assert close["actor"] == "provincial_admin:admin-js"
        seqs = [e.seq for e in s.query(AuditEntry).order_by(AuditEntry.seq)]
        assert seqs == list(range(1, len(seqs) + 1))


def test_triggers_refuse_update_and_delete(world):
    store, _, _ = world
    for sql in ("UPDATE wf_audit SET actor='x' WHERE seq=1", "DELETE FROM wf_audit WHERE seq=1"):
        with pytest.raises(DatabaseError, match="append-only"):
            with store.session() as s:
                s.execute(text(sql))


@pytest.mark.parametrize("tamper,words", [
    ("UPDATE wf_audit SET after='{\"status\":\"certified\"}' WHERE seq=5", "edited"),
    ("DELETE FROM wf_audit WHERE seq=7", "missing"),
    ("DELETE FROM wf_audit WHERE seq=(SELECT max(seq) FROM wf_audit)", "removed at the end"),
])
def test_tampering_is_detected(world, tamper, words):
    store, _, url = world
    with store.session() as s:  # someone with raw database access drops the triggers first
        s.execute(text("DROP TRIGGER wf_audit_no_update"))
        s.execute(text("DROP TRIGGER wf_audit_no_delete"))
        s.execute(text(tamper))
    with store.read() as s:
        r = audit.verify(s)
    assert not r.ok and any(words in p for p in r.problems), r.problems
    res = CliRunner().invoke(cli, ["audit-verify", "--db", url])
    assert res.exit_code == 1 and "ok=false" in res.output


def test_audit_verify_command_ok(world):
    _, _, url = world
    res = CliRunner().invoke(cli, ["audit-verify", "--db", url])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1].startswith("audit: entries=") and "ok=true" in res.output


def _csv(rows):
    return ("name,uscc,tier,batch,year\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n").encode()


def test_import_reports_duplicates_and_bad_rows(world):
    import random

    store, ids, url = world
    rng = random.Random(1)
    u1, u2 = make_uscc(rng, "320000"), make_uscc(rng, "330000")
    with store.read() as s:
        from srdi.workflow.models import Enterprise

        e3_uscc = s.get(Enterprise, ids["e3"]).uscc
    data = _csv([
        ("甲公司", u1, "专精特新中小企业", "2024-1", 2024),       # good (Chinese tier name)
        ("乙公司", u2, "little_giant", "6", 2024),                # good
        ("甲公司", u1, "srdi_sme", "2024-1", 2024),               # repeated in file
        ("丙公司", e3_uscc, "srdi_sme", "2024-1", 2024),          # already holds this title
        ("丁公司", u1[:-1] + ("0" if u1[-1] != "0" else "1"), "srdi_sme", "1", 2024),  # bad check digit
        ("", make_uscc(rng, "320000"), "srdi_sme", "1", 2024),   # no name
        ("戊公司", make_uscc(rng, "320000"), "gold_medal", "1", 2024),  # unknown tier
        ("己公司", make_uscc(rng, "320000"), "srdi_sme", "1", "twenty"),  # bad year
    ])
    with store.session() as s:
        rep = importer.import_file(s, None, data, "list.csv")
    assert rep.imported == 2 and rep.rows == 8
    assert sorted(d["row"] for d in rep.duplicates) == [4, 5]
    assert {(d["row"], d["field"]) for d in rep.errors} == {(6, "uscc"), (7, "name"), (8, "tier"), (9, "year")}
    # provincial admin: rows of other provinces are refused, own province imported
    with store.session() as s:
        adm = s.get(User, ids["admin-gd"])
        rep2 = importer.import_file(s, adm, _csv([("庚公司", make_uscc(rng, "320000"), "srdi_sme", "1", 2025),
                                                  ("辛公司", make_uscc(rng, "440000"), "srdi_sme", "1", 2025)]))
    assert rep2.imported == 1 and rep2.errors[0]["field"] == "province"


def test_import_xlsx_and_cli(world, tmp_path):
    import random

    from openpyxl import Workbook

    store, _, url = world
    rng = random.Random(2)
    wb = Workbook()
    ws = wb.active
    ws.append(["企业名称", "统一社会信用代码", "层级", "批次", "年度"])
    ws.append(["壬公司", make_uscc(rng, "370000"), "小巨人", "5", 2023])
    ws.append(["癸公司", "123", "小巨人", "5", 2023])
    p = tmp_path / "list.xlsx"
    wb.save(p)
    res = CliRunner().invoke(cli, ["cycle-import", str(p), "--db", url])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "import: rows=2 imported=1 duplicates=0 errors=1"
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    res = CliRunner().invoke(cli, ["cycle-import", str(bad), "--db", url])
    assert res.exit_code == 2 and "missing column" in res.output


def test_dashboards_and_excel(world):
    from openpyxl import load_workbook

    store, ids, _ = world
    with store.session() as s:
        miit, js = s.get(User, ids["miit"]), s.get(User, ids["admin-js"])
        dashboards.set_goal(s, js, "320000", "innovative_sme", 2025, 4)
        with pytest.raises(Exception):
            dashboards.set_goal(s, js, "440000", "innovative_sme", 2025, 4)
    with store.read() as s:
        miit, js, ent = s.get(User, ids["miit"]), s.get(User, ids["admin-js"]), s.get(User, ids["ent-e1"])
        cc = dashboards.certification_counts(s, miit, on=D + dt.timedelta(days=30))
        nat = {r["tier"]: r for r in cc["national"]}
        assert nat["innovative_sme"]["active"] == 1 and nat["innovative_sme"]["target"] == 1_000_000
        assert nat["srdi_sme"]["active"] == 1 and nat["srdi_sme"]["target"] == 100_000
        assert nat["little_giant"]["target"] == 10_000
        cj = dashboards.certification_counts(s, js, on=D + dt.timedelta(days=30))
        assert {r["tier"]: r["active"] for r in cj["national"]}["srdi_sme"] == 0  # Guangdong's title not counted
        goal = next(r for r in cj["provincial"] if r["tier"] == "innovative_sme")
        assert goal["goal"] == 4 and goal["pct"] == 25.0
        counts = dashboards.application_counts(s, miit)
        assert sum(r["count"] for r in counts) == 3
        exp = dashboards.expiring(s, miit, within_days=365, on=dt.date(2026, 6, 1))
        assert [r["certification_id"] for r in exp] == [ids["cert-e3"]]
        with pytest.raises(Exception):
            dashboards.application_counts(s, ent)
        data = dashboards.export_xlsx(s, miit, on=D + dt.timedelta(days=30))
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0].startswith("目标")
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[1][0] == "innovative_sme" and rows[1][2] == 1_000_000


def test_cycle_init_user_and_bad_input(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    r = CliRunner().invoke(cli, ["cycle-init", "--db", url, "--admin", "boss", "--password", "a-long-password"])
    assert r.exit_code == 0 and "revision 0001" in r.stdout and "boss" in r.stdout, r.output
    r = CliRunner().invoke(cli, ["cycle-user", "rev1", "--role", "reviewer", "--password", "another-password",
                                 "--province", "江苏省", "--db", url])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["cycle-user", "rev1", "--role", "reviewer", "--password", "another-password", "--db", url])
    assert r.exit_code == 2 and "already exists" in r.output
    r = CliRunner().invoke(cli, ["cycle-user", "x", "--role", "king", "--password", "another-password", "--db", url])
    assert r.exit_code == 2 and "role" in r.output
    r = CliRunner().invoke(cli, ["cycle-init", "--db", "nosuchdriver://x"])
    assert r.exit_code == 2 and "--db" in r.output and "Traceback" not in r.output
    with Store(url).init().read() as s:
        u = s.query(User).filter_by(username="rev1").one()
        assert u.province == "320000" and u.password_hash.startswith("$argon2id$")
        assert audit.verify(s).ok
