"""The audit log: written in the same transaction as the change it records; denials and failed
logins, whose own transaction rolls back, are written in a transaction of their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.core.audit.models import AuditEntry
from haina.core.auth.actor import Actor
from haina.core.database import Database


def record(
    session: Session,
    action: str,
    *,
    actor: Actor | None = None,
    tenant_id: str | None = None,
    target_type: str = "",
    target_id: str = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> AuditEntry:
    """Append an entry in the caller's transaction."""
    entry = AuditEntry(
        tenant_id=actor.tenant_id if actor else tenant_id,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        outcome=outcome,
        detail=detail or {},
        ip=(actor.ip if actor and actor.ip else ip),
    )
    session.add(entry)
    session.flush()
    return entry


def record_separately(database: Database, action: str, **fields: Any) -> None:
    """Append an entry that must survive the rollback of the request (denials, failed logins)."""
    with database.unit_of_work() as session:
        record(session, action, **fields)


def list_entries(
    session: Session,
    tenant_id: str,
    *,
    action: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if before_id:
        statement = statement.where(AuditEntry.id < before_id)
    return list(session.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit)))
