"""Console: channel live codes (渠道活码): the list with the merchant's logo (/engage/live-codes),
the form (/new, /{id}/edit), a code's statistics page with charts (/{id}) and its QR image with
the logo (/{id}/qr.png). Forms post classic HTML forms; invalid input comes back with the
error in the user's language."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from haina.connections import wecom_corps, wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError, InvalidInput
from haina.core.i18n import gettext
from haina.engage.livecodes import service
from haina.engage.livecodes.models import ChannelKind, LiveCode
from haina.platforms.http import PlatformError
from haina.tags import service as tags
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, error_message, render

logger = logging.getLogger(__name__)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
TextField = Annotated[str, Form(max_length=2000)]
ListField = Annotated[list[str], Form(max_length=100)]
BASE = "/engage/live-codes"
BLANK_ROWS = 3
WEEKDAYS = (1, 2, 3, 4, 5, 6, 7)


def _staff_choices(session: Session, tenant_id: str) -> list[str]:
    """Members with customer-contact permission, for the form's suggestions (empty if WeCom is away)."""
    corp = wecom_corps.first_corp(session, tenant_id)
    if corp is None:
        return []
    try:
        return corp.client.follow_users()
    except PlatformError as error:
        logger.info("live codes form: no member list from WeCom: %s", error)
        return []


def _form_context(
    request: Request,
    session: Session,
    actor: Actor,
    form: dict[str, Any],
    code: LiveCode | None,
    error: str = "",
) -> dict[str, Any]:
    members = list(form.get("members") or [])
    members += [{"userid": "", "weekdays": list(WEEKDAYS), "ranges": [], "daily_limit": 0}] * BLANK_ROWS
    return {
        "subnav": "livecodes",
        "code": code,
        "form": form,
        "rows": [
            {
                "userid": member["userid"],
                "weekdays": member["weekdays"],
                "ranges": ", ".join(f"{start}-{end}" for start, end in member["ranges"]),
                "daily_limit": member["daily_limit"],
            }
            for member in members
        ],
        "weekdays": WEEKDAYS,
        "channels": ChannelKind.ALL,
        "manual_tags": [tag for tag in tags.list_tags(session, actor.tenant_id) if tag.kind == "manual"],
        "staff": _staff_choices(session, actor.tenant_id),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
        "error": error,
    }


def _form_of(code: LiveCode | None) -> dict[str, Any]:
    if code is None:
        return {"name": "", "channel": ChannelKind.POSTER, "members": [], "backups": [], "tag_ids": [],
                "remark_template": "{channel}-{staff}", "description": "", "skip_verify": True, "is_active": True}  # fmt: skip
    return {
        "name": code.name,
        "channel": code.channel,
        "members": code.pool.get("members") or [],
        "backups": code.pool.get("backups") or [],
        "tag_ids": list(code.tag_ids or []),
        "remark_template": code.remark_template,
        "description": code.description,
        "skip_verify": code.skip_verify,
        "is_active": code.is_active,
    }


def _ranges(text: str) -> list[tuple[str, str]]:
    found = []
    for part in text.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        start, separator, end = part.replace("～", "-").replace("~", "-").partition("-")
        found.append((start.strip(), end.strip() if separator else ""))
    return found


def _submitted(
    name: str,
    channel: str,
    member_userid: list[str],
    member_weekday: list[str],
    member_ranges: list[str],
    member_limit: list[str],
    backups: str,
    tag_ids: list[str],
    remark_template: str,
    description: str,
    skip_verify: str,
    is_active: str,
) -> tuple[dict[str, Any], service.LiveCodeInput]:
    """The form as typed (to show again) and as service input. Weekday boxes carry "row:day"."""
    days: dict[int, list[int]] = {}
    for value in member_weekday:
        row, _, day = value.partition(":")
        if row.isdigit() and day.isdigit():
            days.setdefault(int(row), []).append(int(day))
    members: list[dict[str, Any]] = []
    for index, userid in enumerate(member_userid):
        if not userid.strip():
            continue
        limit_text = (member_limit[index] if index < len(member_limit) else "").strip() or "0"
        try:
            limit = int(limit_text)
        except ValueError:
            limit = -1  # refused by the service with the daily limit's message
        members.append(
            {
                "userid": userid.strip(),
                "weekdays": sorted(days.get(index, [])),
                "ranges": _ranges(member_ranges[index] if index < len(member_ranges) else ""),
                "daily_limit": limit,
            }
        )
    backup_list = [part.strip() for part in backups.replace("，", ",").split(",") if part.strip()]
    form = {
        "name": name,
        "channel": channel,
        "members": members,
        "backups": backup_list,
        "tag_ids": tag_ids,
        "remark_template": remark_template,
        "description": description,
        "skip_verify": bool(skip_verify),
        "is_active": bool(is_active),
    }
    data = service.LiveCodeInput(
        name=name,
        channel=channel,
        members=[
            service.MemberInput(member["userid"], member["weekdays"], member["ranges"], member["daily_limit"])
            for member in members
        ],
        backups=backup_list,
        tag_ids=tag_ids,
        remark_template=remark_template,
        description=description,
        skip_verify=bool(skip_verify),
        is_active=bool(is_active),
    )
    return form, data


def _save(
    request: Request,
    session: Session,
    actor: Actor,
    code: LiveCode | None,
    form: dict[str, Any],
    data: service.LiveCodeInput,
) -> Response:
    try:
        if code is None:
            saved = service.create_code(session, actor, data)
        else:
            saved = service.update_code(session, actor, code.id, data)
    except InvalidInput as error:
        session.rollback()
        message = error_message(request, error.code, error.message)
        if error.code == "livecode_wecom_refused":
            message = f"{message}（{error.message}）"
        context = _form_context(request, session, actor, form, code, message)
        return render(request, "engage/livecodes/edit.html", context, session=session, status_code=422)
    return RedirectResponse(f"{BASE}/{saved.id}", status_code=303)


@router.get(BASE)
def list_page(
    request: Request, actor: Manager, session: SessionDep, notice: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    codes = service.list_codes(session, actor.tenant_id)
    context = {
        "subnav": "livecodes",
        "codes": codes,
        "counts": service.add_counts(session, actor.tenant_id),
        "has_logo": service.has_logo(session, actor.tenant_id),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
        "notice": gettext(language_of(request), f"engage.livecodes.notice.{notice}")
        if notice in ("logo", "deleted")
        else "",
    }
    return render(request, "engage/livecodes/index.html", context, session=session)


@router.post(BASE + "/logo")
def upload_logo(
    request: Request, actor: Manager, session: SessionDep, logo: Annotated[UploadFile | None, File()] = None
) -> Response:
    content = logo.file.read(service.LOGO_MAX_BYTES + 1) if logo is not None else b""
    try:
        service.set_logo(session, actor.tenant_id, content, logo.content_type or "" if logo else "")
    except DomainError as error:
        session.rollback()
        context = {
            "subnav": "livecodes",
            "codes": service.list_codes(session, actor.tenant_id),
            "counts": service.add_counts(session, actor.tenant_id),
            "has_logo": service.has_logo(session, actor.tenant_id),
            "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
            "flash_error": error_message(request, error.code, error.message),
        }
        return render(
            request, "engage/livecodes/index.html", context, session=session, status_code=error.status_code
        )
    return RedirectResponse(f"{BASE}?notice=logo", status_code=303)


@router.get(BASE + "/new")
def new_page(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    context = _form_context(request, session, actor, _form_of(None), None)
    return render(request, "engage/livecodes/edit.html", context, session=session)


@router.post(BASE + "/new")
def create(
    request: Request,
    actor: Manager,
    session: SessionDep,
    name: TextField = "",
    channel: TextField = "",
    member_userid: ListField = [],  # noqa: B006 - FastAPI copies defaults
    member_weekday: Annotated[list[str], Form(max_length=700)] = [],  # noqa: B006
    member_ranges: ListField = [],  # noqa: B006
    member_limit: ListField = [],  # noqa: B006
    backups: TextField = "",
    tag_ids: ListField = [],  # noqa: B006
    remark_template: TextField = "",
    description: TextField = "",
    skip_verify: TextField = "",
    is_active: TextField = "",
) -> Response:
    form, data = _submitted(name, channel, member_userid, member_weekday, member_ranges, member_limit,
                            backups, tag_ids, remark_template, description, skip_verify, is_active)  # fmt: skip
    return _save(request, session, actor, None, form, data)


@router.get(BASE + "/{live_code_id}/edit")
def edit_page(live_code_id: str, request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    code = service.get_code(session, actor.tenant_id, live_code_id)
    context = _form_context(request, session, actor, _form_of(code), code)
    return render(request, "engage/livecodes/edit.html", context, session=session)


@router.post(BASE + "/{live_code_id}/edit")
def update(
    live_code_id: str,
    request: Request,
    actor: Manager,
    session: SessionDep,
    name: TextField = "",
    channel: TextField = "",
    member_userid: ListField = [],  # noqa: B006
    member_weekday: Annotated[list[str], Form(max_length=700)] = [],  # noqa: B006
    member_ranges: ListField = [],  # noqa: B006
    member_limit: ListField = [],  # noqa: B006
    backups: TextField = "",
    tag_ids: ListField = [],  # noqa: B006
    remark_template: TextField = "",
    description: TextField = "",
    skip_verify: TextField = "",
    is_active: TextField = "",
) -> Response:
    code = service.get_code(session, actor.tenant_id, live_code_id)
    form, data = _submitted(name, channel, member_userid, member_weekday, member_ranges, member_limit,
                            backups, tag_ids, remark_template, description, skip_verify, is_active)  # fmt: skip
    return _save(request, session, actor, code, form, data)


@router.post(BASE + "/{live_code_id}/delete")
def delete(live_code_id: str, request: Request, actor: Manager, session: SessionDep) -> Response:
    service.delete_code(session, actor, live_code_id)
    return RedirectResponse(f"{BASE}?notice=deleted", status_code=303)


def _charts(request: Request, stats: service.CodeStats) -> tuple[dict[str, Any], dict[str, Any]]:
    def t(key: str) -> str:
        return gettext(language_of(request), f"engage.livecodes.{key}")

    axis = {"type": "value", "minInterval": 1, "splitLine": {"lineStyle": {"color": "#f0f0f0"}}}
    daily = {
        "color": ["#1677ff", "#ff4d4f"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "icon": "roundRect", "itemWidth": 12, "itemHeight": 8},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [day.strftime("%m-%d") for day, _, _ in stats.per_day]},
        "yAxis": axis,
        "series": [
            {
                "name": t("series.adds"),
                "type": "bar",
                "barMaxWidth": 18,
                "data": [adds for _, adds, _ in stats.per_day],
            },
            {
                "name": t("series.lost"),
                "type": "line",
                "symbolSize": 5,
                "data": [lost for _, _, lost in stats.per_day],
            },
        ],
    }
    staff = {
        "color": ["#1677ff", "#ff4d4f"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "icon": "roundRect", "itemWidth": 12, "itemHeight": 8},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [userid for userid, _, _ in stats.per_staff]},
        "yAxis": axis,
        "series": [
            {
                "name": t("series.adds"),
                "type": "bar",
                "barMaxWidth": 24,
                "data": [adds for _, adds, _ in stats.per_staff],
            },
            {
                "name": t("series.lost"),
                "type": "bar",
                "barMaxWidth": 24,
                "data": [lost for _, _, lost in stats.per_staff],
            },
        ],
    }
    return daily, staff


@router.get(BASE + "/{live_code_id}")
def stats_page(live_code_id: str, request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    code = service.get_code(session, actor.tenant_id, live_code_id)
    stats = service.stats(session, actor.tenant_id, code.id)
    daily, staff = _charts(request, stats)
    # Sandbox only: the emulator's QR page has a "scan" twin that adds a brand-new customer.
    scan_url = (
        code.qr_code.replace("/contact_way_qr/", "/scan/")
        if "/sandbox/wecom/contact_way_qr/" in code.qr_code
        else ""
    )
    known = {tag.id: tag.name for tag in tags.list_tags(session, actor.tenant_id)}
    context = {
        "subnav": "livecodes",
        "code": code,
        "stats": stats,
        "daily_chart": daily,
        "staff_chart": staff,
        "scan_url": scan_url,
        "tag_names": [known[tag_id] for tag_id in code.tag_ids or [] if tag_id in known],
        "channel_label": service.CHANNEL_LABELS.get(code.channel, code.channel),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
    }
    return render(request, "engage/livecodes/detail.html", context, session=session)


@router.get(BASE + "/{live_code_id}/qr.png", response_class=Response)
def qr_image(live_code_id: str, actor: Manager, session: SessionDep) -> Response:
    code, png = service.qr_png(session, actor.tenant_id, live_code_id)
    disposition = f'attachment; filename="live-code-{code.state}.png"'
    return Response(png, media_type="image/png", headers={"Content-Disposition": disposition})
