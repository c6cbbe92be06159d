"""Douyin shop orders and after-sale pushes → canonical records: fen, statuses, masked PII."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.platforms.canonical import IdentityKind, OrderStatus, RefundStatus
from haina.platforms.douyin.mapping import ORDER_STATUSES, map_order, map_orders, map_refund
from haina.platforms.reading import RecordError

SHOP_ID = "dy_flagship"
CREATED = 1714525260  # 2024-05-01 01:01:00 UTC
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def region(province: str, city: str, town: str) -> dict[str, Any]:
    return {
        name: {"name": value, "id": ""}
        for name, value in (("province", province), ("city", city), ("town", town))
    }


def make_raw(**changes: Any) -> dict[str, Any]:
    """A shop order in the shape of REFERENCE §6.3 (as the sandbox serves it)."""
    raw: dict[str, Any] = {
        "order_id": "6900000000010",
        "order_status": 2,
        "create_time": CREATED,
        "update_time": CREATED + 600,
        "pay_time": CREATED + 20,
        "ship_time": 0,
        "finish_time": 0,
        "order_amount": 31470,
        "pay_amount": 28469,
        "post_amount": 600,
        "promotion_amount": 3001,
        "doudian_open_id": "dy-open-id",
        "encrypt_post_tel": "$c2VhbGVk$",
        "mask_post_tel": "137****5678",
        "mask_post_receiver": "赵*",
        "mask_post_addr": {**region("广东省", "深圳市", "南山区"), "detail": "科技****"},
        "sku_order_list": [
            {
                "order_id": "6900000000011",
                "sku_id": 3001,
                "product_name": "面霜",
                "item_num": 1,
                "origin_amount": 15900,
                "code": "",
            },
            {
                "order_id": "6900000000012",
                "sku_id": 3002,
                "product_name": "洁面乳",
                "item_num": 3,
                "origin_amount": 14970,
                "code": "CLEAN-1",
            },
        ],
    }
    raw.update(changes)
    return raw


def test_documented_order_maps_with_fen_as_given_and_masked_identities() -> None:
    order = map_order(make_raw(), SHOP_ID)
    assert (order.external_id, order.platform, order.status) == ("6900000000010", "douyin", OrderStatus.PAID)
    assert (order.total_fen, order.discount_fen, order.freight_fen, order.paid_fen) == (
        31470,
        3001,
        600,
        28469,
    )
    assert order.created_at == datetime(2024, 5, 1, 1, 1, tzinfo=UTC)
    assert order.modified_at == datetime(2024, 5, 1, 1, 11, tzinfo=UTC)
    assert (order.shipped_at, order.finished_at) == (None, None)
    assert (order.receiver_phone, order.receiver_name) == ("137****5678", "赵*")
    assert (order.receiver_address.province, order.receiver_address.street) == ("广东省", "科技****")
    kinds = {identity.kind: identity for identity in order.buyer}
    assert kinds[IdentityKind.PHONE].is_masked and kinds[IdentityKind.BUYER_ID].value == "dy-open-id"
    assert [
        (line.external_id, line.quantity, line.unit_price_fen, line.outer_sku) for line in order.lines
    ] == [
        ("6900000000011", 1, 15900, ""),
        ("6900000000012", 3, 4990, "CLEAN-1"),
    ]


def test_every_status_code_maps_and_unknown_codes_are_bad_records() -> None:
    for code, status in ORDER_STATUSES.items():
        assert map_order(make_raw(order_status=code), SHOP_ID).status == status.value
    orders, [bad] = map_orders([make_raw(order_status=77)], SHOP_ID)
    assert orders == [] and "77" in bad.reason and bad.object_id == "6900000000010"


def test_malformed_records_are_bad_records_with_reasons() -> None:
    cases = {
        "create_time": make_raw(create_time=0),
        "pay_amount": make_raw(pay_amount="28.469"),
        "item_num": make_raw(sku_order_list=[{"order_id": "1", "item_num": 0, "origin_amount": 1}]),
        "update_time": make_raw(update_time=-5),
        "mask_post_addr": make_raw(mask_post_addr="广东省深圳市"),
    }
    orders, bad = map_orders(cases.values(), SHOP_ID)
    assert orders == []
    for expected, record in zip(cases, bad, strict=True):
        assert expected in record.reason


def test_after_sale_push_data_maps_to_a_refund() -> None:
    data = {
        "aftersale_id": "R1",
        "p_id": "6900000000010",
        "s_id": "6900000000012",
        "refund_amount": 1500,
        "reason": "质量问题",
        "apply_time": CREATED,
        "update_time": CREATED + 60,
    }
    refund = map_refund("206", data, SHOP_ID)
    assert (refund.external_id, refund.order_external_id, refund.order_line_external_id) == (
        "R1",
        "6900000000010",
        "6900000000012",
    )
    assert (refund.amount_fen, refund.status, refund.reason) == (1500, RefundStatus.COMPLETED, "质量问题")
    assert map_refund("200", {**data, "s_id": data["p_id"]}, SHOP_ID).order_line_external_id == ""
    with pytest.raises(RecordError, match="not an after-sale tag"):
        map_refund("100", data, SHOP_ID)


@settings(max_examples=150, deadline=None)
@given(st.lists(JSON_VALUES, max_size=4))
def test_arbitrary_json_never_raises(raws: list[Any]) -> None:
    orders, bad = map_orders(raws, SHOP_ID)
    assert len(orders) + len(bad) == len(raws)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(make_raw())), JSON_VALUES)
def test_any_field_replaced_by_any_value_never_raises(name: str, value: Any) -> None:
    orders, bad = map_orders([make_raw(**{name: value})], SHOP_ID)
    assert len(orders) + len(bad) == 1
    assert all(record.reason for record in bad)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["200", "201", "204", "206", "100", ""]), JSON_VALUES)
def test_arbitrary_after_sale_data_raises_only_record_errors(tag: str, data: Any) -> None:
    try:
        map_refund(tag, data, SHOP_ID)
    except RecordError as error:
        assert error.reason
