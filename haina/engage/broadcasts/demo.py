"""Demo data of mass messages (群发): a sent broadcast with staff confirmations and deliveries, a
scheduled one and a draft, all to a segment of the demo tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import DomainError
from haina.engage.broadcasts import service
from haina.engage.broadcasts.models import (
    BroadcastRecipient,
    BroadcastStatus,
    BroadcastTask,
    DeliveryStatus,
    TaskStatus,
)
from haina.tags import segments

DEMO_SEGMENT = "近90天下单客户"
WECOM_SEGMENT = "企微好友客户"
SAMPLE_STAFF = ("zhangwei", "lina", "wangfang")


def _segment_id(session: Session, tenant_id: str, corp: Any) -> str:
    """With a corp: the customers its members follow (so the sent broadcast reaches people);
    else the tenant's first segment, or one of recent buyers."""
    existing = segments.list_segments(session, tenant_id)
    for segment in existing:
        if segment.name == WECOM_SEGMENT:
            return segment.id
    if corp is not None:
        members = corp.client.follow_users()
        if members:
            definition = {"field": "followed_by", "op": "in", "value": members}
            return segments.create(
                session, tenant_id, name=WECOM_SEGMENT, definition=definition, created_by="demo"
            ).id
    if existing:
        return existing[0].id
    definition = {"field": "order_count", "op": ">=", "value": 1, "days": 90}
    return segments.create(session, tenant_id, name=DEMO_SEGMENT, definition=definition, created_by="demo").id


def seed(session: Session, tenant_id: str, corp: Any) -> None:
    """Idempotent: does nothing when the tenant has broadcasts. With a corp, the sent broadcast
    goes through WeCom for real (add_msg_template); without, it is recorded with sample staff."""
    if service.list_broadcasts(session, tenant_id, limit=1):
        return
    actor = Actor("demo", tenant_id, "demo", "运营 小李", "owner")
    segment_id = _segment_id(session, tenant_id, corp)
    link = [{"kind": "link", "title": "双十二预售会场", "url": "https://shop.example.com/1212"}]
    sent = service.create_broadcast(
        session,
        actor,
        service.BroadcastInput(
            title="双十二预售老客提醒",
            text="亲爱的老朋友，双十二预售已开启🎉 老客专享满199减30，修护面霜第二件半价，点击下方链接提前加购～",
            attachments=link,
            segment_id=segment_id,
        ),
    )
    if corp is not None:
        try:
            service.send_now(session, actor, sent.id)
        except DomainError:
            pass
    else:
        _record_sample_send(session, tenant_id, sent)
    now = clock.now()
    service.create_broadcast(
        session,
        actor,
        service.BroadcastInput(
            title="会员日福利预告",
            text="本周五会员日：全场满299减50，积分翻倍，记得来店里或小程序逛逛哦～",
            segment_id=segment_id,
            scheduled_at=now + timedelta(days=1),
        ),
    )
    service.create_broadcast(
        session,
        actor,
        service.BroadcastInput(
            title="换季护肤小课堂",
            text="换季干燥，早晚各一次保湿精华更安心。明晚 8 点直播间详细讲解，欢迎来提问～",
            segment_id=segment_id,
        ),
    )
    session.flush()


def _record_sample_send(session: Session, tenant_id: str, broadcast: service.Broadcast) -> None:
    now = clock.now()
    sent_at = now - timedelta(hours=6)
    customer_ids = service.target_customer_ids(session, tenant_id, broadcast)[:24]
    broadcast.status, broadcast.sent_at = BroadcastStatus.SENT, sent_at
    broadcast.figures = {"targeted": len(customer_ids) + 3, "planned": len(customer_ids), "no_wecom": 3}
    for number, userid in enumerate(SAMPLE_STAFF):
        confirmed = number < 2
        msgid = f"demo-msg-{broadcast.id[:8]}-{number}"
        session.add(
            BroadcastTask(
                tenant_id=tenant_id,
                broadcast_id=broadcast.id,
                msgid=msgid,
                sender_userid=userid,
                recipient_count=len(customer_ids[number::3]),
                status=TaskStatus.CONFIRMED if confirmed else TaskStatus.PENDING,
                confirmed_at=sent_at + timedelta(minutes=20) if confirmed else None,
                created_at=sent_at,
            )
        )
        for index, customer_id in enumerate(customer_ids[number::3]):
            status = DeliveryStatus.PENDING
            if confirmed:
                status = DeliveryStatus.NOT_FRIEND if index == 0 else DeliveryStatus.SENT
            session.add(
                BroadcastRecipient(
                    tenant_id=tenant_id,
                    broadcast_id=broadcast.id,
                    customer_id=customer_id,
                    external_userid=f"wmdemo{customer_id[:16]}",
                    sender_userid=userid,
                    msgid=msgid,
                    status=status,
                    delivered_at=sent_at + timedelta(minutes=20) if status == DeliveryStatus.SENT else None,
                    created_at=sent_at,
                )
            )
    session.flush()
