"""Event core on SQLite and PostgreSQL: outbox, inbox dedupe, retries, dead letters, replay."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import Database
from haina.core.errors import Conflict, NotFound
from haina.core.events import (
    CeleryRunner,
    DeliveryOutcome,
    DeliveryStatus,
    EventDelivery,
    InboxItem,
    InboxStatus,
    OutboxEvent,
    Registry,
    ThreadRunner,
    count_dead_letters,
    emit,
    fan_out,
    list_dead_letters,
    receive,
    replay,
    run_delivery,
    run_due,
    start_runner,
)
from haina.core.events.dispatcher import claim_due, run_deliveries
from haina.core.events.registry import RECORDS
from haina.core.events.runners import chunks
from tests.conftest import make_settings

TENANT = "tenant-a"
OTHER_TENANT = "tenant-b"
EFFECT = "test.effect_applied"


def apply_effect(session: Session, event: OutboxEvent) -> None:
    """The handlers' visible effect: a row written in the dispatcher's session."""
    emit(session, event.tenant_id, EFFECT, {"cause": event.uuid})


def effects(database: Database) -> Counter[str]:
    with database.session_factory() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.type == EFFECT))
        return Counter(row.payload["cause"] for row in rows)


def deliveries(database: Database, handler: str | None = None) -> list[EventDelivery]:
    with database.session_factory() as session:
        query = select(EventDelivery).order_by(EventDelivery.created_at, EventDelivery.id)
        if handler is not None:
            query = query.where(EventDelivery.handler == handler)
        return list(session.scalars(query))


def emit_committed(database: Database, count: int = 1, type: str = "order.paid") -> list[str]:
    with database.unit_of_work() as session:
        return [emit(session, TENANT, type, {"number": number}).uuid for number in range(count)]


def run_until_settled(database: Database, registry: Registry, rounds: int = 20) -> None:
    """Run due work, jumping the frozen clock past each backoff, until nothing is open."""
    for _ in range(rounds):
        run_due(database, registry=registry)
        clock.advance(timedelta(hours=2))
        if all(d.status in ("done", "dead") for d in deliveries(database)):
            return
    raise AssertionError(f"deliveries still open after {rounds} rounds: {deliveries(database)}")


@pytest.fixture
def frozen_clock() -> Iterator[None]:
    clock.freeze(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    yield
    clock.freeze(None)


def flaky(failures: int, calls: list[int]) -> Callable[[Session, OutboxEvent], None]:
    """A handler that writes its effect, then fails on its first `failures` calls."""

    def handler(session: Session, event: OutboxEvent) -> None:
        calls.append(1)
        apply_effect(session, event)
        if len(calls) <= failures:
            raise RuntimeError(f"flaky failure {len(calls)}")

    return handler


# --- outbox -------------------------------------------------------------------------------


def test_emit_in_rolled_back_transaction_leaves_no_event(database: Database) -> None:
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        emit(session, TENANT, "order.paid", {"order": "A1"})
        raise RuntimeError("business rule failed")
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0

    first, second = emit_committed(database, 2)
    with database.session_factory() as session:
        rows = list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))
    assert [row.uuid for row in rows] == [first, second]
    assert rows[0].id < rows[1].id
    assert rows[0].dispatched_at is None and rows[0].created_at.tzinfo is not None


def test_emit_refuses_a_malformed_event_type(database: Database) -> None:
    with database.session_factory() as session, pytest.raises(ValueError, match="order.paid"):
        emit(session, TENANT, "OrderPaid", {})


def test_fan_out_makes_one_delivery_per_handler_once(database: Database) -> None:
    registry = Registry()
    registry.add("order.paid", "tags.on_order_paid", apply_effect)
    registry.add("order.paid", "journeys.on_order_paid", apply_effect)
    emit_committed(database, 2)
    emit_committed(database, 1, type="ticket.assigned")  # nobody listens

    for _ in range(2):
        with database.unit_of_work() as session:
            fan_out(session, registry=registry)

    pairs = sorted((d.event_id, d.handler) for d in deliveries(database))
    assert len(pairs) == 4 and len(set(pairs)) == 4
    with database.session_factory() as session:
        undispatched = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
    assert undispatched == 0


# --- inbox --------------------------------------------------------------------------------


def test_inbox_keeps_one_item_per_dedupe_key(database: Database) -> None:
    answers = []
    for _ in range(3):
        with database.unit_of_work() as session:
            item, is_new = receive(
                session, TENANT, "youzan", "youzan:shop1:order9:v1", b'{"tid": 9}', {"X-Sign": "abc"}
            )
            answers.append((item.id, is_new))
    assert [is_new for _, is_new in answers] == [True, False, False]
    assert len({item_id for item_id, _ in answers}) == 1
    with database.unit_of_work() as session:
        _, is_new = receive(session, OTHER_TENANT, "youzan", "youzan:shop1:order9:v1", "{}")
        assert is_new  # the key is unique per tenant, not across tenants

    with database.session_factory() as session:
        item = session.scalars(select(InboxItem).where(InboxItem.tenant_id == TENANT)).one()
        received = session.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "youzan.payload_received")
        ).all()
    assert item.payload == b'{"tid": 9}' and item.headers == {"X-Sign": "abc"}
    assert item.status == InboxStatus.RECEIVED
    assert sorted(event.tenant_id for event in received) == sorted([TENANT, OTHER_TENANT])


def test_inbox_dedupes_concurrent_receivers(database: Database) -> None:
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []

    def deliver_same_webhook() -> None:
        try:
            barrier.wait(timeout=30)
            with database.unit_of_work() as session:
                _, is_new = receive(session, TENANT, "wecom", "wecom:corp1:msg42", "<xml>hi</xml>")
            results.append(is_new)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=deliver_same_webhook) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    assert sorted(results) == [False] * (threads - 1) + [True]
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(InboxItem)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1


# --- retries, dead letters, replay ---------------------------------------------------------


def test_failing_handler_is_retried_then_succeeds_with_one_effect(
    database: Database, frozen_clock: None
) -> None:
    calls: list[int] = []
    registry = Registry()
    registry.add("order.paid", "tags.flaky", flaky(2, calls))
    (event_uuid,) = emit_committed(database)

    assert run_due(database, registry=registry) == 1
    (delivery,) = deliveries(database)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at > clock.now()
    assert delivery.last_error is not None and delivery.last_error.startswith("RuntimeError: flaky failure 1")
    assert run_due(database, registry=registry) == 0  # backing off: not due yet

    run_until_settled(database, registry)
    (delivery,) = deliveries(database)
    assert delivery.status == DeliveryStatus.DONE
    assert delivery.attempts == 3 and delivery.last_error is None and delivery.finished_at is not None
    assert len(calls) == 3
    # The failed attempts wrote their effect too, but in transactions that rolled back.
    assert effects(database) == Counter({event_uuid: 1})


def test_always_failing_handler_is_dead_lettered_with_its_error(
    database: Database, frozen_clock: None
) -> None:
    def broken(session: Session, event: OutboxEvent) -> None:
        raise ValueError(f"cannot map order {event.payload['number']}")

    registry = Registry()
    registry.add("order.paid", "settlement.broken", broken)
    registry.add("order.paid", "tags.healthy", apply_effect)
    (event_uuid,) = emit_committed(database)

    run_until_settled(database, registry)
    (dead,) = deliveries(database, "settlement.broken")
    assert dead.status == DeliveryStatus.DEAD
    assert dead.attempts == database.settings.event_max_attempts
    assert dead.finished_at is not None and dead.last_error is not None
    assert dead.last_error.startswith("ValueError: cannot map order 0")
    assert "Traceback" in dead.last_error and "in broken" in dead.last_error
    (healthy,) = deliveries(database, "tags.healthy")
    assert healthy.status == DeliveryStatus.DONE and effects(database) == Counter({event_uuid: 1})

    with database.session_factory() as session:
        listed = list_dead_letters(session, TENANT)
        assert [d.id for d in listed] == [dead.id]
        assert listed[0].event.type == "order.paid"
        assert count_dead_letters(session, TENANT) == 1
        assert count_dead_letters(session, OTHER_TENANT) == 0
        assert list_dead_letters(session, OTHER_TENANT) == []


def test_replay_runs_a_dead_letter_again_after_the_fix(database: Database, frozen_clock: None) -> None:
    fixed = threading.Event()

    def until_fixed(session: Session, event: OutboxEvent) -> None:
        apply_effect(session, event)
        if not fixed.is_set():
            raise KeyError("unknown sku")

    registry = Registry()
    registry.add("order.paid", "tags.until_fixed", until_fixed)
    first, second = emit_committed(database, 2)
    run_until_settled(database, registry)
    dead = deliveries(database)
    assert [d.status for d in dead] == ["dead", "dead"] and effects(database) == Counter()

    with database.unit_of_work() as session:
        with pytest.raises(NotFound):
            replay(session, OTHER_TENANT, dead[0].id)  # another tenant's dead letter is not found
        assert replay(session, TENANT, dead[0].id) == 1
    replayed = {d.id: d for d in deliveries(database)}[dead[0].id]
    assert replayed.status == DeliveryStatus.PENDING and replayed.attempts == 0

    fixed.set()
    run_until_settled(database, registry)
    by_id = {d.id: d for d in deliveries(database)}
    assert by_id[dead[0].id].status == DeliveryStatus.DONE and by_id[dead[0].id].attempts == 1
    assert by_id[dead[1].id].status == DeliveryStatus.DEAD  # replay of one touches only that one

    with database.unit_of_work() as session:
        with pytest.raises(Conflict):
            replay(session, TENANT, dead[0].id)  # done, not dead
        assert replay(session, TENANT) == 1  # all remaining dead letters
    run_until_settled(database, registry)
    assert {d.status for d in deliveries(database)} == {"done"}
    assert effects(database) == Counter({first: 1, second: 1})


def test_unregistered_handler_is_dead_lettered_with_the_reason(
    database: Database, frozen_clock: None
) -> None:
    registry = Registry()
    registry.add("order.paid", "tags.removed_later", apply_effect)
    emit_committed(database)
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    registry.remove("tags.removed_later")

    run_until_settled(database, registry)
    (delivery,) = deliveries(database)
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.last_error is not None and "no handler named 'tags.removed_later'" in delivery.last_error


def test_inbox_item_status_follows_its_processing(database: Database, frozen_clock: None) -> None:
    fixed = threading.Event()

    def normalise(session: Session, event: OutboxEvent) -> None:
        if not fixed.is_set():
            raise ValueError("field tid missing")

    registry = Registry()
    registry.add("youzan.payload_received", "youzan.normalise", normalise)
    with database.unit_of_work() as session:
        item, _ = receive(session, TENANT, "youzan", "youzan:1:1:1", b"{}")

    def current() -> InboxItem:
        with database.session_factory() as session:
            return session.get_one(InboxItem, item.id)

    run_due(database, registry=registry)
    assert current().status == InboxStatus.FAILED and current().attempts == 1
    run_until_settled(database, registry)
    assert current().status == InboxStatus.DEAD
    assert (current().error or "").startswith("ValueError: field tid missing")

    with database.unit_of_work() as session:
        replay(session, TENANT)
    assert current().status == InboxStatus.RECEIVED
    fixed.set()
    run_until_settled(database, registry)
    assert current().status == InboxStatus.PROCESSED and current().error is None


# --- duplicate delivery ---------------------------------------------------------------------


def test_duplicate_delivery_applies_the_effect_once(database: Database) -> None:
    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect)
    (event_uuid,) = emit_committed(database)
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    (delivery,) = deliveries(database)

    assert run_delivery(database, delivery.id, registry=registry) == DeliveryOutcome.DONE
    assert run_delivery(database, delivery.id, registry=registry) == DeliveryOutcome.SKIPPED
    assert run_delivery(database, "no-such-delivery", registry=registry) == DeliveryOutcome.MISSING
    assert effects(database) == Counter({event_uuid: 1})


def test_concurrent_duplicate_deliveries_apply_the_effect_once(database: Database) -> None:
    started = threading.Event()

    def slow_effect(session: Session, event: OutboxEvent) -> None:
        apply_effect(session, event)
        started.set()
        time.sleep(0.3)  # hold the delivery while the duplicate arrives

    registry = Registry()
    registry.add("order.paid", "tags.slow", slow_effect)
    (event_uuid,) = emit_committed(database)
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    (delivery,) = deliveries(database)

    outcomes: list[DeliveryOutcome] = []
    first = threading.Thread(
        target=lambda: outcomes.append(run_delivery(database, delivery.id, registry=registry))
    )
    first.start()
    assert started.wait(30), "the first run never reached the handler"
    outcomes.append(run_delivery(database, delivery.id, registry=registry))
    first.join(30)

    # PostgreSQL skips the locked row at once; SQLite waits for the writer, then finds it done.
    assert sorted(outcomes) == sorted([DeliveryOutcome.DONE, duplicate_outcome(database)])
    assert effects(database) == Counter({event_uuid: 1})


def duplicate_outcome(database: Database) -> DeliveryOutcome:
    return DeliveryOutcome.SKIPPED if database.settings.is_sqlite else DeliveryOutcome.BUSY


def test_claimed_delivery_comes_back_when_its_lease_runs_out(database: Database, frozen_clock: None) -> None:
    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect)
    (event_uuid,) = emit_committed(database)
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    with database.unit_of_work() as session:
        (claimed,) = claim_due(session, limit=10, lease_seconds=30)
    with database.unit_of_work() as session:
        assert claim_due(session, limit=10, lease_seconds=30) == []  # no double hand-over
    assert deliveries(database)[0].status == DeliveryStatus.RUNNING

    # The worker that took it died without a trace; after the lease it is handed out again.
    clock.advance(timedelta(seconds=31))
    with database.unit_of_work() as session:
        assert claim_due(session, limit=10, lease_seconds=30) == [claimed]
    assert run_delivery(database, claimed, registry=registry) == DeliveryOutcome.DONE
    assert effects(database) == Counter({event_uuid: 1})


# --- micro-batches -----------------------------------------------------------------------------


def test_batch_handler_takes_many_deliveries_in_one_call(database: Database) -> None:
    calls: list[int] = []

    def apply_all(session: Session, events: list[OutboxEvent]) -> None:
        calls.append(len(events))
        for event in events:
            apply_effect(session, event)

    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect, batch_handler=apply_all)
    uuids = emit_committed(database, 30)
    run_due(database, registry=registry)

    assert calls == [30]
    assert effects(database) == Counter({uuid: 1 for uuid in uuids})
    assert {(d.status, d.attempts) for d in deliveries(database)} == {("done", 1)}


def test_failing_batch_falls_back_to_one_by_one_and_only_the_bad_event_fails(
    database: Database, frozen_clock: None
) -> None:
    with database.unit_of_work() as session:
        for number in range(5):
            receive(session, TENANT, "youzan", f"youzan:1:{number}:1", f'{{"n": {number}}}'.encode())

    def normalise(session: Session, event: OutboxEvent) -> None:
        with session.no_autoflush:
            item = session.scalars(
                select(InboxItem).where(InboxItem.id == event.payload["inbox_item_id"])
            ).one()
        if b'"n": 3' in item.payload:
            raise ValueError("field tid missing")
        apply_effect(session, event)

    def normalise_all(session: Session, events: list[OutboxEvent]) -> None:
        for event in events:
            normalise(session, event)

    registry = Registry()
    registry.add("youzan.payload_received", "youzan.normalise", normalise, batch_handler=normalise_all)
    run_until_settled(database, registry)

    assert sum(effects(database).values()) == 4  # the batch's partial work was rolled back
    assert len(effects(database)) == 4
    with database.session_factory() as session:
        items = {item.payload: item for item in session.scalars(select(InboxItem))}
    assert items[b'{"n": 3}'].status == InboxStatus.DEAD
    assert (items[b'{"n": 3}'].error or "").startswith("ValueError: field tid missing")
    assert {item.status for payload, item in items.items() if payload != b'{"n": 3}'} == {
        InboxStatus.PROCESSED
    }


def test_thread_runner_spreads_a_burst_over_its_threads_in_batches(database: Database) -> None:
    sizes: list[int] = []
    lock = threading.Lock()

    def apply_all(session: Session, events: list[OutboxEvent]) -> None:
        with lock:
            sizes.append(len(events))
        for event in events:
            apply_effect(session, event)

    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect, batch_handler=apply_all)
    uuids = emit_committed(database, 120)
    runner = ThreadRunner(database, registry=registry, threads=3)
    runner.start()
    try:
        runner.wake()
        assert runner.drain(timeout=120), f"work still open: {deliveries(database)}"
    finally:
        runner.stop()
    assert effects(database) == Counter({uuid: 1 for uuid in uuids})
    assert sum(sizes) == 120 and max(sizes) > 1


def test_chunks_spread_evenly_and_keep_order() -> None:
    ids = [str(number) for number in range(10)]
    assert chunks(ids, 3, 200, least=1) == [ids[0:4], ids[4:8], ids[8:10]]
    assert chunks(ids, 3, 2, least=1) == [ids[0:2], ids[2:4], ids[4:6], ids[6:8], ids[8:10]]
    assert chunks(ids, 3, 200) == [ids]  # a handful stays one batch
    many = [str(number) for number in range(120)]
    assert [len(part) for part in chunks(many, 4, 200)] == [60, 60]
    assert chunks([], 3, 5) == [] and chunks(ids, 0, 5) == []


# --- thread runner ---------------------------------------------------------------------------


def test_thread_runner_keeps_flowing_past_a_failing_handler(database: Database) -> None:
    registry = Registry()

    def broken(session: Session, event: OutboxEvent) -> None:
        raise RuntimeError("always broken")

    registry.add("order.paid", "settlement.broken", broken)
    registry.add("order.paid", "tags.effect", apply_effect)
    runner = ThreadRunner(database, registry=registry, threads=3)
    runner.start()
    try:
        uuids = [uuid for _ in range(4) for uuid in emit_committed(database, 5)]
        runner.wake()
        assert runner.drain(timeout=120), f"work still open: {deliveries(database)}"
    finally:
        runner.stop()

    assert effects(database) == Counter({uuid: 1 for uuid in uuids})
    good = deliveries(database, "tags.effect")
    bad = deliveries(database, "settlement.broken")
    assert len(good) == 20 and {d.status for d in good} == {"done"}
    assert len(bad) == 20 and {d.status for d in bad} == {"dead"}
    assert {d.attempts for d in bad} == {database.settings.event_max_attempts}


def test_thread_runner_stop_lets_a_running_delivery_finish(database: Database) -> None:
    started = threading.Event()

    def slow_effect(session: Session, event: OutboxEvent) -> None:
        started.set()
        time.sleep(0.3)
        apply_effect(session, event)

    registry = Registry()
    registry.add("order.paid", "tags.slow", slow_effect)
    runner = ThreadRunner(database, registry=registry, threads=2)
    runner.start()
    try:
        (event_uuid,) = emit_committed(database)
        runner.wake()
        assert started.wait(30), "the runner never started the delivery"
    finally:
        runner.stop()
    assert [d.status for d in deliveries(database)] == ["done"]
    assert effects(database) == Counter({event_uuid: 1})


def test_start_runner_follows_the_task_mode(database: Database, tmp_path: Path) -> None:
    threads = start_runner(database.settings, database)
    try:
        assert isinstance(threads, ThreadRunner) and threads.threads == database.settings.worker_threads
    finally:
        threads.stop()

    settings = make_settings(
        tmp_path,
        database_url=database.settings.database_url,
        task_mode="celery",
        redis_url="redis://127.0.0.1:6379/0",
    )
    celery = start_runner(settings, database)
    try:
        assert isinstance(celery, CeleryRunner)
        conf = celery.app.conf
        assert conf.broker_url == "redis://127.0.0.1:6379/0"
        assert conf.task_acks_late and conf.task_reject_on_worker_lost
        assert conf.worker_prefetch_multiplier == 1 and conf.task_serializer == "json"
    finally:
        celery.stop()


# --- records before reactions, and batches that grow under load ------------------------------


def test_records_are_claimed_and_run_before_reactions(database: Database, frozen_clock: None) -> None:
    """A backlog of reactions does not hold up pushes arriving after it: the deliveries that
    store what a platform sent are taken first, and within a batch they run first."""
    order: list[str] = []

    def record(session: Session, event: OutboxEvent) -> None:
        order.append(f"{event.type}:{event.payload['number']}")

    registry = Registry()
    registry.add("order.paid", "tags.on_order_paid", record)
    registry.add("youzan.payload_received", "connections.youzan.push", record, priority=RECORDS)
    emit_committed(database, 3, type="order.paid")
    clock.advance(timedelta(seconds=5))
    emit_committed(database, 2, type="youzan.payload_received")
    with database.unit_of_work() as session:
        fan_out(session, registry=registry)
    by_id = {d.id: (d.handler, d.priority) for d in deliveries(database)}
    assert sorted(by_id.values()) == [("connections.youzan.push", 0)] * 2 + [("tags.on_order_paid", 1)] * 3

    with database.unit_of_work() as session:
        first = claim_due(session, limit=2, lease_seconds=60)
    assert [by_id[delivery_id][0] for delivery_id in first] == ["connections.youzan.push"] * 2

    reactions = [d.id for d in deliveries(database, "tags.on_order_paid")]
    run_deliveries(database, reactions + list(reversed(first)), registry=registry)
    assert sorted(order[:2]) == ["youzan.payload_received:0", "youzan.payload_received:1"]
    assert sorted(order[2:]) == ["order.paid:0", "order.paid:1", "order.paid:2"]


class PublishedTasks:
    """A stand-in Celery app that notes what the runner publishes, and where."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.queues: list[str] = []

    def send_task(self, name: str, *, args: list[list[str]], queue: str) -> None:
        self.sent.append(list(args[0]))
        self.queues.append(queue)


def test_celery_runner_keeps_a_few_tasks_in_flight_and_batches_the_rest(database: Database) -> None:
    """Pushes arriving one by one while the workers are busy are published as one batch when a
    task finishes, instead of as a queue of one-push tasks."""
    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect)
    app = PublishedTasks()
    runner = CeleryRunner(database, app=app, registry=registry, tasks_in_flight=2)  # type: ignore[arg-type]
    for _ in range(2):
        emit_committed(database, 1)
        assert runner.poll_once() == 1
    assert [len(part) for part in app.sent] == [1, 1]

    for _ in range(5):  # the two tasks are still running
        emit_committed(database, 1)
        assert runner.poll_once() == 0
    assert len(app.sent) == 2

    run_deliveries(database, app.sent[0], registry=registry)  # a worker finishes one
    assert runner.poll_once() == 5
    assert [len(part) for part in app.sent] == [1, 1, 5]
    assert set(app.queues) == {"haina.events"}
    run_deliveries(database, app.sent[1] + app.sent[2], registry=registry)
    assert {d.status for d in deliveries(database)} == {"done"}
    assert runner.lanes[1].free_slots(database, 60) == 2


def test_celery_runner_publishes_pushes_on_their_own_queue_past_busy_reactions(database: Database) -> None:
    registry = Registry()
    registry.add("order.paid", "tags.effect", apply_effect)
    registry.add("youzan.payload_received", "connections.youzan.push", apply_effect, priority=RECORDS)
    app = PublishedTasks()
    runner = CeleryRunner(database, app=app, registry=registry, tasks_in_flight=2)  # type: ignore[arg-type]
    for _ in range(3):
        emit_committed(database, 1)
        runner.poll_once()
    assert app.queues == ["haina.events", "haina.events"]  # reactions: their two slots are taken

    emit_committed(database, 2, type="youzan.payload_received")
    assert runner.poll_once() == 2
    assert app.queues[-1] == "haina.records" and len(app.sent[-1]) == 2
