"""Douyin 抖店 (Doudian open platform) connector: signed gateway calls, the orders stream by update
time, and pushes verified by their `event-sign` header (REFERENCE §6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Connector, Credentials, Endpoint, Stream, WebhookAnswer
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.douyin import webhooks
from haina.platforms.douyin.client import DouyinClient
from haina.platforms.douyin.sync import ORDERS


class DouyinConnector:
    platform = "douyin"
    streams: Mapping[str, Stream] = {"orders": ORDERS}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> DouyinClient:
        """`options` (retry, sleep, transport) reach haina.platforms.http.PlatformHttp."""
        return DouyinClient(credentials, endpoint, limiter=limiter, **options)

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        """Verify a push's event-sign and answer it: one inbox item per message."""
        return webhooks.receive(credentials.app_key, credentials.app_secret, method, headers, body)

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        """Records in one stored message; raises haina.platforms.reading.RecordError (a
        ValueError with `reason`) for a malformed one, to be kept as a bad record."""
        return webhooks.parse(payload, credentials.shop_id)

    def streams_to_pull(self, credentials: Credentials, payload: bytes) -> list[str]:
        """Streams the spine should sync at once because of this push (optional connector
        method): Douyin order pushes name the order without its amounts."""
        return webhooks.streams_to_pull(payload)


connector: Connector = DouyinConnector()
