"""Console: the customer list with search (/customers), the customer 360 profile with its journey
timeline (/customers/{id}), the review queue with a side-by-side compare (/customers/reviews),
merge and unmerge; and the WeCom sidebar (/sidebar/customer), a narrow page opened beside a
chat.

The sidebar learns the chat's external contact from the WeCom JS-SDK (`getCurExternalContact`)
when it runs inside WeCom, or from `?external_userid=` (the demo and the browser test). Either
way the staff member must be signed in; in production WeCom's OAuth (code → userid) signs them
in, which is the auth module's business, not a URL parameter.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError, NotFound
from haina.core.i18n import gettext
from haina.core.money import fen_to_yuan
from haina.core.settings import Settings
from haina.customers import importing
from haina.customers.api import import_download, read_import_file
from haina.customers.identity import merge as merges
from haina.customers.identity import profile as profiles
from haina.customers.identity.models import CustomerStatus, ReviewStatus
from haina.customers.identity.rules import RULES
from haina.web.database import get_settings
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, error_message, is_htmx, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

CustomersReader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
CustomersManager = Annotated[Actor, require(Permission.CUSTOMERS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CustomerId = Annotated[str, Path(max_length=32)]
ObjectId = Annotated[str, Path(max_length=32)]
PAGE_SIZE = 30
PLATFORM_COLORS = {
    "taobao": "#ff7a45",
    "tmall": "#f5222d",
    "youzan": "#cf1322",
    "jd": "#d4380d",
    "pdd": "#eb2f96",
    "douyin": "#262626",
    "pos": "#13c2c2",
    "wecom": "#1677ff",
}


def _common(request: Request) -> dict[str, Any]:
    language = language_of(request)
    return {
        "yuan": fen_to_yuan,
        "platform_name": lambda platform: gettext(
            language, f"connections.platform.{platform}", default=platform
        ),
        "kind_name": lambda kind: gettext(language, f"customers.kind.{kind}", default=kind),
        "rule_name": lambda rule: gettext(language, f"customers.rule.{rule}", default=rule),
        "status_name": lambda status: gettext(language, f"customers.order_status.{status}", default=status),
    }


# ── List and search ──────────────────────────────────────────────────────────────────────────


@router.get("/customers")
def customers_page(
    request: Request,
    actor: CustomersReader,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    found, total = profiles.search_customers(
        session, actor, q, settings=settings, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        **_common(request),
        "customers": found,
        "total": total,
        "query": q.strip(),
        "page": page,
        "has_next": page * PAGE_SIZE < total,
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "manual_tags": _manual_tags(session, actor.tenant_id)
        if actor.can(Permission.CUSTOMERS_MANAGE)
        else [],
        "notice": _notice(request, notice),
    }
    return render(request, "customers/index.html", context, session=session)


def _manual_tags(session: Session, tenant_id: str) -> list[Any]:
    """Manual tags for the list's bulk action (the tags module depends on this one)."""
    from haina.tags import service as tags

    return tags.list_tags(session, tenant_id, kind="manual")


# ── Review queue ─────────────────────────────────────────────────────────────────────────────


@router.get("/customers/reviews")
def reviews_page(
    request: Request,
    actor: CustomersManager,
    session: SessionDep,
    status: Annotated[str, Query(pattern="^(open|accepted|rejected|obsolete)$")] = ReviewStatus.OPEN.value,
    decided: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    reviews, total, customers = profiles.list_reviews(session, actor.tenant_id, status=status, limit=100)
    notice = (
        gettext(language_of(request), f"customers.review.decided.{decided}", default="") if decided else ""
    )
    context = {
        **_common(request),
        "reviews": reviews,
        "total": total,
        "status": status,
        "node_customers": customers,
        "notice": notice,
    }
    return render(request, "customers/reviews.html", context, session=session)


@router.get("/customers/reviews/{review_id}")
def review_page(
    request: Request, review_id: ObjectId, actor: CustomersManager, session: SessionDep
) -> HTMLResponse:
    compare = profiles.compare_review(session, actor, review_id)
    return render(request, "customers/review.html", {**_common(request), "compare": compare}, session=session)


def _decide(request: Request, session: Session, actor: Actor, review_id: str, *, accept: bool) -> Response:
    try:
        merges.decide_review(session, actor, review_id, accept=accept)
    except NotFound:
        raise
    except DomainError as error:
        session.rollback()
        message = error_message(request, error.code, error.message)
        compare = profiles.compare_review(session, actor, review_id)
        context = {**_common(request), "compare": compare, "flash_error": message}
        return render(
            request, "customers/review.html", context, session=session, status_code=error.status_code
        )
    return RedirectResponse(
        f"/customers/reviews?decided={'accepted' if accept else 'rejected'}", status_code=303
    )


@router.post("/customers/reviews/{review_id}/accept")
def accept_review(
    request: Request, review_id: ObjectId, actor: CustomersManager, session: SessionDep
) -> Response:
    return _decide(request, session, actor, review_id, accept=True)


@router.post("/customers/reviews/{review_id}/reject")
def reject_review(
    request: Request, review_id: ObjectId, actor: CustomersManager, session: SessionDep
) -> Response:
    return _decide(request, session, actor, review_id, accept=False)


# ── Import a list (Excel/CSV) ────────────────────────────────────────────────────────────────
# Declared before /customers/{customer_id}: routes match in order.


def _import_page(
    request: Request,
    session: Session,
    *,
    found: importing.ImportPreview | None = None,
    filename: str = "",
    download: str = "",
    error: importing.ImportFileError | None = None,
) -> HTMLResponse:
    language = language_of(request)
    context = {
        **_common(request),
        "found": found,
        "filename": filename,
        "download": download,
        "fields": importing.RECORD_FIELDS,
        "chinese_headers": importing.CHINESE_HEADERS,
        "max_rows": importing.MAX_ROWS,
        "flash_error": gettext(language, error.key, default=error.message, **error.params) if error else "",
    }
    return render(
        request, "customers/import.html", context, session=session, status_code=422 if error else 200
    )


@router.get("/customers/import")
def import_page(request: Request, actor: CustomersManager, session: SessionDep) -> HTMLResponse:
    """Upload a customer list (Excel/CSV) and see which rows the matcher would merge."""
    return _import_page(request, session)


@router.post("/customers/import")
def import_preview(
    request: Request,
    actor: CustomersManager,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    filename = file.filename or ""
    try:
        records = read_import_file(file)
    except importing.ImportFileError as error:
        return _import_page(request, session, filename=filename, error=error)
    result = importing.link_records(records)
    found = importing.preview(records, result, reveal_phones=actor.may_see_pii)
    audit.record(
        session,
        "customers.import_previewed",
        actor=actor,
        target_type="customer_import",
        target_id=filename[:64],
        detail={"rows": found.rows, "merged_rows": found.merged_rows, "review_pairs": found.review_pairs},
    )
    download = "data:text/csv;charset=utf-8;base64," + base64.b64encode(importing.result_csv(result)).decode(
        "ascii"
    )
    return _import_page(request, session, found=found, filename=filename, download=download)


@router.post("/customers/import/result")
def import_result(
    request: Request,
    actor: CustomersManager,
    session: SessionDep,
    file: Annotated[UploadFile, File()],
    format: Annotated[str, Form(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    """The record_id → cluster_id file of an uploaded list, without a preview first."""
    try:
        records = read_import_file(file)
    except importing.ImportFileError as error:
        return _import_page(request, session, filename=file.filename or "", error=error)
    result = importing.link_upload(session, actor, records, file.filename or "", format)
    return import_download(result, format)


# ── Profile and timeline ─────────────────────────────────────────────────────────────────────


def _orders_chart(request: Request, orders: list[profiles.OrderView]) -> dict[str, Any] | None:
    """An ECharts option: paid amount (yuan) per month, stacked by platform."""
    if not orders:
        return None
    language = language_of(request)
    months = sorted({order.created_at.strftime("%Y-%m") for order in orders})
    by_platform: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(months, 0))
    for order in orders:
        by_platform[order.platform][order.created_at.strftime("%Y-%m")] += order.paid_fen
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "icon": "roundRect", "itemWidth": 12, "itemHeight": 8},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": months, "axisTick": {"show": False}},
        "yAxis": {"type": "value", "splitLine": {"lineStyle": {"color": "#f0f0f0"}}},
        "series": [
            {
                "name": gettext(language, f"connections.platform.{platform}", default=platform),
                "type": "bar",
                "stack": "paid",
                "barMaxWidth": 18,
                "itemStyle": {"color": PLATFORM_COLORS.get(platform, "#8c8c8c")},
                "data": [round(values[month] / 100, 2) for month in months],
            }
            for platform, values in sorted(by_platform.items())
        ],
    }


def _notice(request: Request, notice: str) -> str:
    language = language_of(request)
    if notice.startswith("error."):
        failed = gettext(language, "customers.notice.merge_failed")
        return f"{failed}: {gettext(language, notice, default=notice.removeprefix('error.'))}"
    return gettext(language, f"customers.notice.{notice}", default="") if notice else ""


@router.get("/customers/{customer_id}")
def profile_page(
    request: Request,
    customer_id: CustomerId,
    actor: CustomersReader,
    session: SessionDep,
    settings: SettingsDep,
    channel: Annotated[str, Query(max_length=16, pattern="^[a-z]*$")] = "",
    reveal: Annotated[bool, Query()] = False,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    customer = profiles.get_customer(session, actor, customer_id)
    if customer.status == CustomerStatus.MERGED.value and customer.merged_into_id:
        return RedirectResponse(f"/customers/{customer.merged_into_id}?notice=merged", status_code=303)
    profile = profiles.get_profile(session, actor, customer_id, settings=settings, reveal=reveal)
    entries = profiles.timeline(session, actor, customer_id, channel=channel or None)
    context = {
        **_common(request),
        "profile": profile,
        "customer": profile.customer,
        "entries": entries,
        "channel": channel,
        "channels": profiles.CHANNELS,
        "chart": _orders_chart(request, profile.orders),
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "can_reveal": actor.may_see_pii,
        "can_read_chats": actor.can(Permission.CHATS_READ),
        "revealed": reveal and actor.may_see_pii,
        "notice": _notice(request, notice),
        "notice_kind": "error" if notice.startswith("error.") else "success",
        "platform_list": " · ".join(
            gettext(language_of(request), f"connections.platform.{platform}", default=platform)
            for platform in profile.stats.platforms
        ),
        "rules": RULES,
    }
    return render(request, "customers/profile.html", context, session=session)


@router.get("/customers/{customer_id}/timeline")
def timeline_partial(
    request: Request,
    customer_id: CustomerId,
    actor: CustomersReader,
    session: SessionDep,
    channel: Annotated[str, Query(max_length=16, pattern="^[a-z]*$")] = "",
) -> Response:
    profiles.get_customer(session, actor, customer_id)
    if not is_htmx(request):
        suffix = f"?channel={channel}" if channel else ""
        return RedirectResponse(f"/customers/{customer_id}{suffix}", status_code=303)
    entries = profiles.timeline(session, actor, customer_id, channel=channel or None)
    context = {**_common(request), "entries": entries, "channel": channel, "customer_id": customer_id}
    return render(request, "customers/timeline.html", context)


@router.post("/customers/{customer_id}/merge")
def merge_customer(
    request: Request,
    customer_id: CustomerId,
    actor: CustomersManager,
    session: SessionDep,
    other_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    profiles.get_customer(session, actor, customer_id)  # 404 first, like the API
    try:
        merge = merges.merge_customers(session, actor, customer_id, other_id.strip())
    except NotFound:
        raise
    except DomainError as error:
        session.rollback()
        return RedirectResponse(f"/customers/{customer_id}?notice=error.{error.code}", status_code=303)
    return RedirectResponse(f"/customers/{merge.survivor_id}?notice=merged_now", status_code=303)


@router.post("/customers/merges/{merge_id}/undo")
def undo_merge(merge_id: ObjectId, actor: CustomersManager, session: SessionDep) -> Response:
    merge = merges.unmerge(session, actor, merge_id)
    return RedirectResponse(f"/customers/{merge.absorbed_id}?notice=unmerged", status_code=303)


# ── The WeCom sidebar ────────────────────────────────────────────────────────────────────────


def _sidebar_context(
    request: Request, session: Session, actor: Actor, external_userid: str
) -> dict[str, Any]:
    view, not_found = None, False
    if external_userid:
        try:
            view = profiles.sidebar(session, actor, external_userid)
        except NotFound:
            not_found = True
    return {**_common(request), "view": view, "not_found": not_found, "external_userid": external_userid}


@router.get("/sidebar/customer")
def sidebar_page(
    request: Request,
    actor: CustomersReader,
    session: SessionDep,
    external_userid: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The sidebar beside a WeCom chat; rendered at once when the contact is known from the URL."""
    context = _sidebar_context(request, session, actor, external_userid.strip())
    return render(request, "customers/sidebar.html", context)


@router.get("/sidebar/customer/panel")
def sidebar_panel(
    request: Request,
    actor: CustomersReader,
    session: SessionDep,
    external_userid: Annotated[str, Query(min_length=1, max_length=64)],
) -> HTMLResponse:
    """The sidebar's content for one contact (what the JS-SDK flow fetches)."""
    context = _sidebar_context(request, session, actor, external_userid.strip())
    return render(request, "customers/sidebar_panel.html", context)
