"""REST shapes of connections. Secrets go in (ConnectionCreate, ConnectionUpdate) and never come
out: ConnectionOut carries only a masked hint and the names of the stored platform settings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from haina.connections.service import SyncProgress


class ConnectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str = Field(min_length=2, max_length=16, examples=["youzan"])
    name: str = Field(min_length=1, max_length=100, examples=["有赞旗舰店"])
    shop_id: str = Field(default="", max_length=64, description="shop id, or the corp id for WeCom")
    base_url: str = Field(default="", max_length=500, description="empty: the platform's production gateway")
    backup_url: str = Field(default="", max_length=500)
    app_key: str = Field(min_length=1, max_length=200, description="corp id for WeCom, client id for Youzan")
    app_secret: str = Field(min_length=1, max_length=4000, description="write-only")
    access_token: str = Field(default="", max_length=4000, description="write-only")
    refresh_token: str = Field(default="", max_length=4000, description="write-only")
    extra: dict[str, str] = Field(
        default_factory=dict,
        description="platform settings, write-only (WeCom: callback_token, encoding_aes_key)",
    )


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    shop_id: str | None = Field(default=None, max_length=64)
    base_url: str | None = Field(default=None, max_length=500)
    backup_url: str | None = Field(default=None, max_length=500)
    is_active: bool | None = None
    app_key: str | None = Field(default=None, min_length=1, max_length=200)
    app_secret: str | None = Field(default=None, min_length=1, max_length=4000)
    access_token: str | None = Field(default=None, max_length=4000)
    refresh_token: str | None = Field(default=None, max_length=4000)
    extra: dict[str, str] | None = Field(default=None, description="merged; an empty value removes a key")
    resume: bool = Field(default=False, description="clear a circuit-breaker pause")


class StreamProgressOut(BaseModel):
    stream: str
    status: str
    records_done: int
    bad_records: int
    pages_done: int
    records_total: int
    progress: float | None
    rate: float | None = Field(description="records per second in this run")
    eta_seconds: int | None
    started_at: datetime | None
    finished_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, progress: SyncProgress) -> StreamProgressOut:
        return cls(
            stream=progress.stream,
            status=progress.status,
            records_done=progress.records_done,
            bad_records=progress.bad_records,
            pages_done=progress.pages_done,
            records_total=progress.records_total,
            progress=progress.progress,
            rate=progress.rate,
            eta_seconds=progress.eta_seconds,
            started_at=progress.started_at,
            finished_at=progress.finished_at,
            last_error=(progress.last_error or "").split("\n", 1)[0] or None,
        )


class ConnectionOut(BaseModel):
    id: str
    platform: str
    name: str
    shop_id: str
    base_url: str
    backup_url: str
    is_active: bool
    is_paused: bool
    paused_reason: str | None
    paused_until: datetime | None
    secret_hint: str
    extra_keys: list[str]
    webhook_url: str
    created_at: datetime
    updated_at: datetime
    streams: list[StreamProgressOut]


class SyncStartedOut(BaseModel):
    connection_id: str
    stream: str
    run_id: str
    status: str
    progress_url: str
