"""Group live codes against the sandbox's WeCom emulator over loopback HTTP: customers scan the
join way (simulate_join_via_join_way), the rotation job reads member counts and moves the join
way on as groups reach the code's limit; with auto-create WeCom opens a new group that the code
adopts; joins are counted per group and per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.errors import DomainError
from haina.core.settings import Settings
from haina.engage import schedule
from haina.engage.groupcodes import service
from haina.engage.groupcodes import tasks as _tasks  # noqa: F401 - registers groupcodes.rotate
from haina.engage.groupcodes.models import GroupCode, GroupCodeJoin
from haina.engage.groupcodes.schemas import GroupCodeIn, GroupCodePatch
from haina.sandbox.emulators.wecom_join_ways import join_way, set_group_member_cap, simulate_join_via_join_way
from haina.sandbox.emulators.wecom_push import push_log
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact, GroupChat, GroupMember
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    clock.freeze(START)
    yield
    clock.freeze(None)
    wecom_corps.forget_clients()


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
        yield connected


def actor(tenant: TenantFixture) -> Actor:
    return Actor(
        user_id=tenant.users["owner"],
        tenant_id=tenant.id,
        username="owner",
        display_name="店长",
        role="owner",
    )


def new_group(corp: Corp, name: str) -> str:
    """A customer group with only its owner (a staff member), added to the emulator's world."""
    owner = corp.world.staff[0].userid
    number = len(corp.world.groups) + 1
    chat = GroupChat(
        chat_id=f"wrtest{number:04d}{name.encode().hex()[:12]}",
        name=name,
        owner=owner,
        create_time=clock.now(),
        members=[GroupMember(userid=owner, type=1, join_time=clock.now(), join_scene=1)],
    )
    with corp.sandbox.state.lock:
        corp.world.groups.append(chat)
    return chat.chat_id


def customer(number: int) -> ExternalContact:
    return ExternalContact(
        external_userid=f"wmGroupCodeFan{number:04d}",
        person_id=f"p-gc-{number}",
        name=f"粉丝{number}",
        type=1,
        gender=0,
        unionid=f"union-gc-{number}",
        avatar="",
    )


def members(corp: Corp, chat_id: str) -> int:
    return len(next(chat for chat in corp.world.groups if chat.chat_id == chat_id).members)


def create(database: Database, tenant: TenantFixture, **fields: object) -> str:
    with database.unit_of_work() as session:
        code = service.create_code(session, actor(tenant), GroupCodeIn.model_validate(fields))
        return code.id


def stored(database: Database, tenant: TenantFixture, code_id: str) -> GroupCode:
    with database.session_factory() as session:
        code = service.get_code(session, tenant.id, code_id)
        session.expunge(code)
        return code


def test_the_join_way_moves_to_the_next_group_when_the_first_is_full(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = new_group(corp, "福利群1"), new_group(corp, "福利群2")
    code_id = create(database, tenant, name="双十一福利群", member_limit=3, chat_ids=[first, second])
    code = stored(database, tenant, code_id)
    way = join_way(corp.sandbox.state, code.config_id)
    assert way["chat_id_list"] == [first, second] and way["state"] == code.state
    assert way["auto_create_room"] == 0 and way["scene"] == 2
    assert code.qr_code.startswith("http")

    # Owner + two customers: the first group reaches the limit of 3.
    assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(1)) == first
    clock.advance(timedelta(seconds=10))
    assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(2)) == first
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)

    code = stored(database, tenant, code_id)
    assert join_way(corp.sandbox.state, code.config_id)["chat_id_list"] == [second]
    assert code.listed_chat_ids == [second] and not code.is_pool_exhausted
    assert code.groups[first]["members"] == 3

    # WeCom's own cap is 200: without the update the next customer would have gone to group 1.
    assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(3)) == second
    assert members(corp, first) == 3 and members(corp, second) == 2
    # The joins were pushed as change_external_chat add_member with JoinScene 3.
    pushed = [entry for entry in push_log(corp.sandbox.state) if "change_external_chat" in str(entry)]
    assert len(pushed) >= 3

    clock.advance(timedelta(days=1))
    assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(4)) == second
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    code = stored(database, tenant, code_id)
    # Both full now, no auto-create: the last group stays listed and the code says so.
    assert code.listed_chat_ids == [second] and code.is_pool_exhausted
    with database.session_factory() as session:
        stats = service.stats(session, tenant.id, code_id, days=7)
        joins = session.scalars(select(GroupCodeJoin).where(GroupCodeJoin.code_id == code_id)).all()
    assert stats.total == 4 and stats.today == 1
    assert dict(stats.days)[START.date()] == 3
    assert [(chat_id, count) for chat_id, _, count in stats.groups] == [(first, 2), (second, 2)]
    assert {join.external_userid for join in joins} == {customer(n).external_userid for n in range(1, 5)}

    # Running again records nothing twice and leaves the join way alone.
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    with database.session_factory() as session:
        assert service.stats(session, tenant.id, code_id).total == 4


def test_with_auto_create_wecom_opens_a_new_group_and_joins_continue_there(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    set_group_member_cap(corp.sandbox.state, 3)
    first = new_group(corp, "宝妈交流群1")
    code_id = create(
        database,
        tenant,
        name="宝妈交流群",
        member_limit=3,
        chat_ids=[first],
        is_auto_create=True,
        room_base_name="宝妈交流群",
        room_base_id=2,
    )
    code = stored(database, tenant, code_id)
    for number in (1, 2):
        assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(number)) == first
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    code = stored(database, tenant, code_id)
    assert code.listed_chat_ids == [first] and not code.is_pool_exhausted

    created = simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(3))
    assert created != first
    chat = next(chat for chat in corp.world.groups if chat.chat_id == created)
    assert chat.name == "宝妈交流群2" and chat.owner == corp.world.staff[0].userid
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    code = stored(database, tenant, code_id)
    assert code.chat_ids == [first, created] and code.groups[created]["is_auto_created"]
    assert code.listed_chat_ids == [created]
    assert join_way(corp.sandbox.state, code.config_id)["chat_id_list"] == [created]

    assert simulate_join_via_join_way(corp.sandbox.state, code.config_id, customer(4)) == created
    assert members(corp, created) == 3
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    with database.session_factory() as session:
        stats = service.stats(session, tenant.id, code_id)
    assert stats.total == 4
    assert dict((chat_id, count) for chat_id, _, count in stats.groups) == {first: 2, created: 2}


def test_editing_the_pool_updates_the_join_way_and_deleting_removes_it(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second, third = (new_group(corp, f"老客群{n}") for n in (1, 2, 3))
    code_id = create(database, tenant, name="老客回购群", member_limit=100, chat_ids=[first])
    config_id = stored(database, tenant, code_id).config_id
    with database.unit_of_work() as session:
        service.update_code(
            session, actor(tenant), code_id, GroupCodePatch(chat_ids=[third, second], name="老客群")
        )
    way = join_way(corp.sandbox.state, config_id)
    assert way["chat_id_list"] == [third, second] and way["remark"] == "老客群"

    with pytest.raises(DomainError) as raised, database.unit_of_work() as session:
        service.update_code(session, actor(tenant), code_id, GroupCodePatch(chat_ids=["wrUnknownGroup"]))
    assert raised.value.status_code == 409
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [third, second]

    with pytest.raises(DomainError) as raised:
        create(database, tenant, name="坏群码", chat_ids=["wrNoSuchGroup"])
    assert raised.value.status_code == 422

    with database.unit_of_work() as session:
        service.delete_code(session, actor(tenant), code_id)
    with pytest.raises(KeyError):
        join_way(corp.sandbox.state, config_id)
    with database.session_factory() as session:
        assert service.list_codes(session, tenant.id) == []


def test_the_change_external_chat_callback_rotates_at_once(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = new_group(corp, "直播间粉丝群1"), new_group(corp, "直播间粉丝群2")
    code_id = create(database, tenant, name="直播间粉丝群", member_limit=3, chat_ids=[first, second])
    config_id = stored(database, tenant, code_id).config_id
    simulate_join_via_join_way(corp.sandbox.state, config_id, customer(1))
    drain(database)
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [first, second]
    # The second join fills group 1: its add_member callback, through the webhook, moves the code.
    simulate_join_via_join_way(corp.sandbox.state, config_id, customer(2))
    drain(database)
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [second]
    assert simulate_join_via_join_way(corp.sandbox.state, config_id, customer(3)) == second
    with database.session_factory() as session:
        assert service.stats(session, tenant.id, code_id).total == 2  # customer 3 not read yet


def test_a_full_group_comes_back_when_members_leave(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    first, second = new_group(corp, "复购群1"), new_group(corp, "复购群2")
    code_id = create(database, tenant, name="复购群", member_limit=2, chat_ids=[first, second])
    config_id = stored(database, tenant, code_id).config_id
    assert simulate_join_via_join_way(corp.sandbox.state, config_id, customer(1)) == first
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [second]

    # The customer leaves group 1 (no callback handler involved: the job alone).
    chat = next(chat for chat in corp.world.groups if chat.chat_id == first)
    with corp.sandbox.state.lock:
        chat.members = [member for member in chat.members if member.type == 1]
    # Unlisted groups are read every FULL_READ_EVERY only: not yet…
    clock.advance(timedelta(seconds=30))
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [second]
    # …then group 1 is back, first in the pool's order.
    clock.advance(service.FULL_READ_EVERY)
    assert schedule.run_job(database, "groupcodes.rotate", tenant.id)
    assert join_way(corp.sandbox.state, config_id)["chat_id_list"] == [first, second]
    assert stored(database, tenant, code_id).groups[first]["members"] == 1
