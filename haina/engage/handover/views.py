"""Console: staff handover (/engage/handover): start a handover (in office or resigned), the list
of handovers with their progress, one handover's page with a progress bar and the result per
customer (polls itself while WeCom settles), and the members who left with their unassigned
customers (HTMX partial, read from WeCom)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.connections import wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError
from haina.engage.handover import service
from haina.engage.handover.models import HandoverKind, ItemStatus, JobStatus
from haina.web.security import require
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
HandoverId = Annotated[str, Path(max_length=32)]
ERRORS = (
    "missing_staff",
    "same_staff",
    "message_too_long",
    "no_customers",
    "wecom_not_connected",
    "invalid_kind",
)
STATUSES = (ItemStatus.PENDING, ItemStatus.WAITING, ItemStatus.DONE, ItemStatus.REFUSED, ItemStatus.FAILED)


@router.get("/engage/handover")
def handover_page(request: Request, actor: Manager, session: SessionDep, error: str = "") -> HTMLResponse:
    context = {
        "subnav": "handover",
        "jobs": service.list_jobs(session, actor.tenant_id),
        "error": error if error in ERRORS or not error else "invalid",
        "kinds": (HandoverKind.IN_OFFICE, HandoverKind.RESIGNED),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/handover/index.html", context, session=session)


@router.post("/engage/handover")
def start_handover(
    actor: Manager,
    session: SessionDep,
    kind: Annotated[str, Form(max_length=16)] = HandoverKind.IN_OFFICE,
    handover_userid: Annotated[str, Form(max_length=64)] = "",
    takeover_userid: Annotated[str, Form(max_length=64)] = "",
    scope: Annotated[str, Form(max_length=8)] = "all",
    external_userids: Annotated[str, Form(max_length=200_000)] = "",
    picked: Annotated[list[str], Form(max_length=20_000)] = [],  # noqa: B006 - FastAPI form default
    transfer_message: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    chosen = None
    if scope == "picked":
        typed = [line.strip() for line in external_userids.replace(",", "\n").splitlines() if line.strip()]
        chosen = [item.strip() for item in picked if item.strip()] + typed
    try:
        job = service.start_handover(
            session,
            actor.tenant_id,
            kind=kind,
            handover_userid=handover_userid,
            takeover_userid=takeover_userid,
            external_userids=chosen,
            message=transfer_message,
            created_by=actor.display_name or actor.username,
        )
    except DomainError as error:
        if error.status_code != 422:
            raise
        return RedirectResponse(
            f"/engage/handover?error={getattr(error, 'code', 'invalid')}", status_code=303
        )
    return RedirectResponse(f"/engage/handover/{job.id}", status_code=303)


@router.get("/engage/handover/unassigned")
def unassigned_partial(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    try:
        members = service.unassigned(session, actor.tenant_id)
        failed = False
    except Exception:  # noqa: BLE001 - WeCom unreachable or not connected: say so in the card
        members, failed = [], True
    return render(request, "engage/handover/_unassigned.html", {"members": members, "failed": failed})


@router.get("/engage/handover/customers")
def customers_partial(
    request: Request,
    actor: Manager,
    session: SessionDep,
    kind: str = HandoverKind.IN_OFFICE,
    handover_userid: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """The member's customers as checkboxes for the form (HTMX), filtered by name or id."""
    choices: list[service.CustomerChoice] = []
    failed = False
    if handover_userid.strip():
        try:
            choices = service.customer_choices(session, actor.tenant_id, kind, handover_userid, query=q)
        except Exception:  # noqa: BLE001 - WeCom unreachable, unknown member: say so in the form
            failed = True
    context = {"choices": choices, "failed": failed, "asked": bool(handover_userid.strip())}
    return render(request, "engage/handover/_customers.html", context)


def _job_context(session: SessionDep, actor: Actor, handover_id: str, status: str) -> dict[str, object]:
    job = service.get_job(session, actor.tenant_id, handover_id)
    return {
        "subnav": "handover",
        "job": job,
        "progress": service.progress(session, job),
        "items": service.items(session, actor.tenant_id, job.id, status=status or None),
        "status": status,
        "statuses": STATUSES,
        "is_running": job.status == JobStatus.RUNNING,
    }


@router.get("/engage/handover/{handover_id}")
def handover_detail(
    request: Request, handover_id: HandoverId, actor: Manager, session: SessionDep, status: str = ""
) -> HTMLResponse:
    status = status if status in STATUSES else ""
    return render(
        request,
        "engage/handover/detail.html",
        {
            **_job_context(session, actor, handover_id, status),
            "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
        },
        session=session,
    )


@router.get("/engage/handover/{handover_id}/progress")
def handover_progress(
    request: Request, handover_id: HandoverId, actor: Manager, session: SessionDep
) -> HTMLResponse:
    return render(request, "engage/handover/_progress.html", _job_context(session, actor, handover_id, ""))


@router.post("/engage/handover/{handover_id}/poll")
def poll_handover(handover_id: HandoverId, actor: Manager, session: SessionDep) -> Response:
    job = service.get_job(session, actor.tenant_id, handover_id)
    service.poll_job(session, job)
    return RedirectResponse(f"/engage/handover/{job.id}", status_code=303)
