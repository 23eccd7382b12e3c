"""Profile model and validation (contract.md section 1)."""

from __future__ import annotations

import copy
import glob
import json
from datetime import date
from decimal import Decimal

import pytest
import yaml

from srdi.profile import (
    FieldError,
    Profile,
    ProfileError,
    load_profile,
    profile_json_schema,
    read_profile_file,
    validate_profile,
)

CASE_FILES = sorted(glob.glob("/work/shared/cases/*.yaml"))


def _case_profile(name: str = "r2026-little-giant-pass") -> dict:
    with open(f"/work/shared/cases/{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)["profile"]


BASE = _case_profile()


def _errors(data) -> list[FieldError]:
    with pytest.raises(ProfileError) as info:
        validate_profile(data)
    return info.value.errors


def _only_error(data) -> FieldError:
    errors = _errors(data)
    assert len(errors) == 1, errors
    return errors[0]


def _with(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


# ---------------------------------------------------------------- good input


def test_cases_found():
    assert len(CASE_FILES) >= 6


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.rsplit("/", 1)[-1])
def test_every_shared_case_profile_validates(path):
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)["profile"]
    profile = validate_profile(raw)
    assert profile.name == raw["name"]
    assert profile.province in {"330000", "320000", "370000", "440000"}
    assert profile.industry == raw["industry"]
    assert profile.effective_size_industry() == "industry"
    years = sorted(profile.financials)
    assert all(isinstance(y, int) for y in years)
    fin = profile.financials[years[-1]]
    assert isinstance(fin.operating_revenue, Decimal)
    assert fin.operating_revenue == Decimal(raw["financials"][years[-1]]["operating_revenue"])


def test_minimal_profile_is_name_only():
    profile = validate_profile({"name": "最小企业"})
    assert profile.to_contract_dict() == {"name": "最小企业"}


def test_to_contract_dict_keeps_absent_distinct_from_empty_and_false():
    profile = validate_profile(
        {"name": "x", "titles": [], "quality": {"own_brand": False}, "local_indicators": {}, "uscc": None}
    )
    out = profile.to_contract_dict()
    assert out == {"name": "x", "titles": [], "quality": {"own_brand": False}, "local_indicators": {}}
    assert "awards" not in out and "uscc" not in out
    assert "quality_system_certified" not in out["quality"]


def test_to_contract_dict_is_plain_python():
    profile = validate_profile(BASE)
    out = profile.to_contract_dict()
    assert isinstance(out, dict)
    assert out["titles"][0] == {
        "type": "provincial_srdi_sme",
        "valid_from": date(2024, 1, 1),
        "valid_until": date(2026, 12, 31),
    }
    assert out["financials"][2025]["employees"] == 200
    assert "tech_employees" not in out["financials"][2025]
    # round trip
    assert validate_profile(out).to_contract_dict() == out


def test_money_accepts_int_float_and_decimal_string():
    fin = validate_profile(
        {
            "name": "x",
            "financials": {
                "2024": {
                    "operating_revenue": "12345678.90",
                    "main_business_revenue": 1234567.8,
                    "rd_expense": 100,
                    "net_profit": -250000.5,
                    "total_assets": Decimal("1.10"),
                    "total_costs": "12.500",
                }
            },
        }
    ).financials[2024]
    assert fin.operating_revenue == Decimal("12345678.90")
    assert fin.main_business_revenue == Decimal("1234567.8")
    assert str(fin.main_business_revenue) == "1234567.8"  # via str(float), not binary expansion
    assert fin.rd_expense == 100
    assert fin.net_profit == Decimal("-250000.5")
    assert fin.total_assets == Decimal("1.10")
    assert fin.total_costs == Decimal("12.5")


def test_counts_accept_int_float_and_string():
    fin = validate_profile(
        {"name": "x", "financials": {2024: {"employees": 160.0, "rd_employees": "16", "tech_employees": 20}}}
    ).financials[2024]
    assert (fin.employees, fin.rd_employees, fin.tech_employees) == (160, 16, 20)
    assert type(fin.employees) is int


def test_year_keys_accept_strings_and_ints():
    profile = validate_profile({"name": "x", "financials": {"2024": {}, 2023: {}}, "quality_score": {"2025": 62}})
    assert set(profile.financials) == {2023, 2024}
    assert profile.quality_score == {2025: Decimal(62)}


def test_normalisation_of_codes():
    profile = validate_profile(
        {"name": "  x  ", "province": "浙江", "industry": "c3484", "uscc": " 91330106ma27y0xw4p "}
    )
    assert profile.name == "x"
    assert profile.province == "330000"
    assert profile.industry == "C3484"
    assert profile.uscc == "91330106MA27Y0XW4P"
    assert validate_profile({"name": "x", "province": 440000}).province == "440000"
    assert validate_profile({"name": "x", "province": "广东省"}).province == "440000"
    assert validate_profile({"name": "x", "industry": "6510"}).industry == "I6510"


def test_size_industry_override_wins():
    profile = validate_profile({"name": "x", "industry": "J6620", "size_industry": "other"})
    assert profile.effective_size_industry() == "other"
    assert validate_profile({"name": "x", "industry": "J6620"}).effective_size_industry() is None
    assert validate_profile({"name": "x"}).effective_size_industry() is None


def test_dates_accept_strings_and_date_objects():
    profile = validate_profile(
        {
            "name": "x",
            "niche_since": date(2016, 3, 1),
            "titles": [{"type": "little_giant", "valid_from": "2023-07-01", "valid_until": "2026-06-30"}],
            "equity_financing": [{"date": "2024-06-30", "amount": 25000000, "qualified_investor": True}],
        }
    )
    assert profile.niche_since == date(2016, 3, 1)
    assert profile.titles[0].valid_until == date(2026, 6, 30)
    assert profile.equity_financing[0].date == date(2024, 6, 30)


def test_full_contract_example_validates():
    data = {
        "name": "示例精密机械有限公司",
        "province": "330000",
        "industry": "C3484",
        "size_industry": "industry",
        "niche_since": "2016-03-01",
        "financials": {
            2025: {
                "operating_revenue": 82000000,
                "main_business_revenue": 75000000,
                "main_product_revenue": 60000000,
                "rd_expense": 4100000,
                "net_profit": 6500000,
                "total_assets": 50000000,
                "total_liabilities": 21000000,
                "employees": 160,
                "rd_employees": 30,
                "tech_employees": 36,
                "total_costs": 70000000,
            }
        },
        "ip": {"class1": 5, "class1_self_developed": 4, "class1_high_value": 1, "class2": 12,
               "class1_applied_with_benefit": 3},
        "equity_financing": [{"date": "2024-06-30", "amount": 25000000, "qualified_investor": True}],
        "standards_led": [{"level": "national", "year": 2023}],
        "awards": [{"level": "provincial", "year": 2024, "rank": 2}],
        "titles": [
            {"type": "high_tech_enterprise", "valid_from": "2023-12-01", "valid_until": "2026-11-30"},
            {"type": "provincial_srdi_sme", "valid_from": "2024-01-01", "valid_until": "2026-12-31"},
        ],
        "rd_institution": "provincial",
        "rd_institution_joint": False,
        "digital_level": 3,
        "quality": {"provincial_quality_award": False, "quality_system_certified": True, "own_brand": True,
                    "standards_drafting": False},
        "management_cert_or_foreign_product_cert": True,
        "info_system_core_business": True,
        "product_field": {"strategic_emerging": True, "chain_gap_filling": False, "six_foundations": True,
                          "little_giant_key_field": True},
        "market_share_pct": 12.0,
        "market_position_declared": True,
        "domestic_rank": 2,
        "maker_china": {"year": 2024, "group": "top500"},
        "compliance": {"abnormal_operations_list": False, "serious_dishonesty_list": False,
                       "prohibited_or_eliminated_products": False, "major_incident_3y": False,
                       "tax_violation_3y": False, "data_fraud": False},
        "group": {"holding_link_to_little_giant": False, "same_group_similar_product": False},
        "local_indicators": {"anything": [1, "two"]},
        "local_score": 9,
        "quality_score": {2025: 62},
    }
    out = validate_profile(data).to_contract_dict()
    assert set(out) == set(data)
    assert out["local_indicators"] == {"anything": [1, "two"]}
    assert out["maker_china"] == {"year": 2024, "group": "top500"}


# ---------------------------------------------------------------- bad input: path and message


def test_bad_uscc_check_digit():
    err = _only_error(_with(uscc="91370200MA3C4D5E72"))
    assert err.path == "uscc"
    assert "check digit expected 1, got 2" in err.problem
    assert "校验码" in err.problem_zh


def test_bad_uscc_length_and_character():
    assert "18 characters" in _only_error(_with(uscc="9137")).problem
    assert "position 10" in _only_error(_with(uscc="91370200MI3C4D5E71")).problem


def test_unknown_province():
    err = _only_error(_with(province="火星"))
    assert err.path == "province"
    assert "unknown province" in err.problem
    assert "未知的省份" in err.problem_zh
    assert _only_error(_with(province="330106")).path == "province"


@pytest.mark.parametrize(
    "code, fragment",
    [
        ("C9999", "division 99 is not in section C"),
        ("Z12", "section 'Z'"),
        ("C3", "2, 3 or 4 digits"),
        (34, "quote it"),
    ],
)
def test_bad_industry(code, fragment):
    err = _only_error(_with(industry=code))
    assert err.path == "industry"
    assert fragment in err.problem
    assert err.problem_zh and err.problem_zh != err.problem


def test_negative_rd_expense():
    data = copy.deepcopy(BASE)
    data["financials"][2024]["rd_expense"] = -1
    err = _only_error(data)
    assert err.path == "financials.2024.rd_expense"
    assert err.problem == "must be >= 0, got -1"
    assert "大于或等于 0" in err.problem_zh


def test_negative_net_profit_is_allowed():
    data = copy.deepcopy(BASE)
    data["financials"][2024]["net_profit"] = -1500000.25
    assert validate_profile(data).financials[2024].net_profit == Decimal("-1500000.25")


@pytest.mark.parametrize("value", ["1.234", 1.234, Decimal("0.001")])
def test_three_decimal_places(value):
    data = copy.deepcopy(BASE)
    data["financials"][2025]["total_costs"] = value
    err = _only_error(data)
    assert err.path == "financials.2025.total_costs"
    assert "at most 2 decimal places (fen)" in err.problem
    assert "两位小数" in err.problem_zh


@pytest.mark.parametrize("value", ["abc", "", "1,000", True, [1], "NaN", float("inf")])
def test_money_rejects_non_numbers(value):
    err = _only_error({"name": "x", "financials": {2024: {"operating_revenue": value}}})
    assert err.path == "financials.2024.operating_revenue"
    assert "yuan" in err.problem or "finite" in err.problem


def test_rd_employees_more_than_employees():
    data = copy.deepcopy(BASE)
    data["financials"][2024]["rd_employees"] = 191
    err = _only_error(data)
    assert err.path == "financials.2024.rd_employees"
    assert err.problem == "rd_employees (191) must not exceed employees (190)"
    assert err.problem_zh == "研发人员（191）不能大于从业人员（190）"


def test_other_cross_field_checks():
    errors = _errors(
        {
            "name": "x",
            "financials": {
                "2024": {
                    "operating_revenue": 100,
                    "main_business_revenue": 101,
                    "main_product_revenue": 102,
                    "employees": 10,
                    "tech_employees": 11,
                }
            },
            "ip": {"class1": 2, "class1_self_developed": 3, "class1_high_value": 2, "class1_applied_with_benefit": 4},
        }
    )
    assert [e.path for e in errors] == [
        "financials.2024.main_business_revenue",
        "financials.2024.main_product_revenue",
        "financials.2024.tech_employees",
        "ip.class1_self_developed",
        "ip.class1_applied_with_benefit",
    ]
    assert "must not exceed operating_revenue (100)" in errors[0].problem


def test_cross_checks_skip_when_one_side_absent():
    validate_profile({"name": "x", "financials": {2024: {"rd_employees": 50}}, "ip": {"class1_high_value": 3}})


def test_unknown_field_at_root():
    err = _only_error(_with(foo=1))
    assert err == FieldError("foo", "unknown field (not in the contract)", "未知字段（不在数据契约中）")


def test_unknown_field_nested():
    data = copy.deepcopy(BASE)
    data["financials"][2024] = data["financials"].pop(2024)
    data["financials"][2024]["foo"] = 1
    err = _only_error(data)
    assert err.path == "financials.2024.foo"
    assert err.problem == "unknown field (not in the contract)"
    assert _only_error(_with(quality={"iso": True})).path == "quality.iso"
    assert _only_error(_with(titles=[{"type": "little_giant", "note": "x"}])).path == "titles.0.note"


@pytest.mark.parametrize("value", ["2020-13-01", "2020-02-30", "2020/01/01", "20200101", 20200101, "yesterday"])
def test_bad_date(value):
    err = _only_error(_with(niche_since=value))
    assert err.path == "niche_since"
    assert "date" in err.problem
    assert "日期" in err.problem_zh


def test_valid_from_after_valid_until():
    data = _with(
        titles=[
            {"type": "little_giant", "valid_from": "2023-07-01", "valid_until": "2026-06-30"},
            {"type": "high_tech_enterprise", "valid_from": "2025-01-01", "valid_until": "2024-12-31"},
        ]
    )
    err = _only_error(data)
    assert err.path == "titles.1.valid_until"
    assert err.problem == "valid_until (2024-12-31) is before valid_from (2025-01-01)"
    assert "早于" in err.problem_zh


@pytest.mark.parametrize(
    "change, path",
    [
        ({"titles": [{"type": "giant"}]}, "titles.0.type"),
        ({"rd_institution": "county"}, "rd_institution"),
        ({"size_industry": "mining"}, "size_industry"),
        ({"awards": [{"level": "municipal", "year": 2024}]}, "awards.0.level"),
        ({"standards_led": [{"level": "enterprise", "year": 2024}]}, "standards_led.0.level"),
        ({"maker_china": {"year": 2024, "group": "top100"}}, "maker_china.group"),
    ],
)
def test_wrong_enum(change, path):
    err = _only_error(_with(**change))
    assert err.path == path
    assert err.problem.startswith("must be one of: ")
    assert err.problem_zh.startswith("应为以下之一：")


def test_wrong_enum_lists_the_allowed_values():
    err = _only_error(_with(rd_institution="county"))
    for allowed in ("national", "provincial", "municipal", "below_municipal", "none"):
        assert allowed in err.problem


@pytest.mark.parametrize("value", ["yes", 1, 0, "true", "on"])
def test_strict_booleans(value):
    err = _only_error(_with(quality={"own_brand": value}))
    assert err.path == "quality.own_brand"
    assert "true or false" in err.problem


def test_strict_booleans_everywhere():
    errors = _errors(
        {
            "name": "x",
            "market_position_declared": "yes",
            "compliance": {"data_fraud": 0},
            "group": {"same_group_similar_product": "no"},
            "product_field": {"strategic_emerging": 1},
            "rd_institution_joint": "false",
            "equity_financing": [{"qualified_investor": "yes"}],
        }
    )
    assert {e.path for e in errors} == {
        "market_position_declared",
        "compliance.data_fraud",
        "group.same_group_similar_product",
        "product_field.strategic_emerging",
        "rd_institution_joint",
        "equity_financing.0.qualified_investor",
    }


@pytest.mark.parametrize("value", [160.5, "160.5", True, "many", -1])
def test_employee_counts(value):
    err = _only_error({"name": "x", "financials": {2024: {"employees": value}}})
    assert err.path == "financials.2024.employees"
    assert "whole number" in err.problem or ">= 0" in err.problem


@pytest.mark.parametrize(
    "change, path, fragment",
    [
        ({"financials": {"1989": {}}}, "financials.1989", ">= 1990"),
        ({"financials": {"abc": {}}}, "financials.abc", "whole number"),
        ({"financials": {2024: 5}}, "financials.2024", "mapping"),
        ({"financials": [1, 2]}, "financials", ""),
        ({"digital_level": 5}, "digital_level", "<= 4"),
        ({"digital_level": 0}, "digital_level", ">= 1"),
        ({"market_share_pct": 100.5}, "market_share_pct", "<= 100"),
        ({"market_share_pct": -1}, "market_share_pct", ">= 0"),
        ({"domestic_rank": 0}, "domestic_rank", ">= 1"),
        ({"local_score": 16}, "local_score", "<= 15"),
        ({"quality_score": {2025: 101}}, "quality_score.2025", "<= 100"),
        ({"awards": [{"level": "national", "year": 2024, "rank": 0}]}, "awards.0.rank", ">= 1"),
        ({"awards": [{"level": "national"}]}, "awards.0.year", "required field is missing"),
        ({"ip": {"class2": -3}}, "ip.class2", ">= 0"),
        ({"equity_financing": [{"amount": -5}]}, "equity_financing.0.amount", ">= 0"),
        ({"local_indicators": []}, "local_indicators", "mapping"),
        ({"titles": {"type": "little_giant"}}, "titles", "list"),
        ({"name": ""}, "name", "empty"),
        ({"name": 123}, "name", "string"),
    ],
)
def test_more_bad_values(change, path, fragment):
    err = _only_error(_with(**change))
    assert err.path == path
    assert fragment in err.problem
    assert err.problem_zh


def test_missing_name():
    data = copy.deepcopy(BASE)
    del data["name"]
    assert _only_error(data) == FieldError("name", "required field is missing", "缺少必填字段")
    assert _only_error({"name": None}).path == "name"


def test_non_dict_root():
    for data in ([], "name: x", None, 5):
        err = _only_error(data)
        assert err.path == ""
        assert "mapping" in err.problem


def test_many_errors_reported_together_and_str():
    with pytest.raises(ProfileError) as info:
        validate_profile(_with(foo=1, province="火星", uscc="X"))
    exc = info.value
    assert {e.path for e in exc.errors} == {"foo", "province", "uscc"}
    lines = str(exc).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("province: unknown province") for line in lines)


# ---------------------------------------------------------------- files


def test_read_yaml_and_json_files(tmp_path):
    yml = tmp_path / "p.yaml"
    yml.write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    jsn = tmp_path / "p.json"
    jsn.write_text(json.dumps(BASE, ensure_ascii=False, default=str), encoding="utf-8")
    a = load_profile(yml).to_contract_dict()
    b = load_profile(jsn).to_contract_dict()
    assert a == b


def test_json_floats_become_decimals(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"name": "x", "market_share_pct": 12.5, "financials": {"2024": {"net_profit": 0.1}}}')
    raw = read_profile_file(f)
    assert raw["market_share_pct"] == Decimal("12.5")
    assert isinstance(raw["financials"]["2024"]["net_profit"], Decimal)
    assert load_profile(f).financials[2024].net_profit == Decimal("0.1")


def test_unknown_extension_tries_json_then_yaml(tmp_path):
    f1 = tmp_path / "p.txt"
    f1.write_text('{"name": "x"}')
    assert read_profile_file(f1) == {"name": "x"}
    f2 = tmp_path / "p.profile"
    f2.write_text("name: y\nprovince: 浙江省\n", encoding="utf-8")
    assert load_profile(f2).province == "330000"


def test_yaml_syntax_error_has_line(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nfinancials:\n  2024: {operating_revenue: 1\n  bad\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        read_profile_file(f)
    err = info.value.errors[0]
    assert err.path == ""
    assert "YAML syntax error at line" in err.problem
    assert "YAML 语法错误" in err.problem_zh


def test_json_syntax_error_has_line(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{\n  "name": "x",\n  "uscc": \n}\n')
    with pytest.raises(ProfileError) as info:
        read_profile_file(f)
    assert "JSON syntax error at line 4" in info.value.errors[0].problem


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ProfileError, match="file not found"):
        read_profile_file(tmp_path / "missing.yaml")
    with pytest.raises(ProfileError, match="directory"):
        read_profile_file(tmp_path)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ProfileError, match="empty"):
        read_profile_file(empty)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ProfileError, match="mapping"):
        read_profile_file(lst)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ProfileError, match="UTF-8"):
        read_profile_file(binary)


def test_load_profile_reports_field_errors(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\nfinancials:\n  2024:\n    rd_expense: -5\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert info.value.errors == [FieldError("financials.2024.rd_expense", "must be >= 0, got -5", "应大于或等于 0，实际为 -5")]


# ---------------------------------------------------------------- schema


def test_json_schema():
    schema = profile_json_schema()
    assert schema["title"] == "srdi enterprise profile (contract 1)"
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    fin = schema["$defs"]["Financials"]
    assert fin["additionalProperties"] is False
    assert {"operating_revenue", "rd_employees", "total_costs"} <= set(fin["properties"])
    json.dumps(schema)  # serialisable


def test_profile_is_a_pydantic_model_with_forbid():
    assert Profile.model_config["extra"] == "forbid"


@pytest.mark.parametrize("value", [10**26, -(10**27), 1e30, "1e30", "123456789012345678901234567.5"])
def test_amounts_beyond_the_decimal_context_are_refused_by_name(value):
    data = copy.deepcopy(BASE)
    data["financials"][2024]["operating_revenue"] = value
    errs = _errors(data)
    assert [e.path for e in errs] == ["financials.2024.operating_revenue"]
    assert "at most 26 digits" in errs[0].problem


def test_whole_amounts_up_to_26_digits_are_exact():
    data = copy.deepcopy(BASE)
    data["financials"][2024]["operating_revenue"] = 10**26 - 1
    data["financials"][2024]["rd_expense"] = -0  # an int zero takes the same path
    got = validate_profile(data).to_contract_dict()["financials"][2024]
    assert got["operating_revenue"] == Decimal(10**26 - 1)
    assert got["rd_expense"] == Decimal(0)


from hypothesis import given, strategies as st  # noqa: E402


@given(st.integers(min_value=-(10**26) + 1, max_value=10**26 - 1))
def test_int_fast_path_equals_the_general_conversion(v):
    from srdi.profile import model

    assert model._money(v) == model._to_decimal(v, money=True)
    assert model._number(v) == model._to_decimal(v, money=False)
