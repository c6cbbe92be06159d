"""Taobao has no HTTP push: messages come through TMC, which Haina polls as the `tmc` stream
(haina.platforms.taobao.sync). A request to a Taobao webhook URL is therefore refused.

`parse` reads one stored TMC message (as `taobao.tmc.messages.consume` gives it), for a spine
that keeps raw messages in its inbox: a refund message is a Refund; a trade message names a trade
to fetch and carries no record of its own.
"""

from __future__ import annotations

import json

from haina.platforms.base import WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.reading import RecordError, mapping, text
from haina.platforms.taobao.mapping import map_refund_message


def receive() -> WebhookAnswer:
    raise WebhookRejected(
        "Taobao does not push over HTTP; its messages are read from TMC (the tmc stream)", 404
    )


def parse(payload: bytes, shop_id: str, platform: str) -> list[CanonicalRecord]:
    """Records carried by one stored TMC message; raises RecordError for a malformed one."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        raise RecordError("the message is not JSON")
    message = mapping(document, "the TMC message")
    topic = text(message, "topic", required=True)
    if topic.startswith("taobao_refund_"):
        return [map_refund_message(message, shop_id, platform)]
    if topic.startswith("taobao_trade_"):
        return []
    raise RecordError(f"TMC topic {topic!r} is not handled")
