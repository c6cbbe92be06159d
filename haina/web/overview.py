"""Figures for the console overview, read from what exists today: members and the audit log.

Queries live here, not in the views; when `haina.analytics` grows its own service, the overview
should read from it instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.core.auth.models import User
from haina.core.auth.repository import UserRepository

LOGIN_ACTIONS = ("auth.login",)
FAILED_LOGIN_ACTIONS = ("auth.login_failed", "auth.login_locked")


@dataclass(frozen=True)
class MemberCounts:
    total: int
    active: int
    locked: int


@dataclass(frozen=True)
class ActivityDay:
    day: date  # a Beijing calendar day
    logins: int
    failed_logins: int
    events: int


def member_counts(session: Session, tenant_id: str) -> MemberCounts:
    users = UserRepository(session, tenant_id)
    now = clock.now()
    return MemberCounts(
        total=users.count(),
        active=users.count(select(User).where(User.is_active.is_(True))),
        locked=users.count(select(User).where(User.locked_until > now)),
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.SHANGHAI)


def daily_activity(session: Session, tenant_id: str, *, days: int = 14) -> list[ActivityDay]:
    """Logins, failed logins and all audit events per Beijing day, oldest first, in one query."""
    today = clock.now().astimezone(clock.SHANGHAI).date()
    calendar = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    columns = []
    for day in calendar:
        start, end = _day_start(day), _day_start(day + timedelta(days=1))
        in_day = and_(AuditEntry.created_at >= start, AuditEntry.created_at < end)
        columns += [
            func.coalesce(
                func.sum(case((and_(in_day, AuditEntry.action.in_(LOGIN_ACTIONS)), 1), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((and_(in_day, AuditEntry.action.in_(FAILED_LOGIN_ACTIONS)), 1), else_=0)), 0
            ),
            func.coalesce(func.sum(case((in_day, 1), else_=0)), 0),
        ]
    statement = select(*columns).where(
        AuditEntry.tenant_id == tenant_id, AuditEntry.created_at >= _day_start(calendar[0])
    )
    row = session.execute(statement).one()
    return [
        ActivityDay(
            day=day,
            logins=int(row[3 * index]),
            failed_logins=int(row[3 * index + 1]),
            events=int(row[3 * index + 2]),
        )
        for index, day in enumerate(calendar)
    ]
