"""Scheduled intake of the message archive: every minute, for each tenant with archive private
keys and an active WeCom connection, `haina.archive.tasks.run_intake` from the source the CLI
(`haina archive pull`) would use for that connection (the sandbox's archive for a sandbox base
URL, the Finance SDK otherwise).

The job is registered with the engage periodic-job registry (haina.engage.schedule): the
embedded server's scheduler thread runs it per active tenant, and with Celery the beat entry of
`haina.engage.run_due` does. A tenant is pulled by one run at a time: the run claims the
tenant's ArchiveIntakeRun row with one conditional UPDATE (state running and a fresh heartbeat
= taken), committed before the pull, on SQLite and PostgreSQL alike. A failing tenant (SDK
absent, WeCom refusing, …) records the error on that row, which the console shows; the others
go on. "立即拉取" in the console claims the same row and pulls in a background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from haina.archive import service as archive
from haina.archive import tasks, upkeep
from haina.archive.retention.models import ArchiveIntakeRun, IntakeState
from haina.archive.sources import ChatSource, Decryptor
from haina.connections.models import Connection
from haina.core import clock
from haina.core.database import Database, new_id
from haina.core.settings import Settings
from haina.engage import schedule

logger = logging.getLogger(__name__)

PULL_SECONDS = 60
# A running claim whose heartbeat (moved after every batch) is older than this belongs to a run
# that died: the next run takes the tenant over.
STALE = timedelta(minutes=10)
BATCH_LIMIT = 1000
ERROR_CHARS = 2000


class SourceUnavailable(Exception):
    """The archive of a connection cannot be read (no SDK, no secret): recorded, not raised."""


Opened = tuple[ChatSource, Decryptor, Any]
SourceFactory = Callable[[Connection, Settings], Opened]


def source_for(connection: Connection, settings: Settings) -> Opened:
    """(source, decryptor, handle to close) of a WeCom connection, as `haina archive pull` picks."""
    from haina.archive.finance_sdk import ENV_PATH, FinanceSdk, FinanceSdkMissing
    from haina.archive.sources import SandboxDecryptor, WeComHttpSource
    from haina.connections.service import credentials_of
    from haina.platforms.base import Endpoint
    from haina.platforms.wecom.client import WeComClient

    credentials = credentials_of(connection, settings)
    if "/sandbox/" in (connection.base_url or ""):
        client = WeComClient(credentials, Endpoint(connection.base_url))
        return WeComHttpSource(client), SandboxDecryptor(), client
    secret = credentials.extra.get("msgaudit_secret") or credentials.app_secret
    try:
        sdk = FinanceSdk(credentials.app_key, secret)
    except FinanceSdkMissing as error:
        raise SourceUnavailable(f"{error} (set {ENV_PATH})") from error
    return sdk, sdk, sdk


def wecom_connections(session: Session, tenant_id: str) -> list[Connection]:
    """The tenant's active WeCom connections, if it holds an archive key (else none to pull)."""
    if not archive.key_versions(session, tenant_id):
        return []
    statement = (
        select(Connection)
        .where(
            Connection.tenant_id == tenant_id, Connection.platform == "wecom", Connection.is_active.is_(True)
        )
        .order_by(Connection.created_at, Connection.id)
    )
    return list(session.scalars(statement))


def intake_status(session: Session, tenant_id: str) -> ArchiveIntakeRun | None:
    return session.scalar(select(ArchiveIntakeRun).where(ArchiveIntakeRun.tenant_id == tenant_id))


def is_running(run: ArchiveIntakeRun | None, now: datetime | None = None) -> bool:
    if run is None or run.state != IntakeState.RUNNING:
        return False
    beat = run.heartbeat_at or run.started_at
    return beat is not None and beat > (now or clock.now()) - STALE


def claim(database: Database, tenant_id: str, *, requested_by: str = "") -> str | None:
    """Mark the tenant's intake as ours (committed); our run token, or None if a live run holds it."""
    with database.unit_of_work() as session:
        if intake_status(session, tenant_id) is None:
            try:
                with session.begin_nested():
                    session.add(ArchiveIntakeRun(tenant_id=tenant_id, state=IntakeState.IDLE))
            except IntegrityError:
                pass  # another claimer created it first: the UPDATE below decides
    token = new_id()
    now = clock.now()
    with database.unit_of_work() as session:
        claimed = session.execute(
            update(ArchiveIntakeRun)
            .where(
                ArchiveIntakeRun.tenant_id == tenant_id,
                (ArchiveIntakeRun.state != IntakeState.RUNNING)
                | ArchiveIntakeRun.heartbeat_at.is_(None)
                | (ArchiveIntakeRun.heartbeat_at <= now - STALE),
            )
            .values(
                state=IntakeState.RUNNING,
                run_token=token,
                requested_by=requested_by,
                started_at=now,
                heartbeat_at=now,
                finished_at=None,
                messages=0,
                batches=0,
            )
            .execution_options(synchronize_session=False)
        )
        return token if _rowcount(claimed) == 1 else None


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _progress(database: Database, tenant_id: str, token: str, **values: Any) -> bool:
    with database.unit_of_work() as session:
        moved = session.execute(
            update(ArchiveIntakeRun)
            .where(
                ArchiveIntakeRun.tenant_id == tenant_id,
                ArchiveIntakeRun.run_token == token,
                ArchiveIntakeRun.state == IntakeState.RUNNING,
            )
            .values(heartbeat_at=clock.now(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(_rowcount(moved))


@dataclass
class PullOutcome:
    tenant_id: str
    state: str  # done / failed / busy / skipped
    stored: int = 0
    batches: int = 0
    last_seq: int = 0
    error: str = ""


def pull_tenant(
    database: Database,
    tenant_id: str,
    *,
    requested_by: str = "",
    token: str | None = None,
    sources: SourceFactory = source_for,
    limit: int = BATCH_LIMIT,
) -> PullOutcome:
    """Pull every WeCom connection of the tenant until nothing is newer, batch by batch with the
    progress on the tenant's run row. Never raises for the tenant's own failures: they end the
    run as failed with the reason."""
    with database.unit_of_work() as session:
        connections = wecom_connections(session, tenant_id)
        for connection in connections:
            session.expunge(connection)
    if not connections:
        if token is not None:
            _progress(database, tenant_id, token, state=IntakeState.DONE, finished_at=clock.now())
        return PullOutcome(tenant_id, "skipped")
    if token is not None and not _progress(database, tenant_id, token):
        return PullOutcome(tenant_id, "busy")  # our claim went stale and another run took it
    token = token or claim(database, tenant_id, requested_by=requested_by)
    if token is None:
        return PullOutcome(tenant_id, "busy")
    outcome = PullOutcome(tenant_id, IntakeState.DONE)
    notes: list[str] = []
    try:
        for connection in connections:
            source, decryptor, handle = sources(connection, database.settings)
            try:
                while True:
                    result = tasks.run_intake(
                        database, tenant_id, connection.shop_id, source, decryptor, limit=limit, max_batches=1
                    )
                    if result.batches == 0:
                        break
                    outcome.batches += 1
                    outcome.stored += result.stored
                    outcome.last_seq = result.last_seq
                    if result.undecrypted:
                        notes.append(
                            f"{connection.name}: {result.undecrypted} messages wait for a missing key version"
                        )
                    if not _progress(
                        database,
                        tenant_id,
                        token,
                        messages=outcome.stored,
                        batches=outcome.batches,
                        last_seq=outcome.last_seq,
                    ):
                        raise RuntimeError("the run was taken over (its heartbeat went stale)")
            finally:
                handle.close()
    except Exception as error:  # noqa: BLE001 - recorded on the tenant's status; other tenants go on
        logger.warning("archive intake of tenant %s failed: %s", tenant_id, error, exc_info=True)
        outcome.state, outcome.error = IntakeState.FAILED, f"{type(error).__name__}: {error}"[:ERROR_CHARS]
    now = clock.now()
    finish: dict[str, Any] = {"state": outcome.state, "finished_at": now, "last_error": outcome.error or None}
    if outcome.state == IntakeState.DONE:
        finish["last_success_at"] = now
        finish["last_error"] = "\n".join(dict.fromkeys(notes))[:ERROR_CHARS] or None
    _progress(database, tenant_id, token, **finish)
    if outcome.stored:
        upkeep.vacuum_if_due(database)
    return outcome


def pull_all(database: Database, *, sources: SourceFactory = source_for) -> list[PullOutcome]:
    """Every active tenant once (tests, cron): a failing tenant does not stop the others."""
    return [
        pull_tenant(database, tenant_id, sources=sources) for tenant_id in schedule.active_tenants(database)
    ]


def start_pull(database: Database, tenant_id: str, requested_by: str) -> bool:
    """ "立即拉取": claim now (so the page shows it running at once), pull in a background thread;
    False if a run already holds the tenant or there is nothing to pull from."""
    with database.unit_of_work() as session:
        if not wecom_connections(session, tenant_id):
            return False
    token = claim(database, tenant_id, requested_by=requested_by)
    if token is None:
        return False
    thread = threading.Thread(
        target=pull_tenant,
        args=(database, tenant_id),
        kwargs={"requested_by": requested_by, "token": token},
        name=f"haina-archive-pull-{tenant_id}",
        daemon=True,
    )
    thread.start()
    return True


@schedule.periodic_with_database("archive.pull", seconds=PULL_SECONDS)
def pull_due(database: Database, tenant_id: str) -> None:
    """The minute's pull of one tenant (nothing for a tenant without archive key or WeCom)."""
    with database.unit_of_work() as session:
        if not wecom_connections(session, tenant_id):
            return
    pull_tenant(database, tenant_id)
