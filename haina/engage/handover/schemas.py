"""API shapes of engage.handover."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HandoverIn(BaseModel):
    kind: Literal["in_office", "resigned"] = "in_office"
    handover_userid: str = Field(min_length=1, max_length=64)
    takeover_userid: str = Field(min_length=1, max_length=64)
    # None: every customer of the member (their WeCom list, or their unassigned customers)
    external_userids: list[str] | None = Field(default=None, max_length=20_000)
    transfer_message: str = Field(default="", max_length=200)


class HandoverOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    handover_userid: str
    takeover_userid: str
    transfer_message: str
    status: str
    total: int
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = {}
    percent: int = 0


class HandoverItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    external_userid: str
    contact_name: str
    batch: int
    status: str
    reason: str
    errcode: int
    requested_at: datetime | None
    settled_at: datetime | None


class ResignedMemberOut(BaseModel):
    userid: str
    dimission_time: datetime | None
    external_userids: list[str]
