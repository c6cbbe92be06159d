"""Console: group live codes (群活码) at /engage/group-codes: the list with each code's pool and
fill bars (members / limit), the create and edit form (pool chosen from the corp's customer
groups), a code's page with its QR code, pool and statistics (joins per day and per group,
ECharts), the QR download (PNG), refresh now and delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError
from haina.core.i18n import gettext
from haina.engage.groupcodes import service
from haina.engage.groupcodes.models import GroupCode
from haina.engage.groupcodes.schemas import GroupCodeIn, GroupCodePatch
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
BASE = "/engage/group-codes"
SUBNAV = "groupcodes"
STATS_DAYS = 30


def _error_text(request: Request, error: DomainError) -> str:
    return gettext(language_of(request), f"engage.groupcodes.error.{error.code}", default=error.message)


def _available(session: Session, tenant_id: str) -> tuple[list[Any], str]:
    """The corp's groups for the pool picker, or why they cannot be listed."""
    try:
        return service.available_groups(session, tenant_id), ""
    except DomainError as error:
        return [], error.code


def _form(
    request: Request,
    session: Session,
    actor: Actor,
    code: GroupCode | None,
    values: dict[str, Any],
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    groups, groups_error = _available(session, actor.tenant_id)
    chosen = values.get("chat_ids") or []
    known = {group.chat_id for group in groups}
    # The pool in its order first, then the corp's other groups.
    by_id = {group.chat_id: group for group in groups}
    ordered = [by_id[chat_id] for chat_id in chosen if chat_id in by_id]
    ordered += [group for group in groups if group.chat_id not in chosen]
    missing = [chat_id for chat_id in chosen if chat_id not in known]
    context = {
        "subnav": SUBNAV,
        "code": code,
        "values": values,
        "groups": ordered,
        "missing": missing,
        "groups_error": groups_error,
        "error": error,
    }
    return render(request, "engage/groupcodes/edit.html", context, session=session, status_code=status_code)


def _values_of(code: GroupCode | None) -> dict[str, Any]:
    if code is None:
        return {
            "name": "",
            "member_limit": 180,
            "chat_ids": [],
            "is_auto_create": False,
            "room_base_name": "",
            "room_base_id": 1,
        }
    return {
        "name": code.name,
        "member_limit": code.member_limit,
        "chat_ids": list(code.chat_ids),
        "is_auto_create": code.is_auto_create,
        "room_base_name": code.room_base_name,
        "room_base_id": code.room_base_id,
    }


Name = Annotated[str, Form(max_length=200)]
Limit = Annotated[int, Form(ge=0, le=10_000)]
ChatIds = Annotated[list[str], Form(max_length=200)]
Flag = Annotated[str, Form(max_length=10)]
BaseName = Annotated[str, Form(max_length=200)]
BaseId = Annotated[int, Form(ge=0, le=10_000_000)]


def _submitted(
    name: str,
    member_limit: int,
    chat_ids: list[str],
    is_auto_create: str,
    room_base_name: str,
    room_base_id: int,
) -> dict[str, Any]:
    return {
        "name": name,
        "member_limit": member_limit,
        "chat_ids": [chat_id for chat_id in chat_ids if chat_id],
        "is_auto_create": is_auto_create in ("1", "on", "true"),
        "room_base_name": room_base_name,
        "room_base_id": room_base_id,
    }


def _invalid_text(request: Request, error: ValidationError) -> str:
    fields = ", ".join(
        gettext(
            language_of(request), f"engage.groupcodes.field.{item['loc'][0]}", default=str(item["loc"][0])
        )
        for item in error.errors()
        if item.get("loc")
    )
    return gettext(language_of(request), "engage.groupcodes.error.invalid_fields", fields=fields)


@router.get(BASE)
def codes_page(
    request: Request, actor: Manager, session: SessionDep, notice: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    codes = service.list_codes(session, actor.tenant_id)
    totals = service.join_totals(session, actor.tenant_id, codes)
    rows = [(code, service.pool_groups(code), totals.get(code.id, 0)) for code in codes]
    context = {"subnav": SUBNAV, "rows": rows, "notice": notice}
    return render(request, "engage/groupcodes/index.html", context, session=session)


@router.get(BASE + "/new")
def new_page(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    return _form(request, session, actor, None, _values_of(None))


@router.post(BASE + "/new")
def create(
    request: Request,
    actor: Manager,
    session: SessionDep,
    name: Name = "",
    member_limit: Limit = 180,
    chat_ids: ChatIds = [],  # noqa: B006 - FastAPI copies form defaults
    is_auto_create: Flag = "",
    room_base_name: BaseName = "",
    room_base_id: BaseId = 1,
) -> Response:
    values = _submitted(name, member_limit, chat_ids, is_auto_create, room_base_name, room_base_id)
    try:
        code = service.create_code(session, actor, GroupCodeIn.model_validate(values))
    except ValidationError as error:
        return _form(request, session, actor, None, values, _invalid_text(request, error), 422)
    except DomainError as error:
        session.rollback()
        return _form(request, session, actor, None, values, _error_text(request, error), error.status_code)
    return RedirectResponse(f"{BASE}/{code.id}?notice=created", status_code=303)


@router.get(BASE + "/{group_code_id}")
def code_page(
    request: Request,
    group_code_id: str,
    actor: Manager,
    session: SessionDep,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    stats = service.stats(session, actor.tenant_id, code.id, days=STATS_DAYS)
    language = language_of(request)
    joins_label = gettext(language, "engage.groupcodes.stats.joins")
    daily = {
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 40, "right": 16, "top": 24, "bottom": 32},
        "xAxis": {"type": "category", "data": [day.strftime("%m-%d") for day, _ in stats.days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": joins_label,
                "type": "bar",
                "barMaxWidth": 24,
                "data": [count for _, count in stats.days],
                "itemStyle": {"color": "#1677ff"},
            }
        ],
    }
    per_group = {
        "tooltip": {"trigger": "item"},
        "grid": {"left": 120, "right": 24, "top": 16, "bottom": 24},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [name for _, name, _ in stats.groups], "inverse": True},
        "series": [
            {
                "name": joins_label,
                "type": "bar",
                "barMaxWidth": 24,
                "data": [count for _, _, count in stats.groups],
                "itemStyle": {"color": "#07c160"},
            }
        ],
    }
    context = {
        "subnav": SUBNAV,
        "code": code,
        "pool": service.pool_groups(code),
        "stats": stats,
        "daily_chart": daily if stats.total else None,
        "group_chart": per_group if stats.groups else None,
        "notice": notice,
        "days": STATS_DAYS,
    }
    return render(request, "engage/groupcodes/detail.html", context, session=session)


@router.get(BASE + "/{group_code_id}/edit")
def edit_page(request: Request, group_code_id: str, actor: Manager, session: SessionDep) -> HTMLResponse:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    return _form(request, session, actor, code, _values_of(code))


@router.post(BASE + "/{group_code_id}/edit")
def edit(
    request: Request,
    group_code_id: str,
    actor: Manager,
    session: SessionDep,
    name: Name = "",
    member_limit: Limit = 180,
    chat_ids: ChatIds = [],  # noqa: B006 - FastAPI copies form defaults
    is_auto_create: Flag = "",
    room_base_name: BaseName = "",
    room_base_id: BaseId = 1,
) -> Response:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    values = _submitted(name, member_limit, chat_ids, is_auto_create, room_base_name, room_base_id)
    try:
        service.update_code(session, actor, code.id, GroupCodePatch.model_validate(values))
    except ValidationError as error:
        return _form(request, session, actor, code, values, _invalid_text(request, error), 422)
    except DomainError as error:
        session.rollback()
        code = service.get_code(session, actor.tenant_id, group_code_id)
        return _form(request, session, actor, code, values, _error_text(request, error), error.status_code)
    return RedirectResponse(f"{BASE}/{code.id}?notice=saved", status_code=303)


@router.get(BASE + "/{group_code_id}/qr.png")
def qr_download(group_code_id: str, actor: Manager, session: SessionDep) -> Response:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    image = service.qr_image(session, actor.tenant_id, code.id)
    filename = f"group-code-{code.id[:8]}.png"
    return Response(
        image, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.post(BASE + "/{group_code_id}/refresh")
def refresh(group_code_id: str, actor: Manager, session: SessionDep) -> Response:
    code = service.get_code(session, actor.tenant_id, group_code_id)
    service.refresh(session, actor.tenant_id, code)
    return RedirectResponse(f"{BASE}/{code.id}?notice=refreshed", status_code=303)


@router.post(BASE + "/{group_code_id}/delete")
def delete(group_code_id: str, actor: Manager, session: SessionDep) -> Response:
    service.delete_code(session, actor, group_code_id)
    return RedirectResponse(f"{BASE}?notice=deleted", status_code=303)
