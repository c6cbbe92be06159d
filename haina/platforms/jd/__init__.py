"""JD JOS (京东宙斯) connector: signed `routerjson` calls, the orders stream by modified time, and
no pushes (JD's were not researched, REFERENCE §5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Connector, Credentials, Endpoint, Stream, WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.jd.client import JdClient
from haina.platforms.jd.sync import ORDERS


class JdConnector:
    platform = "jd"
    streams: Mapping[str, Stream] = {"orders": ORDERS}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> JdClient:
        """`options` (retry, sleep, transport) reach haina.platforms.http.PlatformHttp."""
        return JdClient(credentials, endpoint, limiter=limiter, **options)

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        raise WebhookRejected("no push for this platform", 404)

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        raise WebhookRejected("no push for this platform", 404)


connector: Connector = JdConnector()
