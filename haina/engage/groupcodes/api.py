"""REST: group live codes (群活码) under /api/v1/engage/group-codes: list, create, read, change,
delete, refresh now (read the pool and rotate), statistics, and the corp's customer groups to
choose a pool from. Everything needs marketing.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.groupcodes import service
from haina.engage.groupcodes.models import GroupCode
from haina.engage.groupcodes.schemas import (
    AvailableGroupOut,
    DayCountOut,
    GroupCodeIn,
    GroupCodeListOut,
    GroupCodeOut,
    GroupCodePatch,
    GroupCountOut,
    PoolGroupOut,
    StatsOut,
)
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
GroupCodeId = Annotated[str, Path(max_length=32)]
BASE = "/api/v1/engage/group-codes"


def _out(code: GroupCode, joins: int) -> GroupCodeOut:
    out = GroupCodeOut.model_validate(code)
    out.pool = [
        PoolGroupOut(
            chat_id=group.chat_id,
            name=group.name,
            members=group.members,
            limit=group.limit,
            is_full=group.is_full,
            is_listed=group.is_listed,
            is_auto_created=group.is_auto_created,
            is_dismissed=group.is_dismissed,
        )
        for group in service.pool_groups(code)
    ]
    out.joins = joins
    return out


def _one(session: Session, tenant_id: str, code: GroupCode) -> GroupCodeOut:
    return _out(code, service.join_totals(session, tenant_id, [code]).get(code.id, 0))


@router.get(BASE, response_model=GroupCodeListOut)
def list_codes(actor: Manager, session: SessionDep) -> GroupCodeListOut:
    codes = service.list_codes(session, actor.tenant_id)
    totals = service.join_totals(session, actor.tenant_id, codes)
    return GroupCodeListOut(items=[_out(code, totals.get(code.id, 0)) for code in codes])


@router.post(BASE, response_model=GroupCodeOut, status_code=201)
def create_code(body: GroupCodeIn, actor: Manager, session: SessionDep) -> GroupCodeOut:
    return _one(session, actor.tenant_id, service.create_code(session, actor, body))


@router.get(f"{BASE}/groups", response_model=list[AvailableGroupOut])
def available_groups(actor: Manager, session: SessionDep) -> list[AvailableGroupOut]:
    return [
        AvailableGroupOut(chat_id=chat.chat_id, name=chat.name, members=chat.member_count)
        for chat in service.available_groups(session, actor.tenant_id)
    ]


@router.get(BASE + "/{group_code_id}", response_model=GroupCodeOut)
def get_code(group_code_id: GroupCodeId, actor: Manager, session: SessionDep) -> GroupCodeOut:
    return _one(session, actor.tenant_id, service.get_code(session, actor.tenant_id, group_code_id))


@router.patch(BASE + "/{group_code_id}", response_model=GroupCodeOut)
def update_code(
    group_code_id: GroupCodeId, body: GroupCodePatch, actor: Manager, session: SessionDep
) -> GroupCodeOut:
    return _one(session, actor.tenant_id, service.update_code(session, actor, group_code_id, body))


@router.delete(BASE + "/{group_code_id}", status_code=204)
def delete_code(group_code_id: GroupCodeId, actor: Manager, session: SessionDep) -> Response:
    service.delete_code(session, actor, group_code_id)
    return Response(status_code=204)


@router.post(BASE + "/{group_code_id}/refresh", response_model=GroupCodeOut)
def refresh_code(group_code_id: GroupCodeId, actor: Manager, session: SessionDep) -> GroupCodeOut:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    service.refresh(session, actor.tenant_id, code)
    return _one(session, actor.tenant_id, code)


@router.get(BASE + "/{group_code_id}/stats", response_model=StatsOut)
def code_stats(
    group_code_id: GroupCodeId,
    actor: Manager,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> StatsOut:
    stats = service.stats(session, actor.tenant_id, group_code_id, days=days)
    return StatsOut(
        code_id=group_code_id,
        total=stats.total,
        today=stats.today,
        days=[DayCountOut(day=day, joins=count) for day, count in stats.days],
        groups=[
            GroupCountOut(chat_id=chat_id, name=name, joins=count) for chat_id, name, count in stats.groups
        ],
    )
