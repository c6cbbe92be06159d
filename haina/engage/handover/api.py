"""REST: staff handovers (/api/v1/engage/handovers): start one, follow its progress and
per-customer results, export them, and list the customers of members who left. All need
marketing.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.handover import service
from haina.engage.handover.models import HandoverJob
from haina.engage.handover.schemas import HandoverIn, HandoverItemOut, HandoverOut, ResignedMemberOut
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage handover"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
HandoverId = Annotated[str, Path(max_length=32)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _out(job: HandoverJob, progress: service.Progress) -> HandoverOut:
    out = HandoverOut.model_validate(job)
    out.counts = dict(progress.counts)
    out.percent = progress.percent
    return out


@router.get("/api/v1/engage/handovers", response_model=list[HandoverOut])
def list_handovers(actor: Manager, session: SessionDep) -> list[HandoverOut]:
    return [_out(job, progress) for job, progress in service.list_jobs(session, actor.tenant_id)]


@router.post("/api/v1/engage/handovers", response_model=HandoverOut, status_code=201)
def start_handover(body: HandoverIn, actor: Manager, session: SessionDep) -> HandoverOut:
    """Starts a handover: customers over WeCom's 90-day limit are refused at once, the rest sent
    in batches of 100."""
    job = service.start_handover(
        session,
        actor.tenant_id,
        kind=body.kind,
        handover_userid=body.handover_userid,
        takeover_userid=body.takeover_userid,
        external_userids=body.external_userids,
        message=body.transfer_message,
        created_by=actor.display_name or actor.username,
    )
    return _out(job, service.progress(session, job))


@router.get("/api/v1/engage/handovers/unassigned", response_model=list[ResignedMemberOut])
def unassigned(actor: Manager, session: SessionDep) -> list[ResignedMemberOut]:
    """Members who left and their customers waiting for a new member (离职待分配)."""
    return [
        ResignedMemberOut(
            userid=member.userid,
            dimission_time=member.dimission_time,
            external_userids=member.external_userids,
        )
        for member in service.unassigned(session, actor.tenant_id)
    ]


@router.get("/api/v1/engage/handovers/{handover_id}", response_model=HandoverOut)
def get_handover(handover_id: HandoverId, actor: Manager, session: SessionDep) -> HandoverOut:
    job = service.get_job(session, actor.tenant_id, handover_id)
    return _out(job, service.progress(session, job))


@router.get("/api/v1/engage/handovers/{handover_id}/items", response_model=list[HandoverItemOut])
def handover_items(handover_id: HandoverId, actor: Manager, session: SessionDep) -> list[HandoverItemOut]:
    return [
        HandoverItemOut.model_validate(item) for item in service.items(session, actor.tenant_id, handover_id)
    ]


@router.post("/api/v1/engage/handovers/{handover_id}/poll", response_model=HandoverOut)
def poll_handover(handover_id: HandoverId, actor: Manager, session: SessionDep) -> HandoverOut:
    """Reads WeCom's transfer results now instead of waiting for the periodic poll."""
    job = service.get_job(session, actor.tenant_id, handover_id)
    service.poll_job(session, job)
    return _out(job, service.progress(session, job))


@router.get("/api/v1/engage/handovers/{handover_id}/export")
def export_handover(handover_id: HandoverId, actor: Manager, session: SessionDep) -> Response:
    content = service.export_xlsx(session, actor.tenant_id, handover_id)
    audit.record(
        session, "engage.handover.exported", actor=actor, target_type="handover", target_id=handover_id
    )
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="handover-{handover_id}.xlsx"'},
    )
