"""Syncs: each page stored with its cursor in one transaction, so a crash resumes exactly; progress
reported; bad records dead-lettered and replayable; the circuit breaker pauses and says why;
reconciliation re-pulls without moving cursors; the API runs syncs in the background."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from haina.connections import repository, service, tasks
from haina.connections.models import Connection, SyncCursor
from haina.core import clock
from haina.core.database import Database
from haina.core.events import dispatcher
from haina.core.settings import Settings
from tests.connections.fakes import PLATFORM, FakeConnector, StoredRecords, drain
from tests.factories import TenantFixture, bearer, token_for

PAGES = [["o-1", "o-2"], ["o-3", "o-4"], ["o-5"]]
ALL_ORDERS = ["o-1", "o-2", "o-3", "o-4", "o-5"]


def cursor_row(database: Database, connection_id: str, stream: str = "orders") -> SyncCursor:
    with database.unit_of_work() as session:
        row = repository.cursor_by_name(session, connection_id, stream)
        assert row is not None
        return row


def connection_row(database: Database, connection_id: str) -> Connection:
    with database.unit_of_work() as session:
        return session.get_one(Connection, connection_id)


def test_a_sync_stores_every_page_and_reports_progress(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    seen: list[service.SyncProgress] = []
    result = service.run_sync(database, settings, connection_id, "orders", progress=seen.append)
    assert stored.external_ids() == ALL_ORDERS
    assert result.status == "idle" and result.records_done == 5 and result.progress == 1.0
    assert [update.records_done for update in seen] == [2, 4, 5, 5]
    assert [update.status for update in seen] == ["running", "running", "running", "idle"]
    assert [update.percent for update in seen[:3]] == [33, 67, 100]
    row = cursor_row(database, connection_id)
    assert row.cursor == {"page": 3} and row.records_total == 5 and row.pages_done == 3
    assert fake.clients[0].closed
    # The next run starts from the saved cursor and finds nothing new.
    again = service.run_sync(database, settings, connection_id, "orders")
    assert fake.stream.seen_cursors[-1] == {"page": 3}
    assert again.records_done == 0 and cursor_row(database, connection_id).records_total == 5
    assert stored.count() == 5


def test_a_crash_between_pages_resumes_exactly(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    fake.stream.crash_before = {2}
    with pytest.raises(service.SyncFailed, match="connection reset"):
        service.run_sync(database, settings, connection_id, "orders")
    row = cursor_row(database, connection_id)
    assert row.status == "failed" and row.cursor == {"page": 2}
    assert "ConnectionResetError" in (row.last_error or "")
    assert stored.external_ids() == ["o-1", "o-2", "o-3", "o-4"]

    service.run_sync(database, settings, connection_id, "orders")
    assert fake.stream.seen_cursors == [None, {"page": 2}]
    assert stored.external_ids() == ALL_ORDERS  # every record exactly once
    assert cursor_row(database, connection_id).status == "idle"


def test_a_crash_inside_a_page_keeps_neither_its_records_nor_its_cursor(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    stored.fail_after_insert = {2}  # the second page's store writes, then fails
    with pytest.raises(service.SyncFailed):
        service.run_sync(database, settings, connection_id, "orders")
    assert stored.external_ids() == ["o-1", "o-2"]
    assert cursor_row(database, connection_id).cursor == {"page": 1}
    service.run_sync(database, settings, connection_id, "orders")
    assert stored.external_ids() == ALL_ORDERS


def test_a_run_whose_process_died_is_taken_over_once_stale(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    with database.unit_of_work() as session:
        connection = session.get_one(Connection, connection_id)
        service.start_sync(session, connection.tenant_id, connection_id, "orders")  # then the process "dies"
    with pytest.raises(service.SyncAlreadyRunning):
        service.run_sync(database, settings, connection_id, "orders")
    clock.freeze(clock.now() + service.STALE_RUN + timedelta(seconds=1))
    result = service.run_sync(database, settings, connection_id, "orders")
    assert result.status == "idle" and stored.external_ids() == ALL_ORDERS


def test_bad_records_are_dead_lettered_and_replay_after_a_fix(
    client: TestClient,
    database: Database,
    settings: Settings,
    connection_id: str,
    tenant: TenantFixture,
    fake: FakeConnector,
    stored: StoredRecords,
) -> None:
    fake.stream.pages_script = [["o-1", ("bad", "o-2")], ["o-3"]]
    token = token_for(client, tenant.usernames["owner"])  # before `drain` moves the clock on
    result = service.run_sync(database, settings, connection_id, "orders")
    assert result.records_done == 2 and result.bad_records == 1
    assert stored.external_ids() == ["o-1", "o-3"]  # the bad record does not stop the rest
    drain(database)
    with database.unit_of_work() as session:
        (letter,) = dispatcher.list_dead_letters(session, tenant.id)
        assert letter.handler == f"connections.{PLATFORM}.bad_record"
        assert letter.event.type == f"{PLATFORM}_bad_record.payload_received"
        assert "total is not a number" in (letter.last_error or "")
        assert "o-2" in (letter.last_error or "")
    # Shown in the console's dead-letter list, with its Replay button.
    page = client.get("/settings/dead-letters", headers=bearer(token))
    assert "total is not a number" in page.text and f"/settings/dead-letters/{letter.id}/replay" in page.text

    # Seeing the same bad record again (a reconciliation) keeps one inbox row.
    service.reconcile(database, settings, connection_id)
    with database.unit_of_work() as session:
        assert dispatcher.count_dead_letters(session, tenant.id) == 1

    fake.stream.mapping_fixed = True
    with database.unit_of_work() as session:
        dispatcher.replay(session, tenant.id, letter.id)
    drain(database, rounds=1)
    assert stored.external_ids().count("o-2") == 1
    with database.unit_of_work() as session:
        assert dispatcher.count_dead_letters(session, tenant.id) == 0


def test_repeated_failures_pause_the_connection_and_say_why(
    client: TestClient,
    database: Database,
    settings: Settings,
    connection_id: str,
    tenant: TenantFixture,
    fake: FakeConnector,
    stored: StoredRecords,
) -> None:
    fake.stream.always_fail = True
    for _ in range(service.PAUSE_AFTER_FAILURES):
        with pytest.raises(service.SyncFailed):
            service.run_sync(database, settings, connection_id, "orders")
    connection = connection_row(database, connection_id)
    assert connection.is_paused()
    assert "3 syncs in a row failed" in (connection.paused_reason or "")
    assert "the platform is unreachable" in (connection.paused_reason or "")
    with pytest.raises(service.ConnectionUnavailable, match="paused"):
        service.run_sync(database, settings, connection_id, "orders")

    headers = bearer(token_for(client, tenant.usernames["owner"]))
    shown = client.get(f"/api/v1/connections/{connection_id}", headers=headers).json()
    assert shown["is_paused"] and "the platform is unreachable" in shown["paused_reason"]
    page = client.get("/platforms", headers=headers)
    assert "data-paused-reason" in page.text and "the platform is unreachable" in page.text

    # A person may still run it; success closes the breaker.
    fake.stream.always_fail = False
    fake.stream.pages_script = PAGES
    service.run_sync(database, settings, connection_id, "orders", force=True)
    connection = connection_row(database, connection_id)
    assert not connection.is_paused() and connection.paused_reason is None and connection.failure_count == 0

    # And `resume` clears a pause by hand.
    fake.stream.always_fail = True
    for _ in range(service.PAUSE_AFTER_FAILURES):
        with pytest.raises(service.SyncFailed):
            service.run_sync(database, settings, connection_id, "orders", force=True)
    resumed = client.patch(f"/api/v1/connections/{connection_id}", json={"resume": True}, headers=headers)
    assert resumed.status_code == 200 and resumed.json()["is_paused"] is False


def test_reconciliation_repulls_a_window_without_moving_the_cursor(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    service.run_sync(database, settings, connection_id, "orders")
    until = clock.now()
    results = service.reconcile(database, settings, connection_id, until=until, window=timedelta(hours=2))
    assert [result.stream for result in results] == ["reconcile:orders"]
    assert results[0].status == "idle" and results[0].records_done == 5
    assert fake.stream.seen_cursors[-1] == {"since": (until - timedelta(hours=2)).isoformat()}
    assert cursor_row(database, connection_id).cursor == {"page": 3}  # the incremental cursor stays
    assert stored.count() == 10  # the fake store keeps repeats; the real one is idempotent


def test_the_api_runs_a_sync_in_the_background(
    client: TestClient,
    database: Database,
    connection_id: str,
    tenant: TenantFixture,
    fake: FakeConnector,
    stored: StoredRecords,
) -> None:
    fake.stream.pages_script = PAGES
    fake.stream.gate = threading.Event()
    headers = bearer(token_for(client, tenant.usernames["admin"]))
    try:
        started = client.post(f"/api/v1/connections/{connection_id}/sync/orders", headers=headers)
        assert started.status_code == 202, started.text
        assert started.json()["progress_url"] == f"/api/v1/connections/{connection_id}/sync"
        assert fake.stream.entered.wait(10)
        running = client.get(f"/api/v1/connections/{connection_id}/sync", headers=headers).json()
        assert running[0]["stream"] == "orders" and running[0]["status"] == "running"
        again = client.post(f"/api/v1/connections/{connection_id}/sync/orders", headers=headers)
        assert again.status_code == 409 and again.json()["error"]["code"] == "sync_running"
        # The console polls a running stream's progress.
        partial = client.get(f"/platforms/{connection_id}/progress", headers=headers)
        assert 'hx-trigger="every 2s"' in partial.text
    finally:
        fake.stream.gate.set()
    assert tasks.wait_for_background_syncs(30)
    done = client.get(f"/api/v1/connections/{connection_id}/sync", headers=headers).json()
    assert done[0]["status"] == "idle" and done[0]["records_done"] == 5 and done[0]["progress"] == 1.0
    assert stored.external_ids() == ALL_ORDERS
    unknown = client.post(f"/api/v1/connections/{connection_id}/sync/no_such_stream", headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_stream"
    partial = client.get(f"/platforms/{connection_id}/progress", headers=headers)
    assert "hx-trigger" not in partial.text  # polling stops when the run is done


def test_refreshed_tokens_are_kept_encrypted(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    fake.stream.refresh_token_to = "fresh-access-token-123"
    service.run_sync(database, settings, connection_id, "orders")
    connection = connection_row(database, connection_id)
    assert "fresh-access-token-123" not in connection.credentials_encrypted
    assert service.credentials_of(connection, settings).access_token == "fresh-access-token-123"


def test_the_schedule_runs_due_syncs_once(
    database: Database, settings: Settings, connection_id: str, fake: FakeConnector, stored: StoredRecords
) -> None:
    fake.stream.pages_script = PAGES
    first = tasks.run_scheduled(database, settings)
    assert first.synced == [f"{connection_id}/orders"] and first.failed == []
    assert first.reconciled == [f"{connection_id}/orders"]  # right after its first sync
    second = tasks.run_scheduled(database, settings)
    assert second.synced == [] and second.reconciled == []
    clock.freeze(clock.now() + tasks.SYNC_EVERY + timedelta(seconds=1))
    third = tasks.run_scheduled(database, settings)
    assert third.synced == [f"{connection_id}/orders"] and third.reconciled == []
    assert stored.external_ids().count("o-1") == 2  # the first sync, and its reconciliation


def test_the_runner_finds_the_handlers_and_the_server_runs_the_scheduler(
    database: Database, settings: Settings
) -> None:
    from haina.core.events.registry import discover_handlers, registry
    from haina.web.app import create_app

    assert "haina.connections.tasks" in discover_handlers()
    for platform in ("wecom", "douyin", "tmall"):
        assert f"connections.{platform}.push" in registry.names_for(f"{platform}.payload_received")
    app = create_app(settings, database, start_workers=True)
    with TestClient(app):
        scheduler = app.state.sync_scheduler
        assert isinstance(scheduler, tasks.SyncScheduler) and scheduler._thread is not None
        assert scheduler._thread.is_alive()
    assert scheduler._thread is None  # stopped with the server
    quiet = create_app(settings, database, start_workers=False)
    with TestClient(quiet):
        assert quiet.state.sync_scheduler is None
