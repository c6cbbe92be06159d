"""API shapes of customer moments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_In):
    kind: Literal["link", "image"]
    title: str = Field(default="", max_length=64)
    url: str = Field(default="", max_length=2000)
    image_url: str = Field(default="", max_length=2000, description="ignored: pictures come from image_id")
    image_id: str = Field(default="", max_length=32, description="image: a picture of /api/v1/engage/images")


class MomentIn(_In):
    text: str = Field(default="", max_length=2000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)
    sender_mode: Literal["all", "picked"] = "all"
    sender_userids: list[str] = Field(default_factory=list, max_length=1000)
    tag_ids: list[str] = Field(default_factory=list, max_length=100)
    send: bool = Field(default=False, description="send at once instead of keeping a draft")


class MomentStaffOut(_Out):
    userid: str
    is_published: bool
    published_seen_at: datetime | None
    customer_count: int | None
    checked_at: datetime


class MomentOut(_Out):
    id: str
    text: str
    attachments: list[dict[str, Any]]
    sender_mode: str
    sender_userids: list[str]
    tag_ids: list[str]
    status: str
    moment_id: str
    invalid_userids: list[str]
    invalid_tag_ids: list[str]
    error: str
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    published: int = 0
    total: int = 0
    staff: list[MomentStaffOut] = Field(default_factory=list)
