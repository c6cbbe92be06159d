"""Keyword alert fixtures: a small corp (two members, two supervisors, three customers) whose
archived chats contain a complaint with context, a phone number sent by staff and a burst of
bad reviews, served by the sandbox; the tenant is connected to the same corp, so app messages
land in the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from haina.connections import service as connections
from haina.connections import wecom_corps, wecom_staff
from haina.core import clock
from haina.sandbox.emulators.wecom import set_archive_public_key
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ChatMessage, ExternalContact, FollowUser, Staff, World
from tests.archive.conftest import CORP_ID, SECRET
from tests.platforms.live_sandbox import LiveSandbox, serve

START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
ROCKY, TOMMY, BOSS, LEAD = "rocky", "tommy", "boss", "lead"
CUSTOMER_A, CUSTOMER_B, CUSTOMER_C = (
    "wmAlertCustomerA00000001",
    "wmAlertCustomerB00000002",
    "wmAlertCustomerC00000003",
)

SCRIPT: list[tuple[str, str, str]] = [
    ("您好，请问有什么可以帮您", ROCKY, CUSTOMER_A),
    ("上周买的面霜到现在还没发货", CUSTOMER_A, ROCKY),
    ("我要投诉，你们太慢了", CUSTOMER_A, ROCKY),
    ("有事打我电话 13812345678", TOMMY, CUSTOMER_B),
    *[(f"差评！东西是坏的 #{index}", CUSTOMER_C, TOMMY) for index in range(1, 6)],
]


def chat(seq: int, text: str, sender: str, to: str, at: datetime | None = None) -> ChatMessage:
    return ChatMessage(
        seq=seq,
        msgid=f"alert{seq:04d}",
        action="send",
        sender=sender,
        tolist=[to],
        roomid="",
        msgtime=at or START + timedelta(minutes=seq),
        msgtype="text",
        content={"content": text},
        publickey_ver=1,
    )


def _contact(external_userid: str, name: str, userid: str) -> ExternalContact:
    follow = FollowUser(userid=userid, remark="", description="", createtime=START - timedelta(days=30))
    return ExternalContact(
        external_userid=external_userid,
        person_id=f"p-{external_userid}",
        name=name,
        type=1,
        gender=2,
        unionid="",
        avatar="",
        follow_users=[follow],
        created_at=START - timedelta(days=30),
    )


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    wecom_corps.forget_clients()
    wecom_staff.forget()


@pytest.fixture
def sandbox(key_pairs: dict[int, tuple[str, str]]) -> Iterator[LiveSandbox]:
    """Overrides the archive's sandbox with this module's corp and chats."""
    world = World(
        seed=3,
        merchant_name="海纳美妆",
        corp_id=CORP_ID,
        corp_secret=SECRET,
        callback_token="callbacktoken",
        callback_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        staff=[
            Staff(ROCKY, "罗琪", "13900000001"),
            Staff(TOMMY, "汤米", "13900000002"),
            Staff(BOSS, "王主管", "13900000003"),
            Staff(LEAD, "李店长", "13900000004"),
        ],
    )
    world.contacts = [
        _contact(CUSTOMER_A, "张女士", ROCKY),
        _contact(CUSTOMER_B, "陈先生", TOMMY),
        _contact(CUSTOMER_C, "刘小姐", TOMMY),
    ]
    world.messages = [chat(seq, *line) for seq, line in enumerate(SCRIPT, start=1)]
    state = SandboxState(world)
    set_archive_public_key(state, 1, key_pairs[1][1])
    with serve(state) as live:
        yield live


@pytest.fixture
def bound(database: Any) -> Any:
    """Handlers find the test database's settings (base_url, field keys) from their session."""
    connections.bind_settings(database)
    return database
