"""The member directory against the WeCom emulator over loopback HTTP: names from the contact
book (user/simplelist), kept for ten minutes, and the follow-user list with userids as names when
the app has no contact-book permission (48002) — never an error for the page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from haina.connections import wecom_corps, wecom_staff
from haina.connections.wecom_staff import Member
from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.sandbox.emulators.wecom_users import set_contact_book_permission
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 20))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    try:
        with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
            yield connected
    finally:
        wecom_corps.forget_clients()
        wecom_staff.forget()


def first_corp(database: Database, tenant_id: str) -> wecom_corps.Corp:
    with database.session_factory() as session:
        found = wecom_corps.first_corp(session, tenant_id)
    assert found is not None
    return found


def test_members_come_from_the_contact_book_with_their_names(database: Database, corp: Corp) -> None:
    directory = first_corp(database, corp.tenant_id)
    staff = corp.world.staff
    members = wecom_staff.members(directory)
    assert [(member.userid, member.name) for member in members] == [(s.userid, s.name) for s in staff]
    assert all(member.departments for member in members)
    first = staff[0]
    assert first.name != first.userid
    assert wecom_staff.name_of(directory, first.userid) == first.name
    assert wecom_staff.label(directory, first.userid) == f"{first.name} ({first.userid})"
    assert wecom_staff.label(directory, "nobody") == "nobody"
    assert wecom_staff.name_of(directory, "nobody") == "nobody"
    with database.session_factory() as session:
        assert wecom_staff.tenant_names(session, corp.tenant_id)[first.userid] == first.name


def test_the_directory_is_kept_for_ten_minutes(database: Database, corp: Corp) -> None:
    directory = first_corp(database, corp.tenant_id)
    first = corp.world.staff[0]
    old_name = first.name
    assert wecom_staff.name_of(directory, first.userid) == old_name
    first.name = "改名后"
    clock.advance(timedelta(minutes=9))
    assert wecom_staff.name_of(directory, first.userid) == old_name  # from the cache
    clock.advance(timedelta(minutes=2))
    assert wecom_staff.name_of(directory, first.userid) == "改名后"
    wecom_staff.forget()
    first.name = "再改名"
    assert wecom_staff.name_of(directory, first.userid) == "再改名"


def test_without_contact_book_permission_the_follow_users_stand_in(
    database: Database, corp: Corp, caplog: pytest.LogCaptureFixture
) -> None:
    set_contact_book_permission(corp.sandbox.state, False)
    directory = first_corp(database, corp.tenant_id)
    userids = [member.userid for member in corp.world.staff]
    with caplog.at_level(logging.WARNING, logger="haina.connections.wecom_staff"):
        assert wecom_staff.members(directory) == [Member(userid, userid) for userid in userids]
        assert wecom_staff.label(directory, userids[0]) == userids[0]
        clock.advance(timedelta(minutes=11))  # read again: still refused, not logged again
        assert wecom_staff.name_of(directory, userids[0]) == userids[0]
    warnings = [record for record in caplog.records if "contact book unreadable" in record.getMessage()]
    assert len(warnings) == 1
    assert "48002" in warnings[0].getMessage()

    set_contact_book_permission(corp.sandbox.state, True)
    clock.advance(timedelta(minutes=11))
    assert wecom_staff.name_of(directory, userids[0]) == corp.world.staff[0].name


def test_wecom_away_gives_an_empty_directory_not_an_error(database: Database, corp: Corp) -> None:
    directory = first_corp(database, corp.tenant_id)
    corp.sandbox.state.faults.set("wecom", FaultPlan(throttle_rate=1.0))
    assert wecom_staff.members(directory) == []
    assert wecom_staff.label(directory, "lina") == "lina"
    corp.sandbox.state.faults.clear("wecom")
    # A failure other than a refusal is retried after a minute, not ten.
    clock.advance(timedelta(minutes=2))
    assert len(wecom_staff.members(directory)) == len(corp.world.staff)
