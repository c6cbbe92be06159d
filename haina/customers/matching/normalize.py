"""Normalisation of the raw values a record carries, before any comparison.

Each function takes whatever a platform handed over (full-width digits, traditional characters,
`+86` prefixes, masked phones, addresses with or without their province) and returns one canonical
string, or "" when nothing usable is left. Comparisons only ever see these canonical forms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

MASK = "*"
_MASK_CHARACTERS = "*＊xX×•·#"
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_NAME_SEPARATORS = re.compile(r"[\s·•‧・.\-_'’,，/]+")
_DIGITS = re.compile(r"\d+")
_EMPTY_VALUES = frozenset({"", "nan", "none", "null", "-", "--", "n/a", "无", "未知"})
_IDENTIFIER_MASKS = re.compile(r"[*＊×•·#]+")
_IDENTIFIER_NOISE = re.compile(r"[^\w*]|_")
_PHONE_X_MASK = re.compile(r"(?<=\d)[xX×]{2,}(?=\d)")
_PHONE_NOISE = re.compile(r"[^0-9*]")
_MASK_TRANSLATION = str.maketrans(dict.fromkeys(_MASK_CHARACTERS, MASK))

# Two-character surnames, so that "欧阳娜娜" splits as 欧阳 + 娜娜 and not 欧 + 阳娜娜.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "钟离",
        "独孤",
        "南宫",
        "西门",
        "澹台",
        "公冶",
        "宗政",
        "濮阳",
        "淳于",
        "单于",
        "太叔",
        "申屠",
        "闻人",
        "万俟",
        "赫连",
        "呼延",
        "端木",
        "百里",
        "东郭",
        "拓跋",
    ]
)


def clean_text(value: object) -> str:
    """NFKC-fold (full-width → half-width), lower-case, trim and collapse inner whitespace."""
    if value is None:
        return ""
    return _clean_text(value if isinstance(value, str) else str(value))


@lru_cache(maxsize=500_000)
def _clean_text(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().lower()
    if text in _EMPTY_VALUES:
        return ""
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _simplified_table() -> dict[int, str]:
    # Character by character (zhconv's one-character entries): names and addresses need no
    # phrase-level conversion, and str.translate is a hundred times faster than zhconv.convert.
    from zhconv.zhconv import getdict

    return {ord(source): target for source, target in getdict("zh-hans").items() if len(source) == 1}


def to_simplified(text: str) -> str:
    """Fold traditional characters to simplified ones (張偉 → 张伟); other text is unchanged."""
    if not _HAN.search(text):
        return text
    return text.translate(_simplified_table())


def has_han(text: str) -> bool:
    return _HAN.search(text) is not None


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(character for character in decomposed if not unicodedata.combining(character))


def normalize_name(value: object) -> str:
    """A person's name: simplified characters without separators, or lower-case Latin words."""
    return _normalize_name(clean_text(value))


@lru_cache(maxsize=500_000)
def _normalize_name(text: str) -> str:
    if not text:
        return ""
    if has_han(text):
        return _NAME_SEPARATORS.sub("", to_simplified(text))
    return " ".join(_NAME_SEPARATORS.sub(" ", _strip_accents(text)).split())


@lru_cache(maxsize=200_000)
def name_pronunciation(name: str) -> str:
    """How a normalised name sounds, as toneless pinyin letters ("张伟" and "Zhang Wei" → zhangwei).

    Homophone typos (张伟 / 张玮) and names entered in pinyin meet on this key."""
    if not name:
        return ""
    if has_han(name):
        # Character by character, so each character always reads the same way (a heteronym such
        # as 单 gets one reading everywhere: consistency matters here, not the right reading).
        return "".join(map(_character_pinyin, name))
    return "".join(character for character in name if character.isalnum())


@lru_cache(maxsize=50_000)
def _character_pinyin(character: str) -> str:
    if not _HAN.match(character):
        return character
    return "".join(lazy_pinyin(character, style=Style.NORMAL, errors="default")).replace("ü", "v")


def name_pronunciation_reversed(name: str) -> str:
    """A Latin two-word name read the other way round ("wei zhang" → zhangwei); "" otherwise."""
    if not name or has_han(name):
        return ""
    words = name.split()
    if len(words) < 2:
        return ""
    return "".join(reversed(words))


_TITLES = (
    "先生",
    "女士",
    "小姐",
    "太太",
    "夫人",
    "老师",
    "同学",
    "阿姨",
    "叔叔",
    "经理",
    "老板",
    "师傅",
    "总",
    "姐",
    "哥",
)


@lru_cache(maxsize=200_000)
def title_surname(name: str) -> str:
    """The surname of a name that is only a surname and a title (张先生, 欧阳女士 → 张, 欧阳); else ""."""
    if not name or not has_han(name):
        return ""
    for title in _TITLES:
        if name.endswith(title):
            rest = name[: -len(title)]
            if len(rest) == 1 or rest in COMPOUND_SURNAMES:
                return rest
    return ""


def split_chinese_name(name: str) -> tuple[str, str]:
    """(surname, given name) of a normalised Chinese name; ("", name) when it is not Chinese."""
    if not name or not has_han(name) or len(name) < 2:
        return "", name
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]


# ---------------------------------------------------------------------------------------------
# Identifiers: phones, id numbers, platform ids; masked forms such as 138****5678.


@dataclass(frozen=True, slots=True)
class MaskedValue:
    """The visible parts of a masked identifier: what precedes and what follows the mask."""

    prefix: str
    suffix: str


def _squash_masks(text: str) -> str:
    return re.sub(r"\*+", MASK * 4, text)


def normalize_identifier(value: object) -> str:
    """Upper-case alphanumerics; any run of mask characters becomes `****` (one canonical mask)."""
    text = clean_text(value)
    if not text:
        return ""
    normalised = _IDENTIFIER_NOISE.sub("", _IDENTIFIER_MASKS.sub(MASK * 4, text)).upper()
    normalised = _squash_masks(normalised)
    # An "x" only means a mask inside digits (138xxxx5678); elsewhere it is a real letter.
    normalised = re.sub(r"(?<=\d)X{2,}(?=\d)", MASK * 4, normalised)
    return normalised if normalised.strip(MASK) else ""


def normalize_phone(value: object) -> str:
    """Digits of a phone without the country code (+86, 0086); masks kept as `****`.

    "+86 138-1234-5678" → "13812345678"; "138****5678" → "138****5678"; "" when no digits."""
    text = clean_text(value)
    if not text:
        return ""
    return _normalize_phone(text)


@lru_cache(maxsize=200_000)
def _normalize_phone(text: str) -> str:
    text = _PHONE_X_MASK.sub(MASK * 4, text)
    kept = _squash_masks(_PHONE_NOISE.sub("", text.translate(_MASK_TRANSLATION)))
    for country in ("0086", "86"):
        rest = kept[len(country) :]
        if kept.startswith(country) and (len(rest) == 11 or (MASK in rest and rest[:1] == "1")):
            kept = rest
            break
    if not kept.strip(MASK) or sum(character.isdigit() for character in kept) < 4:
        return ""
    return kept


def is_masked(value: str) -> bool:
    return MASK in value


def masked_parts(value: str) -> MaskedValue:
    """The digits before the first mask and after the last mask."""
    first = value.find(MASK)
    last = value.rfind(MASK)
    return MaskedValue(value[:first], value[last + 1 :])


def visible_key(value: str, prefix_length: int = 3, suffix_length: int = 4) -> str:
    """The key a full and a masked identifier share: first digits + last digits.

    Masked values keep what they show; a full value is cut to `prefix_length` + `suffix_length`
    so that "13812345678" and "138****5678" both give "138|5678"."""
    if not value:
        return ""
    if is_masked(value):
        parts = masked_parts(value)
        return f"{parts.prefix}|{parts.suffix}"
    if len(value) <= prefix_length + suffix_length:
        return f"{value}|"
    return f"{value[:prefix_length]}|{value[-suffix_length:]}"


def masked_compatible(masked: str, full: str) -> bool:
    """Whether the full value could be the one hidden behind the masked one."""
    parts = masked_parts(masked)
    if len(parts.prefix) + len(parts.suffix) > len(full):
        return False
    return full.startswith(parts.prefix) and full.endswith(parts.suffix)


def normalize_email(value: object) -> str:
    """Lower-case address without `+tags`; "" when it is not shaped like an email."""
    text = clean_text(value).replace(" ", "")
    if "@" not in text:
        return ""
    local, _, domain = text.rpartition("@")
    local = local.split("+", 1)[0]
    if not local or "." not in domain:
        return ""
    return f"{local}@{domain}"


# ---------------------------------------------------------------------------------------------
# Dates.

_DATE_PARTS = re.compile(r"^(\d{4})\D+(\d{1,2})\D+(\d{1,2})\D*$")


def normalize_date(value: object) -> str:
    """YYYYMMDD from 1990-1-2, 1990/01/02, 1990年1月2日, 19900102; other digit strings as they are.

    Invalid dates (19900231) are kept: a typo in a date is still evidence."""
    text = clean_text(value)
    if not text:
        return ""
    match = _DATE_PARTS.match(text)
    if match:
        year, month, day = match.groups()
        return f"{year}{int(month):02d}{int(day):02d}"
    digits = "".join(_DIGITS.findall(text))
    return digits


# ---------------------------------------------------------------------------------------------
# Chinese addresses.

PROVINCES = [
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
]
MUNICIPALITIES = frozenset({"北京", "天津", "上海", "重庆"})
# Provincial capitals and the largest prefecture-level cities, for addresses that write the city
# without 市 (广东深圳南山区…). Others are learned from the batch (see parse_chinese_address).
MAJOR_CITIES = [
    "石家庄",
    "唐山",
    "保定",
    "太原",
    "呼和浩特",
    "包头",
    "沈阳",
    "大连",
    "长春",
    "吉林",
    "哈尔滨",
    "南京",
    "苏州",
    "无锡",
    "常州",
    "南通",
    "徐州",
    "扬州",
    "杭州",
    "宁波",
    "温州",
    "绍兴",
    "嘉兴",
    "金华",
    "台州",
    "湖州",
    "合肥",
    "芜湖",
    "福州",
    "厦门",
    "泉州",
    "南昌",
    "赣州",
    "济南",
    "青岛",
    "烟台",
    "潍坊",
    "临沂",
    "郑州",
    "洛阳",
    "武汉",
    "宜昌",
    "襄阳",
    "长沙",
    "株洲",
    "广州",
    "深圳",
    "东莞",
    "佛山",
    "珠海",
    "中山",
    "惠州",
    "汕头",
    "江门",
    "湛江",
    "南宁",
    "柳州",
    "桂林",
    "海口",
    "三亚",
    "成都",
    "绵阳",
    "贵阳",
    "遵义",
    "昆明",
    "拉萨",
    "西安",
    "兰州",
    "西宁",
    "银川",
    "乌鲁木齐",
]
_PROVINCE_SUFFIXES = (
    "壮族自治区",
    "回族自治区",
    "维吾尔自治区",
    "特别行政区",
    "自治区",
    "省",
    "市",
)
_CITY_SUFFIXES = ("自治州", "地区", "市", "盟")
_DISTRICT = re.compile(r"^(.{1,7}?(?:新区|开发区|自治县|区|县|旗|市))")
_ADDRESS_NOISE = re.compile(r"[\s,，。.、;；:：()（）\[\]【】\-—_/#]+")
_LATIN_PROVINCES = {
    "beijing": "北京",
    "tianjin": "天津",
    "shanghai": "上海",
    "chongqing": "重庆",
    "guangdong": "广东",
    "zhejiang": "浙江",
    "jiangsu": "江苏",
}


@dataclass(frozen=True, slots=True)
class ChineseAddress:
    """An address cut into administrative levels, each without its suffix (省/市/区/县…)."""

    province: str = ""
    city: str = ""
    district: str = ""
    detail: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.province or self.city or self.district or self.detail)


def _strip_suffix(text: str, suffixes: tuple[str, ...]) -> str:
    # A one-character remainder is kept with its suffix: 沙市, 郊区 are names, not 沙 + 市.
    for suffix in suffixes:
        if text.endswith(suffix) and len(text) - len(suffix) >= 2:
            return text[: -len(suffix)]
    return text


def normalize_province(value: object) -> str:
    """广东省 → 广东, 广西壮族自治区 → 广西, 北京市 → 北京, Guangdong → 广东."""
    text = _ADDRESS_NOISE.sub("", to_simplified(clean_text(value)))
    if not text:
        return ""
    if text in _LATIN_PROVINCES:
        return _LATIN_PROVINCES[text]
    for province in PROVINCES:
        if text.startswith(province):
            return province
    return _strip_suffix(text, _PROVINCE_SUFFIXES)


def normalize_city(value: object) -> str:
    """深圳市 → 深圳, 延边朝鲜族自治州 → 延边朝鲜族, 大兴安岭地区 → 大兴安岭."""
    text = _ADDRESS_NOISE.sub("", to_simplified(clean_text(value)))
    if not text:
        return ""
    return _strip_suffix(text, _CITY_SUFFIXES)


def _strip_leading(text: str, names: tuple[str, ...], suffixes: tuple[str, ...]) -> tuple[str, str]:
    """Remove a leading administrative name (with any of its suffixes) from text."""
    for name in names:
        if name and text.startswith(name):
            rest = text[len(name) :]
            for suffix in suffixes:
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            return name, rest
    return "", text


@lru_cache(maxsize=200_000)
def parse_chinese_address(
    province: str, city: str, address: str, known_cities: frozenset[str] = frozenset()
) -> ChineseAddress:
    """Split an address into province / city / district / detail, folding 省/市/区/县 suffixes.

    The free-text address may repeat the province and city or carry them alone:
    ("广东省", "深圳市", "南山区科技园深南大道10000号") and ("", "", "广东深圳南山区科技园深南大道10000号")
    give the same result. A city written without 市 is recognised when it is a major city or one
    of `known_cities` (e.g. the cities other records of the same batch spell out)."""
    province_name = normalize_province(province)
    city_name = normalize_city(city)
    text = _ADDRESS_NOISE.sub("", to_simplified(clean_text(address)))
    found, text = _strip_leading(text, (province_name, *PROVINCES), _PROVINCE_SUFFIXES)
    province_name = province_name or found
    if province_name in MUNICIPALITIES:
        city_name = city_name or province_name
        # 北京市北京市朝阳区… and 北京市市辖区朝阳区… both occur.
        _, text = _strip_leading(text, (province_name,), ("市",))
        text = text.removeprefix("市辖区").removeprefix("城区")
    if city_name:
        _, text = _strip_leading(text, (city_name,), _CITY_SUFFIXES)
    else:
        match = re.match(r"^(.{2,6}?)(自治州|地区|市|盟)", text)
        if match and "区" not in match.group(1) and "县" not in match.group(1):
            city_name, text = match.group(1), text[match.end() :]
        else:
            for candidate in (*sorted(known_cities, key=len, reverse=True), *MAJOR_CITIES):
                if len(text) > len(candidate) and text.startswith(candidate):
                    city_name, text = candidate, text[len(candidate) :]
                    break
    district = ""
    match = _DISTRICT.match(text)
    if match and len(text) > match.end():
        district = _strip_suffix(match.group(1), ("新区", "自治县", "区", "县", "旗", "市"))
        text = text[match.end() :]
    return ChineseAddress(province_name, city_name, district, text)


def address_detail_key(address: ChineseAddress) -> str:
    """The street part reduced for comparison: 号/号楼/栋/单元/室 spellings folded."""
    detail = address.detail
    for old, new in (("号楼", "栋"), ("幢", "栋"), ("座", "栋"), ("单元", "单"), ("房", "室")):
        detail = detail.replace(old, new)
    return detail


def digits_only(value: object) -> str:
    return "".join(_DIGITS.findall(clean_text(value)))
