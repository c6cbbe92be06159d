"""Application messages to members (message/send, official doc 90236)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from haina.platforms.wecom.client import WeComClient

# WeCom's agentid is a 32-bit integer (an application's id, such as 1000002).
AGENTID_MAX = 2**31 - 1


def is_agentid(value: int) -> bool:
    """Whether `value` can be an application's agentid (what the settings pages accept)."""
    return 0 < value <= AGENTID_MAX


@dataclass(frozen=True)
class SendResult:
    msgid: str
    invalid_users: list[str]


def send_text(client: WeComClient, agentid: int, userids: list[str], content: str) -> SendResult:
    """A text message from the app `agentid` to these members."""
    body: dict[str, Any] = {
        "touser": "|".join(userids),
        "msgtype": "text",
        "agentid": agentid,
        "text": {"content": content},
    }
    answer = client.post("/cgi-bin/message/send", body)
    invalid = str(answer.get("invaliduser") or "")
    return SendResult(str(answer.get("msgid") or ""), [item for item in invalid.split("|") if item])
