"""REST: loss alerts (/api/v1/engage/losses): the list with filters, statistics, marking one
handled, and who is notified. All need marketing.manage."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.losses import service
from haina.engage.losses.repository import AlertFilter
from haina.engage.losses.schemas import (
    HandleIn,
    LossAlertListOut,
    LossAlertOut,
    LossSettingsIn,
    LossSettingsOut,
    LossStatisticsOut,
)
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage losses"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
LossAlertId = Annotated[str, Path(max_length=32)]


@router.get("/api/v1/engage/losses", response_model=LossAlertListOut)
def list_losses(
    actor: Manager,
    session: SessionDep,
    ended_by: Literal["", "customer", "staff"] = "",
    staff_userid: Annotated[str, Query(max_length=64)] = "",
    handled: Literal["", "yes", "no"] = "",
    kind: Literal["loss", "transfer"] = "loss",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> LossAlertListOut:
    where = AlertFilter(ended_by=ended_by, staff_userid=staff_userid, handled=handled, kind=kind)
    alerts, total = service.list_alerts(session, actor.tenant_id, where, limit=limit, offset=offset)
    return LossAlertListOut(items=[LossAlertOut.model_validate(alert) for alert in alerts], total=total)


@router.get("/api/v1/engage/losses/statistics", response_model=LossStatisticsOut)
def loss_statistics(
    actor: Manager, session: SessionDep, days: Annotated[int, Query(ge=1, le=180)] = 30
) -> LossStatisticsOut:
    return LossStatisticsOut(**asdict(service.statistics(session, actor.tenant_id, days=days)))


@router.get("/api/v1/engage/losses/settings", response_model=LossSettingsOut)
def get_loss_settings(actor: Manager, session: SessionDep) -> LossSettingsOut:
    return LossSettingsOut(**asdict(service.get_settings(session, actor.tenant_id)))


@router.put("/api/v1/engage/losses/settings", response_model=LossSettingsOut)
def put_loss_settings(body: LossSettingsIn, actor: Manager, session: SessionDep) -> LossSettingsOut:
    saved = service.save_settings(
        session,
        actor.tenant_id,
        supervisor_userids=body.supervisor_userids,
        notify_customer_deleted=body.notify_customer_deleted,
        notify_staff_deleted=body.notify_staff_deleted,
        agentid=body.agentid,
    )
    return LossSettingsOut(**asdict(saved))


@router.post("/api/v1/engage/losses/{loss_alert_id}/handle", response_model=LossAlertOut)
def handle_loss(
    loss_alert_id: LossAlertId, body: HandleIn, actor: Manager, session: SessionDep
) -> LossAlertOut:
    alert = service.mark_handled(
        session,
        actor.tenant_id,
        loss_alert_id,
        handled_by=actor.display_name or actor.username,
        note=body.note,
    )
    return LossAlertOut.model_validate(alert)
