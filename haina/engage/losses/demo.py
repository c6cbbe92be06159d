"""Demo data of engage.losses: notification settings and a few alerts of the last days (stored
directly; the demo's live callbacks add real ones). Idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.customers.models import Contact
from haina.engage.losses import service
from haina.engage.losses.models import AlertKind, EndedBy, LossAlert

DEMO_AGENTID = 1000002
EXAMPLES: tuple[tuple[str, str, int, int, int, list[str], bool], ...] = (
    # ended by, member, hours ago, orders, paid fen, tags, handled
    (EndedBy.CUSTOMER, "WangLiJuan", 5, 6, 189_900, ["高价值", "复购客户"], False),
    (EndedBy.CUSTOMER, "ChenJing", 30, 1, 12_900, ["新客"], False),
    (EndedBy.STAFF, "ZhaoMin", 52, 0, 0, [], True),
    (EndedBy.CUSTOMER, "WangLiJuan", 98, 3, 56_700, ["敏感肌"], True),
    (EndedBy.CUSTOMER, "LiuJia", 150, 2, 25_800, [], False),
)


def seed(session: Session, tenant_id: str, corp: wecom_corps.Corp | None) -> None:
    """Settings (supervisor 店长) and the example alerts, once."""
    if service.get_settings(session, tenant_id).agentid is None:
        service.save_settings(
            session,
            tenant_id,
            supervisor_userids=["HuangLi"],
            notify_customer_deleted=True,
            notify_staff_deleted=True,
            agentid=DEMO_AGENTID,
        )
    if session.scalar(select(LossAlert.id).where(LossAlert.tenant_id == tenant_id).limit(1)):
        return
    contacts = list(
        session.execute(
            select(Contact.id, Contact.external_userid, Contact.name, Contact.customer_id, Contact.corp_id)
            .where(Contact.tenant_id == tenant_id)
            .order_by(Contact.external_userid.desc())
            .limit(len(EXAMPLES))
        )
    )
    now = clock.now()
    for index, (ended_by, staff, hours, orders, paid, tags, handled) in enumerate(EXAMPLES):
        if index < len(contacts):
            contact_id, external_userid, name, customer_id, corp_id = contacts[index]
        else:
            contact_id, external_userid, name, customer_id = (
                f"demo-loss-{index}",
                f"wmDemoLoss{index}",
                f"演示客户{index + 1}",
                None,
            )
            corp_id = corp.corp_id if corp else ""
        at = now - timedelta(hours=hours)
        session.add(
            LossAlert(
                tenant_id=tenant_id,
                kind=AlertKind.LOSS,
                contact_id=contact_id,
                customer_id=customer_id,
                corp_id=corp_id,
                external_userid=external_userid,
                contact_name=name,
                staff_userid=staff,
                ended_by=ended_by,
                occurred_at=at,
                order_count=orders,
                paid_fen=paid,
                tags=tags,
                notified_userids=[staff, "HuangLi"] if ended_by == EndedBy.CUSTOMER else ["HuangLi"],
                is_handled=handled,
                handled_by="店长 黄丽" if handled else "",
                handled_at=at + timedelta(hours=2) if handled else None,
                note="已电话回访，客户表示换了新手机号" if handled else "",
                created_at=at,
            )
        )
    session.flush()
