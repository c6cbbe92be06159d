"""Event handler of archive.alerts: a keyword alert is sent to the right members as a WeCom app
message (loaded by workers through haina/archive/tasks.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.archive.alerts import service
from haina.archive.service import EVENT_KEYWORD_MATCHED
from haina.connections import service as connections
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import registry
from haina.engage import schedule


def keyword_matched(session: Session, event: OutboxEvent) -> None:
    service.notify(session, event.tenant_id, dict(event.payload or {}), connections.settings_for(session))


def keyword_matched_batch(session: Session, events: list[OutboxEvent]) -> None:
    """The dispatcher hands due deliveries in event order: a burst's first hit is the one sent."""
    settings = connections.settings_for(session)
    for event in sorted(events, key=lambda event: event.id):
        service.notify(session, event.tenant_id, dict(event.payload or {}), settings)


registry.add(
    EVENT_KEYWORD_MATCHED,
    "archive.alerts.keyword_matched",
    keyword_matched,
    batch_handler=keyword_matched_batch,
)


@schedule.periodic("archive.alerts.resend", seconds=30)
def resend_due(session: Session, tenant_id: str) -> None:
    """Notifications WeCom could not take, sent again when their time comes."""
    service.resend_due(session, tenant_id, connections.settings_for(session))
