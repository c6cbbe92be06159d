"""Queries of engage.losses; every one scoped to a tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.losses.models import AlertKind, LossAlert, LossAlertSettings


@dataclass
class AlertFilter:
    ended_by: str = ""
    staff_userid: str = ""
    handled: str = ""  # "", "yes", "no"
    kind: str = AlertKind.LOSS
    since: datetime | None = None


def get_alert(session: Session, tenant_id: str, alert_id: str) -> LossAlert:
    alert = session.get(LossAlert, (tenant_id, alert_id))
    if alert is None:
        raise NotFound("loss alert not found", code="loss_alert_not_found")
    return alert


def find_alert(
    session: Session, tenant_id: str, contact_id: str, staff_userid: str, occurred_at: datetime
) -> LossAlert | None:
    return session.scalar(
        select(LossAlert).where(
            LossAlert.tenant_id == tenant_id,
            LossAlert.contact_id == contact_id,
            LossAlert.staff_userid == staff_userid,
            LossAlert.occurred_at == occurred_at,
        )
    )


def _filtered(statement: Select, tenant_id: str, where: AlertFilter) -> Select:
    statement = statement.where(LossAlert.tenant_id == tenant_id)
    if where.kind:
        statement = statement.where(LossAlert.kind == where.kind)
    if where.ended_by:
        statement = statement.where(LossAlert.ended_by == where.ended_by)
    if where.staff_userid:
        statement = statement.where(LossAlert.staff_userid == where.staff_userid)
    if where.handled == "yes":
        statement = statement.where(LossAlert.is_handled.is_(True))
    elif where.handled == "no":
        statement = statement.where(LossAlert.is_handled.is_(False))
    if where.since is not None:
        statement = statement.where(LossAlert.occurred_at >= where.since)
    return statement


def list_alerts(
    session: Session, tenant_id: str, where: AlertFilter, *, limit: int, offset: int
) -> list[LossAlert]:
    statement = _filtered(select(LossAlert), tenant_id, where)
    statement = statement.order_by(LossAlert.occurred_at.desc(), LossAlert.id).limit(limit).offset(offset)
    return list(session.scalars(statement))


def count_alerts(session: Session, tenant_id: str, where: AlertFilter) -> int:
    return int(session.scalar(_filtered(select(func.count()).select_from(LossAlert), tenant_id, where)) or 0)


def occurred_times(session: Session, tenant_id: str, where: AlertFilter) -> list[tuple[datetime, str, str]]:
    statement = _filtered(
        select(LossAlert.occurred_at, LossAlert.staff_userid, LossAlert.ended_by), tenant_id, where
    )
    return [(row[0], row[1], row[2]) for row in session.execute(statement)]


def get_settings(session: Session, tenant_id: str) -> LossAlertSettings | None:
    return session.get(LossAlertSettings, tenant_id)
