"""Event handlers of the customers module: incremental identity resolution (OneID).

`store_records` announces new and changed orders and contacts through the outbox
(order.created, order.updated, contact.added, contact.updated); these handlers resolve the
identities those records name, in micro-batches (one resolution for every due event of a kind),
and emit customer.created / customer.merged / customer.resolved in the same transaction.
Reactions that need to know the customer of an order (tags, journeys) subscribe to
`customer.resolved`, which comes after resolution, instead of `order.paid`.

Handler names are stored on deliveries: keep them stable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.orm import Session

from haina.core.events.models import OutboxEvent
from haina.core.events.registry import Registry
from haina.core.events.registry import registry as default_registry
from haina.core.settings import Settings, get_settings
from haina.customers.identity import service as identity

ORDER_EVENTS = ("order.created", "order.updated")
CONTACT_EVENTS = ("contact.added", "contact.updated")


def _settings(session: Session) -> Settings:
    """The settings of the session's database (its keys decrypt what the records hold)."""
    try:
        from haina.connections.service import settings_for
    except ImportError:  # pragma: no cover - the connections module ships with Haina
        return get_settings()
    return settings_for(session)


def resolve_events(session: Session, events: Sequence[OutboxEvent]) -> None:
    """Resolve the orders and contacts these events name, one resolution per tenant."""
    orders: dict[str, set[str]] = defaultdict(set)
    contacts: dict[str, set[str]] = defaultdict(set)
    for event in events:
        payload = event.payload or {}
        if event.type in ORDER_EVENTS and payload.get("order_id"):
            orders[event.tenant_id].add(str(payload["order_id"]))
        elif event.type in CONTACT_EVENTS and payload.get("contact_id"):
            contacts[event.tenant_id].add(str(payload["contact_id"]))
    settings = _settings(session)
    for tenant_id in sorted(set(orders) | set(contacts)):
        identity.resolve_records(
            session,
            tenant_id,
            order_ids=sorted(orders.get(tenant_id, ())),
            contact_ids=sorted(contacts.get(tenant_id, ())),
            settings=settings,
        )


def resolve_event(session: Session, event: OutboxEvent) -> None:
    resolve_events(session, [event])


def handler_name(event_type: str) -> str:
    return "customers.resolve_identities." + event_type.replace(".", "_")


def subscribe(registry: Registry | None = None) -> None:
    registry = registry if registry is not None else default_registry
    for event_type in (*ORDER_EVENTS, *CONTACT_EVENTS):
        registry.add(event_type, handler_name(event_type), resolve_event, batch_handler=resolve_events)


subscribe()
