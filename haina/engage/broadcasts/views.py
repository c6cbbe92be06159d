"""Console: mass messages (/engage/broadcasts): the list with status, target, recipients, staff
confirmations, deliveries and replies; the new / edit form (segment or tag filter, schedule,
text and attachments); a broadcast's page: the preview (exclusions by reason, the first 50
recipients) before sending, the per-staff confirmation table and the delivery funnel after."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from haina.connections import wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError, InvalidInput
from haina.core.i18n import gettext
from haina.engage.broadcasts import service
from haina.engage.broadcasts.models import BroadcastStatus, TargetKind, TaskStatus
from haina.tags import service as tags
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
BroadcastId = Annotated[str, Path(max_length=32)]
SHANGHAI = ZoneInfo("Asia/Shanghai")
ATTACHMENT_ROWS = 3
TagIds = Annotated[list[str] | None, Form()]
Texts = Annotated[list[str] | None, Form()]


def _text(request: Request, key: str, **values: Any) -> str:
    return gettext(language_of(request), key, **values)


def _error_text(request: Request, error: DomainError) -> str:
    if language_of(request) != "en" and error.details.get("message_zh"):
        return str(error.details["message_zh"])
    return gettext(language_of(request), f"engage.broadcasts.error.{error.code}", default=error.message)


def _target_label(
    request: Request, broadcast: service.Broadcast, segments: dict[str, str], tag_names: dict[str, str]
) -> str:
    if broadcast.target_kind == TargetKind.SEGMENT:
        return _text(
            request,
            "engage.broadcasts.target.segment_named",
            name=segments.get(broadcast.segment_id or "", "—"),
        )
    parts = []
    for key in ("any", "all", "exclude"):
        names = [tag_names.get(tag_id, tag_id) for tag_id in (broadcast.tag_filter or {}).get(key, [])]
        if names:
            parts.append(_text(request, f"engage.broadcasts.tags.{key}") + "：" + "、".join(names))
    return "；".join(parts)


def _lookups(session: Session, actor: Actor) -> tuple[dict[str, str], dict[str, str]]:
    segments = {segment.id: segment.name for segment in tags.list_segments(session, actor.tenant_id)}
    names = {tag.id: tag.name for view in tags.overview(session, actor) for tag in view.tags}
    return segments, names


@router.get("/engage/broadcasts")
def broadcasts_page(
    request: Request, actor: Manager, session: SessionDep, notice: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    segments, names = _lookups(session, actor)
    rows = service.list_broadcasts(session, actor.tenant_id)
    context = {
        "rows": rows,
        "targets": {row.broadcast.id: _target_label(request, row.broadcast, segments, names) for row in rows},
        "subnav": "broadcasts",
        "notice": _text(request, f"engage.broadcasts.notice.{notice}") if notice else "",
        "monthly_cap": service.monthly_cap(session, actor.tenant_id),
    }
    return render(request, "engage/broadcasts/index.html", context, session=session)


def _form_page(
    request: Request,
    session: Session,
    actor: Actor,
    broadcast: service.Broadcast | None,
    values: dict[str, Any] | None = None,
    error: str = "",
) -> HTMLResponse:
    if values is None:
        values = _values_of(broadcast)
    context = {
        "subnav": "broadcasts",
        "broadcast": broadcast,
        "values": values,
        "error": error,
        "segments": tags.list_segments(session, actor.tenant_id),
        "groups": tags.overview(session, actor),
        "attachment_rows": ATTACHMENT_ROWS,
    }
    return render(
        request, "engage/broadcasts/edit.html", context, session=session, status_code=422 if error else 200
    )


def _values_of(broadcast: service.Broadcast | None) -> dict[str, Any]:
    if broadcast is None:
        return {"target_kind": TargetKind.SEGMENT, "tag_filter": {}, "attachments": [], "send_mode": "draft"}
    scheduled = (
        broadcast.scheduled_at.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
        if broadcast.scheduled_at
        else ""
    )
    return {
        "title": broadcast.title,
        "text": broadcast.text,
        "target_kind": broadcast.target_kind,
        "segment_id": broadcast.segment_id,
        "tag_filter": broadcast.tag_filter or {},
        "attachments": broadcast.attachments or [],
        "send_mode": "schedule" if broadcast.scheduled_at else "draft",
        "scheduled_at": scheduled,
    }


@router.get("/engage/broadcasts/new")
def new_page(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    return _form_page(request, session, actor, None)


@router.get("/engage/broadcasts/{broadcast_id}/edit")
def edit_page(
    request: Request, broadcast_id: BroadcastId, actor: Manager, session: SessionDep
) -> HTMLResponse:
    return _form_page(request, session, actor, service.get_broadcast(session, actor.tenant_id, broadcast_id))


def _attachments(
    kinds: list[str],
    titles: list[str],
    urls: list[str],
    images: list[str],
    appids: list[str],
    pages: list[str],
    image_ids: list[str] | None = None,
) -> list[dict[str, str]]:
    def at(values: list[str], index: int) -> str:
        return values[index].strip() if index < len(values) else ""

    return [
        {
            "kind": kind,
            "title": at(titles, index),
            "url": at(urls, index),
            "image_url": at(images, index),
            "image_id": at(image_ids or [], index),
            "appid": at(appids, index),
            "page": at(pages, index),
        }
        for index, kind in enumerate(kinds)
        if kind
    ]


def _schedule(send_mode: str, scheduled_at: str) -> datetime | None:
    if send_mode != "schedule":
        return None
    try:
        local = datetime.strptime(scheduled_at.strip(), "%Y-%m-%dT%H:%M")
    except ValueError as error:
        raise InvalidInput(
            "pick the date and time to send", code="invalid_schedule", path="scheduled_at"
        ) from error
    return local.replace(tzinfo=SHANGHAI)


async def _submit(request: Request, actor: Actor, session: Session, broadcast_id: str | None) -> Response:
    form = await request.form()

    def one(name: str, limit: int) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    def many(name: str) -> list[str]:
        return [value[:2000] for value in form.getlist(name) if isinstance(value, str)][:100]

    values: dict[str, Any] = {
        "title": one("title", 60),
        "text": one("text", 4000),
        "target_kind": one("target_kind", 16) or TargetKind.SEGMENT,
        "segment_id": one("segment_id", 32) or None,
        "tag_filter": {"any": many("tag_any"), "all": many("tag_all"), "exclude": many("tag_exclude")},
        "attachments": _attachments(
            many("att_kind"),
            many("att_title"),
            many("att_url"),
            many("att_image_url"),
            many("att_appid"),
            many("att_page"),
            many("att_image_id"),
        ),
        "send_mode": one("send_mode", 16) or "draft",
        "scheduled_at": one("scheduled_at", 32),
    }
    existing = service.get_broadcast(session, actor.tenant_id, broadcast_id) if broadcast_id else None
    try:
        data = service.BroadcastInput(
            title=values["title"],
            text=values["text"],
            attachments=values["attachments"],
            target_kind=values["target_kind"],
            segment_id=values["segment_id"] if values["target_kind"] == TargetKind.SEGMENT else None,
            tag_filter=values["tag_filter"],
            scheduled_at=_schedule(values["send_mode"], values["scheduled_at"]),
        )
        if existing is None:
            broadcast = service.create_broadcast(session, actor, data)
        else:
            broadcast = service.update_broadcast(session, actor, existing.id, data)
    except InvalidInput as error:
        return _form_page(request, session, actor, existing, values, _error_text(request, error))
    return RedirectResponse(f"/engage/broadcasts/{broadcast.id}", status_code=303)


@router.post("/engage/broadcasts")
async def create_broadcast(request: Request, actor: Manager, session: SessionDep) -> Response:
    return await _submit(request, actor, session, None)


@router.post("/engage/broadcasts/{broadcast_id}")
async def update_broadcast(
    request: Request, broadcast_id: BroadcastId, actor: Manager, session: SessionDep
) -> Response:
    return await _submit(request, actor, session, broadcast_id)


def _funnel(request: Request, figures: service.Figures, confirmed: int) -> dict[str, Any]:
    stages = [
        ("targeted", figures.targeted),
        ("sendable", figures.sendable),
        ("confirmed", confirmed),
        ("delivered", figures.delivered),
        ("replied", figures.replied),
    ]
    data = [
        {"name": _text(request, f"engage.broadcasts.funnel.{key}"), "value": value} for key, value in stages
    ]
    return {
        "tooltip": {"trigger": "item", "formatter": "{b}: {c}"},
        "color": ["#1677ff", "#4096ff", "#69b1ff", "#52c41a", "#faad14"],
        "series": [
            {
                "type": "funnel",
                "left": "10%",
                "width": "80%",
                "sort": "none",
                "minSize": "8%",
                "label": {"show": True, "position": "inside", "formatter": "{b} {c}"},
                "data": data,
            }
        ],
    }


@router.get("/engage/broadcasts/{broadcast_id}")
def broadcast_page(
    request: Request,
    broadcast_id: BroadcastId,
    actor: Manager,
    session: SessionDep,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    broadcast = service.get_broadcast(session, actor.tenant_id, broadcast_id)
    segments, names = _lookups(session, actor)
    context: dict[str, Any] = {
        "subnav": "broadcasts",
        "broadcast": broadcast,
        "target": _target_label(request, broadcast, segments, names),
        "notice": _text(request, f"engage.broadcasts.notice.{notice}") if notice else "",
        "can_edit": broadcast.status in service.EDITABLE,
        "can_cancel": broadcast.status in (*service.EDITABLE, BroadcastStatus.SENT),
        "monthly_cap": service.monthly_cap(session, actor.tenant_id),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    if broadcast.status in service.EDITABLE:
        plan = service.preview(session, actor.tenant_id, broadcast_id)
        first = plan.recipients[: service.PREVIEW_SIZE]
        context["plan"] = plan
        context["preview_rows"] = first
        context["names"] = service.customer_names(session, actor.tenant_id, [r.customer_id for r in first])
    else:
        figures = service.figures_of(session, actor.tenant_id, broadcast)
        staff = service.staff_of(session, actor.tenant_id, broadcast_id)
        confirmed = sum(row.recipients for row in staff if row.status == TaskStatus.CONFIRMED)
        context.update(
            figures=figures,
            staff=staff,
            staff_confirmed=sum(1 for row in staff if row.status == TaskStatus.CONFIRMED),
            pending_staff=sum(1 for row in staff if row.status == TaskStatus.PENDING),
            chart=_funnel(request, figures, confirmed) if staff else None,
        )
    return render(request, "engage/broadcasts/detail.html", context, session=session)


@router.post("/engage/broadcasts/{broadcast_id}/send")
def send_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> Response:
    broadcast = service.send_now(session, actor, broadcast_id)
    notice = "sent" if broadcast.status == BroadcastStatus.SENT else "failed"
    return RedirectResponse(f"/engage/broadcasts/{broadcast_id}?notice={notice}", status_code=303)


@router.post("/engage/broadcasts/{broadcast_id}/cancel")
def cancel_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> Response:
    service.cancel(session, actor, broadcast_id)
    return RedirectResponse(f"/engage/broadcasts/{broadcast_id}?notice=cancelled", status_code=303)


@router.post("/engage/broadcasts/{broadcast_id}/remind")
def remind_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> Response:
    service.remind(session, actor, broadcast_id)
    return RedirectResponse(f"/engage/broadcasts/{broadcast_id}?notice=reminded", status_code=303)


@router.post("/engage/broadcasts/{broadcast_id}/refresh")
def refresh_broadcast(broadcast_id: BroadcastId, actor: Manager, session: SessionDep) -> Response:
    service.get_broadcast(session, actor.tenant_id, broadcast_id)
    service.track(session, actor.tenant_id)
    return RedirectResponse(f"/engage/broadcasts/{broadcast_id}?notice=refreshed", status_code=303)
