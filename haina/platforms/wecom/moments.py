"""Customer moments endpoints (客户朋友圈, docs 95094 and 93333).

Typed wrappers over a WeComClient; errors raise PlatformError (code = errcode).

* add_moment_task: an asynchronous job; its jobid is polled with get_moment_task_result until
  status 3 (done), whose result names the moment_id and the senders and tags WeCom refused.
* get_moment_task: per member, whether they have published it (publish_status 0 / 1).
* get_moment_customer_list: the customers one member's post is visible to.
* cancel_moment_task: stop a moment that members have not all published yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from haina.platforms.wecom.client import WeComClient

MAX_ATTACHMENTS = 9
MAX_TEXT_LENGTH = 2000  # [UNCONFIRMED] the doc gives no byte limit for text.content
PAGE_LIMIT = 1000

# get_moment_task_result status
JOB_STARTED = 1
JOB_PROCESSING = 2
JOB_DONE = 3

# get_moment_task publish_status
UNPUBLISHED = 0
PUBLISHED = 1


@dataclass(frozen=True)
class TaskResult:
    status: int
    errcode: int = 0
    errmsg: str = ""
    moment_id: str = ""
    invalid_userids: list[str] = field(default_factory=list)
    invalid_department_ids: list[int] = field(default_factory=list)
    invalid_tag_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PublishStatus:
    userid: str
    is_published: bool


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def attachment(kind: str, *, media_id: str = "", title: str = "", url: str = "") -> dict[str, Any]:
    """One attachment of add_moment_task: image / video {media_id}, link {title, url, media_id}."""
    if kind == "link":
        link: dict[str, Any] = {"title": title, "url": url}
        if media_id:
            link["media_id"] = media_id
        return {"msgtype": "link", "link": link}
    return {"msgtype": kind, kind: {"media_id": media_id}}


def add_moment_task(
    client: WeComClient,
    *,
    text: str,
    attachments: Sequence[dict[str, Any]] = (),
    userids: Sequence[str] = (),
    department_ids: Sequence[int] = (),
    tag_ids: Sequence[str] = (),
) -> str:
    """Start a moment task; answers the jobid. Empty senders = every member in the app's range."""
    body: dict[str, Any] = {}
    if text:
        body["text"] = {"content": text}
    if attachments:
        body["attachments"] = list(attachments)[:MAX_ATTACHMENTS]
    visible: dict[str, Any] = {}
    if userids or department_ids:
        visible["sender_list"] = {"user_list": list(userids), "department_list": list(department_ids)}
    if tag_ids:
        visible["external_contact_list"] = {"tag_list": list(tag_ids)}
    if visible:
        body["visible_range"] = visible
    answer = client.post("/cgi-bin/externalcontact/add_moment_task", body)
    return str(answer.get("jobid") or "")


def get_moment_task_result(client: WeComClient, jobid: str) -> TaskResult:
    """The state of an add_moment_task job (official: GET with ?jobid=)."""
    answer = client.get("/cgi-bin/externalcontact/get_moment_task_result", {"jobid": jobid})
    status = answer.get("status")
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    assert isinstance(result, dict)
    senders = result.get("invalid_sender_list") or {}
    contacts = result.get("invalid_external_contact_list") or {}
    departments = senders.get("department_list") if isinstance(senders, dict) else []
    return TaskResult(
        status=status if isinstance(status, int) else JOB_STARTED,
        errcode=int(result.get("errcode") or 0),
        errmsg=str(result.get("errmsg") or ""),
        moment_id=str(result.get("moment_id") or ""),
        invalid_userids=_strings(senders.get("user_list")) if isinstance(senders, dict) else [],
        invalid_department_ids=[int(d) for d in departments or [] if isinstance(d, int)],
        invalid_tag_ids=_strings(contacts.get("tag_list")) if isinstance(contacts, dict) else [],
    )


def get_moment_task(client: WeComClient, moment_id: str) -> list[PublishStatus]:
    """Every member asked to publish the moment and whether they have, all pages."""
    found: list[PublishStatus] = []
    cursor = ""
    while True:
        answer = client.post(
            "/cgi-bin/externalcontact/get_moment_task",
            {"moment_id": moment_id, "cursor": cursor, "limit": PAGE_LIMIT},
        )
        for row in answer.get("task_list") or []:
            if isinstance(row, dict) and row.get("userid"):
                found.append(PublishStatus(str(row["userid"]), row.get("publish_status") == PUBLISHED))
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return found


def get_moment_customer_list(client: WeComClient, moment_id: str, userid: str) -> list[str]:
    """The external_userids one member's post of the moment is visible to, all pages."""
    found: list[str] = []
    cursor = ""
    while True:
        answer = client.post(
            "/cgi-bin/externalcontact/get_moment_customer_list",
            {"moment_id": moment_id, "userid": userid, "cursor": cursor, "limit": PAGE_LIMIT},
        )
        for row in answer.get("customer_list") or []:
            if isinstance(row, dict) and row.get("external_userid"):
                found.append(str(row["external_userid"]))
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return found


def cancel_moment_task(client: WeComClient, moment_id: str) -> None:
    """Stop a moment task ([UNCONFIRMED] path and body from the changelog, not the main doc)."""
    client.post("/cgi-bin/externalcontact/cancel_moment_task", {"moment_id": moment_id})
