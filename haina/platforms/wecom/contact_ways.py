"""Typed calls for 「联系我」 contact ways and a member's remark on a customer (REFERENCE §1.3):
add_contact_way, get_contact_way, update_contact_way, del_contact_way, list_contact_way and
externalcontact/remark. Each takes a WeComClient; WeCom errors raise PlatformError (code =
errcode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from haina.platforms.wecom.client import WeComClient

TYPE_SINGLE = 1
TYPE_MULTIPLE = 2
SCENE_MINIPROGRAM = 1
SCENE_QR_CODE = 2
STATE_MAX_LENGTH = 30
# [UNCONFIRMED] the official remark doc gives 20 characters for remark, 150 for description.
REMARK_MAX_LENGTH = 20
DESCRIPTION_MAX_LENGTH = 150


@dataclass(frozen=True)
class NewContactWay:
    config_id: str
    qr_code: str


def add_contact_way(
    client: WeComClient,
    *,
    users: Sequence[str],
    state: str,
    remark: str = "",
    skip_verify: bool = True,
) -> NewContactWay:
    """A multi-member QR code contact way (type 2, scene 2) that reports `state` on each add.

    Type 2 even for one member: a single-member way cannot take more members later."""
    body: dict[str, Any] = {
        "type": TYPE_MULTIPLE,
        "scene": SCENE_QR_CODE,
        "remark": remark,
        "skip_verify": skip_verify,
        "state": state,
        "user": list(users),
    }
    answer = client.post("/cgi-bin/externalcontact/add_contact_way", body)
    return NewContactWay(config_id=str(answer["config_id"]), qr_code=str(answer.get("qr_code", "")))


def get_contact_way(client: WeComClient, config_id: str) -> dict[str, Any]:
    """The stored configuration (an object, as the official doc has it; an array is unwrapped)."""
    answer = client.post("/cgi-bin/externalcontact/get_contact_way", {"config_id": config_id})
    way = answer.get("contact_way") or {}
    if isinstance(way, list):  # wechatpy's fixture shape
        way = way[0] if way else {}
    return dict(way)


def update_contact_way(
    client: WeComClient,
    config_id: str,
    *,
    users: Sequence[str] | None = None,
    remark: str | None = None,
    skip_verify: bool | None = None,
    state: str | None = None,
) -> None:
    """Change a contact way; fields left None are not sent, so WeCom keeps them."""
    body: dict[str, Any] = {"config_id": config_id}
    if users is not None:
        body["user"] = list(users)
    if remark is not None:
        body["remark"] = remark
    if skip_verify is not None:
        body["skip_verify"] = skip_verify
    if state is not None:
        body["state"] = state
    client.post("/cgi-bin/externalcontact/update_contact_way", body)


def del_contact_way(client: WeComClient, config_id: str) -> None:
    client.post("/cgi-bin/externalcontact/del_contact_way", {"config_id": config_id})


def list_contact_way(
    client: WeComClient, *, start_time: int | None = None, end_time: int | None = None, limit: int = 100
) -> list[str]:
    """Every config_id created through the API in the window, following the cursor."""
    found: list[str] = []
    cursor = ""
    while True:
        body: dict[str, Any] = {"limit": limit, "cursor": cursor}
        if start_time is not None:
            body["start_time"] = start_time
        if end_time is not None:
            body["end_time"] = end_time
        answer = client.post("/cgi-bin/externalcontact/list_contact_way", body)
        found.extend(str(item["config_id"]) for item in answer.get("contact_way") or [])
        cursor = str(answer.get("next_cursor") or "")
        if not cursor:
            return found


def set_remark(
    client: WeComClient,
    userid: str,
    external_userid: str,
    *,
    remark: str | None = None,
    description: str | None = None,
    remark_mobiles: Sequence[str] | None = None,
) -> None:
    """A member's remark (and description, mobiles) on a customer: externalcontact/remark."""
    body: dict[str, Any] = {"userid": userid, "external_userid": external_userid}
    if remark is not None:
        body["remark"] = remark[:REMARK_MAX_LENGTH]
    if description is not None:
        body["description"] = description[:DESCRIPTION_MAX_LENGTH]
    if remark_mobiles is not None:
        body["remark_mobiles"] = list(remark_mobiles)
    client.post("/cgi-bin/externalcontact/remark", body)
