"""REST: who is told about keyword alerts (read: chats.read; save: chats.manage) and how each
alert was notified (chats.read, within the reader's chat scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from haina.archive.alerts import service
from haina.archive.alerts.schemas import AlertSettingsIn, AlertSettingsOut, NotificationOut
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(prefix="/api/v1/archive/alerts", tags=["archive"])

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]


@router.get("/settings", response_model=AlertSettingsOut)
def get_settings(actor: ChatsReader, session: SessionDep) -> AlertSettingsOut:
    return AlertSettingsOut.of(service.get_settings(session, actor.tenant_id))


@router.put("/settings", response_model=AlertSettingsOut)
def save_settings(body: AlertSettingsIn, actor: ChatsManager, session: SessionDep) -> AlertSettingsOut:
    saved = service.save_settings(
        session,
        actor.tenant_id,
        is_enabled=body.is_enabled,
        agentid=body.agentid,
        supervisor_userids=body.supervisor_userids,
        notify_member=body.notify_member,
        rule_recipients=body.rule_recipients,
        actor=actor,
    )
    return AlertSettingsOut.of(saved)


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    actor: ChatsReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> list[NotificationOut]:
    rows = service.list_notifications(session, actor, limit=limit, offset=offset)
    return [NotificationOut.of(row) for row in rows]
