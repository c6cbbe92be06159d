"""Periodic jobs of the engage sub-packages, run per active tenant.

A sub-package registers a job in its tasks.py:

    @schedule.periodic("broadcasts.send_due", seconds=15)
    def send_due(session: Session, tenant_id: str) -> None: ...

Each run of a job for a tenant is one transaction (`database.unit_of_work()`); a failure is
logged and the next tick tries again, other jobs and tenants go on. The embedded server runs
`EngageScheduler`, a daemon thread started by the hub router's lifespan when the server runs
background workers; with Celery, a beat entry for the task `haina.engage.run_due` (every few
seconds) does the same. Jobs must be safe to run twice at once (two schedulers, a slow tick):
they claim rows with a state change in their transaction.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import Database
from haina.core.tenancy.models import Tenant

logger = logging.getLogger(__name__)

TICK_SECONDS = 5.0

JobFunction = Callable[[Session, str], None]
# A job that commits in steps of its own (a long pull, a purge in chunks) takes the Database.
DatabaseJobFunction = Callable[[Database, str], None]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every: timedelta
    run: JobFunction | None = None
    run_with_database: DatabaseJobFunction | None = None


JOBS: dict[str, PeriodicJob] = {}


def periodic(name: str, *, seconds: float) -> Callable[[JobFunction], JobFunction]:
    """Register `function(session, tenant_id)` to run every `seconds` for each active tenant."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = PeriodicJob(name, timedelta(seconds=seconds), run=function)
        return function

    return register


def periodic_with_database(
    name: str, *, seconds: float
) -> Callable[[DatabaseJobFunction], DatabaseJobFunction]:
    """Register `function(database, tenant_id)`: like `periodic`, but the job opens its own
    transactions (one per step), for work too long for one."""

    def register(function: DatabaseJobFunction) -> DatabaseJobFunction:
        JOBS[name] = PeriodicJob(name, timedelta(seconds=seconds), run_with_database=function)
        return function

    return register


def active_tenants(database: Database) -> list[str]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(Tenant.id).where(Tenant.is_active.is_(True)).order_by(Tenant.id)))


def run_job(database: Database, name: str, tenant_id: str) -> bool:
    """Run one job for one tenant in its own transaction; False (and logged) if it failed."""
    job = JOBS[name]
    try:
        if job.run_with_database is not None:
            job.run_with_database(database, tenant_id)
        else:
            assert job.run is not None
            with database.unit_of_work() as session:
                job.run(session, tenant_id)
    except Exception:  # noqa: BLE001 - one job's failure must not stop the others
        logger.exception("engage job %s failed for tenant %s", name, tenant_id)
        return False
    return True


def run_all(database: Database, tenant_id: str | None = None) -> None:
    """Every job once, for one tenant or every active one (tests, Celery beat, cron)."""
    tenants = [tenant_id] if tenant_id else active_tenants(database)
    for tenant in tenants:
        for name in sorted(JOBS):
            run_job(database, name, tenant)


class EngageScheduler:
    """A daemon thread running each registered job when due, for every active tenant."""

    def __init__(self, database: Database, *, tick_seconds: float = TICK_SECONDS) -> None:
        self.database = database
        self.tick_seconds = tick_seconds
        self._stopping = threading.Event()
        self._last_run: dict[tuple[str, str], datetime] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("scheduler already started")
        self._thread = threading.Thread(target=self._loop, name="haina-engage-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_due(self) -> list[tuple[str, str]]:
        """One pass: every (job, tenant) whose interval has passed; returns what ran."""
        ran: list[tuple[str, str]] = []
        for tenant_id in active_tenants(self.database):
            for name in sorted(JOBS):
                if self._stopping.is_set():
                    return ran
                last = self._last_run.get((name, tenant_id))
                if last is not None and clock.now() - last < JOBS[name].every:
                    continue
                self._last_run[(name, tenant_id)] = clock.now()
                run_job(self.database, name, tenant_id)
                ran.append((name, tenant_id))
        return ran

    def _loop(self) -> None:
        while not self._stopping.wait(self.tick_seconds):
            started = time.monotonic()
            try:
                self.run_due()
            except Exception:  # noqa: BLE001 - a database blip must not end the schedule
                logger.exception("engage scheduler pass failed; trying again next tick")
            if time.monotonic() - started > self.tick_seconds:
                logger.warning("engage scheduler pass took %.1f s", time.monotonic() - started)


def _register_celery_task() -> None:
    """`haina.engage.run_due` on the worker's Celery app, for a beat entry (see the module)."""
    if "haina.core.events.celery_app" not in sys.modules:
        return
    from haina.core.events.celery_app import _worker_database, celery_app

    @celery_app.task(name="haina.engage.run_due", ignore_result=True)
    def run_due_task() -> None:
        run_all(_worker_database())


_register_celery_task()
