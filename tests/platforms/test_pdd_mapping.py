"""Pinduoduo order records → canonical orders: amounts, statuses, times, masked PII, bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from haina.platforms.canonical import IdentityKind, OrderStatus
from haina.platforms.pdd.mapping import ORDER_STATUSES, map_order, map_orders

SHOP_ID = "pdd_store"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def make_raw(**changes: Any) -> dict[str, Any]:
    """An order in the shape of REFERENCE §4.3, amounts as the client parses them (Decimal)."""
    raw: dict[str, Any] = {
        "order_sn": "200101-123456789012345",
        "order_status": 1,
        "refund_status": 1,
        "created_time": "2020-01-01 10:00:00",
        "confirm_time": "2020-01-01 10:00:05",
        "updated_at": "2020-01-01 10:30:00",
        "pay_time": "2020-01-01 10:00:05",
        "shipping_time": "",
        "receive_time": "",
        "receiver_name": "~c2VhbGVkbmFtZQ==~~",
        "receiver_phone": "~c2VhbGVkcGhvbmU=~~",
        "address": "~c2VhbGVkYWRkcg==~~",
        "receiver_name_mask": "王**",
        "receiver_phone_mask": "138****5678",
        "receiver_address_mask": "文三****",
        "province": "浙江省",
        "city": "杭州市",
        "town": "西湖区",
        "pay_amount": Decimal("32.90"),
        "goods_amount": Decimal("35.90"),
        "discount_amount": Decimal("5.00"),
        "postage": Decimal("2.00"),
        "item_list": [
            {
                "goods_id": 1,
                "sku_id": 11,
                "outer_id": "MG-500",
                "goods_name": "芒果干",
                "goods_price": Decimal("17.95"),
                "goods_count": 2,
            },
        ],
    }
    raw.update(changes)
    return raw


def test_documented_order_maps_to_fen_utc_and_masked_identities() -> None:
    order = map_order(make_raw(), SHOP_ID)
    assert (order.external_id, order.platform) == ("200101-123456789012345", "pdd")
    assert (order.total_fen, order.discount_fen, order.freight_fen, order.paid_fen) == (3790, 500, 200, 3290)
    assert order.status == OrderStatus.PAID and order.platform_status == "1/1"
    assert order.created_at == datetime(2020, 1, 1, 2, 0, tzinfo=UTC)
    assert order.modified_at == datetime(2020, 1, 1, 2, 30, tzinfo=UTC)
    assert order.paid_at == datetime(2020, 1, 1, 2, 0, 5, tzinfo=UTC)
    assert (order.shipped_at, order.finished_at) == (None, None)
    assert (order.receiver_name, order.receiver_phone) == ("王**", "138****5678")
    assert order.receiver_address.street == "文三****" and order.receiver_address.district == "西湖区"
    [phone] = order.buyer
    assert (phone.kind, phone.value, phone.is_masked) == (IdentityKind.PHONE, "138****5678", True)
    [line] = order.lines
    assert (line.external_id, line.sku_id, line.quantity, line.unit_price_fen, line.outer_sku) == (
        "11",
        "11",
        2,
        1795,
        "MG-500",
    )


def test_ciphertext_is_never_taken_for_a_phone_and_plain_text_is_kept() -> None:
    no_masks = make_raw(receiver_phone_mask="", receiver_name_mask="", receiver_address_mask="")
    order = map_order(no_masks, SHOP_ID)
    assert (order.receiver_phone, order.receiver_name, order.buyer) == ("", "", [])
    plain = map_order(make_raw(receiver_phone_mask="", receiver_phone="13812345678"), SHOP_ID)
    assert plain.receiver_phone == "13812345678" and not plain.buyer[0].is_masked


def test_status_table_covers_both_codes_and_unknown_pairs_are_bad_records() -> None:
    for (order_status, refund_status), status in ORDER_STATUSES.items():
        mapped = map_order(make_raw(order_status=order_status, refund_status=refund_status), SHOP_ID)
        assert mapped.status == status.value
    assert map_order(make_raw(order_status=3, refund_status=1), SHOP_ID).status == OrderStatus.COMPLETED
    assert map_order(make_raw(order_status=1, refund_status=4), SHOP_ID).status == OrderStatus.REFUNDED
    orders, [bad] = map_orders([make_raw(order_status=9)], SHOP_ID)
    assert orders == [] and "9/1" in bad.reason and bad.object_id == "200101-123456789012345"


def test_amounts_stay_exact_whether_decimal_text_or_float() -> None:
    assert map_order(make_raw(pay_amount="0.29"), SHOP_ID).paid_fen == 29
    assert map_order(make_raw(pay_amount=Decimal("199.90")), SHOP_ID).paid_fen == 19990
    # 0.29 * 100 == 28.999999999999996 in float arithmetic; the text is what counts.
    assert map_order(make_raw(pay_amount=0.29), SHOP_ID).paid_fen == 29


def test_malformed_records_are_bad_records_with_reasons() -> None:
    cases = {
        "created_time": make_raw(created_time="2020/01/01"),
        "goods_amount": make_raw(goods_amount=None),
        "pay_amount": make_raw(pay_amount="-1.00"),
        "item_list": make_raw(item_list={"sku_id": 1}),
        "order_status": make_raw(order_status="shipped"),
    }
    orders, bad = map_orders(cases.values(), SHOP_ID)
    assert orders == []
    for expected, record in zip(cases, bad, strict=True):
        assert expected in record.reason
        assert json.loads(record.raw)["order_sn"] == "200101-123456789012345"


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
