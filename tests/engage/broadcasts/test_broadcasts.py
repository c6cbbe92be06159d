"""Mass messages (群发) end to end against the WeCom emulator over loopback HTTP: the recipients
WeCom records are exactly the segment's customers with an active relation, one add_msg_template
per sender; the per-customer monthly cap (Haina's own accounting before sending, WeCom's status 3
when it is bypassed); schedules on a frozen clock claimed once; members' confirmations and
deliveries polled; reminders and cancelling; replies counted from the message archive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from haina.archive.models import ArchiveMessage, MessageStatus
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.engage import schedule
from haina.engage.broadcasts import service
from haina.engage.broadcasts import tasks as _tasks  # noqa: F401 - registers the jobs
from haina.engage.broadcasts.models import BroadcastStatus, DeliveryStatus, TaskStatus
from haina.platforms.wecom import group_messages
from haina.sandbox.emulators.wecom_events import simulate_delete_contact
from haina.sandbox.emulators.wecom_groupmsg import (
    groupmsg_state,
    mass_messages,
    record_received,
    simulate_confirm_mass_message,
)
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.engage.broadcasts.builders import (
    draft,
    follows_by_customer,
    owner,
    tagged_segment,
    wecom_customers,
)
from tests.factories import TenantFixture, bearer, token_for
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    clock.freeze(START)
    try:
        with connected_corp(database, settings, tenant.id, sandbox) as connected:
            yield connected
    finally:
        clock.freeze(None)


def recorded(corp: Corp) -> dict[str, set[str]]:
    """sender → external_userids of every add_msg_template the emulator recorded."""
    found: dict[str, set[str]] = {}
    for message in mass_messages(corp.sandbox.state):
        for recipient in message["recipients"]:
            assert recipient["userid"] == message["sender"]
            found.setdefault(message["sender"], set()).add(recipient["external_userid"])
    return found


def test_reaches_exactly_the_segment_through_the_right_senders(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    everyone = wecom_customers(database, corp)
    assert len(everyone) >= 16
    chosen = everyone[:12]
    audience = tagged_segment(database, tenant, chosen)
    # Two customers of the segment lose every WeCom relation: they cannot be reached.
    relations = follows_by_customer(database, tenant.id, chosen)
    lost = chosen[:2]
    for customer_id in lost:
        for external_userid, staff_userid in relations[customer_id]:
            simulate_delete_contact(corp.sandbox.state, external_userid, staff_userid, by_customer=True)
    drain(database)
    broadcast_id = draft(database, tenant, audience)

    with database.session_factory() as session:
        plan = service.preview(session, tenant.id, broadcast_id)
    assert plan.targeted == 12
    assert plan.excluded == {service.Exclusion.NO_WECOM: 2}
    assert {r.customer_id for r in plan.recipients} == set(chosen) - set(lost)

    with database.unit_of_work() as session:
        broadcast = service.send_now(session, owner(tenant), broadcast_id)
        assert broadcast.status == BroadcastStatus.SENT
    sent = recorded(corp)
    reachable = follows_by_customer(database, tenant.id, chosen)
    assert set(reachable) == set(chosen) - set(lost)
    # One message per sender; every recipient is followed by its sender; one contact per customer.
    messages = mass_messages(corp.sandbox.state)
    assert len(messages) == len(sent) == len({m["sender"] for m in messages})
    pairs = {(eu, sender) for sender, eus in sent.items() for eu in eus}
    per_customer = {c: pairs & relations for c, relations in reachable.items()}
    assert all(len(found) == 1 for found in per_customer.values()), per_customer
    assert sum(len(eus) for eus in sent.values()) == 10
    # The emulator's world agrees: each sender really follows the customer.
    for sender, eus in sent.items():
        for external_userid in eus:
            assert sender in {f.userid for f in corp.contact(external_userid).follow_users}
    assert messages[0]["text"] == {"content": "亲，双11返场福利已到账，回复「1」领取专属优惠券～"}
    assert messages[0]["attachments"][0]["msgtype"] == "link"
    with database.session_factory() as session:
        rows = service.recipients_of(session, tenant.id, broadcast_id)
        assert {r.customer_id for r in rows} == set(reachable)
        assert {r.status for r in rows} == {DeliveryStatus.PENDING}
        figures = service.figures_of(
            session, tenant.id, service.get_broadcast(session, tenant.id, broadcast_id)
        )
    assert (figures.targeted, figures.sendable, figures.staff_total, figures.staff_confirmed) == (
        12,
        10,
        len(sent),
        0,
    )
    # WeCom's own list of the corp's mass messages agrees (get_groupmsg_list_v2, by time window).
    with database.session_factory() as session:
        client = wecom_corps.first_corp(session, tenant.id).client  # type: ignore[union-attr]
        now = clock.now()
        listed = list(
            group_messages.messages_between(client, now - timedelta(hours=1), now + timedelta(hours=1))
        )
    assert sorted((m.msgid, m.creator) for m in listed) == sorted((m["msgid"], m["sender"]) for m in messages)
    assert {m.text for m in listed} == {"亲，双11返场福利已到账，回复「1」领取专属优惠券～"}


def test_monthly_cap_excludes_before_sending_and_resets_next_month(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    chosen = wecom_customers(database, corp)[:3]
    audience = tagged_segment(database, tenant, chosen)
    for number in range(4):
        broadcast_id = draft(database, tenant, audience, title=f"第{number + 1}次")
        with database.unit_of_work() as session:
            assert service.send_now(session, owner(tenant), broadcast_id).status == BroadcastStatus.SENT
        clock.advance(timedelta(days=1))
    assert len(mass_messages(corp.sandbox.state)) >= 4
    before = len(mass_messages(corp.sandbox.state))
    fifth = draft(database, tenant, audience, title="第5次")
    with database.session_factory() as session:
        plan = service.preview(session, tenant.id, fifth)
    assert plan.recipients == [] and plan.excluded == {service.Exclusion.OVER_CAP: 3}
    with database.unit_of_work() as session:
        broadcast = service.send_now(session, owner(tenant), fifth)
        assert broadcast.status == BroadcastStatus.FAILED
        assert broadcast.figures[service.Exclusion.OVER_CAP] == 3
    assert len(mass_messages(corp.sandbox.state)) == before  # nothing handed to WeCom
    # A tenant may allow more; and a new natural month (Shanghai) starts afresh.
    with database.unit_of_work() as session:
        service.set_monthly_cap(session, owner(tenant), 5)
        assert len(service.preview(session, tenant.id, fifth).recipients) == 3
        service.set_monthly_cap(session, owner(tenant), 4)
    clock.freeze(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 1 December 00:00 in Shanghai
    with database.session_factory() as session:
        assert len(service.preview(session, tenant.id, fifth).recipients) == 3


def test_emulator_status_3_is_recorded_when_the_accounting_is_bypassed(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    chosen = wecom_customers(database, corp)[:4]
    audience = tagged_segment(database, tenant, chosen)
    broadcast_id = draft(database, tenant, audience)
    with database.unit_of_work() as session:
        service.send_now(session, owner(tenant), broadcast_id)
        rows = service.recipients_of(session, tenant.id, broadcast_id)
    capped = rows[0]
    for _ in range(4):  # four mass messages from another tool of the corp this month
        record_received(corp.sandbox.state, capped.external_userid)
    for message in mass_messages(corp.sandbox.state):
        simulate_confirm_mass_message(corp.sandbox.state, message["msgid"], message["sender"])
    assert schedule.run_job(database, "broadcasts.track", tenant.id)
    with database.session_factory() as session:
        statuses = {r.customer_id: r.status for r in service.recipients_of(session, tenant.id, broadcast_id)}
    assert statuses[capped.customer_id] == DeliveryStatus.OVER_LIMIT
    assert {s for c, s in statuses.items() if c != capped.customer_id} == {DeliveryStatus.SENT}


def test_schedule_on_a_frozen_clock_sends_once(database: Database, tenant: TenantFixture, corp: Corp) -> None:
    audience = tagged_segment(database, tenant, wecom_customers(database, corp)[:5])
    broadcast_id = draft(database, tenant, audience)
    base = clock.now()  # the crawl's drain may have moved the frozen clock on
    with database.unit_of_work() as session:
        service.schedule_broadcast(session, owner(tenant), broadcast_id, base + timedelta(hours=2))
    clock.advance(timedelta(hours=1, minutes=59))
    assert schedule.run_job(database, "broadcasts.send_due", tenant.id)
    with database.session_factory() as session:
        assert service.get_broadcast(session, tenant.id, broadcast_id).status == BroadcastStatus.SCHEDULED
    assert mass_messages(corp.sandbox.state) == []
    clock.advance(timedelta(minutes=2))
    assert schedule.run_job(database, "broadcasts.send_due", tenant.id)
    sent_once = len(mass_messages(corp.sandbox.state))
    assert sent_once >= 1
    assert schedule.run_job(database, "broadcasts.send_due", tenant.id)
    clock.advance(timedelta(hours=1))
    assert schedule.run_job(database, "broadcasts.send_due", tenant.id)
    assert len(mass_messages(corp.sandbox.state)) == sent_once
    with database.session_factory() as session:
        broadcast = service.get_broadcast(session, tenant.id, broadcast_id)
        assert broadcast.status == BroadcastStatus.SENT
        assert broadcast.sent_at == base + timedelta(hours=2, minutes=1)
        assert len(service.recipients_of(session, tenant.id, broadcast_id)) == 5
    # A sent broadcast is not sent again by hand either.
    with database.unit_of_work() as session, pytest.raises(Exception, match="already"):
        service.send_now(session, owner(tenant), broadcast_id)


def spread_over_members(database: Database, tenant_id: str, customer_ids: list[str]) -> list[str]:
    """Twelve customers: four followed only by the member with most such customers, the rest by
    others. Customer ids are random, so a plain first twelve may give every member fewer than
    three; this choice does not depend on them."""
    relations = follows_by_customer(database, tenant_id, customer_ids)
    by_member: dict[str, list[str]] = {}
    for customer_id, pairs in sorted(relations.items(), key=lambda item: sorted(item[1])):
        if len(pairs) == 1:
            ((_, member),) = pairs
            by_member.setdefault(member, []).append(customer_id)
    busiest = max(sorted(by_member), key=lambda member: len(by_member[member]))
    assert len(by_member[busiest]) >= 4, "the world should give one member four customers"
    others = [c for member in sorted(by_member) if member != busiest for c in by_member[member]]
    assert len(others) >= 8
    return by_member[busiest][:4] + others[:8]


def test_confirmation_delivery_reminders_and_replies(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    chosen = spread_over_members(database, tenant.id, wecom_customers(database, corp))
    audience = tagged_segment(database, tenant, chosen)
    broadcast_id = draft(database, tenant, audience)
    with database.unit_of_work() as session:
        service.send_now(session, owner(tenant), broadcast_id)
    state = corp.sandbox.state
    messages = sorted(mass_messages(state), key=lambda m: (-len(m["recipients"]), m["msgid"]))
    assert len(messages) >= 2, "the world should spread these customers over several members"
    first, rest = messages[0], messages[1:]
    assert len(first["recipients"]) >= 3
    # One customer of the first sender deletes them before they confirm: not a friend any more.
    gone = first["recipients"][0]["external_userid"]
    simulate_delete_contact(state, gone, first["sender"], by_customer=True)
    assert schedule.run_job(database, "broadcasts.track", tenant.id)
    with database.session_factory() as session:
        staff = {row.userid: row for row in service.staff_of(session, tenant.id, broadcast_id)}
    assert {row.status for row in staff.values()} == {TaskStatus.PENDING}

    simulate_confirm_mass_message(state, first["msgid"], first["sender"])
    assert schedule.run_job(database, "broadcasts.track", tenant.id)
    with database.session_factory() as session:
        staff = {row.userid: row for row in service.staff_of(session, tenant.id, broadcast_id)}
        rows = service.recipients_of(session, tenant.id, broadcast_id)
    assert staff[first["sender"]].status == TaskStatus.CONFIRMED
    assert staff[first["sender"]].delivered == len(first["recipients"]) - 1
    assert all(staff[m["sender"]].status == TaskStatus.PENDING for m in rest)
    by_eu = {r.external_userid: r for r in rows}
    assert by_eu[gone].status == DeliveryStatus.NOT_FRIEND
    for recipient in first["recipients"][1:]:
        assert by_eu[recipient["external_userid"]].status == DeliveryStatus.SENT
    for message in rest:
        for recipient in message["recipients"]:
            assert by_eu[recipient["external_userid"]].status == DeliveryStatus.PENDING

    # Remind the members still pending: exactly their msgids reach WeCom.
    with database.unit_of_work() as session:
        assert service.remind(session, owner(tenant), broadcast_id) == len(rest)
    assert {msgid for msgid, _ in groupmsg_state(state)["reminders"]} == {m["msgid"] for m in rest}

    # Replies: a delivered customer writes after the send; another wrote only before it.
    delivered = [by_eu[r["external_userid"]].customer_id for r in first["recipients"][1:]]
    assert len(delivered) >= 2
    with database.session_factory() as session:
        sent_at = service.get_broadcast(session, tenant.id, broadcast_id).sent_at
    assert sent_at is not None
    with database.unit_of_work() as session:
        for seq, (customer_id, at) in enumerate(
            [(delivered[0], sent_at + timedelta(minutes=5)), (delivered[1], sent_at - timedelta(hours=1))]
        ):
            session.add(
                ArchiveMessage(
                    tenant_id=tenant.id,
                    corp_id=corp.world.corp_id,
                    seq=seq + 1,
                    msgid=f"reply-{seq}",
                    status=MessageStatus.STORED,
                    sender="wm-customer",
                    is_from_staff=False,
                    customer_id=customer_id,
                    sent_at=at,
                )
            )
    with database.session_factory() as session:
        broadcast = service.get_broadcast(session, tenant.id, broadcast_id)
        assert service.replied_customers(session, tenant.id, broadcast) == {delivered[0]}
        assert service.figures_of(session, tenant.id, broadcast).replied == 1

    # Cancel: the pending members' messages are stopped in WeCom, their customers unsent.
    with database.unit_of_work() as session:
        assert service.cancel(session, owner(tenant), broadcast_id).status == BroadcastStatus.CANCELLED
    assert groupmsg_state(state)["cancelled"] == {m["msgid"] for m in rest}
    with database.session_factory() as session:
        after = {r.external_userid: r.status for r in service.recipients_of(session, tenant.id, broadcast_id)}
    for message in rest:
        for recipient in message["recipients"]:
            assert after[recipient["external_userid"]] == DeliveryStatus.UNSENT


def test_tag_filter_target_uses_the_condition_engine(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    everyone = wecom_customers(database, corp)
    vip = tagged_segment(database, tenant, everyone[:8], name="VIP")
    repeat = tagged_segment(database, tenant, everyone[4:12], name="复购")
    opted_out = tagged_segment(database, tenant, everyone[6:7], name="免打扰")
    with database.unit_of_work() as session:
        broadcast = service.create_broadcast(
            session,
            owner(tenant),
            service.BroadcastInput(
                title="VIP 复购",
                text="会员日专享",
                target_kind=service.TargetKind.TAGS,
                tag_filter={"all": [vip.tag_id, repeat.tag_id], "exclude": [opted_out.tag_id]},
            ),
        )
        assert service.target_customer_ids(session, tenant.id, broadcast) == [
            everyone[4],
            everyone[5],
            everyone[7],
        ]
        broadcast.tag_filter = {"any": [vip.tag_id, repeat.tag_id], "all": [], "exclude": [opted_out.tag_id]}
        assert service.target_customer_ids(session, tenant.id, broadcast) == everyone[:6] + everyone[7:12]


def test_text_with_variables_is_refused(database: Database, tenant: TenantFixture) -> None:
    segment_id = tagged_segment(database, tenant, [], name="空").segment_id
    with database.unit_of_work() as session, pytest.raises(InvalidInput) as refused:
        service.create_broadcast(
            session,
            owner(tenant),
            service.BroadcastInput(title="问候", text="{客户名称}您好", segment_id=segment_id),
        )
    assert refused.value.code == "broadcast_variables_unsupported"


def test_rest_create_preview_send(
    client: TestClient, database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    audience = tagged_segment(database, tenant, wecom_customers(database, corp)[:3])
    headers = bearer(token_for(client, tenant.usernames["operator"]))
    created = client.post(
        "/api/v1/engage/broadcasts",
        json={"title": "上新提醒", "text": "冬季新品上架", "segment_id": audience.segment_id},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    broadcast_id = created.json()["id"]
    assert created.json()["status"] == "draft"
    preview = client.post(f"/api/v1/engage/broadcasts/{broadcast_id}/preview", headers=headers)
    assert preview.status_code == 200
    assert preview.json()["sendable"] == 3 and len(preview.json()["recipients"]) == 3
    sent = client.post(f"/api/v1/engage/broadcasts/{broadcast_id}/send", headers=headers)
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert sent.json()["stats"]["sendable"] == 3
    again = client.post(f"/api/v1/engage/broadcasts/{broadcast_id}/send", headers=headers)
    assert again.status_code == 409
    bad = client.post(
        "/api/v1/engage/broadcasts",
        json={"title": "x", "text": "{customer name} hi", "segment_id": audience.segment_id},
        headers=headers,
    )
    assert bad.status_code == 422
