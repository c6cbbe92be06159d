"""WeCom (企业微信) connector: the corp token, customer / group / tag streams, and encrypted
callbacks (REFERENCE §1).

Credentials: `app_key` is the corp id, `app_secret` the customer-contact secret; `extra` holds the
callback "callback_token" and "encoding_aes_key". The callback crypto and error codes
(`crypto`, `errors`) are shared with the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from haina.platforms.base import Credentials, Endpoint, Stream, WebhookAnswer
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.wecom import webhooks
from haina.platforms.wecom.client import WeComClient
from haina.platforms.wecom.sync import CONTACTS, GROUPS


class WeComConnector:
    platform = "wecom"
    # Corp tags (sync.TAGS) are not a stream the spine stores: haina.tags.wecom_sync reads the corp's
    # tag list itself (get_corp_tag_list) when a change_external_tag callback arrives or a contact
    # carries a corp tag it does not know, and keeps Haina's tags and their TagMirror rows in step.
    streams: Mapping[str, Stream] = {"contacts": CONTACTS, "groups": GROUPS}

    def make_client(
        self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None, **options: Any
    ) -> WeComClient:
        """`options` (retry, sleep, transport, breaker…) reach haina.platforms.http.PlatformHttp."""
        return WeComClient(credentials, endpoint, limiter=limiter, **options)

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        """GET: the URL check (answer the decrypted echostr). POST: verify and decrypt one event."""
        return webhooks.receive(credentials, method, query, body)

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        """Records in one stored event; raises haina.platforms.reading.RecordError (a ValueError
        with `reason`) for a malformed one, to be kept as a bad record."""
        return webhooks.parse(payload, credentials.app_key)


connector = WeComConnector()
