"""Console: archive retention (/archive/retention — the policy with a confirmation step before a
shorter one is saved, the purge history, "run now") and the intake's "立即拉取" with its
progress (/archive/pull…, shown on the archive page by an HTMX poll)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.archive import schedule
from haina.archive.retention import service
from haina.archive.retention.models import MAX_DAYS, MIN_DAYS
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import InvalidInput
from haina.web.security import require
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
DaysField = Annotated[str, Form(max_length=8)]


def _days(value: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(
            f"{field} must be a whole number of days", code="invalid_input", field=field, zh="请输入整数天数"
        )
    return int(text)


def _page(request: Request, session: SessionDep, actor: Actor, **extra: Any) -> HTMLResponse:
    now = clock.now()
    context: dict[str, Any] = {
        "preview": service.preview(session, actor.tenant_id, now),
        "purges": service.history(session, actor.tenant_id, 30),
        "min_days": MIN_DAYS,
        "max_days": MAX_DAYS,
        "confirm": None,
        "error": "",
        **extra,
    }
    return render(request, "archive/retention/index.html", context, session=session)


@router.get("/archive/retention")
def retention_page(request: Request, actor: ChatsManager, session: SessionDep) -> HTMLResponse:
    return _page(request, session, actor)


@router.post("/archive/retention")
def save_retention(
    request: Request,
    actor: ChatsManager,
    session: SessionDep,
    keep_days: DaysField = "",
    media_keep_days: DaysField = "",
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save the policy; a shorter one is saved only after the page showed what it will delete."""
    try:
        policy = service.check_policy(
            _days(keep_days, "keep_days"), _days(media_keep_days, "media_keep_days")
        )
    except InvalidInput as error:
        return _page(request, session, actor, error=error.details.get("zh", error.message))
    current = service.get_policy(session, actor.tenant_id)
    if service.is_shorter(policy, current) and confirmed != "yes":
        confirm = service.preview(session, actor.tenant_id, clock.now(), policy)
        return _page(request, session, actor, confirm=confirm)
    service.set_policy(session, actor, policy.keep_days, policy.media_keep_days)
    return RedirectResponse("/archive/retention?saved=1", status_code=303)


@router.post("/archive/retention/purge")
def purge_now(request: Request, actor: ChatsManager, session: SessionDep) -> Response:
    service.purge(session, actor.tenant_id, clock.now(), actor=actor)
    return RedirectResponse("/archive/retention?purged=1", status_code=303)


def _progress(request: Request, session: SessionDep, actor: Actor, *, busy: bool = False) -> HTMLResponse:
    run = schedule.intake_status(session, actor.tenant_id)
    context = {
        "run": run,
        "is_running": schedule.is_running(run),
        "busy": busy and bool(schedule.wecom_connections(session, actor.tenant_id)),
        "can_pull": bool(schedule.wecom_connections(session, actor.tenant_id)),
    }
    return render(request, "archive/retention/_pull.html", context, session=session)


@router.get("/archive/pull/progress")
def pull_progress(request: Request, actor: ChatsManager, session: SessionDep) -> HTMLResponse:
    """The intake's state (running: messages pulled so far and the last seq); polls itself."""
    return _progress(request, session, actor)


@router.post("/archive/pull")
def pull_now(request: Request, actor: ChatsManager, session: SessionDep) -> Response:
    """Start a pull in the background (refused quietly while one runs)."""
    started = schedule.start_pull(request.app.state.database, actor.tenant_id, actor.username)
    session.expire_all()
    if request.headers.get("HX-Request"):
        return _progress(request, session, actor, busy=not started)
    return RedirectResponse("/archive", status_code=303)
