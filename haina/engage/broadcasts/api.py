"""REST: mass messages (群发) under /api/v1/engage/broadcasts (marketing.manage): list, create,
read with figures and per-staff confirmation, change, preview (who receives it, exclusions by
reason), send now, cancel, remind pending staff, and the per-customer monthly cap."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.orm import Session

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.broadcasts import service
from haina.engage.broadcasts.schemas import (
    BroadcastIn,
    BroadcastOut,
    CapIn,
    CapOut,
    FiguresOut,
    PreviewOut,
    PreviewRecipientOut,
    RemindOut,
    StaffOut,
)
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
BroadcastId = Annotated[str, Path(max_length=32)]


def _input(body: BroadcastIn) -> service.BroadcastInput:
    return service.BroadcastInput(
        title=body.title,
        text=body.text,
        attachments=[item.model_dump() for item in body.attachments],
        target_kind=body.target_kind,
        segment_id=body.segment_id,
        tag_filter=body.tag_filter.model_dump(),
        scheduled_at=body.scheduled_at,
    )


def _out(session: Session, tenant_id: str, broadcast: service.Broadcast) -> BroadcastOut:
    out = BroadcastOut.model_validate(broadcast)
    out.stats = FiguresOut.model_validate(service.figures_of(session, tenant_id, broadcast))
    out.staff = [StaffOut.model_validate(row) for row in service.staff_of(session, tenant_id, broadcast.id)]
    return out


@router.get("/api/v1/engage/broadcasts", response_model=list[BroadcastOut])
def list_broadcasts(actor: Manager, session: SessionDep) -> list[BroadcastOut]:
    found = []
    for row in service.list_broadcasts(session, actor.tenant_id):
        out = BroadcastOut.model_validate(row.broadcast)
        out.stats = FiguresOut.model_validate(row.figures)
        found.append(out)
    return found


@router.post("/api/v1/engage/broadcasts", response_model=BroadcastOut, status_code=201)
def create_broadcast(body: BroadcastIn, actor: Manager, session: SessionDep) -> BroadcastOut:
    broadcast = service.create_broadcast(session, actor, _input(body))
    return _out(session, actor.tenant_id, broadcast)


@router.get("/api/v1/engage/broadcasts/settings", response_model=CapOut)
def get_cap(actor: Manager, session: SessionDep) -> CapOut:
    return CapOut(monthly_cap=service.monthly_cap(session, actor.tenant_id))


@router.put("/api/v1/engage/broadcasts/settings", response_model=CapOut)
def put_cap(body: CapIn, actor: Manager, session: SessionDep) -> CapOut:
    return CapOut(monthly_cap=service.set_monthly_cap(session, actor, body.monthly_cap))


@router.get("/api/v1/engage/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def get_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> BroadcastOut:
    return _out(session, actor.tenant_id, service.get_broadcast(session, actor.tenant_id, broadcast_id))


@router.put("/api/v1/engage/broadcasts/{broadcast_id}", response_model=BroadcastOut)
def update_broadcast(
    broadcast_id: BroadcastId, body: BroadcastIn, actor: Manager, session: SessionDep
) -> BroadcastOut:
    broadcast = service.update_broadcast(session, actor, broadcast_id, _input(body))
    return _out(session, actor.tenant_id, broadcast)


@router.post("/api/v1/engage/broadcasts/{broadcast_id}/preview", response_model=PreviewOut)
def preview_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> PreviewOut:
    plan = service.preview(session, actor.tenant_id, broadcast_id)
    first = plan.recipients[: service.PREVIEW_SIZE]
    names = service.customer_names(session, actor.tenant_id, [r.customer_id for r in first])
    return PreviewOut(
        targeted=plan.targeted,
        sendable=len(plan.recipients),
        excluded=plan.excluded,
        senders={userid: len(rows) for userid, rows in plan.senders.items()},
        recipients=[
            PreviewRecipientOut(
                customer_id=r.customer_id,
                display_name=names.get(r.customer_id, ""),
                external_userid=r.external_userid,
                sender_userid=r.sender_userid,
            )
            for r in first
        ],
    )


@router.post("/api/v1/engage/broadcasts/{broadcast_id}/send", response_model=BroadcastOut)
def send_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> BroadcastOut:
    return _out(session, actor.tenant_id, service.send_now(session, actor, broadcast_id))


@router.post("/api/v1/engage/broadcasts/{broadcast_id}/cancel", response_model=BroadcastOut)
def cancel_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> BroadcastOut:
    return _out(session, actor.tenant_id, service.cancel(session, actor, broadcast_id))


@router.post("/api/v1/engage/broadcasts/{broadcast_id}/remind", response_model=RemindOut)
def remind_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> RemindOut:
    return RemindOut(reminded=service.remind(session, actor, broadcast_id))
