"""Console: tags by group with their counts (/tags), the manual and rule tag editor with the
no-code condition builder (/tags/new, /tags/{id}/edit), a tag's page with its evaluation progress
and carriers (/tags/{id}), segments with live counts, previews and exports (/tags/segments…), and
the tags card of the customer profile (/customers/{id}/tags, HTMX).

The builder posts JSON to the REST API (same session, CSRF header); the live count and the
preview are HTMX partials fed the builder's definition as a form field. Object ids in paths are
32 hex digits (`hex32`), so /tags/lifecycle and other fixed pages are never taken for a tag.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.convertors import Convertor, register_url_convertor

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import DomainError, InvalidInput
from haina.core.i18n import gettext
from haina.customers.identity import profile as profiles
from haina.tags import service
from haina.tags.models import TagKind
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, is_htmx, local_path, render


class Hex32(Convertor[str]):
    regex = "[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("hex32", Hex32())

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Reader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
Manager = Annotated[Actor, require(Permission.CUSTOMERS_MANAGE)]
Definition = Annotated[str, Form(max_length=20_000)]
PAGE_SIZE = 30
PREVIEW_SIZE = 20
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _builder_labels(request: Request) -> dict[str, str]:
    language = language_of(request)
    keys = (
        "mode", "mode.all", "mode.any", "negate", "add_condition", "add_group", "remove", "field",
        "op", "yes", "no", "fen", "list_hint", "text_hint", "empty", "more_params",
    )  # fmt: skip
    return {key: gettext(language, f"tags.builder.{key}") for key in keys}


def _builder(request: Request, session: Session, actor: Actor) -> dict[str, Any]:
    return {
        "catalogue": service.field_catalogue(session, actor.tenant_id, language_of(request)),
        "builder_labels": _builder_labels(request),
    }


def _parse_definition(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "null")
    except ValueError as error:
        raise InvalidInput("the definition is not valid JSON", code="malformed_json", path="") from error
    if not isinstance(value, dict):
        raise InvalidInput("the definition must be a JSON object", code="invalid_condition", path="")
    return value


def _error_text(request: Request, error: DomainError) -> str:
    if language_of(request) != "en" and error.details.get("message_zh"):
        return str(error.details["message_zh"])
    return gettext(language_of(request), f"error.{error.code}", default=error.message)


# ── Tags ────────────────────────────────────────────────────────────────────────────────────


@router.get("/tags")
def tags_page(
    request: Request, actor: Reader, session: SessionDep, notice: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    groups = service.overview(session, actor)
    tag_ids = [tag.id for view in groups for tag in view.tags]
    context = {
        "groups": groups,
        "evaluations": service.latest_evaluations(session, actor.tenant_id, tag_ids),
        "tag_total": len(tag_ids),
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "notice": gettext(language_of(request), f"tags.notice.{notice}", default="") if notice else "",
        "subnav": "tags",
    }
    return render(request, "tags/index.html", context, session=session)


@router.post("/tags/groups")
def create_group(
    request: Request,
    actor: Manager,
    session: SessionDep,
    name: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    service.create_group(session, actor, name)
    return RedirectResponse("/tags?notice=group_created", status_code=303)


@router.post("/tags/groups/{group_id:hex32}/rename")
def rename_group(
    group_id: str, actor: Manager, session: SessionDep, name: Annotated[str, Form(max_length=60)] = ""
) -> Response:
    service.update_group(session, actor, group_id, name=name)
    return RedirectResponse("/tags?notice=group_renamed", status_code=303)


@router.post("/tags/groups/{group_id:hex32}/delete")
def delete_group(group_id: str, actor: Manager, session: SessionDep) -> Response:
    service.delete_group(session, actor, group_id)
    return RedirectResponse("/tags?notice=group_deleted", status_code=303)


def _editor(
    request: Request, session: Session, actor: Actor, tag: service.Tag | None, kind: str, group_id: str
) -> HTMLResponse:
    groups = service.list_groups(session, actor.tenant_id)
    context = {
        **_builder(request, session, actor),
        "tag": tag,
        "kind": tag.kind if tag else kind,
        "groups": groups,
        "group_id": tag.group_id if tag else group_id,
        "rule": tag.rule if tag else None,
        "subnav": "tags",
    }
    return render(request, "tags/edit.html", context, session=session)


@router.get("/tags/new")
def new_tag_page(
    request: Request,
    actor: Manager,
    session: SessionDep,
    kind: Annotated[str, Query(pattern="^(manual|rule)$")] = TagKind.MANUAL,
    group_id: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    return _editor(request, session, actor, None, kind, group_id)


# ── Segments (declared before /tags/{tag_id}) ───────────────────────────────────────────────


@router.get("/tags/segments")
def segments_page(request: Request, actor: Reader, session: SessionDep) -> HTMLResponse:
    context = {
        "segments": service.list_segments(session, actor.tenant_id),
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "can_export": actor.can(Permission.CUSTOMERS_EXPORT),
        "subnav": "segments",
    }
    return render(request, "tags/segments.html", context, session=session)


def _segment_page(request: Request, session: Session, actor: Actor, segment: Any) -> HTMLResponse:
    context = {
        **_builder(request, session, actor),
        "segment": segment,
        "definition": segment.definition if segment is not None else None,
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "can_export": actor.can(Permission.CUSTOMERS_EXPORT),
        "subnav": "segments",
    }
    return render(request, "tags/segment.html", context, session=session)


@router.get("/tags/segments/new")
def new_segment_page(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    return _segment_page(request, session, actor, None)


@router.get("/tags/segments/{segment_id:hex32}")
def segment_page(request: Request, segment_id: str, actor: Reader, session: SessionDep) -> HTMLResponse:
    segment = service.get_segment(session, actor.tenant_id, segment_id)
    return _segment_page(request, session, actor, segment)


@router.get("/tags/segments/{segment_id:hex32}/count")
def saved_segment_count(request: Request, segment_id: str, actor: Reader, session: SessionDep) -> Response:
    """A saved segment's count now (the list loads one per row)."""
    count = service.refresh_segment_count(session, actor, segment_id)
    return render(request, "tags/_count.html", {"count": count})


@router.post("/tags/segments/{segment_id:hex32}/delete")
def delete_segment(segment_id: str, actor: Manager, session: SessionDep) -> Response:
    service.delete_segment(session, actor, segment_id)
    return RedirectResponse("/tags/segments", status_code=303)


@router.post("/tags/segments/count")
def segment_count(
    request: Request, actor: Reader, session: SessionDep, definition: Definition = ""
) -> Response:
    """The builder's live count (HTMX): the number, or which condition is wrong."""
    try:
        count = service.segment_count(session, actor, _parse_definition(definition))
    except DomainError as error:
        if error.status_code != 422:
            raise
        session.rollback()
        context = {"error": _error_text(request, error), "path": error.details.get("path", "")}
        return render(request, "tags/_count.html", context, status_code=422)
    return render(request, "tags/_count.html", {"count": count})


@router.post("/tags/segments/preview")
def segment_preview(
    request: Request, actor: Reader, session: SessionDep, definition: Definition = ""
) -> Response:
    """Some customers of an unsaved definition (HTMX)."""
    try:
        rows = service.segment_preview(session, actor, _parse_definition(definition), limit=PREVIEW_SIZE)
    except DomainError as error:
        if error.status_code != 422:
            raise
        session.rollback()
        context = {"error": _error_text(request, error), "path": error.details.get("path", "")}
        return render(request, "tags/_preview.html", context, status_code=422)
    return render(request, "tags/_preview.html", {"rows": rows})


# ── One tag ─────────────────────────────────────────────────────────────────────────────────


@router.get("/tags/{tag_id:hex32}")
def tag_page(
    request: Request,
    tag_id: str,
    actor: Reader,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    tag = service.get_tag(session, actor.tenant_id, tag_id)
    carriers, total = service.carriers(session, actor, tag_id, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    context = {
        "tag": tag,
        "group": service.get_group(session, actor.tenant_id, tag.group_id),
        "carriers": carriers,
        "total": total,
        "page": page,
        "has_next": page * PAGE_SIZE < total,
        "evaluation": service.latest_evaluation(session, actor.tenant_id, tag_id),
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "subnav": "tags",
        **(_builder(request, session, actor) if tag.kind == TagKind.RULE else {}),
    }
    return render(request, "tags/detail.html", context, session=session)


@router.get("/tags/{tag_id:hex32}/edit")
def edit_tag_page(request: Request, tag_id: str, actor: Manager, session: SessionDep) -> HTMLResponse:
    tag = service.get_tag(session, actor.tenant_id, tag_id)
    return _editor(request, session, actor, tag, tag.kind, tag.group_id)


@router.get("/tags/{tag_id:hex32}/evaluation")
def evaluation_partial(
    request: Request,
    tag_id: str,
    actor: Reader,
    session: SessionDep,
    polling: Annotated[bool, Query()] = False,
) -> Response:
    """The progress bar of the latest batch evaluation (polled while it runs; when a polled run
    has finished, the page reloads to show the new carriers)."""
    tag = service.get_tag(session, actor.tenant_id, tag_id)
    if not is_htmx(request):
        return RedirectResponse(f"/tags/{tag_id}", status_code=303)
    context = {
        "tag": tag,
        "evaluation": service.latest_evaluation(session, actor.tenant_id, tag_id),
        "count": service.counts(session, actor, [tag_id]).get(tag_id, 0),
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        "polling": polling,
    }
    return render(request, "tags/_evaluation.html", context)


@router.post("/tags/{tag_id:hex32}/evaluate")
def evaluate_tag(request: Request, tag_id: str, actor: Manager, session: SessionDep) -> Response:
    service.evaluate_tag(session, actor, tag_id)
    return RedirectResponse(f"/tags/{tag_id}", status_code=303)


@router.post("/tags/{tag_id:hex32}/delete")
def delete_tag(tag_id: str, actor: Manager, session: SessionDep) -> Response:
    service.delete_tag(session, actor, tag_id)
    return RedirectResponse("/tags?notice=tag_deleted", status_code=303)


# ── Bulk tagging from the customer list ─────────────────────────────────────────────────────


@router.post("/tags/bulk")
def bulk_tag(
    actor: Manager,
    session: SessionDep,
    customer_ids: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006 - FastAPI copies defaults
    tag_id: Annotated[str, Form(max_length=32)] = "",
    action: Annotated[str, Form(pattern="^(add|remove)$")] = "add",
    back: Annotated[str, Form(max_length=500)] = "/customers",
) -> Response:
    """Add or remove one manual tag on the customers ticked in the customer list."""
    if not HEX32.match(tag_id):
        raise InvalidInput("choose a tag", code="tags_required")
    if not customer_ids:
        raise InvalidInput("tick at least one customer", code="customers_required")
    service.tag_customers(session, actor, customer_ids, [tag_id], remove=action == "remove")
    target = local_path(back, "/customers")
    separator = "&" if "?" in target else "?"
    notice = "bulk_untagged" if action == "remove" else "bulk_tagged"
    return RedirectResponse(f"{target}{separator}notice={notice}", status_code=303)


# ── The tags card of the customer profile ───────────────────────────────────────────────────


def _customer_card(
    request: Request,
    session: Session,
    actor: Actor,
    customer_id: str,
    status_code: int = 200,
    error: str = "",
) -> HTMLResponse:
    customer = profiles.get_customer(session, actor, customer_id)
    can_manage = actor.can(Permission.CUSTOMERS_MANAGE)
    carried = service.customer_tags(session, actor, customer.id)
    held = {item.tag_id for item in carried}
    choices = (
        [
            tag
            for tag in service.list_tags(session, actor.tenant_id, kind=TagKind.MANUAL)
            if tag.id not in held
        ]
        if can_manage
        else []
    )
    groups = {group.id: group.name for group in service.list_groups(session, actor.tenant_id)}
    context = {
        "customer_id": customer.id,
        "carried": carried,
        "choices": choices,
        "group_names": groups,
        "can_manage": can_manage,
        "card_error": error,
    }
    return render(request, "tags/_customer_tags.html", context, status_code=status_code)


@router.get("/customers/{customer_id:hex32}/tags")
def customer_tags_card(request: Request, customer_id: str, actor: Reader, session: SessionDep) -> Response:
    profiles.get_customer(session, actor, customer_id)  # 404 first, as the timeline does
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}", status_code=303)
    return _customer_card(request, session, actor, customer_id)


@router.post("/customers/{customer_id:hex32}/tags")
def add_customer_tag(
    request: Request,
    customer_id: str,
    actor: Manager,
    session: SessionDep,
    tag_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if not HEX32.match(tag_id):
        profiles.get_customer(session, actor, customer_id)
        raise InvalidInput("choose a tag to add", code="tags_required")
    service.tag_customers(session, actor, [customer_id], [tag_id])
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}?notice=tagged", status_code=303)
    return _customer_card(request, session, actor, customer_id)


@router.post("/customers/{customer_id:hex32}/tags/{tag_id:hex32}/remove")
def remove_customer_tag(
    request: Request, customer_id: str, tag_id: str, actor: Manager, session: SessionDep
) -> Response:
    service.tag_customers(session, actor, [customer_id], [tag_id], remove=True)
    if not is_htmx(request):
        return RedirectResponse(f"/customers/{customer_id}?notice=untagged", status_code=303)
    return _customer_card(request, session, actor, customer_id)
