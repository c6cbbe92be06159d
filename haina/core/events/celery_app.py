"""The Celery app for `haina worker`, and the one task that runs an event delivery.

Late acknowledgement plus reject-on-worker-lost means a message is only gone once its task
returned: a worker killed mid-task has its message redelivered. That may run a delivery twice,
which `run_delivery` makes harmless (it skips a delivery already done).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready

from haina.core.database import Database
from haina.core.events.dispatcher import run_deliveries, run_delivery
from haina.core.events.registry import discover_handlers
from haina.core.heap import freeze_startup_objects
from haina.core.settings import Settings, get_settings

EVENTS_QUEUE = "haina.events"
# Pushes to store (registry.RECORDS) travel apart from the reactions to them, so a worker that
# takes this queue is never busy with reactions when a push arrives.
RECORDS_QUEUE = "haina.records"
RUN_DELIVERY_TASK = "haina.events.run_delivery"
RUN_DELIVERIES_TASK = "haina.events.run_deliveries"


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        # Outcomes live in the database (delivery rows); no result backend needed.
        "task_ignore_result": True,
        "task_default_queue": EVENTS_QUEUE,
        "enable_utc": True,
        "timezone": "UTC",
    }


def create_celery_app(settings: Settings) -> Celery:
    """A producer-side app for given settings (the server's CeleryRunner, tests)."""
    app = Celery("haina", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


# The worker's app reads settings from the environment only when Celery first needs its
# configuration, so importing this module has no side effects.
celery_app = Celery("haina")


@celery_app.on_configure.connect
def _configure(sender: Celery, **_: Any) -> None:
    sender.conf.update(celery_config(get_settings()))


@worker_init.connect
def _load_handlers(**_: Any) -> None:
    # In the main worker process, before the pool forks, so every child has the handlers.
    discover_handlers()


@worker_ready.connect
@worker_process_init.connect
def _freeze_startup_objects(**_: Any) -> None:
    # A solo worker runs its tasks in the main process (ready), prefork in its children (init).
    freeze_startup_objects()


_database: tuple[int, Database] | None = None


def _worker_database() -> Database:
    """One Database per process; an engine inherited across fork would share its sockets."""
    global _database
    if _database is None or _database[0] != os.getpid():
        _database = (os.getpid(), Database(get_settings()))
    return _database[1]


@celery_app.task(name=RUN_DELIVERY_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_delivery_task(delivery_id: str) -> str:
    return run_delivery(_worker_database(), delivery_id).value


@celery_app.task(name=RUN_DELIVERIES_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_deliveries_task(delivery_ids: list[str]) -> dict[str, str]:
    """A micro-batch of deliveries (see dispatcher.run_deliveries); returns each one's outcome."""
    outcomes = run_deliveries(_worker_database(), list(delivery_ids))
    return {delivery_id: outcome.value for delivery_id, outcome in outcomes.items()}
