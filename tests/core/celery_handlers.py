"""A handler for the Celery integration tests, imported by the test and its worker processes.

Its effect is a row in a table the test creates; it can hold the delivery mid-transaction (or
just after the commit) so the test can SIGKILL the worker at that point. Holds happen once
per event: the run after the kill goes straight through.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import task_postrun
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from haina.core.events import OutboxEvent, subscribe

EFFECTS_TABLE = "celery_test_effects"
EVENT_TYPE = "test.effect_requested"
HANDLER_NAME = "tests.celery_effect"
MARKER_DIR_VARIABLE = "HAINA_TEST_MARKER_DIR"


def marker_dir() -> Path:
    return Path(os.environ[MARKER_DIR_VARIABLE])


def _first_time(path: Path) -> bool:
    """Create the marker holding our pid; False if an earlier run already did."""
    try:
        with path.open("x") as handle:
            handle.write(str(os.getpid()))
    except FileExistsError:
        return False
    return True


@subscribe(EVENT_TYPE, name=HANDLER_NAME)
def write_effect(session: Session, event: OutboxEvent) -> None:
    session.execute(
        text(f"INSERT INTO {EFFECTS_TABLE} (event_uuid, pid) VALUES (:uuid, :pid)"),
        {"uuid": event.uuid, "pid": os.getpid()},
    )
    hold = float(event.payload.get("hold_seconds", 0))
    # The marker is written after the effect, so a kill after it lands mid-transaction.
    if hold and _first_time(marker_dir() / f"started-{event.uuid}"):
        time.sleep(hold)
    linger = float(event.payload.get("hold_after_commit_seconds", 0))
    if linger:

        def hold_before_ack(_session: Session) -> None:
            if _first_time(marker_dir() / f"committed-{event.uuid}"):
                time.sleep(linger)

        sqlalchemy_event.listen(session, "after_commit", hold_before_ack, once=True)


@task_postrun.connect
def _record_outcome(task_id: str | None = None, args: Any = None, retval: Any = None, **_: Any) -> None:
    # One line per finished task run, so the test can see redeliveries and what they did.
    if MARKER_DIR_VARIABLE in os.environ and args:
        # run_deliveries returns {delivery id: outcome}; run_delivery one outcome for args[0].
        outcomes = retval if isinstance(retval, dict) else {args[0]: retval}
        with (marker_dir() / "outcomes.txt").open("a") as handle:
            for delivery_id, outcome in outcomes.items():
                handle.write(f"{delivery_id} {outcome} {os.getpid()}\n")
