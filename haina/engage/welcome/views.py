"""Console: welcome messages (/engage/welcome): the list by priority with each message's sends of
the last 7 days and success rate, the recent sends with their outcome, and the editor
(/engage/welcome/new, /engage/welcome/{id}/edit) with its attachment editor and a live preview of
the WeChat bubble. `?state=<state>` prefills a channel message (the live code page links here).

The form posts ordinary fields plus the attachments as one JSON field, kept by
static/js/engage-welcome.js; a rejected form is shown again with the reason and what was typed.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from haina.connections import wecom_staff
from haina.connections.wecom_corps import first_corp
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import InvalidInput
from haina.engage.welcome import service
from haina.engage.welcome.models import Scope, WelcomeMessage
from haina.platforms.http import PlatformError
from haina.web.security import require
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
MessageId = Annotated[str, Path(max_length=32)]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
Attachments = Annotated[str, Form(max_length=40_000)]
SUBNAV = "welcome"
SEPARATORS = re.compile(r"[\s,，、;；]+")


def _staff_options(session: Session, tenant_id: str) -> list[str]:
    """Members with customer-contact permission, offered in the staff field (empty offline)."""
    corp = first_corp(session, tenant_id)
    if corp is None:
        return []
    try:
        return corp.client.follow_users()
    except PlatformError:
        return []


def _form_of(message: WelcomeMessage | None, state: str = "") -> dict[str, Any]:
    if message is None:
        return {
            "name": "",
            "scope": Scope.CHANNEL if state else Scope.DEFAULT,
            "state": state,
            "staff_userids": "",
            "text": "",
            "attachments": "[]",
            "is_active": True,
        }
    return {
        "name": message.name,
        "scope": message.scope,
        "state": message.state,
        "staff_userids": " ".join(message.staff_userids or []),
        "text": message.text,
        "attachments": json.dumps(message.attachments or [], ensure_ascii=False),
        "is_active": message.is_active,
    }


def _editor(
    request: Request,
    session: Session,
    actor: Actor,
    form: dict[str, Any],
    *,
    message_id: str | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "subnav": SUBNAV,
        "form": form,
        "message_id": message_id,
        "error": error,
        "scopes": Scope.ALL,
        "staff_options": _staff_options(session, actor.tenant_id),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/welcome/edit.html", context, session=session, status_code=status_code)


def _input(
    name: str, scope: str, state: str, staff_userids: str, text: str, attachments: str, is_active: str
) -> service.MessageInput:
    try:
        parsed = json.loads(attachments or "[]")
    except ValueError as error:
        raise InvalidInput("the attachments are not valid JSON", code="invalid_attachment") from error
    if not isinstance(parsed, list):
        raise InvalidInput("the attachments must be a list", code="invalid_attachment")
    return service.MessageInput(
        name=name,
        scope=scope,
        state=state,
        staff_userids=[userid for userid in SEPARATORS.split(staff_userids) if userid],
        text=text,
        attachments=parsed,
        is_active=bool(is_active),
    )


@router.get("/engage/welcome")
def index(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    messages = service.list_messages(session, actor.tenant_id)
    stats = service.stats_since(session, actor.tenant_id)
    totals = service.totals_since(session, actor.tenant_id)
    attempts = totals["sent"] + totals["failed"] + totals["expired"]
    context = {
        "subnav": SUBNAV,
        "messages": messages,
        "stats": stats,
        "totals": totals,
        "success_rate": (totals["sent"] / attempts) if attempts else None,
        "sends": service.recent_sends(session, actor.tenant_id, 20),
        "names": {message.id: message.name for message in messages},
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/welcome/index.html", context, session=session)


@router.get("/engage/welcome/new")
def new(
    request: Request,
    actor: Manager,
    session: SessionDep,
    state: Annotated[str, Query(max_length=30)] = "",
) -> Response:
    """A new message; with `?state=`, the channel's existing message is opened instead if it has one."""
    state = state.strip()
    existing = service.channel_message(session, actor.tenant_id, state) if state else None
    if existing is not None:
        return RedirectResponse(f"/engage/welcome/{existing.id}/edit", status_code=303)
    return _editor(request, session, actor, _form_of(None, state))


@router.post("/engage/welcome")
def create(
    request: Request,
    actor: Manager,
    session: SessionDep,
    name: Short = "",
    scope: Short = Scope.DEFAULT,
    state: Short = "",
    staff_userids: Short = "",
    text: Text = "",
    attachments: Attachments = "[]",
    is_active: Short = "",
) -> Response:
    form = {
        "name": name,
        "scope": scope,
        "state": state,
        "staff_userids": staff_userids,
        "text": text,
        "attachments": attachments,
        "is_active": bool(is_active),
    }
    try:
        service.create_message(
            session, actor, _input(name, scope, state, staff_userids, text, attachments, is_active)
        )
    except InvalidInput as error:
        return _editor(request, session, actor, form, error=error.message, status_code=422)
    return RedirectResponse("/engage/welcome", status_code=303)


@router.get("/engage/welcome/{welcome_message_id}/edit")
def edit(
    request: Request, welcome_message_id: MessageId, actor: Manager, session: SessionDep
) -> HTMLResponse:
    message = service.get_message(session, actor.tenant_id, welcome_message_id)
    return _editor(request, session, actor, _form_of(message), message_id=message.id)


@router.post("/engage/welcome/{welcome_message_id}/edit")
def update(
    request: Request,
    welcome_message_id: MessageId,
    actor: Manager,
    session: SessionDep,
    name: Short = "",
    scope: Short = Scope.DEFAULT,
    state: Short = "",
    staff_userids: Short = "",
    text: Text = "",
    attachments: Attachments = "[]",
    is_active: Short = "",
) -> Response:
    service.get_message(session, actor.tenant_id, welcome_message_id)  # 404 before anything else
    form = {
        "name": name,
        "scope": scope,
        "state": state,
        "staff_userids": staff_userids,
        "text": text,
        "attachments": attachments,
        "is_active": bool(is_active),
    }
    try:
        data = _input(name, scope, state, staff_userids, text, attachments, is_active)
        service.update_message(
            session,
            actor,
            welcome_message_id,
            name=data.name,
            scope=data.scope,
            state=data.state,
            staff_userids=data.staff_userids,
            text=data.text,
            attachments=data.attachments,
            is_active=data.is_active,
        )
    except InvalidInput as error:
        session.rollback()
        return _editor(
            request, session, actor, form, message_id=welcome_message_id, error=error.message, status_code=422
        )
    return RedirectResponse("/engage/welcome", status_code=303)


@router.post("/engage/welcome/{welcome_message_id}/delete")
def delete(welcome_message_id: MessageId, actor: Manager, session: SessionDep) -> Response:
    service.delete_message(session, actor, welcome_message_id)
    return RedirectResponse("/engage/welcome", status_code=303)
