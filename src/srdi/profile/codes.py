"""Code tables used by the enterprise profile (contract.md section 1).

- GB/T 2260 province-level administrative division codes.
- GB/T 4754-2017 industry codes (国民经济行业分类): sections and division ranges.
- The 16 size-standard industries (contract.md section 3) and the project mapping
  from GB/T 4754-2017 to them (criteria.md section 2.4, "Project mapping (decision, [U])").

Pure Python, no third-party imports (CLI cold-start path).
"""

from __future__ import annotations

import re

__all__ = [
    "CodeError",
    "PROVINCES",
    "normalize_province",
    "SECTIONS",
    "parse_industry",
    "section_for_division",
    "SIZE_INDUSTRIES",
    "size_industry_for",
]


class CodeError(ValueError):
    """A ValueError that also carries a Chinese message (``.zh``)."""

    def __init__(self, message: str, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh if zh is not None else message


# --------------------------------------------------------------------------------------
# GB/T 2260 provinces
# --------------------------------------------------------------------------------------

PROVINCES: dict[str, tuple[str, str]] = {
    "110000": ("北京市", "Beijing"),
    "120000": ("天津市", "Tianjin"),
    "130000": ("河北省", "Hebei"),
    "140000": ("山西省", "Shanxi"),
    "150000": ("内蒙古自治区", "Inner Mongolia"),
    "210000": ("辽宁省", "Liaoning"),
    "220000": ("吉林省", "Jilin"),
    "230000": ("黑龙江省", "Heilongjiang"),
    "310000": ("上海市", "Shanghai"),
    "320000": ("江苏省", "Jiangsu"),
    "330000": ("浙江省", "Zhejiang"),
    "340000": ("安徽省", "Anhui"),
    "350000": ("福建省", "Fujian"),
    "360000": ("江西省", "Jiangxi"),
    "370000": ("山东省", "Shandong"),
    "410000": ("河南省", "Henan"),
    "420000": ("湖北省", "Hubei"),
    "430000": ("湖南省", "Hunan"),
    "440000": ("广东省", "Guangdong"),
    "450000": ("广西壮族自治区", "Guangxi"),
    "460000": ("海南省", "Hainan"),
    "500000": ("重庆市", "Chongqing"),
    "510000": ("四川省", "Sichuan"),
    "520000": ("贵州省", "Guizhou"),
    "530000": ("云南省", "Yunnan"),
    "540000": ("西藏自治区", "Tibet"),
    "610000": ("陕西省", "Shaanxi"),
    "620000": ("甘肃省", "Gansu"),
    "630000": ("青海省", "Qinghai"),
    "640000": ("宁夏回族自治区", "Ningxia"),
    "650000": ("新疆维吾尔自治区", "Xinjiang"),
    "710000": ("台湾省", "Taiwan"),
    "810000": ("香港特别行政区", "Hong Kong"),
    "820000": ("澳门特别行政区", "Macao"),
}

# Longest suffixes first.
_PROVINCE_SUFFIXES = (
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)

_EXTRA_ALIASES = {"xizang": "540000", "macau": "820000", "neimenggu": "150000", "hongkong": "810000"}


def _short_name(zh: str) -> str:
    for suffix in _PROVINCE_SUFFIXES:
        if zh.endswith(suffix) and len(zh) > len(suffix):
            return zh[: -len(suffix)]
    return zh


def _build_aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for code, (zh, en) in PROVINCES.items():
        aliases[zh] = code
        aliases[_short_name(zh)] = code
        aliases[en.lower()] = code
        aliases[en.lower().replace(" ", "")] = code
    aliases.update(_EXTRA_ALIASES)
    return aliases


_PROVINCE_ALIASES = _build_aliases()


def normalize_province(value: object) -> str:
    """Return the 6-digit GB/T 2260 province code for a code or a name.

    Accepts "330000", 330000, "浙江省", "浙江" and the English name ("Zhejiang").
    Raises ``CodeError`` (a ``ValueError``) otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CodeError(
            f"province must be a 6-digit GB/T 2260 code or a province name, got {type(value).__name__}",
            f"省份应为 6 位 GB/T 2260 代码或省份名称，实际类型为 {type(value).__name__}",
        )
    text = str(value).strip()
    if isinstance(value, int) or text.isdigit():
        if text in PROVINCES:
            return text
        if len(text) == 6 and text.isdigit():
            if not text.endswith("0000"):
                raise CodeError(
                    f"{text!r} is not a province-level code (province codes end in 0000, e.g. 330000)",
                    f"“{text}”不是省级行政区划代码（省级代码以 0000 结尾，如 330000）",
                )
            raise CodeError(
                f"unknown province code {text!r} (GB/T 2260 province codes: 110000 ... 820000)",
                f"未知的省级行政区划代码“{text}”（GB/T 2260 省级代码：110000 … 820000）",
            )
        raise CodeError(
            f"province code must have 6 digits (e.g. 330000), got {text!r}",
            f"省级行政区划代码应为 6 位数字（如 330000），实际为“{text}”",
        )
    code = _PROVINCE_ALIASES.get(text) or _PROVINCE_ALIASES.get(text.lower()) or _PROVINCE_ALIASES.get(
        text.lower().replace(" ", "")
    )
    if code is None:
        raise CodeError(
            f"unknown province {text!r} (use a GB/T 2260 code such as 330000 or a name such as 浙江省)",
            f"未知的省份“{text}”（请使用 GB/T 2260 代码如 330000，或名称如 浙江省）",
        )
    return code


# --------------------------------------------------------------------------------------
# GB/T 4754-2017 industries
# --------------------------------------------------------------------------------------

SECTIONS: dict[str, tuple[tuple[int, int], str, str]] = {
    "A": ((1, 5), "农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "B": ((6, 12), "采矿业", "Mining"),
    "C": ((13, 43), "制造业", "Manufacturing"),
    "D": ((44, 46), "电力、热力、燃气及水生产和供应业", "Electricity, heat, gas and water production and supply"),
    "E": ((47, 50), "建筑业", "Construction"),
    "F": ((51, 52), "批发和零售业", "Wholesale and retail trade"),
    "G": ((53, 60), "交通运输、仓储和邮政业", "Transport, storage and postal services"),
    "H": ((61, 62), "住宿和餐饮业", "Accommodation and catering"),
    "I": ((63, 65), "信息传输、软件和信息技术服务业", "Information transmission, software and IT services"),
    "J": ((66, 69), "金融业", "Finance"),
    "K": ((70, 70), "房地产业", "Real estate"),
    "L": ((71, 72), "租赁和商务服务业", "Leasing and business services"),
    "M": ((73, 75), "科学研究和技术服务业", "Scientific research and technical services"),
    "N": ((76, 79), "水利、环境和公共设施管理业", "Water conservancy, environment and public facilities management"),
    "O": ((80, 82), "居民服务、修理和其他服务业", "Resident services, repair and other services"),
    "P": ((83, 83), "教育", "Education"),
    "Q": ((84, 85), "卫生和社会工作", "Health and social work"),
    "R": ((86, 90), "文化、体育和娱乐业", "Culture, sports and entertainment"),
    "S": ((91, 96), "公共管理、社会保障和社会组织", "Public administration, social security and social organisations"),
    "T": ((97, 97), "国际组织", "International organisations"),
}

_INDUSTRY_RE = re.compile(r"^([A-Z]?)(\d*)$")


def section_for_division(division: int) -> str | None:
    """Section letter of a 2-digit division number (1..97), or None."""
    for letter, ((lo, hi), _zh, _en) in SECTIONS.items():
        if lo <= division <= hi:
            return letter
    return None


def _range_text(letter: str) -> str:
    lo, hi = SECTIONS[letter][0]
    return f"{lo:02d}" if lo == hi else f"{lo:02d}–{hi:02d}"


def parse_industry(code: object) -> tuple[str, str]:
    """Parse a GB/T 4754-2017 code into (section letter, digits).

    Accepts "C3484", "c3484", "C34", "C" (letter plus 0, 2, 3 or 4 digits) and a bare
    2-4 digit code ("3484"; the section is inferred from the division).
    Raises ``CodeError`` (a ``ValueError``) with a clear message otherwise.
    """
    if not isinstance(code, str):
        raise CodeError(
            f"industry code must be a string such as 'C3484', got {type(code).__name__}",
            f"行业代码应为字符串（如 'C3484'），实际类型为 {type(code).__name__}",
        )
    text = code.strip().upper()
    m = _INDUSTRY_RE.match(text)
    if not text or m is None:
        raise CodeError(
            f"{code!r} is not a GB/T 4754-2017 code (a section letter A–T plus up to 4 digits, e.g. C3484)",
            f"“{code}”不是 GB/T 4754-2017 行业代码（门类字母 A–T 加最多 4 位数字，如 C3484）",
        )
    letter, digits = m.group(1), m.group(2)
    if letter and letter not in SECTIONS:
        raise CodeError(
            f"unknown GB/T 4754-2017 section {letter!r} in {code!r} (sections are A–T)",
            f"“{code}”中的门类“{letter}”不存在（GB/T 4754-2017 门类为 A–T）",
        )
    if len(digits) not in ((0, 2, 3, 4) if letter else (2, 3, 4)):
        raise CodeError(
            f"{code!r}: a GB/T 4754-2017 code has 2, 3 or 4 digits after the section letter "
            f"(e.g. C34, C348, C3484), got {len(digits)}",
            f"“{code}”：门类字母后应为 2、3 或 4 位数字（如 C34、C348、C3484），实际为 {len(digits)} 位",
        )
    if not digits:
        return letter, ""
    division = int(digits[:2])
    inferred = section_for_division(division)
    if not letter:
        if inferred is None:
            raise CodeError(
                f"{code!r}: division {digits[:2]} does not exist in GB/T 4754-2017 (divisions 01–97)",
                f"“{code}”：大类 {digits[:2]} 不存在（GB/T 4754-2017 大类为 01–97）",
            )
        return inferred, digits
    if inferred != letter:
        raise CodeError(
            f"{code!r}: division {digits[:2]} is not in section {letter} (divisions {_range_text(letter)})",
            f"“{code}”：大类 {digits[:2]} 不属于门类 {letter}（该门类大类为 {_range_text(letter)}）",
        )
    return letter, digits


# --------------------------------------------------------------------------------------
# Size-standard industries (contract.md section 3) and the project mapping (criteria.md 2.4)
# --------------------------------------------------------------------------------------

SIZE_INDUSTRIES: dict[str, tuple[str, str]] = {
    "agriculture": ("农、林、牧、渔业", "Agriculture, forestry, animal husbandry and fishery"),
    "industry": ("工业", "Industry"),
    "construction": ("建筑业", "Construction"),
    "wholesale": ("批发业", "Wholesale"),
    "retail": ("零售业", "Retail"),
    "transport": ("交通运输业", "Transport (excluding railway)"),
    "warehousing": ("仓储业", "Warehousing"),
    "postal": ("邮政业", "Postal services"),
    "accommodation": ("住宿业", "Accommodation"),
    "catering": ("餐饮业", "Catering"),
    "information_transmission": ("信息传输业", "Information transmission"),
    "software_it": ("软件和信息技术服务业", "Software and IT services"),
    "real_estate_development": ("房地产开发经营", "Real-estate development"),
    "property_management": ("物业管理", "Property management"),
    "leasing_business_services": ("租赁和商务服务业", "Leasing and business services"),
    "other": ("其他未列明行业", "Other, not elsewhere listed"),
}

# Whole sections that map to one size industry ("C" alone decides).
_BY_SECTION: dict[str, str | None] = {
    "B": "industry",
    "C": "industry",
    "D": "industry",
    "E": "construction",
    "J": None,  # finance: outside the size standard
    "L": "leasing_business_services",
    "M": "other",
    "N": "other",
    "O": "other",
    "P": None,
    "Q": "other",
    "R": "other",
    "S": None,
    "T": None,
}

# Divisions, for the sections split by division.
_BY_DIVISION: dict[int, str | None] = {
    1: "agriculture",
    2: "agriculture",
    3: "agriculture",
    4: "agriculture",
    5: "other",  # A05 专业及辅助性活动
    51: "wholesale",
    52: "retail",
    53: None,  # railway transport: excluded from the transport row
    54: "transport",
    55: "transport",
    56: "transport",
    57: "transport",
    58: "transport",
    59: "warehousing",
    60: "postal",
    61: "accommodation",
    62: "catering",
    63: "information_transmission",
    64: "information_transmission",
    65: "software_it",
}

# K70 by group (3rd digit). K704 房地产租赁经营 is not in the project table (the NBS 2017
# scope of "other" excludes 自有房地产经营活动), so it stays outside (None).
_BY_K70_GROUP: dict[str, str | None] = {
    "1": "real_estate_development",
    "2": "property_management",
    "3": "other",
    "9": "other",
}


def size_industry_for(code: object) -> str | None:
    """Size-standard industry id for a GB/T 4754-2017 code (criteria.md 2.4 project mapping).

    Returns None when the code is outside the size standard (J, P, S, T, G53, K704) or too
    short to decide (e.g. "A", "G", "K70"). Raises ``CodeError`` for an invalid code.
    """
    letter, digits = parse_industry(code)
    if letter in _BY_SECTION:
        return _BY_SECTION[letter]
    if len(digits) < 2:
        return None
    division = int(digits[:2])
    if letter == "K":
        if len(digits) < 3:
            return None
        return _BY_K70_GROUP.get(digits[2])
    return _BY_DIVISION.get(division)
