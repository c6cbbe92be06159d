"""Event handlers and periodic jobs of engage.handover: poll WeCom's transfer results."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.engage import schedule
from haina.engage.handover import service


@schedule.periodic("handover.poll", seconds=60)
def poll(session: Session, tenant_id: str) -> None:
    """Send pending batches and settle waiting customers of every running handover."""
    service.poll_jobs(session, tenant_id)
