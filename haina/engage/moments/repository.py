"""The queries of engage.moments; every one scoped to a tenant here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.moments.models import Moment, MomentStaff, MomentStatus


class MomentRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session, self.tenant_id = session, tenant_id

    def get(self, moment_id: str) -> Moment:
        found = self.session.scalars(
            select(Moment).where(Moment.tenant_id == self.tenant_id, Moment.id == moment_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no moment {moment_id} here", code="moment_not_found")
        return found

    def recent(self, limit: int = 100) -> list[Moment]:
        return list(
            self.session.scalars(
                select(Moment)
                .where(Moment.tenant_id == self.tenant_id)
                .order_by(Moment.created_at.desc(), Moment.id)
                .limit(limit)
            )
        )

    def to_track(self, since: datetime, limit: int = 50) -> list[Moment]:
        """Moments whose job or publishing is still worth polling (sent within the window)."""
        return list(
            self.session.scalars(
                select(Moment)
                .where(
                    Moment.tenant_id == self.tenant_id,
                    Moment.status.in_([MomentStatus.SENDING, MomentStatus.SENT]),
                    Moment.sent_at >= since,
                )
                .order_by(Moment.polled_at.is_not(None), Moment.polled_at, Moment.id)
                .limit(limit)
            )
        )

    def staff(self, moment_id: str) -> list[MomentStaff]:
        return list(
            self.session.scalars(
                select(MomentStaff)
                .where(MomentStaff.tenant_id == self.tenant_id, MomentStaff.moment_id == moment_id)
                .order_by(MomentStaff.is_published.desc(), MomentStaff.userid)
            )
        )

    def progress(self, moment_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """moment id → (members who published, members asked)."""
        if not moment_ids:
            return {}
        rows = self.session.execute(
            select(
                MomentStaff.moment_id,
                func.count(),
                func.sum(case((MomentStaff.is_published.is_(True), 1), else_=0)),
            )
            .where(MomentStaff.tenant_id == self.tenant_id, MomentStaff.moment_id.in_(list(moment_ids)))
            .group_by(MomentStaff.moment_id)
        )
        return {moment_id: (int(published or 0), int(total)) for moment_id, total, published in rows}
