"""Webhooks: verified on the raw body, stored once, answered in the platform's format; rejected
ones leave only an audit entry; unreadable ones are kept and dead-lettered, and replay after a fix.
WeCom's URL check runs against the real WeCom connector and the wechatpy vector (REFERENCE §1.5.1)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from haina.connections import service
from haina.core.audit.models import AuditEntry
from haina.core.database import Database
from haina.core.events import dispatcher
from haina.core.events.models import InboxItem, OutboxEvent
from haina.core.settings import Settings
from tests.connections.fakes import ACK, PLATFORM, SECRET, SIGN_HEADER, StoredRecords, drain, push_signature
from tests.factories import TenantFixture


def count(database: Database, model: type, *conditions: object) -> int:
    with database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)  # type: ignore[arg-type]


def inbox_items(database: Database) -> list[InboxItem]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(InboxItem).order_by(InboxItem.received_at, InboxItem.id)))


def post(
    client: TestClient, connection_id: str, body: bytes, *, secret: str = SECRET, platform: str = PLATFORM
):  # type: ignore[no-untyped-def]
    headers = {SIGN_HEADER: push_signature(secret, body), "content-type": "application/json"}
    return client.post(f"/webhooks/{platform}/{connection_id}", content=body, headers=headers)


def test_a_valid_push_is_stored_once_and_processed(
    client: TestClient, database: Database, connection_id: str, stored: StoredRecords
) -> None:
    body = json.dumps(
        {"messages": [{"id": "m-1", "order": "o-100"}, {"id": "m-2", "order": "o-101"}]}
    ).encode()
    answers = [post(client, connection_id, body) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].content == ACK and answers[0].headers["content-type"].startswith("application/json")
    items = inbox_items(database)
    assert len(items) == 2  # three deliveries of two messages: two rows
    assert {item.source for item in items} == {PLATFORM}
    assert all(item.connection_id == connection_id for item in items)
    assert count(database, OutboxEvent, OutboxEvent.type == f"{PLATFORM}.payload_received") == 2

    drain(database, rounds=1)
    assert stored.external_ids() == ["o-100", "o-101"]
    assert {item.status for item in inbox_items(database)} == {"processed"}


def test_a_wrong_signature_stores_nothing_but_an_audit_entry(
    client: TestClient, database: Database, connection_id: str, tenant: TenantFixture
) -> None:
    body = json.dumps({"messages": [{"id": "m-1", "order": "o-1"}]}).encode()
    forged = post(client, connection_id, body, secret="not-the-secret")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "webhook_rejected"
    unsigned = client.post(f"/webhooks/{PLATFORM}/{connection_id}", content=body)
    assert unsigned.status_code == 401
    assert count(database, InboxItem) == 0 and count(database, OutboxEvent) == 0
    with database.unit_of_work() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.rejected")).all()
        assert len(entries) == 2
        assert {entry.tenant_id for entry in entries} == {tenant.id}
        assert entries[0].target_id == connection_id and entries[0].outcome == "denied"
        assert "x-fake-sign" in entries[0].detail["reason"]


def test_unknown_connections_answer_404(client: TestClient, connection_id: str, database: Database) -> None:
    body = b'{"messages": []}'
    assert post(client, "0" * 32, body).status_code == 404
    wrong_platform = client.post(f"/webhooks/youzan/{connection_id}", content=body)
    assert (
        wrong_platform.status_code == 404 and wrong_platform.json()["error"]["code"] == "unknown_connection"
    )
    assert client.post(f"/webhooks/nosuchplatform/{connection_id}", content=body).status_code == 404
    assert count(database, InboxItem) == 0


def test_an_unreadable_envelope_is_kept_dead_lettered_and_replays(
    client: TestClient,
    database: Database,
    connection_id: str,
    tenant: TenantFixture,
    stored: StoredRecords,
    fake,
) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"id": "m-7", "order": "o-7"}).encode()  # signed, but not the envelope shape
    answer = post(client, connection_id, body)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "unreadable_webhook"
    assert post(client, connection_id, body).status_code == 400
    items = inbox_items(database)
    assert [item.source for item in items] == [f"{PLATFORM}_unparsed"]  # kept once, byte for byte
    assert items[0].payload == body
    assert items[0].headers["headers"][SIGN_HEADER] == push_signature(SECRET, body)
    assert "KeyError" in items[0].headers["reason"]
    # Not JSON at all: also a 400, never a 500.
    assert post(client, connection_id, b"\xff\xfe<not json").status_code == 400

    drain(database)
    with database.unit_of_work() as session:
        letters = dispatcher.list_dead_letters(session, tenant.id)
        assert len(letters) == 2
        assert all(letter.handler == f"connections.{PLATFORM}.unparsed" for letter in letters)
        assert all("could not be read" in (letter.last_error or "") for letter in letters)
        letter_id = next(
            letter.id for letter in letters if letter.event.payload["inbox_item_id"] == items[0].id
        )
    fake.envelope_fixed = True  # the fix: the connector now reads a bare message
    with database.unit_of_work() as session:
        assert dispatcher.replay(session, tenant.id, letter_id) == 1
    drain(database, rounds=2)
    assert stored.external_ids() == ["o-7"]
    sources = sorted(item.source for item in inbox_items(database))
    assert sources == [PLATFORM, f"{PLATFORM}_unparsed", f"{PLATFORM}_unparsed"]


def test_a_push_that_does_not_parse_is_dead_lettered_and_replays(
    client: TestClient,
    database: Database,
    connection_id: str,
    tenant: TenantFixture,
    stored: StoredRecords,
    fake,
) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(
        {"messages": [{"id": "m-9", "order": "o-9", "broken": True}, {"id": "m-10", "order": "o-10"}]}
    )
    assert post(client, connection_id, body.encode()).status_code == 200
    drain(database)
    assert stored.external_ids() == ["o-10"]  # the bad one does not stop the good one
    with database.unit_of_work() as session:
        (letter,) = dispatcher.list_dead_letters(session, tenant.id)
        assert letter.handler == f"connections.{PLATFORM}.push"
        assert "the push has no order total" in (letter.last_error or "")
    fake.parse_fixed = True
    with database.unit_of_work() as session:
        dispatcher.replay(session, tenant.id, letter.id)
    drain(database, rounds=1)
    assert stored.external_ids() == ["o-10", "o-9"]
    assert {item.status for item in inbox_items(database)} == {"processed"}


# ── WeCom's URL check (the real connector) ────────────────────────────────────────────────────

CORP_ID = "wx49f0ab532d5d035a"
TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
C1 = {
    "msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    "timestamp": "1411443780",
    "nonce": "437374425",
    "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
}


def test_wecom_url_check_echoes_the_decrypted_echostr(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    with database.unit_of_work() as session:
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform="wecom",
                name="企业微信",
                app_key=CORP_ID,
                app_secret="contact-secret-0123456789",
                shop_id=CORP_ID,
                extra={"callback_token": TOKEN, "encoding_aes_key": AES_KEY},
            ),
            settings,
        )
    url = f"/webhooks/wecom/{connection.id}"
    answer = client.get(url, params=C1)  # httpx URL-encodes '+', '/' and '=' as WeCom does
    assert answer.status_code == 200
    assert answer.content == b"5927782489442352469"  # the plaintext only: no quotes, no newline
    assert count(database, InboxItem) == 0

    forged = client.get(url, params={**C1, "msg_signature": "0" * 40})
    assert forged.status_code in (401, 403)
    assert count(database, InboxItem) == 0
    assert count(database, AuditEntry, AuditEntry.action == "webhook.rejected") == 1
