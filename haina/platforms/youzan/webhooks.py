"""Youzan pushes (REFERENCE §2.5): a POSTed JSON envelope signed either in the body
(`sign = md5(client_id + msg + client_secret)`, `msg` URL-encoded) or, for newer apps, in the
`Event-Sign` header (`md5(client_id + raw body + client_secret)`, `msg` plain JSON text). Both
are accepted, since which apps get which style is UNCONFIRMED.

`receive` answers `{"code":0,"msg":"success"}` and keeps the envelope as one inbox item, keyed by
`msg_id` (or type + id + version) so a redelivery is stored once; heartbeats (`test: true`) are
answered and not stored. A body whose Event-Sign verifies but which is not a JSON object is kept
whole too (keyed by its digest). `parse` turns a stored envelope into canonical records; a
malformed one raises RecordError, so it ends in the dead-letter list with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Credentials, PushItem, WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.reading import RecordError, mapping, text, url_decoded
from haina.platforms.youzan import signing
from haina.platforms.youzan.mapping import Decrypt, map_refund, map_trade, without_ciphertext

ACKNOWLEDGEMENT = b'{"code":0,"msg":"success"}'
# Trade messages whose msg is the whole trade; TradeClose carries only tid, close_type and a time,
# so it adds no record (the orders stream lists the closed trade).
FULL_TRADE_TYPES = frozenset(
    {
        "trade_TradeCreate",
        "trade_TradePaid",
        "trade_TradeBuyerPay",
        "trade_TradeSellerShip",
        "trade_TradePartlySellerShip",
        "trade_TradeSuccess",
        "trade_TradeMemoModified",
    }
)
REFUND_TYPE_PREFIX = "trade_refund_"


def is_signature(value: object) -> bool:
    """An md5 hex digest: anything else cannot match, and would trip the constant-time compare."""
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdefABCDEF" for c in value)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookRejected("the push is not JSON, so its signature cannot be checked", 400)
    if not isinstance(document, dict):
        raise WebhookRejected("the push is not a JSON object", 400)
    return document


def receive(credentials: Credentials, method: str, headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
    """Verify one push and answer it; raises WebhookRejected when it is not from our app."""
    if method.upper() != "POST":
        raise WebhookRejected("Youzan pushes are POST requests", 405)
    lowered = {name.lower(): value for name, value in headers.items()}
    event_sign = lowered.get("event-sign", "")
    if event_sign:
        if not is_signature(event_sign):
            raise WebhookRejected("Event-Sign is not an md5 hex digest", 401)
        if not signing.verify_event_sign(body, event_sign, credentials.app_key, credentials.app_secret):
            raise WebhookRejected("Event-Sign does not match the body: check the client secret", 401)
        try:
            body.decode("utf-8")
            envelope = _envelope(body)
        except (UnicodeDecodeError, WebhookRejected):
            # Signed by our app, yet not a JSON object: kept whole, so `parse` fails it into the
            # dead-letter list with the reason instead of it being lost with a 400.
            return WebhookAnswer(200, ACKNOWLEDGEMENT, "application/json", [unreadable_item(body)])
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookRejected("the push is not UTF-8 text", 400)
        envelope = _envelope(body)
        if not is_signature(envelope.get("sign")) or not signing.verify_push_sign(
            envelope, credentials.app_secret
        ):
            raise WebhookRejected("sign does not match the message: check the client secret", 401)
    sender = str(envelope.get("client_id") or lowered.get("client-id") or "")
    if sender != credentials.app_key:
        raise WebhookRejected(f"client_id {sender!r} is not this connection's app", 403)
    if envelope.get("test") is True:
        return WebhookAnswer(200, ACKNOWLEDGEMENT, "application/json")
    return WebhookAnswer(200, ACKNOWLEDGEMENT, "application/json", [push_item(envelope, body)])


def unreadable_item(body: bytes) -> PushItem:
    """A signed body that is not an envelope, keyed by its digest (a redelivery is the same bytes)."""
    return PushItem(f"youzan:body:{hashlib.sha256(body).hexdigest()}", body)


def push_item(envelope: Mapping[str, Any], body: bytes) -> PushItem:
    object_id = str(envelope.get("id") or "")
    message_id = envelope.get("msg_id")
    if isinstance(message_id, str) and message_id:
        key = f"youzan:message:{message_id}"
    else:
        key = f"youzan:{envelope.get('kdt_id')}:{envelope.get('type')}:{object_id}:{envelope.get('version')}"
    return PushItem(key, body, object_id)


def message(envelope: Mapping[str, Any]) -> Any:
    """The envelope's `msg`: plain JSON text (header style) or URL-encoded JSON (body style)."""
    raw = envelope.get("msg")
    if isinstance(raw, (dict, list)):
        return raw
    if not isinstance(raw, str) or not raw:
        raise RecordError("the push has no msg")
    for candidate in (raw, url_decoded(raw)):
        try:
            return json.loads(candidate)
        except (ValueError, RecursionError):
            continue
    raise RecordError("msg is neither JSON nor URL-encoded JSON")


def parse(payload: bytes, shop_id: str, decrypt: Decrypt = without_ciphertext) -> list[CanonicalRecord]:
    """Records carried by one stored push; raises RecordError for a malformed one. Without the
    shop's field keys, encrypted PII comes out empty (unknown); the orders stream fills it."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        raise RecordError("the push is not JSON")
    envelope = mapping(document, "the push")
    kind = text(envelope, "type", required=True)
    pushed_shop = text(envelope, "kdt_id")
    # Credentials may name the shop by kdt_id or by the id Haina gave it; only a kdt_id can clash.
    if shop_id.isdigit() and pushed_shop and shop_id not in (pushed_shop, text(envelope, "root_kdt_id")):
        raise RecordError(f"the push is for shop {pushed_shop!r}, this connection is {shop_id!r}")
    if kind in FULL_TRADE_TYPES:
        return map_trade(message(envelope), shop_id, decrypt)
    if kind.startswith(REFUND_TYPE_PREFIX):
        body = mapping(message(envelope), "msg")
        return [map_refund(body, text(body, "tid"), shop_id, text(envelope, "status", required=True))]
    if kind == "trade_TradeClose" or kind.startswith("trade_"):
        return []
    if kind in ("SCRM_CUSTOMER_EVENT", "ITEM_INFO", "COUPON_PROMOTION", "POINTS"):
        return []
    raise RecordError(f"push type {kind!r} is not handled")
