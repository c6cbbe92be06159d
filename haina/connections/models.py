"""Tables of the ingest spine: one Connection per shop or corp, and one SyncCursor per connection
and stream (where the incremental sync resumes, and how far the current run has got).

Secrets live only in `credentials_encrypted` (AES-GCM, see haina.core.crypto); `secret_hint` is
the masked tail the console shows (``••••3f9a``), never enough to use.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id


class SyncStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    FAILED = "failed"


class Connection(TenantMixin, Base):
    """One shop (Taobao, Youzan, JD, Pinduoduo, Douyin…) or one WeCom corp of a tenant."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("tenant_id", "platform", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    # The shop id, or the corp id for WeCom.
    shop_id: Mapped[str] = mapped_column(String(64), default="")
    # Empty: the platform's production gateway.
    base_url: Mapped[str] = mapped_column(String(500), default="")
    backup_url: Mapped[str] = mapped_column(String(500), default="")
    # FieldCipher text of the credentials JSON (context "connections.credentials").
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(16), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Circuit breaker: set when syncs keep failing; `paused_until` is when a trial run may go.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    paused_until: Mapped[datetime | None]
    failure_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    def is_paused(self, now: datetime | None = None) -> bool:
        return self.paused_until is not None and self.paused_until > (now or clock.now())


class SyncCursor(TenantMixin, Base):
    """Where one stream of one connection resumes, and the progress of its current (or last) run.

    `cursor` moves only in the transaction that stores the page it points past, so a run that
    dies resumes exactly where the last stored page ended.
    """

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(String(32), ForeignKey("connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=SyncStatus.IDLE.value)
    # The run that holds the stream while `status` is running; a run whose heartbeat is stale
    # (its process died) can be taken over.
    run_id: Mapped[str | None] = mapped_column(String(32))
    records_done: Mapped[int] = mapped_column(default=0)  # this run
    bad_records: Mapped[int] = mapped_column(default=0)  # this run
    pages_done: Mapped[int] = mapped_column(default=0)  # this run
    records_total: Mapped[int] = mapped_column(default=0)  # every run
    progress: Mapped[float | None] = mapped_column(Float)  # 0..1 when the stream can tell
    rate: Mapped[float | None] = mapped_column(Float)  # records per second in this run
    eta_seconds: Mapped[int | None]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
