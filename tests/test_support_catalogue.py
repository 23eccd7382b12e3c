"""The support catalogue: dated, cited (criteria.md Appendix B keys), amounts in 万元 as printed."""
import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from srdi.cli.app import app
from srdi.support import catalogue, measures_for, support_for

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "criteria.md"
CASES = Path(__file__).resolve().parents[2] / "shared" / "cases"


def test_every_measure_is_dated_cited_and_marked():
    text = SPEC.read_text(encoding="utf-8") if SPEC.exists() else ""
    ms = catalogue()
    assert len(ms) >= 15
    for m in ms:
        assert "date" in m and m["mark"] in ("C", "S", "U") and m["urls"]
        assert {"zh", "en"} <= set(m["title"])
        for key in m["source"]:
            if text and "/" not in key:
                assert f"[{key}]" in text, f"{m['id']}: source key {key} not in criteria.md Appendix B"


def test_printed_amounts():
    by = {m["id"]: m for m in catalogue()}
    assert by["central_key_little_giant_fund"]["amount_wan"] == 600
    assert by["central_key_little_giant_fund"]["period_years"] == 3
    assert by["changzhou_srdi_loans"]["amount_wan"] == 5000
    assert by["shaanxi_psbc_little_giant"]["amount_wan"] == 3000
    assert by["shaanxi_psbc_srdi"]["amount_wan"] == 2000
    assert by["icbc_little_giant_loan"]["amount_wan"] == 1000
    assert by["sz_city_little_giant"]["amount_wan"] == 50


def test_measures_by_province():
    gd = {m["id"] for m in measures_for("srdi_sme", "440000")}
    js = {m["id"] for m in measures_for("srdi_sme", "320000")}
    assert "sz_city_gd_srdi" in gd and "sz_city_gd_srdi" not in js
    assert "changzhou_srdi_loans" in js
    assert "central_key_little_giant_fund" in {m["id"] for m in measures_for("little_giant", "110000")}


def test_support_for_holder_and_next_tier():
    c = yaml.safe_load((CASES / "r2026-little-giant-pass.yaml").read_text(encoding="utf-8"))
    out = support_for(c["profile"] if False else __import__("srdi.profile", fromlist=["x"]).validate_profile(c["profile"]),
                      "2026-06-01", "en")
    ids_now = {m["id"] for m in out["now"]}
    assert "icbc_xingke_loan" in ids_now  # holds a provincial SRDI title
    lg = out["tiers"]["little_giant"]
    assert lg["outcome"] == "pass" and not lg["held"]
    assert "central_key_little_giant_fund" in {m["id"] for m in lg["adds"]}
    assert lg["summary"]["selective_grant_max_wan"] == 600


def test_support_cli(tmp_path):
    c = yaml.safe_load((CASES / "r2026-srdi-rd-each-year.yaml").read_text(encoding="utf-8"))
    f = tmp_path / "p.json"
    f.write_text(json.dumps(c["profile"], ensure_ascii=False, default=str), encoding="utf-8")
    r = CliRunner().invoke(app, ["support", str(f), "--as-of", "2026-06-01", "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["province"] == "440000" and out["tiers"]["srdi_sme"]["adds"]
    r = CliRunner().invoke(app, ["support", str(f), "--as-of", "2026-06-01", "--lang", "en"])
    assert r.exit_code == 0 and "SRDI" in r.stdout
    r = CliRunner().invoke(app, ["support", str(f), "--as-of", "not-a-date"])
    assert r.exit_code == 2
