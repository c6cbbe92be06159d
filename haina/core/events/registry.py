"""Which handlers react to which event types.

Handlers are registered by name; the name is stored on each delivery, so it must stay stable
across releases (renaming a handler orphans its pending deliveries, which then dead-letter).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from haina.core.events.models import OutboxEvent

Handler = Callable[["Session", "OutboxEvent"], None]
# The same reaction for many events at once (micro-batching): all of them in one transaction, or
# none (the dispatcher then runs them one by one, so a bad event fails alone).
BatchHandler = Callable[["Session", "list[OutboxEvent]"], None]

# "<module>.<past-tense verb>", e.g. "order.paid", "youzan.payload_received".
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")

# Due deliveries are taken and run lowest priority first: the handlers that turn pushes into
# canonical records (what the sidebar shows within a second of an order) before the reactions
# to those records (identity resolution, tags, engagement), which catch up when a burst ends.
RECORDS = 0
REACTIONS = 1


def check_event_type(event_type: str) -> None:
    if not EVENT_TYPE.match(event_type):
        raise ValueError(
            f"event type {event_type!r} should look like 'order.paid' (<module>.<past-tense verb>)"
        )


@dataclass(frozen=True)
class Subscription:
    name: str
    event_type: str
    handler: Handler
    batch_handler: BatchHandler | None = None
    priority: int = REACTIONS


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, Subscription] = {}

    def subscribe(self, event_type: str, *, name: str) -> Callable[[Handler], Handler]:
        """Decorator: run the handler, in the dispatcher's session, for each `event_type` event."""

        def register(handler: Handler) -> Handler:
            self.add(event_type, name, handler)
            return handler

        return register

    def add(
        self,
        event_type: str,
        name: str,
        handler: Handler,
        *,
        batch_handler: BatchHandler | None = None,
        priority: int = REACTIONS,
    ) -> None:
        """Register `handler` under a stable `name`; with `batch_handler`, the dispatcher hands
        it every due delivery of this name at once (it must have the same effect as calling
        `handler` on each event in order). `priority`: RECORDS for handlers that store what a
        platform sent, REACTIONS (the default) for everything else."""
        check_event_type(event_type)
        existing = self._by_name.get(name)
        # Re-importing a module re-registers the same function; anything else is a name clash.
        if existing is not None and _origin(existing.handler) != _origin(handler):
            raise ValueError(f"handler name {name!r} is already used by {_origin(existing.handler)}")
        self._by_name[name] = Subscription(
            name=name, event_type=event_type, handler=handler, batch_handler=batch_handler, priority=priority
        )

    def remove(self, name: str) -> None:
        self._by_name.pop(name, None)

    def names_for(self, event_type: str) -> list[str]:
        return sorted(sub.name for sub in self._by_name.values() if sub.event_type == event_type)

    def get(self, name: str) -> Subscription | None:
        return self._by_name.get(name)

    def priority_of(self, name: str) -> int:
        subscription = self._by_name.get(name)
        return subscription.priority if subscription is not None else REACTIONS

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


def _origin(handler: Handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


registry = Registry()
subscribe = registry.subscribe


def discover_handlers(package: str = "haina", module_name: str = "tasks") -> list[str]:
    """Import every `<package>.<feature>.tasks` module so its `@subscribe` handlers register."""
    root = importlib.import_module(package)
    imported: list[str] = []
    for feature in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        if not feature.ispkg:
            continue
        candidate = f"{feature.name}.{module_name}"
        if importlib.util.find_spec(candidate) is not None:
            importlib.import_module(candidate)
            imported.append(candidate)
    return imported
