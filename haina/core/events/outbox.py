"""Writing domain events in the caller's transaction, so they exist exactly when its effects do."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from haina.core.events.models import OutboxEvent

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def emit(session: Session, tenant_id: str, type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Add an event (e.g. "order.paid") to the outbox; it is dispatched once the caller commits."""
    if not EVENT_TYPE.match(type):
        raise ValueError(f"event type {type!r} should look like 'order.paid' (<module>.<past-tense verb>)")
    event = OutboxEvent(tenant_id=tenant_id, type=type, payload=payload)
    session.add(event)
    # Flush so a payload that cannot be stored fails here, in the caller's code, not later.
    session.flush()
    return event
