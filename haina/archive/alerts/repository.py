"""All SQL of archive.alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.archive.alerts.models import ArchiveAlertNotification, ArchiveAlertSettings, NotificationStatus


def get_settings(session: Session, tenant_id: str) -> ArchiveAlertSettings | None:
    return session.get(ArchiveAlertSettings, tenant_id)


def notification_of(session: Session, tenant_id: str, alert_id: str) -> ArchiveAlertNotification | None:
    return session.scalar(
        select(ArchiveAlertNotification).where(
            ArchiveAlertNotification.tenant_id == tenant_id, ArchiveAlertNotification.alert_id == alert_id
        )
    )


def last_sent(
    session: Session, tenant_id: str, conversation_id: str, rule_id: str
) -> ArchiveAlertNotification | None:
    """The latest message sent for this (conversation, rule)."""
    return session.scalar(
        select(ArchiveAlertNotification)
        .where(
            ArchiveAlertNotification.tenant_id == tenant_id,
            ArchiveAlertNotification.conversation_id == conversation_id,
            ArchiveAlertNotification.rule_id == rule_id,
            ArchiveAlertNotification.status == NotificationStatus.SENT,
        )
        .order_by(ArchiveAlertNotification.sent_at.desc(), ArchiveAlertNotification.id.desc())
        .limit(1)
    )


def retrying(session: Session, tenant_id: str, conversation_id: str, rule_id: str) -> bool:
    """Whether a message for this (conversation, rule) is waiting to be sent again."""
    return (
        session.scalar(
            select(ArchiveAlertNotification.id)
            .where(
                ArchiveAlertNotification.tenant_id == tenant_id,
                ArchiveAlertNotification.conversation_id == conversation_id,
                ArchiveAlertNotification.rule_id == rule_id,
                ArchiveAlertNotification.status == NotificationStatus.RETRYING,
            )
            .limit(1)
        )
        is not None
    )


def due_retries(
    session: Session, tenant_id: str, now: datetime, limit: int
) -> list[ArchiveAlertNotification]:
    """RETRYING notifications due by `now`, oldest first, locked (others skip them: PostgreSQL)."""
    statement = (
        select(ArchiveAlertNotification)
        .where(
            ArchiveAlertNotification.status == NotificationStatus.RETRYING,
            ArchiveAlertNotification.next_attempt_at <= now,
            ArchiveAlertNotification.tenant_id == tenant_id,
        )
        .order_by(ArchiveAlertNotification.next_attempt_at, ArchiveAlertNotification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(session.scalars(statement))


def deduplicated_since(
    session: Session, tenant_id: str, conversation_id: str, rule_id: str, since: datetime | None
) -> int:
    """Hits folded away for this (conversation, rule) since `since` (all of them with None)."""
    statement = select(func.count()).where(
        ArchiveAlertNotification.tenant_id == tenant_id,
        ArchiveAlertNotification.conversation_id == conversation_id,
        ArchiveAlertNotification.rule_id == rule_id,
        ArchiveAlertNotification.status == NotificationStatus.DEDUPLICATED,
    )
    if since is not None:
        statement = statement.where(ArchiveAlertNotification.created_at >= since)
    return int(session.scalar(statement) or 0)


def by_alert_ids(
    session: Session, tenant_id: str, alert_ids: list[str]
) -> dict[str, ArchiveAlertNotification]:
    if not alert_ids:
        return {}
    rows = session.scalars(
        select(ArchiveAlertNotification).where(
            ArchiveAlertNotification.tenant_id == tenant_id, ArchiveAlertNotification.alert_id.in_(alert_ids)
        )
    )
    return {row.alert_id: row for row in rows}


def list_notifications(
    session: Session, tenant_id: str, staff_userid: str | None, *, limit: int, offset: int = 0
) -> list[ArchiveAlertNotification]:
    """Newest first; with `staff_userid`, only that member's conversations."""
    statement = select(ArchiveAlertNotification).where(ArchiveAlertNotification.tenant_id == tenant_id)
    if staff_userid is not None:
        statement = statement.where(ArchiveAlertNotification.staff_userid == staff_userid)
        if not staff_userid:
            statement = statement.where(ArchiveAlertNotification.id.is_(None))
    statement = (
        statement.order_by(ArchiveAlertNotification.created_at.desc(), ArchiveAlertNotification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(statement))
