"""WeCom emulator: customer group join ways (群活码): groupchat/add_join_way, get_join_way,
update_join_way, del_join_way (official doc 92229), a QR image per join way, and
`simulate_join_via_join_way`, a customer scanning one.

State in `scratch(state)["join_ways"]`: {"ways": config_id → stored join way, "member_cap":
members a customer group holds (WeCom's default 200; tests lower it)}.

What WeCom does on a scan: the scanner joins the first listed group with room; when every listed
group is full and auto_create_room is 1, WeCom creates a group named room_base_name +
room_base_id (the id then increments), owned by the first group's owner.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import WeComApiError
from haina.sandbox.emulators.wecom_events import group_changes
from haina.sandbox.emulators.wecom_http import (
    TokenGate,
    emulator_url,
    integer,
    json_body,
    ok,
    qr_png,
    string_list,
)
from haina.sandbox.emulators.wecom_push import send
from haina.sandbox.emulators.wecom_store import find_group_chat, next_id, scratch
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact, GroupChat, GroupMember

SCRATCH_KEY = "join_ways"
DEFAULT_MEMBER_CAP = 200
MAX_CHATS = 5
STATE_MAX_LENGTH = 30
REMARK_MAX_LENGTH = 30  # [UNCONFIRMED] the doc does not give remark's length; 30 like contact ways
JOIN_SCENE_QR = 3
_INTERNAL_KEYS = ("scans",)


def _data(state: SandboxState) -> dict[str, Any]:
    with state.lock:
        data = scratch(state).setdefault(SCRATCH_KEY, {})
        data.setdefault("ways", {})
        data.setdefault("member_cap", DEFAULT_MEMBER_CAP)
        return data


def set_group_member_cap(state: SandboxState, cap: int) -> None:
    """How many members a customer group holds in this sandbox (WeCom: 200 by default)."""
    _data(state)["member_cap"] = cap


def join_way(state: SandboxState, config_id: str) -> dict[str, Any]:
    """The stored join way (KeyError if unknown), for tests."""
    return _data(state)["ways"][config_id]


def _checked(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    """The fields of add/update_join_way, validated the way WeCom validates them."""
    scene = integer(body, "scene", 0)
    if scene == 0:
        raise WeComApiError(errors.MISSING_CONTACT_WAY_SCENE)  # [UNCONFIRMED] code shared with contact ways
    if scene not in (1, 2):
        raise WeComApiError(errors.INVALID_CONTACT_WAY_SCENE)  # [UNCONFIRMED]
    chat_ids = string_list(body, "chat_id_list")
    if not 1 <= len(chat_ids) <= MAX_CHATS:
        raise WeComApiError(errors.INVALID_PARAMETER, f"chat_id_list must hold 1..{MAX_CHATS} chat ids")
    if len(set(chat_ids)) != len(chat_ids):
        raise WeComApiError(errors.INVALID_PARAMETER, "chat_id_list has duplicates")
    for chat_id in chat_ids:
        chat = find_group_chat(state, chat_id)
        if chat is None or chat.status != 0:
            raise WeComApiError(errors.INVALID_CHAT_ID, chat_id)
    auto_create = integer(body, "auto_create_room", 1)  # the doc's default is 1
    if auto_create not in (0, 1):
        raise WeComApiError(errors.INVALID_PARAMETER, "auto_create_room must be 0 or 1")
    room_base_name = body.get("room_base_name") or ""
    room_base_id = integer(body, "room_base_id", 1)
    if not isinstance(room_base_name, str) or (auto_create and not room_base_name):
        # [UNCONFIRMED] WeCom's exact code for a missing room_base_name
        raise WeComApiError(errors.INVALID_PARAMETER, "room_base_name is required with auto_create_room")
    remark = body.get("remark") or ""
    state_param = body.get("state") or ""
    if not isinstance(remark, str) or len(remark) > REMARK_MAX_LENGTH:
        raise WeComApiError(errors.INVALID_PARAMETER, "remark is too long")
    if not isinstance(state_param, str) or len(state_param) > STATE_MAX_LENGTH:
        raise WeComApiError(errors.INVALID_PARAMETER, f"state must be at most {STATE_MAX_LENGTH} characters")
    return {
        "scene": scene,
        "remark": remark,
        "auto_create_room": auto_create,
        "room_base_name": room_base_name,
        "room_base_id": room_base_id,
        "chat_id_list": list(chat_ids),
        "state": state_param,
    }


def _config_id(body: dict[str, Any]) -> str:
    config_id = body.get("config_id")
    if not config_id or not isinstance(config_id, str):
        raise WeComApiError(errors.MISSING_CONFIG_ID)
    return config_id


def _stored(state: SandboxState, config_id: str) -> dict[str, Any]:
    way = _data(state)["ways"].get(config_id)
    if way is None:
        raise WeComApiError(errors.INVALID_CONFIG_ID)
    return way


def add_join_ways_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    """Adds this area's endpoints to the WeCom router."""

    @router.post("/cgi-bin/externalcontact/groupchat/add_join_way")
    def add_join_way(
        request: Request, _: str = Depends(gate), body: dict = Depends(json_body)
    ) -> dict[str, Any]:
        with state.lock:
            way = _checked(state, body)
            config_id = next_id(state, "", 32)
            way["config_id"] = config_id
            way["scans"] = 0
            if way["scene"] == 2:
                way["qr_code"] = emulator_url(request, "wecom_join_way_qr", config_id=config_id)
            _data(state)["ways"][config_id] = way
        return ok(config_id=config_id)

    @router.post("/cgi-bin/externalcontact/groupchat/get_join_way")
    def get_join_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        with state.lock:
            way = _stored(state, _config_id(body))
            answer = {key: value for key, value in way.items() if key not in _INTERNAL_KEYS}
            answer["chat_id_list"] = list(way["chat_id_list"])
        return ok(join_way=answer)

    @router.post("/cgi-bin/externalcontact/groupchat/update_join_way")
    def update_join_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        with state.lock:
            way = _stored(state, _config_id(body))
            way.update(_checked(state, body))
        return ok()

    @router.post("/cgi-bin/externalcontact/groupchat/del_join_way")
    def del_join_way(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        with state.lock:
            config_id = _config_id(body)
            _stored(state, config_id)
            del _data(state)["ways"][config_id]
        return ok()

    @router.get("/join_way_qr/{config_id}", name="wecom_join_way_qr")
    def join_way_qr(config_id: str) -> Response:
        if config_id not in _data(state)["ways"]:
            return Response(status_code=404)
        return Response(qr_png(f"https://work.weixin.qq.com/gm/{config_id}"), media_type="image/png")


def simulate_join_via_join_way(state: SandboxState, config_id: str, contact: ExternalContact) -> str:
    """A customer scans the join way's QR code and joins a group; returns its chat_id.

    The first listed group with fewer members than the sandbox's cap takes them; when all are
    full and auto_create_room is set, a new group is created (and listed). Pushes the
    change_external_chat callbacks WeCom sends. Raises KeyError for an unknown config_id and
    ValueError when every group is full and nothing may be created.
    """
    with state.lock:
        data = _data(state)
        way = data["ways"][config_id]
        cap = data["member_cap"]
        chats = [find_group_chat(state, chat_id) for chat_id in way["chat_id_list"]]
        listed = [chat for chat in chats if chat is not None and chat.status == 0]
        member = GroupMember(
            userid=contact.external_userid,
            type=2,
            join_time=clock.now(),
            join_scene=JOIN_SCENE_QR,
            unionid=contact.unionid,
        )
        # Somebody already inside stays where they are (WeCom opens the group they are in).
        for chat in listed:
            if any(existing.userid == contact.external_userid for existing in chat.members):
                return chat.chat_id
        target = next((chat for chat in listed if len(chat.members) < cap), None)
        if target is None:
            if not way["auto_create_room"] or not listed:
                raise ValueError(f"every group of join way {config_id} is full")
            owner = listed[0].owner
            target = GroupChat(
                chat_id=next_id(state, "wr", 30),
                name=f"{way['room_base_name']}{way['room_base_id']}",
                owner=owner,
                create_time=clock.now(),
                members=[GroupMember(userid=owner, type=1, join_time=clock.now(), join_scene=1)],
            )
            way["room_base_id"] += 1
            state.world.groups.append(target)
            # [UNCONFIRMED] WeCom lists the created group on the join way; past five groups the
            # oldest full one leaves the list.
            way["chat_id_list"].append(target.chat_id)
            if len(way["chat_id_list"]) > MAX_CHATS:
                way["chat_id_list"].pop(0)
            callbacks = group_changes(state, target)  # create
            target.members.append(member)
        else:
            callbacks = []
            target.members.append(member)
        way["scans"] += 1
        callbacks += group_changes(state, target)  # update add_member, JoinScene 3
    for callback in callbacks:
        send(state, callback)
    state.notify("groups", target)  # for other listeners; ours finds nothing new
    return target.chat_id
