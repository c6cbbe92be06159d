"""The demo's running shop: once the merchant has 「联系我」 codes, new leads arrive by scanning
them (the follow relation carries the code's state and a welcome code is issued), so live codes
and welcome messages see live traffic; without codes, leads add a guide directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from haina.core import clock
from haina.sandbox.emulators.wecom_store import scratch
from haina.sandbox.generator import generate_world
from haina.sandbox.live import LiveTicker
from haina.sandbox.state import SandboxState


def new_contacts(state: SandboxState, ticks: int) -> list[str]:
    ticker = LiveTicker(state, 9, orders_per_minute=6, contacts_per_minute=120, interval_seconds=1)
    added: list[str] = []
    for _ in range(ticks):
        clock.advance(timedelta(seconds=1))
        added += [change.record_id for change in ticker.tick() if change.event == "contact.added"]
    return added


def test_new_leads_scan_the_corps_codes_when_there_are_some() -> None:
    clock.freeze(datetime(2025, 11, 23, 2, tzinfo=UTC))
    try:
        state = SandboxState(world=generate_world(3, 120))
        staff = [member.userid for member in state.world.staff[:2]]
        scratch(state)["contact_ways"]["way-1"] = {
            "config_id": "way-1", "type": 2, "scene": 2, "state": "poster-1", "user": staff, "scans": 0,
        }  # fmt: skip
        added = new_contacts(state, 5)
        assert added
        by_id = {contact.external_userid: contact for contact in state.world.contacts}
        for external_userid in added:
            (follow,) = by_id[external_userid].follow_users
            assert follow.state == "poster-1" and follow.userid in staff
        assert scratch(state)["contact_ways"]["way-1"]["scans"] == len(added)
        issued = scratch(state)["welcome_codes"].values()
        assert {code.external_userid for code in issued} >= set(added)
    finally:
        clock.freeze(None)


def test_without_codes_leads_add_a_guide_directly() -> None:
    clock.freeze(datetime(2025, 11, 23, 2, tzinfo=UTC))
    try:
        state = SandboxState(world=generate_world(3, 120))
        added = new_contacts(state, 5)
        assert added
        by_id = {contact.external_userid: contact for contact in state.world.contacts}
        assert all(len(by_id[external_userid].follow_users) == 1 for external_userid in added)
        assert all(by_id[external_userid].follow_users[0].state != "poster-1" for external_userid in added)
    finally:
        clock.freeze(None)


def test_members_get_round_to_confirming_mass_messages_and_publishing_moments() -> None:
    from haina.sandbox.emulators.wecom_groupmsg import groupmsg_state
    from haina.sandbox.emulators.wecom_moments import moments_state

    clock.freeze(datetime(2025, 11, 23, 2, tzinfo=UTC))
    try:
        state = SandboxState(world=generate_world(3, 120))
        contact = next(contact for contact in state.world.contacts if contact.follow_users)
        member = contact.follow_users[0].userid
        scratch(state)["mass_messages"]["msg-1"] = {
            "msgid": "msg-1", "chat_type": "single", "sender": "",
            "recipients": [{"userid": member, "external_userid": contact.external_userid}],
            "fail_list": [], "text": {"content": "双十二预告"}, "attachments": [], "created_at": clock.now(),
        }  # fmt: skip
        moments_state(state)["moments"]["mom-1"] = {
            "senders": {member: 0},
            "cancelled": False,
            "tag_list": [],
        }
        ticker = LiveTicker(state, 9, orders_per_minute=6, contacts_per_minute=0, interval_seconds=1)
        events: list[str] = []
        for _ in range(600):  # 1 in 30 per tick: all but impossible not to happen in 600 ticks
            clock.advance(timedelta(seconds=1))
            events += [change.event for change in ticker.tick()]
            if "mass_message.confirmed" in events and "moment.published" in events:
                break
        assert events.count("mass_message.confirmed") == 1 and events.count("moment.published") == 1
        assert member in groupmsg_state(state)["confirmed"]["msg-1"]
        assert moments_state(state)["moments"]["mom-1"]["senders"][member] == 1
    finally:
        clock.freeze(None)
