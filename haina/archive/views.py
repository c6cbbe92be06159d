"""Console: the message archive (/archive) — search with filters and highlights, the actor's
conversations, recent keyword alerts — and one conversation (/archive/conversations/{id}).
Reads go through the same scoped, audited service functions as the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from haina.archive import service
from haina.archive.insights.views import heatmap_chart
from haina.archive.media import service as media_service
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import NotFound
from haina.customers.identity import profile
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, SettingsDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ShortText = Annotated[str, Query(max_length=64)]
INSIGHT_DAYS = 90
PAGE = 50  # search results per page
MESSAGE_TYPES = ("text", "image", "voice", "video", "file", "link", "mixed", "chatrecord", "revoke")


def _customer_name(session: Session, actor: Actor, customer_id: str) -> str:
    """How the customer filter is shown: the customer's name (or id); "" when none is set or
    the actor may not see that customer."""
    if not customer_id:
        return ""
    try:
        found = profile.get_customer(session, actor, customer_id)
    except NotFound:
        return ""
    return found.display_name or found.id


def _day(value: str, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


@router.get("/archive")
def archive_page(
    request: Request,
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=200)] = "",
    staff: ShortText = "",
    customer: ShortText = "",
    group: ShortText = "",
    msgtype: ShortText = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> HTMLResponse:
    searched = bool(q.strip() or staff or customer or group or msgtype or since or until)
    shown = {"q": q, "staff": staff, "customer": customer, "group": group, "msgtype": msgtype}
    shown |= {"since": since, "until": until}
    context: dict[str, Any] = {
        "query": q,
        "staff": staff,
        "customer": customer,
        "customer_name": _customer_name(session, actor, customer),
        "group": group,
        "group_chats": service.list_group_chats(session, actor),
        "msgtype": msgtype,
        "since": since,
        "until": until,
        "message_types": MESSAGE_TYPES,
        "searched": searched,
        "hits": [],
        "offset": offset,
        "conversations": service.list_conversations(session, actor, 30),
        "alerts": service.list_alerts(session, actor, 20),
        "can_manage": actor.can(Permission.CHATS_MANAGE),
    }
    if searched:
        filters = service.SearchFilters(
            staff_userid=staff or None,
            customer_id=customer or None,
            conversation_id=group or None,
            msgtype=msgtype or None,
            since=_day(since),
            until=_day(until, end=True),
        )
        result = service.search(session, actor, settings, q, filters, limit=PAGE, offset=offset)
        context["hits"] = result.hits
        given = {name: value for name, value in shown.items() if value}
        if result.has_more:
            context["next_page"] = "/archive?" + urlencode({**given, "offset": offset + PAGE})
        if offset:
            context["previous_page"] = "/archive?" + urlencode({**given, "offset": max(0, offset - PAGE)})
        context["without_customer"] = "/archive?" + urlencode(
            {name: value for name, value in given.items() if name != "customer"}
        )
    now = clock.now()
    found = service.insights(session, actor, since=now - timedelta(days=INSIGHT_DAYS), until=now)
    context["insights"] = found
    context["insight_days"] = INSIGHT_DAYS
    context["heatmap"] = (
        heatmap_chart(found.heatmap, language_of(request)) if any(map(any, found.heatmap)) else None
    )
    if context["can_manage"]:
        context["status"] = service.status(session, actor.tenant_id)
        context["rules"] = service.list_rules(session, actor.tenant_id)
        context["words"] = service.list_words(session, actor.tenant_id)
    return render(request, "archive/index.html", context, session=session)


@router.get("/archive/conversations/{conversation_id}")
def conversation_page(
    request: Request,
    conversation_id: Annotated[str, Path(max_length=32)],
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
) -> HTMLResponse:
    view = service.open_conversation(session, actor, settings, conversation_id)
    messages = [(row, service.searchable_text(content)) for row, content in view.messages]
    media = media_service.media_states(session, actor.tenant_id, view.messages)
    context = {
        "conversation": view.conversation,
        "messages": messages,
        "media": media,  # by (message id, item)
        "items": media_service.shown_items(view.messages, media),  # of mixed / chatrecord messages
    }
    return render(request, "archive/conversation.html", context, session=session)
