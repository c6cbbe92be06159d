"""REST: customers (search, the 360 profile, the timeline), merge and unmerge, the review queue
and the tenant's matching settings. Agents see only the customers they follow."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.settings import Settings
from haina.customers import importing
from haina.customers.identity import merge as merges
from haina.customers.identity import profile as profiles
from haina.customers.identity import service as identity
from haina.customers.identity.models import ReviewStatus
from haina.customers.identity.resolver import Thresholds
from haina.customers.matching import LinkResult
from haina.customers.schemas import (
    CustomerListOut,
    CustomerOut,
    IdentitySettingsIn,
    IdentitySettingsOut,
    MergeOut,
    MergeRequest,
    ProfileOut,
    ReviewListOut,
    ReviewOut,
    TimelineEntryOut,
)
from haina.web.database import SessionDep, get_settings
from haina.web.security import require

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

CustomersReader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
CustomersManager = Annotated[Actor, require(Permission.CUSTOMERS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CustomerId = Annotated[str, Path(max_length=32)]
ObjectId = Annotated[str, Path(max_length=32)]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


@router.get("", response_model=CustomerListOut)
def list_customers(
    actor: CustomersReader,
    session: SessionDep,
    settings: SettingsDep,
    query: Annotated[str, Query(max_length=100, description="name, phone, platform id or customer id")] = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> CustomerListOut:
    """Search customers by any name seen, phone (full or 138****5678), platform id or customer id."""
    found, total = profiles.search_customers(
        session, actor, query, settings=settings, limit=limit, offset=offset
    )
    return CustomerListOut(
        items=[CustomerOut.of(customer) for customer in found], total=total, limit=limit, offset=offset
    )


@router.get("/reviews", response_model=ReviewListOut)
def list_reviews(
    actor: CustomersManager,
    session: SessionDep,
    status: Annotated[
        str, Query(pattern="^(open|accepted|rejected|obsolete|all)$")
    ] = ReviewStatus.OPEN.value,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ReviewListOut:
    """Candidate pairs scored below the auto-merge threshold, highest score first."""
    reviews, total, customers = profiles.list_reviews(
        session, actor.tenant_id, status=None if status == "all" else status, limit=limit, offset=offset
    )
    return ReviewListOut(items=[ReviewOut.of(review, customers) for review in reviews], total=total)


@router.post("/reviews/{review_id}/accept", response_model=ReviewOut)
def accept_review(review_id: ObjectId, actor: CustomersManager, session: SessionDep) -> ReviewOut:
    """One person: the two customers are merged (rule review_accepted, the pair's score)."""
    review = merges.accept_review(session, actor, review_id)
    return ReviewOut.of(review, _review_customers(session, actor, review.node_a, review.node_b))


@router.post("/reviews/{review_id}/reject", response_model=ReviewOut)
def reject_review(review_id: ObjectId, actor: CustomersManager, session: SessionDep) -> ReviewOut:
    """Two people: the pair is kept apart from now on, rebuilds included."""
    review = merges.reject_review(session, actor, review_id)
    return ReviewOut.of(review, _review_customers(session, actor, review.node_a, review.node_b))


def _review_customers(session: SessionDep, actor: Actor, *node_ids: str) -> dict[str, str | None]:
    from haina.customers.identity.repository import NodeRepository

    return {
        node.id: node.customer_id for node in NodeRepository(session, actor.tenant_id).by_ids(list(node_ids))
    }


@router.post("/merges/{merge_id}/undo", response_model=MergeOut)
def undo_merge(merge_id: ObjectId, actor: CustomersManager, session: SessionDep) -> MergeOut:
    """Unmerge: the absorbed customer comes back with exactly what it had; 409 if undone already."""
    return MergeOut.of(merges.unmerge(session, actor, merge_id))


@router.get("/identity-settings", response_model=IdentitySettingsOut)
def get_identity_settings(actor: CustomersReader, session: SessionDep) -> IdentitySettingsOut:
    thresholds = identity.thresholds_for(session, actor.tenant_id)
    return IdentitySettingsOut(
        auto_merge_threshold=thresholds.auto_merge,
        review_threshold=thresholds.review,
        max_cluster_nodes=thresholds.max_cluster_nodes,
        max_accounts_per_key=thresholds.max_accounts_per_key,
    )


@router.put("/identity-settings", response_model=IdentitySettingsOut)
def put_identity_settings(
    body: IdentitySettingsIn, actor: CustomersManager, session: SessionDep
) -> IdentitySettingsOut:
    """The auto-merge threshold, the review band's floor and the guard-rail limits of this tenant."""
    identity.set_thresholds(
        session,
        actor.tenant_id,
        Thresholds(
            auto_merge=body.auto_merge_threshold,
            review=body.review_threshold,
            max_cluster_nodes=body.max_cluster_nodes,
            max_accounts_per_key=body.max_accounts_per_key,
        ),
    )
    return IdentitySettingsOut(**body.model_dump())


@router.get("/{customer_id}", response_model=ProfileOut)
def get_customer(
    customer_id: CustomerId,
    actor: CustomersReader,
    session: SessionDep,
    settings: SettingsDep,
    reveal: Annotated[bool, Query(description="phones in full (needs pii.read; audited)")] = False,
) -> ProfileOut:
    """The customer 360: identities per platform, contact info (masked per role), following staff,
    orders across shops, refunds, coupons, figures and merge history."""
    return ProfileOut.of(profiles.get_profile(session, actor, customer_id, settings=settings, reveal=reveal))


@router.get("/{customer_id}/timeline", response_model=list[TimelineEntryOut])
def get_timeline(
    customer_id: CustomerId,
    actor: CustomersReader,
    session: SessionDep,
    channel: Annotated[str, Query(max_length=16, pattern="^[a-z]*$")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[TimelineEntryOut]:
    """Every touch point across channels, newest first; `channel` keeps one (youzan, wecom, system…)."""
    entries = profiles.timeline(session, actor, customer_id, channel=channel or None, limit=limit)
    return [TimelineEntryOut.model_validate(entry) for entry in entries]


@router.post("/{customer_id}/merge", response_model=MergeOut)
def merge_customer(
    customer_id: CustomerId, body: MergeRequest, actor: CustomersManager, session: SessionDep
) -> MergeOut:
    """Merge another customer with this one (the older survives); undo with /merges/{id}/undo."""
    return MergeOut.of(merges.merge_customers(session, actor, customer_id, body.other_id))


# ── Import a list (Excel/CSV): preview what would merge, download record_id → cluster_id ──────


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ImportEvidenceOut(_Out):
    comparison: str
    level: str
    weight: float


class ImportPairOut(_Out):
    left_id: str
    right_id: str
    probability: float
    weight: float
    decision: str
    reason: str
    evidence: list[ImportEvidenceOut]


class ImportClusterOut(_Out):
    cluster_id: str
    rows: list[dict[str, str]]
    pairs: list[ImportPairOut]


class ImportReviewOut(_Out):
    pair: ImportPairOut
    left: dict[str, str]
    right: dict[str, str]


class ImportPreviewOut(_Out):
    rows: int
    clusters: int
    merged_rows: int
    multi_clusters: int
    review_pairs: int
    largest_cluster: int
    phones_masked: bool
    clusters_truncated: bool
    reviews_truncated: bool
    merge_clusters: list[ImportClusterOut]
    reviews: list[ImportReviewOut]


ImportFile = Annotated[
    UploadFile,
    File(
        description="a .csv (UTF-8, UTF-8 with BOM or GB18030) or .xlsx file with some of the columns "
        "record_id, source, name, phone, email, province, city, address, birth_date, device_id, "
        "platform_uid (or 编号, 来源, 姓名, 手机, 邮箱, 省, 市, 地址, 生日, 设备号, 平台ID)"
    ),
]


def read_import_file(upload: UploadFile) -> list[dict[str, str]]:
    """The records of an uploaded file (shared with the console)."""
    content = upload.file.read(importing.MAX_BYTES + 1)
    return importing.read_upload(upload.filename or "", content)


@router.post("/import/preview", response_model=ImportPreviewOut)
def preview_import(file: ImportFile, actor: CustomersManager, session: SessionDep) -> ImportPreviewOut:
    """Link an imported list as `haina oneid link` would, without storing anything: counts, the
    clusters of several rows with the pairs' evidence, and the pairs to review. Phones are masked
    unless the role may read PII. At most 20,000 rows; bad input answers 422 saying what to fix."""
    records = read_import_file(file)
    result = importing.link_records(records)
    found = importing.preview(records, result, reveal_phones=actor.may_see_pii)
    audit.record(
        session,
        "customers.import_previewed",
        actor=actor,
        target_type="customer_import",
        target_id=(file.filename or "")[:64],
        detail={"rows": found.rows, "merged_rows": found.merged_rows, "review_pairs": found.review_pairs},
    )
    return ImportPreviewOut.model_validate(found)


@router.post("/import/result", response_class=Response)
def import_result(
    file: ImportFile,
    actor: CustomersManager,
    session: SessionDep,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv (default) or xlsx")] = "csv",
) -> Response:
    """`record_id,cluster_id` for every row, the file `haina oneid link` writes (or as .xlsx)."""
    records = read_import_file(file)
    result = importing.link_upload(session, actor, records, file.filename or "", format)
    return import_download(result, format)


def import_download(result: LinkResult, format: str) -> Response:
    if format == "xlsx":
        return Response(
            importing.result_xlsx(result),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": 'attachment; filename="oneid-clusters.xlsx"'},
        )
    return Response(
        importing.result_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="oneid-clusters.csv"'},
    )
