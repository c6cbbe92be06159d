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
from haina.sandbox.emulators.wecom_events import member_version
from haina.sandbox.emulators.wecom_http import TokenGate, integer, json_body, ok, string_list
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
            way["qr_code"] = str(request.url_for("wecom_contact_way_qr", config_id=way["config_id"]))
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

    @router.get("/contact_way_qr/{config_id}", name="wecom_contact_way_qr")
    def contact_way_qr(config_id: str) -> Response:
        # Sandbox only: a placeholder image where WeCom would serve the real QR code.
        with state.lock:
            way = scratch(state)["contact_ways"].get(config_id)
        if way is None:
            return Response(status_code=404)
        label = escape(f"联系我 {way.get('state') or config_id[:8]}")
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240">'
            '<rect width="240" height="240" fill="#fff" stroke="#07c160" stroke-width="8"/>'
            f'<text x="120" y="125" font-size="16" text-anchor="middle">{label}</text></svg>'
        )
        return Response(svg, media_type="image/svg+xml")

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
