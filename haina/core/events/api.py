"""REST: the dead-letter list (events a handler could not process) and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.events import dispatcher
from haina.core.events.models import EventDelivery
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(prefix="/api/v1/events", tags=["events"])

EventsReader = Annotated[Actor, require(Permission.EVENTS_READ)]
EventsManager = Annotated[Actor, require(Permission.EVENTS_MANAGE)]


class DeadLetterOut(BaseModel):
    id: str
    handler: str
    event_type: str
    event_payload: dict[str, Any]
    attempts: int
    last_error: str | None
    finished_at: datetime | None
    created_at: datetime


class ReplayOut(BaseModel):
    replayed: int


def _out(delivery: EventDelivery) -> DeadLetterOut:
    return DeadLetterOut(
        id=delivery.id,
        handler=delivery.handler,
        event_type=delivery.event.type,
        event_payload=delivery.event.payload,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        finished_at=delivery.finished_at,
        created_at=delivery.created_at,
    )


@router.get("/dead-letters", response_model=list[DeadLetterOut])
def list_dead_letters(
    actor: EventsReader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DeadLetterOut]:
    """Deliveries that failed every retry, with their errors, newest first."""
    return [
        _out(d) for d in dispatcher.list_dead_letters(session, actor.tenant_id, limit=limit, offset=offset)
    ]


@router.get("/dead-letters/{delivery_id}", response_model=DeadLetterOut)
def get_dead_letter(delivery_id: str, actor: EventsReader, session: SessionDep) -> DeadLetterOut:
    return _out(dispatcher.get_delivery(session, actor.tenant_id, delivery_id))


@router.post("/dead-letters/{delivery_id}/replay", response_model=ReplayOut)
def replay_dead_letter(delivery_id: str, actor: EventsManager, session: SessionDep) -> ReplayOut:
    """Run a dead delivery again (after the cause is fixed)."""
    count = dispatcher.replay(session, actor.tenant_id, delivery_id)
    audit.record(session, "events.replayed", actor=actor, target_type="event_delivery", target_id=delivery_id)
    return ReplayOut(replayed=count)


@router.post("/dead-letters/replay-all", response_model=ReplayOut)
def replay_all(actor: EventsManager, session: SessionDep) -> ReplayOut:
    count = dispatcher.replay(session, actor.tenant_id)
    audit.record(
        session,
        "events.replayed",
        actor=actor,
        target_type="event_delivery",
        target_id="*",
        detail={"count": count},
    )
    return ReplayOut(replayed=count)
