"""Taobao/Tmall TOP connector: signed gateway calls, orders and refunds streams in windows, and TMC
polled as the `tmc` stream (REFERENCE §3). TOP has no HTTP push.

Credentials: `app_key`/`app_secret` of the app, `shop_id`, `access_token` the seller's session and
`refresh_token`; `extra` may say "platform": "tmall" (records then say tmall), "sign_method"
(md5, hmac or hmac-sha256, the default) and "tmc_group". The signer (`signing`) is shared with the
sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Credentials, Endpoint, Stream, WebhookAnswer
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.taobao import webhooks
from haina.platforms.taobao.client import TaobaoClient
from haina.platforms.taobao.sync import ORDERS, REFUNDS, TMC


class TaobaoConnector:
    platform = "taobao"
    streams: Mapping[str, Stream] = {"orders": ORDERS, "refunds": REFUNDS, "tmc": TMC}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> TaobaoClient:
        """`options` (retry, sleep, transport, breaker…) reach haina.platforms.http.PlatformHttp."""
        return TaobaoClient(credentials, endpoint, limiter=limiter, **options)

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        """Always refused: TOP delivers messages through TMC, read by the `tmc` stream."""
        return webhooks.receive()

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        """Records in one stored TMC message; raises haina.platforms.reading.RecordError."""
        return webhooks.parse(payload, credentials.shop_id, credentials.extra.get("platform", "taobao"))


connector = TaobaoConnector()
