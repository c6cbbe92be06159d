"""WeCom emulator: mass-message follow-ups: get_groupmsg_list_v2, get_groupmsg_task, get_groupmsg_send_result, and members confirming.

add_msg_template (wecom_engage.py) records each message in `scratch["mass_messages"]` with its
recipients [{userid, external_userid}]. This file keeps, under `scratch["groupmsg"]`:

  delivered   msgid → {(userid, external_userid or chat_id): {"status", "send_time"}} once sent
  confirmed   msgid → {userid: send_time} (the member tapped 发送)
  cancelled   msgids stopped with cancel_groupmsg_send
  reminders   [(msgid, time)] of remind_groupmsg_send
  received    external_userid → [times it received a mass message]
  monthly_cap how many mass messages a customer receives per natural month (Asia/Shanghai)

[UNCONFIRMED] The per-customer cap: newer WeCom docs say 4 per natural month from one corp
(older: 1 per day). Over it, a recipient is filtered at sending time (status 3), which is what
`simulate_confirm_mass_message` does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_http import TokenGate, integer, json_body, ok
from haina.sandbox.emulators.wecom_store import find_contact, find_follow_user, page_after, scratch, unix
from haina.sandbox.state import SandboxState

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_MONTHLY_CAP = 4
DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
TASK_UNSENT, TASK_SENT = 0, 2
SENT, NOT_FRIEND, OVER_LIMIT = 1, 2, 3


def groupmsg_state(state: SandboxState) -> dict[str, Any]:
    data = scratch(state)
    with state.lock:
        mine = data.setdefault("groupmsg", {})
        mine.setdefault("delivered", {})
        mine.setdefault("confirmed", {})
        mine.setdefault("cancelled", set())
        mine.setdefault("reminders", [])
        mine.setdefault("received", {})
        mine.setdefault("monthly_cap", DEFAULT_MONTHLY_CAP)
        return mine


def set_monthly_cap(state: SandboxState, cap: int) -> None:
    """How many mass messages one customer may receive per natural month in this emulator."""
    groupmsg_state(state)["monthly_cap"] = cap


def record_received(state: SandboxState, external_userid: str, at: datetime | None = None) -> None:
    """Count a mass message the customer received outside Haina (another tool of the corp)."""
    mine = groupmsg_state(state)
    with state.lock:
        mine["received"].setdefault(external_userid, []).append(at or clock.now())


def _month(moment: datetime) -> tuple[int, int]:
    local = moment.astimezone(SHANGHAI)
    return local.year, local.month


def _received_this_month(mine: dict[str, Any], external_userid: str, now: datetime) -> int:
    return sum(1 for at in mine["received"].get(external_userid, []) if _month(at) == _month(now))


def _message(state: SandboxState, msgid: Any) -> dict[str, Any]:
    if not msgid or not isinstance(msgid, str):
        raise WeComApiError(errors.INVALID_PARAMETER, "msgid is required")
    message = scratch(state)["mass_messages"].get(msgid)
    if message is None:
        raise WeComApiError(errors.INVALID_PARAMETER, f"msgid {msgid} not found")
    return message


def _members(message: dict[str, Any]) -> list[str]:
    return sorted({recipient["userid"] for recipient in message["recipients"]})


def simulate_confirm_mass_message(state: SandboxState, msgid: str, userid: str) -> dict[str, int]:
    """Member `userid` taps 发送 on the mass message in their app: each of their recipients gets
    it (1), or is not a friend any more (2), or is over the monthly cap (3). Returns the status
    per external_userid (chat_id for group messages)."""
    message = _message(state, msgid)
    mine = groupmsg_state(state)
    now = clock.now()
    if msgid in mine["cancelled"]:
        raise WeComApiError(errors.INVALID_PARAMETER, "the mass message was cancelled")
    statuses: dict[str, int] = {}
    with state.lock:
        if userid in mine["confirmed"].get(msgid, {}):
            delivered_before = mine["delivered"].get(msgid, {})
            return {key[1]: value["status"] for key, value in delivered_before.items() if key[0] == userid}
        delivered = mine["delivered"].setdefault(msgid, {})
        for recipient in message["recipients"]:
            if recipient["userid"] != userid:
                continue
            target = recipient.get("external_userid") or recipient.get("chat_id") or ""
            if recipient.get("external_userid"):
                contact = find_contact(state, target)
                if contact is None or not find_follow_user(contact, userid):
                    status = NOT_FRIEND
                elif _received_this_month(mine, target, now) >= mine["monthly_cap"]:
                    status = OVER_LIMIT
                else:
                    status = SENT
                    mine["received"].setdefault(target, []).append(now)
            else:
                status = SENT
            delivered[(userid, target)] = {"status": status, "send_time": now if status == SENT else None}
            statuses[target] = status
        mine["confirmed"].setdefault(msgid, {})[userid] = now
    return statuses


def mass_messages(state: SandboxState) -> list[dict[str, Any]]:
    """What add_msg_template recorded, oldest first (tests compare it with Haina's plan)."""
    return sorted(scratch(state)["mass_messages"].values(), key=lambda message: message["created_at"])


def add_groupmsg_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds this area's endpoints to the WeCom router."""

    @router.post("/cgi-bin/externalcontact/get_groupmsg_list_v2")
    def get_groupmsg_list_v2(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        chat_type = body.get("chat_type") or "single"
        start, end = integer(body, "start_time", 0), integer(body, "end_time", 0)
        if not start or not end or end < start or end - start > 31 * 86400:
            raise WeComApiError(errors.INVALID_PARAMETER, "start_time and end_time span at most a month")
        creator = body.get("creator") or ""
        limit = min(max(integer(body, "limit", 50), 1), 100)
        rows = []
        for message in mass_messages(state):
            created = unix(message["created_at"])
            if message["chat_type"] != chat_type or not start <= created <= end:
                continue
            if creator and message["sender"] != creator:
                continue
            row: dict[str, Any] = {
                "msgid": message["msgid"],
                "creator": message["sender"],
                "create_time": created,  # [UNCONFIRMED] present in newer docs' examples
                "create_type": 0,  # 0: made through the API [UNCONFIRMED] values 0 corp / 1 member
            }
            if message["text"]:
                row["text"] = message["text"]
            row["attachments"] = message["attachments"]
            rows.append(row)
        page, cursor = page_after(
            rows, lambda row: (row["create_time"], row["msgid"]), str(body.get("cursor") or ""), limit
        )
        return ok(group_msg_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/get_groupmsg_task")
    def get_groupmsg_task(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        message = _message(state, body.get("msgid"))
        mine = groupmsg_state(state)
        limit = min(max(integer(body, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        confirmed = mine["confirmed"].get(message["msgid"], {})
        rows = []
        for userid in _members(message):
            row: dict[str, Any] = {
                "userid": userid,
                "status": TASK_SENT if userid in confirmed else TASK_UNSENT,
            }
            if userid in confirmed:
                row["send_time"] = unix(confirmed[userid])
            rows.append(row)
        page, cursor = page_after(rows, lambda row: (row["userid"],), str(body.get("cursor") or ""), limit)
        return ok(task_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/get_groupmsg_send_result")
    def get_groupmsg_send_result(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        message = _message(state, body.get("msgid"))
        userid = body.get("userid")
        if not userid or not isinstance(userid, str):
            raise WeComApiError(errors.MISSING_USERID)
        mine = groupmsg_state(state)
        limit = min(max(integer(body, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        delivered = mine["delivered"].get(message["msgid"], {})
        rows = []
        for recipient in message["recipients"]:
            if recipient["userid"] != userid:
                continue
            target = recipient.get("external_userid") or recipient.get("chat_id") or ""
            result = delivered.get((userid, target), {"status": 0, "send_time": None})
            row: dict[str, Any] = {"userid": userid, "status": result["status"]}
            if recipient.get("external_userid"):
                row["external_userid"] = target
            else:
                row["chat_id"] = target
            if result["send_time"] is not None:
                row["send_time"] = unix(result["send_time"])
            rows.append(row)
        page, cursor = page_after(
            rows,
            lambda row: (row.get("external_userid") or row.get("chat_id") or "",),
            str(body.get("cursor") or ""),
            limit,
        )
        return ok(send_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/cancel_groupmsg_send")
    def cancel_groupmsg_send(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        message = _message(state, body.get("msgid"))
        with state.lock:
            groupmsg_state(state)["cancelled"].add(message["msgid"])
        return ok()

    @router.post("/cgi-bin/externalcontact/remind_groupmsg_send")
    def remind_groupmsg_send(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        message = _message(state, body.get("msgid"))
        mine = groupmsg_state(state)
        if message["msgid"] in mine["cancelled"]:
            raise WeComApiError(errors.INVALID_PARAMETER, "the mass message was cancelled")
        with state.lock:
            mine["reminders"].append((message["msgid"], clock.now()))
        return ok()
