"""Normalisation and single comparisons: names, phones, identifiers, addresses, dates, emails."""

from __future__ import annotations

import numpy as np
import pytest

from haina.customers.matching import normalize as nz
from haina.customers.matching.comparisons import (
    ChineseAddressComparison,
    DateComparison,
    EmailComparison,
    IdentifierComparison,
    NameComparison,
    TextComparison,
    shared_vocabulary,
)


def levels(comparison, pairs: list[tuple[object, object]]) -> list[str | None]:
    """Level names of (left value, right value) pairs for a one-field comparison."""
    field = comparison.fields[0]
    records = [{field: value} for pair in pairs for value in pair]
    with shared_vocabulary():
        features = comparison.features(records)
    left = {key: column[0::2] for key, column in features.items()}
    right = {key: column[1::2] for key, column in features.items()}
    return [None if level < 0 else comparison.level_names[level] for level in comparison.compare(left, right)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("張偉", "张伟"),
        ("歐陽娜娜", "欧阳娜娜"),
        ("张 伟", "张伟"),
        ("阿卜杜·热合曼", "阿卜杜热合曼"),
        ("  Mary  Smith ", "mary smith"),
    ],
)
def test_names_fold_to_simplified_characters_without_separators(raw: str, expected: str) -> None:
    assert nz.normalize_name(raw) == expected


def test_pinyin_meets_characters_and_latin_spelling() -> None:
    assert nz.name_pronunciation(nz.normalize_name("張偉")) == "zhangwei"
    assert nz.name_pronunciation(nz.normalize_name("张玮")) == "zhangwei"
    assert nz.name_pronunciation(nz.normalize_name("Zhang Wei")) == "zhangwei"
    assert nz.name_pronunciation_reversed(nz.normalize_name("Wei Zhang")) == "zhangwei"
    assert nz.split_chinese_name("欧阳娜娜") == ("欧阳", "娜娜")
    assert nz.split_chinese_name("张伟") == ("张", "伟")
    assert nz.title_surname("张先生") == "张"
    assert nz.title_surname("欧阳女士") == "欧阳"
    assert nz.title_surname("张伟") == ""


def test_name_levels() -> None:
    comparison = NameComparison(name="name")
    assert levels(
        comparison,
        [
            ("張偉", "张伟"),
            ("张伟", "张玮"),
            ("张伟", "Wei Zhang"),
            ("张伟明", "张伟民"),
            ("张伟", "张强"),
            ("张先生", "张伟"),
            ("jonathan", "johnathan"),
            ("张伟", ""),
        ],
    ) == [
        "exact",
        "same_pronunciation",
        "same_pronunciation",
        "one_edit",
        "different",  # same surname, other given name: a household, not a typo
        "title_with_surname",
        "one_edit",
        None,
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+86 138-1234-5678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("138****5678", "138****5678"),
        ("138 **** 5678", "138****5678"),
        ("138xxxx5678", "138****5678"),
        ("138＊＊＊＊5678", "138****5678"),
        ("", ""),
        ("12", ""),
    ],
)
def test_phone_normalisation(raw: str, expected: str) -> None:
    assert nz.normalize_phone(raw) == expected


def test_masked_phone_fits_a_full_phone_with_the_same_visible_digits() -> None:
    assert nz.masked_compatible("138****5678", "13812345678")
    assert not nz.masked_compatible("138****5678", "13912345678")
    assert not nz.masked_compatible("138****5678", "13812345679")
    assert nz.visible_key("13812345678") == nz.visible_key("138****5678") == "138|5678"


def test_phone_levels_with_masks() -> None:
    comparison = IdentifierComparison(name="phone", kind="phone")
    assert levels(
        comparison,
        [
            ("13812345678", "+86 138 1234 5678"),
            ("13812345678", "13812345679"),
            ("138****5678", "13812345678"),
            ("138****5678", "138****5678"),
            ("138****5678", "13912345678"),
            ("13812345678", "15987654321"),
            ("", "13812345678"),
        ],
    ) == ["exact", "one_edit", "masked_fits_full", "same_masked", "different", "different", None]
    assert comparison.agrees("138****5678", "13812345678")
    assert not comparison.agrees("13812345678", "15987654321")


def test_identifier_masks_of_another_shape_block_with_full_values() -> None:
    comparison = IdentifierComparison(name="id")
    records = [{"id": "6988048"}, {"id": "69***48"}, {"id": "1234567"}]
    features = comparison.features(records)
    # Full values are cut the way this data masks (2 + 2), so a full and a masked id share a key.
    assert features["pattern_code"][0] == features["pattern_code"][1] != features["pattern_code"][2]


@pytest.mark.parametrize(
    ("province", "city", "address", "expected"),
    [
        (
            "广东省",
            "深圳市",
            "南山区科技园深南大道10000号",
            ("广东", "深圳", "南山", "科技园深南大道10000号"),
        ),
        (
            "",
            "",
            "广东省深圳市南山区科技园深南大道１００００号",
            ("广东", "深圳", "南山", "科技园深南大道10000号"),
        ),
        ("", "", "广东深圳南山区科技园深南大道10000号", ("广东", "深圳", "南山", "科技园深南大道10000号")),
        ("廣東省", "深圳市", "南山區深南大道10000號", ("广东", "深圳", "南山", "深南大道10000号")),
        ("北京市", "北京市", "朝阳区建国路88号", ("北京", "北京", "朝阳", "建国路88号")),
        ("", "", "北京市朝阳区建国路88号", ("北京", "北京", "朝阳", "建国路88号")),
        ("上海", "", "浦东新区世纪大道100号", ("上海", "上海", "浦东", "世纪大道100号")),
        ("新疆维吾尔自治区", "乌鲁木齐市", "天山区人民路1号", ("新疆", "乌鲁木齐", "天山", "人民路1号")),
        ("江苏", "", "苏州市吴中区木渎镇", ("江苏", "苏州", "吴中", "木渎镇")),
    ],
)
def test_address_is_cut_into_levels_without_suffixes(
    province: str, city: str, address: str, expected: tuple[str, str, str, str]
) -> None:
    parsed = nz.parse_chinese_address(nz.clean_text(province), nz.clean_text(city), nz.clean_text(address))
    assert (parsed.province, parsed.city, parsed.district, parsed.detail) == expected


def test_address_levels() -> None:
    comparison = ChineseAddressComparison(name="address")
    base = {"province": "广东省", "city": "深圳市", "address": "南山区深南大道100号3栋201室"}
    others = [
        {"province": "", "city": "", "address": "广东深圳南山区深南大道１００号3幢201室"},
        {"province": "广东", "city": "深圳", "address": "南山区深南大道100号3栋202室"},
        {"province": "广东", "city": "深圳", "address": "南山区蛇口工业路8号"},
        {"province": "广东", "city": "深圳", "address": "福田区福华路1号"},
        {"province": "广东", "city": "广州", "address": "天河区体育西路1号"},
        {"province": "浙江", "city": "杭州", "address": "西湖区文三路1号"},
        {"province": "", "city": "", "address": ""},
    ]
    records = [record for other in others for record in (base, other)]
    with shared_vocabulary():
        features = comparison.features(records)
    left = {key: column[0::2] for key, column in features.items()}
    right = {key: column[1::2] for key, column in features.items()}
    found = [
        None if level < 0 else comparison.level_names[level] for level in comparison.compare(left, right)
    ]
    assert found == [
        "same_address",
        "similar_address",
        "same_district",
        "same_city",
        "same_province",
        "different",
        None,
    ]


@pytest.mark.parametrize("raw", ["1990-1-2", "1990/01/02", "1990年1月2日", "19900102", "1990.1.2"])
def test_dates_normalise_to_one_form(raw: str) -> None:
    assert nz.normalize_date(raw) == "19900102"


def test_date_levels() -> None:
    assert levels(
        DateComparison(name="date"),
        [
            ("1990-01-02", "19900102"),
            ("19900102", "19900103"),
            ("19900102", "19900201"),
            ("19900102", "19901130"),
            ("19900102", "19851130"),
        ],
    ) == ["exact", "one_edit", "day_month_swapped", "same_year", "different"]


def test_email_normalisation_and_levels() -> None:
    assert nz.normalize_email(" Foo.Bar+shop@QQ.com ") == "foo.bar@qq.com"
    assert nz.normalize_email("not an email") == ""
    assert levels(
        EmailComparison(name="email"),
        [("a123@qq.com", "A123@qq.com"), ("a123@qq.com", "a123@163.com"), ("a123@qq.com", "zz@qq.com")],
    ) == ["exact", "same_local_part", "different"]


def test_text_levels_ignore_spaces_when_asked() -> None:
    comparison = TextComparison(name="street", ignore_spaces=True, thresholds=(0.92, 0.8))
    assert levels(
        comparison,
        [
            ("lubuma place", "lubumaplace"),
            ("lubuma place", "lubuma plcae"),
            ("merewether", "merewhether"),
            ("abc", "xyz"),
        ],
    ) == ["exact", "one_edit", "one_edit", "different"]


def test_codes_are_shared_across_fields_inside_one_vocabulary() -> None:
    given = NameComparison(name="given_name")
    surname = NameComparison(name="surname", fields=("surname",))
    records = [
        {"given_name": "mikhayla", "surname": "hannagan"},
        {"given_name": "hannagan", "surname": "mikhayla"},
    ]
    with shared_vocabulary():
        given_features, surname_features = given.features(records), surname.features(records)
    assert given_features["code"][0] == surname_features["code"][1]
    assert np.all(given_features["code"] >= 0)
