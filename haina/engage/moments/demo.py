"""Demo data of customer moments: a sent moment with publishing progress and a draft."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.engage.moments import service
from haina.engage.moments.models import MomentStaff, MomentStatus


def seed(session: Session, tenant_id: str, corp: Any) -> None:
    """Idempotent: does nothing when the tenant has moments. With a corp, the sent moment goes
    through WeCom for real (add_moment_task); without, it is recorded as sent with sample staff."""
    if service.list_moments(session, tenant_id, limit=1):
        return
    actor = Actor("demo", tenant_id, "demo", "运营 小李", "owner")
    link = [{"kind": "link", "title": "双十二预售会场", "url": "https://shop.example.com/1212"}]
    sent = service.create_moment(
        session,
        actor,
        service.MomentInput(
            text="双十二预售开启🎉 老客专享满199减30，修护面霜第二件半价，戳链接提前加购～", attachments=link
        ),
    )
    if corp is not None:
        service.send_moment(session, actor, sent.id)
    else:
        now = clock.now()
        sent.status, sent.moment_id, sent.sent_at = MomentStatus.SENT, "demo-moment", now - timedelta(hours=5)
        for number, userid in enumerate(("zhangwei", "lina", "wangfang", "liuyang")):
            session.add(
                MomentStaff(
                    tenant_id=tenant_id,
                    moment_id=sent.id,
                    userid=userid,
                    is_published=number < 3,
                    published_seen_at=now - timedelta(hours=4) if number < 3 else None,
                    checked_at=now,
                )
            )
    service.create_moment(
        session,
        actor,
        service.MomentInput(text="换季护肤小课堂：干皮姐妹记得早晚各一次保湿精华，明晚 8 点直播间详细讲解～"),
    )
    session.flush()
