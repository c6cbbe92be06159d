"""WeCom emulator: application messages to members: message/send (official doc 90236).

Accepted messages are kept, oldest first, in `scratch(state)["app_messages"]`; members unknown
to the corp come back in `invaliduser` as WeCom does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_http import TokenGate, json_body, ok
from haina.sandbox.emulators.wecom_store import next_id, scratch, staff_by_userid
from haina.sandbox.state import SandboxState

MESSAGE_TYPES = ("text", "textcard", "markdown")
MAX_TEXT_BYTES = 2048


def app_messages(state: SandboxState) -> list[dict[str, Any]]:
    """What message/send accepted, oldest first."""
    with state.lock:
        return list(scratch(state).setdefault("app_messages", []))


def add_app_messages_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds this area's endpoints to the WeCom router."""

    @router.post("/cgi-bin/message/send")
    def send_message(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        msgtype = body.get("msgtype")
        if msgtype not in MESSAGE_TYPES or not isinstance(body.get(msgtype), dict):
            raise WeComApiError(errors.INVALID_PARAMETER, "msgtype and its content are required")
        agentid = body.get("agentid")
        if isinstance(agentid, str) and agentid.isdigit():
            agentid = int(agentid)
        if not isinstance(agentid, int) or isinstance(agentid, bool) or agentid <= 0:
            raise WeComApiError(errors.INVALID_PARAMETER, "agentid is required")
        if msgtype == "text":
            content = body["text"].get("content")
            if not isinstance(content, str) or not content or len(content.encode()) > MAX_TEXT_BYTES:
                raise WeComApiError(errors.INVALID_PARAMETER, "text.content is 1..2048 bytes")
        touser = body.get("touser") or ""
        if not isinstance(touser, str) or not touser:
            raise WeComApiError(errors.MISSING_USERID)
        staff = staff_by_userid(state)
        wanted = [userid for userid in touser.split("|") if userid]
        valid = [userid for userid in wanted if userid in staff or touser == "@all"]
        invalid = [userid for userid in wanted if userid not in valid]
        msgid = next_id(state, "msg", 40)
        with state.lock:
            scratch(state).setdefault("app_messages", []).append(
                {
                    "msgid": msgid,
                    "touser": valid,
                    "agentid": agentid,
                    "msgtype": msgtype,
                    "content": body[msgtype],
                    "sent_at": clock.now(),
                }
            )
        return ok(invaliduser="|".join(invalid), invalidparty="", invalidtag="", msgid=msgid)
