"""Console: loss alerts (/engage/losses): counts per day (ECharts) and the members who lost the
most, the list with filters and a "handled" action, and who is notified (settings form)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.connections import wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError
from haina.core.i18n import gettext
from haina.engage.losses import service
from haina.engage.losses.repository import AlertFilter
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
LossAlertId = Annotated[str, Path(max_length=32)]
PAGE_SIZE = 50


def _chart(request: Request, stats: service.Statistics) -> dict[str, Any]:
    language = language_of(request)
    customer = gettext(language, "engage.losses.ended_by.customer")
    staff = gettext(language, "engage.losses.ended_by.staff")
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [customer, staff]},
        "grid": {"left": 32, "right": 16, "top": 32, "bottom": 24},
        "xAxis": {"type": "category", "data": [day[5:] for day in stats.days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {"name": customer, "type": "bar", "stack": "loss", "data": stats.by_customer},
            {"name": staff, "type": "bar", "stack": "loss", "data": stats.by_staff},
        ],
    }


@router.get("/engage/losses")
def losses_page(
    request: Request,
    actor: Manager,
    session: SessionDep,
    ended_by: str = "",
    staff_userid: str = "",
    handled: str = "",
    page: int = 1,
    saved: str = "",
) -> HTMLResponse:
    where = AlertFilter(
        ended_by=ended_by if ended_by in ("customer", "staff") else "",
        staff_userid=staff_userid[:64],
        handled=handled if handled in ("yes", "no") else "",
    )
    page = max(1, min(page, 10_000))
    alerts, total = service.list_alerts(
        session, actor.tenant_id, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    stats = service.statistics(session, actor.tenant_id)
    context = {
        "subnav": "losses",
        "alerts": alerts,
        "total": total,
        "where": where,
        "page": page,
        "pages": max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE),
        "stats": stats,
        "chart": _chart(request, stats),
        "settings": service.get_settings(session, actor.tenant_id),
        "saved": saved == "1",
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/losses/index.html", context, session=session)


@router.post("/engage/losses/{loss_alert_id}/handle")
def handle_loss(
    loss_alert_id: LossAlertId,
    actor: Manager,
    session: SessionDep,
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    service.mark_handled(
        session, actor.tenant_id, loss_alert_id, handled_by=actor.display_name or actor.username, note=note
    )
    return RedirectResponse("/engage/losses", status_code=303)


@router.post("/engage/losses/settings")
def save_settings(
    actor: Manager,
    session: SessionDep,
    supervisor_userids: Annotated[str, Form(max_length=4000)] = "",
    notify_customer_deleted: Annotated[str, Form(max_length=8)] = "",
    notify_staff_deleted: Annotated[str, Form(max_length=8)] = "",
    agentid: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        service.save_settings(
            session,
            actor.tenant_id,
            supervisor_userids=supervisor_userids.replace("，", ",").replace("\n", ",").split(","),
            notify_customer_deleted=bool(notify_customer_deleted),
            notify_staff_deleted=bool(notify_staff_deleted),
            agentid=int(agentid) if agentid.strip().isdigit() else None,
        )
    except DomainError as error:
        if error.status_code != 422:
            raise
        return RedirectResponse("/engage/losses?saved=0", status_code=303)
    return RedirectResponse("/engage/losses?saved=1", status_code=303)
