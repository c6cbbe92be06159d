"""Demo data: three channel live codes (store counter, parcel card, live room) with a month of adds
so the list and the statistics pages show live figures. Idempotent: codes are found by name."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.engage.livecodes import pool as duty_pool
from haina.engage.livecodes import service
from haina.engage.livecodes.models import ChannelKind, LiveCode, LiveCodeAdd
from haina.engage.livecodes.repository import LiveCodeRepository
from haina.platforms.http import PlatformError
from haina.platforms.wecom import contact_ways
from haina.tags import service as tags

FALLBACK_STAFF = ["zhangsan", "lisi", "wangwu"]
EXAMPLES: list[dict[str, Any]] = [
    {
        "name": "静安门店前台",
        "channel": ChannelKind.STORE_COUNTER,
        "remark_template": "{channel}-{date}",
        "description": "收银台立牌，结账时引导添加导购企业微信，领 10 元无门槛券。",
        "shifts": [
            ([1, 2, 3, 4, 5], [["10:00", "14:00"]], 40),
            ([1, 2, 3, 4, 5, 6, 7], [["14:00", "22:00"]], 60),
        ],
        "per_day": (3, 9),
    },
    {
        "name": "双十一包裹卡",
        "channel": ChannelKind.PARCEL_CARD,
        "remark_template": "包裹卡{date}",
        "description": "随双十一订单寄出的售后卡，扫码加专属顾问领取会员积分。",
        "shifts": [([1, 2, 3, 4, 5, 6, 7], [], 0)],
        "per_day": (5, 16),
    },
    {
        "name": "周五直播间福利码",
        "channel": ChannelKind.LIVE_ROOM,
        "remark_template": "直播-{staff}",
        "description": "每周五晚 8 点直播时挂在直播间的入群福利码。",
        "shifts": [([5], [["19:30", "23:30"]], 200)],
        "per_day": (0, 4),
    },
]


def _staff(corp: wecom_corps.Corp | None) -> list[str]:
    if corp is not None:
        try:
            members = corp.client.follow_users()
            if members:
                return members[:3]
        except PlatformError:
            pass
    return FALLBACK_STAFF


def seed(session: Session, tenant_id: str, corp: wecom_corps.Corp | None) -> None:
    """A few live codes with a month of adds; a code is made in WeCom when a corp is connected."""
    repository = LiveCodeRepository(session, tenant_id)
    staff = _staff(corp)
    manual = [tag for tag in tags.list_tags(session, tenant_id) if tag.kind == "manual"]
    generator = random.Random(f"livecodes:{tenant_id}")
    now = clock.now()
    for number, example in enumerate(EXAMPLES):
        if repository.by_name(example["name"]) is not None:
            continue
        members = [
            {
                "userid": staff[index % len(staff)],
                "weekdays": weekdays,
                "ranges": ranges,
                "daily_limit": limit,
            }
            for index, (weekdays, ranges, limit) in enumerate(example["shifts"])
        ]
        members = list({member["userid"]: member for member in members}.values())
        code = LiveCode(
            tenant_id=tenant_id,
            name=example["name"],
            channel=example["channel"],
            state=service.new_state(session, tenant_id),
            pool={"members": members, "backups": [staff[-1]] if len(staff) > 1 else []},
            tag_ids=[manual[number % len(manual)].id] if manual else [],
            remark_template=example["remark_template"],
            description=example["description"],
            created_by="演示数据",
            created_at=now - timedelta(days=35),
            updated_at=now,
        )
        duty = duty_pool.on_duty(service.pool_of(code.pool), now, {})
        code.duty_userids, code.duty_reason = duty.userids, duty.reason
        if corp is not None:
            try:
                way = contact_ways.add_contact_way(
                    corp.client, users=duty.userids, state=code.state, remark=code.name
                )
                code.connection_id, code.config_id, code.qr_code = (
                    corp.connection.id,
                    way.config_id,
                    way.qr_code,
                )
            except PlatformError:
                pass  # shown without a QR image
        session.add(code)
        session.flush()
        low, high = example["per_day"]
        for day in range(30, -1, -1):
            for index in range(generator.randint(low, high)):
                added_at = now - timedelta(days=day, minutes=generator.randint(0, 600))
                lost_at = added_at + timedelta(days=generator.randint(1, 20))
                lost = generator.random() < 0.12 and lost_at < now
                session.add(
                    LiveCodeAdd(
                        tenant_id=tenant_id,
                        live_code_id=code.id,
                        contact_id=f"demo{code.id[:12]}{day:02d}{index:03d}",
                        corp_id=corp.corp_id if corp else "demo",
                        external_userid=f"wmDemo{code.id[:8]}{day:02d}{index:03d}",
                        staff_userid=members[index % len(members)]["userid"],
                        added_at=added_at,
                        tags_applied=True,
                        lost_at=lost_at if lost else None,
                        lost_by="customer" if lost else "",
                    )
                )
        session.flush()
