"""API shapes of tag groups, tags, manual tagging, evaluations and segments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Field(min_length=1, max_length=30)
Id = Field(min_length=1, max_length=32)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ── Groups and tags ─────────────────────────────────────────────────────────────────────────


class TagGroupIn(_In):
    name: str = Name
    order: int = Field(default=0, ge=0, le=100_000)


class TagGroupPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=30)
    order: int | None = Field(default=None, ge=0, le=100_000)


class TagGroupOut(_Out):
    id: str
    name: str
    order: int
    created_at: datetime
    tag_count: int = 0


class TagIn(_In):
    group_id: str = Id
    name: str = Name
    kind: Literal["manual", "rule"] = "manual"
    rule: dict[str, Any] | None = Field(
        default=None, description="the condition language of conditions.py; required for a rule tag"
    )
    description: str = Field(default="", max_length=500)
    order: int = Field(default=0, ge=0, le=100_000)


class TagPatch(_In):
    group_id: str | None = Field(default=None, min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=30)
    rule: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=500)
    order: int | None = Field(default=None, ge=0, le=100_000)


class EvaluationOut(_Out):
    id: str
    tag_id: str
    rule_version: int
    status: str
    total: int
    done: int
    added: int
    removed: int
    error: str
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    percent: int = 0

    @classmethod
    def of(cls, evaluation: Any) -> EvaluationOut:
        out = cls.model_validate(evaluation)
        if evaluation.status == "done":
            out.percent = 100
        elif evaluation.total:
            out.percent = min(100, int(evaluation.done * 100 / evaluation.total))
        return out


class TagOut(_Out):
    id: str
    group_id: str
    name: str
    kind: str
    rule: dict[str, Any] | None
    rule_version: int
    description: str
    order: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    customer_count: int = 0
    evaluation: EvaluationOut | None = None


class TagListOut(BaseModel):
    items: list[TagOut]
    total: int


# ── Manual tagging ──────────────────────────────────────────────────────────────────────────


class CustomerTagsIn(_In):
    tag_ids: list[str] = Field(min_length=1, max_length=50)


class BulkTagIn(_In):
    action: Literal["add", "remove"] = "add"
    customer_ids: list[str] = Field(min_length=1, max_length=5000)
    tag_ids: list[str] = Field(min_length=1, max_length=50)


class TagChangeOut(BaseModel):
    customer_id: str
    tag_id: str
    tag_name: str
    source: str
    reason: str


class BulkTagOut(BaseModel):
    added: list[TagChangeOut] = []
    removed: list[TagChangeOut] = []


class CarriedTagOut(_Out):
    tag_id: str
    name: str
    group_id: str
    group_name: str
    kind: str
    source: str
    reason: str
    added_at: datetime


class CarrierOut(BaseModel):
    customer_id: str
    display_name: str
    phone_masked: str
    source: str
    reason: str
    added_at: datetime


class CarrierListOut(BaseModel):
    items: list[CarrierOut]
    total: int
    limit: int
    offset: int


# ── Segments ────────────────────────────────────────────────────────────────────────────────


class DefinitionIn(_In):
    definition: dict[str, Any] = Field(description="the condition language of conditions.py")


class SegmentIn(_In):
    name: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=500)
    definition: dict[str, Any]


class SegmentPatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    description: str | None = Field(default=None, max_length=500)
    definition: dict[str, Any] | None = None


class SegmentOut(_Out):
    id: str
    name: str
    description: str
    definition: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_count: int | None
    counted_at: datetime | None


class CountOut(BaseModel):
    count: int


class PreviewCustomerOut(BaseModel):
    customer_id: str
    display_name: str
    phone_masked: str


class PreviewOut(BaseModel):
    count: int
    items: list[PreviewCustomerOut]


class FieldsOut(BaseModel):
    fields: list[dict[str, Any]]
