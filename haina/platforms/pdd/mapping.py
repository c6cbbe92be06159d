"""Pinduoduo order records (`pdd.order.list.get`, `pdd.order.number.list.increment.get`) →
canonical orders. Pure functions, no I/O.

Money is yuan numbers (read as Decimal by the client, so 199.90 stays exact), times are GMT+8 text.
Receiver name, phone and address come encrypted (`~…~~`, opened only by `pdd.open.decrypt.batch`)
with masked copies beside them (REFERENCE §4.3): the masked copies are kept and flagged, the
ciphertext is never taken for a phone. A record that cannot be mapped becomes a `BadRecord`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from haina.platforms.base import BadRecord
from haina.platforms.canonical import Address, Order, OrderLine, OrderStatus
from haina.platforms.reading import (
    RecordError,
    bad_record,
    fen_from_yuan,
    line_id_by_sku,
    mapping,
    objects,
    phone_identity,
    required_time,
    shanghai_time,
    text,
    whole_number,
)

PLATFORM = "pdd"

# The one status table: (order_status, refund_status) → canonical status. order_status: 1 待发货,
# 2 已发货待签收, 3 已签收; refund_status: 1 无售后或售后关闭, 2 售后处理中, 3 退款中, 4 退款成功.
# The order list does not say how much was refunded, so 退款成功 is taken as a full refund
# (a partial one is corrected by the refund records). Pairs not listed are unmappable.
ORDER_STATUSES: dict[tuple[int, int], OrderStatus] = {
    (1, 1): OrderStatus.PAID,
    (1, 2): OrderStatus.PAID,
    (1, 3): OrderStatus.PAID,
    (1, 4): OrderStatus.REFUNDED,
    (2, 1): OrderStatus.SHIPPED,
    (2, 2): OrderStatus.SHIPPED,
    (2, 3): OrderStatus.SHIPPED,
    (2, 4): OrderStatus.REFUNDED,
    (3, 1): OrderStatus.COMPLETED,
    (3, 2): OrderStatus.COMPLETED,
    (3, 3): OrderStatus.COMPLETED,
    (3, 4): OrderStatus.REFUNDED,
}


def map_orders(raws: Iterable[object], shop_id: str) -> tuple[list[Order], list[BadRecord]]:
    """Each raw order mapped, or kept as a BadRecord with the reason."""
    orders: list[Order] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            orders.append(map_order(raw, shop_id))
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "order_sn"))
        except (LookupError, TypeError, ValueError, ArithmeticError) as error:
            bad.append(bad_record(raw, f"unexpected shape: {error!r}", "order_sn"))
    return orders, bad


def map_order(raw: object, shop_id: str) -> Order:
    record = mapping(raw, "the order")
    order_status = whole_number(record, "order_status")
    refund_status = whole_number(record, "refund_status", default=1)
    status = ORDER_STATUSES.get((order_status, refund_status))
    if status is None:
        raise RecordError(f"unknown order_status/refund_status {order_status}/{refund_status}")
    goods_fen = fen_from_yuan(record, "goods_amount")
    freight_fen = fen_from_yuan(record, "postage", default=0)
    created_at = required_time(shanghai_time(record, "created_time"), "created_time")
    phone = plain_or_masked(record, "receiver_phone")
    return Order(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=text(record, "order_sn", required=True),
        status=status.value,
        platform_status=f"{order_status}/{refund_status}",
        total_fen=goods_fen + freight_fen,
        discount_fen=fen_from_yuan(record, "discount_amount", default=0),
        freight_fen=freight_fen,
        paid_fen=fen_from_yuan(record, "pay_amount"),
        created_at=created_at,
        modified_at=shanghai_time(record, "updated_at") or created_at,
        buyer=phone_identity(PLATFORM, phone, shop_id),
        receiver_name=plain_or_masked(record, "receiver_name"),
        receiver_phone=phone,
        receiver_address=Address(
            province=text(record, "province"),
            city=text(record, "city"),
            district=text(record, "town"),
            street=plain_or_masked(record, "address", masked_name="receiver_address_mask"),
        ),
        paid_at=shanghai_time(record, "pay_time") or shanghai_time(record, "confirm_time"),
        shipped_at=shanghai_time(record, "shipping_time"),
        finished_at=shanghai_time(record, "receive_time"),
        lines=lines(record),
    )


def is_ciphertext(value: str) -> bool:
    """PDD ciphertext is framed by tildes ('~…~~'); the exact framing is UNCONFIRMED (§7.5)."""
    return value.startswith("~") and value.endswith("~")


def plain_or_masked(record: Mapping[str, Any], name: str, *, masked_name: str = "") -> str:
    """The masked copy (`<name>_mask`) when there is one, else the value unless it is ciphertext."""
    masked = text(record, masked_name or f"{name}_mask")
    if masked:
        return masked
    value = text(record, name)
    return "" if is_ciphertext(value) else value


def lines(record: Mapping[str, Any]) -> list[OrderLine]:
    """PDD lines have no id of their own: the SKU id names the line (suffixed when repeated)."""
    result: list[OrderLine] = []
    seen: dict[str, int] = {}
    for item in objects(record, "item_list"):
        sku_id = text(item, "sku_id", required=True)
        result.append(
            OrderLine(
                external_id=line_id_by_sku(sku_id, seen),
                sku_id=sku_id,
                title=text(item, "goods_name"),
                quantity=whole_number(item, "goods_count"),
                unit_price_fen=fen_from_yuan(item, "goods_price"),
                outer_sku=text(item, "outer_id"),
            )
        )
    return result
