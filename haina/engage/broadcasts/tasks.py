"""Periodic jobs of engage.broadcasts: `broadcasts.send_due` sends the scheduled broadcasts whose
time has come (each claimed with a state change, so two runs never send one twice), and
`broadcasts.track` polls members' confirmations and deliveries of the last three days."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.engage import schedule
from haina.engage.broadcasts import service


@schedule.periodic("broadcasts.send_due", seconds=15)
def send_due(session: Session, tenant_id: str) -> None:
    service.send_due(session, tenant_id)


@schedule.periodic("broadcasts.track", seconds=120)
def track(session: Session, tenant_id: str) -> None:
    service.track(session, tenant_id)
