"""Queries of engage.welcome; every one scoped to a tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.engage.welcome.models import SendStatus, WelcomeMessage, WelcomeSend


def message(session: Session, tenant_id: str, message_id: str) -> WelcomeMessage | None:
    return session.scalars(
        select(WelcomeMessage).where(WelcomeMessage.tenant_id == tenant_id, WelcomeMessage.id == message_id)
    ).one_or_none()


def messages(session: Session, tenant_id: str, *, active_only: bool = False) -> list[WelcomeMessage]:
    statement = select(WelcomeMessage).where(WelcomeMessage.tenant_id == tenant_id)
    if active_only:
        statement = statement.where(WelcomeMessage.is_active.is_(True))
    return list(session.scalars(statement.order_by(WelcomeMessage.updated_at.desc(), WelcomeMessage.id)))


def send_by_code(session: Session, tenant_id: str, welcome_code: str) -> WelcomeSend | None:
    return session.scalars(
        select(WelcomeSend).where(
            WelcomeSend.tenant_id == tenant_id, WelcomeSend.welcome_code == welcome_code
        )
    ).one_or_none()


def sent_recently(
    session: Session, tenant_id: str, corp_id: str, staff_userid: str, external_userid: str, since: datetime
) -> bool:
    """Whether this member already welcomed this customer since `since`."""
    found = session.scalars(
        select(WelcomeSend.id)
        .where(
            WelcomeSend.tenant_id == tenant_id,
            WelcomeSend.corp_id == corp_id,
            WelcomeSend.staff_userid == staff_userid,
            WelcomeSend.external_userid == external_userid,
            WelcomeSend.status == SendStatus.SENT,
            WelcomeSend.at >= since,
        )
        .limit(1)
    ).first()
    return found is not None


def send_counts(session: Session, tenant_id: str, since: datetime) -> dict[str, dict[str, int]]:
    """message id → status → count, for sends since `since`."""
    rows = session.execute(
        select(WelcomeSend.message_id, WelcomeSend.status, func.count())
        .where(
            WelcomeSend.tenant_id == tenant_id, WelcomeSend.at >= since, WelcomeSend.message_id.is_not(None)
        )
        .group_by(WelcomeSend.message_id, WelcomeSend.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for message_id, status, count in rows:
        if message_id is not None:
            counts.setdefault(message_id, {})[status] = int(count)
    return counts


def recent_sends(
    session: Session, tenant_id: str, *, message_id: str | None = None, limit: int = 50
) -> list[WelcomeSend]:
    statement = select(WelcomeSend).where(WelcomeSend.tenant_id == tenant_id)
    if message_id is not None:
        statement = statement.where(WelcomeSend.message_id == message_id)
    return list(session.scalars(statement.order_by(WelcomeSend.at.desc(), WelcomeSend.id).limit(limit)))


def totals(session: Session, tenant_id: str, since: datetime) -> dict[str, int]:
    rows = session.execute(
        select(WelcomeSend.status, func.count())
        .where(WelcomeSend.tenant_id == tenant_id, WelcomeSend.at >= since)
        .group_by(WelcomeSend.status)
    )
    found = {status: 0 for status in SendStatus.ALL}
    for status, count in rows:
        found[status] = int(count)
    return found
