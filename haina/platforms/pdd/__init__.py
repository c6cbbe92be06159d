"""Pinduoduo (拼多多开放平台) connector: signed `/api/router` calls and the orders stream. No
pushes: Pinduoduo sends messages only through its Java SDK's WebSocket (REFERENCE §4.5), so the
stream polls the increment API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Connector, Credentials, Endpoint, Stream, WebhookAnswer, WebhookRejected
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.pdd.client import PddClient
from haina.platforms.pdd.sync import ORDERS


class PddConnector:
    platform = "pdd"
    streams: Mapping[str, Stream] = {"orders": ORDERS}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> PddClient:
        """`options` (retry, sleep, transport) reach haina.platforms.http.PlatformHttp."""
        return PddClient(credentials, endpoint, limiter=limiter, **options)

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


connector: Connector = PddConnector()
