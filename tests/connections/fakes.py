"""A small platform for testing the spine at the edge of the machine: a connector whose pushes are
signed with HMAC-SHA256 over the raw body (header `x-fake-sign`), whose one stream pages through a
fixed script of orders, and a store that appends to a table without any uniqueness, so a record
stored twice shows up twice.

The flags on the objects are the "fixes" a test applies before replaying a dead letter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from haina.connections import service, tasks
from haina.core import clock
from haina.core.database import Database
from haina.core.events import run_due
from haina.platforms.base import (
    BadRecord,
    Credentials,
    Endpoint,
    Page,
    PushItem,
    WebhookAnswer,
    WebhookRejected,
)
from haina.platforms.canonical import CanonicalRecord, Order
from haina.platforms.reading import RecordError

PLATFORM = "fakeshop"
SECRET = "fake-secret-0123456789abcdef"
SIGN_HEADER = "x-fake-sign"
ACK = b'{"ok":true}'
MOMENT = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def order(external_id: str, total_fen: int = 1000, shop_id: str = "shop-1") -> Order:
    return Order(
        platform=PLATFORM,
        shop_id=shop_id,
        external_id=external_id,
        status="paid",
        platform_status="PAID",
        total_fen=total_fen,
        discount_fen=0,
        freight_fen=0,
        paid_fen=total_fen,
        created_at=MOMENT,
        modified_at=MOMENT,
    )


def push_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class FakeClient:
    def __init__(self, credentials: Credentials, endpoint: Endpoint) -> None:
        self.credentials = credentials
        self.endpoint = endpoint
        self.closed = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeStream:
    """Pages of order ids; an entry ("bad", object_id) is a raw record the mapping refuses."""

    pages_script: list[list[Any]] = field(default_factory=list)
    name: str = "orders"
    crash_before: set[int] = field(default_factory=set)  # page index → raise once before it
    always_fail: bool = False
    mapping_fixed: bool = False
    seen_cursors: list[dict[str, Any] | None] = field(default_factory=list)
    gate: threading.Event | None = None  # the first page waits for it (a sync that stays running)
    entered: threading.Event = field(default_factory=threading.Event)
    refresh_token_to: str = ""  # the client "refreshes" its token to this during the run

    def pages(self, client: FakeClient, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]:
        self.seen_cursors.append(None if cursor is None else dict(cursor))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.always_fail:
            raise ConnectionError("the platform is unreachable")
        start = int(cursor.get("page", 0)) if cursor else 0
        total = len(self.pages_script)
        for index in range(start, total):
            if index in self.crash_before:
                self.crash_before.discard(index)
                raise ConnectionResetError(f"connection reset before page {index + 1}")
            if self.refresh_token_to:
                client.credentials = Credentials(
                    app_key=client.credentials.app_key,
                    app_secret=client.credentials.app_secret,
                    shop_id=client.credentials.shop_id,
                    access_token=self.refresh_token_to,
                    extra=client.credentials.extra,
                )
            records: list[CanonicalRecord] = []
            bad: list[BadRecord] = []
            for entry in self.pages_script[index]:
                if isinstance(entry, tuple):
                    raw = json.dumps({"id": entry[1], "total": "twelve"}).encode()
                    bad.append(BadRecord(raw=raw, reason="total is not a number", object_id=entry[1]))
                else:
                    records.append(order(entry, shop_id=client.credentials.shop_id))
            yield Page(
                records=records,
                cursor={"page": index + 1},
                done=index + 1 == total,
                bad=bad,
                progress=(index + 1) / total,
            )
        if total == 0 or start >= total:
            yield Page(records=[], cursor={"page": total}, done=True, progress=1.0)

    def map_raw(self, raw: bytes, shop_id: str) -> list[CanonicalRecord]:
        document = json.loads(raw)
        if not self.mapping_fixed:
            raise RecordError("total is not a number")
        return [order(str(document["id"]), total_fen=1200, shop_id=shop_id)]


class FakeConnector:
    platform = PLATFORM

    def __init__(self) -> None:
        self.stream = FakeStream()
        self.streams: Mapping[str, Any] = {"orders": self.stream}
        self.envelope_fixed = False
        self.parse_fixed = False
        self.clients: list[FakeClient] = []

    def make_client(self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None) -> FakeClient:
        client = FakeClient(credentials, endpoint)
        self.clients.append(client)
        return client

    def receive_webhook(
        self,
        credentials: Credentials,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> WebhookAnswer:
        if method.upper() == "GET":
            return WebhookAnswer(200, query.get("echo", "").encode())
        lowered = {name.lower(): value for name, value in headers.items()}
        given = lowered.get(SIGN_HEADER, "")
        if not given or not hmac.compare_digest(given, push_signature(credentials.app_secret, body)):
            raise WebhookRejected("x-fake-sign does not match the body", 401)
        document = json.loads(body)  # a signed body that is not JSON raises: "unparsed"
        if "messages" not in document and not self.envelope_fixed:
            raise KeyError("messages")
        messages = document.get("messages", [document])
        return WebhookAnswer(
            200,
            ACK,
            "application/json",
            [
                PushItem(
                    dedupe_key=f"message:{message['id']}",
                    payload=json.dumps(message, sort_keys=True).encode(),
                    object_id=str(message.get("order", "")),
                )
                for message in messages
            ],
        )

    def parse_push(self, credentials: Credentials, payload: bytes) -> list[CanonicalRecord]:
        message = json.loads(payload)
        if message.get("broken") and not self.parse_fixed:
            raise RecordError("the push has no order total")
        return [order(str(message["order"]), shop_id=credentials.shop_id)]


class StoredRecords:
    """The fake store: one row per stored record, no uniqueness, in the caller's transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.metadata = MetaData()
        self.table = Table(
            "test_stored_records",
            self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("tenant_id", String(32)),
            Column("external_id", String(64)),
            Column("source", String(64)),
        )
        self.fail_after_insert: set[int] = set()  # call numbers that raise after writing
        self.calls = 0

    def store(
        self,
        session: Any,
        tenant_id: str,
        records: Sequence[CanonicalRecord],
        *,
        settings: Any,
        source: str = "",
    ) -> int:
        self.calls += 1
        session.execute(
            self.table.insert(),
            [
                {"tenant_id": tenant_id, "external_id": getattr(record, "external_id", ""), "source": source}
                for record in records
            ],
        )
        if self.calls in self.fail_after_insert:
            raise RuntimeError("the store failed half way")
        return len(records)

    def external_ids(self) -> list[str]:
        with self.database.engine.connect() as connection:
            return sorted(connection.scalars(select(self.table.c.external_id)))

    def count(self) -> int:
        with self.database.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(self.table)) or 0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConnector]:
    """The fake platform, known to the spine and subscribed to the dispatcher for one test."""
    connector = FakeConnector()
    lookup = service.wiring.connector
    platforms = service.wiring.platforms
    monkeypatch.setattr(
        service.wiring, "connector", lambda platform: connector if platform == PLATFORM else lookup(platform)
    )
    monkeypatch.setattr(service.wiring, "platforms", lambda: [*platforms(), PLATFORM])
    tasks.subscribe_platform(PLATFORM)
    yield connector
    tasks.unsubscribe_platform(PLATFORM)


@pytest.fixture
def stored(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoredRecords]:
    """The fake store, wired in as the spine's store for one test."""
    records = StoredRecords(database)
    records.metadata.create_all(database.engine)
    monkeypatch.setattr(service.wiring, "store", records.store)
    service.bind_settings(database)
    yield records
    records.metadata.drop_all(database.engine)


def drain(database: Database, rounds: int = 6) -> None:
    """Run the dispatcher until retries are spent: each round moves the clock past any backoff
    (and waits for syncs that pushes started in the background)."""
    from haina.connections.tasks import wait_for_background_syncs

    for _ in range(rounds):
        run_due(database)
        clock.advance(timedelta(minutes=5))
        assert wait_for_background_syncs(timeout=60), "a push-triggered sync is still running"
