"""JD `jingdong.pop.order.search` records → canonical orders. Pure functions, no I/O.

Money is yuan text ('99.00'), times are 'yyyy-MM-dd HH:mm:ss' in GMT+8, consignee PII comes
masked (decrypting it needs JD's TDE SDK, REFERENCE §5.2), so the receiver phone is kept masked
and flagged as such. A record that cannot be mapped becomes a `BadRecord` with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from haina.platforms.base import BadRecord
from haina.platforms.canonical import Address, BuyerIdentity, IdentityKind, Order, OrderLine, OrderStatus
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

PLATFORM = "jd"

# The one status table: JD `orderState` → canonical status (REFERENCE §5.2, SDK enum). A state
# not listed here is unmappable and becomes a BadRecord, never a guess. The sync asks for
# exactly these states, so a new JD state shows up as missing orders only if JD filters by it.
ORDER_STATUSES: dict[str, OrderStatus] = {
    "WAIT_SELLER_STOCK_OUT": OrderStatus.PAID,  # 等待出库
    "WAIT_SELLER_DELIVERY": OrderStatus.PAID,  # 等待发货 (海外购 only)
    "PAUSE": OrderStatus.PAID,  # 暂停
    "POP_ORDER_PAUSE": OrderStatus.PAID,  # pop 业务暂停
    "LOCKED": OrderStatus.PAID,  # 已锁定 (a cancellation under review)
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,  # 等待确认收货
    "FINISHED_L": OrderStatus.COMPLETED,  # 完成
    "TRADE_CANCELED": OrderStatus.CLOSED,  # 取消
}


def map_orders(raws: Iterable[object], shop_id: str) -> tuple[list[Order], list[BadRecord]]:
    """Each raw order mapped, or kept as a BadRecord with the reason."""
    orders: list[Order] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            orders.append(map_order(raw, shop_id))
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "orderId"))
        except (LookupError, TypeError, ValueError, ArithmeticError) as error:
            bad.append(bad_record(raw, f"unexpected shape: {error!r}", "orderId"))
    return orders, bad


def map_order(raw: object, shop_id: str) -> Order:
    record = mapping(raw, "the order")
    state = text(record, "orderState", required=True)
    status = ORDER_STATUSES.get(state)
    if status is None:
        raise RecordError(f"unknown orderState {state!r}")
    goods_fen = fen_from_yuan(record, "orderTotalPrice")
    freight_fen = fen_from_yuan(record, "freightPrice", default=0)
    paid_fen = fen_from_yuan(record, "orderPayment")
    total_fen = goods_fen + freight_fen
    # sellerDiscount is not in every optional_fields answer; what was not paid was discounted.
    discount_fen = fen_from_yuan(record, "sellerDiscount", default=max(total_fen - paid_fen, 0))
    created_at = required_time(shanghai_time(record, "orderStartTime"), "orderStartTime")
    consignee = mapping(record.get("consigneeInfo") or {}, "consigneeInfo")
    phone = text(consignee, "mobile") or text(consignee, "telephone")
    return Order(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=text(record, "orderId", required=True),
        status=status.value,
        platform_status=state,
        total_fen=total_fen,
        discount_fen=discount_fen,
        freight_fen=freight_fen,
        paid_fen=paid_fen,
        created_at=created_at,
        modified_at=shanghai_time(record, "modified") or created_at,
        buyer=buyer_identities(record, phone, shop_id),
        receiver_name=text(consignee, "fullname"),
        receiver_phone=phone,
        receiver_address=address(consignee),
        paid_at=shanghai_time(record, "paymentConfirmTime"),
        finished_at=shanghai_time(record, "orderEndTime"),
        lines=lines(record),
    )


def buyer_identities(record: Mapping[str, Any], phone: str, shop_id: str) -> list[BuyerIdentity]:
    identities = []
    open_id = text(record, "open_id_buyer")
    if open_id:
        identities.append(BuyerIdentity(PLATFORM, IdentityKind.BUYER_ID.value, open_id, shop_id=shop_id))
    return identities + phone_identity(PLATFORM, phone, shop_id)


def address(consignee: Mapping[str, Any]) -> Address:
    """JD gives the region parts and a fullAddress that repeats them before the (masked) street."""
    province, city, county = text(consignee, "province"), text(consignee, "city"), text(consignee, "county")
    street = text(consignee, "fullAddress")
    for part in (province, city, county):
        if part and street.startswith(part):
            street = street[len(part) :]
    return Address(province=province, city=city, district=county, street=street)


def lines(record: Mapping[str, Any]) -> list[OrderLine]:
    """JD lines have no id of their own: the SKU id names the line (suffixed when repeated)."""
    result: list[OrderLine] = []
    seen: dict[str, int] = {}
    for item in objects(record, "itemInfoList"):
        sku_id = text(item, "skuId", required=True)
        result.append(
            OrderLine(
                external_id=line_id_by_sku(sku_id, seen),
                sku_id=sku_id,
                title=text(item, "skuName"),
                quantity=whole_number(item, "itemTotal"),
                unit_price_fen=fen_from_yuan(item, "jdPrice"),
                outer_sku=text(item, "outerSkuId"),
            )
        )
    return result
