"""REST: the tenant's retention policy, a preview of what it deletes, purging now and the purge
history (chats.manage)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from haina.archive import schedule as _schedule  # noqa: F401 - registers the minute's intake job
from haina.archive.retention import service
from haina.archive.retention import tasks as _tasks  # noqa: F401 - registers the daily purge job
from haina.archive.retention.models import MAX_DAYS, MIN_DAYS, ArchivePurge
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(prefix="/api/v1/archive/retention", tags=["archive"])

ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
Days = Annotated[int | None, Query(ge=MIN_DAYS, le=MAX_DAYS)]


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_days: int | None = Field(default=None, description="30..3650; null = keep forever")
    media_keep_days: int | None = Field(
        default=None, description="30..3650, ≤ keep_days; null = with the messages"
    )


class PreviewOut(BaseModel):
    keep_days: int | None
    media_keep_days: int | None
    cutoff: datetime | None
    messages: int
    conversations: int
    media_messages: int
    oldest: datetime | None

    @classmethod
    def of(cls, value: service.Preview) -> PreviewOut:
        return cls(
            keep_days=value.policy.keep_days,
            media_keep_days=value.policy.media_keep_days,
            cutoff=value.cutoff,
            messages=value.messages,
            conversations=value.conversations,
            media_messages=value.media_messages,
            oldest=value.oldest,
        )


class PurgeOut(BaseModel):
    id: str
    started_at: datetime
    finished_at: datetime | None
    by: str
    keep_days: int | None
    media_keep_days: int | None
    cutoff: datetime
    media_cutoff: datetime | None
    messages: int
    conversations: int
    tokens: int
    alerts: int
    media_messages: int

    @classmethod
    def of(cls, row: ArchivePurge) -> PurgeOut:
        return cls.model_validate(row, from_attributes=True)


@router.get("", response_model=PreviewOut)
def get_policy(actor: ChatsManager, session: SessionDep) -> PreviewOut:
    """The saved policy and what a purge now would delete under it."""
    return PreviewOut.of(service.preview(session, actor.tenant_id, clock.now()))


@router.get("/preview", response_model=PreviewOut)
def preview_policy(
    actor: ChatsManager, session: SessionDep, keep_days: Days = None, media_keep_days: Days = None
) -> PreviewOut:
    """What a purge now would delete under a proposed policy (nothing is saved)."""
    policy = service.check_policy(keep_days, media_keep_days)
    return PreviewOut.of(service.preview(session, actor.tenant_id, clock.now(), policy))


@router.put("", response_model=PreviewOut)
def set_policy(body: PolicyIn, actor: ChatsManager, session: SessionDep) -> PreviewOut:
    """Save the policy (audited). Nothing is deleted until the next purge (daily, or POST /purge)."""
    service.set_policy(session, actor, body.keep_days, body.media_keep_days)
    return PreviewOut.of(service.preview(session, actor.tenant_id, clock.now()))


@router.post("/purge", response_model=PurgeOut, status_code=201)
def purge_now(actor: ChatsManager, session: SessionDep) -> PurgeOut:
    """Apply the saved policy now (audited, recorded in the purge history)."""
    return PurgeOut.of(service.purge(session, actor.tenant_id, clock.now(), actor=actor))


@router.get("/purges", response_model=list[PurgeOut])
def purge_history(
    actor: ChatsManager, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[PurgeOut]:
    return [PurgeOut.of(row) for row in service.history(session, actor.tenant_id, limit)]
