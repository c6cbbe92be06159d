"""The queries of engage.broadcasts; every one scoped to a tenant here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.broadcasts.models import (
    Broadcast,
    BroadcastRecipient,
    BroadcastSettings,
    BroadcastStatus,
    BroadcastTask,
    DeliveryStatus,
)

# Handed to WeCom and not refused: these count against a customer's monthly cap.
COUNTED = (DeliveryStatus.PENDING, DeliveryStatus.SENT)


class BroadcastRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session, self.tenant_id = session, tenant_id

    def get(self, broadcast_id: str) -> Broadcast:
        found = self.session.scalars(
            select(Broadcast).where(Broadcast.tenant_id == self.tenant_id, Broadcast.id == broadcast_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no broadcast {broadcast_id} here", code="broadcast_not_found")
        return found

    def recent(self, limit: int = 100) -> list[Broadcast]:
        return list(
            self.session.scalars(
                select(Broadcast)
                .where(Broadcast.tenant_id == self.tenant_id)
                .order_by(Broadcast.created_at.desc(), Broadcast.id)
                .limit(limit)
            )
        )

    def claim(self, broadcast_id: str, from_statuses: Sequence[str]) -> bool:
        """Move the broadcast to SENDING if it is still in one of `from_statuses` (one winner)."""
        result = self.session.execute(
            update(Broadcast)
            .where(
                Broadcast.tenant_id == self.tenant_id,
                Broadcast.id == broadcast_id,
                Broadcast.status.in_(list(from_statuses)),
            )
            .values(status=BroadcastStatus.SENDING)
            .execution_options(synchronize_session=False)
        )
        claimed = bool(result.rowcount)  # type: ignore[attr-defined]
        if claimed:
            self.session.expire_all()
        return claimed

    def due_ids(self, now: datetime, limit: int = 20) -> list[str]:
        return list(
            self.session.scalars(
                select(Broadcast.id)
                .where(
                    Broadcast.tenant_id == self.tenant_id,
                    Broadcast.status == BroadcastStatus.SCHEDULED,
                    Broadcast.scheduled_at <= now,
                )
                .order_by(Broadcast.scheduled_at, Broadcast.id)
                .limit(limit)
            )
        )

    def to_track(self, since: datetime, limit: int = 50) -> list[Broadcast]:
        return list(
            self.session.scalars(
                select(Broadcast)
                .where(
                    Broadcast.tenant_id == self.tenant_id,
                    Broadcast.status == BroadcastStatus.SENT,
                    Broadcast.sent_at >= since,
                )
                .order_by(Broadcast.polled_at.is_(None).desc(), Broadcast.polled_at, Broadcast.id)
                .limit(limit)
            )
        )

    def tasks(self, broadcast_id: str) -> list[BroadcastTask]:
        return list(
            self.session.scalars(
                select(BroadcastTask)
                .where(BroadcastTask.tenant_id == self.tenant_id, BroadcastTask.broadcast_id == broadcast_id)
                .order_by(BroadcastTask.sender_userid, BroadcastTask.msgid)
            )
        )

    def recipients(self, broadcast_id: str, *, msgid: str | None = None) -> list[BroadcastRecipient]:
        statement = select(BroadcastRecipient).where(
            BroadcastRecipient.tenant_id == self.tenant_id, BroadcastRecipient.broadcast_id == broadcast_id
        )
        if msgid is not None:
            statement = statement.where(BroadcastRecipient.msgid == msgid)
        return list(self.session.scalars(statement.order_by(BroadcastRecipient.customer_id)))

    def status_counts(self, broadcast_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        if not broadcast_ids:
            return counts
        rows = self.session.execute(
            select(BroadcastRecipient.broadcast_id, BroadcastRecipient.status, func.count())
            .where(
                BroadcastRecipient.tenant_id == self.tenant_id,
                BroadcastRecipient.broadcast_id.in_(list(broadcast_ids)),
            )
            .group_by(BroadcastRecipient.broadcast_id, BroadcastRecipient.status)
        )
        for broadcast_id, status, number in rows:
            counts.setdefault(broadcast_id, {})[status] = int(number)
        return counts

    def task_counts(self, broadcast_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        if not broadcast_ids:
            return counts
        rows = self.session.execute(
            select(
                BroadcastTask.broadcast_id,
                BroadcastTask.status,
                func.count(func.distinct(BroadcastTask.sender_userid)),
            )
            .where(
                BroadcastTask.tenant_id == self.tenant_id, BroadcastTask.broadcast_id.in_(list(broadcast_ids))
            )
            .group_by(BroadcastTask.broadcast_id, BroadcastTask.status)
        )
        for broadcast_id, status, number in rows:
            counts.setdefault(broadcast_id, {})[status] = int(number)
        return counts

    def received_since(self, customer_ids: Sequence[str], since: datetime) -> dict[str, int]:
        """How many mass messages each customer was handed since `since` (the cap's accounting)."""
        counts: dict[str, int] = {}
        wanted = sorted(set(customer_ids))
        for start in range(0, len(wanted), 500):
            rows = self.session.execute(
                select(BroadcastRecipient.customer_id, func.count())
                .where(
                    BroadcastRecipient.tenant_id == self.tenant_id,
                    BroadcastRecipient.customer_id.in_(wanted[start : start + 500]),
                    BroadcastRecipient.created_at >= since,
                    BroadcastRecipient.status.in_(COUNTED),
                )
                .group_by(BroadcastRecipient.customer_id)
            )
            counts.update({customer_id: int(number) for customer_id, number in rows})
        return counts

    def settings(self) -> BroadcastSettings | None:
        return self.session.get(BroadcastSettings, self.tenant_id)
