"""Loss alerts through the real webhook path: a member or customer ends a follow relation in the
WeCom emulator, the callback arrives encrypted, the spine emits contact.deleted_by_*, and an
alert is recorded with a message/send to the right members; a handover's removal is a transfer,
not a loss."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import haina.engage.losses.tasks  # noqa: F401 - registers the handlers
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.customers.identity import profile
from haina.engage.handover import service as handover
from haina.engage.handover.models import HandoverKind
from haina.engage.losses import service
from haina.engage.losses.models import AlertKind, EndedBy, LossAlert
from haina.engage.losses.repository import AlertFilter
from haina.sandbox.emulators.wecom import simulate_delete_contact
from haina.sandbox.emulators.wecom_app_messages import app_messages
from haina.sandbox.emulators.wecom_transfer import simulate_transfer_completes
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
AGENTID = 1000002


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 12))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def configure(database: Database, tenant_id: str, supervisors: list[str], **flags: bool) -> None:
    with database.unit_of_work() as session:
        service.save_settings(
            session,
            tenant_id,
            supervisor_userids=supervisors,
            notify_customer_deleted=flags.get("customer", True),
            notify_staff_deleted=flags.get("staff", True),
            agentid=AGENTID,
        )


def followed(corp: Corp, index: int = 0) -> tuple[str, str]:
    contacts = [contact for contact in corp.world.contacts if contact.follow_users]
    contact = contacts[index]
    return contact.external_userid, contact.follow_users[0].userid


def alerts(database: Database, tenant_id: str) -> list[LossAlert]:
    with database.session_factory() as session:
        return list(session.scalars(select(LossAlert).where(LossAlert.tenant_id == tenant_id)))


def supervisor_of(corp: Corp, *excluded: str) -> str:
    return next(member.userid for member in corp.world.staff if member.userid not in excluded)


@pytest.mark.parametrize("agentid", [0, 2**31, 2**63])
def test_an_agentid_out_of_range_is_refused_with_a_clear_error(
    database: Database, tenant: TenantFixture, agentid: int
) -> None:
    with database.unit_of_work() as session, pytest.raises(InvalidInput, match="agentid"):
        service.save_settings(
            session,
            tenant.id,
            supervisor_userids=["boss"],
            notify_customer_deleted=True,
            notify_staff_deleted=True,
            agentid=agentid,
        )


def test_customer_deletes_member_alerts_member_and_supervisor(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    external_userid, userid = followed(corp)
    boss = supervisor_of(corp, userid)
    configure(database, tenant.id, [boss])
    simulate_delete_contact(corp.sandbox.state, external_userid, userid, by_customer=True)
    drain(database)
    [alert] = alerts(database, tenant.id)
    assert (alert.kind, alert.ended_by, alert.staff_userid) == (AlertKind.LOSS, EndedBy.CUSTOMER, userid)
    assert alert.external_userid == external_userid and alert.customer_id
    assert alert.contact_name == corp.contact(external_userid).name
    [message] = app_messages(corp.sandbox.state)
    assert message["touser"] == [userid, boss] and message["agentid"] == AGENTID
    assert "删除了成员" in message["content"]["content"]
    assert sorted(alert.notified_userids) == sorted([userid, boss])
    # The customer's timeline says who ended the relation.
    owner = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.session_factory() as session:
        entries = profile.timeline(session, owner, alert.customer_id or "")
    ended = [entry for entry in entries if entry.kind.startswith("contact.removed")]
    assert [(entry.kind, entry.title) for entry in ended] == [("contact.removed_by_customer", userid)]
    # A replayed delivery records nothing twice and sends nothing twice.
    with database.unit_of_work() as session:
        again = service.record_removal(
            session,
            tenant.id,
            {
                "contact_id": alert.contact_id,
                "corp_id": alert.corp_id,
                "external_userid": external_userid,
                "staff_userid": userid,
                "at": alert.occurred_at.isoformat(),
            },
            EndedBy.CUSTOMER,
        )
    assert again is None
    assert len(app_messages(corp.sandbox.state)) == 1


def test_member_deletes_customer_alerts_supervisors_only(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    external_userid, userid = followed(corp, 1)
    boss = supervisor_of(corp, userid)
    configure(database, tenant.id, [boss])
    simulate_delete_contact(corp.sandbox.state, external_userid, userid, by_customer=False)
    drain(database)
    [alert] = alerts(database, tenant.id)
    assert (alert.kind, alert.ended_by) == (AlertKind.LOSS, EndedBy.STAFF)
    [message] = app_messages(corp.sandbox.state)
    assert message["touser"] == [boss]
    assert f"成员 {userid} 删除了客户" in message["content"]["content"]
    with database.session_factory() as session:
        listed, total = service.list_alerts(session, tenant.id, AlertFilter(ended_by=EndedBy.STAFF))
        assert total == 1 and listed[0].id == alert.id
        assert service.list_alerts(session, tenant.id, AlertFilter(ended_by=EndedBy.CUSTOMER))[1] == 0
        stats = service.statistics(session, tenant.id)
        assert stats.total == 1 and sum(stats.by_staff) == 1 and stats.ranking == [(userid, 1)]


def test_turned_off_notifications_send_nothing(database: Database, tenant: TenantFixture, corp: Corp) -> None:
    external_userid, userid = followed(corp, 2)
    configure(database, tenant.id, [supervisor_of(corp, userid)], staff=False)
    simulate_delete_contact(corp.sandbox.state, external_userid, userid, by_customer=False)
    drain(database)
    assert len(alerts(database, tenant.id)) == 1
    assert app_messages(corp.sandbox.state) == []


def test_handover_removal_is_a_transfer_not_a_loss(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    external_userid, userid = followed(corp, 3)
    takeover = supervisor_of(corp, *[follow.userid for follow in corp.contact(external_userid).follow_users])
    configure(database, tenant.id, [takeover])
    with database.unit_of_work() as session:
        handover.start_handover(
            session,
            tenant.id,
            kind=HandoverKind.IN_OFFICE,
            handover_userid=userid,
            takeover_userid=takeover,
            external_userids=[external_userid],
        )
    clock.advance(timedelta(hours=25))
    assert simulate_transfer_completes(corp.sandbox.state) >= 2  # del (DELETE_BY_TRANSFER) + add
    drain(database)
    [alert] = alerts(database, tenant.id)
    assert (alert.kind, alert.ended_by, alert.staff_userid) == (AlertKind.TRANSFER, EndedBy.STAFF, userid)
    assert app_messages(corp.sandbox.state) == []
    with database.session_factory() as session:
        assert service.list_alerts(session, tenant.id, AlertFilter())[1] == 0


def test_customer_leaving_during_a_handover_is_still_a_loss(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    external_userid, userid = followed(corp, 4)
    takeover = supervisor_of(corp, *[follow.userid for follow in corp.contact(external_userid).follow_users])
    configure(database, tenant.id, [takeover])
    with database.unit_of_work() as session:
        handover.start_handover(
            session,
            tenant.id,
            kind=HandoverKind.IN_OFFICE,
            handover_userid=userid,
            takeover_userid=takeover,
            external_userids=[external_userid],
        )
    simulate_delete_contact(corp.sandbox.state, external_userid, userid, by_customer=True)
    drain(database)
    [alert] = alerts(database, tenant.id)
    assert (alert.kind, alert.ended_by) == (AlertKind.LOSS, EndedBy.CUSTOMER)
    assert [message["touser"] for message in app_messages(corp.sandbox.state)] == [[userid, takeover]]
