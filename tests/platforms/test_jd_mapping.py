"""JD order records → canonical orders: amounts, statuses, times, masked PII, bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from haina.platforms.canonical import IdentityKind, OrderStatus
from haina.platforms.jd.mapping import ORDER_STATUSES, map_order, map_orders

SHOP_ID = "jd_flagship"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def make_raw(**changes: Any) -> dict[str, Any]:
    """An order in the shape of REFERENCE §5.2 (as the sandbox serves it)."""
    raw: dict[str, Any] = {
        "orderId": "230000000000",
        "venderId": SHOP_ID,
        "orderTotalPrice": "219.80",
        "orderSellerPrice": "209.80",
        "orderPayment": "209.80",
        "freightPrice": "6.00",
        "sellerDiscount": "16.00",
        "orderState": "WAIT_SELLER_STOCK_OUT",
        "orderStartTime": "2021-05-07 09:00:00",
        "orderEndTime": "",
        "modified": "2021-05-07 09:10:00",
        "paymentConfirmTime": "2021-05-07 09:00:10",
        "consigneeInfo": {
            "fullname": "李*",
            "mobile": "139****5678",
            "telephone": "139****5678",
            "province": "北京",
            "city": "北京市",
            "county": "朝阳区",
            "fullAddress": "北京北京市朝阳区建国****",
        },
        "itemInfoList": [
            {
                "skuId": "100001",
                "skuName": "空气净化器",
                "outerSkuId": "AIR-1",
                "jdPrice": "199.90",
                "itemTotal": "1",
            },
            {"skuId": "100002", "skuName": "滤网", "outerSkuId": "", "jdPrice": "9.95", "itemTotal": "2"},
        ],
        "open_id_buyer": "buyer-open-id",
    }
    raw.update(changes)
    return raw


def test_documented_order_maps_to_fen_utc_and_masked_identities() -> None:
    order = map_order(make_raw(), SHOP_ID)
    assert (order.external_id, order.shop_id, order.platform) == ("230000000000", SHOP_ID, "jd")
    assert (order.total_fen, order.discount_fen, order.freight_fen, order.paid_fen) == (
        22580,
        1600,
        600,
        20980,
    )
    assert order.status == OrderStatus.PAID and order.platform_status == "WAIT_SELLER_STOCK_OUT"
    assert order.created_at == datetime(2021, 5, 7, 1, 0, tzinfo=UTC)
    assert order.modified_at == datetime(2021, 5, 7, 1, 10, tzinfo=UTC)
    assert order.paid_at == datetime(2021, 5, 7, 1, 0, 10, tzinfo=UTC) and order.finished_at is None
    assert order.receiver_phone == "139****5678" and order.receiver_name == "李*"
    assert (order.receiver_address.district, order.receiver_address.street) == ("朝阳区", "建国****")
    phone = next(identity for identity in order.buyer if identity.kind == IdentityKind.PHONE)
    assert phone.is_masked and phone.value == "139****5678"
    buyer = next(identity for identity in order.buyer if identity.kind == IdentityKind.BUYER_ID)
    assert buyer.value == "buyer-open-id" and not buyer.is_masked
    assert [(line.sku_id, line.quantity, line.unit_price_fen) for line in order.lines] == [
        ("100001", 1, 19990),
        ("100002", 2, 995),
    ]


def test_every_listed_state_maps_and_the_rest_are_bad_records() -> None:
    for state, status in ORDER_STATUSES.items():
        assert map_order(make_raw(orderState=state), SHOP_ID).status == status.value
    orders, bad = map_orders([make_raw(orderState="NEW_STATE_2030"), make_raw()], SHOP_ID)
    assert len(orders) == 1
    [record] = bad
    assert "NEW_STATE_2030" in record.reason and record.object_id == "230000000000"
    assert json.loads(record.raw)["orderState"] == "NEW_STATE_2030"


def test_amounts_are_read_from_exact_decimal_text() -> None:
    order = map_order(make_raw(orderPayment="0.29", orderTotalPrice=Decimal("1999.99")), SHOP_ID)
    assert (order.paid_fen, order.total_fen) == (29, 199999 + 600)
    without_discount = make_raw(orderTotalPrice="100.00", freightPrice="0.00", orderPayment="90.00")
    del without_discount["sellerDiscount"]
    assert map_order(without_discount, SHOP_ID).discount_fen == 1000


def test_repeated_skus_get_distinct_line_ids() -> None:
    item = {"skuId": "7", "skuName": "x", "jdPrice": "1.00", "itemTotal": "1"}
    order = map_order(make_raw(itemInfoList=[item, item]), SHOP_ID)
    assert [line.external_id for line in order.lines] == ["7", "7#2"]


def test_missing_or_malformed_fields_are_bad_records_with_reasons() -> None:
    cases = {
        "orderStartTime": make_raw(orderStartTime=""),
        "orderPayment": make_raw(orderPayment="九十九"),
        "itemTotal": make_raw(itemInfoList=[{"skuId": "1", "jdPrice": "1.00", "itemTotal": "many"}]),
        "consigneeInfo": make_raw(consigneeInfo=["not", "an", "object"]),
        "not an object": "just text",
    }
    orders, bad = map_orders(cases.values(), SHOP_ID)
    assert orders == []
    for expected, record in zip(cases, bad, strict=True):
        assert expected in record.reason


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
