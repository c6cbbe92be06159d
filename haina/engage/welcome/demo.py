"""Demo data of welcome messages: a default, a staff and a channel message (with link and
mini-program attachments), and a week of sends so the list shows figures and outcomes."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.engage.welcome import service
from haina.engage.welcome.models import Scope, SendStatus, WelcomeMessage, WelcomeSend
from haina.platforms.http import PlatformError

# The channel message goes to the demo's store-counter live code (seeded before this); without
# it, to a state no code has yet (a live code given this state would get the message).
DEMO_STATE = "demo-store-poster"
DEMO_STORE_CODE = "静安门店前台"
OFFLINE_STAFF = ("xiaohai", "linlin")


def _store_state(session: Session, tenant_id: str) -> str:
    from haina.engage.livecodes import service as livecodes

    codes = [code for code in livecodes.list_codes(session, tenant_id) if code.name == DEMO_STORE_CODE]
    return codes[0].state if codes else DEMO_STATE


def _examples(staff: list[str], store_state: str = DEMO_STATE) -> list[service.MessageInput]:
    return [
        service.MessageInput(
            name="新客默认欢迎语",
            scope=Scope.DEFAULT,
            text="{客户昵称}您好，我是海纳美妆的{员工姓名}～感谢添加！有任何护肤问题随时问我，新人专享券已为您准备好👇",
            attachments=[
                {
                    "type": "link",
                    "title": "新人专享 满199减30",
                    "url": "https://shop.example.com/coupon/new",
                    "desc": "领券后下单立减，7 天内有效",
                }
            ],
        ),
        service.MessageInput(
            name="导购一对一欢迎语",
            scope=Scope.STAFF,
            staff_userids=staff[:2],
            text="{客户昵称}您好，我是您的专属美妆顾问{员工姓名}，可以先告诉我您的肤质吗？我帮您搭配护肤方案。",
        ),
        service.MessageInput(
            name="门店海报欢迎语",
            scope=Scope.CHANNEL,
            state=store_state,
            text="欢迎{客户昵称}从门店扫码添加！到店出示本消息可领取小样一份。",
            attachments=[
                {
                    "type": "miniprogram",
                    "title": "海纳美妆会员中心",
                    "appid": "wx8bd80126147dfAAA",
                    "page": "/pages/member/index",
                    "pic_media_id": "demo-member-cover",
                },
                {
                    "type": "link",
                    "title": "门店地址与营业时间",
                    "url": "https://shop.example.com/stores",
                    "desc": "上海 · 静安店",
                },
            ],
        ),
    ]


def seed(session: Session, tenant_id: str, corp: wecom_corps.Corp | None) -> None:
    """Create the examples once (by name) and, the first time, a week of sends."""
    existing = set(session.scalars(select(WelcomeMessage.name).where(WelcomeMessage.tenant_id == tenant_id)))
    staff: list[str] = []
    if corp is not None:
        try:
            staff = corp.client.follow_users()
        except PlatformError:
            staff = []
    staff = staff or list(OFFLINE_STAFF)
    actor = Actor(
        user_id="demo", tenant_id=tenant_id, username="demo", display_name="运营 小李", role="owner"
    )
    created: list[WelcomeMessage] = []
    for example in _examples(staff, _store_state(session, tenant_id)):
        if example.name not in existing:
            created.append(service.create_message(session, actor, example))
    if not created:
        return
    already_sent = session.scalars(
        select(WelcomeSend.id).where(WelcomeSend.tenant_id == tenant_id).limit(1)
    ).first()
    if already_sent is not None:
        return
    chooser = random.Random(7)  # the same demo each time
    now = clock.now()
    names = ("林小满", "陈思远", "王可欣", "赵一鸣", "周晓雯", "吴昊天", "孙悦", "郑佳怡")
    for number in range(36):
        message = chooser.choice(created)
        status = chooser.choices(
            [SendStatus.SENT, SendStatus.FAILED, SendStatus.EXPIRED], weights=[30, 2, 1]
        )[0]
        staff_userid = message.staff_userids[0] if message.staff_userids else chooser.choice(staff)
        name = chooser.choice(names)
        session.add(
            WelcomeSend(
                tenant_id=tenant_id,
                welcome_code=f"demo-welcome-{number:04d}",
                message_id=message.id,
                corp_id=corp.corp_id if corp is not None else "",
                external_userid=f"wmDemoWelcome{number:04d}",
                staff_userid=staff_userid,
                state=message.state,
                status=status,
                errcode={SendStatus.FAILED: 41051, SendStatus.EXPIRED: 41050}.get(status),
                reason={
                    SendStatus.FAILED: service.REASONS[41051],
                    SendStatus.EXPIRED: service.EXPIRED_REASON,
                }.get(status, ""),
                text=service.render_text(message.text, customer_name=name, staff_name=staff_userid),
                at=now - timedelta(hours=chooser.randint(1, 24 * 7 - 1)),
            )
        )
    session.flush()
