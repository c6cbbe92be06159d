"""Writing domain events in the caller's transaction, so they exist exactly when its effects do."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from haina.core.events.models import OutboxEvent
from haina.core.events.registry import check_event_type


def emit(session: Session, tenant_id: str, type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Add an event (e.g. "order.paid") to the outbox; it is dispatched once the caller commits."""
    check_event_type(type)
    event = OutboxEvent(tenant_id=tenant_id, type=type, payload=payload)
    session.add(event)
    # Flush so a payload that cannot be stored fails here, in the caller's code, not later.
    session.flush()
    return event
