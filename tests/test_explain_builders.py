"""The explanation's per-entry builders (a template copied, the per-firm parts filled in) give the
same condition dicts, in the same key order, as the general path they replace (Explainer._entry),
for every entry of every tier: decided, undetermined (inputs dropped) and local-sheet firms, both
regimes, both modes and both languages."""
import datetime as dt

import pytest

from conftest import load_cases
from srdi.engine.assess import compile_row, run_row
from srdi.engine.explain import Explainer
from srdi.engine.frame import profile_row
from srdi.profile import validate_profile

DATES = (dt.date(2025, 6, 1), dt.date(2026, 6, 1))


def _rows():
    rows = []
    for c in load_cases():
        row = profile_row(validate_profile(c["profile"]).to_contract_dict())
        rows.append(row)
        keys = [k for k in row if k not in ("name", "province", "industry", "size_industry")]
        for start in (0, 1):  # every other input dropped: undetermined conditions, missing inputs
            rows.append({k: v for k, v in row.items() if k not in keys[start::2]})
    return rows


def _plans(plans):
    for p in plans:
        yield p
        yield from _plans(p.subs)


@pytest.mark.parametrize("as_of", DATES, ids=str)
@pytest.mark.parametrize("mode", ["application", "review"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_builders_match_the_general_path(as_of, mode, lang):
    c = compile_row(as_of, mode)
    seen = {"undetermined": 0, "pass": 0, "fail": 0}
    for row in _rows():
        values = run_row(c, row)
        ex = Explainer(values, row, lang, "")
        for plan in _plans(c.plans):
            for e in plan.entries:
                st = ex._static(e, plan.pack.cite)
                fast, general = st["build"](ex), ex._entry(e, st)
                assert fast == general, (e.key, fast, general)
                assert list(fast) == list(general), e.key
                seen[fast["outcome"]] += 1
    assert all(seen.values()), seen  # the rows exercise every outcome
