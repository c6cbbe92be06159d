"""Event handlers and periodic jobs of engage.livecodes (handler names are stored on
deliveries: keep them stable).

* contact.added with the State of one of the tenant's codes: the add is recorded, the remark set
  and the customer tagged (service.record_add).
* customer.resolved: adds still waiting for their customer get it, and the code's tags.
* contact.deleted_by_customer / contact.deleted_by_staff: the add counts as lost (retention).
* livecodes.refresh_duty, every minute: each code's member list follows schedules and limits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import registry
from haina.engage import schedule
from haina.engage.livecodes import service


def contact_added(session: Session, event: OutboxEvent) -> None:
    service.record_add(session, event.tenant_id, event.payload)


def customer_resolved(session: Session, event: OutboxEvent) -> None:
    payload = event.payload
    contact_ids = [str(contact_id) for contact_id in payload.get("contact_ids") or []]
    if contact_ids and payload.get("customer_id"):
        service.customers_resolved(session, event.tenant_id, contact_ids, str(payload["customer_id"]))


def customers_resolved(session: Session, events: list[OutboxEvent]) -> None:
    """Every customer.resolved due at once: most come from orders and name no contact, and one
    delivery run at a time cost the dispatcher a transaction each (a third of an order burst's
    CPU went on running these one by one)."""
    for event in events:
        customer_resolved(session, event)


def _at(value: object) -> datetime:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return clock.now()


def contact_deleted_by_customer(session: Session, event: OutboxEvent) -> None:
    payload = event.payload
    service.mark_lost(
        session,
        event.tenant_id,
        str(payload.get("contact_id")),
        str(payload.get("staff_userid")),
        "customer",
        _at(payload.get("at")),
    )


def contact_deleted_by_staff(session: Session, event: OutboxEvent) -> None:
    payload = event.payload
    service.mark_lost(
        session,
        event.tenant_id,
        str(payload.get("contact_id")),
        str(payload.get("staff_userid")),
        "staff",
        _at(payload.get("at")),
    )


registry.add("contact.added", "engage.livecodes.record_add", contact_added)
registry.add(
    "customer.resolved", "engage.livecodes.tag_resolved", customer_resolved, batch_handler=customers_resolved
)
registry.add("contact.deleted_by_customer", "engage.livecodes.lost_by_customer", contact_deleted_by_customer)
registry.add("contact.deleted_by_staff", "engage.livecodes.lost_by_staff", contact_deleted_by_staff)


@schedule.periodic("livecodes.refresh_duty", seconds=60)
def refresh_duty(session: Session, tenant_id: str) -> None:
    """Send each active code's on-duty members to WeCom when schedules or limits changed them."""
    service.refresh_duty(session, tenant_id)
