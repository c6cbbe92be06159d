"""Runners: a poll loop that fans out events and hands due deliveries to threads or Celery.

Both claim deliveries under a lease before handing them over, so two poll loops (two server
processes, or a restart) never hand out the same delivery twice while the lease holds, and a
delivery lost with its worker comes due again when the lease runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import select

from haina.core import statistics
from haina.core.database import Database
from haina.core.events.dispatcher import claim_due, fan_out, has_open_work, run_deliveries
from haina.core.events.models import DeliveryStatus, EventDelivery
from haina.core.events.registry import REACTIONS, RECORDS, Registry, discover_handlers
from haina.core.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

THREAD_LEASE_SECONDS = 60.0
# Long enough for a message to wait its turn in a busy queue; RabbitMQ redelivers a dead
# worker's messages at once anyway, and with Redis this bounds the wait for its visibility timeout.
CELERY_LEASE_SECONDS = 300.0


# A batch handler has a fixed cost per call (its queries), so a handful of due deliveries is
# better run as one batch than spread thinly over every free thread.
MIN_SPREAD = 50

# Polls run at most this often: a server taking a thousand pushes a second wakes the loop for
# each, and a poll per push would spend the process on fan-out round trips instead of answers;
# pushes arriving within one gap share the next poll (latency: at most the gap).
MIN_POLL_GAP_SECONDS = 0.02


def chunks(items: list[str], parts: int, size: int, *, least: int = MIN_SPREAD) -> list[list[str]]:
    """Split `items` into runs of at most `size`, keeping their order: up to `parts` runs as even
    as possible when they fit (so a burst spreads over every free thread instead of filling the
    first one) but none smaller than `least` unless there are fewer items; more runs when they
    do not fit."""
    if not items or parts <= 0:
        return []
    parts = max(1, min(parts, len(items) // max(1, least)))
    per_part = min(size, -(-len(items) // parts))
    return [items[start : start + per_part] for start in range(0, len(items), per_part)]


class Runner(ABC):
    """The shared poll loop; subclasses decide how many deliveries to take and where they go."""

    def __init__(
        self,
        database: Database,
        *,
        registry: Registry | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float,
    ) -> None:
        self.database = database
        self.registry = registry
        self.poll_seconds = (
            poll_seconds if poll_seconds is not None else database.settings.dispatcher_poll_seconds
        )
        self.lease_seconds = lease_seconds
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._statistics_thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("runner already started")
        name = f"haina-{type(self).__name__}"
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        self._statistics_thread = threading.Thread(
            target=self._statistics_loop, name=f"{name}-statistics", daemon=True
        )
        self._statistics_thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling and wait (up to `timeout`) for the loop; subclasses also wait for work."""
        self._stopping.set()
        self._wake.set()
        for thread in (self._thread, self._statistics_thread):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._statistics_thread = None

    def wake(self) -> None:
        """Poll now instead of at the next tick (e.g. right after a request emitted events)."""
        self._wake.set()

    def drain(self, timeout: float) -> bool:
        """Wait until no event awaits fan-out and no delivery is open; False if time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._is_idle():
                with self.database.session_factory() as session:
                    if not has_open_work(session):
                        return True
            self.wake()
            time.sleep(min(0.05, self.poll_seconds))
        return False

    def poll_once(self) -> int:
        """Fan out, claim what there is room for and hand it over; returns how many were handed."""
        with self.database.unit_of_work() as session:
            fan_out(session, registry=self.registry)
        return self._take_due()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            # Clear before polling, so a wake-up that arrives during the poll is not lost.
            self._wake.clear()
            polled = time.monotonic()
            try:
                handed = self.poll_once()
            except Exception:  # noqa: BLE001 - a database blip must not end the loop
                logger.exception("event poll failed; trying again")
                handed = 0
            if handed == 0:
                self._wake.wait(self.poll_seconds)
            gap = MIN_POLL_GAP_SECONDS - (time.monotonic() - polled)
            if gap > 0:
                self._stopping.wait(gap)

    def _statistics_loop(self) -> None:
        """Pushes fill a new tenant's tables fast; plans must follow (every few seconds). On a
        thread of its own: an ANALYZE of a big table takes a few hundred ms, which the poll
        loop would otherwise add to every push waiting to be handed over."""
        while not self._stopping.wait(statistics.CHECK_SECONDS):
            try:
                statistics.refresh(self.database.engine)
            except Exception:  # noqa: BLE001 - a database blip must not end the loop
                logger.exception("refreshing planner statistics failed; trying again")

    @abstractmethod
    def _take_due(self) -> int:
        """Claim the due deliveries there is room for and run (or enqueue) them; how many."""

    def _is_idle(self) -> bool:
        return True


class ThreadRunner(Runner):
    """Runs deliveries on a pool of `settings.worker_threads` threads in this process, each thread
    a micro-batch of up to `settings.event_batch_size` deliveries at a time."""

    def __init__(
        self,
        database: Database,
        *,
        registry: Registry | None = None,
        threads: int | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float = THREAD_LEASE_SECONDS,
    ) -> None:
        super().__init__(database, registry=registry, poll_seconds=poll_seconds, lease_seconds=lease_seconds)
        self.threads = threads or database.settings.worker_threads
        self.batch_size = database.settings.event_batch_size
        self._executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="haina-event")
        self._in_flight: set[str] = set()
        self._busy_threads = 0
        self._lock = threading.Lock()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking work and let running deliveries finish; nothing is left half-claimed
        because the loop only claims what a free thread can start at once."""
        super().stop(timeout)
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _take_due(self) -> int:
        room = self._room()
        if room <= 0:
            return 0
        with self.database.unit_of_work() as session:
            delivery_ids = claim_due(session, limit=room, lease_seconds=self.lease_seconds)
        if delivery_ids:
            self._hand_over(delivery_ids)
        return len(delivery_ids)

    def _room(self) -> int:
        with self._lock:
            return (self.threads - self._busy_threads) * self.batch_size

    def _hand_over(self, delivery_ids: list[str]) -> None:
        with self._lock:
            # A handler that outlives its lease is claimed again; it is still ours, running.
            fresh = [delivery_id for delivery_id in delivery_ids if delivery_id not in self._in_flight]
            parts = chunks(fresh, self.threads - self._busy_threads, self.batch_size)
            self._in_flight.update(fresh)
            self._busy_threads += len(parts)
        for part in parts:
            future = self._executor.submit(run_deliveries, self.database, part, registry=self.registry)
            future.add_done_callback(partial(self._finished, part))

    def _finished(self, part: list[str], future: Future[object]) -> None:
        with self._lock:
            self._in_flight.difference_update(part)
            self._busy_threads -= 1
        error = future.exception() if not future.cancelled() else None
        if error is not None:
            # run_deliveries records handler errors itself; this is the database failing. The
            # lease brings the deliveries back.
            logger.error("%d event deliveries could not be run: %s", len(part), error, exc_info=error)
        self._wake.set()

    def _is_idle(self) -> bool:
        with self._lock:
            return not self._in_flight


class _Lane:
    """One kind of Celery task (records, or reactions): its queue and the tasks it has published
    and not yet seen finished, at most `limit` at a time."""

    def __init__(self, name: str, priority: int, queue: str, limit: int) -> None:
        self.name = name
        self.priority = priority
        self.queue = queue
        self.limit = limit
        self.published: list[tuple[float, list[str]]] = []  # (publish time, delivery ids)

    def free_slots(self, database: Database, lease_seconds: float) -> int:
        if len(self.published) >= self.limit:  # only then is it worth a query
            self.forget_finished(database, lease_seconds)
        return self.limit - len(self.published)

    def forget_finished(self, database: Database, lease_seconds: float) -> None:
        """Drop the tasks whose deliveries are no longer running (done, failed, or taken over
        after their lease ran out), and any older than their lease (a lost message)."""
        expired = time.monotonic() - lease_seconds
        self.published = [task for task in self.published if task[0] > expired]
        ids = [delivery_id for _, part in self.published for delivery_id in part]
        if not ids:
            return
        with database.session_factory() as session:
            running = set(
                session.scalars(
                    select(EventDelivery.id).where(
                        EventDelivery.id.in_(ids), EventDelivery.status == DeliveryStatus.RUNNING.value
                    )
                )
            )
        self.published = [task for task in self.published if running.intersection(task[1])]


class CeleryRunner(Runner):
    """Publishes due deliveries as `haina.events.run_deliveries` tasks for Celery workers, in two
    lanes: records (the pushes to store) on the `haina.records` queue and reactions on
    `haina.events`, each with at most a few tasks unfinished at a time.

    The limit is what makes batches: while the workers are busy, due deliveries wait in the
    database and the next free slot takes up to `event_batch_size` of them at once, instead of
    every poll publishing the one or two pushes that arrived since the last (a queue of tiny
    tasks, each paying a batch's fixed cost, that falls ever further behind). The lanes keep a
    backlog of reactions from delaying new pushes: a worker that takes the records queue (the
    default worker takes both, records first; a dedicated `haina worker --queues haina.records`
    is never busy with reactions) stores a push while the reactions wait their turn.
    """

    def __init__(
        self,
        database: Database,
        *,
        app: Celery | None = None,
        queue: str | None = None,
        registry: Registry | None = None,
        poll_seconds: float | None = None,
        lease_seconds: float = CELERY_LEASE_SECONDS,
        tasks_in_flight: int | None = None,
    ) -> None:
        from haina.core.events.celery_app import EVENTS_QUEUE, RECORDS_QUEUE, create_celery_app

        super().__init__(database, registry=registry, poll_seconds=poll_seconds, lease_seconds=lease_seconds)
        self.app = app or create_celery_app(database.settings)
        self.tasks_in_flight = tasks_in_flight or database.settings.event_tasks_in_flight
        # One queue given (tests): both lanes publish to it.
        self.lanes = (
            _Lane("records", RECORDS, queue or RECORDS_QUEUE, max(1, self.tasks_in_flight // 2)),
            _Lane("reactions", REACTIONS, queue or EVENTS_QUEUE, self.tasks_in_flight),
        )

    def _take_due(self) -> int:
        handed = 0
        for lane in self.lanes:
            room = (
                lane.free_slots(self.database, self.lease_seconds) * self.database.settings.event_batch_size
            )
            if room <= 0:
                continue
            with self.database.unit_of_work() as session:
                delivery_ids = claim_due(
                    session, limit=room, lease_seconds=self.lease_seconds, priority=lane.priority
                )
            if delivery_ids:
                self._publish(lane, delivery_ids)
                handed += len(delivery_ids)
        return handed

    def _publish(self, lane: _Lane, delivery_ids: list[str]) -> None:
        from haina.core.events.celery_app import RUN_DELIVERIES_TASK

        size = self.database.settings.event_batch_size
        slots = max(1, lane.limit - len(lane.published))
        for part in chunks(delivery_ids, slots, size):
            # If publishing fails part-way, the unpublished ones come due again with their lease.
            self.app.send_task(RUN_DELIVERIES_TASK, args=[part], queue=lane.queue)
            lane.published.append((time.monotonic(), part))


def start_runner(settings: Settings, database: Database) -> Runner:
    """Import every module's handlers and start the runner that `settings.task_mode` asks for."""
    discover_handlers()
    runner: Runner
    if settings.task_mode == "celery":
        from haina.core.events.celery_app import create_celery_app

        runner = CeleryRunner(database, app=create_celery_app(settings))
    else:
        runner = ThreadRunner(database, threads=settings.worker_threads)
    runner.start()
    return runner
