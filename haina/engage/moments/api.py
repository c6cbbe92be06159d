"""REST: customer moments under /api/v1/engage/moments (marketing.manage): list, compose (draft
or send at once), read with per-member publish status, send, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.moments import service
from haina.engage.moments.schemas import MomentIn, MomentOut, MomentStaffOut
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
MomentId = Annotated[str, Path(max_length=32)]


def _input(body: MomentIn) -> service.MomentInput:
    return service.MomentInput(
        text=body.text,
        attachments=[item.model_dump() for item in body.attachments],
        sender_mode=body.sender_mode,
        sender_userids=body.sender_userids,
        tag_ids=body.tag_ids,
    )


def _out(session: SessionDep, tenant_id: str, moment: service.Moment) -> MomentOut:
    staff = service.staff_of(session, tenant_id, moment.id)
    out = MomentOut.model_validate(moment)
    out.staff = [MomentStaffOut.model_validate(row) for row in staff]
    out.total = len(staff)
    out.published = sum(1 for row in staff if row.is_published)
    return out


@router.get("/api/v1/engage/moments", response_model=list[MomentOut])
def list_moments(actor: Manager, session: SessionDep) -> list[MomentOut]:
    found = []
    for row in service.list_moments(session, actor.tenant_id):
        out = MomentOut.model_validate(row.moment)
        out.published, out.total = row.published, row.total
        found.append(out)
    return found


@router.post("/api/v1/engage/moments", response_model=MomentOut, status_code=201)
def create_moment(body: MomentIn, actor: Manager, session: SessionDep) -> MomentOut:
    moment = service.create_moment(session, actor, _input(body))
    if body.send:
        moment = service.send_moment(session, actor, moment.id)
    return _out(session, actor.tenant_id, moment)


@router.get("/api/v1/engage/moments/{moment_id}", response_model=MomentOut)
def get_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> MomentOut:
    return _out(session, actor.tenant_id, service.get_moment(session, actor.tenant_id, moment_id))


@router.put("/api/v1/engage/moments/{moment_id}", response_model=MomentOut)
def update_moment(moment_id: MomentId, body: MomentIn, actor: Manager, session: SessionDep) -> MomentOut:
    """Edit a draft (409 once sent); `send` sends it after saving."""
    moment = service.update_moment(session, actor, moment_id, _input(body))
    if body.send:
        moment = service.send_moment(session, actor, moment.id)
    return _out(session, actor.tenant_id, moment)


@router.post("/api/v1/engage/moments/{moment_id}/send", response_model=MomentOut)
def send_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> MomentOut:
    return _out(session, actor.tenant_id, service.send_moment(session, actor, moment_id))


@router.post("/api/v1/engage/moments/{moment_id}/cancel", response_model=MomentOut)
def cancel_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> MomentOut:
    return _out(session, actor.tenant_id, service.cancel_moment(session, actor, moment_id))
