"""Douyin 抖店 records (`order.searchList` shop orders, after-sale pushes) → canonical orders and
refunds. Pure functions, no I/O.

Money is already integer fen, times are unix seconds. Receiver PII comes encrypted (`encrypt_*`,
opened only by `order.batchDecrypt`) with masked copies (`mask_*`, REFERENCE §6.3): the masked
copies are kept and flagged. A record that cannot be mapped becomes a `BadRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from haina.platforms.base import BadRecord
from haina.platforms.canonical import (
    Address,
    BuyerIdentity,
    IdentityKind,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundStatus,
)
from haina.platforms.reading import (
    RecordError,
    bad_record,
    fen,
    mapping,
    objects,
    phone_identity,
    required_time,
    text,
    unix_time,
    whole_number,
)

PLATFORM = "douyin"

# The one status table: Douyin `order_status` → canonical status (REFERENCE §6.3: 1 待支付,
# 105 已支付, 2 备货中, 101 部分发货, 3 已发货, 4 已取消, 5 已完成). Codes not listed are
# unmappable and become BadRecords.
ORDER_STATUSES: dict[int, OrderStatus] = {
    1: OrderStatus.PENDING_PAYMENT,
    105: OrderStatus.PAID,
    2: OrderStatus.PAID,
    101: OrderStatus.SHIPPED,
    3: OrderStatus.SHIPPED,
    4: OrderStatus.CLOSED,
    5: OrderStatus.COMPLETED,
}

# After-sale push tags → refund status. Tag numbers are UNCONFIRMED (REFERENCE §6.4, §7.7);
# these are the ones the sandbox sends. Order tags (1xx) carry no amounts: see webhooks.py.
REFUND_TAGS: dict[str, RefundStatus] = {
    "200": RefundStatus.REQUESTED,  # 买家发起售后申请
    "201": RefundStatus.AGREED,  # 同意售后申请
    "204": RefundStatus.REFUSED,  # 拒绝售后申请
    "206": RefundStatus.COMPLETED,  # 退款成功
}


def map_orders(raws: Iterable[object], shop_id: str) -> tuple[list[Order], list[BadRecord]]:
    """Each raw shop order mapped, or kept as a BadRecord with the reason."""
    orders: list[Order] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            orders.append(map_order(raw, shop_id))
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "order_id"))
        except (LookupError, TypeError, ValueError, ArithmeticError) as error:
            bad.append(bad_record(raw, f"unexpected shape: {error!r}", "order_id"))
    return orders, bad


def map_order(raw: object, shop_id: str) -> Order:
    record = mapping(raw, "the order")
    code = whole_number(record, "order_status")
    status = ORDER_STATUSES.get(code)
    if status is None:
        raise RecordError(f"unknown order_status {code}")
    created_at = required_time(unix_time(record, "create_time"), "create_time")
    phone = text(record, "mask_post_tel")
    return Order(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=text(record, "order_id", required=True),
        status=status.value,
        platform_status=str(code),
        total_fen=fen(record, "order_amount"),
        discount_fen=fen(record, "promotion_amount", default=0),
        freight_fen=fen(record, "post_amount", default=0),
        paid_fen=fen(record, "pay_amount"),
        created_at=created_at,
        modified_at=unix_time(record, "update_time") or created_at,
        buyer=buyer_identities(record, phone, shop_id),
        receiver_name=text(record, "mask_post_receiver"),
        receiver_phone=phone,
        receiver_address=address(record),
        paid_at=unix_time(record, "pay_time"),
        shipped_at=unix_time(record, "ship_time"),
        finished_at=unix_time(record, "finish_time"),
        lines=lines(record),
    )


def buyer_identities(record: Mapping[str, Any], phone: str, shop_id: str) -> list[BuyerIdentity]:
    identities = []
    open_id = text(record, "doudian_open_id")
    if open_id:
        identities.append(BuyerIdentity(PLATFORM, IdentityKind.BUYER_ID.value, open_id, shop_id=shop_id))
    return identities + phone_identity(PLATFORM, phone, shop_id)


def region_name(region: Mapping[str, Any], name: str) -> str:
    """A region part, given as {"name": …, "id": …} (or, defensively, as plain text)."""
    value = region.get(name)
    if isinstance(value, Mapping):
        return text(value, "name")
    return text(region, name)


def address(record: Mapping[str, Any]) -> Address:
    region = mapping(record.get("mask_post_addr") or record.get("post_addr") or {}, "mask_post_addr")
    return Address(
        province=region_name(region, "province"),
        city=region_name(region, "city"),
        district=region_name(region, "town"),
        street=(region_name(region, "street") + text(region, "detail")),
    )


def lines(record: Mapping[str, Any]) -> list[OrderLine]:
    """Each SKU order is a line with its own id; `origin_amount` is the line's total in fen."""
    result: list[OrderLine] = []
    for item in objects(record, "sku_order_list"):
        quantity = whole_number(item, "item_num")
        if quantity <= 0:
            raise RecordError(f"item_num of line {text(item, 'order_id')!r} is {quantity}")
        result.append(
            OrderLine(
                external_id=text(item, "order_id", required=True),
                sku_id=text(item, "sku_id"),
                title=text(item, "product_name"),
                quantity=quantity,
                # Douyin gives the line total; a unit price that does not divide is rounded down.
                unit_price_fen=fen(item, "origin_amount") // quantity,
                outer_sku=text(item, "code"),
            )
        )
    return result


def map_refund(tag: str, data: object, shop_id: str) -> Refund:
    """An after-sale push message (its tag and decoded `data`) as a canonical refund."""
    status = REFUND_TAGS.get(tag)
    if status is None:
        raise RecordError(f"tag {tag!r} is not an after-sale tag")
    record = mapping(data, "the after-sale data")
    created_at = required_time(unix_time(record, "apply_time"), "apply_time")
    order_id = text(record, "p_id", required=True)
    line_id = text(record, "s_id")
    return Refund(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=text(record, "aftersale_id", required=True),
        order_external_id=order_id,
        amount_fen=fen(record, "refund_amount"),
        status=status.value,
        reason=text(record, "reason"),
        created_at=created_at,
        modified_at=unix_time(record, "update_time") or created_at,
        # s_id equal to p_id means the whole order, not one line.
        order_line_external_id="" if line_id == order_id else line_id,
    )
