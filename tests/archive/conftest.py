"""Archive fixtures: a small WeCom world whose chats cover every message type across two key
versions, served by the sandbox on a loopback port, and helpers to pull and to act as a role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from haina.archive.sources import SandboxDecryptor, WeComHttpSource
from haina.core.auth.actor import Actor
from haina.platforms.base import Credentials, Endpoint
from haina.platforms.wecom.client import WeComClient
from haina.sandbox.emulators.wecom import generate_archive_key_pair, set_archive_public_key
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ChatMessage, Staff, World
from tests.platforms.live_sandbox import LiveSandbox, serve

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CORP_ID = "wwarchive0001"
SECRET = "msgaudit-secret"
ROCKY, TOMMY = "rocky", "tommy"
CUSTOMER_A, CUSTOMER_B = "wmCustomerA000000000001", "wmCustomerB000000000002"

# (msgtype, content, sender, to) — every documented type, and one the archive does not know.
SCRIPT: list[tuple[str, dict[str, Any], str, str]] = [
    ("text", {"content": "您好，我買的小棕瓶精華用了過敏，要退款"}, CUSTOMER_A, ROCKY),
    ("text", {"content": "非常抱歉，我们和服务员核实一下订单"}, ROCKY, CUSTOMER_A),
    ("text", {"content": "有事打我电话 13812345678"}, ROCKY, CUSTOMER_A),
    ("image", {"md5sum": "50de", "filesize": 70961, "sdkfileid": "opaque-1"}, CUSTOMER_A, ROCKY),
    ("voice", {"md5sum": "a1", "voice_size": 4000, "play_length": 3, "sdkfileid": "opaque-2"}, CUSTOMER_A, ROCKY),
    ("video", {"md5sum": "b2", "filesize": 90000, "play_length": 9, "sdkfileid": "opaque-3"}, CUSTOMER_A, ROCKY),
    ("file", {"md5sum": "c3", "filename": "售后退货单.pdf", "fileext": "pdf", "filesize": 1, "sdkfileid": "o4"}, ROCKY, CUSTOMER_A),
    ("link", {"title": "双十一满199减30", "description": "会员专享", "link_url": "https://x.invalid", "image_url": ""}, ROCKY, CUSTOMER_A),
    ("emotion", {"type": 1, "width": 100, "height": 100, "imagesize": 10, "md5sum": "d", "sdkfileid": "o5"}, CUSTOMER_A, ROCKY),
    ("agree", {"userid": CUSTOMER_A, "agree_time": 1}, CUSTOMER_A, ROCKY),
    ("disagree", {"userid": CUSTOMER_B, "disagree_time": 1}, CUSTOMER_B, TOMMY),
    ("mixed", {"item": [{"type": "text", "content": '{"content":"快递一直没有收到货"}'}, {"type": "image", "content": "{}"}]}, CUSTOMER_B, TOMMY),
    ("location", {"longitude": 121.4, "latitude": 31.2, "address": "上海市徐汇区", "title": "门店", "zoom": 15}, TOMMY, CUSTOMER_B),
    ("card", {"corpname": "海纳美妆", "userid": TOMMY}, TOMMY, CUSTOMER_B),
    ("chatrecord", {"title": "聊天记录", "item": [{"type": "ChatRecordText", "msgtime": 1, "content": '{"content":"差评警告"}', "from_chatroom": False}]}, TOMMY, CUSTOMER_B),
    ("meeting_voice_call", {"endtime": 1, "sdkfileid": "o6"}, TOMMY, CUSTOMER_B),
    ("text", {"content": "我要投诉，你们的快递太慢了"}, CUSTOMER_B, TOMMY),
    ("hologram", {"frames": 3}, CUSTOMER_B, TOMMY),
]  # fmt: skip


def script_messages() -> list[ChatMessage]:
    messages = []
    for index, (msgtype, content, sender, to) in enumerate(SCRIPT, start=1):
        messages.append(
            ChatMessage(
                seq=index,
                msgid=f"msg{index:04d}",
                action="send",
                sender=sender,
                tolist=[to],
                roomid="",
                msgtime=START + timedelta(minutes=index),
                msgtype=msgtype,
                content=content,
                publickey_ver=1 if index <= 9 else 2,
            )
        )
    seq = len(messages) + 1
    messages.append(
        ChatMessage(seq, f"msg{seq:04d}", "recall", ROCKY, [CUSTOMER_A], "", START + timedelta(minutes=seq),
                    "revoke", {"pre_msgid": "msg0003"}, 2)
    )  # fmt: skip
    seq += 1
    messages.append(
        ChatMessage(
            seq, f"msg{seq:04d}", "switch", ROCKY, [], "", START + timedelta(minutes=seq), "switch", {}, 2
        )
    )
    return messages


@pytest.fixture(scope="session")
def key_pairs() -> dict[int, tuple[str, str]]:
    return {1: generate_archive_key_pair(), 2: generate_archive_key_pair(), 3: generate_archive_key_pair()}


@pytest.fixture
def sandbox(key_pairs: dict[int, tuple[str, str]]) -> Iterator[LiveSandbox]:
    world = World(
        seed=1,
        merchant_name="海纳美妆",
        corp_id=CORP_ID,
        corp_secret=SECRET,
        callback_token="callbacktoken",
        callback_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        staff=[Staff(ROCKY, "罗琪", "13900000001"), Staff(TOMMY, "汤米", "13900000002")],
    )
    world.messages = script_messages()
    state = SandboxState(world)
    for version, (_, public_pem) in key_pairs.items():
        set_archive_public_key(state, version, public_pem)
    with serve(state) as live:
        yield live


@dataclass
class Intake:
    source: WeComHttpSource
    decryptor: SandboxDecryptor


@pytest.fixture
def intake(sandbox: LiveSandbox) -> Iterator[Intake]:
    client = WeComClient(Credentials(CORP_ID, SECRET), Endpoint(sandbox.base_url("wecom")))
    yield Intake(WeComHttpSource(client), SandboxDecryptor())
    client.close()


def actor_of(tenant: Any, role: str) -> Actor:
    return Actor(tenant.users[role], tenant.id, tenant.usernames[role], role, role)


def set_wecom_userid(database: Any, user_id: str, userid: str) -> None:
    from haina.core.auth.models import User

    with database.unit_of_work() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.wecom_userid = userid


def add_keys(
    database: Any, tenant: Any, key_pairs: dict[int, tuple[str, str]], versions: tuple[int, ...] = (1, 2)
) -> None:
    from haina.archive import service

    with database.unit_of_work() as session:
        for version in versions:
            service.add_key(
                session, actor_of(tenant, "owner"), database.settings, version, key_pairs[version][0]
            )


def more_messages(extra: list[tuple[str, dict[str, Any], str, str]], first: int) -> list[ChatMessage]:
    """(msgtype, content, sender, to) as chat messages after the script's, from seq `first`, a
    minute apart, under key version 2."""
    return [
        ChatMessage(seq, f"msg{seq:04d}", "send", sender, [to], "", START + timedelta(minutes=seq), msgtype, content, 2)
        for seq, (msgtype, content, sender, to) in enumerate(extra, start=first)
    ]  # fmt: skip


def message_ids(database: Any) -> dict[str, int]:
    """msgid → stored message id."""
    from sqlalchemy import select

    from haina.archive.models import ArchiveMessage

    with database.unit_of_work() as session:
        return dict(session.execute(select(ArchiveMessage.msgid, ArchiveMessage.id)).tuples().all())
