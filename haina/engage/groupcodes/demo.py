"""Demo data of group live codes: two codes over the sandbox corp's customer groups (real join
ways in the emulator when the corp is given), with a fortnight of scan joins for the charts."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.engage.groupcodes import service
from haina.engage.groupcodes.models import GroupCode, GroupCodeJoin
from haina.engage.groupcodes.schemas import GroupCodeIn
from haina.platforms.http import PlatformError
from haina.platforms.wecom import join_ways

# (name, member limit, groups taken from the corp, auto-create prefix)
EXAMPLES = (
    ("双十一福利群", 180, 2, "双十一福利群"),
    ("门店会员群", 150, 1, ""),
)
OFFLINE_GROUPS = ("会员福利群1", "会员福利群2", "会员福利群3", "门店老客群1", "门店老客群2")


def seed(session: Session, tenant_id: str, corp: wecom_corps.Corp | None) -> None:
    """Create the examples once (by name); with a corp, as real join ways."""
    existing = set(session.scalars(select(GroupCode.name).where(GroupCode.tenant_id == tenant_id)))
    chat_ids: list[str] = []
    if corp is not None:
        try:
            chat_ids = join_ways.list_chat_ids(corp.client, limit=20)
        except PlatformError:
            chat_ids = []
    actor = Actor(
        user_id="demo", tenant_id=tenant_id, username="demo", display_name="运营 小李", role="owner"
    )
    offset = 0
    for index, (name, limit, count, prefix) in enumerate(EXAMPLES):
        pool = chat_ids[offset : offset + count]
        offset += count
        if name in existing:
            continue
        if corp is not None and pool:
            try:
                code = service.create_code(
                    session,
                    actor,
                    GroupCodeIn(
                        name=name,
                        member_limit=limit,
                        chat_ids=pool,
                        is_auto_create=bool(prefix),
                        room_base_name=prefix,
                        room_base_id=len(pool) + 1,
                        connection_id=corp.connection.id,
                    ),
                )
            except Exception:  # noqa: BLE001 - a demo without WeCom still shows the offline example
                code = _offline(session, tenant_id, name, limit, index, count)
        else:
            code = _offline(session, tenant_id, name, limit, index, count)
        _joins(session, code, seed=index)
    session.flush()


def _offline(session: Session, tenant_id: str, name: str, limit: int, index: int, count: int) -> GroupCode:
    names = OFFLINE_GROUPS[index * 3 : index * 3 + count]
    chat_ids = [f"wrDemo{index}{position}" for position in range(len(names))]
    code = GroupCode(
        tenant_id=tenant_id,
        connection_id="",
        name=name,
        member_limit=limit,
        chat_ids=chat_ids,
        listed_chat_ids=chat_ids[1:],
        groups={
            chat_id: {"name": group, "members": limit if position == 0 else 40 + 17 * position}
            for position, (chat_id, group) in enumerate(zip(chat_ids, names, strict=True))
        },
        state=f"hgc_demo{index}",
        created_at=clock.now() - timedelta(days=14),
        updated_at=clock.now(),
    )
    session.add(code)
    session.flush()
    return code


def _joins(session: Session, code: GroupCode, *, seed: int) -> None:
    """A fortnight of joins spread over the pool, more on the weekend (demo only)."""
    generator = random.Random(seed)
    today = clock.now()
    for days_ago in range(14, 0, -1):
        moment = today - timedelta(days=days_ago)
        for number in range(generator.randint(3, 12) + (6 if moment.weekday() >= 5 else 0)):
            chat_id = code.chat_ids[min(len(code.chat_ids) - 1, (14 - days_ago) * len(code.chat_ids) // 14)]
            session.add(
                GroupCodeJoin(
                    tenant_id=code.tenant_id,
                    code_id=code.id,
                    chat_id=chat_id,
                    external_userid=f"wmDemoJoin{seed}{days_ago:02d}{number:03d}",
                    joined_at=moment,
                    day=moment.date(),
                )
            )
