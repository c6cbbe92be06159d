"""Engagement endpoints of the WeCom emulator: 「联系我」 contact ways, customer groups, welcome
messages and mass messages (REFERENCE §1.3)."""

from __future__ import annotations

import hashlib
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_events import member_version, simulate_scan_contact_way
from haina.sandbox.emulators.wecom_http import (
    TokenGate,
    emulator_url,
    integer,
    json_body,
    ok,
    qr_png,
    string_list,
)
from haina.sandbox.emulators.wecom_media import check_image_media
from haina.sandbox.emulators.wecom_store import (
    WELCOME_CODE_LIFETIME,
    contact_index,
    find_contact,
    find_follow_user,
    find_group_chat,
    next_id,
    page_after,
    require_staff,
    scratch,
    staff_by_userid,
    tags_by_id,
    unix,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact, GroupChat

CONTACT_WAY_STATE_MAX_LENGTH = 30
CONTACT_WAY_MAX_USERS = 100
CONTACT_WAY_LIST_MAX_LIMIT = 1000
SCAN_CUSTOMER_NAMES = ("林小满", "陈思远", "王可欣", "赵一鸣", "周晓雯", "吴昊天", "孙悦", "郑佳怡")
GROUP_LIST_MAX_LIMIT = 1000
MAX_ATTACHMENTS = 9
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
# Stored with each contact way but not part of WeCom's answer.
_INTERNAL_WAY_KEYS = ("scans", "created_at")


def _message_content(body: dict[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The text and attachments of a welcome or mass message, checked the way WeCom checks them."""
    text = body.get("text")
    if text is not None and not (isinstance(text, dict) and isinstance(text.get("content"), str)):
        raise WeComApiError(errors.INVALID_PARAMETER, "text.content must be a string")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise WeComApiError(errors.INVALID_PARAMETER, f"at most {MAX_ATTACHMENTS} attachments")
    for attachment in attachments:
        kind = attachment.get("msgtype") if isinstance(attachment, dict) else None
        if kind not in ATTACHMENT_TYPES or not isinstance(attachment.get(kind), dict):
            raise WeComApiError(errors.INVALID_PARAMETER, f"unsupported attachment {kind!r}")
    if not (text and text["content"]) and not attachments:
        raise WeComApiError(errors.INVALID_PARAMETER, "text or attachments is required")
    return text, attachments


def render_group_chat(state: SandboxState, chat: GroupChat, need_name: bool) -> dict[str, Any]:
    staff = staff_by_userid(state)
    members = []
    for member in chat.members:
        data: dict[str, Any] = {
            "userid": member.userid,
            "type": member.type,
            "join_time": unix(member.join_time),
            "join_scene": member.join_scene,
        }
        if member.type == 2 and member.unionid:
            data["unionid"] = member.unionid
        if member.invitor:
            data["invitor"] = {"userid": member.invitor}
        if need_name:
            if member.type == 1:
                data["name"] = staff[member.userid].name if member.userid in staff else ""
            else:
                contact = find_contact(state, member.userid)
                data["name"] = contact.name if contact else ""
        members.append(data)
    return {
        "chat_id": chat.chat_id,
        "name": chat.name,
        "owner": chat.owner,
        "create_time": unix(chat.create_time),
        "notice": chat.notice,
        "member_list": members,
        "admin_list": [{"userid": userid} for userid in chat.admin_list],
        "member_version": member_version(chat),
    }


def add_engage_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    @router.post("/cgi-bin/externalcontact/add_contact_way")
    def add_contact_way(
        request: Request, _: str = Depends(gate), body: dict = Depends(json_body)
    ) -> dict[str, Any]:
        way = _new_contact_way(state, body)
        if way["scene"] == 2:
            way["qr_code"] = emulator_url(request, "wecom_contact_way_qr", config_id=way["config_id"])
        with state.lock:
            scratch(state)["contact_ways"][way["config_id"]] = way
        answer = ok(config_id=way["config_id"])
        if "qr_code" in way:
            answer["qr_code"] = way["qr_code"]
        return answer

    @router.post("/cgi-bin/externalcontact/get_contact_way")
    def get_contact_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        config_id = body.get("config_id")
        if not config_id:
            raise WeComApiError(errors.MISSING_CONFIG_ID)
        with state.lock:
            way = scratch(state)["contact_ways"].get(config_id)
            if way is None:
                raise WeComApiError(errors.INVALID_CONFIG_ID, str(config_id))
            # An object, as the official doc has it (REFERENCE §1.3), not wechatpy's array.
            return ok(contact_way={key: value for key, value in way.items() if key not in _INTERNAL_WAY_KEYS})

    @router.post("/cgi-bin/externalcontact/update_contact_way")
    def update_contact_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        config_id = body.get("config_id")
        if not config_id:
            raise WeComApiError(errors.MISSING_CONFIG_ID)
        with state.lock:
            way = scratch(state)["contact_ways"].get(config_id)
            if way is None:
                raise WeComApiError(errors.INVALID_CONFIG_ID, str(config_id))
            _update_contact_way(state, way, body)
        return ok()

    @router.post("/cgi-bin/externalcontact/del_contact_way")
    def del_contact_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        config_id = body.get("config_id")
        if not config_id:
            raise WeComApiError(errors.MISSING_CONFIG_ID)
        with state.lock:
            if scratch(state)["contact_ways"].pop(config_id, None) is None:
                raise WeComApiError(errors.INVALID_CONFIG_ID, str(config_id))
        return ok()

    @router.post("/cgi-bin/externalcontact/list_contact_way")
    def list_contact_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        # [UNCONFIRMED] official doc: start_time/end_time default to the last 90 days, limit at
        # most 1000 (default 100); only ways made through the API are listed.
        now = unix(clock.now())
        end_time = integer(body, "end_time", now)
        start_time = integer(body, "start_time", end_time - 90 * 86400)
        limit = integer(body, "limit", 100)
        if not 1 <= limit <= CONTACT_WAY_LIST_MAX_LIMIT:
            raise WeComApiError(errors.INVALID_PARAMETER, f"limit must be 1..{CONTACT_WAY_LIST_MAX_LIMIT}")
        with state.lock:
            ways = [
                way
                for way in scratch(state)["contact_ways"].values()
                if start_time <= unix(way["created_at"]) <= end_time
            ]
        page, next_cursor = page_after(
            ways,
            lambda way: (unix(way["created_at"]), way["config_id"]),
            str(body.get("cursor") or ""),
            limit,
        )
        return ok(contact_way=[{"config_id": way["config_id"]} for way in page], next_cursor=next_cursor)

    @router.get("/contact_way_qr/{config_id}", name="wecom_contact_way_qr")
    def contact_way_qr(request: Request, config_id: str) -> Response:
        # Sandbox only: where WeCom serves the code's image, a real QR code (PNG) that points at
        # the sandbox's scan page, so a phone or a demo click "scans" it.
        with state.lock:
            way = scratch(state)["contact_ways"].get(config_id)
        if way is None:
            return Response(status_code=404)
        target = emulator_url(request, "wecom_contact_way_scan", config_id=config_id)
        return Response(qr_png(target), media_type="image/png")

    @router.get("/scan/{config_id}", name="wecom_contact_way_scan")
    def contact_way_scan(config_id: str) -> Response:
        # Sandbox only: opening this page acts out a brand-new customer scanning the code.
        try:
            contact = new_scanning_customer(state)
            userid, _ = simulate_scan_contact_way(state, config_id, contact)
        except KeyError:
            return Response(
                "<p>没有这个活码 (unknown contact way)</p>", status_code=404, media_type="text/html"
            )
        page = (
            '<!doctype html><meta charset="utf-8"><title>扫码添加</title>'
            f"<p data-scan-result>客户 {escape(contact.name)} 已添加成员 {escape(userid)}</p>"
        )
        return Response(page, media_type="text/html; charset=utf-8")

    @router.post("/cgi-bin/externalcontact/groupchat/list")
    def groupchat_list(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        status_filter = integer(body, "status_filter", 0)
        if status_filter not in (0, 1, 2, 3):
            raise WeComApiError(errors.INVALID_PARAMETER, "status_filter must be 0..3")
        limit = integer(body, "limit", 0)
        if not 1 <= limit <= GROUP_LIST_MAX_LIMIT:
            raise WeComApiError(errors.INVALID_PARAMETER, f"limit must be 1..{GROUP_LIST_MAX_LIMIT}")
        owner_filter = body.get("owner_filter") or {}
        owners = set(string_list(owner_filter, "userid_list")) if isinstance(owner_filter, dict) else set()
        chats = [
            chat
            for chat in list(state.world.groups)
            if (not status_filter or chat.status == status_filter) and (not owners or chat.owner in owners)
        ]
        cursor = body.get("cursor") or ""
        page, next_cursor = page_after(chats, lambda chat: (chat.chat_id,), str(cursor), limit)
        return ok(
            group_chat_list=[{"chat_id": chat.chat_id, "status": chat.status} for chat in page],
            next_cursor=next_cursor,
        )

    @router.post("/cgi-bin/externalcontact/groupchat/get")
    def groupchat_get(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        chat_id = body.get("chat_id")
        chat = find_group_chat(state, chat_id) if isinstance(chat_id, str) else None
        if chat is None:
            raise WeComApiError(errors.INVALID_CHAT_ID, str(chat_id))
        return ok(group_chat=render_group_chat(state, chat, need_name=body.get("need_name") == 1))

    @router.post("/cgi-bin/externalcontact/send_welcome_msg")
    def send_welcome_msg(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        code = body.get("welcome_code")
        if not code or not isinstance(code, str):
            raise WeComApiError(errors.MISSING_WELCOME_CODE)
        text, attachments = _message_content(body)
        check_image_media(state, attachments, moment=False)
        with state.lock:
            data = scratch(state)
            issued = data["welcome_codes"].get(code)
            if issued is None or clock.now() - issued.issued_at > WELCOME_CODE_LIFETIME:
                raise WeComApiError(errors.INVALID_WELCOME_CODE)
            if issued.used:
                # Once the welcome message went out, member and customer are chatting.
                raise WeComApiError(errors.ALREADY_CHATTING)
            issued.used = True
            data["welcome_messages"].append(
                {
                    "welcome_code": code,
                    "userid": issued.userid,
                    "external_userid": issued.external_userid,
                    "text": text,
                    "attachments": attachments,
                    "sent_at": clock.now(),
                }
            )
        return ok()

    @router.post("/cgi-bin/externalcontact/add_msg_template")
    def add_msg_template(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        text, attachments = _message_content(body)
        check_image_media(state, attachments, moment=False)
        chat_type = body.get("chat_type") or "single"
        sender = body.get("sender") or ""
        if sender:
            require_staff(state, sender)
        if chat_type == "single":
            recipients, fail_list = _single_recipients(state, body, sender)
        elif chat_type == "group":
            recipients, fail_list = _group_recipients(state, body, sender)
        else:
            raise WeComApiError(errors.INVALID_PARAMETER, "chat_type must be single or group")
        if not recipients:
            raise WeComApiError(errors.NO_RECIPIENTS)
        msgid = next_id(state, "msg")
        with state.lock:
            scratch(state)["mass_messages"][msgid] = {
                "msgid": msgid,
                "chat_type": chat_type,
                "sender": sender,
                "recipients": recipients,
                "fail_list": fail_list,
                "text": text,
                "attachments": attachments,
                "allow_select": bool(body.get("allow_select", False)),
                "created_at": clock.now(),
            }
        return ok(fail_list=fail_list, msgid=msgid)


def _new_contact_way(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    if "type" not in body:
        raise WeComApiError(errors.MISSING_CONTACT_WAY_TYPE)
    if "scene" not in body:
        raise WeComApiError(errors.MISSING_CONTACT_WAY_SCENE)
    way_type, scene = body["type"], body["scene"]
    if way_type not in (1, 2):
        raise WeComApiError(errors.INVALID_CONTACT_WAY_TYPE)
    if scene not in (1, 2):
        raise WeComApiError(errors.INVALID_CONTACT_WAY_SCENE)
    way_state = body.get("state") or ""
    if not isinstance(way_state, str) or len(way_state) > CONTACT_WAY_STATE_MAX_LENGTH:
        raise WeComApiError(
            errors.INVALID_PARAMETER, f"state takes at most {CONTACT_WAY_STATE_MAX_LENGTH} characters"
        )
    users = string_list(body, "user")
    parties = body.get("party") or []
    if not isinstance(parties, list) or not all(isinstance(party, int) for party in parties):
        raise WeComApiError(errors.INVALID_PARAMETER, "party must be a list of department ids")
    for userid in users:
        require_staff(state, userid)
    members = list(dict.fromkeys(users + [m.userid for m in state.world.staff if m.department in parties]))
    if not members:
        raise WeComApiError(errors.INVALID_PARAMETER, "user or party is required")
    if way_type == 1 and (len(users) != 1 or parties):
        raise WeComApiError(errors.INVALID_PARAMETER, "a single-member contact way takes exactly one user")
    if len(members) > CONTACT_WAY_MAX_USERS:
        raise WeComApiError(errors.CONTACT_WAY_TOO_MANY_USERS)
    is_temp = bool(body.get("is_temp", False))
    way: dict[str, Any] = {
        "config_id": hashlib.md5(next_id(state, "way").encode()).hexdigest(),
        "type": way_type,
        "scene": scene,
        "style": body.get("style", 1),
        "remark": body.get("remark", ""),
        "skip_verify": bool(body.get("skip_verify", True)),
        "state": way_state,
        "user": members,
        "party": parties,
        "is_temp": is_temp,
        "is_exclusive": bool(body.get("is_exclusive", False)),
    }
    if is_temp:
        way.update(
            expires_in=body.get("expires_in", 7 * 86400),
            chat_expires_in=body.get("chat_expires_in", 86400),
            unionid=body.get("unionid", ""),
            conclusions=body.get("conclusions", {}),
        )
    way["scans"] = 0
    way["created_at"] = clock.now()
    return way


def _update_contact_way(state: SandboxState, way: dict[str, Any], body: dict[str, Any]) -> None:
    """Fields present in the body replace the stored ones; user/party, when given, replace both."""
    if "state" in body:
        way_state = body.get("state") or ""
        if not isinstance(way_state, str) or len(way_state) > CONTACT_WAY_STATE_MAX_LENGTH:
            raise WeComApiError(
                errors.INVALID_PARAMETER, f"state takes at most {CONTACT_WAY_STATE_MAX_LENGTH} characters"
            )
        way["state"] = way_state
    if "user" in body or "party" in body:
        users = string_list(body, "user")
        parties = body.get("party") or []
        if not isinstance(parties, list) or not all(isinstance(party, int) for party in parties):
            raise WeComApiError(errors.INVALID_PARAMETER, "party must be a list of department ids")
        for userid in users:
            require_staff(state, userid)
        members = list(
            dict.fromkeys(users + [m.userid for m in state.world.staff if m.department in parties])
        )
        if not members:
            raise WeComApiError(errors.INVALID_PARAMETER, "user or party is required")
        if way["type"] == 1 and (len(users) != 1 or parties):
            # [UNCONFIRMED] WeCom's answer when a single-member way is given several members.
            raise WeComApiError(
                errors.INVALID_PARAMETER, "a single-member contact way takes exactly one user"
            )
        if len(members) > CONTACT_WAY_MAX_USERS:
            raise WeComApiError(errors.CONTACT_WAY_TOO_MANY_USERS)
        way["user"], way["party"] = members, parties
    for key in ("remark", "style", "expires_in", "chat_expires_in", "unionid", "conclusions"):
        if key in body:
            way[key] = body[key]
    if "skip_verify" in body:
        way["skip_verify"] = bool(body["skip_verify"])


def new_scanning_customer(state: SandboxState) -> ExternalContact:
    """A WeChat user the world has never seen, about to scan a code."""
    external_userid = "wm" + next_id(state, "scan", 30)
    name = SCAN_CUSTOMER_NAMES[
        int(hashlib.md5(external_userid.encode()).hexdigest(), 16) % len(SCAN_CUSTOMER_NAMES)
    ]
    return ExternalContact(
        external_userid=external_userid,
        person_id="",
        name=name,
        type=1,
        gender=0,
        unionid="o" + next_id(state, "union", 27),
        avatar="",
        created_at=clock.now(),
    )


def _matches_tag_filter(state: SandboxState, contact: ExternalContact, sender: str, tag_filter: Any) -> bool:
    """True when the customer has, for every group of the filter, at least one of its tags."""
    groups = tag_filter.get("group_list") if isinstance(tag_filter, dict) else None
    if not groups:
        return True
    followers = [find_follow_user(contact, sender)] if sender else contact.follow_users
    owned = {tag_id for follow_user in followers if follow_user for tag_id in follow_user.tag_ids}
    known = tags_by_id(state)
    owned = {tag_id for tag_id in owned if tag_id in known and not known[tag_id][1].deleted}
    for group in groups:
        wanted = set(group.get("tag_list") or []) if isinstance(group, dict) else set()
        if wanted and not wanted & owned:
            return False
    return True


def _single_recipients(
    state: SandboxState, body: dict[str, Any], sender: str
) -> tuple[list[dict[str, str]], list[str]]:
    requested = string_list(body, "external_userid")
    index = contact_index(state)
    fail_list: list[str] = []
    if requested:
        candidates = []
        for external_userid in dict.fromkeys(requested):
            contact = index.by_external_userid.get(external_userid)
            if (
                contact is None
                or not contact.follow_users
                or (sender and not find_follow_user(contact, sender))
            ):
                fail_list.append(external_userid)
            else:
                candidates.append(contact)
    elif sender:
        candidates = [index.by_external_userid[eu] for eu in index.by_userid.get(sender, [])]
    else:
        candidates = [contact for contact in state.world.contacts if contact.follow_users]
    recipients = []
    for contact in candidates:
        if _matches_tag_filter(state, contact, sender, body.get("tag_filter")):
            # Without a sender each customer gets it once, from their first member.
            userid = sender or contact.follow_users[0].userid
            recipients.append({"userid": userid, "external_userid": contact.external_userid})
    return recipients, fail_list


def _group_recipients(
    state: SandboxState, body: dict[str, Any], sender: str
) -> tuple[list[dict[str, str]], list[str]]:
    if not sender:
        raise WeComApiError(errors.MISSING_USERID, "sender is required for chat_type group")
    requested = string_list(body, "chat_id_list")
    owned = [chat for chat in state.world.groups if chat.owner == sender]
    if not requested:
        return [{"userid": sender, "chat_id": chat.chat_id} for chat in owned], []
    owned_ids = {chat.chat_id for chat in owned}
    recipients = [{"userid": sender, "chat_id": chat_id} for chat_id in requested if chat_id in owned_ids]
    return recipients, [chat_id for chat_id in requested if chat_id not in owned_ids]
