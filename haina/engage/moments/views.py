"""Console: customer moments (/engage/moments): the list with each moment's publishing progress,
the compose form with a phone-like live preview, and a moment's page with per-member status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.connections import wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.i18n import gettext
from haina.engage.moments import service
from haina.engage.moments.models import MomentStatus, SenderMode
from haina.tags import service as tags
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
MomentId = Annotated[str, Path(max_length=32)]


@router.get("/engage/moments")
def moments_page(
    request: Request, actor: Manager, session: SessionDep, notice: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    context = {
        "rows": service.list_moments(session, actor.tenant_id),
        "subnav": "moments",
        "notice": gettext(language_of(request), f"engage.moments.notice.{notice}", default="")
        if notice
        else "",
    }
    return render(request, "engage/moments/index.html", context, session=session)


@router.get("/engage/moments/new")
def compose_page(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    context = {
        "subnav": "moments",
        "groups": tags.overview(session, actor),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/moments/compose.html", context, session=session)


@router.post("/engage/moments")
def create_moment(
    actor: Manager,
    session: SessionDep,
    text: Annotated[str, Form(max_length=2000)] = "",
    link_title: Annotated[str, Form(max_length=64)] = "",
    link_url: Annotated[str, Form(max_length=2000)] = "",
    image_ids: Annotated[list[str] | None, Form(max_length=32)] = None,
    sender_mode: Annotated[str, Form(max_length=8)] = SenderMode.ALL,
    sender_userids: Annotated[str, Form(max_length=5000)] = "",
    tag_ids: Annotated[list[str] | None, Form()] = None,
    action: Annotated[str, Form(max_length=8)] = "draft",
) -> Response:
    attachments = [{"kind": "link", "title": link_title, "url": link_url}] if link_url.strip() else []
    attachments += [
        {"kind": "image", "image_id": image_id} for image_id in image_ids or [] if image_id.strip()
    ][:9]
    userids = [
        part for part in sender_userids.replace("，", ",").replace("\n", ",").split(",") if part.strip()
    ]
    data = service.MomentInput(text, attachments, sender_mode, userids, list(tag_ids or []))
    moment = service.create_moment(session, actor, data)
    if action == "send":
        service.send_moment(session, actor, moment.id)
    return RedirectResponse(f"/engage/moments/{moment.id}", status_code=303)


@router.get("/engage/moments/{moment_id}")
def moment_page(request: Request, moment_id: MomentId, actor: Manager, session: SessionDep) -> HTMLResponse:
    moment = service.get_moment(session, actor.tenant_id, moment_id)
    staff = service.staff_of(session, actor.tenant_id, moment_id)
    published = sum(1 for row in staff if row.is_published)
    names = service.tag_names(session, actor.tenant_id)
    context = {
        "subnav": "moments",
        "moment": moment,
        "staff": staff,
        "published": published,
        "total": len(staff),
        "percent": round(100 * published / len(staff)) if staff else 0,
        "tag_names": [names.get(tag_id, tag_id) for tag_id in moment.tag_ids],
        "invalid_tag_names": [names.get(tag_id, tag_id) for tag_id in moment.invalid_tag_ids],
        "can_send": moment.status == MomentStatus.DRAFT,
        "can_cancel": moment.status in (MomentStatus.DRAFT, MomentStatus.SENT),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/moments/detail.html", context, session=session)


@router.post("/engage/moments/{moment_id}/send")
def send_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> Response:
    service.send_moment(session, actor, moment_id)
    return RedirectResponse(f"/engage/moments/{moment_id}", status_code=303)


@router.post("/engage/moments/{moment_id}/cancel")
def cancel_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> Response:
    service.cancel_moment(session, actor, moment_id)
    return RedirectResponse(f"/engage/moments/{moment_id}", status_code=303)


@router.post("/engage/moments/{moment_id}/refresh")
def refresh_moment(moment_id: MomentId, actor: Manager, session: SessionDep) -> Response:
    service.get_moment(session, actor.tenant_id, moment_id)
    service.track(session, actor.tenant_id)
    return RedirectResponse(f"/engage/moments/{moment_id}", status_code=303)
