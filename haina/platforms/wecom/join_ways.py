"""Customer group join ways (客户群「加入群聊」, official doc 92229) and the group reads the
group live codes need: typed wrappers over a WeComClient.

A join way lists 1–5 customer groups; WeCom sends a scanner into the first listed group with
room and, with `auto_create_room`, creates `room_base_name` + `room_base_id` (incrementing)
when every listed group is full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from haina.platforms.wecom.client import WeComClient

SCENE_MINI_PROGRAM = 1
SCENE_QR = 2
MAX_CHATS = 5
STATE_MAX_LENGTH = 30
JOIN_SCENE_QR = 3  # groupchat/get member join_scene: 1 invited, 2 via link, 3 via QR


@dataclass(frozen=True)
class JoinWay:
    config_id: str
    scene: int
    remark: str
    auto_create_room: bool
    room_base_name: str
    room_base_id: int
    chat_ids: list[str]
    qr_code: str
    state: str


@dataclass(frozen=True)
class ChatMember:
    userid: str
    type: int  # 1 staff, 2 external contact
    join_time: datetime | None
    join_scene: int


@dataclass(frozen=True)
class ChatDetail:
    chat_id: str
    name: str
    owner: str
    members: list[ChatMember] = field(default_factory=list)

    @property
    def member_count(self) -> int:
        return len(self.members)


def _body(
    *,
    remark: str,
    auto_create_room: bool,
    room_base_name: str,
    room_base_id: int,
    chat_ids: list[str],
    state: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "scene": SCENE_QR,
        "remark": remark,
        "auto_create_room": 1 if auto_create_room else 0,
        "chat_id_list": chat_ids,
        "state": state,
    }
    if auto_create_room:
        body["room_base_name"] = room_base_name
        body["room_base_id"] = room_base_id
    return body


def add_join_way(
    client: WeComClient,
    *,
    remark: str,
    auto_create_room: bool,
    room_base_name: str,
    room_base_id: int,
    chat_ids: list[str],
    state: str,
) -> str:
    """groupchat/add_join_way with a QR scene; returns the config_id."""
    answer = client.post(
        "/cgi-bin/externalcontact/groupchat/add_join_way",
        _body(
            remark=remark,
            auto_create_room=auto_create_room,
            room_base_name=room_base_name,
            room_base_id=room_base_id,
            chat_ids=chat_ids,
            state=state,
        ),
    )
    return str(answer["config_id"])


def update_join_way(
    client: WeComClient,
    config_id: str,
    *,
    remark: str,
    auto_create_room: bool,
    room_base_name: str,
    room_base_id: int,
    chat_ids: list[str],
    state: str,
) -> None:
    """groupchat/update_join_way: every field is sent again (WeCom replaces the configuration)."""
    body = _body(
        remark=remark,
        auto_create_room=auto_create_room,
        room_base_name=room_base_name,
        room_base_id=room_base_id,
        chat_ids=chat_ids,
        state=state,
    )
    client.post("/cgi-bin/externalcontact/groupchat/update_join_way", {"config_id": config_id, **body})


def get_join_way(client: WeComClient, config_id: str) -> JoinWay:
    answer = client.post("/cgi-bin/externalcontact/groupchat/get_join_way", {"config_id": config_id})
    way = answer.get("join_way") or {}
    return JoinWay(
        config_id=str(way.get("config_id", config_id)),
        scene=int(way.get("scene") or SCENE_QR),
        remark=str(way.get("remark") or ""),
        auto_create_room=bool(way.get("auto_create_room")),
        room_base_name=str(way.get("room_base_name") or ""),
        room_base_id=int(way.get("room_base_id") or 0),
        chat_ids=[str(chat_id) for chat_id in way.get("chat_id_list") or []],
        qr_code=str(way.get("qr_code") or ""),
        state=str(way.get("state") or ""),
    )


def delete_join_way(client: WeComClient, config_id: str) -> None:
    client.post("/cgi-bin/externalcontact/groupchat/del_join_way", {"config_id": config_id})


def list_chat_ids(client: WeComClient, *, limit: int = 1000) -> list[str]:
    """groupchat/list: the ids of the corp's customer groups that are not dismissed, every page."""
    chat_ids: list[str] = []
    cursor = ""
    while True:
        answer = client.post(
            "/cgi-bin/externalcontact/groupchat/list",
            {"status_filter": 0, "limit": min(limit, 1000), "cursor": cursor},
        )
        chat_ids += [str(item["chat_id"]) for item in answer.get("group_chat_list") or []]
        cursor = str(answer.get("next_cursor") or "")
        if not cursor or len(chat_ids) >= limit:
            return chat_ids[:limit]


def get_chat(client: WeComClient, chat_id: str) -> ChatDetail:
    """groupchat/get: a customer group with its members."""
    answer = client.post("/cgi-bin/externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 0})
    chat = answer.get("group_chat") or {}
    members = [
        ChatMember(
            userid=str(member.get("userid") or ""),
            type=int(member.get("type") or 0),
            join_time=(
                datetime.fromtimestamp(int(member["join_time"]), UTC) if member.get("join_time") else None
            ),
            join_scene=int(member.get("join_scene") or 0),
        )
        for member in chat.get("member_list") or []
    ]
    return ChatDetail(
        chat_id=str(chat.get("chat_id") or chat_id),
        name=str(chat.get("name") or ""),
        owner=str(chat.get("owner") or ""),
        members=members,
    )
