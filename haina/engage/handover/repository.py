"""Queries of engage.handover; every one scoped to a tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.handover.models import COUNTED, HandoverItem, HandoverJob, JobStatus

CHUNK = 500


def get_job(session: Session, tenant_id: str, job_id: str) -> HandoverJob:
    job = session.get(HandoverJob, (tenant_id, job_id))
    if job is None:
        raise NotFound("handover job not found", code="handover_not_found")
    return job


def list_jobs(session: Session, tenant_id: str, *, limit: int = 50) -> list[HandoverJob]:
    statement = (
        select(HandoverJob)
        .where(HandoverJob.tenant_id == tenant_id)
        .order_by(HandoverJob.created_at.desc(), HandoverJob.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def running_jobs(session: Session, tenant_id: str) -> list[HandoverJob]:
    statement = select(HandoverJob).where(
        HandoverJob.tenant_id == tenant_id, HandoverJob.status == JobStatus.RUNNING
    )
    return list(session.scalars(statement.order_by(HandoverJob.created_at)))


def items_of(
    session: Session, tenant_id: str, job_id: str, *, status: str | None = None
) -> list[HandoverItem]:
    statement = select(HandoverItem).where(HandoverItem.tenant_id == tenant_id, HandoverItem.job_id == job_id)
    if status:
        statement = statement.where(HandoverItem.status == status)
    return list(session.scalars(statement.order_by(HandoverItem.batch, HandoverItem.external_userid)))


def status_counts(session: Session, tenant_id: str, job_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return counts
    statement = (
        select(HandoverItem.job_id, HandoverItem.status, func.count())
        .where(HandoverItem.tenant_id == tenant_id, HandoverItem.job_id.in_(list(job_ids)))
        .group_by(HandoverItem.job_id, HandoverItem.status)
    )
    for job_id, status, count in session.execute(statement):
        counts[job_id][status] = int(count)
    return counts


def transfers_since(
    session: Session, tenant_id: str, external_userids: Sequence[str], since: datetime
) -> dict[str, int]:
    """How many counted transfers each customer had since `since`."""
    found: dict[str, int] = {}
    wanted = sorted(set(external_userids))
    for start in range(0, len(wanted), CHUNK):
        statement = (
            select(HandoverItem.external_userid, func.count())
            .where(
                HandoverItem.tenant_id == tenant_id,
                HandoverItem.external_userid.in_(wanted[start : start + CHUNK]),
                HandoverItem.status.in_(COUNTED),
                HandoverItem.requested_at > since,
            )
            .group_by(HandoverItem.external_userid)
        )
        for external_userid, count in session.execute(statement):
            found[external_userid] = int(count)
    return found


def recent_transfer(
    session: Session, tenant_id: str, external_userid: str, handover_userid: str, since: datetime
) -> HandoverItem | None:
    statement = (
        select(HandoverItem)
        .where(
            HandoverItem.tenant_id == tenant_id,
            HandoverItem.external_userid == external_userid,
            HandoverItem.handover_userid == handover_userid,
            HandoverItem.status.in_(COUNTED),
            HandoverItem.requested_at > since,
        )
        .limit(1)
    )
    return session.scalar(statement)
