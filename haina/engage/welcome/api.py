"""REST: welcome messages (欢迎语) under /api/v1/engage/welcome-messages, a rendering preview, and
the recent sends with their outcome. Everything needs marketing.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.welcome import service
from haina.engage.welcome.schemas import (
    PreviewIn,
    PreviewOut,
    WelcomeMessageIn,
    WelcomeMessageOut,
    WelcomeMessagePatch,
    WelcomeSendOut,
)
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
MessageId = Annotated[str, Path(max_length=32)]
BASE = "/api/v1/engage/welcome-messages"


def _out(message: service.WelcomeMessage, stats: dict[str, service.MessageStats]) -> WelcomeMessageOut:
    out = WelcomeMessageOut.model_validate(message)
    found = stats.get(message.id)
    if found is not None:
        out.sends_7d, out.sent_7d = found.attempts, found.sent
    return out


@router.get(BASE, response_model=list[WelcomeMessageOut])
def list_messages(actor: Manager, session: SessionDep) -> list[WelcomeMessageOut]:
    """Welcome messages by priority (channel, staff, default) with their sends of the last 7 days."""
    stats = service.stats_since(session, actor.tenant_id)
    return [_out(message, stats) for message in service.list_messages(session, actor.tenant_id)]


@router.post(BASE, response_model=WelcomeMessageOut, status_code=201)
def create_message(body: WelcomeMessageIn, actor: Manager, session: SessionDep) -> WelcomeMessageOut:
    """Attachments: {"type": "image", "image_id"} (a picture of /api/v1/engage/images; a hand-typed
    {"type": "image", "media_id"} is still taken), {"type": "link", "title", "url", "desc", "picurl"}
    or {"type": "miniprogram", "title", "appid", "page", "pic_media_id"}; at most 9."""
    message = service.create_message(session, actor, service.MessageInput(**body.model_dump()))
    return _out(message, {})


@router.post(f"{BASE}/preview", response_model=PreviewOut)
def preview(body: PreviewIn, actor: Manager) -> PreviewOut:
    """The text with its variables filled, as a customer would read it."""
    return PreviewOut(
        text=service.render_text(
            body.text, customer_name=body.customer_name or "林小满", staff_name=body.staff_name or "小海"
        )
    )


@router.get(f"{BASE}/sends", response_model=list[WelcomeSendOut])
def recent_sends(
    actor: Manager, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[WelcomeSendOut]:
    """The latest uses of welcome codes: sent, failed (with WeCom's errcode), expired or skipped."""
    return [
        WelcomeSendOut.model_validate(row) for row in service.recent_sends(session, actor.tenant_id, limit)
    ]


@router.get(f"{BASE}/{{welcome_message_id}}", response_model=WelcomeMessageOut)
def get_message(welcome_message_id: MessageId, actor: Manager, session: SessionDep) -> WelcomeMessageOut:
    message = service.get_message(session, actor.tenant_id, welcome_message_id)
    return _out(message, service.stats_since(session, actor.tenant_id))


@router.patch(f"{BASE}/{{welcome_message_id}}", response_model=WelcomeMessageOut)
def update_message(
    welcome_message_id: MessageId, body: WelcomeMessagePatch, actor: Manager, session: SessionDep
) -> WelcomeMessageOut:
    message = service.update_message(
        session, actor, welcome_message_id, **body.model_dump(exclude_unset=True)
    )
    return _out(message, service.stats_since(session, actor.tenant_id))


@router.delete(f"{BASE}/{{welcome_message_id}}", status_code=204)
def delete_message(welcome_message_id: MessageId, actor: Manager, session: SessionDep) -> Response:
    service.delete_message(session, actor, welcome_message_id)
    return Response(status_code=204)
