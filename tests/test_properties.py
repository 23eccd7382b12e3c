"""Properties the rules have by their shape (hypothesis)."""
import copy
import json

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from srdi.engine.assess import assess_profile, assess_table_rows
from srdi.engine.frame import profile_row
from srdi.profile import ProfileError, validate_profile
from strategies import drop_path, leaf_paths, profiles

RANK = {"fail": 0, "undetermined": 1, "pass": 2}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def scores(out):
    res = {}
    for tid, t in out["tiers"].items():
        if t.get("score_min") is not None:
            res[tid] = (t["score_min"], t["score_max"])
        for sid, s in (t.get("sub_results") or {}).items():
            if s.get("score_min") is not None:
                res[f"{tid}~{sid}"] = (s["score_min"], s["score_max"])
    return res


@SETTINGS
@given(p=profiles(2025), extra=st.integers(1, 20_000_000), as_of=st.sampled_from(["2025-05-01", "2026-06-01"]))
def test_more_rd_never_lowers_a_score_or_a_verdict(p, extra, as_of):
    if as_of.startswith("2026"):
        p = copy.deepcopy(p)
        p["financials"] = {y + 1: v for y, v in p["financials"].items()}
        p["quality_score"] = {y + 1: v for y, v in p["quality_score"].items()}
    y1 = max(p["financials"])
    if "rd_expense" not in p["financials"][y1]:
        return
    before = assess_profile(p, as_of)
    q = copy.deepcopy(p)
    q["financials"][y1]["rd_expense"] = int(q["financials"][y1]["rd_expense"] if not isinstance(
        q["financials"][y1]["rd_expense"], str) else float(q["financials"][y1]["rd_expense"])) + extra
    after = assess_profile(q, as_of)
    sb, sa = scores(before), scores(after)
    for k in sb:
        assert sa[k][0] >= sb[k][0] and sa[k][1] >= sb[k][1], (k, sb[k], sa[k])
    for tid in before["tiers"]:
        assert RANK[after["tiers"][tid]["outcome"]] >= RANK[before["tiers"][tid]["outcome"]] or \
            before["tiers"][tid]["outcome"] == "undetermined", tid


@SETTINGS
@given(p=profiles(2025), data=st.data(), as_of=st.sampled_from(["2025-05-01", "2026-06-01"]), mode=st.sampled_from(["application", "review"]))
def test_a_missing_input_never_changes_a_decided_outcome(p, data, as_of, mode):
    paths = leaf_paths(p)
    path = data.draw(st.sampled_from(paths))
    full = assess_profile(p, as_of, mode)
    try:
        less = assess_profile(drop_path(p, path), as_of, mode)
    except ProfileError:
        assume(False)  # a required sub-field (e.g. maker_china.year): the profile is unusable, not "missing"
    for tid, t in less["tiers"].items():
        ft = full["tiers"][tid]
        if t["outcome"] != "undetermined":
            assert t["outcome"] == ft["outcome"], (path, tid, ft["outcome"], t["outcome"])
        fc = {c["id"] + str(c["group"]): c for c in ft["conditions"]}
        for c in t["conditions"]:
            f = fc.get(c["id"] + str(c["group"]))
            if f and c["outcome"] != "undetermined":
                assert c["outcome"] == f["outcome"], (path, tid, c["id"], f["outcome"], c["outcome"])
    if less["size"]["outcome"] != "undetermined":
        assert less["size"]["outcome"] == full["size"]["outcome"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(ps=st.lists(profiles(2025), min_size=5, max_size=25), as_of=st.sampled_from(["2025-05-01", "2026-06-01"]),
       mode=st.sampled_from(["application", "review"]))
def test_scalar_and_polars_backends_agree(ps, as_of, mode):
    contract = [validate_profile(p).to_contract_dict() for p in ps]
    table = assess_table_rows([profile_row(c) for c in contract], as_of, mode)
    for c, t in zip(contract, table):
        one = assess_profile(c, as_of, mode)
        assert json.dumps(one, sort_keys=True, default=str) == json.dumps(t, sort_keys=True, default=str)

