"""The per-request shortcuts of POST /api/v1/assess give what the plain code gives: the explanation's
memo of decided condition dicts (equal dicts, never shared), the JSON helpers (orjson without
OPT_NON_STR_KEYS first, the long-digit test), the result cache keyed by the request body's bytes,
and the profile converters' fast paths."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from decimal import Decimal

os.environ.setdefault("SRDI_DB_URL", f"sqlite:///{tempfile.mkdtemp(prefix='srdi-hotpath-')}/cycle.db")

import pytest
from fastapi.testclient import TestClient

from conftest import canon, load_cases, synthetic_engine_rows
from srdi.engine import jsonout
from srdi.engine.assess import compile_row, explain_row, run_row
from srdi.engine.explain import Explainer
from srdi.engine.frame import _fen, profile_row
from srdi.profile import validate_profile
from srdi.web import api, create_app


def _plans(plans):
    for p in plans:
        yield p
        yield from _plans(p.subs)


@pytest.mark.parametrize("as_of", [dt.date(2025, 6, 1), dt.date(2026, 6, 1)], ids=str)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_memoised_conditions_are_equal_and_not_shared(as_of, lang):
    c = compile_row(as_of, "application")
    for case in load_cases()[:6]:
        row = profile_row(validate_profile(case["profile"]).to_contract_dict())
        values = run_row(c, row)
        first = explain_row(c, values, row, lang)
        second = explain_row(c, values, row, lang)  # decided conditions come from the memo now
        assert json.dumps(first, default=str) == json.dumps(second, default=str)
        # a caller may change its result: the next one is not affected
        for plan in c.plans:
            for cond in first["tiers"][plan.tier]["conditions"]:
                cond["title"] = "changed"
                cond["missing"].append("x")
                if cond["observed_value"] is not None:
                    cond["observed_value"].append("x")
        third = explain_row(c, values, row, lang)
        assert json.dumps(third, default=str) == json.dumps(second, default=str)
        # and the builders, called one by one, still agree with the general path
        ex = Explainer(values, row, lang, "")
        for plan in _plans(c.plans):
            for e in plan.entries:
                st = ex._static(e, plan.pack.cite)
                assert st["build"](ex) == ex._entry(e, st), e.key


def test_memo_tells_apart_equal_values_of_other_types():
    """True == 1 == 1.0 and 0.0 == -0.0, but each shows otherwise."""
    c = compile_row(dt.date(2026, 6, 1), "application")
    row = profile_row(validate_profile(load_cases()[0]["profile"]).to_contract_dict())
    values = run_row(c, row)
    ex = Explainer(values, row, "zh", "")
    seen = 0
    for plan in _plans(c.plans):
        for e in plan.entries:
            if e.kind == "category" or e.node.waived or not e.n_obs:
                continue
            st = ex._static(e, plan.pack.cite)
            for x in (1, True, 1.0, 0.0, -0.0, 0, False):
                v2 = dict(values)
                for i in range(e.n_obs):
                    v2[f"{e.key}#obs{i}"] = x
                ex2 = Explainer(v2, row, "zh", "")
                for _ in range(2):  # the second from the memo, where kept
                    assert st["build"](ex2) == ex2._entry(e, st), (e.key, x)
                    assert json.dumps(st["build"](ex2)) == json.dumps(ex2._entry(e, st)), (e.key, x)
                seen += 1
    assert seen


@pytest.fixture(scope="module")
def synthetic_rows(tmp_path_factory):
    return synthetic_engine_rows(tmp_path_factory.mktemp("hotpath"), 300, 31)


@pytest.mark.parametrize("as_of", [dt.date(2025, 6, 1), dt.date(2026, 6, 1), dt.date(2027, 3, 1)], ids=str)
@pytest.mark.parametrize("mode", ["application", "review"])
def test_encoded_answer_is_the_dumped_dict(synthetic_rows, as_of, mode):
    """explain_json (conditions decided before come pre-encoded) gives the bytes of api.dumps of
    explain_row, on the shared cases and 300 synthetic firms, in both languages, each firm twice
    (the second time from the memo)."""
    from srdi.engine.assess import assess_profile, assess_profile_json, explain_json

    c = compile_row(as_of, mode)
    rows = [profile_row(validate_profile(case["profile"]).to_contract_dict()) for case in load_cases()]
    encoded = 0
    for lang in ("zh", "en"):
        for row in rows + synthetic_rows:
            values = run_row(c, row)
            want = api.dumps(explain_row(c, values, row, lang))
            for _ in range(2):
                assert explain_json(c, values, row, lang) == want
            encoded += want.count(b'"outcome"')
    case = load_cases()[0]["profile"]
    assert assess_profile_json(case, as_of, mode) == api.dumps(assess_profile(case, as_of, mode))
    assert encoded


def test_encoded_answer_beyond_orjson_falls_back_to_the_stdlib():
    from srdi.engine.assess import explain_json

    c = compile_row(dt.date(2026, 6, 1), "application")
    row = profile_row(validate_profile(load_cases()[0]["profile"]).to_contract_dict())
    values = run_row(c, row)
    row = {**row, "name": 2 ** 70}  # orjson refuses integers beyond 64 bits (not a valid profile: a stand-in)
    want = jsonout.stdlib_dumps(explain_row(c, values, row, "zh"))
    assert explain_json(c, values, row, "zh") == want and str(2 ** 70).encode() in want


def test_decided_conditions_with_a_false_flag_and_a_float_are_memoised():
    """False == 0, but a bool is told apart by its type: only zero floats stay out of the memo."""
    c = compile_row(dt.date(2026, 6, 1), "application")
    row = profile_row(validate_profile(load_cases()[0]["profile"]).to_contract_dict())
    values = run_row(c, row)
    hits = misses = 0
    for plan in _plans(c.plans):
        for e in plan.entries:
            if e.scored or e.node.waived or e.n_obs != 1:
                continue
            v2 = dict(values)
            v2[f"{e.key}#ok"], v2[f"{e.key}#obs0"] = False, 1.5
            for x, memoised in ((1.5, True), (0.0, False), (-0.0, False)):
                v2[f"{e.key}#obs0"] = x
                ex = Explainer(v2, row, "zh", "", encoded=True)
                st = ex._static(e, plan.pack.cite)
                st["build"](ex)
                again = st["build"](ex)
                assert (type(again) is tuple) == memoised, (e.key, x)
                hits += memoised
                misses += not memoised
    assert hits and misses


@pytest.mark.parametrize("obj", [
    {"a": 1, "b": [1.5, None, True, "中文"]},
    {1: 2, "a": dt.date(2020, 1, 1)},
    {"d": dt.datetime(2020, 1, 1, 3)},
    {"big": 2 ** 70, "dec": Decimal("1.50")},
    {None: 1, True: 2, 2.5: 3},
])
def test_dumps_is_the_stdlib_json(obj):
    assert jsonout.dumps(obj) == jsonout.stdlib_dumps(obj)


@pytest.mark.parametrize("data", [b"", b"1", b"123456789012345678", b"1234567890123456789", b'{"a": 12345678901234567890}',
                                  b'{"a": "x1234567890123456789y"}', b"12345678901234567\xff89", "１２３４５６７８９０１２３４５６７８９".encode()])
def test_long_digit_test_is_the_regex(data):
    assert api._long_digits(data) == (re.search(rb"\d{19,}", data) is not None)


def test_result_cache_is_keyed_by_the_body_bytes():
    client = TestClient(create_app(), raise_server_exceptions=False)
    body = json.dumps({"profile": {"name": "缓存测试", "industry": "C3484"}, "as_of": "2026-06-01"}).encode()
    h = {"content-type": "application/json"}
    a = client.post("/api/v1/assess", content=body, headers=h)
    b = client.post("/api/v1/assess", content=body, headers=h)
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    assert 'cache;desc="hit"' in b.headers["server-timing"]
    # the same input in other bytes is assessed again, to the same answer
    c = client.post("/api/v1/assess", content=body.replace(b", ", b",  "), headers=h)
    assert 'cache;desc="miss"' in c.headers["server-timing"] and c.content == a.content
    # an invalid body is never cached: the same bytes give the same problem every time
    bad = json.dumps({"profile": {"name": "X", "financials": {"2024": {"rd_expense": -1}}}}).encode()
    for _ in range(2):
        r = client.post("/api/v1/assess", content=bad, headers=h)
        assert r.status_code == 422 and "financials.2024.rd_expense" in r.text


def test_assess_request_answers_and_caches():
    raw = json.dumps({"profile": canon(load_cases()[0]["profile"]), "as_of": "2026-06-01"}, default=str).encode()
    req = api.parse_assess_request(raw, "application/json")
    body, timing = api.assess_request(req, raw, 0.0)
    assert json.loads(body)["as_of"] == "2026-06-01" and timing["cache"] in ("hit", "miss")
    again, timing2 = api.assess_request(req, raw, 0.0)
    assert again == body and timing2["cache"] == "hit"


@pytest.mark.parametrize("v", [Decimal("1.5"), Decimal("-3"), Decimal("0"), Decimal("-0"), Decimal("1E+3"), Decimal("0.01"),
                               Decimal("12345678901234567890123456"), Decimal("-12345678901234567890123456.78"), 5, 1.25, "7.10"])
def test_fen_fast_path(v):
    d = Decimal(str(v)) * 100
    assert _fen(v) == int(d) and type(_fen(v)) is int


@pytest.mark.parametrize("key,ok", [("2024", True), (" 2024 ", True), ("02024", True), ("+2024", True), ("2024.0", True),
                                    ("２０２４", True), ("1989", False), ("20x4", False), ("", False)])
def test_year_keys(key, ok):
    from srdi.profile import ProfileError

    prof = {"name": "X", "financials": {key: {"employees": 1}}}
    if ok:
        assert list(validate_profile(prof).to_contract_dict()["financials"]) == [2024]
    else:
        with pytest.raises(ProfileError):
            validate_profile(prof)
