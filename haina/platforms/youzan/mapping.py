"""Youzan raw trades → canonical Order and Refund (REFERENCE §2.3, §2.5).

A `full_order_info_list` item (also `youzan.trade.get`'s data and a trade push's `msg`) gives an
Order and the Refunds in its `refund_order`. Money is yuan text, times "yyyy-MM-dd HH:mm:ss" in
GMT+8; PII fields may be `$…$version$` ciphertext, opened with the `decrypt` the caller gives.
An item that cannot be mapped becomes a BadRecord with the reason; it never stops a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from haina.platforms.base import BadRecord
from haina.platforms.canonical import (
    Address,
    BuyerIdentity,
    CanonicalRecord,
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
    objects,
    phone_identity,
    required_time,
    shanghai_time,
    text,
    whole_number,
)
from haina.platforms.youzan import signing

PLATFORM = "youzan"

# (status, what the refunds did) → canonical. `refund_state`: 0 none, 1 partly refunding,
# 2 partly refunded, 11 fully refunding, 12 fully refunded; a refund still in progress changes
# nothing. A key with "" is the status alone.
PARTLY_REFUNDED, FULLY_REFUNDED = "partly_refunded", "fully_refunded"
REFUND_STATES = {2: PARTLY_REFUNDED, 12: FULLY_REFUNDED}
ORDER_STATUSES: dict[tuple[str, str], OrderStatus] = {
    ("TRADE_NO_CREATE_PAY", ""): OrderStatus.PENDING_PAYMENT,
    ("WAIT_CONFIRM", ""): OrderStatus.PENDING_PAYMENT,
    ("WAIT_BUYER_PAY", ""): OrderStatus.PENDING_PAYMENT,
    ("TRADE_PAID", ""): OrderStatus.PAID,
    ("WAIT_SELLER_SEND_GOODS", ""): OrderStatus.PAID,
    ("WAIT_SELLER_SEND_GOODS", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("WAIT_BUYER_CONFIRM_GOODS", ""): OrderStatus.SHIPPED,
    ("WAIT_BUYER_CONFIRM_GOODS", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("TRADE_SUCCESS", ""): OrderStatus.COMPLETED,
    ("TRADE_SUCCESS", PARTLY_REFUNDED): OrderStatus.PARTIALLY_REFUNDED,
    ("TRADE_CLOSED", ""): OrderStatus.CLOSED,
    ("TRADE_CLOSED", FULLY_REFUNDED): OrderStatus.REFUNDED,
    ("TRADE_REFUND", ""): OrderStatus.REFUNDED,
}
# Refund statuses (UNCONFIRMED beyond the trade_refund_ prefix, REFERENCE §2.5).
REFUND_STATUSES: dict[str, RefundStatus] = {
    "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
    "WAIT_BUYER_RETURN_GOODS": RefundStatus.AGREED,
    "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.AGREED,
    "SELLER_REFUSE_BUYER": RefundStatus.REFUSED,
    "SELLER_REFUSE_BUYER_RETURN_GOODS": RefundStatus.REFUSED,
    "SUCCESS": RefundStatus.COMPLETED,
    "CLOSED": RefundStatus.CANCELLED,
}

Decrypt = Callable[[str], str]


def keep(value: str) -> str:
    return value


def without_ciphertext(value: str) -> str:
    """For a caller with no keys (a push parsed offline): a `$…$version$` field is unknown."""
    return "" if signing.is_encrypted(value) else value


def order_status(status: str, refund_state: int) -> OrderStatus:
    outcome = REFUND_STATES.get(refund_state, "")
    found = ORDER_STATUSES.get((status, outcome)) or ORDER_STATUSES.get((status, ""))
    if found is None:
        raise RecordError(f"unknown trade status {status!r} (refund_state {refund_state})")
    return found


def plain(record: Mapping[str, Any], name: str, decrypt: Decrypt) -> str:
    value = text(record, name)
    try:
        return decrypt(value)
    except ValueError as error:
        raise RecordError(f"{name} cannot be decrypted: {error}")


def map_trade(raw: object, shop_id: str, decrypt: Decrypt = keep) -> list[CanonicalRecord]:
    """One trade item → [Order, *Refunds]; raises RecordError."""
    item = mapping(raw, "a trade")
    full = mapping(item.get("full_order_info"), "full_order_info")
    info = mapping(full.get("order_info"), "order_info")
    pay = mapping(full.get("pay_info"), "pay_info")
    buyer = mapping(full.get("buyer_info") or {}, "buyer_info")
    address = mapping(full.get("address_info") or {}, "address_info")
    tid = text(info, "tid", required=True)
    status = text(info, "status", required=True)
    total = fen_from_yuan(pay, "total_fee")
    paid = fen_from_yuan(pay, "payment")
    phone = plain(address, "receiver_tel", decrypt)
    order = Order(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=tid,
        status=order_status(status, whole_number(info, "refund_state", default=0)),
        platform_status=status,
        total_fen=total,
        discount_fen=max(total - paid, 0),
        freight_fen=fen_from_yuan(pay, "post_fee", default=0),
        paid_fen=paid,
        created_at=required_time(shanghai_time(info, "created"), "created"),
        modified_at=required_time(shanghai_time(info, "update_time"), "update_time"),
        buyer=buyer_identities(buyer, shop_id, decrypt),
        buyer_nick=text(buyer, "fans_nickname"),
        receiver_name=plain(address, "receiver_name", decrypt),
        receiver_phone=phone,
        receiver_address=Address(
            province=text(address, "delivery_province"),
            city=text(address, "delivery_city"),
            district=text(address, "delivery_district"),
            street=plain(address, "delivery_address", decrypt),
        ),
        paid_at=shanghai_time(info, "pay_time"),
        shipped_at=shanghai_time(info, "consign_time"),
        finished_at=shanghai_time(info, "success_time"),
        lines=[order_line(line) for line in objects(full, "orders")],
        coupon_ids=coupon_ids(item),
    )
    refunds = [map_refund(refund, tid, shop_id) for refund in objects(item, "refund_order")]
    return [order, *refunds]


def buyer_identities(buyer: Mapping[str, Any], shop_id: str, decrypt: Decrypt) -> list[BuyerIdentity]:
    identities = []
    open_id = text(buyer, "yz_open_id")
    if open_id:
        identities.append(BuyerIdentity(PLATFORM, IdentityKind.BUYER_ID.value, open_id, shop_id=shop_id))
    fans_id = whole_number(buyer, "fans_id", default=0)
    if fans_id:
        identities.append(BuyerIdentity(PLATFORM, IdentityKind.FANS_ID.value, str(fans_id), shop_id=shop_id))
    union_id = text(buyer, "outer_user_id")
    if union_id:
        identities.append(BuyerIdentity(PLATFORM, IdentityKind.UNIONID.value, union_id))
    return identities + phone_identity(PLATFORM, plain(buyer, "buyer_phone", decrypt), shop_id)


def order_line(line: Mapping[str, Any]) -> OrderLine:
    quantity = whole_number(line, "num")
    if quantity <= 0:
        raise RecordError(f"num of line {text(line, 'oid')!r} is {quantity}")
    return OrderLine(
        external_id=text(line, "oid", required=True),
        sku_id=text(line, "sku_id") or text(line, "item_id"),
        title=text(line, "title"),
        quantity=quantity,
        unit_price_fen=fen_from_yuan(line, "price"),
        outer_sku=text(line, "outer_sku_id"),
    )


def coupon_ids(item: Mapping[str, Any]) -> list[str]:
    promotion = item.get("order_promotion")
    if not isinstance(promotion, Mapping):
        return []
    return [
        text(entry, "promotion_id")
        for entry in objects(promotion, "order")
        if text(entry, "promotion_type") == "coupon" and text(entry, "promotion_id")
    ]


def map_refund(raw: object, tid: str, shop_id: str, status: str = "") -> Refund:
    """A `refund_order` entry, or a refund push's msg (whose status is the envelope's)."""
    refund = mapping(raw, "a refund")
    status = status or text(refund, "status", required=True)
    canonical = REFUND_STATUSES.get(status)
    if canonical is None:
        raise RecordError(f"unknown refund status {status!r}")
    modified = shanghai_time(refund, "modified") or shanghai_time(refund, "update_time")
    modified = required_time(modified, "modified")
    return Refund(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=text(refund, "refund_id", required=True),
        order_external_id=text(refund, "tid") or tid,
        amount_fen=fen_from_yuan(refund, "refund_fee"),
        status=canonical,
        reason=text(refund, "refund_reason"),
        # A push carries the time of the change only; the refunds of the trade carry both.
        created_at=shanghai_time(refund, "created") or modified,
        modified_at=modified,
        order_line_external_id=text(refund, "oid"),
    )


def map_trades(
    raws: Iterable[object], shop_id: str, decrypt: Decrypt
) -> tuple[list[CanonicalRecord], list[BadRecord]]:
    records: list[CanonicalRecord] = []
    bad: list[BadRecord] = []
    for raw in raws:
        try:
            records += map_trade(raw, shop_id, decrypt)
        except RecordError as error:
            bad.append(bad_trade(raw, error.reason))
    return records, bad


def bad_trade(raw: object, reason: str) -> BadRecord:
    record = bad_record(raw, reason, "")
    try:
        info = mapping(mapping(mapping(raw, "").get("full_order_info"), "").get("order_info"), "")
        record.object_id = text(info, "tid")
    except RecordError:
        pass
    return record
