"""The contract every platform connector fulfils, so the ingest spine (haina/connections) can run
any of them the same way. Platforms know nothing of storage: they turn the platform's wire
format into canonical shapes (haina.platforms.canonical) and back."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from haina.platforms.canonical import CanonicalRecord


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a connection stores (encrypted) for one shop or corp. `extra` holds platform
    specifics: WeCom callback token and EncodingAESKey, a Youzan grant id, a TMC group…"""

    app_key: str  # corp id for WeCom, client id for Youzan, app key elsewhere
    app_secret: str
    shop_id: str = ""
    access_token: str = ""
    refresh_token: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a connection calls: the primary base URL and, where the platform has one, a backup."""

    base_url: str
    backup_url: str = ""


@dataclass(slots=True)
class BadRecord:
    """A raw item that could not be mapped: kept with its reason for the dead-letter list."""

    raw: bytes
    reason: str
    object_id: str = ""


@dataclass(slots=True)
class Page:
    """One page of an incremental stream. `cursor` is the JSON-serialisable position to resume
    from once this page is stored; `done` says the stream has caught up to `until`."""

    records: list[CanonicalRecord]
    cursor: dict[str, Any]
    done: bool
    bad: list[BadRecord] = field(default_factory=list)
    # How far through the whole run this page is, for progress bars (None when unknown).
    progress: float | None = None


@dataclass(slots=True)
class PushItem:
    """One message carried by a verified push: its dedupe key and raw bytes for the inbox."""

    dedupe_key: str
    payload: bytes
    object_id: str = ""


@dataclass(slots=True)
class WebhookAnswer:
    """What a webhook receiver answers and stores. `items` empty with status 200 is a ping or a
    URL verification (WeCom's GET echo)."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    items: list[PushItem] = field(default_factory=list)


class WebhookRejected(Exception):
    """The push failed verification (signature, decryption, receiver id): answer 401/403 and
    store nothing but an audit entry."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Stream(Protocol):
    """An incremental stream of one object type ("orders", "refunds", "contacts", "groups",
    "tags", "coupons", "members")."""

    name: str

    def pages(self, client: Any, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]: ...


class Connector(Protocol):
    """One per platform, registered in haina.platforms.registry."""

    platform: str
    streams: Mapping[str, Stream]

    def make_client(self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None) -> Any: ...

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer: ...

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]: ...
