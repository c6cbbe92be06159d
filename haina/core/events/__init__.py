"""Event core: inbox (raw inbound payloads), outbox (domain events) and their dispatch."""

from haina.core.events.dispatcher import (
    DeliveryOutcome,
    count_dead_letters,
    fan_out,
    get_delivery,
    list_dead_letters,
    replay,
    run_delivery,
    run_due,
)
from haina.core.events.inbox import receive
from haina.core.events.models import DeliveryStatus, EventDelivery, InboxItem, InboxStatus, OutboxEvent
from haina.core.events.outbox import emit
from haina.core.events.registry import Registry, discover_handlers, registry, subscribe
from haina.core.events.runners import CeleryRunner, Runner, ThreadRunner, start_runner

__all__ = [
    "CeleryRunner",
    "DeliveryOutcome",
    "DeliveryStatus",
    "EventDelivery",
    "InboxItem",
    "InboxStatus",
    "OutboxEvent",
    "Registry",
    "Runner",
    "ThreadRunner",
    "count_dead_letters",
    "discover_handlers",
    "emit",
    "fan_out",
    "get_delivery",
    "list_dead_letters",
    "receive",
    "registry",
    "replay",
    "run_delivery",
    "run_due",
    "start_runner",
    "subscribe",
]
