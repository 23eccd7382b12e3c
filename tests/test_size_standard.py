"""The 2011 size standard (criteria.md §2, C8): all 16 industries at their bounds, drop-one-size."""
import datetime as dt

import pytest

from srdi.engine.measures import Ctx, measure
from srdi.engine.rowcode import RowOps
from srdi.engine.packs import size_table
from srdi.engine.syntax import parse_value

Y1 = 2024
LETTER = {"X": "employees", "Y": "operating_revenue", "Z": "total_assets"}


def classify(industry, **vals):
    row = {"size_industry": industry}
    for k, v in vals.items():
        row[f"financials.{Y1}.{LETTER[k]}"] = v
    o = RowOps()
    ctx = Ctx(as_of=dt.date(Y1 + 1, 5, 1), mode="application")
    return measure(o, ctx, "size_class", Y1).num(dict(row)), measure(o, ctx, "size_sme", Y1).num(dict(row))


def units(letter, value):
    lit = parse_value(value)
    return int(lit.value * 100) if letter in ("Y", "Z") else int(lit.value)


INDUSTRIES = list(size_table()["industries"].items())


def test_all_16_industries():
    assert len(INDUSTRIES) == 16


ORDER = ["micro", "small", "medium", "large"]


@pytest.mark.parametrize("ind,spec", INDUSTRIES, ids=[i for i, _ in INDUSTRIES])
def test_each_bound_at_its_edge(ind, spec):
    """On every bound: that size (及以上 is >=); one unit below one indicator: a smaller size."""
    for level in ("large", "medium", "small"):
        on = {k: units(k, v) for k, v in spec[level].items()}
        cls, sme = classify(ind, **on)
        assert cls == level, (ind, level, on, cls)
        assert sme is (level != "large")
        for k in on:
            below = dict(on, **{k: on[k] - 1})
            cls2, _ = classify(ind, **below)
            assert ORDER.index(cls2) < ORDER.index(level), (ind, level, k, cls2)


def test_industry_examples_c8():
    assert classify("industry", X=1000, Y=40000 * 10**6)[0] == "large"  # exactly both ceilings
    assert classify("industry", X=1000, Y=40000 * 10**6 - 1) == ("medium", True)  # "or": still an SME
    assert classify("industry", X=999, Y=10**12)[0] == "medium"
    assert classify("industry", X=300, Y=2000 * 10**6)[0] == "medium"
    assert classify("industry", X=299, Y=2000 * 10**6)[0] == "small"  # drop one size
    assert classify("industry", X=20, Y=300 * 10**6)[0] == "small"
    assert classify("industry", X=19, Y=10**10)[0] == "micro"
    assert classify("industry", X=500, Y=300 * 10**6 - 1)[0] == "micro"


def test_one_indicator_industries():
    assert classify("agriculture", Y=20000 * 10**6) == ("large", False)
    assert classify("agriculture", Y=500 * 10**6)[0] == "medium"
    assert classify("agriculture", Y=50 * 10**6 - 1)[0] == "micro"
    assert classify("other", X=300) == ("large", False)
    assert classify("other", X=10)[0] == "small"
    assert classify("other", X=9)[0] == "micro"


def test_missing_inputs_undetermined_unless_decided():
    cls, sme = classify("industry", X=50)  # revenue missing
    assert cls is None and sme is True  # X < 1000: an SME whatever the revenue
    cls, sme = classify("industry", X=1500)
    assert cls is None and sme is None
    cls, sme = classify(None, X=50, Y=10**9)
    assert cls is None and sme is None
