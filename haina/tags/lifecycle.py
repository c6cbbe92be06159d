"""Lifecycle stages (生命周期): where each customer stands, and the daily counts and flows.

A customer's stage follows from their first and last paid order (Asia/Shanghai calendar days;
"within N days" means the order's day is one of the last N days, today included):

* prospect — no paid order yet
* new      — first paid order within `new_days`
* active   — last paid order within `active_days`
* at_risk  — last paid order within `at_risk_days`
* dormant  — last paid order within `dormant_days`
* lost     — older than that
* won_back — active again after having been dormant or lost (the previous stage was dormant,
  lost or won_back); it stays won_back while it would otherwise be active.

Stages are computed with the RFM scores in one set-based pass (rfm.compute), which hands the
changes here: `record` writes today's LifecycleDay rows (counts per stage, where from_stage ==
to_stage, and flows from → to accumulated over the day) and emits `customer.stage_changed`.
The read functions below feed the dashboard (lifecycle_views.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.events.outbox import emit_many
from haina.tags.models import CustomerScore, LifecycleDay

PROSPECT = "prospect"
NEW = "new"
ACTIVE = "active"
AT_RISK = "at_risk"
DORMANT = "dormant"
LOST = "lost"
WON_BACK = "won_back"
STAGES = (PROSPECT, NEW, ACTIVE, WON_BACK, AT_RISK, DORMANT, LOST)
# A customer in one of these stages who orders again is won back.
WIN_BACK_FROM = (DORMANT, LOST, WON_BACK)

STAGE_CHANGED = "customer.stage_changed"
EVENT_CHUNK = 2000


def shanghai_day(moment: datetime) -> date:
    return moment.astimezone(clock.SHANGHAI).date()


def day_start(day: date) -> datetime:
    """The first instant of a Shanghai calendar day (timezone-aware)."""
    return datetime.combine(day, time(0), tzinfo=clock.SHANGHAI)


def within_since(today: date, days: int) -> datetime:
    """The earliest instant that is "within `days` days" of `today` (today counts as one)."""
    return day_start(today - timedelta(days=days - 1))


@dataclass(frozen=True)
class Thresholds:
    new_days: int
    active_days: int
    at_risk_days: int
    dormant_days: int


def stage_case(
    first_at: Any, last_at: Any, previous_stage: Any, thresholds: Thresholds, today: date
) -> ColumnElement[str]:
    """The stage as a SQL CASE over a customer's first / last paid order and previous stage."""
    active_or_won_back = case(
        (previous_stage.in_(WIN_BACK_FROM), WON_BACK),
        else_=ACTIVE,
    )
    return case(
        (last_at.is_(None), PROSPECT),
        (first_at >= within_since(today, thresholds.new_days), NEW),
        (last_at >= within_since(today, thresholds.active_days), active_or_won_back),
        (last_at >= within_since(today, thresholds.at_risk_days), AT_RISK),
        (last_at >= within_since(today, thresholds.dormant_days), DORMANT),
        else_=LOST,
    )


@dataclass(frozen=True)
class StageChange:
    customer_id: str
    from_stage: str
    to_stage: str


def _insert(session: Session) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(LifecycleDay)
    if name == "sqlite":
        return sqlite.insert(LifecycleDay)
    raise NotImplementedError(f"lifecycle days do not support the {name} database")


def record(
    session: Session,
    tenant_id: str,
    day: date,
    counts: dict[str, int],
    changes: Sequence[StageChange],
) -> None:
    """Today's counts per stage (replaced) and flows (added to), and one event per change."""
    rows = [
        {
            "tenant_id": tenant_id,
            "day": day,
            "from_stage": stage,
            "to_stage": stage,
            "count": counts.get(stage, 0),
        }
        for stage in STAGES
    ]
    statement = _insert(session)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "day", "from_stage", "to_stage"],
            set_={"count": statement.excluded["count"]},
        ),
        rows,
    )
    flows = Counter((change.from_stage, change.to_stage) for change in changes)
    if flows:
        statement = _insert(session)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "day", "from_stage", "to_stage"],
                set_={"count": LifecycleDay.count + statement.excluded["count"]},
            ),
            [
                {"tenant_id": tenant_id, "day": day, "from_stage": a, "to_stage": b, "count": n}
                for (a, b), n in sorted(flows.items())
            ],
        )
    for start in range(0, len(changes), EVENT_CHUNK):
        emit_many(
            session,
            [
                (
                    tenant_id,
                    STAGE_CHANGED,
                    {"customer_id": c.customer_id, "from": c.from_stage, "to": c.to_stage},
                )
                for c in changes[start : start + EVENT_CHUNK]
            ],
        )


# ── Reading, for the dashboard ───────────────────────────────────────────────────────────────


def stage_counts(session: Session, tenant_id: str) -> dict[str, int]:
    """Customers per stage now (every stage present, zero when empty)."""
    rows = session.execute(
        select(CustomerScore.stage, func.count())
        .where(CustomerScore.tenant_id == tenant_id)
        .group_by(CustomerScore.stage)
    )
    found = {stage: int(count) for stage, count in rows}
    return {stage: found.get(stage, 0) for stage in STAGES}


@dataclass
class DailySeries:
    days: list[date]
    counts: dict[str, list[int | None]]  # stage → one value per day (None: no snapshot that day)


def daily_counts(session: Session, tenant_id: str, since: date, until: date) -> DailySeries:
    """Customers per stage on each day of [since, until] that has a snapshot."""
    rows = session.execute(
        select(LifecycleDay.day, LifecycleDay.to_stage, LifecycleDay.count).where(
            LifecycleDay.tenant_id == tenant_id,
            LifecycleDay.day >= since,
            LifecycleDay.day <= until,
            LifecycleDay.from_stage == LifecycleDay.to_stage,
        )
    )
    by_day: dict[date, dict[str, int]] = {}
    for day, stage, count in rows:
        by_day.setdefault(day, {})[stage] = int(count)
    days = sorted(by_day)
    return DailySeries(
        days=days,
        counts={stage: [by_day[day].get(stage, 0) for day in days] for stage in STAGES},
    )


def flows(session: Session, tenant_id: str, since: date, until: date) -> dict[tuple[str, str], int]:
    """Moves between stages over [since, until]: (from, to) → customers (a customer moving twice
    counts twice)."""
    rows = session.execute(
        select(LifecycleDay.from_stage, LifecycleDay.to_stage, func.sum(LifecycleDay.count))
        .where(
            LifecycleDay.tenant_id == tenant_id,
            LifecycleDay.day >= since,
            LifecycleDay.day <= until,
            LifecycleDay.from_stage != LifecycleDay.to_stage,
        )
        .group_by(LifecycleDay.from_stage, LifecycleDay.to_stage)
    )
    return {(a, b): int(n) for a, b, n in rows if n}


@dataclass(frozen=True)
class RfmCell:
    recency_score: int
    frequency_score: int
    customers: int
    monetary_fen: int  # sum over the cell's customers

    @property
    def average_fen(self) -> int:
        return self.monetary_fen // self.customers if self.customers else 0


def rfm_grid(session: Session, tenant_id: str) -> list[RfmCell]:
    """Buyers by recency score × frequency score, with their money in the window."""
    rows = session.execute(
        select(
            CustomerScore.recency_score,
            CustomerScore.frequency_score,
            func.count(),
            func.coalesce(func.sum(CustomerScore.monetary_fen), 0),
        )
        .where(CustomerScore.tenant_id == tenant_id, CustomerScore.frequency_score > 0)
        .group_by(CustomerScore.recency_score, CustomerScore.frequency_score)
    )
    return [RfmCell(int(r), int(f), int(n), int(m)) for r, f, n, m in rows]


def last_computed_at(session: Session, tenant_id: str) -> datetime | None:
    """When the scores of this tenant last changed (rfm.compute touches changed rows only)."""
    return session.scalar(
        select(func.max(CustomerScore.computed_at)).where(CustomerScore.tenant_id == tenant_id)
    )


def customer_stage(session: Session, tenant_id: str, customer_id: str) -> CustomerScore | None:
    """One customer's scores and stage (None before the first computation)."""
    return session.get(CustomerScore, (tenant_id, customer_id))
