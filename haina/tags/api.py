"""REST: tag groups, tags (manual and rule tags, their evaluations and carriers), manual tagging
of one or many customers, and segments (live counts, previews, audited CSV/Excel exports).

Reading needs customers.read, changing customers.manage, exporting customers.export. Agents see only
the customers they follow, in carriers, counts and previews alike."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.tags import exports, service
from haina.tags.schemas import (
    BulkTagIn,
    BulkTagOut,
    CarriedTagOut,
    CarrierListOut,
    CarrierOut,
    CountOut,
    CustomerTagsIn,
    DefinitionIn,
    EvaluationOut,
    FieldsOut,
    PreviewCustomerOut,
    PreviewOut,
    SegmentIn,
    SegmentOut,
    SegmentPatch,
    TagChangeOut,
    TagGroupIn,
    TagGroupOut,
    TagGroupPatch,
    TagIn,
    TagListOut,
    TagOut,
    TagPatch,
)
from haina.tags.segments import CustomerRow
from haina.web.database import SessionDep
from haina.web.errors import language_of
from haina.web.security import require

router = APIRouter(tags=["tags"])

Reader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
Manager = Annotated[Actor, require(Permission.CUSTOMERS_MANAGE)]
Exporter = Annotated[Actor, require(Permission.CUSTOMERS_EXPORT)]
GroupId = Annotated[str, Path(max_length=32)]
TagId = Annotated[str, Path(max_length=32)]
SegmentId = Annotated[str, Path(max_length=32)]
CustomerId = Annotated[str, Path(max_length=32)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _tag_out(
    tag: service.Tag, counts: dict[str, int], evaluation: service.TagEvaluation | None = None
) -> TagOut:
    out = TagOut.model_validate(tag)
    out.customer_count = counts.get(tag.id, 0)
    out.evaluation = EvaluationOut.of(evaluation) if evaluation is not None else None
    return out


def _one_tag(session: SessionDep, actor: Actor, tag: service.Tag) -> TagOut:
    return _tag_out(
        tag,
        service.counts(session, actor, [tag.id]),
        service.latest_evaluations(session, actor.tenant_id, [tag.id]).get(tag.id),
    )


# ── Tag groups ──────────────────────────────────────────────────────────────────────────────


@router.get("/api/v1/tag-groups", response_model=list[TagGroupOut])
def list_groups(actor: Reader, session: SessionDep) -> list[TagGroupOut]:
    """Tag groups in their order, with how many tags each holds."""
    tags = service.list_tags(session, actor.tenant_id)
    found = []
    for group in service.list_groups(session, actor.tenant_id):
        out = TagGroupOut.model_validate(group)
        out.tag_count = sum(1 for tag in tags if tag.group_id == group.id)
        found.append(out)
    return found


@router.post("/api/v1/tag-groups", response_model=TagGroupOut, status_code=201)
def create_group(body: TagGroupIn, actor: Manager, session: SessionDep) -> TagGroupOut:
    return TagGroupOut.model_validate(service.create_group(session, actor, body.name, order=body.order))


@router.patch("/api/v1/tag-groups/{group_id}", response_model=TagGroupOut)
def update_group(group_id: GroupId, body: TagGroupPatch, actor: Manager, session: SessionDep) -> TagGroupOut:
    group = service.update_group(session, actor, group_id, name=body.name, order=body.order)
    return TagGroupOut.model_validate(group)


@router.delete("/api/v1/tag-groups/{group_id}", status_code=204)
def delete_group(group_id: GroupId, actor: Manager, session: SessionDep) -> Response:
    """Deletes the group and its tags; their carriers lose them (with history and events)."""
    service.delete_group(session, actor, group_id)
    return Response(status_code=204)


# ── Tags ────────────────────────────────────────────────────────────────────────────────────


@router.get("/api/v1/tags/fields", response_model=FieldsOut)
def condition_fields(actor: Reader) -> FieldsOut:
    """The condition catalogue the rule builder is drawn from: fields, operators, values, params."""
    from haina.tags import conditions

    return FieldsOut(fields=conditions.catalogue())


@router.get("/api/v1/tags", response_model=TagListOut)
def list_tags(
    actor: Reader,
    session: SessionDep,
    group_id: Annotated[str, Query(max_length=32)] = "",
    kind: Annotated[str, Query(pattern="^(manual|rule|)$")] = "",
) -> TagListOut:
    """Tags (optionally of one group or kind) with live customer counts and the latest evaluation."""
    tags = service.list_tags(session, actor.tenant_id, group_id=group_id or None, kind=kind or None)
    counts = service.counts(session, actor, [tag.id for tag in tags])
    evaluations = service.latest_evaluations(session, actor.tenant_id, [tag.id for tag in tags])
    return TagListOut(items=[_tag_out(tag, counts, evaluations.get(tag.id)) for tag in tags], total=len(tags))


@router.post("/api/v1/tags", response_model=TagOut, status_code=201)
def create_tag(body: TagIn, actor: Manager, session: SessionDep) -> TagOut:
    """A manual or rule tag. A rule is validated (422 naming the bad condition's path) and a batch
    evaluation is queued; follow it at /api/v1/tags/{id}/evaluation."""
    tag = service.create_tag(
        session,
        actor,
        service.TagInput(
            name=body.name,
            group_id=body.group_id,
            kind=body.kind,
            rule=body.rule,
            description=body.description,
            order=body.order,
        ),
    )
    return _one_tag(session, actor, tag)


@router.post("/api/v1/tags/bulk", response_model=BulkTagOut)
def bulk_tag(body: BulkTagIn, actor: Manager, session: SessionDep) -> BulkTagOut:
    """Add or remove manual tags on many customers at once (a bulk action of the customer list)."""
    applied = service.tag_customers(
        session, actor, body.customer_ids, body.tag_ids, remove=body.action == "remove"
    )
    return _applied(applied)


def _applied(applied: service.changes.Applied) -> BulkTagOut:
    def out(change: service.changes.Change) -> TagChangeOut:
        return TagChangeOut(
            customer_id=change.customer_id,
            tag_id=change.tag_id,
            tag_name=change.tag_name,
            source=change.source,
            reason=change.reason,
        )

    return BulkTagOut(added=[out(c) for c in applied.added], removed=[out(c) for c in applied.removed])


@router.get("/api/v1/tags/{tag_id}", response_model=TagOut)
def get_tag(tag_id: TagId, actor: Reader, session: SessionDep) -> TagOut:
    return _one_tag(session, actor, service.get_tag(session, actor.tenant_id, tag_id))


@router.patch("/api/v1/tags/{tag_id}", response_model=TagOut)
def update_tag(tag_id: TagId, body: TagPatch, actor: Manager, session: SessionDep) -> TagOut:
    """Rename, move, describe or change the rule; a changed rule queues a new evaluation."""
    fields = body.model_dump(exclude_unset=True)
    tag = service.update_tag(
        session,
        actor,
        tag_id,
        name=fields.get("name"),
        group_id=fields.get("group_id"),
        description=fields.get("description"),
        order=fields.get("order"),
        **({"rule": fields["rule"]} if "rule" in fields else {}),
    )
    return _one_tag(session, actor, tag)


@router.delete("/api/v1/tags/{tag_id}", status_code=204)
def delete_tag(tag_id: TagId, actor: Manager, session: SessionDep) -> Response:
    service.delete_tag(session, actor, tag_id)
    return Response(status_code=204)


@router.get("/api/v1/tags/{tag_id}/evaluation", response_model=EvaluationOut | None)
def latest_evaluation(tag_id: TagId, actor: Reader, session: SessionDep) -> EvaluationOut | None:
    """The latest batch evaluation of a rule tag: status, done of total, added and removed."""
    evaluation = service.latest_evaluation(session, actor.tenant_id, tag_id)
    return EvaluationOut.of(evaluation) if evaluation is not None else None


@router.post("/api/v1/tags/{tag_id}/evaluate", response_model=EvaluationOut, status_code=202)
def evaluate_tag(tag_id: TagId, actor: Manager, session: SessionDep) -> EvaluationOut:
    """Queue a batch evaluation of a rule tag over every customer."""
    return EvaluationOut.of(service.evaluate_tag(session, actor, tag_id))


@router.get("/api/v1/tags/{tag_id}/customers", response_model=CarrierListOut)
def tag_carriers(
    tag_id: TagId, actor: Reader, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> CarrierListOut:
    """The customers carrying a tag (agents: those they follow), newest first."""
    found, total = service.carriers(session, actor, tag_id, limit=limit, offset=offset)
    return CarrierListOut(
        items=[
            CarrierOut(
                customer_id=item.customer.id,
                display_name=item.customer.display_name,
                phone_masked=item.customer.phone_masked,
                source=item.source,
                reason=item.reason,
                added_at=item.added_at,
            )
            for item in found
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


# ── One customer's tags ─────────────────────────────────────────────────────────────────────


@router.get("/api/v1/customers/{customer_id}/tags", response_model=list[CarriedTagOut])
def customer_tags(customer_id: CustomerId, actor: Reader, session: SessionDep) -> list[CarriedTagOut]:
    """The customer's tags with where each came from (rule, manual, WeCom) and why."""
    return [CarriedTagOut.model_validate(item) for item in service.customer_tags(session, actor, customer_id)]


@router.post("/api/v1/customers/{customer_id}/tags", response_model=list[CarriedTagOut])
def add_customer_tags(
    customer_id: CustomerId, body: CustomerTagsIn, actor: Manager, session: SessionDep
) -> list[CarriedTagOut]:
    """Add manual tags; the timeline shows who did it."""
    service.tag_customers(session, actor, [customer_id], body.tag_ids)
    return [CarriedTagOut.model_validate(item) for item in service.customer_tags(session, actor, customer_id)]


@router.delete("/api/v1/customers/{customer_id}/tags/{tag_id}", response_model=list[CarriedTagOut])
def remove_customer_tag(
    customer_id: CustomerId, tag_id: TagId, actor: Manager, session: SessionDep
) -> list[CarriedTagOut]:
    service.tag_customers(session, actor, [customer_id], [tag_id], remove=True)
    return [CarriedTagOut.model_validate(item) for item in service.customer_tags(session, actor, customer_id)]


# ── Segments ────────────────────────────────────────────────────────────────────────────────


def _preview(items: list[CustomerRow], count: int) -> PreviewOut:
    return PreviewOut(
        count=count,
        items=[
            PreviewCustomerOut(
                customer_id=item.customer_id, display_name=item.display_name, phone_masked=item.phone_masked
            )
            for item in items
        ],
    )


@router.get("/api/v1/segments", response_model=list[SegmentOut])
def list_segments(actor: Reader, session: SessionDep) -> list[SegmentOut]:
    return [SegmentOut.model_validate(segment) for segment in service.list_segments(session, actor.tenant_id)]


@router.post("/api/v1/segments", response_model=SegmentOut, status_code=201)
def create_segment(body: SegmentIn, actor: Manager, session: SessionDep) -> SegmentOut:
    """A saved filter; its definition is validated (422 naming the bad condition)."""
    segment = service.create_segment(
        session, actor, name=body.name, description=body.description, definition=body.definition
    )
    return SegmentOut.model_validate(segment)


@router.post("/api/v1/segments/count", response_model=CountOut)
def count_definition(body: DefinitionIn, actor: Reader, session: SessionDep) -> CountOut:
    """The live count of an unsaved definition (the builder's counter)."""
    return CountOut(count=service.segment_count(session, actor, body.definition))


@router.post("/api/v1/segments/preview", response_model=PreviewOut)
def preview_definition(
    body: DefinitionIn, actor: Reader, session: SessionDep, limit: Limit = 20
) -> PreviewOut:
    rows = service.segment_preview(session, actor, body.definition, limit=limit)
    return _preview(rows, service.segment_count(session, actor, body.definition))


@router.get("/api/v1/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: SegmentId, actor: Reader, session: SessionDep) -> SegmentOut:
    return SegmentOut.model_validate(service.get_segment(session, actor.tenant_id, segment_id))


@router.patch("/api/v1/segments/{segment_id}", response_model=SegmentOut)
def update_segment(
    segment_id: SegmentId, body: SegmentPatch, actor: Manager, session: SessionDep
) -> SegmentOut:
    segment = service.update_segment(session, actor, segment_id, **body.model_dump(exclude_unset=True))
    return SegmentOut.model_validate(segment)


@router.delete("/api/v1/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: SegmentId, actor: Manager, session: SessionDep) -> Response:
    service.delete_segment(session, actor, segment_id)
    return Response(status_code=204)


@router.get("/api/v1/segments/{segment_id}/count", response_model=CountOut)
def count_segment(segment_id: SegmentId, actor: Reader, session: SessionDep) -> CountOut:
    return CountOut(count=service.refresh_segment_count(session, actor, segment_id))


@router.get("/api/v1/segments/{segment_id}/preview", response_model=PreviewOut)
def preview_segment(
    segment_id: SegmentId, actor: Reader, session: SessionDep, limit: Limit = 20
) -> PreviewOut:
    segment = service.get_segment(session, actor.tenant_id, segment_id)
    rows = service.segment_preview(session, actor, segment.definition, limit=limit)
    return _preview(rows, service.segment_count(session, actor, segment.definition))


@router.get("/api/v1/segments/{segment_id}/export", response_class=Response)
def export_segment(
    request: Request,
    segment_id: SegmentId,
    actor: Exporter,
    session: SessionDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv (default) or xlsx")] = "csv",
) -> Response:
    """Every customer of the segment as CSV or Excel; written to the audit log."""
    found = exports.export_segment(session, actor, segment_id, format, language_of(request))
    return download(found)


def download(found: exports.ExportFile) -> Response:
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )
