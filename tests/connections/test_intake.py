"""The group-commit intake: pushes from many request threads share commits, each answered only
once durable; duplicates inside one commit count once; rejected and unreadable pushes take the
ordinary path; a stopped intake refuses (so the platform retries) instead of losing a push."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from haina.connections.intake import IntakeUnavailable, WebhookIntake
from haina.core.audit.models import AuditEntry
from haina.core.database import Database
from haina.core.events import inbox
from haina.core.events.models import InboxItem, OutboxEvent
from haina.core.settings import Settings
from tests.connections.fakes import ACK, PLATFORM, SECRET, SIGN_HEADER, StoredRecords, drain, push_signature


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGN_HEADER: push_signature(secret, body), "content-type": "application/json"}


def push(order: str) -> bytes:
    return json.dumps({"messages": [{"id": f"m-{order}", "order": order}]}).encode()


def count(database: Database, model: type) -> int:
    with database.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def intake(database: Database, settings: Settings) -> WebhookIntake:
    running = WebhookIntake(database, settings)
    running.start()
    yield running  # type: ignore[misc]
    running.stop()


def test_concurrent_pushes_share_commits_and_each_is_stored_once(
    intake: WebhookIntake, database: Database, connection_id: str, stored: StoredRecords
) -> None:
    orders = [f"o-{number}" for number in range(120)]
    outcomes: list[tuple[int, int, bytes]] = []
    lock = threading.Lock()

    def send(part: list[str]) -> None:
        for order in part:
            body = push(order)
            outcome = intake.receive(PLATFORM, connection_id, "POST", {}, signed(body), body)
            with lock:
                outcomes.append((outcome.status, outcome.stored, outcome.body))

    threads = [threading.Thread(target=send, args=(orders[start::12],)) for start in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes) == 120 and {outcome for outcome in outcomes} == {(200, 1, ACK)}
    assert count(database, InboxItem) == 120
    assert count(database, OutboxEvent) == 120
    assert 1 <= intake.batches <= 120
    drain(database, rounds=3)
    assert sorted(stored.external_ids()) == sorted(orders)


def test_a_repeated_push_is_a_duplicate_even_inside_one_commit(
    intake: WebhookIntake, database: Database, connection_id: str, settings: Settings, tenant: object
) -> None:
    body = push("o-7")
    first = intake.receive(PLATFORM, connection_id, "POST", {}, signed(body), body)
    again = intake.receive(PLATFORM, connection_id, "POST", {}, signed(body), body)
    assert (first.stored, first.duplicates) == (1, 0)
    assert (again.stored, again.duplicates) == (0, 1)
    # Two items with one key in the same group commit: the first wins, like two calls in a row.
    item = inbox.NewItem(tenant_id=first_tenant(database), source=PLATFORM, dedupe_key="k-1", payload=b"{}")
    with database.unit_of_work() as session:
        assert inbox.receive_many(session, [item, item]) == [True, False]
    assert count(database, InboxItem) == 2


def first_tenant(database: Database) -> str:
    with database.session_factory() as session:
        return str(session.scalar(select(InboxItem.tenant_id).limit(1)))


def test_a_wrong_signature_takes_the_ordinary_path(
    intake: WebhookIntake, database: Database, connection_id: str
) -> None:
    body = push("o-1")
    outcome = intake.receive(PLATFORM, connection_id, "POST", {}, signed(body, "not-the-secret"), body)
    assert outcome.status == 401 and outcome.stored == 0
    assert count(database, InboxItem) == 0
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).where(AuditEntry.action == "webhook.rejected")) == 1
    assert intake.batches == 0


def test_a_stopped_intake_refuses_instead_of_losing_the_push(
    database: Database, settings: Settings, connection_id: str
) -> None:
    stopped = WebhookIntake(database, settings)
    body = push("o-1")
    with pytest.raises(IntakeUnavailable):
        stopped.receive(PLATFORM, connection_id, "POST", {}, signed(body), body)
    assert count(database, InboxItem) == 0
