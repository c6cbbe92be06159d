"""The engage scheduler: registered jobs run per active tenant, each in its own transaction, when
their interval has passed; one job's failure neither stops the others nor the next pass."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import Database
from haina.core.tenancy.models import Tenant
from haina.engage import schedule
from tests.factories import TenantFixture


@pytest.fixture
def jobs() -> Iterator[dict[str, list[str]]]:
    """Two test jobs (one that always fails) registered for the test only."""
    seen: dict[str, list[str]] = {"counted": [], "failing": []}

    def counted(session: Session, tenant_id: str) -> None:
        assert session.get(Tenant, tenant_id) is not None  # a real session of the tenant's database
        seen["counted"].append(tenant_id)

    def failing(session: Session, tenant_id: str) -> None:
        seen["failing"].append(tenant_id)
        raise RuntimeError("boom")

    saved = dict(schedule.JOBS)
    schedule.JOBS.clear()
    schedule.periodic("test.counted", seconds=60)(counted)
    schedule.periodic("test.failing", seconds=10)(failing)
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    try:
        yield seen
    finally:
        clock.freeze(None)
        schedule.JOBS.clear()
        schedule.JOBS.update(saved)


def test_jobs_run_when_due_for_each_tenant_and_a_failure_stops_nothing(
    database: Database, tenant: TenantFixture, jobs: dict[str, list[str]]
) -> None:
    scheduler = schedule.EngageScheduler(database)
    ran = scheduler.run_due()
    assert ("test.counted", tenant.id) in ran and ("test.failing", tenant.id) in ran
    assert jobs["counted"] == [tenant.id]

    clock.advance(timedelta(seconds=30))  # the 10 s job is due again, the 60 s one is not
    ran = scheduler.run_due()
    assert ran == [("test.failing", tenant.id)]
    assert jobs["counted"] == [tenant.id]

    clock.advance(timedelta(seconds=31))
    assert ("test.counted", tenant.id) in scheduler.run_due()
    assert jobs["counted"] == [tenant.id, tenant.id]
    assert len(jobs["failing"]) == 3


def test_run_job_reports_a_failure_and_run_all_runs_everything_once(
    database: Database, tenant: TenantFixture, jobs: dict[str, list[str]]
) -> None:
    assert schedule.run_job(database, "test.counted", tenant.id) is True
    assert schedule.run_job(database, "test.failing", tenant.id) is False
    schedule.run_all(database, tenant.id)
    assert jobs["counted"] == [tenant.id, tenant.id]
    assert jobs["failing"] == [tenant.id, tenant.id]


def test_every_engage_sub_package_registers_its_tasks() -> None:
    import sys

    import haina.engage.tasks  # noqa: F401 - imports every sub-package's tasks

    for feature in (
        "livecodes",
        "welcome",
        "groupcodes",
        "broadcasts",
        "moments",
        "scripts",
        "handover",
        "losses",
    ):
        assert f"haina.engage.{feature}.tasks" in sys.modules
