"""The ingest spine's rules: connections (with their secrets encrypted at rest), webhooks written
to the inbox before the answer, and incremental syncs that store each page and move its cursor
in one transaction.

What the spine calls out to goes through `wiring`: the connector of a platform
(haina.platforms.registry) and the function that stores canonical records
(haina.customers.service.store_records). Tests and tools replace them there; `run_sync` and
`reconcile` also take them as parameters.

Bad input never stops the pipeline. A raw record a stream could not map, a push that does not
parse and a webhook envelope that cannot be read are each kept in the inbox under their own
source (`<platform>_bad_record`, `<platform>` itself, `<platform>_unparsed`); the handlers in
haina.connections.tasks process them, so what cannot be processed ends in the dead-letter list
with its reason and replays after a fix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from haina.connections import limits, repository
from haina.connections.models import Connection, SyncCursor, SyncStatus
from haina.connections.repository import ConnectionRepository
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.crypto import DecryptionError, cipher_for
from haina.core.database import Database, new_id
from haina.core.errors import Conflict, DomainError, InvalidInput, NotFound
from haina.core.events import inbox
from haina.core.events.dispatcher import describe_error
from haina.core.settings import Settings, get_settings
from haina.platforms.base import (
    BadRecord,
    Connector,
    Credentials,
    Endpoint,
    Page,
    Stream,
    WebhookAnswer,
    WebhookRejected,
)
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.http import CircuitOpen

logger = logging.getLogger(__name__)

CREDENTIALS_CONTEXT = "connections.credentials"
# A running cursor whose heartbeat is older than this belongs to a run that died: take it over.
STALE_RUN = timedelta(minutes=10)
# Circuit breaker: this many failed runs in a row pause the connection, for a cool-down that
# doubles with each further failure.
PAUSE_AFTER_FAILURES = 3
PAUSE_BASE = timedelta(minutes=15)
PAUSE_MAX = timedelta(hours=6)
# Reconciliation re-pulls this much recent history; its progress row is "reconcile:<stream>".
RECONCILE_WINDOW = timedelta(hours=3)
RECONCILE_PREFIX = "reconcile:"
DEDUPE_KEY_LIMIT = 255
MASK = "••••"

PLATFORM_NAME = re.compile(r"^[a-z][a-z0-9_]{1,15}$")
EXTRA_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
MAX_EXTRA_ENTRIES = 30
MAX_SECRET_CHARS = 4000
# Headers never kept with an unparsed webhook body.
PRIVATE_HEADERS = frozenset({"cookie", "authorization", "proxy-authorization"})

StoreFunction = Callable[..., Any]  # store_records(session, tenant_id, records, *, settings, source="")
ConnectorLookup = Callable[[str], Connector]


# ── Wiring: the connector registry and the record store ──────────────────────────────────────


def default_connector(platform: str) -> Connector:
    from haina.platforms.registry import get_connector

    return get_connector(platform)


def default_store(
    session: Session,
    tenant_id: str,
    records: Sequence[CanonicalRecord],
    *,
    settings: Settings,
    source: str = "",
) -> Any:
    from haina.customers.service import store_records

    return store_records(session, tenant_id, records, settings=settings, source=source)


def default_platforms() -> list[str]:
    from haina.platforms.registry import platforms

    return platforms()


@dataclass
class Wiring:
    """The spine's two dependencies, replaceable as a whole (tests register a fake connector)."""

    connector: ConnectorLookup = default_connector
    store: StoreFunction = default_store
    platforms: Callable[[], list[str]] = default_platforms


wiring = Wiring()


class UnknownStream(NotFound):
    code = "unknown_stream"


class ConnectionUnavailable(Conflict):
    """Disabled, or paused by the circuit breaker."""

    code = "connection_unavailable"


class SyncAlreadyRunning(Conflict):
    code = "sync_running"


class SyncFailed(DomainError):
    """A sync stopped on an error; its cursor stays at the last stored page."""

    status_code = 502
    code = "sync_failed"


class SyncTakenOver(Conflict):
    """Another run took the stream over (this one looked dead); this run stops quietly."""

    code = "sync_taken_over"


class CredentialsUnreadable(DomainError):
    """The stored secrets cannot be decrypted (an encryption key was removed too early)."""

    status_code = 503
    code = "credentials_unreadable"


def connector_for(platform: str) -> Connector:
    try:
        return wiring.connector(platform)
    except LookupError as error:
        raise NotFound(f"no connector for platform {platform!r}", code="unknown_platform") from error


def known_platforms() -> list[str]:
    return list(wiring.platforms())


# ── Settings of the process that runs a handler ──────────────────────────────────────────────

_settings_by_engine: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()
_database_by_engine: weakref.WeakKeyDictionary[Engine, Database] = weakref.WeakKeyDictionary()


def bind_settings(database: Database) -> None:
    """Remember which settings go with this database, for event handlers (which get a session)."""
    _settings_by_engine[database.engine] = database.settings
    _database_by_engine[database.engine] = database


def database_for(session: Session) -> Database | None:
    """The Database a handler's session came from, when `bind_settings` saw it."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    return _database_by_engine.get(engine) if engine is not None else None


def settings_for(session: Session) -> Settings:
    """The settings of the database a session belongs to; the process settings otherwise (a
    Celery worker builds its Database from them, so they are the same)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    found = _settings_by_engine.get(engine) if engine is not None else None
    return found if found is not None else get_settings()


# ── Credentials ──────────────────────────────────────────────────────────────────────────────


def secret_hint(secret: str) -> str:
    """'••••3f9a': enough to tell two secrets apart, never enough to use one."""
    return MASK + secret[-4:] if len(secret) >= 12 else MASK


def encrypt_credentials(settings: Settings, credentials: Credentials) -> str:
    document = {
        "app_key": credentials.app_key,
        "app_secret": credentials.app_secret,
        "access_token": credentials.access_token,
        "refresh_token": credentials.refresh_token,
        "extra": dict(credentials.extra),
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True)
    return cipher_for(settings.encryption_keys).encrypt(text, context=CREDENTIALS_CONTEXT)


def credentials_of(connection: Connection, settings: Settings) -> Credentials:
    """The decrypted credentials of a connection, for calling its platform. Never shown."""
    try:
        text = cipher_for(settings.encryption_keys).decrypt(
            connection.credentials_encrypted, context=CREDENTIALS_CONTEXT
        )
    except DecryptionError as error:
        raise CredentialsUnreadable(
            f"the secrets of connection {connection.id} cannot be decrypted ({error}); "
            "restore the encryption key they were saved with, or enter them again"
        ) from error
    document = json.loads(text)
    return Credentials(
        app_key=document.get("app_key", ""),
        app_secret=document.get("app_secret", ""),
        shop_id=connection.shop_id,
        access_token=document.get("access_token", ""),
        refresh_token=document.get("refresh_token", ""),
        extra=dict(document.get("extra") or {}),
    )


def connector_credentials(connection: Connection, settings: Settings) -> Credentials:
    """The credentials handed to a connector: as stored, plus the connection's platform under
    `extra["platform"]` unless set (a Tmall shop speaks TOP like Taobao, but its records must
    say "tmall")."""
    credentials = credentials_of(connection, settings)
    if "platform" in credentials.extra:
        return credentials
    return replace(credentials, extra={**credentials.extra, "platform": connection.platform})


def extra_keys(connection: Connection, settings: Settings) -> list[str]:
    """Names (not values) of the platform settings stored with a connection."""
    try:
        return sorted(credentials_of(connection, settings).extra)
    except CredentialsUnreadable:
        return []


def reencrypt_credentials(session: Session, settings: Settings) -> int:
    """Re-encrypt every connection's secrets with the current key (after a key rotation)."""
    cipher = cipher_for(settings.encryption_keys)
    count = 0
    for connection in repository.every_connection(session):
        if cipher.needs_reencryption(connection.credentials_encrypted):
            connection.credentials_encrypted = encrypt_credentials(
                settings, credentials_of(connection, settings)
            )
            count += 1
    session.flush()
    return count


def endpoint_of(connection: Connection, connector: Connector) -> Endpoint:
    """The connection's base URL, else the platform's production gateway."""
    if connection.base_url:
        return Endpoint(connection.base_url, connection.backup_url)
    default = getattr(connector, "default_endpoint", None)
    if default is None:
        import importlib

        try:
            client_module = importlib.import_module(f"haina.platforms.{connection.platform}.client")
            default = getattr(client_module, "PRODUCTION", None)
        except ImportError:
            default = None
    if not isinstance(default, Endpoint):
        raise InvalidInput(
            f"connection {connection.name!r} has no base URL and {connection.platform} has no default; set one",
            code="no_base_url",
        )
    return Endpoint(default.base_url, connection.backup_url or default.backup_url)


def webhook_path(connection: Connection) -> str:
    return f"/webhooks/{connection.platform}/{connection.id}"


# ── Connections ──────────────────────────────────────────────────────────────────────────────


@dataclass
class NewConnection:
    platform: str
    name: str
    app_key: str
    app_secret: str
    shop_id: str = ""
    base_url: str = ""
    backup_url: str = ""
    access_token: str = ""
    refresh_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class ConnectionChanges:
    """Fields left None stay as they are. `extra` is merged: an empty value removes a key.
    `resume` clears a circuit-breaker pause."""

    name: str | None = None
    shop_id: str | None = None
    base_url: str | None = None
    backup_url: str | None = None
    is_active: bool | None = None
    app_key: str | None = None
    app_secret: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    extra: dict[str, str] | None = None
    resume: bool = False


def _check_text(value: str, what: str, limit: int, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} is required", code="invalid_input", field=what)
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters", code="invalid_input", field=what)
    return value


def _check_url(value: str, what: str) -> str:
    value = _check_text(value, what, 500)
    if value and not URL.match(value):
        raise InvalidInput(f"{what} must be an http:// or https:// URL", code="invalid_input", field=what)
    return value.rstrip("/")


def _check_extra(extra: Mapping[str, str]) -> dict[str, str]:
    if len(extra) > MAX_EXTRA_ENTRIES:
        raise InvalidInput(f"at most {MAX_EXTRA_ENTRIES} extra settings", code="invalid_input", field="extra")
    checked: dict[str, str] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not EXTRA_KEY.match(key):
            raise InvalidInput(
                f"extra setting name {key!r}: use lower-case letters, digits and '_'",
                code="invalid_input",
                field="extra",
            )
        if not isinstance(value, str) or len(value) > MAX_SECRET_CHARS:
            raise InvalidInput(f"extra setting {key!r} must be text", code="invalid_input", field="extra")
        checked[key] = value.strip()
    return checked


def _check_platform(platform: str) -> str:
    platform = platform.strip().lower()
    if not PLATFORM_NAME.match(platform):
        raise InvalidInput(f"unknown platform {platform!r}", code="unknown_platform", field="platform")
    try:
        wiring.connector(platform)
    except LookupError:
        known = ", ".join(known_platforms())
        raise InvalidInput(
            f"unknown platform {platform!r}; use one of {known}", code="unknown_platform", field="platform"
        ) from None
    return platform


def create_connection(
    session: Session, tenant_id: str, new: NewConnection, settings: Settings, *, actor: Actor | None = None
) -> Connection:
    """Add a connection; its secrets are encrypted at once and never returned."""
    platform = _check_platform(new.platform)
    name = _check_text(new.name, "name", 100, required=True)
    app_key = _check_text(new.app_key, "app_key", 200, required=True)
    app_secret = _check_text(new.app_secret, "app_secret", MAX_SECRET_CHARS, required=True)
    repo = ConnectionRepository(session, tenant_id)
    if repo.find_by_name(platform, name) is not None:
        raise Conflict(f"a {platform} connection named {name!r} already exists", code="connection_exists")
    credentials = Credentials(
        app_key=app_key,
        app_secret=app_secret,
        access_token=_check_text(new.access_token, "access_token", MAX_SECRET_CHARS),
        refresh_token=_check_text(new.refresh_token, "refresh_token", MAX_SECRET_CHARS),
        extra=_check_extra(new.extra),
    )
    now = clock.now()
    connection = Connection(
        platform=platform,
        name=name,
        shop_id=_check_text(new.shop_id, "shop_id", 64),
        base_url=_check_url(new.base_url, "base_url"),
        backup_url=_check_url(new.backup_url, "backup_url"),
        credentials_encrypted=encrypt_credentials(settings, credentials),
        secret_hint=secret_hint(app_secret),
        is_active=True,
        failure_count=0,
        created_at=now,
        updated_at=now,
    )
    repo.add(connection)
    audit.record(
        session,
        "connection.created",
        actor=actor,
        tenant_id=tenant_id,
        target_type="connection",
        target_id=connection.id,
        detail={"platform": platform, "name": name, "extra_keys": sorted(credentials.extra)},
    )
    return connection


def update_connection(
    session: Session,
    tenant_id: str,
    connection_id: str,
    changes: ConnectionChanges,
    settings: Settings,
    *,
    actor: Actor | None = None,
) -> Connection:
    """Change a connection; secrets given replace the stored ones (they are never read back)."""
    repo = ConnectionRepository(session, tenant_id)
    connection = repo.get(connection_id)
    changed: list[str] = []
    if changes.name is not None:
        name = _check_text(changes.name, "name", 100, required=True)
        if name != connection.name:
            other = repo.find_by_name(connection.platform, name)
            if other is not None and other.id != connection.id:
                raise Conflict(
                    f"a {connection.platform} connection named {name!r} already exists",
                    code="connection_exists",
                )
            connection.name = name
            changed.append("name")
    for attribute, limit in (("shop_id", 64),):
        value = getattr(changes, attribute)
        if value is not None:
            setattr(connection, attribute, _check_text(value, attribute, limit))
            changed.append(attribute)
    for attribute in ("base_url", "backup_url"):
        value = getattr(changes, attribute)
        if value is not None:
            setattr(connection, attribute, _check_url(value, attribute))
            changed.append(attribute)
    if changes.is_active is not None and changes.is_active != connection.is_active:
        connection.is_active = changes.is_active
        changed.append("is_active")
    secrets = {
        name: getattr(changes, name)
        for name in ("app_key", "app_secret", "access_token", "refresh_token")
        if getattr(changes, name) is not None
    }
    if secrets or changes.extra is not None:
        current = credentials_of(connection, settings)
        updated = replace(
            current,
            app_key=_check_text(secrets.get("app_key", current.app_key), "app_key", 200, required=True),
            app_secret=_check_text(
                secrets.get("app_secret", current.app_secret), "app_secret", MAX_SECRET_CHARS, required=True
            ),
            access_token=_check_text(
                secrets.get("access_token", current.access_token), "access_token", MAX_SECRET_CHARS
            ),
            refresh_token=_check_text(
                secrets.get("refresh_token", current.refresh_token), "refresh_token", MAX_SECRET_CHARS
            ),
        )
        if changes.extra is not None:
            merged = {**current.extra, **_check_extra(changes.extra)}
            updated = replace(updated, extra={key: value for key, value in merged.items() if value})
        connection.credentials_encrypted = encrypt_credentials(settings, updated)
        connection.secret_hint = secret_hint(updated.app_secret)
        changed.extend(sorted(secrets))
        if changes.extra is not None:
            changed.append("extra")
    if changes.resume and (connection.paused_until is not None or connection.failure_count):
        connection.paused_until = None
        connection.paused_reason = None
        connection.failure_count = 0
        changed.append("resumed")
    if changed:
        connection.updated_at = clock.now()
        session.flush()
        audit.record(
            session,
            "connection.updated",
            actor=actor,
            tenant_id=tenant_id,
            target_type="connection",
            target_id=connection.id,
            detail={"changed": changed},  # names only: secret values never reach the audit log
        )
    return connection


def list_connections(session: Session, tenant_id: str) -> list[Connection]:
    return ConnectionRepository(session, tenant_id).list_all()


def get_connection(session: Session, tenant_id: str, connection_id: str) -> Connection:
    return ConnectionRepository(session, tenant_id).get(connection_id)


# ── Progress ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SyncProgress:
    """Where a stream's run stands: what the console's bars and the CLI's line show."""

    connection_id: str
    stream: str
    status: str
    records_done: int = 0
    bad_records: int = 0
    pages_done: int = 0
    records_total: int = 0
    progress: float | None = None
    rate: float | None = None
    eta_seconds: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None

    @classmethod
    def of(cls, row: SyncCursor) -> SyncProgress:
        return cls(
            connection_id=row.connection_id,
            stream=row.stream,
            status=row.status,
            records_done=row.records_done,
            bad_records=row.bad_records,
            pages_done=row.pages_done,
            records_total=row.records_total,
            progress=row.progress,
            rate=row.rate,
            eta_seconds=row.eta_seconds,
            started_at=row.started_at,
            finished_at=row.finished_at,
            last_error=row.last_error,
        )

    @property
    def is_running(self) -> bool:
        return self.status == SyncStatus.RUNNING.value

    @property
    def percent(self) -> int | None:
        return None if self.progress is None else int(round(self.progress * 100))


ProgressCallback = Callable[[SyncProgress], None]


def stream_progress(session: Session, tenant_id: str, connection: Connection) -> list[SyncProgress]:
    """Every stream of a connection (those never run as idle), then its reconciliation rows."""
    rows = {row.stream: row for row in ConnectionRepository(session, tenant_id).cursors([connection.id])}
    try:
        names = list(connector_for(connection.platform).streams)
    except NotFound:
        names = []
    found = [
        SyncProgress.of(rows.pop(name)) if name in rows else SyncProgress(connection.id, name, "idle")
        for name in names
    ]
    return found + [SyncProgress.of(row) for _, row in sorted(rows.items())]


# ── Syncs ────────────────────────────────────────────────────────────────────────────────────


def load_connection(session: Session, connection_id: str, tenant_id: str | None = None) -> Connection:
    """A connection of a tenant, or (tenant None: the CLI and the scheduler) of any tenant."""
    if tenant_id is not None:
        return ConnectionRepository(session, tenant_id).get(connection_id)
    connection = repository.connection_for_webhook(session, connection_id)
    if connection is None:
        raise NotFound(f"connection {connection_id} not found")
    return connection


def _check_runnable(connection: Connection, *, force: bool) -> None:
    if not connection.is_active:
        raise ConnectionUnavailable(f"connection {connection.name!r} is disabled; enable it first")
    if connection.is_paused() and not force:
        assert connection.paused_until is not None
        raise ConnectionUnavailable(
            f"connection {connection.name!r} is paused until {connection.paused_until.isoformat()}: "
            f"{connection.paused_reason}; resume it, or start the sync by hand"
        )


def _stream(connector: Connector, platform: str, name: str) -> Stream:
    stream = connector.streams.get(name)
    if stream is None:
        known = ", ".join(connector.streams) or "none"
        raise UnknownStream(f"{platform} has no stream {name!r}; its streams: {known}")
    return stream


def _claim(session: Session, connection: Connection, row_name: str, run_id: str) -> SyncCursor:
    repository.ensure_cursor(session, connection, row_name)
    if not repository.claim_cursor(
        session, connection, row_name, run_id, stale_before=clock.now() - STALE_RUN
    ):
        raise SyncAlreadyRunning(
            f"a sync of {row_name} is already running for connection {connection.name!r}"
        )
    row = repository.cursor_by_name(session, connection.id, row_name)
    assert row is not None
    return row


def start_sync(
    session: Session,
    tenant_id: str,
    connection_id: str,
    stream: str,
    *,
    actor: Actor | None = None,
    force: bool = True,
    audited: bool = True,
) -> str:
    """Claim a stream for a run someone asked for (console, API) and return the run id to hand to
    `run_sync` in the background. A person's request overrides a circuit-breaker pause; a run
    the spine starts itself (`audited=False`, e.g. on a push) does not and leaves no audit entry."""
    connection = ConnectionRepository(session, tenant_id).get(connection_id)
    _check_runnable(connection, force=force)
    _stream(connector_for(connection.platform), connection.platform, stream)
    run_id = new_id()
    _claim(session, connection, stream, run_id)
    if not audited:
        return run_id
    audit.record(
        session,
        "connection.sync_started",
        actor=actor,
        tenant_id=tenant_id,
        target_type="connection",
        target_id=connection.id,
        detail={"stream": stream},
    )
    return run_id


@dataclass
class _Run:
    """What a run carries from page to page."""

    connection_id: str
    tenant_id: str
    platform: str
    stream: str
    row_id: str
    run_id: str
    started_at: datetime
    credentials: Credentials
    source: str


def run_sync(
    database: Database,
    settings: Settings,
    connection_id: str,
    stream: str,
    *,
    until: datetime | None = None,
    progress: ProgressCallback | None = None,
    store: StoreFunction | None = None,
    connector: Connector | None = None,
    run_id: str | None = None,
    tenant_id: str | None = None,
    force: bool = False,
    since: datetime | None = None,
) -> SyncProgress:
    """Pull `stream` of a connection from its saved cursor up to `until` (default: now). A first
    run (no cursor yet) backfills history in windows, from `since` when given, else from the
    platform's horizon.

    Each page's records, its bad records (to the inbox, for the dead-letter list) and the cursor
    past it are written in ONE transaction, so a run that dies resumes exactly after the last
    stored page. Raises SyncFailed (after recording it, and pausing the connection when failures
    repeat), SyncAlreadyRunning, or ConnectionUnavailable.
    """
    return _run(
        database,
        settings,
        connection_id,
        stream,
        row_name=stream,
        start_cursor={"since": since.isoformat()} if since is not None else None,
        resume=True,
        until=until,
        progress=progress,
        store=store,
        connector=connector,
        run_id=run_id,
        tenant_id=tenant_id,
        force=force,
    )


def reconcile(
    database: Database,
    settings: Settings,
    connection_id: str,
    *,
    streams: Sequence[str] | None = None,
    window: timedelta = RECONCILE_WINDOW,
    until: datetime | None = None,
    progress: ProgressCallback | None = None,
    store: StoreFunction | None = None,
    connector: Connector | None = None,
    tenant_id: str | None = None,
) -> list[SyncProgress]:
    """Re-pull the last `window` of each stream without moving its cursor, so an object whose
    push was lost is stored anyway (stores are idempotent). A stream may say how to start such a
    window with `reconcile_cursor(since)`; the default is `{"since": <iso time>}`, which the
    windowed order streams read as "backfill from there". A failing stream does not stop the rest."""
    until = until or clock.now()
    with database.unit_of_work() as session:
        connection = load_connection(session, connection_id, tenant_id)
        connector = connector or connector_for(connection.platform)
        names = list(streams) if streams is not None else list(connector.streams)
    results = []
    for name in names:
        stream = _stream(connector, connection.platform, name)
        since = until - window
        make_cursor = getattr(stream, "reconcile_cursor", None)
        start = make_cursor(since) if callable(make_cursor) else {"since": since.isoformat()}
        try:
            results.append(
                _run(
                    database,
                    settings,
                    connection_id,
                    name,
                    row_name=RECONCILE_PREFIX + name,
                    start_cursor=start,
                    resume=False,
                    until=until,
                    progress=progress,
                    store=store,
                    connector=connector,
                    run_id=None,
                    tenant_id=tenant_id,
                    force=False,
                )
            )
        except (SyncFailed, SyncAlreadyRunning) as error:
            logger.warning("reconciliation of %s/%s failed: %s", connection_id, name, error)
            results.append(
                SyncProgress(
                    connection_id, RECONCILE_PREFIX + name, SyncStatus.FAILED.value, last_error=str(error)
                )
            )
    return results


def _run(
    database: Database,
    settings: Settings,
    connection_id: str,
    stream_name: str,
    *,
    row_name: str,
    start_cursor: dict[str, Any] | None,
    resume: bool,
    until: datetime | None,
    progress: ProgressCallback | None,
    store: StoreFunction | None,
    connector: Connector | None,
    run_id: str | None,
    tenant_id: str | None,
    force: bool,
) -> SyncProgress:
    bind_settings(database)
    store_records = store or wiring.store
    run_id = run_id or new_id()
    with database.unit_of_work() as session:
        connection = load_connection(session, connection_id, tenant_id)
        _check_runnable(connection, force=force)
        connector = connector or connector_for(connection.platform)
        stream = _stream(connector, connection.platform, stream_name)
        credentials = connector_credentials(connection, settings)
        endpoint = endpoint_of(connection, connector)
        row = _claim(session, connection, row_name, run_id)
        cursor = dict(row.cursor) if resume and row.cursor else start_cursor
        run = _Run(
            connection_id=connection.id,
            tenant_id=connection.tenant_id,
            platform=connection.platform,
            stream=stream_name,
            row_id=row.id,
            run_id=run_id,
            started_at=row.started_at or clock.now(),
            credentials=credentials,
            source=f"{connection.platform}.sync",
        )
    until = until or clock.now()
    client: Any = None
    try:
        limiter = limits.limiter_for(run.platform, run.connection_id, settings)
        client = connector.make_client(credentials, endpoint, limiter=limiter)
        for page in stream.pages(client, cursor, until=until):
            snapshot = _store_page(database, settings, run, page, store_records, client)
            if progress is not None:
                progress(snapshot)
            if page.done:
                break
    except SyncTakenOver:
        raise
    except BaseException as error:
        _record_failure(database, settings, run, error, client)
        if isinstance(error, Exception):
            raise SyncFailed(f"sync of {stream_name} stopped: {type(error).__name__}: {error}") from error
        raise
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's own outcome
                logger.warning("closing the %s client failed", run.platform, exc_info=True)
    finished = _finish(database, run)
    if progress is not None:
        progress(finished)
    return finished


def _store_page(
    database: Database, settings: Settings, run: _Run, page: Page, store: StoreFunction, client: Any
) -> SyncProgress:
    with database.unit_of_work() as session:
        row = repository.hold_cursor(session, run.row_id, run.run_id)
        if row is None:
            raise SyncTakenOver(f"another run took over {run.stream} of connection {run.connection_id}")
        if page.records:
            store(session, run.tenant_id, page.records, settings=settings, source=run.source)
        if page.bad:
            keep_bad_records(session, run.tenant_id, run.platform, run.connection_id, run.stream, page.bad)
        _save_credentials(session, settings, run, client)
        now = clock.now()
        row.cursor = dict(page.cursor)
        row.records_done += len(page.records)
        row.records_total += len(page.records)
        row.bad_records += len(page.bad)
        row.pages_done += 1
        if page.progress is not None:
            row.progress = min(max(float(page.progress), 0.0), 1.0)
        elapsed = (now - run.started_at).total_seconds()
        row.rate = row.records_done / elapsed if elapsed > 0 else None
        fraction = row.progress
        if fraction is not None and fraction >= 1.0:
            row.eta_seconds = 0
        elif fraction and elapsed > 0:
            row.eta_seconds = int(elapsed * (1.0 - fraction) / fraction)
        else:
            row.eta_seconds = None
        session.flush()
        return SyncProgress.of(row)


def _save_credentials(session: Session, settings: Settings, run: _Run, client: Any) -> None:
    """A client that refreshed its token hands back new credentials: keep them (encrypted)."""
    refreshed = getattr(client, "credentials", None)
    if not isinstance(refreshed, Credentials) or refreshed == run.credentials:
        return
    connection = session.get(Connection, run.connection_id)
    if connection is None:
        return
    kept = replace(refreshed, shop_id=connection.shop_id)
    connection.credentials_encrypted = encrypt_credentials(settings, kept)
    connection.secret_hint = secret_hint(kept.app_secret)
    if refreshed.shop_id and not connection.shop_id:
        connection.shop_id = refreshed.shop_id
    run.credentials = refreshed


def _record_failure(
    database: Database, settings: Settings, run: _Run, error: BaseException, client: Any
) -> None:
    now = clock.now()
    try:
        with database.unit_of_work() as session:
            repository.take_write_lock(session)
            row = session.get(SyncCursor, run.row_id)
            if row is not None and row.run_id == run.run_id:
                row.status = SyncStatus.FAILED.value
                row.last_error = describe_error(error)
                row.finished_at = now
                row.heartbeat_at = now
                row.eta_seconds = None
            connection = session.get(Connection, run.connection_id)
            if connection is None:
                return
            _save_credentials(session, settings, run, client)
            if not isinstance(error, Exception):
                return  # interrupted by hand: not the platform's fault
            connection.failure_count += 1
            _maybe_pause(session, connection, error, now)
    except Exception:  # noqa: BLE001 - the run's own error matters more than this bookkeeping
        logger.exception("could not record the failure of a %s sync", run.stream)


def _maybe_pause(session: Session, connection: Connection, error: BaseException, now: datetime) -> None:
    """The circuit breaker: repeated failures pause the connection, and the console shows why."""
    until: datetime | None = None
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, CircuitOpen):
        # The client's own breaker opened: pause the connection for as long as it says.
        until, reason = error.until, error.reason or reason
    else:
        if connection.failure_count < PAUSE_AFTER_FAILURES:
            return
        steps = connection.failure_count - PAUSE_AFTER_FAILURES
        until = now + min(PAUSE_BASE * (2 ** min(steps, 10)), PAUSE_MAX)
        reason = f"{connection.failure_count} syncs in a row failed; the last: {reason}"
    connection.paused_until = until
    connection.paused_reason = reason[:2000]
    audit.record(
        session,
        "connection.paused",
        tenant_id=connection.tenant_id,
        target_type="connection",
        target_id=connection.id,
        outcome="paused",
        detail={"reason": reason[:500], "until": until.isoformat()},
    )


def abandon_run(database: Database, connection_id: str, stream: str, run_id: str, reason: str) -> None:
    """Release a stream claimed by `start_sync` whose run could not start (marked failed)."""
    with database.unit_of_work() as session:
        repository.take_write_lock(session)
        row = repository.cursor_by_name(session, connection_id, stream)
        if row is not None and row.run_id == run_id and row.status == SyncStatus.RUNNING.value:
            row.status = SyncStatus.FAILED.value
            row.last_error = reason[:4000]
            row.finished_at = clock.now()


def _finish(database: Database, run: _Run) -> SyncProgress:
    with database.unit_of_work() as session:
        row = repository.hold_cursor(session, run.row_id, run.run_id)
        if row is None:
            raise SyncTakenOver(f"another run took over {run.stream} of connection {run.connection_id}")
        now = clock.now()
        row.status = SyncStatus.IDLE.value
        row.finished_at = now
        row.run_id = None
        row.progress = 1.0
        row.eta_seconds = 0
        elapsed = (now - run.started_at).total_seconds()
        row.rate = row.records_done / elapsed if elapsed > 0 else None
        connection = session.get(Connection, run.connection_id)
        if connection is not None and (connection.failure_count or connection.paused_until is not None):
            connection.failure_count = 0
            connection.paused_until = None
            connection.paused_reason = None
        session.flush()
        return SyncProgress.of(row)


# ── Bad input kept in the inbox ──────────────────────────────────────────────────────────────


def bad_record_source(platform: str) -> str:
    return f"{platform}_bad_record"


def unparsed_source(platform: str) -> str:
    return f"{platform}_unparsed"


def dedupe_key(platform: str, connection_id: str, key: str) -> str:
    """Inbox dedupe keys are per tenant: prefix the platform and connection, hash if too long."""
    value = f"{platform}:{connection_id}:{key}"
    if len(value) <= DEDUPE_KEY_LIMIT:
        return value
    return f"{platform}:{connection_id}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def keep_bad_records(
    session: Session, tenant_id: str, platform: str, connection_id: str, stream: str, bad: Sequence[BadRecord]
) -> int:
    """Write raw records a stream could not map to the inbox (once each); their handler fails
    them into the dead-letter list with the reason, and a replay maps them again."""
    kept = 0
    for record in bad:
        digest = hashlib.sha256(record.raw).hexdigest()
        key = dedupe_key(platform, connection_id, f"bad:{stream}:{record.object_id}:{digest}")
        headers = {"reason": record.reason[:2000], "stream": stream, "object_id": record.object_id}
        _, is_new = inbox.receive(
            session,
            tenant_id,
            bad_record_source(platform),
            key,
            record.raw,
            headers,
            connection_id=connection_id,
        )
        kept += int(is_new)
    return kept


class BadRecordError(ValueError):
    """A kept bad record still cannot be mapped."""


def remap_bad_record(
    connector: Connector, stream_name: str, credentials: Credentials, raw: bytes
) -> list[CanonicalRecord]:
    """Map a kept raw record again (after a fix). A stream may offer `map_raw(raw, shop_id)`; the
    windowed order streams' `map_orders([raw], shop_id)` is used otherwise."""
    stream = connector.streams.get(stream_name)
    if stream is None:
        raise BadRecordError(f"the platform has no stream {stream_name!r} any more")
    map_raw = getattr(stream, "map_raw", None)
    if callable(map_raw):
        return list(map_raw(raw, credentials.shop_id))
    map_orders = getattr(stream, "map_orders", None)
    if callable(map_orders):
        try:
            document = json.loads(raw)
        except ValueError as error:
            raise BadRecordError(f"the kept record is not JSON: {error}") from error
        records, bad = map_orders([document], credentials.shop_id)
        if bad:
            raise BadRecordError(bad[0].reason)
        return list(records)
    raise BadRecordError(
        f"stream {stream_name!r} cannot map a single record again; sync the window it came from instead"
    )


# ── Webhooks ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class WebhookOutcome:
    status: int
    body: bytes
    content_type: str
    stored: int = 0
    duplicates: int = 0


def _json_error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode("utf-8")


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in list(headers.items())[:60]:
        if name.lower() not in PRIVATE_HEADERS:
            kept[name.lower()] = value[:2000]
    return kept


def pushed_items(
    tenant_id: str, platform: str, connection_id: str, answer: WebhookAnswer
) -> list[inbox.NewItem]:
    """The inbox items of a verified push."""
    return [
        inbox.NewItem(
            tenant_id=tenant_id,
            source=platform,
            dedupe_key=dedupe_key(platform, connection_id, item.dedupe_key),
            payload=item.payload,
            headers={"via": "webhook", "object_id": item.object_id},
            connection_id=connection_id,
        )
        for item in answer.items
    ]


def receive_webhook(
    session: Session,
    database: Database,
    settings: Settings,
    platform: str,
    connection_id: str,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    ip: str = "",
) -> WebhookOutcome:
    """Verify a push on its raw body and write its items to the inbox in the caller's transaction
    (committed before the answer leaves). A rejected signature stores nothing but an audit entry;
    an envelope that cannot be read is kept whole (source `<platform>_unparsed`) and answers 400."""
    connection = repository.connection_for_webhook(session, connection_id)
    if connection is None or connection.platform != platform or not connection.is_active:
        raise NotFound(f"no active {platform} connection {connection_id}", code="unknown_connection")
    connector = connector_for(platform)
    credentials = connector_credentials(connection, settings)
    try:
        answer = connector.receive_webhook(credentials, method, query, headers, body)
    except WebhookRejected as rejected:
        audit.record_separately(
            database,
            "webhook.rejected",
            tenant_id=connection.tenant_id,
            target_type="connection",
            target_id=connection.id,
            outcome="denied",
            detail={"platform": platform, "method": method, "reason": rejected.reason[:500]},
            ip=ip,
        )
        status = rejected.status if 400 <= rejected.status < 500 else 401
        return WebhookOutcome(status, _json_error("webhook_rejected", rejected.reason), "application/json")
    except Exception as error:  # noqa: BLE001 - bad input answers 400 and is kept, never a 500
        logger.warning("unreadable %s webhook for connection %s: %s", platform, connection.id, error)
        reason = f"{type(error).__name__}: {error}"
        stored = {
            "method": method.upper(),
            "query": dict(query),
            "headers": _kept_headers(headers),
            "reason": reason[:2000],
        }
        key = dedupe_key(platform, connection.id, f"unparsed:{hashlib.sha256(body).hexdigest()}")
        inbox.receive(
            session,
            connection.tenant_id,
            unparsed_source(platform),
            key,
            body,
            stored,
            connection_id=connection.id,
        )
        message = "the webhook could not be read; it is kept for review and replay"
        return WebhookOutcome(400, _json_error("unreadable_webhook", message), "application/json")
    new = inbox.receive_many(session, pushed_items(connection.tenant_id, platform, connection.id, answer))
    stored_count = sum(new)
    return WebhookOutcome(
        answer.status, answer.body, answer.content_type, stored_count, len(new) - stored_count
    )
