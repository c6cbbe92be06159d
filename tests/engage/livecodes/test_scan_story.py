"""The scan story against the WeCom emulator over loopback: a code is created as a contact way
with its state; a brand-new customer scans it; the add_external_contact callback comes through
the real webhook path; the add is recorded once, the member's remark is set in WeCom, the
customer carries the code's tag, the statistics count it; the duty list follows limits and
schedules with update_contact_way; deleting the code deletes the contact way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.events.models import OutboxEvent
from haina.customers import service as customers
from haina.customers.models import record_id
from haina.engage import schedule
from haina.engage.livecodes import service, tasks
from haina.engage.livecodes.models import LiveCodeAdd
from haina.sandbox.emulators.wecom import simulate_delete_contact, simulate_scan_contact_way
from haina.sandbox.emulators.wecom_engage import new_scanning_customer
from haina.sandbox.emulators.wecom_store import scratch
from haina.tags.models import CustomerTag, TagChange
from tests.engage.livecodes.conftest import Setup
from tests.wecom_corp import drain

# Monday 2026-11-23, 10:00 in Shanghai.
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen() -> object:
    clock.freeze(MONDAY_10)
    yield None
    clock.freeze(None)


def _staff(setup: Setup, count: int) -> list[str]:
    return [member.userid for member in setup.corp.world.staff[:count]]


def _create(database: Database, setup: Setup, **changes: object) -> str:
    first, second, third = _staff(setup, 3)
    data = service.LiveCodeInput(
        name="静安门店前台",
        channel="store_counter",
        members=[
            service.MemberInput(first, [1, 2, 3, 4, 5], [("09:00", "18:00")], daily_limit=1),
            service.MemberInput(second, [6, 7], [], 0),
        ],
        backups=[third],
        tag_ids=[setup.tag_id],
        remark_template="{channel}-{staff}",
    )
    for key, value in changes.items():
        setattr(data, key, value)
    with database.unit_of_work() as session:
        return service.create_code(session, setup.owner, data).id


def _way(setup: Setup, config_id: str) -> dict:
    return scratch(setup.corp.sandbox.state)["contact_ways"][config_id]


def test_scanning_a_code_records_tags_and_remarks_the_customer(database: Database, setup: Setup) -> None:
    first, _, third = _staff(setup, 3)
    code_id = _create(database, setup)
    with database.session_factory() as session:
        code = service.get_code(session, setup.owner.tenant_id, code_id)
        config_id, state = code.config_id, code.state
    way = _way(setup, config_id)
    assert way["state"] == state and len(state) <= 30
    assert way["type"] == 2 and way["scene"] == 2 and way["user"] == [first]  # only the Monday shift

    newcomer = new_scanning_customer(setup.corp.sandbox.state)
    userid, _ = simulate_scan_contact_way(setup.corp.sandbox.state, config_id, newcomer)
    assert userid == first
    drain(database)

    with database.session_factory() as session:
        adds = list(
            session.scalars(select(LiveCodeAdd).where(LiveCodeAdd.tenant_id == setup.owner.tenant_id))
        )
        assert [(add.external_userid, add.staff_userid) for add in adds] == [
            (newcomer.external_userid, first)
        ]
        add = adds[0]
        assert add.customer_id and add.tags_applied and add.remark == f"门店前台-{first}"
        carried = session.scalars(
            select(CustomerTag.tag_id).where(
                CustomerTag.tenant_id == setup.owner.tenant_id, CustomerTag.customer_id == add.customer_id
            )
        ).all()
        assert setup.tag_id in carried
        history = session.scalars(
            select(TagChange.reason).where(
                TagChange.customer_id == add.customer_id, TagChange.tag_id == setup.tag_id
            )
        ).all()
        assert history == ["渠道活码 静安门店前台"]
        stats = service.stats(session, setup.owner.tenant_id, code_id)
        assert (stats.total, stats.today, stats.lost) == (1, 1, 0)
        assert stats.per_staff == [(first, 1, 0)]
        assert stats.per_day[-1][1] == 1 and sum(day[1] for day in stats.per_day) == 1
        code = service.get_code(session, setup.owner.tenant_id, code_id)
        # The member's daily limit (1) is full: the backup takes the next adds.
        assert code.duty_userids == [third] and code.duty_reason == "backup"
    follow = next(f for f in setup.corp.contact(newcomer.external_userid).follow_users if f.userid == first)
    assert follow.remark == f"门店前台-{first}"
    assert _way(setup, config_id)["user"] == [third]

    # The same callback again (a replay) records nothing new.
    with database.unit_of_work() as session:
        again = service.record_add(
            session,
            setup.owner.tenant_id,
            {
                "contact_id": add.contact_id,
                "corp_id": add.corp_id,
                "external_userid": add.external_userid,
                "staff_userid": first,
                "add_channel_state": state,
            },
        )
        assert again is not None and again.id == add.id
    with database.session_factory() as session:
        assert len(service.stats(session, setup.owner.tenant_id, code_id).per_staff) == 1

    # The customer deletes the member: the add is lost, retention after 7 days counts it.
    simulate_delete_contact(setup.corp.sandbox.state, newcomer.external_userid, first, by_customer=True)
    drain(database)
    clock.advance(timedelta(days=8))
    with database.session_factory() as session:
        stats = service.stats(session, setup.owner.tenant_id, code_id)
        assert stats.lost == 1 and stats.retention_7 == 0.0 and stats.eligible_7 == 1
        assert stats.retention_30 is None


def test_duty_follows_schedule_with_update_contact_way(database: Database, setup: Setup) -> None:
    first, second, third = _staff(setup, 3)
    code_id = _create(database, setup)
    with database.session_factory() as session:
        config_id = service.get_code(session, setup.owner.tenant_id, code_id).config_id
    assert _way(setup, config_id)["user"] == [first]
    # Nothing changed: no update.
    assert schedule.run_job(database, "livecodes.refresh_duty", setup.owner.tenant_id)
    assert _way(setup, config_id)["user"] == [first]
    # Monday 18:00 in Shanghai: the day shift ended, nobody scheduled → the backup.
    clock.freeze(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert schedule.run_job(database, "livecodes.refresh_duty", setup.owner.tenant_id)
    assert _way(setup, config_id)["user"] == [third]
    # Saturday: the weekend member, all day.
    clock.freeze(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    assert schedule.run_job(database, "livecodes.refresh_duty", setup.owner.tenant_id)
    assert _way(setup, config_id)["user"] == [second]
    with database.session_factory() as session:
        code = service.get_code(session, setup.owner.tenant_id, code_id)
        assert code.duty_userids == [second] and code.duty_reason == "schedule"


def test_editing_and_deleting_reach_wecom(database: Database, setup: Setup) -> None:
    first, second, _ = _staff(setup, 3)
    code_id = _create(database, setup)
    with database.unit_of_work() as session:
        code = service.get_code(session, setup.owner.tenant_id, code_id)
        config_id = code.config_id
        data = service.LiveCodeInput(
            name="静安门店前台",
            channel="store_counter",
            members=[service.MemberInput(first), service.MemberInput(second)],
            skip_verify=False,
        )
        service.update_code(session, setup.owner, code_id, data)
    way = _way(setup, config_id)
    assert way["user"] == [first, second] and way["skip_verify"] is False
    with database.unit_of_work() as session:
        service.delete_code(session, setup.owner, code_id)
    assert config_id not in scratch(setup.corp.sandbox.state)["contact_ways"]
    with database.session_factory() as session:
        assert service.list_codes(session, setup.owner.tenant_id) == []


def test_invalid_input_is_refused_before_wecom(database: Database, setup: Setup) -> None:
    first = _staff(setup, 1)[0]
    cases = {
        "livecode_name_required": service.LiveCodeInput(name=" ", members=[service.MemberInput(first)]),
        "livecode_members_required": service.LiveCodeInput(name="海报"),
        "livecode_member_duplicate": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first), service.MemberInput(first)]
        ),
        "livecode_time_invalid": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first, ranges=[("9点", "18:00")])]
        ),
        "livecode_range_empty": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first, ranges=[("09:00", "09:00")])]
        ),
        "livecode_weekdays_invalid": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first, weekdays=[])]
        ),
        "livecode_tag_invalid": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first)], tag_ids=["0" * 32]
        ),
        "livecode_remark_variable": service.LiveCodeInput(
            name="海报", members=[service.MemberInput(first)], remark_template="{phone}"
        ),
        "livecode_channel_invalid": service.LiveCodeInput(
            name="海报", channel="tv", members=[service.MemberInput(first)]
        ),
    }
    for expected, data in cases.items():
        with database.unit_of_work() as session, pytest.raises(InvalidInput) as raised:
            service.create_code(session, setup.owner, data)
        assert raised.value.code == expected
    assert scratch(setup.corp.sandbox.state)["contact_ways"] == {}
    # An unknown member: WeCom refuses, and says so.
    with database.unit_of_work() as session, pytest.raises(InvalidInput) as raised:
        service.create_code(
            session, setup.owner, service.LiveCodeInput(name="海报", members=[service.MemberInput("nobody")])
        )
    assert raised.value.code == "livecode_wecom_refused"


def test_a_customer_resolved_later_gets_the_tags(database: Database, setup: Setup) -> None:
    code_id = _create(database, setup)
    contact = next(c for c in setup.corp.world.contacts if c.follow_users)
    contact_id = record_id(
        "contact", setup.owner.tenant_id, setup.corp.world.corp_id, contact.external_userid
    )
    with database.session_factory() as session:
        follows = customers.wecom_follows_of(session, setup.owner.tenant_id, contact_ids=[contact_id])
        customer_id = next(follow.customer_id for follow in follows if follow.customer_id)
    with database.unit_of_work() as session:
        # Recorded before identity resolution knew the customer.
        session.add(
            LiveCodeAdd(
                tenant_id=setup.owner.tenant_id,
                live_code_id=code_id,
                contact_id=contact_id,
                corp_id=setup.corp.world.corp_id,
                external_userid=contact.external_userid,
                staff_userid=contact.follow_users[0].userid,
                added_at=clock.now(),
            )
        )
    # The batch form, as the dispatcher runs it: an order's resolution (no contact) beside it.
    events = [
        OutboxEvent(tenant_id=setup.owner.tenant_id, type="customer.resolved", payload=payload)
        for payload in (
            {"customer_id": customer_id, "order_ids": ["o1"], "contact_ids": []},
            {"customer_id": customer_id, "contact_ids": [contact_id]},
        )
    ]
    with database.unit_of_work() as session:
        tasks.customers_resolved(session, events)
    with database.unit_of_work() as session:  # the same resolution again changes nothing
        assert service.customers_resolved(session, setup.owner.tenant_id, [contact_id], customer_id) == 0
    with database.session_factory() as session:
        carried = session.scalars(
            select(CustomerTag.tag_id).where(
                CustomerTag.tenant_id == setup.owner.tenant_id, CustomerTag.customer_id == customer_id
            )
        ).all()
        assert setup.tag_id in carried
        add = session.scalars(select(LiveCodeAdd).where(LiveCodeAdd.contact_id == contact_id)).one()
        assert add.customer_id == customer_id and add.tags_applied
