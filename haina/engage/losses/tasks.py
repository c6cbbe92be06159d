"""Event handlers and periodic jobs of engage.losses: an ended follow relation becomes an alert."""

from __future__ import annotations

from sqlalchemy.orm import Session

from haina.core.events.models import OutboxEvent
from haina.core.events.registry import registry
from haina.engage.losses import service
from haina.engage.losses.models import EndedBy


def customer_deleted(session: Session, event: OutboxEvent) -> None:
    service.record_removal(session, event.tenant_id, dict(event.payload or {}), EndedBy.CUSTOMER)


def staff_deleted(session: Session, event: OutboxEvent) -> None:
    service.record_removal(session, event.tenant_id, dict(event.payload or {}), EndedBy.STAFF)


registry.add("contact.deleted_by_customer", "engage.losses.customer_deleted", customer_deleted)
registry.add("contact.deleted_by_staff", "engage.losses.staff_deleted", staff_deleted)
