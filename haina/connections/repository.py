"""Queries of the connections module. Tenant scoping is ConnectionRepository's `scoped()`; the two
cross-tenant lookups are deliberate and named so: a webhook is addressed by connection id alone
(its signature is the authentication), and the scheduler walks every tenant's connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from haina.connections.models import Connection, SyncCursor, SyncStatus
from haina.core import clock
from haina.core.database import new_id
from haina.core.repository import TenantRepository


class ConnectionRepository(TenantRepository[Connection]):
    model = Connection
    label = "connection"

    def list_all(self) -> list[Connection]:
        statement = self.scoped(select(Connection)).order_by(
            Connection.platform, Connection.name, Connection.id
        )
        return list(self.session.scalars(statement))

    def find_by_name(self, platform: str, name: str) -> Connection | None:
        statement = self.scoped(select(Connection)).where(
            Connection.platform == platform, Connection.name == name
        )
        return self.session.scalar(statement)

    def cursors(self, connection_ids: list[str]) -> list[SyncCursor]:
        if not connection_ids:
            return []
        statement: Select[Any] = (
            select(SyncCursor)
            .where(SyncCursor.tenant_id == self.tenant_id, SyncCursor.connection_id.in_(connection_ids))
            .order_by(SyncCursor.stream)
        )
        return list(self.session.scalars(statement))


def connection_for_webhook(session: Session, connection_id: str) -> Connection | None:
    """The connection a webhook URL names, in any tenant."""
    return session.get(Connection, connection_id)


def every_connection(session: Session) -> list[Connection]:
    """For key rotation: every connection of every tenant."""
    return list(session.scalars(select(Connection).order_by(Connection.id)))


def active_connections_of_every_tenant(session: Session) -> list[Connection]:
    """For the scheduler: every active connection, oldest first."""
    statement = select(Connection).where(Connection.is_active.is_(True)).order_by(Connection.created_at)
    return list(session.scalars(statement))


def cursors_of(session: Session, connection_ids: list[str]) -> list[SyncCursor]:
    if not connection_ids:
        return []
    return list(session.scalars(select(SyncCursor).where(SyncCursor.connection_id.in_(connection_ids))))


def ensure_cursor(session: Session, connection: Connection, stream: str) -> None:
    """Create the cursor row of (connection, stream) unless it exists; race-free on both backends."""
    values = {
        "id": new_id(),
        "tenant_id": connection.tenant_id,
        "connection_id": connection.id,
        "stream": stream,
        "status": SyncStatus.IDLE.value,
        "records_done": 0,
        "bad_records": 0,
        "pages_done": 0,
        "records_total": 0,
    }
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        statement = postgresql.insert(SyncCursor)
    else:
        statement = sqlite.insert(SyncCursor)
    session.execute(
        statement.values(**values).on_conflict_do_nothing(index_elements=["connection_id", "stream"])
    )


def claim_cursor(
    session: Session, connection: Connection, stream: str, run_id: str, *, stale_before: datetime
) -> bool:
    """Mark the stream running for `run_id` unless a live run of another id holds it.

    One conditional UPDATE, so two claimers cannot both win; a run whose heartbeat is older than
    `stale_before` (its process died) is taken over.
    """
    now = clock.now()
    statement = (
        update(SyncCursor)
        .where(
            SyncCursor.connection_id == connection.id,
            SyncCursor.stream == stream,
            or_(
                SyncCursor.status != SyncStatus.RUNNING.value,
                SyncCursor.run_id == run_id,
                SyncCursor.run_id.is_(None),
                SyncCursor.heartbeat_at.is_(None),
                SyncCursor.heartbeat_at < stale_before,
            ),
        )
        .values(
            status=SyncStatus.RUNNING.value,
            run_id=run_id,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            records_done=0,
            bad_records=0,
            pages_done=0,
            progress=None,
            rate=None,
            eta_seconds=None,
            last_error=None,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def hold_cursor(session: Session, cursor_id: str, run_id: str) -> SyncCursor | None:
    """Touch the heartbeat of a cursor this run still holds and return it (None if taken over).

    Writing first also makes the page's transaction a writer at once (SQLite) and locks the row
    (PostgreSQL), so a takeover cannot slip in between the check and the page's writes.
    """
    statement = (
        update(SyncCursor)
        .where(
            and_(
                SyncCursor.id == cursor_id,
                SyncCursor.run_id == run_id,
                SyncCursor.status == SyncStatus.RUNNING.value,
            )
        )
        .values(heartbeat_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if not session.execute(statement).rowcount:  # type: ignore[attr-defined]
        return None
    return session.scalars(
        select(SyncCursor).where(SyncCursor.id == cursor_id).execution_options(populate_existing=True)
    ).one()


def cursor_by_name(session: Session, connection_id: str, stream: str) -> SyncCursor | None:
    return session.scalars(
        select(SyncCursor)
        .where(SyncCursor.connection_id == connection_id, SyncCursor.stream == stream)
        .execution_options(populate_existing=True)
    ).one_or_none()


def take_write_lock(session: Session) -> None:
    """On SQLite, make the transaction a writer before it reads (see haina.core.events._sql)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE sync_cursors SET id = id WHERE 0"))
