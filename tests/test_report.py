"""Rich report rendering (srdi.cli.report) and the i18n catalogue (srdi.i18n)."""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from rich.console import Console

from srdi.cli.report import render_assessment, render_errors
from srdi.i18n import fmt_pct, fmt_yuan_wan, t


def _c(id, kind, title_zh, title_en, outcome, observed, threshold, source, mark="C",
       group=None, points=None, max_points=None, missing=(), **extra):
    d = {"id": id, "kind": kind, "group": group, "title": {"zh": title_zh, "en": title_en},
         "outcome": outcome, "observed": observed, "threshold": threshold, "points": points,
         "max_points": max_points, "source": source, "mark": mark, "missing": list(missing)}
    d.update(extra)
    return d


A2 = "工信部企业〔2022〕63号 附件2"
A1 = "工信部企业〔2022〕63号 附件1"
A3 = "工信部企业〔2022〕63号 附件3"

R2022 = {
    "contract": 1, "enterprise": "示例精密机械有限公司", "uscc": "91320500MA1N8RQP74",
    "as_of": "2025-05-01", "mode": "application", "regime": "R2022",
    "size": {"industry": "industry", "class": "small", "outcome": "pass",
             "observed": "100人, 7000万元", "source": "工信部联企业〔2011〕300号 第四条",
             "mark": "C", "missing": []},
    "tiers": {
        "srdi_sme": {
            "regime": "R2022", "outcome": "pass", "score": 68, "score_min": 68, "score_max": 68,
            "pass_line": 60,
            "score_parts": {"specialisation": 19, "refinement": 19, "distinctiveness": 9,
                            "innovation": 21},
            "route": "score", "title": {"zh": "专精特新中小企业", "en": "SRDI SME"},
            "pack": "r2022.srdi_sme", "document": A2,
            "conditions": [
                _c("size", "eligibility", "符合中小企业划型标准", "SME under the 2011 size standard",
                   "pass", "小型", "中小微型", "工信部联企业〔2011〕300号"),
                _c("niche_years", "condition", "从事特定细分市场时间达到2年以上",
                   "At least 2 years in the niche", "pass", "7", ">= 2", A2 + " 一（一）"),
                _c("main_business_share", "indicator", "上年度主营业务收入总额占营业收入总额比重",
                   "Main-business revenue share", "pass", "84.86%",
                   ">= 80% → 5; >= 70% → 3; >= 60% → 1; else 0", "附件2 二（一）1",
                   group="specialisation", points=5, max_points=5),
                _c("specialisation_rest", "indicator", "专业化其余指标", "Other specialisation indicators",
                   "pass", "14", "0-20", "附件2 二（一）2-4", group="specialisation",
                   points=14, max_points=20),
                _c("digital_level", "indicator", "数字化水平", "Digitalisation level", "pass",
                   "2级", ">= 3 → 5; 2 → 3; 1 → 0", "附件2 二（二）5", group="refinement",
                   points=3, max_points=5),
                _c("local", "indicator", "地方特色指标", "Local (provincial) indicators",
                   "undetermined", None, "0-15", "附件2 二（三）9", group="distinctiveness",
                   max_points=15, missing=["local_score"], points_min=0, points_max=15),
                _c("rd_institution", "indicator", "建立研发机构级别", "Level of the R&D institution",
                   "pass", "市级", "国家级 10; 省级 8; 市级 4", "附件2 二（四）13", mark="S",
                   group="innovation", points=4, max_points=10),
                _c("award_ranked", "route", "省级科技奖励前三或国家级前五",
                   "Provincial S&T award top 3 or national top 5", "fail", "无", "排名前三/前五",
                   "附件2 一（四）1"),
            ],
            "missing": ["local_score"],
            "notes": [{"zh": "特色化得分按省级标准填报。", "en": "Local score as awarded by the province."}]},
        "innovative_sme": {
            "regime": "R2022", "outcome": "pass", "score": 85, "pass_line": 60,
            "score_parts": {"innovation_capability": 35, "growth": 25, "specialisation": 25},
            "route": "direct:high_tech", "document": A1,
            "conditions": [
                _c("ip_count", "indicator", "与企业主导产品相关的有效知识产权数量",
                   "Valid IP related to the main product", "pass", "Ⅰ类 2（自主研发 1）",
                   "A 20; B 15; C 10; D 5", "附件1 二（一）1", group="innovation_capability",
                   points=15, max_points=20),
                _c("debt_ratio", "indicator", "上年度资产负债率", "Prior-year debt-to-asset ratio",
                   "pass", "45.00%", "<= 55% → 10", "附件1 二（二）4", group="growth",
                   points=10, max_points=10),
                _c("high_tech", "route", "有效期内的高新技术企业等荣誉",
                   "Valid High-Tech Enterprise or similar title", "pass", "high_tech_enterprise",
                   "有效期内", "附件1 一（二）"),
            ],
            "missing": []},
        "little_giant": {
            "regime": "R2022", "outcome": "undetermined", "score": None, "route": None,
            "document": A3,
            "conditions": [
                _c("lg_niche_years", "condition", "从事特定细分市场时间达到3年以上",
                   "At least 3 years in the niche", "pass", "7", ">= 3", A3 + " 一"),
                _c("lg_market_share", "condition", "主导产品全国细分市场占有率达到10%以上",
                   "National niche market share at least 10%", "undetermined", None, ">= 10%",
                   A3 + " 三", missing=["market_share_pct"]),
                _c("single_champion", "exclusion", "已被认定为制造业单项冠军", "Already a single champion",
                   "pass", "否", "不得为单项冠军", "年度通知", mark="U"),
            ],
            "missing": ["market_share_pct", "group.holding_link_to_little_giant"],
            "notes": [{"zh": "未检查产业链配套。", "en": "Industrial-chain role not checked."}]},
    },
}

R2026 = {
    "contract": 1, "enterprise": "示例科技有限公司", "as_of": "2026-05-01", "mode": "review",
    "regime": "R2026",
    "size": {"industry": "software_it", "class": "medium", "outcome": "pass"},
    "tiers": {
        "tech_innovative_sme": {
            "regime": "R2026", "outcome": "pass", "score": None, "route": "conditions",
            "conditions": [],
            "sub_results": {
                "innovative_sme": {"regime": "R2022", "outcome": "fail", "score": 45, "pass_line": 60,
                                   "route": None, "conditions": [
                                       _c("rd_ratio", "indicator", "上年度研发费用总额占营业收入总额比重",
                                          "Prior-year R&D intensity", "pass", "2.50%", "2%-3% → 10",
                                          "附件1 二（一）2", group="innovation_capability",
                                          points=10, max_points=20)]},
                "tech_sme": {"regime": "R2026", "outcome": "pass", "score": 70, "pass_line": 60,
                             "route": "score", "conditions": [
                                 _c("tech_staff_share", "indicator", "科技人员占职工总数比例",
                                    "S&T staff share", "pass", "32%", ">= 30% → 20",
                                    "国科发政〔2017〕115号 第七条", group="tech_staff",
                                    points=20, max_points=20)]},
            },
            "missing": []},
        "srdi_sme": {
            "regime": "R2026", "outcome": "undetermined", "score": None, "route": None,
            "conditions": [
                _c("rd_each_year", "condition", "近两年研发费用均不低于100万元且占比不低于3%",
                   "R&D each year at least 1M CNY and 3%", "pass", "5.0%, 4.1%", ">= 3% each year",
                   "工信部企业〔2026〕2号 附件1", mark="S"),
                _c("quality_score", "condition", "发展质量评价得分", "Development-quality score",
                   "undetermined", None, ">= 50", "工信厅企业〔2024〕75号", mark="S",
                   missing=["quality_score.2025"]),
            ],
            "missing": ["quality_score.2025"]},
    },
}

ZH_TIERS = ["创新型中小企业", "科技和创新型中小企业", "专精特新中小企业", '专精特新"小巨人"企业']


def render(assessment, lang="zh", width=140):
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
    render_assessment(assessment, lang=lang, console=console)
    return console.export_text()


def squash(text):
    """Table cells wrap: drop box characters and whitespace so wrapped text can be searched."""
    return re.sub(r"[\s│┃|─━┼╇╈╋┏┓┗┛┡┩]+", "", text)


def all_conditions(assessment):
    def walk(tier):
        yield from tier.get("conditions", [])
        for sub in (tier.get("sub_results") or {}).values():
            yield from walk(sub)
    for tier in assessment["tiers"].values():
        yield from walk(tier)


# --------------------------------------------------------------------------- i18n


def test_t_lookup_fallback_and_format():
    assert t("tier.srdi_sme") == "专精特新中小企业"
    assert t("tier.little_giant", "en") == 'SRDI "little giant"'
    assert t("tier.little_giant", "zh_CN") == '专精特新"小巨人"企业'
    assert t("outcome.undetermined", "en") == "undetermined (missing input)"
    assert t("no.such.key", "en") == "no.such.key"
    assert t("route.direct_with", "en", name="x") == "direct route: x"
    assert t("size.micro") == "微型" and t("mark.C", "en").startswith("confirmed")


def test_money_and_percent_formatting():
    assert fmt_yuan_wan(3_500_000, "zh") == "350万元"
    assert fmt_yuan_wan("3500000", "en") == "3,500,000 CNY (350 wan)"
    assert fmt_yuan_wan("12345678.90", "zh") == "1,234.57万元"
    assert fmt_yuan_wan(None, "zh") == "—"
    assert fmt_pct(0.8486, "zh") == "84.86%"
    assert fmt_pct(0.03, "en") == "3%"
    assert fmt_pct("bad", "en") == "—"


# --------------------------------------------------------------------------- report


@pytest.mark.parametrize("sample", [R2022, R2026], ids=["r2022", "r2026"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_condition_listed(sample, lang):
    out = render(sample, lang)  # width 140: ids and marks never wrap
    for cond in all_conditions(sample):
        assert cond["id"] in out, cond["id"]
        assert any(cond["title"][lang][:6] in line and line.split()[-1] == cond["mark"]
                   for line in out.splitlines()), (cond["id"], cond["mark"])
    # at a width where no cell wraps, every title, observed value, threshold and source is whole
    wide = render(sample, lang, width=400)
    for cond in all_conditions(sample):
        row = next(line for line in wide.splitlines()
                   if cond["title"][lang] in line and line.split()[-1] == cond["mark"])
        assert cond["source"] in row, row
        assert cond["threshold"] in row, row
        if cond["observed"] is not None:
            assert cond["observed"] in row, row


def test_zh_report_content():
    out = render(R2022, "zh")
    flat = squash(out)
    for name in ["专精特新中小企业", "创新型中小企业", '专精特新"小巨人"企业']:
        assert name in out
    # header
    for s in ["示例精密机械有限公司", "91320500MA1N8RQP74", "2025-05-01", "新申请", "R2022", "小型（工业）"]:
        assert s in out, s
    # verdicts, score, pass line, routes
    assert "通过" in out and "待定（缺少输入）" in out
    assert "68 / 100" in out and "及格线 60" in out
    assert "评分达标" in out
    assert squash("直通：有效期内的高新技术企业等荣誉") in flat
    # score parts and indicator groups
    assert "专业化 19" in out and "特色化 9" in out and "创新能力 21" in out
    assert "· 专业化" in out and "19/25" in out
    # points, undetermined range, kinds
    assert "5/5" in out and "0–15/15" in out and "4/10" in out
    for kind in ["基本条件", "认定条件", "评价指标", "直通条件", "排除情形"]:
        assert kind in out, kind
    # missing inputs, per condition and per tier
    assert "缺少的输入" in out
    for path in ["local_score", "market_share_pct", "group.holding_link_to_little_giant"]:
        assert path in out
    assert "缺少：local_score" in out
    # marks and legend
    assert re.search(r"\bS\b", out) and re.search(r"\bU\b", out)
    assert "C = 已确认（两个以上独立来源）" in out and "U = 未确认" in out
    assert "特色化得分按省级标准填报。" in out and "未检查产业链配套。" in out


def test_en_report_content():
    out = render(R2022, "en")
    flat = squash(out)
    wide = render(R2022, "en", width=400)
    for name in ["SRDI SME", "Innovative SME", 'SRDI "little giant"']:
        assert name in out
    for s in ["Enterprise", "USCC", "As of", "new application", "small (industry)",
              "Condition", "Outcome", "Observed", "Threshold", "Points", "Source", "Mark"]:
        assert s in out, s
    assert "undetermined (missing input)" in out and "by score" in out
    assert "68 / 100" in out and "pass line 60" in out
    assert squash("direct route: Valid High-Tech Enterprise or similar title") in flat
    assert "Missing inputs" in out and "local_score" in out and "missing: local_score" in out
    assert "Marks: C = confirmed" in out
    assert "Industrial-chain role not checked." in out
    # no Chinese tier names, and no Chinese at all outside the source / observed / document data
    for name in ZH_TIERS + ["通过", "未通过", "待定", "评分达标", "缺少"]:
        assert name not in out, name
    data_strings = set()
    for cond in all_conditions(R2022):
        data_strings.update(str(cond[k]) for k in ("source", "observed", "threshold") if cond[k])
    data_strings.update(str(tier.get("document", "")) for tier in R2022["tiers"].values())
    data_strings.update([R2022["enterprise"], R2022["size"]["source"], R2022["size"]["observed"]])
    data_strings.add("工信部企业〔2022〕63号")
    rest = wide
    for s in sorted(data_strings, key=len, reverse=True):
        rest = rest.replace(s, "")
    assert not re.search(r"[\u4e00-\u9fff]", rest), re.findall(r"[\u4e00-\u9fff]+", rest)


def test_sub_results_and_r2026():
    for lang, names in [("zh", ["科技和创新型中小企业", "创新型中小企业", "科技型中小企业", "专精特新中小企业"]),
                        ("en", ["Tech-based and innovative SME", "Innovative SME", "Tech-based SME"])]:
        out = render(R2026, lang)
        for n in names:
            assert n in out, n
        assert "quality_score.2025" in out
        assert "45 / 100" in out and "70 / 100" in out
    out = render(R2026, "zh")
    assert "复核" in out and "中型（软件和信息技术服务业）" in out
    assert "满足全部条件" in out and "未通过" in out
    assert "20/20" in out


def test_robust_to_minimal_and_odd_input():
    minimal = {"tiers": {"srdi_sme": {"outcome": "fail"},
                         "mystery_tier": {"outcome": "weird", "route": "direct:unknown",
                                          "conditions": [{"id": "x1", "points_min": 2,
                                                          "points_max": 2, "observed": 3.0,
                                                          "title": "[bold]not markup[/bold]"}]}}}
    for lang in ("zh", "en"):
        out = render(minimal, lang)
        assert "x1" in out and "[bold]not markup[/bold]" in out and "2" in out
        assert "mystery_tier" in out
    out = render({}, "en")
    assert "Marks:" in out
    # the input is not modified
    before = copy.deepcopy(R2022)
    render(R2022, "en")
    assert json.dumps(before, sort_keys=True) == json.dumps(R2022, sort_keys=True)


def test_render_errors():
    errors = [("financials.2024.operating_revenue", "not a number: 'abc'", "不是数字：'abc'"),
              {"path": "uscc", "problem": "bad check digit", "problem_zh": "校验码错误"}]
    for lang, expect in [("zh", ["输入有误", "不是数字：'abc'", "校验码错误"]),
                         ("en", ["Invalid input", "not a number: 'abc'", "bad check digit"])]:
        console = Console(record=True, width=140, color_system=None, file=io.StringIO())
        render_errors(errors, lang, console=console)
        out = console.export_text()
        assert "financials.2024.operating_revenue" in out and "uscc" in out
        for s in expect:
            assert s in out, s
