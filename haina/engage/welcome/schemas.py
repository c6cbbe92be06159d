"""API shapes of engage.welcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WelcomeMessageIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    scope: Literal["channel", "staff", "default"]
    state: str = Field(default="", max_length=30)
    staff_userids: list[str] = Field(default_factory=list, max_length=100)
    text: str = Field(default="", max_length=4000)
    attachments: list[dict[str, Any]] = Field(default_factory=list, max_length=9)
    is_active: bool = True


class WelcomeMessagePatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=60)
    scope: Literal["channel", "staff", "default"] | None = None
    state: str | None = Field(default=None, max_length=30)
    staff_userids: list[str] | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, max_length=4000)
    attachments: list[dict[str, Any]] | None = Field(default=None, max_length=9)
    is_active: bool | None = None


class WelcomeMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    scope: str
    state: str
    staff_userids: list[str]
    text: str
    attachments: list[dict[str, Any]]
    is_active: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    sends_7d: int = 0
    sent_7d: int = 0


class PreviewIn(BaseModel):
    text: str = Field(default="", max_length=4000)
    customer_name: str = Field(default="", max_length=60)
    staff_name: str = Field(default="", max_length=60)


class PreviewOut(BaseModel):
    text: str


class WelcomeSendOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    message_id: str | None
    external_userid: str
    staff_userid: str
    state: str
    status: str
    errcode: int | None
    reason: str
    text: str
    at: datetime
