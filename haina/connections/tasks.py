"""Event handlers and schedules of the ingest spine.

Handlers, three per platform (subscribed in a loop over the registry's platform names):

* `<platform>.payload_received` — a verified push in the inbox: the connector parses it into
  canonical records, which are stored. A parse error raises, so the dispatcher retries and then
  dead-letters it with the reason; Replay runs it again after a fix.
* `<platform>_bad_record.payload_received` — a raw record a sync could not map, kept by
  `service.keep_bad_records`: mapped again, which fails (into the dead-letter list, with the
  reason) until the mapping is fixed and the letter replayed.
* `<platform>_unparsed.payload_received` — a webhook whose envelope could not be read, kept
  whole: the connector reads (and verifies) it again; its items go to the inbox as a normal push.

Schedules: `run_scheduled(database, settings)` runs every due incremental sync (each stream every
SYNC_EVERY) and reconciliation (a re-pull of the recent window every RECONCILE_EVERY) once. The
embedded server calls it from `SyncScheduler`, a thread started with the event runner (see
haina.connections.api); with Celery, a beat entry or cron job calling `haina sync --due` does the
same. Due-ness is read from the cursor rows and a run claims its row, so two schedulers (two
server processes) never run the same stream at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import Session

from haina.connections import repository, service
from haina.connections.models import Connection, SyncCursor, SyncStatus
from haina.core import clock
from haina.core.database import Database
from haina.core.errors import DomainError
from haina.core.events import inbox
from haina.core.events.models import InboxItem, OutboxEvent
from haina.core.events.registry import RECORDS, Registry
from haina.core.events.registry import registry as default_registry
from haina.core.settings import Settings
from haina.platforms.base import WebhookRejected
from haina.platforms.canonical import CanonicalRecord

logger = logging.getLogger(__name__)

SYNC_EVERY = timedelta(minutes=15)
RECONCILE_EVERY = timedelta(hours=1)
SCHEDULER_TICK_SECONDS = 60.0


class UnreadableWebhook(ValueError):
    """A kept webhook envelope still cannot be read (or does not verify)."""


def _item(session: Session, event: OutboxEvent) -> InboxItem:
    item = inbox.item_for_event(session, event)
    if item is None:
        raise LookupError(f"event {event.id} does not name an inbox item of this tenant")
    return item


def _connection(session: Session, item: InboxItem) -> Connection:
    if not item.connection_id:
        raise LookupError(f"inbox item {item.id} names no connection")
    return service.get_connection(session, item.tenant_id, item.connection_id)


def handle_push(session: Session, event: OutboxEvent) -> None:
    """Parse a stored push into canonical records and store them."""
    item = _item(session, event)
    connection = _connection(session, item)
    settings = service.settings_for(session)
    connector = service.connector_for(connection.platform)
    credentials = service.connector_credentials(connection, settings)
    records = connector.parse_push(credentials, item.payload)
    if records:
        service.wiring.store(
            session, item.tenant_id, records, settings=settings, source=f"{connection.platform}.push"
        )
    pull_after_commit(
        session, {(connection.tenant_id, connection.id, s) for s in _pulls(connector, credentials, item)}
    )


def handle_pushes(session: Session, events: list[OutboxEvent]) -> None:
    """The batch form of `handle_push` (micro-batching): every push parsed, then the records of
    each tenant and platform stored with one set-based `store` call. A push that does not parse
    raises, which fails the batch; the dispatcher then runs the pushes one by one."""
    items = inbox.items_for_events(session, events)
    settings = service.settings_for(session)
    connections: dict[tuple[str, str], Connection] = {}
    credentials: dict[tuple[str, str], Any] = {}
    records: dict[tuple[str, str], list[CanonicalRecord]] = {}
    pulls: set[tuple[str, str, str]] = set()
    for event in events:
        item = items.get(event.id)
        if item is None:
            raise LookupError(f"event {event.id} does not name an inbox item of this tenant")
        key = (item.tenant_id, item.connection_id or "")
        if key not in connections:
            connections[key] = _connection(session, item)
            credentials[key] = service.connector_credentials(connections[key], settings)
        connection = connections[key]
        connector = service.connector_for(connection.platform)
        parsed = connector.parse_push(credentials[key], item.payload)
        records.setdefault((item.tenant_id, connection.platform), []).extend(parsed)
        pulls.update(
            (connection.tenant_id, connection.id, s) for s in _pulls(connector, credentials[key], item)
        )
    for (tenant_id, platform), batch in records.items():
        if batch:
            service.wiring.store(session, tenant_id, batch, settings=settings, source=f"{platform}.push")
    pull_after_commit(session, pulls)


# ── Pushes that only name a change: pull the stream at once ─────────────────────────────────

PULL_COALESCE = timedelta(seconds=2)
PULL_SETTLE_LIMIT_SECONDS = 2.0
_last_pull: dict[tuple[str, str], datetime] = {}
_pull_lock = threading.Lock()


def _pulls(connector: Any, credentials: Any, item: InboxItem) -> list[str]:
    """Streams a push asks to sync now (the optional connector method `streams_to_pull`)."""
    streams_to_pull = getattr(connector, "streams_to_pull", None)
    return list(streams_to_pull(credentials, item.payload)) if streams_to_pull is not None else []


def pull_after_commit(session: Session, pulls: set[tuple[str, str, str]]) -> None:
    """Once the handler's transaction commits, sync each (tenant, connection, stream) on a
    background thread. Pulls of one stream within PULL_COALESCE share a run; a stream already
    running is left to that run (and to the next scheduled one for what came after it)."""
    if not pulls:
        return
    database = service.database_for(session)
    if database is None:
        logger.warning("pushes asked to sync %s but no database is bound; the schedule will", sorted(pulls))
        return

    def start(_session: Session) -> None:
        for tenant_id, connection_id, stream in sorted(pulls):
            request_pull(database, tenant_id, connection_id, stream)

    sqlalchemy_event.listen(session, "after_commit", start, once=True)


def request_pull(
    database: Database, tenant_id: str, connection_id: str, stream: str
) -> threading.Thread | None:
    """Start a sync of one stream now unless one started moments ago or is running."""
    now = clock.now()
    with _pull_lock:
        last = _last_pull.get((connection_id, stream))
        if last is not None and now - last < PULL_COALESCE:
            return None
        _last_pull[(connection_id, stream)] = now
    try:
        with database.unit_of_work() as session:
            run_id = service.start_sync(session, tenant_id, connection_id, stream, force=False, audited=False)
    except DomainError as error:  # running already, paused, or gone: nothing to start
        logger.info("push-triggered sync of %s/%s not started: %s", connection_id, stream, error)
        return None
    # Platforms list by whole seconds and a window ends before its last second: a change made in
    # the second the push arrived is only listed once that second is over.
    settled = now.replace(microsecond=0) + timedelta(seconds=1)
    return run_in_background(
        database, database.settings, tenant_id, connection_id, stream, run_id, not_before=settled
    )


def handle_bad_record(session: Session, event: OutboxEvent) -> None:
    """Map a kept bad record again; it stays a dead letter until the mapping accepts it."""
    item = _item(session, event)
    connection = _connection(session, item)
    settings = service.settings_for(session)
    headers = item.headers or {}
    stream = str(headers.get("stream") or "")
    connector = service.connector_for(connection.platform)
    credentials = service.connector_credentials(connection, settings)
    try:
        records = service.remap_bad_record(connector, stream, credentials, item.payload)
    except ValueError as error:
        reason = getattr(error, "reason", None) or str(error)
        raise service.BadRecordError(
            f"{connection.platform} {stream} record {headers.get('object_id') or '?'} cannot be mapped: {reason}"
        ) from error
    if records:
        service.wiring.store(
            session, item.tenant_id, records, settings=settings, source=f"{connection.platform}.sync"
        )


def handle_unparsed(session: Session, event: OutboxEvent) -> None:
    """Read a kept webhook envelope again; what it carries goes to the inbox as a push."""
    item = _item(session, event)
    connection = _connection(session, item)
    settings = service.settings_for(session)
    stored = item.headers or {}
    connector = service.connector_for(connection.platform)
    try:
        answer = connector.receive_webhook(
            service.connector_credentials(connection, settings),
            str(stored.get("method") or "POST"),
            dict(stored.get("query") or {}),
            dict(stored.get("headers") or {}),
            item.payload,
        )
    except WebhookRejected as rejected:
        raise UnreadableWebhook(f"the kept webhook does not verify: {rejected.reason}") from rejected
    except Exception as error:
        raise UnreadableWebhook(
            f"the webhook could not be read: {type(error).__name__}: {error} "
            f"(first seen as: {stored.get('reason', '?')})"
        ) from error
    for push in answer.items:
        inbox.receive(
            session,
            item.tenant_id,
            connection.platform,
            service.dedupe_key(connection.platform, connection.id, push.dedupe_key),
            push.payload,
            {"via": "webhook-replay", "object_id": push.object_id},
            connection_id=connection.id,
        )


def subscribe_platform(platform: str, registry: Registry | None = None) -> None:
    """Register the three handlers of one platform (stable names: deliveries store them)."""
    registry = registry if registry is not None else default_registry
    registry.add(
        inbox.received_event_type(platform),
        f"connections.{platform}.push",
        handle_push,
        batch_handler=handle_pushes,
        priority=RECORDS,
    )
    registry.add(
        inbox.received_event_type(service.bad_record_source(platform)),
        f"connections.{platform}.bad_record",
        handle_bad_record,
    )
    registry.add(
        inbox.received_event_type(service.unparsed_source(platform)),
        f"connections.{platform}.unparsed",
        handle_unparsed,
    )


def unsubscribe_platform(platform: str, registry: Registry | None = None) -> None:
    registry = registry if registry is not None else default_registry
    for kind in ("push", "bad_record", "unparsed"):
        registry.remove(f"connections.{platform}.{kind}")


for _platform in service.known_platforms():
    subscribe_platform(_platform)


# ── Schedules ────────────────────────────────────────────────────────────────────────────────


@dataclass
class ScheduledRun:
    """What one pass of `run_scheduled` did (for logs and tests)."""

    synced: list[str] = field(default_factory=list)  # "<connection id>/<stream>"
    reconciled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _is_due(row: SyncCursor | None, every: timedelta, now: datetime) -> bool:
    if row is None:
        return True
    if row.status == SyncStatus.RUNNING.value:
        # A live run holds it; a run whose process died (its heartbeat stale) is taken over.
        heartbeat = row.heartbeat_at or row.started_at
        return heartbeat is not None and heartbeat <= now - service.STALE_RUN
    return row.finished_at is None or row.finished_at <= now - every


def run_scheduled(
    database: Database,
    settings: Settings,
    *,
    sync_every: timedelta = SYNC_EVERY,
    reconcile_every: timedelta = RECONCILE_EVERY,
    stop: threading.Event | None = None,
) -> ScheduledRun:
    """Run each due incremental sync, then each due reconciliation, once. Paused and disabled
    connections are skipped; a failure is logged (and counted by the circuit breaker) and the
    rest go on."""
    service.bind_settings(database)
    done = ScheduledRun()
    now = clock.now()
    with database.unit_of_work() as session:
        connections = repository.active_connections_of_every_tenant(session)
        rows = repository.cursors_of(session, [connection.id for connection in connections])
    state = {(row.connection_id, row.stream): row for row in rows}
    for connection in connections:
        if connection.is_paused(now):
            continue
        try:
            streams = list(service.connector_for(connection.platform).streams)
        except DomainError:
            continue
        for stream in streams:
            if stop is not None and stop.is_set():
                return done
            label = f"{connection.id}/{stream}"
            row = state.get((connection.id, stream))
            has_cursor = row is not None and bool(row.cursor)
            if _is_due(row, sync_every, now):
                try:
                    has_cursor = service.run_sync(database, settings, connection.id, stream).pages_done > 0
                    done.synced.append(label)
                except DomainError as error:
                    logger.warning("scheduled sync %s failed: %s", label, error)
                    done.failed.append(label)
                    if isinstance(error, service.ConnectionUnavailable):
                        break  # paused by this failure: leave its other streams alone
                    continue
            # Reconcile only streams whose first sync is done: before that there is nothing to miss.
            recon = state.get((connection.id, service.RECONCILE_PREFIX + stream))
            if has_cursor and _is_due(recon, reconcile_every, now):
                try:
                    results = service.reconcile(database, settings, connection.id, streams=[stream])
                except DomainError as error:
                    logger.warning("scheduled reconciliation %s failed: %s", label, error)
                    done.failed.append(service.RECONCILE_PREFIX + label)
                    continue
                if all(result.status != SyncStatus.FAILED.value for result in results):
                    done.reconciled.append(label)
                else:
                    done.failed.append(service.RECONCILE_PREFIX + label)
    return done


class SyncScheduler:
    """A daemon thread calling `run_scheduled` every `tick_seconds` (the embedded server's beat)."""

    def __init__(
        self, database: Database, settings: Settings, *, tick_seconds: float = SCHEDULER_TICK_SECONDS
    ) -> None:
        self.database = database
        self.settings = settings
        self.tick_seconds = tick_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = threading.Thread(target=self._loop, name="haina-sync-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the sync in progress finishes its current page (or `timeout`)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        # First tick after one interval: a server that starts and stops at once syncs nothing.
        while not self._stopping.wait(self.tick_seconds):
            try:
                run_scheduled(self.database, self.settings, stop=self._stopping)
            except Exception:  # noqa: BLE001 - a database blip must not end the schedule
                logger.exception("scheduled syncs failed; trying again next tick")


# ── Syncs started by a person, in the background ─────────────────────────────────────────────

_background: set[threading.Thread] = set()
_background_lock = threading.Lock()


def _run_claimed(
    database: Database,
    settings: Settings,
    tenant_id: str,
    connection_id: str,
    stream: str,
    run_id: str,
    not_before: datetime | None = None,
) -> None:
    try:
        _wait_for_clock(not_before)
        service.run_sync(
            database, settings, connection_id, stream, run_id=run_id, tenant_id=tenant_id, force=True
        )
    except service.SyncFailed as error:
        logger.warning("sync %s/%s failed: %s", connection_id, stream, error)
    except Exception as error:  # noqa: BLE001 - it could not start: release the claim, say why
        logger.exception("sync %s/%s could not run", connection_id, stream)
        try:
            service.abandon_run(database, connection_id, stream, run_id, f"{type(error).__name__}: {error}")
        except Exception:  # noqa: BLE001
            logger.exception("could not release the claim of %s/%s", connection_id, stream)
    finally:
        with _background_lock:
            _background.discard(threading.current_thread())


def _wait_for_clock(not_before: datetime | None, limit_seconds: float = PULL_SETTLE_LIMIT_SECONDS) -> None:
    """Wait (a little, in real time) until the app clock reaches `not_before`."""
    if not_before is None:
        return
    deadline = time.monotonic() + limit_seconds
    while clock.now() < not_before and time.monotonic() < deadline:
        time.sleep(0.02)


def run_in_background(
    database: Database,
    settings: Settings,
    tenant_id: str,
    connection_id: str,
    stream: str,
    run_id: str,
    *,
    not_before: datetime | None = None,
) -> threading.Thread:
    """Run a sync that `service.start_sync` claimed on its own thread (after the claim commits),
    once the app clock reaches `not_before` if given."""
    thread = threading.Thread(
        target=_run_claimed,
        args=(database, settings, tenant_id, connection_id, stream, run_id, not_before),
        name=f"haina-sync-{stream}",
        daemon=True,
    )
    with _background_lock:
        _background.add(thread)
    thread.start()
    return thread


def wait_for_background_syncs(timeout: float = 30.0) -> bool:
    """Wait for syncs started in the background (tests, shutdown); False if some still run."""
    with _background_lock:
        threads = list(_background)
    for thread in threads:
        thread.join(timeout)
    return not any(thread.is_alive() for thread in threads)
