"""特色化 (R2022 SRDI indicator 9): the province picks the sheet. With the province missing, the
sheets whose inputs are given and the awarded `local_score` are all possible, so the indicator's
points span them (undetermined when they differ, `province` named as missing), never a decided
value from one of them. The one-firm closures and the Polars table agree."""
import datetime as dt

import pytest

from srdi.engine.assess import assess_profile, evaluate_table
from srdi.engine.frame import profile_row, rows_to_frame
from srdi.profile import validate_profile

AS_OF = dt.date(2025, 6, 1)
SHEET = {"key_field": "plan_and_chain", "innovative_items": 2, "provincial_rank": 1, "listing": "listed"}


def _profile(province, local_score, sheet=SHEET):
    p = {"name": "特色化测试", "industry": "C3484", "market_share_pct": 12}
    if province is not None:
        p["province"] = province
    if local_score is not None:
        p["local_score"] = local_score
    if sheet is not None:
        p["local_indicators"] = dict(sheet)
    return p


def _local(p):
    t = assess_profile(p, AS_OF)["tiers"]["srdi_sme"]
    return next(c for c in t["conditions"] if c["id"] == "local")


def test_known_province_uses_its_sheet():
    c = _local(_profile("370000", 0))
    assert c["outcome"] == "pass" and c["points"] > 0


@pytest.mark.parametrize("local_score", [0, None])
def test_missing_province_with_sheet_inputs_is_undetermined(local_score):
    sheet_pts = _local(_profile("370000", local_score))["points"]
    c = _local(_profile(None, local_score))
    assert c["outcome"] == "undetermined", c
    assert c["points_min"] == 0 and c["points_max"] >= sheet_pts
    assert c["missing"][0] == "province"
    assert ("local_score" in c["missing"]) == (local_score is None)


def test_missing_province_without_sheet_inputs_takes_the_awarded_score():
    c = _local(_profile(None, 9, sheet=None))
    assert c["outcome"] == "pass" and c["points"] == 9


@pytest.mark.parametrize("province,local_score,sheet", [
    ("370000", 0, SHEET), (None, 0, SHEET), (None, None, SHEET), (None, 15, SHEET), (None, 9, None),
    ("510000", 3, SHEET), (None, 15, {"key_field": "none", "innovative_items": 0}),
])
def test_table_agrees_with_one_firm(province, local_score, sheet):
    from srdi.engine.assess import compile_table, input_columns

    p = _profile(province, local_score, sheet)
    one = _local(p)
    c = compile_table(AS_OF, "application")
    row = profile_row(validate_profile(p).to_contract_dict())
    df = rows_to_frame([row], input_columns(c), c.ctx.local_kinds)
    key = next(k for k in c.values if k.startswith("srdi_sme/") and k.endswith(".local#lo"))
    out = evaluate_table(df, AS_OF, keys=(key, key[:-3] + "#hi"))
    lo, hi = out.row(0)
    assert (lo / 10_000, hi / 10_000) == (one["points_min"], one["points_max"])
