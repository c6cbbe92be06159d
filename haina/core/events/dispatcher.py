"""Fan-out of outbox events into deliveries, and running one delivery exactly once in effect.

Delivery is at least once (a runner or broker may hand the same delivery over twice, a worker
may die mid-run); effects are exactly once because a delivery's handler runs in the same
transaction that marks it done. A crash before the commit leaves nothing behind; a run after
the commit finds the delivery done and skips it.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections import defaultdict
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import exists, func, or_, select, true, update
from sqlalchemy.orm import Session, joinedload

from haina.core import clock
from haina.core.database import Database, new_id
from haina.core.errors import Conflict, NotFound
from haina.core.events import inbox
from haina.core.events._sql import insert_ignoring_conflicts, take_write_lock
from haina.core.events.models import (
    DeliveryStatus,
    EventDelivery,
    InboxItem,
    InboxStatus,
    OutboxEvent,
)
from haina.core.events.registry import Registry, Subscription
from haina.core.events.registry import registry as default_registry

logger = logging.getLogger(__name__)

OPEN_STATUSES = (DeliveryStatus.PENDING.value, DeliveryStatus.RUNNING.value)
MAX_BACKOFF_SECONDS = 3600.0
MAX_ERROR_CHARS = 4000
TRACEBACK_FRAMES = 5


class DeliveryOutcome(StrEnum):
    DONE = "done"
    RETRYING = "retrying"
    DEAD = "dead"
    SKIPPED = "skipped"  # already done or dead: a duplicate hand-over
    BUSY = "busy"  # another worker holds it right now
    MISSING = "missing"


class UnknownHandler(LookupError):
    pass


def fan_out(session: Session, *, registry: Registry | None = None, limit: int = 2000) -> int:
    """Turn undispatched outbox events into one pending delivery per subscribed handler."""
    registry = registry if registry is not None else default_registry
    take_write_lock(session)
    events = session.execute(
        select(OutboxEvent.id, OutboxEvent.tenant_id, OutboxEvent.type)
        .where(OutboxEvent.dispatched_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not events:
        return 0
    now = clock.now()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "event_id": event_id,
            "handler": name,
            "status": DeliveryStatus.PENDING.value,
            "priority": registry.priority_of(name),
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event_id, tenant_id, event_type in events
        for name in registry.names_for(event_type)
    ]
    if rows:
        table = EventDelivery.__table__
        session.execute(insert_ignoring_conflicts(session, table, ["event_id", "handler"]), rows)  # type: ignore[arg-type]
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([event_id for event_id, _, _ in events]))
        .values(dispatched_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(events)


def claim_due(
    session: Session, *, limit: int, lease_seconds: float, priority: int | None = None
) -> list[str]:
    """Mark up to `limit` due deliveries running under a lease and return their ids, records
    before reactions (registry.RECORDS first), then oldest due first.

    Expired leases count as due, so a delivery lost with a crashed worker is taken again.
    With `priority`, only deliveries of that priority are taken.
    """
    if limit <= 0:
        return []
    now = clock.now()
    due = (
        select(EventDelivery.id)
        .where(
            EventDelivery.status.in_(OPEN_STATUSES),
            EventDelivery.next_attempt_at <= now,
            true() if priority is None else EventDelivery.priority == priority,
        )
        .order_by(EventDelivery.priority, EventDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(EventDelivery)
        .where(EventDelivery.id.in_(due))
        .values(
            status=DeliveryStatus.RUNNING.value,
            next_attempt_at=now + timedelta(seconds=lease_seconds),
            enqueued_at=now,
        )
        .returning(EventDelivery.id, EventDelivery.priority)
        .execution_options(synchronize_session=False)
    )
    # UPDATE … RETURNING gives no order: put the records' deliveries first again.
    claimed = session.execute(statement).all()
    return [delivery_id for delivery_id, _ in sorted(claimed, key=lambda row: row[1])]


def run_delivery(
    database: Database, delivery_id: str, *, registry: Registry | None = None
) -> DeliveryOutcome:
    """Run one delivery's handler and mark it done in one transaction; on failure schedule a retry."""
    registry = registry if registry is not None else default_registry
    with database.session_factory() as session:
        take_write_lock(session)
        delivery = session.scalars(
            select(EventDelivery).where(EventDelivery.id == delivery_id).with_for_update(skip_locked=True)
        ).one_or_none()
        if delivery is None:
            session.rollback()
            found = session.scalar(select(exists().where(EventDelivery.id == delivery_id)))
            return DeliveryOutcome.BUSY if found else DeliveryOutcome.MISSING
        if delivery.status not in OPEN_STATUSES:
            session.rollback()
            return DeliveryOutcome.SKIPPED
        try:
            subscription = registry.get(delivery.handler)
            if subscription is None:
                raise UnknownHandler(
                    f"no handler named {delivery.handler!r} is registered in this process; "
                    "is its tasks module imported?"
                )
            event = session.get_one(OutboxEvent, delivery.event_id)
            subscription.handler(session, event)
            session.flush()
            delivery.status = DeliveryStatus.DONE.value
            delivery.attempts += 1
            delivery.finished_at = clock.now()
            delivery.last_error = None
            _mirror_inbox(session, event, InboxStatus.PROCESSED, delivery)
            session.commit()
            return DeliveryOutcome.DONE
        except Exception as error:  # noqa: BLE001 - any handler error is recorded, never raised
            session.rollback()
            failure = error
    logger.warning("event delivery %s failed: %s", delivery_id, failure, exc_info=failure)
    return _record_failure(database, delivery_id, failure)


def run_deliveries(
    database: Database, delivery_ids: list[str], *, registry: Registry | None = None
) -> dict[str, DeliveryOutcome]:
    """Run many deliveries: those of a handler with a batch form together, in one transaction
    (micro-batching: one parse-and-store for many pushes); the rest one by one. Handlers run
    in priority order, so a batch's pushes are stored before the reactions it carries run.

    A batch that fails is rolled back whole and its deliveries are run one by one, so the event
    that broke it fails (and retries, then dead-letters) alone and the others still land.
    """
    registry = registry if registry is not None else default_registry
    if not delivery_ids:
        return {}
    with database.session_factory() as session:
        rows = session.execute(
            select(EventDelivery.id, EventDelivery.handler).where(EventDelivery.id.in_(delivery_ids))
        ).all()
    by_handler: dict[str, list[str]] = defaultdict(list)
    for delivery_id, handler in rows:
        by_handler[handler].append(delivery_id)
    outcomes: dict[str, DeliveryOutcome] = {
        delivery_id: DeliveryOutcome.MISSING for delivery_id in delivery_ids
    }
    for handler, ids in sorted(by_handler.items(), key=lambda item: registry.priority_of(item[0])):
        subscription = registry.get(handler)
        if subscription is not None and subscription.batch_handler is not None and len(ids) > 1:
            done = _run_batch(database, subscription, ids)
            outcomes.update(dict.fromkeys(done, DeliveryOutcome.DONE))
            ids = [delivery_id for delivery_id in ids if delivery_id not in done]
        for delivery_id in ids:
            outcomes[delivery_id] = run_delivery(database, delivery_id, registry=registry)
    return outcomes


def _run_batch(database: Database, subscription: Subscription, delivery_ids: list[str]) -> set[str]:
    """Run one handler's batch form over the open deliveries among `delivery_ids` and mark them
    done, all in one transaction; returns the ids done (none if the batch failed)."""
    assert subscription.batch_handler is not None
    with database.session_factory() as session:
        take_write_lock(session)
        deliveries = list(
            session.scalars(
                select(EventDelivery)
                .options(joinedload(EventDelivery.event))
                .where(EventDelivery.id.in_(delivery_ids), EventDelivery.status.in_(OPEN_STATUSES))
                .order_by(EventDelivery.event_id)
                .with_for_update(of=EventDelivery, skip_locked=True)
            )
        )
        if not deliveries:
            session.rollback()
            return set()
        try:
            subscription.batch_handler(session, [delivery.event for delivery in deliveries])
            session.flush()
        except Exception as error:  # noqa: BLE001 - the events are retried one by one
            session.rollback()
            logger.info(
                "batch of %d %s deliveries failed (%s); running them one by one",
                len(deliveries),
                subscription.name,
                error,
            )
            return set()
        now = clock.now()
        done = [delivery.id for delivery in deliveries]
        session.execute(
            update(EventDelivery)
            .where(EventDelivery.id.in_(done))
            .values(
                status=DeliveryStatus.DONE.value,
                attempts=EventDelivery.attempts + 1,
                finished_at=now,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
        _mirror_inbox_processed(session, [delivery.event for delivery in deliveries])
        session.commit()
        return set(done)


def _mirror_inbox_processed(session: Session, events: list[OutboxEvent]) -> None:
    """Mark the inbox items behind a batch's events processed (one statement per tenant)."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for event in events:
        item_id = inbox.item_id_of(event)
        if item_id is not None:
            by_tenant[event.tenant_id].append(item_id)
    for tenant_id, item_ids in by_tenant.items():
        session.execute(
            update(InboxItem)
            .where(InboxItem.tenant_id == tenant_id, InboxItem.id.in_(item_ids))
            .values(status=InboxStatus.PROCESSED.value, attempts=InboxItem.attempts + 1, error=None)
            .execution_options(synchronize_session=False)
        )


def _record_failure(database: Database, delivery_id: str, error: BaseException) -> DeliveryOutcome:
    settings = database.settings
    with database.unit_of_work() as session:
        take_write_lock(session)
        delivery = session.scalars(
            select(EventDelivery).where(EventDelivery.id == delivery_id).with_for_update()
        ).one_or_none()
        if delivery is None or delivery.status not in OPEN_STATUSES:
            return DeliveryOutcome.SKIPPED
        event = session.get_one(OutboxEvent, delivery.event_id)
        delivery.attempts += 1
        delivery.last_error = describe_error(error)
        now = clock.now()
        if delivery.attempts >= settings.event_max_attempts:
            delivery.status = DeliveryStatus.DEAD.value
            delivery.finished_at = now
            _mirror_inbox(session, event, InboxStatus.DEAD, delivery)
            return DeliveryOutcome.DEAD
        delay = backoff_seconds(delivery.attempts, settings.event_retry_base_seconds)
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        _mirror_inbox(session, event, InboxStatus.FAILED, delivery)
        return DeliveryOutcome.RETRYING


def backoff_seconds(attempts: int, base_seconds: float) -> float:
    """Exponential backoff with jitter, so a burst of failures does not retry in lockstep."""
    delay = min(MAX_BACKOFF_SECONDS, base_seconds * 2 ** max(0, attempts - 1))
    return delay * random.uniform(1.0, 1.5)


def describe_error(error: BaseException) -> str:
    """Type and message first (the console shows the first line), then the last few frames."""
    headline = f"{type(error).__name__}: {error}"
    frames = "".join(traceback.format_exception(error, limit=-TRACEBACK_FRAMES))
    text = f"{headline}\n\n{frames}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _mirror_inbox(session: Session, event: OutboxEvent, status: InboxStatus, delivery: EventDelivery) -> None:
    """Keep an inbox item's status in step with the delivery that processes it."""
    item = inbox.item_for_event(session, event)
    if item is None:
        return
    item.status = status.value
    item.attempts = delivery.attempts
    item.error = delivery.last_error if status is not InboxStatus.PROCESSED else None


def run_due(database: Database, *, registry: Registry | None = None, limit: int = 100) -> int:
    """Fan out and run every due delivery in the calling thread (tests and one-off CLI runs)."""
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    with database.unit_of_work() as session:
        delivery_ids = claim_due(session, limit=limit, lease_seconds=60)
    run_deliveries(database, delivery_ids, registry=registry)
    return len(delivery_ids)


def has_open_work(session: Session) -> bool:
    """Whether any event awaits fan-out or any delivery is pending or running."""
    undispatched = exists().where(OutboxEvent.dispatched_at.is_(None))
    open_delivery = exists().where(EventDelivery.status.in_(OPEN_STATUSES))
    return bool(session.scalar(select(or_(undispatched, open_delivery))))


def replay(session: Session, tenant_id: str, delivery_id: str | None = None) -> int:
    """Put one dead delivery (or, with no id, all the tenant's) back to pending with attempts reset."""
    query = (
        select(EventDelivery)
        .options(joinedload(EventDelivery.event))
        .where(EventDelivery.tenant_id == tenant_id)
        .with_for_update(of=EventDelivery)
    )
    if delivery_id is not None:
        delivery = session.scalars(query.where(EventDelivery.id == delivery_id)).one_or_none()
        if delivery is None:
            raise NotFound(f"event delivery {delivery_id} not found")
        if delivery.status != DeliveryStatus.DEAD.value:
            raise Conflict(
                f"event delivery {delivery_id} is {delivery.status}, not dead; only dead letters replay"
            )
        deliveries = [delivery]
    else:
        deliveries = list(session.scalars(query.where(EventDelivery.status == DeliveryStatus.DEAD.value)))
    now = clock.now()
    for delivery in deliveries:
        delivery.status = DeliveryStatus.PENDING.value
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.finished_at = None
        delivery.enqueued_at = None
        _mirror_inbox(session, delivery.event, InboxStatus.RECEIVED, delivery)
    session.flush()
    return len(deliveries)


def list_dead_letters(
    session: Session, tenant_id: str, *, limit: int = 50, offset: int = 0
) -> list[EventDelivery]:
    """Dead deliveries, newest first, each with its event loaded (for the console)."""
    query = (
        select(EventDelivery)
        .options(joinedload(EventDelivery.event))
        .where(EventDelivery.tenant_id == tenant_id, EventDelivery.status == DeliveryStatus.DEAD.value)
        .order_by(EventDelivery.finished_at.desc(), EventDelivery.id)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def count_dead_letters(session: Session, tenant_id: str) -> int:
    query = (
        select(func.count())
        .select_from(EventDelivery)
        .where(EventDelivery.tenant_id == tenant_id, EventDelivery.status == DeliveryStatus.DEAD.value)
    )
    return session.scalar(query) or 0


def get_delivery(session: Session, tenant_id: str, delivery_id: str) -> EventDelivery:
    delivery = session.scalars(
        select(EventDelivery)
        .options(joinedload(EventDelivery.event))
        .where(EventDelivery.tenant_id == tenant_id, EventDelivery.id == delivery_id)
    ).one_or_none()
    if delivery is None:
        raise NotFound(f"event delivery {delivery_id} not found")
    return delivery
