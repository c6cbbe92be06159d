"""Staff handover against the WeCom emulator over loopback: batches of ≤100, Haina's own 90-day
check (refused without a call), per-customer results after polling, and the resigned flow via
get_unassigned_list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import haina.engage.handover.tasks  # noqa: F401 - registers handover.poll
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage import schedule
from haina.engage.handover import service
from haina.engage.handover.models import HandoverItem, HandoverKind, ItemStatus, JobStatus
from haina.sandbox.emulators.wecom_transfer import (
    set_takeover_cap,
    simulate_resign,
    simulate_transfer_completes,
    simulate_transfer_refused,
    transfer_calls,
    transfer_records,
)
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact, FollowUser
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 10))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
        yield connected


def add_customers(corp: Corp, userid: str, count: int, prefix: str = "wmHO") -> list[str]:
    ids = []
    for number in range(count):
        external_userid = f"{prefix}{userid}{number:04d}"
        corp.world.contacts.append(
            ExternalContact(
                external_userid=external_userid,
                person_id=f"p-{external_userid}",
                name=f"客户{number}",
                type=1,
                gender=0,
                unionid="",
                avatar="",
                follow_users=[FollowUser(userid=userid, remark="", description="", createtime=NOW)],
            )
        )
        ids.append(external_userid)
    corp.sandbox.state.notify("contacts", corp.world.contacts[-1])
    return ids


def staff(corp: Corp) -> tuple[str, str]:
    return corp.world.staff[0].userid, corp.world.staff[1].userid


def start(database: Database, tenant_id: str, **kwargs: object) -> str:
    with database.unit_of_work() as session:
        job = service.start_handover(session, tenant_id, **kwargs)  # type: ignore[arg-type]
        return job.id


def statuses(database: Database, tenant_id: str, job_id: str) -> dict[str, tuple[str, str]]:
    with database.session_factory() as session:
        return {
            item.external_userid: (item.status, item.reason)
            for item in service.items(session, tenant_id, job_id)
        }


def test_250_customers_go_in_calls_of_100_100_50(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    old, new = staff(corp)
    customers = add_customers(corp, old, 250)
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=old,
        takeover_userid=new,
        message="您好，我是新的专属顾问",
    )
    calls = transfer_calls(corp.sandbox.state)
    assert [len(call["external_userid"]) for call in calls] == [100, 100, 50]
    assert sorted(c for call in calls for c in call["external_userid"]) >= sorted(customers)
    result = statuses(database, tenant.id, job_id)
    assert set(customers) <= set(result)
    assert {result[c][0] for c in customers} == {ItemStatus.WAITING}
    with database.session_factory() as session:
        job = service.get_job(session, tenant.id, job_id)
        assert job.status == JobStatus.RUNNING
        assert [item.batch for item in service.items(session, tenant.id, job_id)].count(3) == 50


def test_ninety_day_limit_refuses_without_a_call_then_allows(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = staff(corp)
    [customer] = add_customers(corp, first, 1)
    # Two transfers: first → second, then second → first (each completed in WeCom).
    start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=first,
        takeover_userid=second,
        external_userids=[customer],
    )
    simulate_transfer_completes(corp.sandbox.state, force=True)
    clock.advance(timedelta(days=10))
    start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=second,
        takeover_userid=first,
        external_userids=[customer],
    )
    simulate_transfer_completes(corp.sandbox.state, force=True)
    assert len(transfer_calls(corp.sandbox.state)) == 2

    clock.advance(timedelta(days=10))
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=first,
        takeover_userid=second,
        external_userids=[customer],
    )
    assert statuses(database, tenant.id, job_id)[customer] == (ItemStatus.REFUSED, "limit_90d")
    assert len(transfer_calls(corp.sandbox.state)) == 2  # refused by Haina, no call
    with database.session_factory() as session:
        assert service.get_job(session, tenant.id, job_id).status == JobStatus.DONE

    clock.advance(timedelta(days=71))  # 91 days after the first transfer
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=first,
        takeover_userid=second,
        external_userids=[customer],
    )
    assert statuses(database, tenant.id, job_id)[customer] == (ItemStatus.WAITING, "")
    assert len(transfer_calls(corp.sandbox.state)) == 3


def test_results_after_polling_match_the_emulator(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    old, new = staff(corp)
    done, refused, full = add_customers(corp, old, 3)
    [stranger] = add_customers(corp, corp.world.staff[2].userid, 1, prefix="wmX")
    # `stranger` is another member's customer: WeCom answers 84061 for it.
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=old,
        takeover_userid=new,
        external_userids=[done, refused, stranger],
    )
    assert statuses(database, tenant.id, job_id)[stranger] == (ItemStatus.FAILED, "no_relation")
    simulate_transfer_refused(corp.sandbox.state, refused)
    # Not yet due: 24 h wait for in-office transfers.
    assert schedule.run_job(database, "handover.poll", tenant.id)
    assert statuses(database, tenant.id, job_id)[done] == (ItemStatus.WAITING, "")
    assert statuses(database, tenant.id, job_id)[refused] == (ItemStatus.REFUSED, "customer_refused")
    clock.advance(timedelta(hours=24, minutes=1))
    simulate_transfer_completes(corp.sandbox.state)
    assert schedule.run_job(database, "handover.poll", tenant.id)
    result = statuses(database, tenant.id, job_id)
    assert result[done] == (ItemStatus.DONE, "")
    records = {record["external_userid"]: record["status"] for record in transfer_records(corp.sandbox.state)}
    assert records == {done: 1, refused: 3}
    assert [follow.userid for follow in corp.contact(done).follow_users] == [new]
    with database.session_factory() as session:
        job = service.get_job(session, tenant.id, job_id)
        assert job.status == JobStatus.DONE
        assert service.progress(session, job).percent == 100

    # A takeover member at their cap: status 4 → failed takeover_full.
    set_takeover_cap(corp.sandbox.state, 0)
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=old,
        takeover_userid=new,
        external_userids=[full],
    )
    simulate_transfer_completes(corp.sandbox.state, force=True)
    assert schedule.run_job(database, "handover.poll", tenant.id)
    assert statuses(database, tenant.id, job_id)[full] == (ItemStatus.FAILED, "takeover_full")


def test_resigned_member_customers_via_unassigned_list(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    gone, heir = staff(corp)
    customers = add_customers(corp, gone, 3)
    simulate_resign(corp.sandbox.state, gone)
    with database.session_factory() as session:
        members = service.unassigned(session, tenant.id)
    leaver = next(member for member in members if member.userid == gone)
    assert set(customers) <= set(leaver.external_userids)
    job_id = start(
        database, tenant.id, kind=HandoverKind.RESIGNED, handover_userid=gone, takeover_userid=heir
    )
    calls = transfer_calls(corp.sandbox.state)
    assert calls[-1]["resigned"] is True and set(customers) <= set(calls[-1]["external_userid"])
    simulate_transfer_completes(corp.sandbox.state)  # resigned transfers are due at once
    assert schedule.run_job(database, "handover.poll", tenant.id)
    result = statuses(database, tenant.id, job_id)
    assert {result[c] for c in customers} == {(ItemStatus.DONE, "")}
    with database.session_factory() as session:
        assert not any(member.userid == gone for member in service.unassigned(session, tenant.id))


def test_export_lists_every_customer(database: Database, tenant: TenantFixture, corp: Corp) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    old, new = staff(corp)
    customers = add_customers(corp, old, 2)
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=old,
        takeover_userid=new,
        external_userids=customers,
    )
    with database.unit_of_work() as session:
        # A nickname a spreadsheet would run as a formula is written quoted.
        first = session.scalars(
            select(HandoverItem).where(
                HandoverItem.tenant_id == tenant.id, HandoverItem.external_userid == customers[0]
            )
        ).one()
        first.contact_name = '=HYPERLINK("http://evil.example","点我")'
    with database.session_factory() as session:
        content = service.export_xlsx(session, tenant.id, job_id)
    rows = list(load_workbook(BytesIO(content)).active.iter_rows(values_only=True))
    assert [row[0] for row in rows[1:]] == customers
    assert {row[3] for row in rows[1:]} == {ItemStatus.WAITING}
    assert rows[1][1] == '\'=HYPERLINK("http://evil.example","点我")'


def test_large_handover_goes_on_in_the_poll(
    database: Database, tenant: TenantFixture, corp: Corp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CALLS_WHILE_STARTING", 1)
    old, new = staff(corp)
    customers = add_customers(corp, old, 250)
    job_id = start(
        database,
        tenant.id,
        kind=HandoverKind.IN_OFFICE,
        handover_userid=old,
        takeover_userid=new,
        external_userids=customers,
    )
    assert [len(call["external_userid"]) for call in transfer_calls(corp.sandbox.state)] == [100]
    assert list(statuses(database, tenant.id, job_id).values()).count((ItemStatus.PENDING, "")) == 150
    assert schedule.run_job(database, "handover.poll", tenant.id)
    assert [len(call["external_userid"]) for call in transfer_calls(corp.sandbox.state)] == [100, 100, 50]
    assert {status for status, _ in statuses(database, tenant.id, job_id).values()} == {ItemStatus.WAITING}
