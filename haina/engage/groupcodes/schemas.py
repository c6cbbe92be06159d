"""API shapes of group live codes (群活码)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_POOL = 100
MAX_MEMBER_LIMIT = 200  # a customer group's default cap in WeCom


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupCodeIn(_In):
    name: str = Field(min_length=1, max_length=60)
    member_limit: int = Field(default=180, ge=2, le=MAX_MEMBER_LIMIT)
    chat_ids: list[str] = Field(min_length=1, max_length=MAX_POOL)
    is_auto_create: bool = False
    room_base_name: str = Field(default="", max_length=40)
    room_base_id: int = Field(default=1, ge=1, le=1_000_000)
    connection_id: str | None = Field(default=None, max_length=32)


class GroupCodePatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    member_limit: int | None = Field(default=None, ge=2, le=MAX_MEMBER_LIMIT)
    chat_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_POOL)
    is_auto_create: bool | None = None
    room_base_name: str | None = Field(default=None, max_length=40)
    room_base_id: int | None = Field(default=None, ge=1, le=1_000_000)


class PoolGroupOut(BaseModel):
    chat_id: str
    name: str
    members: int
    limit: int
    is_full: bool
    is_listed: bool
    is_auto_created: bool
    is_dismissed: bool


class GroupCodeOut(_Out):
    id: str
    name: str
    member_limit: int
    chat_ids: list[str]
    listed_chat_ids: list[str]
    is_auto_create: bool
    room_base_name: str
    room_base_id: int
    state: str
    config_id: str
    qr_code: str
    is_pool_exhausted: bool
    sync_error: str
    synced_at: datetime | None
    created_at: datetime
    pool: list[PoolGroupOut] = []
    joins: int = 0


class GroupCodeListOut(BaseModel):
    items: list[GroupCodeOut]


class AvailableGroupOut(BaseModel):
    chat_id: str
    name: str
    members: int


class DayCountOut(BaseModel):
    day: date
    joins: int


class GroupCountOut(BaseModel):
    chat_id: str
    name: str
    joins: int


class StatsOut(BaseModel):
    code_id: str
    total: int
    today: int
    days: list[DayCountOut]
    groups: list[GroupCountOut]
    extra: dict[str, Any] = {}
