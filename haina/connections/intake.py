"""Group commit of webhook pushes: many requests' inbox writes share one transaction.

A push must be durable before its answer leaves, and one commit per push caps a server at a few
hundred pushes/s (each commit is a round trip and, on PostgreSQL, a WAL flush). Here the request
thread verifies and reads the push (CPU work, in parallel with other requests), then hands its
items to one writer thread and waits. The writer takes everything waiting (up to `max_batch`),
writes it with one INSERT for the items and one for their events (`inbox.receive_many`), commits
once and wakes every waiting request, which then answers. Under load a batch grows to what
arrived during the previous commit, so throughput rises with load while an idle server answers a
lone push after a single commit.

A push that does not verify or cannot be read takes the ordinary path (`service.receive_webhook`
in its own transaction: audit entry, or the envelope kept whole), so those outcomes stay exactly
as they are documented there.

`receive_async` is the same happy path for the event loop (the webhook fast path,
haina.connections.fast_path): it waits for the commit without holding a thread, and answers
None whenever the push needs anything else (a connection not cached yet, a push that does not
verify, a commit that failed), so the caller hands the request to the ordinary route.

The connection a URL names is read once and cached for `CONNECTION_TTL_SECONDS` (with its
decrypted credentials); a connection disabled or re-keyed in the console is seen by the intake
within that time.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from haina.connections import repository, service
from haina.core.database import Database
from haina.core.errors import NotFound, Unavailable
from haina.core.events import inbox
from haina.core.settings import Settings
from haina.platforms.base import Credentials, WebhookAnswer

logger = logging.getLogger(__name__)

CONNECTION_TTL_SECONDS = 5.0
MAX_BATCH = 500
ANSWER_TIMEOUT_SECONDS = 10.0


class IntakeUnavailable(Unavailable):
    """The writer could not make the push durable (database down, intake stopped): the request
    fails with a 5xx and the platform sends the push again."""


@dataclass(frozen=True)
class _Known:
    tenant_id: str
    platform: str
    is_active: bool
    credentials: Credentials
    expires: float


@dataclass
class _Job:
    items: list[inbox.NewItem]
    done: threading.Event = field(default_factory=threading.Event)
    new: list[bool] = field(default_factory=list)
    error: BaseException | None = None
    # Called by the writer once `done` is set (thread-safe wake-up of an event loop waiter).
    notify: Callable[[], None] | None = None

    def finish(self) -> None:
        self.done.set()
        if self.notify is not None:
            self.notify()


def _serves(known: _Known, platform: str) -> bool:
    return known.platform == platform and known.is_active


def _verified(
    known: _Known,
    platform: str,
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
) -> WebhookAnswer | None:
    """The connector's reading of a push that verifies; None for one rejected or unreadable."""
    try:
        return service.connector_for(platform).receive_webhook(
            known.credentials, method, query, headers, body
        )
    except Exception:  # noqa: BLE001 - the ordinary path records why
        return None


def _outcome(answer: WebhookAnswer, job: _Job) -> service.WebhookOutcome:
    """The platform's ack for a committed push, counting what was new and what a duplicate."""
    stored = sum(job.new)
    return service.WebhookOutcome(
        answer.status, answer.body, answer.content_type, stored, len(job.new) - stored
    )


class WebhookIntake:
    """One writer thread per process; `receive` is called from request threads."""

    def __init__(self, database: Database, settings: Settings, *, max_batch: int = MAX_BATCH) -> None:
        self.database = database
        self.settings = settings
        self.max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._known: dict[str, _Known] = {}
        self._known_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.batches = 0  # commits made (for tests and the bench)

    # ── lifecycle ───────────────────────────────────────────────────────────────────────────

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("intake already started")
        self._thread = threading.Thread(target=self._write_loop, name="haina-webhook-intake", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop; later pushes fail over to `IntakeUnavailable`."""
        self._stopping.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def _running(self) -> bool:
        return self._thread is not None and not self._stopping.is_set()

    # ── request side ────────────────────────────────────────────────────────────────────────

    def receive(
        self,
        platform: str,
        connection_id: str,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        *,
        ip: str = "",
    ) -> service.WebhookOutcome:
        known = self._connection(connection_id)
        if known is None or not _serves(known, platform):
            raise NotFound(f"no active {platform} connection {connection_id}", code="unknown_connection")
        answer = _verified(known, platform, method, query, headers, body)
        if answer is None:  # rejected or unreadable: the ordinary path says how
            return self._ordinary(platform, connection_id, method, query, headers, body, ip)
        if not answer.items:
            return service.WebhookOutcome(answer.status, answer.body, answer.content_type)
        return self._store(known, platform, connection_id, answer)

    def _store(
        self, known: _Known, platform: str, connection_id: str, answer: WebhookAnswer
    ) -> service.WebhookOutcome:
        job = _Job(service.pushed_items(known.tenant_id, platform, connection_id, answer))
        if not self._running:
            raise IntakeUnavailable("the webhook intake is not running")
        self._jobs.put(job)
        if not job.done.wait(ANSWER_TIMEOUT_SECONDS):
            raise IntakeUnavailable("the push could not be stored in time; the platform will retry")
        if job.error is not None:
            raise IntakeUnavailable(f"the push could not be stored: {job.error}") from job.error
        return _outcome(answer, job)

    async def receive_async(
        self,
        platform: str,
        connection_id: str,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> service.WebhookOutcome | None:
        """`receive` on the event loop, for pushes that verify on a cached connection; None for
        anything else (the caller then takes the ordinary route, which says what went wrong)."""
        known = self._cached(connection_id)
        if known is None or not _serves(known, platform) or not self._running:
            return None
        answer = _verified(known, platform, method, query, headers, body)
        if answer is None:  # rejected or unreadable: the ordinary route says how
            return None
        if not answer.items:
            return service.WebhookOutcome(answer.status, answer.body, answer.content_type)
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not committed.done():
                committed.set_result(None)

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop closed meanwhile (shutdown): nobody waits any more
                pass

        job = _Job(service.pushed_items(known.tenant_id, platform, connection_id, answer), notify=wake)
        self._jobs.put(job)
        try:
            await asyncio.wait_for(asyncio.shield(committed), ANSWER_TIMEOUT_SECONDS)
        except TimeoutError:
            return None
        return None if job.error is not None else _outcome(answer, job)

    def _ordinary(
        self,
        platform: str,
        connection_id: str,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        ip: str,
    ) -> service.WebhookOutcome:
        with self.database.unit_of_work() as session:
            return service.receive_webhook(
                session,
                self.database,
                self.settings,
                platform,
                connection_id,
                method,
                query,
                headers,
                body,
                ip=ip,
            )

    def _cached(self, connection_id: str) -> _Known | None:
        with self._known_lock:
            known = self._known.get(connection_id)
        return known if known is not None and known.expires > time.monotonic() else None

    def _connection(self, connection_id: str) -> _Known | None:
        now = time.monotonic()
        known = self._cached(connection_id)
        if known is not None:
            return known
        with self.database.session_factory() as session:
            connection = repository.connection_for_webhook(session, connection_id)
            if connection is None:
                return None
            known = _Known(
                tenant_id=connection.tenant_id,
                platform=connection.platform,
                is_active=connection.is_active,
                credentials=service.connector_credentials(connection, self.settings),
                expires=now + CONNECTION_TTL_SECONDS,
            )
        with self._known_lock:
            self._known[connection_id] = known
        return known

    def forget(self, connection_id: str | None = None) -> None:
        """Drop cached connections (after a change made in this process)."""
        with self._known_lock:
            if connection_id is None:
                self._known.clear()
            else:
                self._known.pop(connection_id, None)

    # ── writer side ─────────────────────────────────────────────────────────────────────────

    def _write_loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                if self._stopping.is_set() and self._jobs.empty():
                    return
                continue
            batch = [first]
            size = len(first.items)
            while size < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    continue
                batch.append(job)
                size += len(job.items)
            self._write(batch)

    def _write(self, batch: list[_Job]) -> None:
        try:
            with self.database.unit_of_work() as session:
                new = inbox.receive_many(session, [item for job in batch for item in job.items])
        except Exception as error:  # noqa: BLE001 - one bad push must not fail its neighbours
            if len(batch) > 1:
                logger.warning(
                    "a group commit of %d pushes failed (%s); writing them one by one", len(batch), error
                )
                for job in batch:
                    self._write([job])
                return
            logger.exception("a push could not be stored")
            batch[0].error = error
            batch[0].finish()
            return
        self.batches += 1
        start = 0
        for job in batch:
            job.new = new[start : start + len(job.items)]
            start += len(job.items)
            job.finish()
