"""The CLI as a user runs it: outputs, exit codes, clear errors without tracebacks."""
import json
import subprocess
import sys

import pytest
import yaml

from conftest import CASES_DIR


def srdi(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "srdi", *args], capture_output=True, text=True, input=stdin)


@pytest.fixture()
def profile_file(tmp_path):
    case = yaml.safe_load((CASES_DIR / "r2022-srdi-scored.yaml").read_text(encoding="utf-8"))

    def make(mutate=None, suffix=".json"):
        p = json.loads(json.dumps(case["profile"], default=str))
        if mutate:
            mutate(p)
        f = tmp_path / f"p{suffix}"
        f.write_text(json.dumps(p, ensure_ascii=False) if suffix == ".json" else yaml.safe_dump(p, allow_unicode=True),
                     encoding="utf-8")
        return str(f)

    return make


def bad(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def test_json_contract_keys(profile_file):
    r = srdi("assess", profile_file(), "--as-of", "2025-05-01", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["contract"] == 1 and out["regime"] == "R2022" and out["mode"] == "application"
    t = out["tiers"]["srdi_sme"]
    for k in ("regime", "outcome", "score", "route", "conditions", "missing"):
        assert k in t
    for c in t["conditions"]:
        for k in ("id", "outcome", "observed", "threshold", "points", "source", "mark"):
            assert k in c
        assert c["outcome"] in ("pass", "fail", "undetermined")
        assert c["mark"] in ("C", "S", "U")


def test_yaml_profile_and_text_report_zh_en(profile_file):
    f = profile_file(suffix=".yaml")
    r = srdi("assess", f, "--as-of", "2025-05-01")
    assert r.returncode == 0, r.stderr
    assert "专精特新中小企业" in r.stdout and "通过" in r.stdout
    r = srdi("assess", f, "--as-of", "2025-05-01", "--lang", "en")
    assert r.returncode == 0 and "SRDI SME" in r.stdout and "pass" in r.stdout.lower()


def test_stdin(profile_file):
    text = open(profile_file()).read()
    r = srdi("assess", "-", "--as-of", "2025-05-01", "--format", "json", stdin=text)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tiers"]["srdi_sme"]["score"] == 68


@pytest.mark.parametrize("mutate,needle", [
    (lambda p: p.update(uscc="91320500MA1N8RQP75"), "uscc"),
    (lambda p: p.update(province="990000"), "province"),
    (lambda p: p.update(industry="C9999"), "industry"),
    (lambda p: p["financials"]["2024"].update(rd_expense=-1), "financials.2024.rd_expense"),
    (lambda p: p["financials"]["2024"].update(rd_expense="12.345"), "financials.2024.rd_expense"),
    (lambda p: p["financials"]["2024"].update(rd_employees=1000), "financials.2024.rd_employees"),
    (lambda p: p.update(colour="red"), "colour"),
    (lambda p: p["financials"]["2024"].update(foo=1), "financials.2024.foo"),
    (lambda p: p.update(niche_since="2017-13-01"), "niche_since"),
    (lambda p: p.pop("name"), "name"),
])
def test_bad_input_names_the_field(profile_file, mutate, needle):
    bad(srdi("assess", profile_file(mutate), "--as-of", "2025-05-01", "--format", "json"), needle)


def test_bad_files_and_options(tmp_path, profile_file):
    bad(srdi("assess", str(tmp_path / "nope.json"), "--as-of", "2025-05-01"), "nope.json")
    f = tmp_path / "broken.yaml"
    f.write_text("name: [unclosed\n", encoding="utf-8")
    bad(srdi("assess", str(f), "--as-of", "2025-05-01"))
    bad(srdi("assess", profile_file(), "--as-of", "2025-02-30"), "--as-of")
    bad(srdi("assess", profile_file(), "--as-of", "2021-01-01"), "2022-08-01")
    r = srdi("assess", profile_file(), "--as-of", "2025-05-01", "--mode", "renewal")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_rules_list_and_show():
    r = srdi("rules", "list", "--format", "json")
    assert r.returncode == 0
    rows = {x["id"]: x for x in json.loads(r.stdout)}
    assert rows["r2022.srdi_sme"]["marks"]["C"] > 40 and rows["r2026.srdi_sme"]["marks"]["S"] > 5
    r = srdi("rules", "list", "--as-of", "2026-06-01", "--mode", "review", "--format", "json")
    rows = {x["id"]: x for x in json.loads(r.stdout)}
    assert rows["r2022.little_giant"]["in_force_for"] == "little_giant"
    r = srdi("rules", "show", "r2022.srdi_sme")
    assert r.returncode == 0 and "rd_share" in r.stdout and "附件2" in r.stdout
    r = srdi("rules", "show", "r2022.little_giant", "--as-of", "2025-06-01", "--mode", "review", "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["notes"] and any(n["id"] == "revenue_not_below_50m_2025" for n in doc["sections"]["exclusion"])
    bad(srdi("rules", "show", "r1999.nothing"), "r1999.nothing")


def test_schema_and_demo():
    r = srdi("schema")
    s = json.loads(r.stdout)
    assert "financials" in s["properties"] and "name" in s.get("required", [])
    r = srdi("demo")
    assert r.returncode == 0 and "示例精密机械有限公司" in r.stdout
