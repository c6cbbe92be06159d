"""WeCom emulator: customer moments (客户朋友圈, docs 95094 / 93333): add_moment_task,
get_moment_task_result, get_moment_task, get_moment_customer_list, get_moment_list,
cancel_moment_task, and `simulate_publish_moment` (a member publishes it in their app).

State in `scratch(state)["moments"]`: {"jobs": jobid → job, "moments": moment_id → moment}.
A job answers status 2 (processing) to its first poll and 3 (done, with its result) after that.
Visible customers of a member: their customers carrying any of the moment's tags (every one of
their customers when the moment has no tag filter).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_contacts import live_tag_ids
from haina.sandbox.emulators.wecom_http import TokenGate, integer, json_body, ok, string_list
from haina.sandbox.emulators.wecom_media import check_image_media
from haina.sandbox.emulators.wecom_store import (
    contact_index,
    find_follow_user,
    next_id,
    page_after,
    require_staff,
    scratch,
    staff_by_userid,
    tags_by_id,
    unix,
)
from haina.sandbox.state import SandboxState

KEY = "moments"
MAX_ATTACHMENTS = 9
ATTACHMENT_KINDS = ("image", "video", "link")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


def moments_state(state: SandboxState) -> dict[str, Any]:
    with state.lock:
        return scratch(state).setdefault(KEY, {"jobs": {}, "moments": {}})


def visible_customers(state: SandboxState, userid: str, tag_ids: list[str]) -> list[str]:
    """The member's customers that carry any of `tag_ids` (all of them without a filter)."""
    index = contact_index(state)
    found = []
    for external_userid in index.by_userid.get(userid, []):
        contact = index.by_external_userid[external_userid]
        follow = find_follow_user(contact, userid)
        if follow is None:
            continue
        if not tag_ids or set(live_tag_ids(state, follow)) & set(tag_ids):
            found.append(external_userid)
    return found


def _validate_attachments(body: dict[str, Any]) -> list[dict[str, Any]]:
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise WeComApiError(errors.INVALID_PARAMETER, "attachments must be a list of at most 9")
    for item in attachments:
        kind = item.get("msgtype") if isinstance(item, dict) else None
        if kind not in ATTACHMENT_KINDS or not isinstance(item.get(kind), dict):
            raise WeComApiError(errors.INVALID_PARAMETER, "attachment msgtype must be image, video or link")
        if kind == "link" and not item["link"].get("url"):
            raise WeComApiError(errors.INVALID_PARAMETER, "link.url missing")
    return attachments


def _create_job(state: SandboxState, body: dict[str, Any]) -> str:
    text = body.get("text") or {}
    content = text.get("content", "") if isinstance(text, dict) else ""
    attachments = _validate_attachments(body)
    check_image_media(state, attachments, moment=True)
    if not (isinstance(content, str) and content.strip()) and not attachments:
        # [UNCONFIRMED] code: the doc says only that text and attachments cannot both be empty.
        raise WeComApiError(errors.INVALID_PARAMETER, "text.content and attachments are both empty")
    visible = body.get("visible_range") or {}
    senders = visible.get("sender_list") or {} if isinstance(visible, dict) else {}
    contacts = visible.get("external_contact_list") or {} if isinstance(visible, dict) else {}
    user_list = string_list(senders, "user_list") if isinstance(senders, dict) else []
    tag_list = string_list(contacts, "tag_list") if isinstance(contacts, dict) else []
    known_staff = staff_by_userid(state)
    corp_tags = tags_by_id(state)
    invalid_users = [userid for userid in user_list if userid not in known_staff]
    invalid_tags = [t for t in tag_list if t not in corp_tags or corp_tags[t][1].deleted]
    tags = [t for t in tag_list if t not in invalid_tags]
    if user_list:
        senders_ok = [userid for userid in user_list if userid in known_staff]
    else:
        # Only a customer range: the task goes to the members who follow those customers.
        senders_ok = [
            member.userid
            for member in state.world.staff
            if not tag_list or visible_customers(state, member.userid, tags)
        ]
    result: dict[str, Any] = {
        "errcode": 0,
        "errmsg": "ok",
        "invalid_sender_list": {"user_list": invalid_users, "department_list": []},
        "invalid_external_contact_list": {"tag_list": invalid_tags},
    }
    moment_id = ""
    if not senders_ok or (tag_list and not tags):
        # [UNCONFIRMED] what the result says when nobody is left to publish it.
        result.update(errcode=errors.NO_RECIPIENTS, errmsg=errors.message_for(errors.NO_RECIPIENTS))
    else:
        moment_id = next_id(state, "mom", 32)
        result["moment_id"] = moment_id
    jobid = next_id(state, "job", 32)
    data = moments_state(state)
    with state.lock:
        data["jobs"][jobid] = {"polls": 0, "result": result}
        if moment_id:
            data["moments"][moment_id] = {
                "moment_id": moment_id,
                "creator": "",
                "create_time": unix(clock.now()),
                "create_type": 1,  # made by the corp (0 would be a member's own post)
                "visible_type": 0 if tags else 1,
                "text": {"content": content},
                "attachments": body.get("attachments") or [],
                "senders": {userid: 0 for userid in senders_ok},
                "tag_list": tags,
                "cancelled": False,
            }
    return jobid


def _moment(state: SandboxState, moment_id: Any) -> dict[str, Any]:
    moment = moments_state(state)["moments"].get(moment_id) if isinstance(moment_id, str) else None
    if moment is None:
        raise WeComApiError(errors.INVALID_PARAMETER, "invalid moment_id")
    return moment


def add_moments_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds this area's endpoints to the WeCom router."""

    @router.post("/cgi-bin/externalcontact/add_moment_task")
    def add_moment_task(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        return ok(jobid=_create_job(state, body))

    # Official: GET ?jobid=; a POST with {jobid} is accepted too.
    @router.api_route("/cgi-bin/externalcontact/get_moment_task_result", methods=["GET", "POST"])
    async def get_moment_task_result(request: Request, _: str = Depends(gate)) -> dict[str, Any]:
        jobid = request.query_params.get("jobid", "")
        if request.method == "POST":
            jobid = str((await json_body(request)).get("jobid") or jobid)
        data = moments_state(state)
        with state.lock:
            job = data["jobs"].get(jobid)
            if job is None:
                raise WeComApiError(errors.INVALID_PARAMETER, "invalid jobid")
            job["polls"] += 1
            if job["polls"] < 2:
                return ok(status=2, type="add_moment_task")
            return ok(status=3, type="add_moment_task", result=job["result"])

    @router.post("/cgi-bin/externalcontact/get_moment_task")
    def get_moment_task(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        moment = _moment(state, body.get("moment_id"))
        limit = min(max(integer(body, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        rows = [{"userid": u, "publish_status": s} for u, s in moment["senders"].items()]
        page, cursor = page_after(rows, lambda row: (row["userid"],), str(body.get("cursor") or ""), limit)
        return ok(task_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/get_moment_customer_list")
    def get_moment_customer_list(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        moment = _moment(state, body.get("moment_id"))
        userid = require_staff(state, body.get("userid"))
        if userid not in moment["senders"]:
            raise WeComApiError(errors.INVALID_PARAMETER, "the member is not a sender of this moment")
        limit = min(max(integer(body, "limit", DEFAULT_LIMIT), 1), MAX_LIMIT)
        rows = [
            {"userid": userid, "external_userid": e}
            for e in visible_customers(state, userid, moment["tag_list"])
        ]
        page, cursor = page_after(
            rows, lambda row: (row["external_userid"],), str(body.get("cursor") or ""), limit
        )
        return ok(customer_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/get_moment_list")
    def get_moment_list(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        start, end = integer(body, "start_time", 0), integer(body, "end_time", 0)
        if not start or not end or end < start:
            raise WeComApiError(errors.INVALID_PARAMETER, "start_time and end_time are required")
        creator = body.get("creator") or ""
        filter_type = integer(body, "filter_type", 2)  # 0 corp's, 1 members' own, 2 all
        limit = min(max(integer(body, "limit", 20), 1), 20)
        rows = []
        for moment in moments_state(state)["moments"].values():
            if not start <= moment["create_time"] <= end:
                continue
            if filter_type in (0, 1) and moment["create_type"] != (1 if filter_type == 0 else 0):
                continue
            if creator and moment["creator"] != creator:
                continue
            rows.append(
                {
                    key: moment[key]
                    for key in ("moment_id", "creator", "create_time", "create_type", "visible_type", "text")
                }
            )
        page, cursor = page_after(
            rows, lambda row: (row["create_time"], row["moment_id"]), str(body.get("cursor") or ""), limit
        )
        return ok(moment_list=page, next_cursor=cursor)

    @router.post("/cgi-bin/externalcontact/cancel_moment_task")
    def cancel_moment_task(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        moment = _moment(state, body.get("moment_id"))
        with state.lock:
            moment["cancelled"] = True
        return ok()


def simulate_publish_moment(state: SandboxState, moment_id: str, userid: str) -> list[str]:
    """A member publishes the corp's moment in their WeCom app; answers who can now see it."""
    moment = _moment(state, moment_id)
    if moment["cancelled"]:
        raise WeComApiError(errors.INVALID_PARAMETER, "the moment was cancelled")
    if userid not in moment["senders"]:
        raise WeComApiError(errors.INVALID_PARAMETER, "the member was not asked to publish it")
    with state.lock:
        moment["senders"][userid] = 1
    return visible_customers(state, userid, moment["tag_list"])
