"""`srdi cycle-*` and `srdi audit-verify`: the cultivation cycle's database, accounts, import, bench.
Only typer/stdlib at import time; the workflow package is imported inside the commands."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

DB_HELP = "Database URL (default: env SRDI_DB_URL, else sqlite:///srdi-cycle.db). PostgreSQL: postgresql+psycopg://user:pw@host/db"


def _fail(msg: str) -> None:
    sys.stderr.write(f"srdi: {msg}\n")
    raise typer.Exit(2)


def _store(db: Optional[str]):
    from srdi.workflow.db import Store

    try:
        return Store(db).init()
    except Exception as e:  # bad URL, unreachable server
        _fail(f"--db: cannot open the database ({type(e).__name__}: {str(e).splitlines()[0][:200]})")


def register(app: typer.Typer) -> None:
    @app.command("cycle-init")
    def cycle_init(
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
        admin: Optional[str] = typer.Option(None, "--admin", help="Create a national admin account with this username."),
        password: Optional[str] = typer.Option(None, "--password", help="Its password (or env SRDI_ADMIN_PASSWORD)."),
    ):
        """Create or migrate the cycle database (Alembic, to head); optionally create the first national admin."""
        import os

        from srdi.workflow.db import current_revision

        st = _store(db)
        msg = f"cycle-init: {st.engine.url.render_as_string(hide_password=True)} at revision {current_revision(st.engine)}"
        if admin:
            pw = password or os.environ.get("SRDI_ADMIN_PASSWORD")
            if not pw:
                _fail("--password: required with --admin (or set SRDI_ADMIN_PASSWORD)")
            _create_user(st, admin, pw, "national_admin", None, None)
            msg += f"; national admin {admin!r} created"
        print(msg)

    def _create_user(st, username, pw, role, province, enterprise_id):
        from srdi.workflow import roles

        try:
            with st.session() as s:
                roles.create_user(s, username, pw, role, province=province, enterprise_id=enterprise_id, actor="cli")
        except ValueError as e:
            _fail(str(e))

    @app.command("cycle-user")
    def cycle_user(
        username: str = typer.Argument(...),
        role: str = typer.Option(..., "--role", help="enterprise | reviewer | provincial_admin | national_admin"),
        password: str = typer.Option(..., "--password", prompt=True, hide_input=True),
        province: Optional[str] = typer.Option(None, "--province", help="Province code (provincial admin; provincial reviewer)."),
        enterprise_id: Optional[int] = typer.Option(None, "--enterprise-id", help="The enterprise of an enterprise account."),
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    ):
        """Create an account (Argon2 password hash)."""
        st = _store(db)
        if province:
            from srdi.profile.codes import normalize_province

            try:
                province = normalize_province(province)
            except Exception as e:
                _fail(f"--province: {e}")
        _create_user(st, username, password, role, province, enterprise_id)
        print(f"cycle-user: {username} ({role}) created")

    @app.command("cycle-import")
    def cycle_import(
        file: Path = typer.Argument(..., help="Published list, CSV or XLSX: name, uscc, tier, batch, year [, province, valid_from]."),
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
        format: str = typer.Option("text", "--format", help="text or json (the full report)."),
    ):
        """Import a published list into the registry; bad rows and duplicates are reported, the rest imported."""
        from srdi.workflow import importer

        if not file.exists():
            _fail(f"FILE: not found: {file} / 找不到文件")
        st = _store(db)
        try:
            rows = importer.read_rows(file.read_bytes(), file.name)
        except ValueError as e:
            _fail(f"{file.name}: {e}")
        with st.session() as s:
            rep = importer.import_rows(s, None, rows)
        if format == "json":
            print(json.dumps(rep.as_dict(), ensure_ascii=False, indent=2))
            return
        for d in rep.errors:
            print(f"  row {d['row']}: {d['field']}: {d['problem']}")
        for d in rep.duplicates:
            print(f"  row {d['row']}: duplicate {d['uscc']} {d['tier']}: {d['reason']}")
        print(rep.line())

    @app.command("audit-verify")
    def audit_verify(db: Optional[str] = typer.Option(None, "--db", help=DB_HELP)):
        """Verify the hash chain of the audit log; exit 1 when it is broken."""
        from srdi.workflow import audit

        st = _store(db)
        with st.read() as s:
            r = audit.verify(s)
        for p in r.problems:
            print(f"  {p}")
        print(r.line())
        if not r.ok:
            raise typer.Exit(1)

    @app.command("cycle-dashboard")
    def cycle_dashboard(
        out: Optional[Path] = typer.Option(None, "--xlsx", help="Write the Excel export here."),
        db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    ):
        """Counts of active titles against the national targets (and the Excel export)."""
        from srdi.workflow import dashboards
        from srdi.workflow.models import User

        st = _store(db)
        nat = User(username="cli", role="national_admin", password_hash="", display_name="cli")
        with st.read() as s:
            cc = dashboards.certification_counts(s, nat)
            if out:
                out.write_bytes(dashboards.export_xlsx(s, nat))
        for r in cc["national"]:
            print(f"{r['tier']:<16} active={r['active']:>8} target={r['target']:>9} ({r['pct']}%)")
        if out:
            print(f"cycle-dashboard: wrote {out}")

    @app.command("cycle-bench")
    def cycle_bench(
        n: int = typer.Option(300, "--n", help="Synthetic applications."),
        reviewers: int = typer.Option(100, "--reviewers", help="Concurrent reviewers."),
        db: Optional[str] = typer.Option(None, "--db", help="Database URL (default: a fresh SQLite file in a temp dir). "
                                                           "A PostgreSQL database is reset (all cycle tables dropped)."),
        seed: int = typer.Option(7, "--seed"),
        think_ms: float = typer.Option(0.0, "--think-ms", help="Mean pause of a reviewer before each score (0: back to back)."),
        server: str = typer.Option("auto", "--server", help="uvicorn (a loopback HTTP server in a subprocess), "
                                                            "asgi (in-process test client), auto (uvicorn if installed)."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    ):
        """Drive N synthetic applications through the whole cycle with concurrent reviewers; check that none is
        lost and that the audit chain verifies. Last line: cycle: n= certified= rejected= lost= audit_ok= p99_ms="""
        if n < 1:
            _fail("--n: must be >= 1")
        if reviewers < 3:
            _fail("--reviewers: at least 3 (each application is scored by 3)")
        from srdi.workflow import bench

        if server not in ("auto", "uvicorn", "asgi"):
            _fail("--server: auto, uvicorn or asgi")
        r = bench.run(n, reviewers, db, seed, think_ms=think_ms, server=server)
        if json_out:
            json_out.write_text(json.dumps(r, indent=2, default=str))
        print(bench.line(r))
        if r["lost"] or not r["audit_ok"]:
            raise typer.Exit(1)
