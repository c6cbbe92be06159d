from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    tenant: str | None = Field(default=None, max_length=64, description="tenant slug; optional")


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class TenantOut(BaseModel):
    id: str
    slug: str
    name: str


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    is_active: bool
    phone: str | None = None
    wecom_userid: str | None = None
    language: str
    created_at: datetime
    last_login_at: datetime | None = None


class MeOut(BaseModel):
    user: UserOut
    tenant: TenantOut
    role: str
    data_scope: str
    permissions: list[str]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    display_name: str = Field(min_length=1, max_length=100)
    role: str = Field(max_length=20)
    password: str = Field(min_length=8, max_length=256)
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9 -]{5,20}$")
    wecom_userid: str | None = Field(default=None, max_length=64)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(default=None, max_length=20)
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    is_active: bool | None = None
    unlock: bool = False
