"""Event handlers and periodic jobs of engage.moments: `moments.track` polls WeCom for the
moments sent in the last week (job results, then each member's publish status)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.engage import schedule
from haina.engage.moments import service


@schedule.periodic("moments.track", seconds=300)
def track(session: Session, tenant_id: str) -> None:
    service.track(session, tenant_id)
