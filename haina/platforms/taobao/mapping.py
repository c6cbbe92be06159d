"""Taobao/Tmall raw records → canonical Order and Refund (REFERENCE §3.4, §3.5).

Trades come from trades.sold.get / trades.sold.increment.get / trade.fullinfo.get, refunds from
refunds.receive.get and TMC refund messages. Money is yuan text; `total_fee` is goods only
(price × quantity), so the canonical total adds `post_fee`. Times are "yyyy-MM-dd HH:mm:ss" in
GMT+8. Receivers are masked for most apps; the OAID and `buyer_open_uid` are the identities.
A record that cannot be mapped becomes a BadRecord with the reason; it never stops a page.
"""

from __future__ import annotations

import json
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
    fen_from_yuan,
    mapping,
    phone_identity,
    required_time,
    shanghai_time,
    text,
    whole_number,
)

# (trade status, what the sub-orders' refunds did) → canonical; "" is the status alone. A trade
# closed after payment (TRADE_CLOSED) was refunded in full; closed before, TRADE_CLOSED_BY_TAOBAO.
PARTLY_REFUNDED = "partly_refunded"
ORDER_STATUSES: dict[tuple[str, str], OrderStatus] = {
    ("TRADE_NO_CREATE_PAY", ""): OrderStatus.PENDING_PAYMENT,
    ("WAIT_BUYER_PAY", ""): OrderStatus.PENDING_PAYMENT,
    ("PAY_PENDING", ""): OrderStatus.PENDING_PAYMENT,
    ("WAIT_PRE_AUTH_CONFIRM", ""): OrderStatus.PENDING_PAYMENT,
    ("WAIT_SELLER_SEND_GOODS", ""): OrderStatus.PAID,
    ("PAID_FORBID_CONSIGN", ""): OrderStatus.PAID,
    ("WAIT_SELLER_SEND_GOODS", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("SELLER_CONSIGNED_PART", ""): OrderStatus.SHIPPED,
    ("WAIT_BUYER_CONFIRM_GOODS", ""): OrderStatus.SHIPPED,
    ("TRADE_BUYER_SIGNED", ""): OrderStatus.SHIPPED,
    ("SELLER_CONSIGNED_PART", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("WAIT_BUYER_CONFIRM_GOODS", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("TRADE_BUYER_SIGNED", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("TRADE_FINISHED", ""): OrderStatus.COMPLETED,
    ("TRADE_FINISHED", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("TRADE_CLOSED", ""): OrderStatus.REFUNDED,
    ("TRADE_CLOSED_BY_TAOBAO", ""): OrderStatus.CLOSED,
}
REFUND_STATUSES: dict[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AGREED,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AGREED,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "CLOSED": RefundStatus.CANCELLED,
    "SUCCESS": RefundStatus.COMPLETED,
}
# TMC refund topics → the refund's status after the event (REFERENCE §3.5).
REFUND_TOPICS: dict[str, RefundStatus] = {
    "taobao_refund_RefundCreated": RefundStatus.REQUESTED,
    "taobao_refund_RefundBuyerModifyAgreement": RefundStatus.REQUESTED,
    "taobao_refund_RefundSellerAgreeAgreement": RefundStatus.AGREED,
    "taobao_refund_RefundBuyerReturnGoods": RefundStatus.AGREED,
    "taobao_refund_RefundSellerRefuseAgreement": RefundStatus.REFUSED,
    "taobao_refund_RefundSuccess": RefundStatus.COMPLETED,
    "taobao_refund_RefundClosed": RefundStatus.CANCELLED,
}
REFUNDED_LINE = "SUCCESS"  # a sub-order's refund_status once its refund went through

# The fields the mapping reads, for the `fields` parameter of the trade APIs. Sub-orders are asked
# field by field, with `oid_str` rather than the int64 `oid` (the sandbox's line ids overflow it).
TRADE_FIELDS = (
    "tid,tid_str,status,type,buyer_nick,buyer_open_uid,payment,total_fee,discount_fee,post_fee,"
    "created,modified,pay_time,consign_time,end_time,receiver_name,receiver_state,receiver_city,"
    "receiver_district,receiver_town,receiver_address,receiver_mobile,receiver_phone,oaid,"
    "orders.oid_str,orders.sku_id,orders.num_iid,orders.title,orders.price,orders.num,"
    "orders.refund_status,orders.outer_sku_id"
)
# `oid` is left out: TOP has no `oid_str` for refunds, and the sandbox's int64 line ids overflow.
REFUND_FIELDS = "refund_id,tid,refund_fee,status,reason,created,modified"


def wrapped_list(record: Mapping[str, Any], name: str, item: str) -> list[Mapping[str, Any]]:
    """TOP wraps lists in the singular name: {"orders": {"order": [...]}} (absent: empty)."""
    wrapper = record.get(name)
    if wrapper is None:
        return []
    inner = mapping(wrapper, name).get(item)
    if inner is None:
        return []
    if not isinstance(inner, list):
        raise RecordError(f"{name}.{item} is not a list")
    return [mapping(entry, f"an entry of {name}") for entry in inner]


def identifier(record: Mapping[str, Any], name: str) -> str:
    """An id TOP sends as int64 (and sometimes as `<name>_str` too)."""
    return text(record, f"{name}_str") or text(record, name, required=True)


def order_status(status: str, lines: list[Mapping[str, Any]]) -> OrderStatus:
    refunded = any(text(line, "refund_status") == REFUNDED_LINE for line in lines)
    found = ORDER_STATUSES.get((status, PARTLY_REFUNDED if refunded else "")) or ORDER_STATUSES.get(
        (status, "")
    )
    if found is None:
        raise RecordError(f"unknown trade status {status!r}")
    return found


def map_trade(raw: object, shop_id: str, platform: str = "taobao") -> Order:
    """One Trade → Order; raises RecordError."""
    trade = mapping(raw, "a trade")
    status = text(trade, "status", required=True)
    lines = wrapped_list(trade, "orders", "order")
    goods = fen_from_yuan(trade, "total_fee")
    freight = fen_from_yuan(trade, "post_fee", default=0)
    phone = text(trade, "receiver_mobile") or text(trade, "receiver_phone")
    buyer = []
    open_uid = text(trade, "buyer_open_uid")
    if open_uid:
        buyer.append(BuyerIdentity(platform, IdentityKind.OPEN_UID.value, open_uid, shop_id=shop_id))
    oaid = text(trade, "oaid")
    if oaid:
        buyer.append(BuyerIdentity(platform, IdentityKind.OAID.value, oaid, shop_id=shop_id))
    return Order(
        platform=platform,
        shop_id=shop_id,
        external_id=identifier(trade, "tid"),
        status=order_status(status, lines),
        platform_status=status,
        total_fen=goods + freight,
        discount_fen=fen_from_yuan(trade, "discount_fee", default=0),
        freight_fen=freight,
        paid_fen=fen_from_yuan(trade, "payment"),
        created_at=required_time(shanghai_time(trade, "created"), "created"),
        modified_at=required_time(shanghai_time(trade, "modified"), "modified"),
        buyer=buyer + phone_identity(platform, phone, shop_id),
        buyer_nick=text(trade, "buyer_nick"),
        receiver_name=text(trade, "receiver_name"),
        receiver_phone=phone,
        receiver_address=Address(
            province=text(trade, "receiver_state"),
            city=text(trade, "receiver_city"),
            district=text(trade, "receiver_district"),
            street=" ".join(
                part for part in (text(trade, "receiver_town"), text(trade, "receiver_address")) if part
            ),
        ),
        paid_at=shanghai_time(trade, "pay_time"),
        shipped_at=shanghai_time(trade, "consign_time"),
        finished_at=shanghai_time(trade, "end_time"),
        lines=[order_line(line) for line in lines],
    )


def order_line(line: Mapping[str, Any]) -> OrderLine:
    quantity = whole_number(line, "num")
    if quantity <= 0:
        raise RecordError(f"num of sub-order {text(line, 'oid')!r} is {quantity}")
    return OrderLine(
        external_id=identifier(line, "oid"),
        sku_id=text(line, "sku_id") or text(line, "num_iid"),
        title=text(line, "title"),
        quantity=quantity,
        unit_price_fen=fen_from_yuan(line, "price"),
        outer_sku=text(line, "outer_sku_id"),
    )


def map_refund(raw: object, shop_id: str, platform: str = "taobao") -> Refund:
    """A refunds.receive.get entry → Refund; raises RecordError."""
    refund = mapping(raw, "a refund")
    status = text(refund, "status", required=True)
    canonical = REFUND_STATUSES.get(status)
    if canonical is None:
        raise RecordError(f"unknown refund status {status!r}")
    modified = required_time(shanghai_time(refund, "modified"), "modified")
    return Refund(
        platform=platform,
        shop_id=shop_id,
        external_id=identifier(refund, "refund_id"),
        order_external_id=identifier(refund, "tid"),
        amount_fen=fen_from_yuan(refund, "refund_fee"),
        status=canonical,
        reason=text(refund, "reason"),
        created_at=shanghai_time(refund, "created") or modified,
        modified_at=modified,
        order_line_external_id=text(refund, "oid"),
    )


def map_trades(raws: Iterable[object], shop_id: str, platform: str) -> tuple[list[Order], list[BadRecord]]:
    orders: list[Order] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            orders.append(map_trade(raw, shop_id, platform))
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "tid"))
    return orders, bad


def map_refunds(raws: Iterable[object], shop_id: str, platform: str) -> tuple[list[Refund], list[BadRecord]]:
    refunds: list[Refund] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            refunds.append(map_refund(raw, shop_id, platform))
        except RecordError as error:
            bad.append(bad_record(raw, error.reason, "refund_id"))
    return refunds, bad


# -- TMC messages ------------------------------------------------------------------------------


def message_content(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """A TMC message's `content`, which is JSON text; raises RecordError."""
    content = message.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except (ValueError, RecursionError):
            raise RecordError("content is not JSON text")
    return mapping(content, "content")


def map_refund_message(message: Mapping[str, Any], shop_id: str, platform: str = "taobao") -> Refund:
    """A taobao_refund_* message → Refund (status from the topic); raises RecordError. The message
    carries the time of the change only, which stands in for the creation time."""
    topic = text(message, "topic", required=True)
    status = REFUND_TOPICS.get(topic)
    if status is None:
        raise RecordError(f"TMC topic {topic!r} is not a refund topic")
    content = message_content(message)
    modified = required_time(shanghai_time(content, "modified"), "modified")
    return Refund(
        platform=platform,
        shop_id=shop_id,
        external_id=identifier(content, "refund_id"),
        order_external_id=identifier(content, "tid"),
        amount_fen=fen_from_yuan(content, "refund_fee"),
        status=status,
        reason="",
        created_at=modified,
        modified_at=modified,
        order_line_external_id=text(content, "oid"),
    )
