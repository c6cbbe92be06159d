"""Demo data of engage.handover: two finished handovers (a 导购 who changed stores, one who left),
stored directly so the demo sandbox's relations are not moved at start-up. Idempotent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.connections import wecom_corps
from haina.core import clock
from haina.customers.models import Contact
from haina.engage.handover.models import HandoverItem, HandoverJob, HandoverKind, ItemStatus, JobStatus

EXAMPLES = (
    # kind, from, to, message, days ago, statuses of its customers
    (
        HandoverKind.IN_OFFICE,
        "ChenJing",
        "WangLiJuan",
        "您好，陈店长调往杭州湖滨店，之后由王顾问为您服务，有问题随时找我～",
        12,
        (ItemStatus.DONE, ItemStatus.DONE, ItemStatus.DONE, ItemStatus.REFUSED, ItemStatus.DONE),
    ),
    (
        HandoverKind.RESIGNED,
        "LiuJia",
        "ZhaoMin",
        "",
        3,
        (ItemStatus.DONE, ItemStatus.DONE, ItemStatus.FAILED),
    ),
)
REASONS = {ItemStatus.REFUSED: "customer_refused", ItemStatus.FAILED: "takeover_full"}


def seed(session: Session, tenant_id: str, corp: wecom_corps.Corp | None) -> None:
    """Create the examples once (nothing if the tenant already has handovers)."""
    if session.scalar(select(HandoverJob.id).where(HandoverJob.tenant_id == tenant_id).limit(1)):
        return
    contacts = list(
        session.execute(
            select(Contact.external_userid, Contact.name)
            .where(Contact.tenant_id == tenant_id)
            .order_by(Contact.external_userid)
            .limit(sum(len(example[5]) for example in EXAMPLES))
        )
    )
    now = clock.now()
    offset = 0
    for kind, giver, taker, message, days, statuses in EXAMPLES:
        started = now - timedelta(days=days)
        job = HandoverJob(
            tenant_id=tenant_id,
            connection_id=corp.connection.id if corp else "",
            kind=kind,
            handover_userid=giver,
            takeover_userid=taker,
            transfer_message=message,
            status=JobStatus.DONE,
            total=len(statuses),
            created_by="运营 小李",
            created_at=started,
            finished_at=started + timedelta(days=1),
        )
        session.add(job)
        session.flush()
        for index, status in enumerate(statuses):
            external_userid, name = (
                contacts[offset + index]
                if offset + index < len(contacts)
                else (f"wmDemoHandover{offset + index:03d}", f"演示客户{index + 1}")
            )
            session.add(
                HandoverItem(
                    tenant_id=tenant_id,
                    job_id=job.id,
                    external_userid=external_userid,
                    handover_userid=giver,
                    takeover_userid=taker,
                    contact_name=name,
                    batch=1,
                    status=status,
                    reason=REASONS.get(status, ""),
                    requested_at=started,
                    settled_at=started + timedelta(days=1),
                )
            )
        offset += len(statuses)
    session.flush()
