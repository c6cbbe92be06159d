"""Welcome messages against the WeCom emulator over loopback HTTP: a member adds a customer in
the emulator, the encrypted add_external_contact callback (with State and a WelcomeCode) comes
through Haina's real webhook path, and the welcome handler sends the chosen message at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import haina.engage.tasks  # noqa: F401 - registers the welcome handler
from haina.connections import wecom_corps, wecom_staff
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.welcome import service
from haina.engage.welcome.models import Scope, SendStatus, WelcomeSend
from haina.sandbox.emulators.wecom import simulate_add_contact
from haina.sandbox.emulators.wecom_users import set_contact_book_permission
from haina.sandbox.emulators.wecom_welcome import simulate_chat_started, welcome_messages
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 12))) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    wecom_corps.forget_clients()
    wecom_staff.forget()


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
        yield connected


def actor(tenant: TenantFixture) -> Actor:
    return Actor(
        user_id=tenant.users["owner"],
        tenant_id=tenant.id,
        username=tenant.usernames["owner"],
        display_name="店长",
        role="owner",
    )


def new_message(
    database: Database, tenant: TenantFixture, name: str, scope: str, text: str, **extra: Any
) -> str:
    with database.unit_of_work() as session:
        return service.create_message(
            session, actor(tenant), service.MessageInput(name=name, scope=scope, text=text, **extra)
        ).id


def fan(number: int, name: str = "林小满") -> ExternalContact:
    return ExternalContact(
        external_userid=f"wmWelcomeFan{number:04d}",
        person_id=f"p-welcome-{number}",
        name=name,
        type=1,
        gender=2,
        unionid=f"union-welcome-{number}",
        avatar="",
    )


def sends(database: Database, tenant_id: str) -> list[WelcomeSend]:
    with database.session_factory() as session:
        rows = list(session.scalars(select(WelcomeSend).where(WelcomeSend.tenant_id == tenant_id)))
        for row in rows:
            session.expunge(row)
        return rows


LINK = {"type": "link", "title": "新人专享券", "url": "https://shop.example.com/coupon", "desc": "满199减30"}


def test_a_scan_gets_the_channel_message_rendered_with_the_customer_name(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    staff = corp.world.staff[0].userid
    staff_name = corp.world.staff[0].name
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好")
    new_message(database, tenant, "导购专属", Scope.STAFF, "导购欢迎您", staff_userids=[staff])
    channel = new_message(
        database,
        tenant,
        "门店海报",
        Scope.CHANNEL,
        "{客户昵称}您好，我是{员工姓名}，欢迎来到海纳旗舰店！",
        state="poster-spring",
        attachments=[LINK],
    )
    code = simulate_add_contact(corp.sandbox.state, fan(1, "林小满"), staff, "poster-spring")
    assert code
    drain(database)

    [sent] = welcome_messages(corp.sandbox.state)
    assert sent["welcome_code"] == code
    assert sent["userid"] == staff
    assert sent["external_userid"] == "wmWelcomeFan0001"
    # {员工姓名} is the member's name from the contact book, not the userid.
    assert staff_name != staff
    assert sent["text"] == {"content": f"林小满您好，我是{staff_name}，欢迎来到海纳旗舰店！"}
    assert sent["attachments"] == [
        {
            "msgtype": "link",
            "link": {"title": "新人专享券", "url": "https://shop.example.com/coupon", "desc": "满199减30"},
        }
    ]
    [record] = sends(database, tenant.id)
    assert (record.status, record.message_id, record.state) == (SendStatus.SENT, channel, "poster-spring")
    assert record.text.startswith("林小满您好")


def test_the_staff_name_falls_back_to_the_userid_without_contact_book_permission(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    set_contact_book_permission(corp.sandbox.state, False)
    staff = corp.world.staff[1]
    new_message(database, tenant, "默认", Scope.DEFAULT, "我是{staff_name}，很高兴认识您")
    simulate_add_contact(corp.sandbox.state, fan(2), staff.userid, "")
    drain(database)

    [sent] = welcome_messages(corp.sandbox.state)
    assert sent["text"] == {"content": f"我是{staff.userid}，很高兴认识您"}
    [record] = sends(database, tenant.id)
    assert record.status == SendStatus.SENT


def test_priority_is_channel_then_staff_then_default(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = corp.world.staff[0].userid, corp.world.staff[1].userid
    new_message(database, tenant, "默认", Scope.DEFAULT, "默认欢迎语")
    new_message(database, tenant, "导购专属", Scope.STAFF, "导购欢迎语", staff_userids=[first])
    new_message(database, tenant, "包裹卡", Scope.CHANNEL, "包裹卡欢迎语", state="parcel")
    new_message(database, tenant, "停用的", Scope.CHANNEL, "不该发出", state="parcel", is_active=False)

    simulate_add_contact(corp.sandbox.state, fan(1), first, "parcel")  # channel wins over staff
    simulate_add_contact(corp.sandbox.state, fan(2), first, "other-state")  # staff wins over default
    simulate_add_contact(corp.sandbox.state, fan(3), second, "")  # only the default applies
    drain(database)

    by_customer = {m["external_userid"]: m["text"]["content"] for m in welcome_messages(corp.sandbox.state)}
    assert by_customer == {
        "wmWelcomeFan0001": "包裹卡欢迎语",
        "wmWelcomeFan0002": "导购欢迎语",
        "wmWelcomeFan0003": "默认欢迎语",
    }


def test_no_message_configured_is_recorded_as_skipped(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[0].userid, "poster")
    drain(database)
    assert welcome_messages(corp.sandbox.state) == []
    [record] = sends(database, tenant.id)
    assert record.status == SendStatus.SKIPPED and "no active welcome message" in record.reason


def test_an_expired_code_is_recorded_and_nothing_is_called(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好 {customer_name}")
    simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[0].userid, "")
    clock.advance(timedelta(seconds=21))
    drain(database)
    assert welcome_messages(corp.sandbox.state) == []
    [record] = sends(database, tenant.id)
    assert record.status == SendStatus.EXPIRED and record.errcode == 41050
    # Our own verdict, not WeCom's 41050 answer: neither the name nor the send was asked for.
    assert "older than 20 s" in record.reason
    assert record.text == ""


def test_a_code_just_inside_the_window_is_still_used(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好")
    simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[0].userid, "")
    clock.advance(timedelta(seconds=19))
    drain(database)
    assert len(welcome_messages(corp.sandbox.state)) == 1
    assert [record.status for record in sends(database, tenant.id)] == [SendStatus.SENT]


def test_a_redelivered_callback_does_not_send_twice(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好")
    code = simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[0].userid, "")
    assert code
    drain(database)
    # The same callback handled again (a retry after a lost commit, a replay from the console):
    with database.unit_of_work() as session:
        corp_handle = wecom_corps.corp_by_connection(session, tenant.id, corp.connection_id)
        assert corp_handle is not None
        again = service.send_welcome(
            session,
            tenant.id,
            corp_handle,
            service.AddCallback(
                corp_id=corp.world.corp_id,
                staff_userid=corp.world.staff[0].userid,
                external_userid="wmWelcomeFan0001",
                state="",
                welcome_code=code,
                received_at=clock.now(),
            ),
        )
        assert again.status == SendStatus.SENT
    assert len(welcome_messages(corp.sandbox.state)) == 1
    assert len(sends(database, tenant.id)) == 1


def test_already_chatting_is_recorded_as_failed_with_the_reason(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好")
    # The callback is stored at once; before its handler runs, member and customer start chatting.
    code = simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[0].userid, "")
    assert code
    simulate_chat_started(corp.sandbox.state, code)
    drain(database)
    assert welcome_messages(corp.sandbox.state) == []
    [record] = sends(database, tenant.id)
    assert (record.status, record.errcode) == (SendStatus.FAILED, 41051)
    assert "already chatting" in record.reason


def test_a_second_code_for_the_same_pair_within_a_day_is_skipped(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    # A half add (customer added the member, not yet accepted) and the add may each carry a code.
    new_message(database, tenant, "默认", Scope.DEFAULT, "您好")
    staff = corp.world.staff[0].userid
    assert simulate_add_contact(corp.sandbox.state, fan(1), staff, "")
    drain(database)
    clock.advance(timedelta(hours=1))
    with database.unit_of_work() as session:
        handle = wecom_corps.corp_by_connection(session, tenant.id, corp.connection_id)
        assert handle is not None
        second = service.send_welcome(
            session,
            tenant.id,
            handle,
            service.AddCallback(
                corp_id=corp.world.corp_id,
                staff_userid=staff,
                external_userid="wmWelcomeFan0001",
                state="",
                welcome_code="a-second-code",
                received_at=clock.now(),
            ),
        )
        assert (second.status, second.reason) == (SendStatus.SKIPPED, service.ALREADY_WELCOMED)
    assert len(welcome_messages(corp.sandbox.state)) == 1
    # Another member adding the same customer is welcomed as usual.
    assert simulate_add_contact(corp.sandbox.state, fan(1), corp.world.staff[1].userid, "")
    drain(database)
    assert [m["userid"] for m in welcome_messages(corp.sandbox.state)] == [staff, corp.world.staff[1].userid]
