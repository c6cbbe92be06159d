"""Typed wrappers of WeCom's mass-message calls (群发; REFERENCE §1.3, official docs 92135, 93338).

* `add_msg_template`: one member (`sender`) asked to send a text and attachments to some of their
  customers (≤10000 external_userids a call); members confirm in their app, so the answer only
  gives the msgid and the external_userids WeCom refused (`fail_list`).
* `get_groupmsg_task`: per member of a msgid, whether they sent it (status 0 unsent / 2 sent).
* `get_groupmsg_send_result`: per customer of one member's task: 0 unsent, 1 sent, 2 not a friend
  any more, 3 over the customer's receive limit.
* `cancel_groupmsg_send`, `remind_groupmsg_send`: stop a message members have not sent yet, or
  remind them in their app.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from haina.platforms.wecom.client import WeComClient

MAX_RECIPIENTS = 10_000
MAX_ATTACHMENTS = 9
TASK_PAGE = 1000
RESULT_PAGE = 1000

TASK_UNSENT = 0
TASK_SENT = 2
RESULT_UNSENT = 0
RESULT_SENT = 1
RESULT_NOT_FRIEND = 2
RESULT_OVER_LIMIT = 3


@dataclass(frozen=True)
class Created:
    msgid: str
    fail_list: list[str]


@dataclass(frozen=True)
class ListedMessage:
    msgid: str
    creator: str
    create_type: int
    text: str


@dataclass(frozen=True)
class MemberTask:
    userid: str
    status: int
    send_time: datetime | None


@dataclass(frozen=True)
class SendResult:
    external_userid: str
    userid: str
    status: int
    send_time: datetime | None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, int) and value > 0 else None


def add_msg_template(
    client: WeComClient,
    sender: str,
    external_userids: Sequence[str],
    text: str,
    attachments: Sequence[dict[str, Any]] = (),
) -> Created:
    """Ask `sender` to send a message to these of their customers (chat_type single)."""
    body: dict[str, Any] = {
        "chat_type": "single",
        "external_userid": list(external_userids)[:MAX_RECIPIENTS],
        "sender": sender,
        "allow_select": False,
    }
    if text:
        body["text"] = {"content": text}
    if attachments:
        body["attachments"] = list(attachments)[:MAX_ATTACHMENTS]
    answer = client.post("/cgi-bin/externalcontact/add_msg_template", body)
    fail_list = answer.get("fail_list")
    return Created(
        msgid=str(answer.get("msgid") or ""),
        fail_list=[str(item) for item in fail_list] if isinstance(fail_list, list) else [],
    )


def messages_between(
    client: WeComClient, start: datetime, end: datetime, *, creator: str = "", chat_type: str = "single"
) -> Iterator[ListedMessage]:
    """The corp's mass messages created in [start, end] (at most a month apart), all pages."""
    cursor = ""
    while True:
        body: dict[str, Any] = {
            "chat_type": chat_type,
            "start_time": int(start.timestamp()),
            "end_time": int(end.timestamp()),
            "limit": 100,
            "cursor": cursor,
        }
        if creator:
            body["creator"] = creator
        answer = client.post("/cgi-bin/externalcontact/get_groupmsg_list_v2", body)
        for item in answer.get("group_msg_list") or []:
            if isinstance(item, dict) and item.get("msgid"):
                text = item.get("text")
                yield ListedMessage(
                    str(item["msgid"]),
                    str(item.get("creator") or ""),
                    int(item.get("create_type") or 0),
                    str(text.get("content") or "") if isinstance(text, dict) else "",
                )
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return


def member_tasks(client: WeComClient, msgid: str) -> Iterator[MemberTask]:
    """Every member asked to send `msgid`, with whether they did (all pages)."""
    cursor = ""
    while True:
        answer = client.post(
            "/cgi-bin/externalcontact/get_groupmsg_task",
            {"msgid": msgid, "limit": TASK_PAGE, "cursor": cursor},
        )
        for item in answer.get("task_list") or []:
            if isinstance(item, dict) and item.get("userid"):
                yield MemberTask(
                    str(item["userid"]), int(item.get("status") or 0), _time(item.get("send_time"))
                )
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return


def send_results(client: WeComClient, msgid: str, userid: str) -> Iterator[SendResult]:
    """Per customer of `userid`'s task of `msgid`: unsent / sent / not a friend / over the limit."""
    cursor = ""
    while True:
        answer = client.post(
            "/cgi-bin/externalcontact/get_groupmsg_send_result",
            {"msgid": msgid, "userid": userid, "limit": RESULT_PAGE, "cursor": cursor},
        )
        for item in answer.get("send_list") or []:
            if isinstance(item, dict) and item.get("external_userid"):
                yield SendResult(
                    str(item["external_userid"]),
                    str(item.get("userid") or userid),
                    int(item.get("status") or 0),
                    _time(item.get("send_time")),
                )
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return


def cancel(client: WeComClient, msgid: str) -> None:
    """Stop `msgid` for the members who have not sent it yet."""
    client.post("/cgi-bin/externalcontact/cancel_groupmsg_send", {"msgid": msgid})


def remind(client: WeComClient, msgid: str) -> None:
    """Remind the members who have not sent `msgid` yet (WeCom allows a few reminders a day)."""
    client.post("/cgi-bin/externalcontact/remind_groupmsg_send", {"msgid": msgid})
