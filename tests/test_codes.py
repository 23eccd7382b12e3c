"""Code tables: provinces (GB/T 2260), industries (GB/T 4754-2017), size-standard mapping, USCC."""

from __future__ import annotations

import glob

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from srdi.profile.codes import (
    PROVINCES,
    SECTIONS,
    SIZE_INDUSTRIES,
    normalize_province,
    parse_industry,
    size_industry_for,
)
from srdi.profile.uscc import USCC_CHARSET, uscc_check_char, uscc_problem

CASE_FILES = sorted(glob.glob("/work/shared/cases/*.yaml"))
CASE_USCCS = sorted({yaml.safe_load(open(f, encoding="utf-8"))["profile"]["uscc"] for f in CASE_FILES})


# ---------------------------------------------------------------- provinces


def test_provinces_table():
    assert len(PROVINCES) == 34
    assert PROVINCES["110000"] == ("北京市", "Beijing")
    assert PROVINCES["650000"][0] == "新疆维吾尔自治区"
    assert {"710000", "810000", "820000"} <= PROVINCES.keys()
    assert all(len(c) == 6 and c.endswith("0000") for c in PROVINCES)


@pytest.mark.parametrize(
    "value, code",
    [
        ("330000", "330000"),
        (330000, "330000"),
        (" 330000 ", "330000"),
        ("浙江省", "330000"),
        ("浙江", "330000"),
        ("Zhejiang", "330000"),
        ("北京", "110000"),
        ("北京市", "110000"),
        ("内蒙古", "150000"),
        ("内蒙古自治区", "150000"),
        ("广西", "450000"),
        ("宁夏", "640000"),
        ("新疆", "650000"),
        ("西藏", "540000"),
        ("香港", "810000"),
        ("香港特别行政区", "810000"),
        ("澳门", "820000"),
        ("台湾", "710000"),
    ],
)
def test_normalize_province(value, code):
    assert normalize_province(value) == code


def test_every_province_round_trips():
    for code, (zh, en) in PROVINCES.items():
        assert normalize_province(code) == code
        assert normalize_province(int(code)) == code
        assert normalize_province(zh) == code
        assert normalize_province(en) == code


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("火星", "unknown province"),
        ("330106", "not a province-level code"),
        ("990000", "unknown province code"),
        ("3300", "6 digits"),
        (True, "province"),
        (None, "province"),
        ("", "unknown province"),
    ],
)
def test_normalize_province_rejects(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        normalize_province(value)


# ---------------------------------------------------------------- industries


def test_sections_cover_divisions_01_to_97_once():
    seen = []
    for (lo, hi), _zh, _en in SECTIONS.values():
        seen.extend(range(lo, hi + 1))
    assert sorted(seen) == list(range(1, 98))
    assert len(SECTIONS) == 20
    assert SECTIONS["C"][0] == (13, 43)
    assert SECTIONS["K"][0] == (70, 70)


@pytest.mark.parametrize(
    "code, parsed",
    [
        ("C3484", ("C", "3484")),
        ("c3484", ("C", "3484")),
        (" C3484 ", ("C", "3484")),
        ("C34", ("C", "34")),
        ("C348", ("C", "348")),
        ("C", ("C", "")),
        ("3484", ("C", "3484")),
        ("0511", ("A", "0511")),
        ("65", ("I", "65")),
        ("K7010", ("K", "7010")),
        ("T97", ("T", "97")),
        ("a01", ("A", "01")),
    ],
)
def test_parse_industry(code, parsed):
    assert parse_industry(code) == parsed


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("C9999", "division 99 is not in section C"),
        ("C0511", "division 05 is not in section C"),
        ("A13", "division 13 is not in section A"),
        ("Z12", "unknown GB/T 4754-2017 section 'Z'"),
        ("9999", "division 99 does not exist"),
        ("00", "division 00 does not exist"),
        ("C3", "2, 3 or 4 digits"),
        ("C34845", "2, 3 or 4 digits"),
        ("3", "2, 3 or 4 digits"),
        ("", "not a GB/T 4754-2017 code"),
        ("C-34", "not a GB/T 4754-2017 code"),
        ("CC34", "not a GB/T 4754-2017 code"),
        (3484, "must be a string"),
    ],
)
def test_parse_industry_rejects(code, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_industry(code)


def test_size_industries_order_matches_contract():
    assert list(SIZE_INDUSTRIES) == [
        "agriculture",
        "industry",
        "construction",
        "wholesale",
        "retail",
        "transport",
        "warehousing",
        "postal",
        "accommodation",
        "catering",
        "information_transmission",
        "software_it",
        "real_estate_development",
        "property_management",
        "leasing_business_services",
        "other",
    ]
    assert SIZE_INDUSTRIES["industry"][0] == "工业"
    assert all(zh and en for zh, en in SIZE_INDUSTRIES.values())


@pytest.mark.parametrize(
    "code, expected",
    [
        # the brief's table
        ("C3484", "industry"),
        ("F5123", "wholesale"),
        ("G5310", None),
        ("I6510", "software_it"),
        ("K7010", "real_estate_development"),
        ("K7030", "other"),
        ("A0511", "other"),
        ("J6620", None),
        # more of criteria.md 2.4
        ("A0111", "agriculture"),
        ("A04", "agriculture"),
        ("B0610", "industry"),
        ("D4411", "industry"),
        ("C", "industry"),
        ("E4710", "construction"),
        ("E", "construction"),
        ("F5211", "retail"),
        ("G5411", "transport"),
        ("G58", "transport"),
        ("G5910", "warehousing"),
        ("G6010", "postal"),
        ("H6110", "accommodation"),
        ("H6210", "catering"),
        ("I6311", "information_transmission"),
        ("I64", "information_transmission"),
        ("K7020", "property_management"),
        ("K7090", "other"),
        ("K7040", None),
        ("L7111", "leasing_business_services"),
        ("L72", "leasing_business_services"),
        ("M7320", "other"),
        ("N7610", "other"),
        ("O8010", "other"),
        ("Q8411", "other"),
        ("R8610", "other"),
        ("P8310", None),
        ("S9100", None),
        ("T9700", None),
        ("3484", "industry"),
        ("6510", "software_it"),
        # too short to decide
        ("K", None),
        ("K70", None),
        ("A", None),
        ("G", None),
        ("F", None),
        ("H", None),
        ("I", None),
    ],
)
def test_size_industry_for(code, expected):
    assert size_industry_for(code) == expected


def test_size_industry_for_returns_contract_ids():
    for division in range(1, 98):
        result = size_industry_for(f"{division:02d}10")
        assert result is None or result in SIZE_INDUSTRIES


def test_size_industry_for_invalid_code_raises():
    with pytest.raises(ValueError):
        size_industry_for("C9999")


# ---------------------------------------------------------------- USCC


def test_case_usccs_are_valid():
    assert CASE_USCCS, "no shared cases found"
    for code in CASE_USCCS:
        assert uscc_problem(code) is None, code
        assert uscc_check_char(code[:17]) == code[17]


def test_uscc_known_check_digit_zero_rule():
    # 31 - (sum mod 31) == 31 maps to '0': build a code whose check value is 31.
    first16 = "9133010600000000"
    for ch in USCC_CHARSET:
        first17 = first16 + ch
        check = uscc_check_char(first17)
        assert check in USCC_CHARSET
        assert uscc_problem(first17 + check) is None


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("", "must have 18 characters, got 0"),
        ("91370200MA3C4D5E7", "must have 18 characters, got 17"),
        ("91370200MA3C4D5E711", "must have 18 characters, got 19"),
        ("91370200MA3C4D5E72", "check digit expected 1, got 2"),
        ("91370200MI3C4D5E71", "bad character 'I' at position 10"),
        ("91370200MA3C4D5EO1", "bad character 'O' at position 17"),
        ("91370200ma3c4d5e71", "bad character 'm' at position 9"),
        (913702001234567890, "must be a string"),
    ],
)
def test_uscc_problems(code, fragment):
    problem = uscc_problem(code)
    assert problem is not None and fragment in problem


_mutation_input = st.sampled_from(CASE_USCCS).flatmap(
    lambda code: st.tuples(
        st.just(code),
        st.integers(min_value=0, max_value=17),
        st.sampled_from(USCC_CHARSET + "IOSVZabc-* "),
    )
)


@given(_mutation_input)
def test_uscc_rejects_every_single_character_mutation(args):
    code, pos, ch = args
    if code[pos] == ch:
        return
    mutated = code[:pos] + ch + code[pos + 1 :]
    assert uscc_problem(mutated) is not None


def test_uscc_rejects_all_single_character_mutations_exhaustively():
    code = CASE_USCCS[0]
    for pos in range(18):
        for ch in USCC_CHARSET:
            if ch != code[pos]:
                assert uscc_problem(code[:pos] + ch + code[pos + 1 :]) is not None


@given(
    st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17),
    st.integers(min_value=0, max_value=17),
    st.sampled_from(USCC_CHARSET),
)
def test_uscc_random_codes_valid_and_mutations_rejected(body, pos, ch):
    code = body + uscc_check_char(body)
    assert uscc_problem(code) is None
    if code[pos] != ch:
        assert uscc_problem(code[:pos] + ch + code[pos + 1 :]) is not None
