"""The emulator's mass-message follow-ups over loopback HTTP in WeCom's wire format: the message
list by time window, member tasks, per-customer results paged by cursor, a member confirming,
the monthly cap (status 3), reminders and cancelling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from haina.core import clock
from haina.sandbox.emulators.wecom_groupmsg import (
    groupmsg_state,
    record_received,
    set_monthly_cap,
    simulate_confirm_mass_message,
)
from haina.sandbox.emulators.wecom_store import contact_index
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.platforms.live_sandbox import LiveSandbox, serve

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


class Api:
    def __init__(self, sandbox: LiveSandbox) -> None:
        self.base = sandbox.base_url("wecom")
        world = sandbox.state.world
        self.http = httpx.Client(timeout=10)
        answer = self.http.get(
            f"{self.base}/cgi-bin/gettoken", params={"corpid": world.corp_id, "corpsecret": world.corp_secret}
        )
        self.token = answer.json()["access_token"]

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"{self.base}{path}", params={"access_token": self.token}, json=body)
        assert response.status_code == 200
        return response.json()


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    clock.freeze(NOW)
    try:
        with serve(SandboxState(generate_world(7, 40))) as live:
            yield live
    finally:
        clock.freeze(None)


def test_follow_ups_in_wire_format(sandbox: LiveSandbox) -> None:
    api = Api(sandbox)
    state = sandbox.state
    index = contact_index(state)
    sender, customers = max(index.by_userid.items(), key=lambda item: len(item[1]))
    assert len(customers) >= 3
    chosen = customers[:3]
    created = api.post(
        "/cgi-bin/externalcontact/add_msg_template",
        {
            "chat_type": "single",
            "sender": sender,
            "external_userid": [*chosen, "wm-nobody"],
            "text": {"content": "上新啦"},
        },
    )
    assert created["errcode"] == 0 and created["fail_list"] == ["wm-nobody"]
    msgid = created["msgid"]

    start = int(NOW.timestamp())
    listed = api.post(
        "/cgi-bin/externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": start - 3600, "end_time": start + 3600, "limit": 50},
    )
    assert [row["msgid"] for row in listed["group_msg_list"]] == [msgid]
    assert listed["group_msg_list"][0]["creator"] == sender and listed["group_msg_list"][0]["text"] == {
        "content": "上新啦"
    }
    assert (
        api.post("/cgi-bin/externalcontact/get_groupmsg_list_v2", {"start_time": 0, "end_time": 0})["errcode"]
        != 0
    )

    task = api.post("/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": msgid, "limit": 1000})
    assert task["task_list"] == [{"userid": sender, "status": 0}] and task["next_cursor"] == ""

    # One customer is over the monthly cap already (a cap of 2 here); then the member confirms.
    set_monthly_cap(state, 2)
    record_received(state, chosen[0])
    record_received(state, chosen[0])
    for _ in range(2):  # at the month boundary in Beijing: 1 Nov 00:00 counts, 31 Oct 23:59 does not
        record_received(state, chosen[1], datetime(2026, 10, 31, 16, 0, tzinfo=UTC))
        record_received(state, chosen[2], datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
    statuses = simulate_confirm_mass_message(state, msgid, sender)
    assert statuses == {chosen[0]: 3, chosen[1]: 3, chosen[2]: 1}
    assert simulate_confirm_mass_message(state, msgid, sender) == statuses  # tapping twice changes nothing

    task = api.post("/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": msgid})
    assert task["task_list"] == [{"userid": sender, "status": 2, "send_time": start}]
    pages, cursor = [], ""
    while True:
        page = api.post(
            "/cgi-bin/externalcontact/get_groupmsg_send_result",
            {"msgid": msgid, "userid": sender, "limit": 2, "cursor": cursor},
        )
        pages.append(page["send_list"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [2, 1]
    results = {row["external_userid"]: row for p in pages for row in p}
    assert {eu: row["status"] for eu, row in results.items()} == statuses
    assert results[chosen[2]]["send_time"] == start and "send_time" not in results[chosen[0]]

    # Remind, cancel; a cancelled message can no longer be confirmed or reminded.
    second = api.post(
        "/cgi-bin/externalcontact/add_msg_template",
        {
            "chat_type": "single",
            "sender": sender,
            "external_userid": chosen[1:2],
            "text": {"content": "再次提醒"},
        },
    )["msgid"]
    assert api.post("/cgi-bin/externalcontact/remind_groupmsg_send", {"msgid": second})["errcode"] == 0
    assert groupmsg_state(state)["reminders"] == [(second, NOW)]
    assert api.post("/cgi-bin/externalcontact/cancel_groupmsg_send", {"msgid": second})["errcode"] == 0
    assert api.post("/cgi-bin/externalcontact/remind_groupmsg_send", {"msgid": second})["errcode"] != 0
    assert api.post("/cgi-bin/externalcontact/get_groupmsg_task", {"msgid": "nope"})["errcode"] != 0
