"""Periodic jobs of the tags module.

* Every `settings.lifecycle_refresh_minutes` (10 by default), per active tenant: RFM scores and
  lifecycle stages (rfm.compute), which also writes the day's stage counts and flows.
* Once per Asia/Shanghai day, per tenant: every rule tag evaluated again
  (`haina.tags.evaluation.evaluate_all`), since rule time windows ("ordered in the last 30
  days") move with the clock even when no event arrives.
* "Recompute now" from the console: `LifecycleScheduler.request(tenant_id)` wakes the thread.

The embedded server runs `LifecycleScheduler`, a daemon thread started with the event workers
(lifecycle_views.lifespan). With Celery, beat entries for the tasks
`haina.tags.recompute_all` (every few minutes) and `haina.tags.evaluate_rule_tags` (daily) do
the same.
A computation locks its tenant's settings row (rfm._lock), so two schedulers never count the
same moves twice; they only repeat work.

Job states live in this process's memory (`job_of`): enough for the console's progress and
finished state on the server that ran it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.core.tenancy.models import Tenant
from haina.tags import evaluation, lifecycle, rfm

logger = logging.getLogger(__name__)

TICK_SECONDS = 60.0
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class Job:
    tenant_id: str
    state: str
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    customers: int = 0
    changes: int = 0
    error: str = ""

    @property
    def is_running(self) -> bool:
        return self.state in (QUEUED, RUNNING)


_jobs: dict[str, Job] = {}
_jobs_lock = threading.Lock()


def job_of(tenant_id: str) -> Job | None:
    """The latest recomputation of this tenant run (or queued) in this process."""
    with _jobs_lock:
        return _jobs.get(tenant_id)


def _set_job(job: Job) -> Job:
    with _jobs_lock:
        _jobs[job.tenant_id] = job
    return job


def mark_queued(tenant_id: str) -> Job:
    with _jobs_lock:
        current = _jobs.get(tenant_id)
        if current is not None and current.is_running:
            return current
        job = Job(tenant_id=tenant_id, state=QUEUED, requested_at=clock.now())
        _jobs[tenant_id] = job
        return job


def run_tenant(database: Database, tenant_id: str) -> Job:
    """Recompute one tenant's RFM scores and stages in its own transaction; the job records how
    it went (a failure is logged and kept on the job, not raised)."""
    job = job_of(tenant_id)
    requested = job.requested_at if job is not None and job.is_running else clock.now()
    job = _set_job(Job(tenant_id=tenant_id, state=RUNNING, requested_at=requested, started_at=clock.now()))
    try:
        with database.unit_of_work() as session:
            result = rfm.compute(session, tenant_id)
    except Exception as error:  # noqa: BLE001 - one tenant's failure must not stop the others
        logger.exception("RFM / lifecycle computation of tenant %s failed", tenant_id)
        return _set_job(
            replace(job, state=FAILED, finished_at=clock.now(), error=f"{type(error).__name__}: {error}")
        )
    return _set_job(
        replace(job, state=DONE, finished_at=clock.now(), customers=result.customers, changes=result.changes)
    )


def record_inline(tenant_id: str, started_at: datetime, result: rfm.ComputeResult) -> Job:
    """The job of a computation a request ran itself (a server without background workers)."""
    return _set_job(
        Job(
            tenant_id=tenant_id,
            state=DONE,
            requested_at=started_at,
            started_at=started_at,
            finished_at=clock.now(),
            customers=result.customers,
            changes=result.changes,
        )
    )


def evaluate_rule_tags(database: Database, tenant_id: str) -> None:
    """Every rule tag of the tenant evaluated again (time windows move with the clock)."""
    evaluation.evaluate_all(database, tenant_id)


def active_tenants(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(Tenant.id).where(Tenant.is_active.is_(True)).order_by(Tenant.id)))


class LifecycleScheduler:
    """A daemon thread: requested tenants at once, and every tenant when due (see the module)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        tick_seconds: float = TICK_SECONDS,
        every: timedelta | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.tick_seconds = tick_seconds
        self.every = every or timedelta(minutes=settings.lifecycle_refresh_minutes)
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._requested: list[str] = []
        self._busy = False
        self._last_run: dict[str, datetime] = {}
        self._evaluated_on: dict[str, date] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = threading.Thread(target=self._loop, name="haina-tags-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the computation in progress (or `timeout`)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def request(self, tenant_id: str) -> Job:
        """Recompute this tenant as soon as the thread is free; a queued request is not doubled."""
        job = mark_queued(tenant_id)
        with self._lock:
            if tenant_id not in self._requested:
                self._requested.append(tenant_id)
        self._wake.set()
        return job

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is queued or running (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._requested and not self._busy:
                    return True
            time.sleep(0.05)
        return False

    def _take_request(self) -> str | None:
        with self._lock:
            if not self._requested:
                return None
            self._busy = True
            return self._requested.pop(0)

    def _run(self, tenant_id: str) -> Job:
        try:
            job = run_tenant(self.database, tenant_id)
            self._last_run[tenant_id] = clock.now()
            return job
        finally:
            with self._lock:
                self._busy = False

    def run_due(self) -> list[str]:
        """One pass: each active tenant not computed within `every`; rule tags once a day."""
        ran = []
        today = lifecycle.shanghai_day(clock.now())
        for tenant_id in active_tenants(self.database):
            if self._stopping.is_set():
                break
            last = self._last_run.get(tenant_id)
            if last is None or clock.now() - last >= self.every:
                with self._lock:
                    self._busy = True
                self._run(tenant_id)
                ran.append(tenant_id)
            if self._evaluated_on.get(tenant_id) != today:
                self._evaluated_on[tenant_id] = today
                try:
                    self.evaluate_rule_tags(tenant_id)
                except Exception:  # noqa: BLE001 - tomorrow (or a restart) tries again
                    logger.exception("daily evaluation of the rule tags of tenant %s failed", tenant_id)
            self._run_requests()
        return ran

    def evaluate_rule_tags(self, tenant_id: str) -> None:
        evaluate_rule_tags(self.database, tenant_id)

    def _run_requests(self) -> None:
        while not self._stopping.is_set():
            tenant_id = self._take_request()
            if tenant_id is None:
                return
            self._run(tenant_id)

    def _loop(self) -> None:
        next_tick = time.monotonic() + self.tick_seconds  # first pass after one tick
        while not self._stopping.is_set():
            self._wake.wait(max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            if self._stopping.is_set():
                break
            try:
                self._run_requests()
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.tick_seconds
                    self.run_due()
            except Exception:  # noqa: BLE001 - a database blip must not end the schedule
                logger.exception("scheduled tag jobs failed; trying again next tick")
                with self._lock:
                    self._busy = False


def recompute_all(database: Database) -> list[str]:
    """Every active tenant recomputed once (Celery beat / cron, every few minutes)."""
    return [
        tenant_id for tenant_id in active_tenants(database) if run_tenant(database, tenant_id).state == DONE
    ]


def evaluate_all_rule_tags(database: Database) -> None:
    """Every active tenant's rule tags evaluated again (Celery beat / cron, once a day)."""
    for tenant_id in active_tenants(database):
        try:
            evaluate_rule_tags(database, tenant_id)
        except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others
            logger.exception("daily evaluation of the rule tags of tenant %s failed", tenant_id)


def _register_celery_tasks() -> None:
    """`haina.tags.recompute_all` and `haina.tags.evaluate_rule_tags` on the worker's Celery
    app, for beat entries. Only in a process that loaded that app (a Celery worker loads it
    before its handlers, and haina.tags.tasks imports this module): the web server does not
    import Celery for this."""
    if "haina.core.events.celery_app" not in sys.modules:
        return
    from haina.core.events.celery_app import _worker_database, celery_app

    @celery_app.task(name="haina.tags.recompute_all", ignore_result=True)
    def recompute_all_task() -> list[str]:
        return recompute_all(_worker_database())

    @celery_app.task(name="haina.tags.evaluate_rule_tags", ignore_result=True)
    def evaluate_rule_tags_task() -> None:
        evaluate_all_rule_tags(_worker_database())


_register_celery_tasks()
