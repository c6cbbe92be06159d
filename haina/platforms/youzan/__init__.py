"""Youzan (有赞云) connector: silent-grant token, the orders stream (trades with their refunds) by
update time, and pushes signed in the body or the Event-Sign header (REFERENCE §2).

Credentials: `app_key` is the client id, `app_secret` the client secret, `shop_id` the grant id
(kdt_id). The push signatures and PII field cipher (`signing`) are shared with the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Credentials, Endpoint, Stream, WebhookAnswer
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.youzan import webhooks
from haina.platforms.youzan.client import YouzanClient
from haina.platforms.youzan.sync import ORDERS


class YouzanConnector:
    platform = "youzan"
    streams: Mapping[str, Stream] = {"orders": ORDERS}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> YouzanClient:
        """`options` (retry, sleep, transport, breaker…) reach haina.platforms.http.PlatformHttp."""
        return YouzanClient(credentials, endpoint, limiter=limiter, **options)

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        """Verify a push's sign (body or Event-Sign header) and answer it: one inbox item."""
        return webhooks.receive(credentials, method, headers, body)

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        """Records in one stored push; raises haina.platforms.reading.RecordError (a ValueError
        with `reason`) for a malformed one, to be kept as a bad record."""
        return webhooks.parse(payload, credentials.shop_id)


connector = YouzanConnector()
