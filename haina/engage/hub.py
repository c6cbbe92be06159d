"""The hub's headline figure per operation (/engage): one count each, read in one place so the
page costs eight small queries, not eight services' full pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.engage.broadcasts.models import Broadcast, BroadcastStatus
from haina.engage.groupcodes.models import GroupCode
from haina.engage.handover.models import HandoverJob, JobStatus
from haina.engage.livecodes.models import LiveCodeAdd
from haina.engage.losses.models import LossAlert
from haina.engage.moments.models import Moment
from haina.engage.scripts.models import Script
from haina.engage.welcome.models import SendStatus, WelcomeSend


def headline_figures(session: Session, tenant_id: str) -> dict[str, int]:
    """section key → its figure (see the `engage.hub.figure.<key>` texts for what each counts)."""
    week_ago = clock.now() - timedelta(days=7)

    def count(model: Any, *conditions: ColumnElement[bool]) -> int:
        statement = select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *conditions)
        return int(session.scalar(statement) or 0)

    return {
        "livecodes": count(LiveCodeAdd, LiveCodeAdd.added_at >= week_ago),
        "welcome": count(WelcomeSend, WelcomeSend.status == SendStatus.SENT, WelcomeSend.at >= week_ago),
        "groupcodes": count(GroupCode, GroupCode.is_deleted.is_(False)),
        "broadcasts": count(Broadcast, Broadcast.status == BroadcastStatus.SCHEDULED),
        "moments": count(Moment, Moment.created_at >= week_ago),
        "scripts": count(Script),
        "handover": count(HandoverJob, HandoverJob.status == JobStatus.RUNNING),
        "losses": count(LossAlert, LossAlert.is_handled.is_(False)),
    }
