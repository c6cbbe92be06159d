"""Douyin 抖店 pushes (REFERENCE §6.4): a POSTed JSON array of messages
`[{"tag": "...", "msg_id": "...", "data": "<JSON text>"}]` with headers `app-id` and
`event-sign` = md5(app_key + raw body + app_secret).

`receive` verifies the signature and splits the body into one inbox item per message, keyed by
its `msg_id` so a redelivery is stored once; `parse` turns a stored item into canonical records.
A body that is signed but not the documented shape is kept whole, and `parse` reports it as a
bad record (a `RecordError`), so nothing a platform sent is lost unseen.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from haina.platforms.base import PushItem, WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.douyin.mapping import REFUND_TAGS, map_refund
from haina.platforms.douyin.signing import verify_event
from haina.platforms.reading import RecordError, mapping, text

# The documented answer; its exact form is UNCONFIRMED (REFERENCE §7.7).
ACKNOWLEDGEMENT = b'{"code":0,"msg":"success"}'
# Tag "0" is the verification ping sent when the push URL is configured (UNCONFIRMED).
VERIFICATION_TAG = "0"
# Order tags (100 订单创建, 101 支付, 102 发货, 103 完成, 106 取消…) carry ids and times but no
# amounts or lines, so they add no record: the orders stream lists the order itself.
ORDER_TAG_PREFIX = "1"


def receive(
    app_key: str, app_secret: str, method: str, headers: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """Verify one push and answer it; raises WebhookRejected when it is not from our app."""
    if method.upper() != "POST":
        raise WebhookRejected("Douyin pushes are POST requests", 405)
    lowered = {name.lower(): value for name, value in headers.items()}
    given = lowered.get("event-sign", "")
    if not given:
        raise WebhookRejected("the event-sign header is missing", 401)
    sender = lowered.get("app-id", "")
    if sender and sender != app_key:
        raise WebhookRejected(f"app-id {sender!r} is not this connection's app", 403)
    # compare_digest refuses non-ASCII text; such a header is simply not our signature.
    if not given.isascii() or not verify_event(app_key, body, app_secret, given):
        raise WebhookRejected("event-sign does not match the body: check the app secret", 401)
    return WebhookAnswer(200, ACKNOWLEDGEMENT, "application/json", push_items(body))


def push_items(body: bytes) -> list[PushItem]:
    try:
        messages = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        messages = None
    if not isinstance(messages, list) or not all(isinstance(message, dict) for message in messages):
        return [PushItem(dedupe_key="body:" + hashlib.sha256(body).hexdigest(), payload=body)]
    items = []
    for message in messages:
        if str(message.get("tag", "")) == VERIFICATION_TAG:
            continue
        payload = json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        message_id = message.get("msg_id")
        if isinstance(message_id, (str, int)) and not isinstance(message_id, bool) and str(message_id):
            key = f"message:{message_id}"
        else:
            key = "body:" + hashlib.sha256(payload).hexdigest()
        items.append(PushItem(dedupe_key=key, payload=payload, object_id=object_id(message)))
    return items


def message_data(message: Mapping[str, Any]) -> Any:
    """A message's `data`: JSON text per the SDK, accepted as an object too."""
    data = message.get("data")
    if isinstance(data, (str, bytes)):
        try:
            return json.loads(data)
        except (ValueError, RecursionError):
            raise RecordError("data is not JSON text")
    return data


def object_id(message: Mapping[str, Any]) -> str:
    try:
        data = mapping(message_data(message), "data")
        return text(data, "aftersale_id") or text(data, "p_id")
    except RecordError:
        return ""


def parse(payload: bytes, shop_id: str) -> list[CanonicalRecord]:
    """Records carried by one stored push message; raises RecordError for a malformed one."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        raise RecordError("the push is not JSON")
    message = mapping(document, "the push message")
    tag = text(message, "tag", required=True)
    data = message_data(message)
    if tag in REFUND_TAGS:
        pushed_shop = text(mapping(data, "data"), "shop_id")
        if shop_id and pushed_shop and pushed_shop != shop_id:
            raise RecordError(f"the push is for shop {pushed_shop!r}, this connection is {shop_id!r}")
        return [map_refund(tag, data, shop_id)]
    if tag.startswith(ORDER_TAG_PREFIX) and len(tag) == 3:
        return []
    raise RecordError(f"push tag {tag!r} is not handled")


def streams_to_pull(payload: bytes) -> list[str]:
    """The streams to pull now for one stored push: an order push names a changed order but
    carries no amounts or lines, so the orders stream must fetch it (empty for anything else,
    and for a payload that does not read: `parse` says why)."""
    try:
        message = mapping(json.loads(payload), "the push message")
        tag = text(message, "tag")
    except (ValueError, RecursionError):
        return []
    return ["orders"] if tag.startswith(ORDER_TAG_PREFIX) and len(tag) == 3 else []
