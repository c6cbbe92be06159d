"""API shapes of mass messages (群发)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_In):
    kind: Literal["link", "image", "miniprogram"]
    title: str = Field(default="", max_length=64)
    url: str = Field(default="", max_length=2000)
    image_url: str = Field(default="", max_length=2000)
    image_id: str = Field(default="", max_length=32, description="image: a picture of /api/v1/engage/images")
    appid: str = Field(default="", max_length=64)
    page: str = Field(default="", max_length=500)


class TagFilterIn(_In):
    any: list[str] = Field(default_factory=list, max_length=100, description="carries any of these tags")
    all: list[str] = Field(
        default_factory=list, max_length=100, description="carries every one of these tags"
    )
    exclude: list[str] = Field(default_factory=list, max_length=100, description="carries none of these tags")


class BroadcastIn(_In):
    title: str = Field(max_length=60)
    text: str = Field(default="", max_length=4000, description="one text for everyone: no variables")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)
    target_kind: Literal["segment", "tags"] = "segment"
    segment_id: str | None = Field(default=None, max_length=32)
    tag_filter: TagFilterIn = Field(default_factory=TagFilterIn)
    scheduled_at: datetime | None = Field(default=None, description="None: a draft, sent with /send")


class CapIn(_In):
    monthly_cap: int = Field(ge=1, le=31)


class CapOut(BaseModel):
    monthly_cap: int


class FiguresOut(_Out):
    targeted: int
    sendable: int
    staff_total: int
    staff_confirmed: int
    delivered: int
    replied: int
    by_status: dict[str, int]


class StaffOut(_Out):
    userid: str
    recipients: int
    delivered: int
    status: str
    confirmed_at: datetime | None
    reminded_at: datetime | None


class BroadcastOut(_Out):
    id: str
    title: str
    text: str
    attachments: list[dict[str, str]]
    target_kind: str
    segment_id: str | None
    tag_filter: dict[str, list[str]]
    status: str
    scheduled_at: datetime | None
    sent_at: datetime | None
    error: str
    created_by: str
    created_at: datetime
    stats: FiguresOut | None = None
    staff: list[StaffOut] = Field(default_factory=list)


class PreviewRecipientOut(_Out):
    customer_id: str
    display_name: str
    external_userid: str
    sender_userid: str


class PreviewOut(BaseModel):
    targeted: int
    sendable: int
    excluded: dict[str, int]
    senders: dict[str, int]
    recipients: list[PreviewRecipientOut]


class RemindOut(BaseModel):
    reminded: int
