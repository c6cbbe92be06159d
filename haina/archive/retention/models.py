"""Tables of the archive's housekeeping.

* RetentionPolicy: one row per tenant that set a policy; no row = keep forever.
* ArchivePurge: one row per purge run (who, cutoff, counts), shown on the settings page.
* ArchiveIntakeRun: the scheduled intake's lock and status per tenant (haina.archive.schedule):
  `state` running with a fresh heartbeat means a pull holds the tenant; the console shows the
  progress and the last error from it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id

MIN_DAYS = 30
MAX_DAYS = 3650
COUNT = BigInteger().with_variant(Integer, "sqlite")


class RetentionPolicy(TenantMixin, Base):
    __tablename__ = "archive_retention_policies"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    keep_days: Mapped[int | None]  # None: keep forever
    media_keep_days: Mapped[int | None]  # None: as long as the messages
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchivePurge(TenantMixin, Base):
    __tablename__ = "archive_purges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    started_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    finished_at: Mapped[datetime | None]
    by: Mapped[str] = mapped_column(String(100), default="system")  # a username or "system"
    keep_days: Mapped[int | None]
    media_keep_days: Mapped[int | None]
    cutoff: Mapped[datetime]
    media_cutoff: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(COUNT, default=0)
    conversations: Mapped[int] = mapped_column(COUNT, default=0)
    tokens: Mapped[int] = mapped_column(COUNT, default=0)
    alerts: Mapped[int] = mapped_column(COUNT, default=0)
    media_messages: Mapped[int] = mapped_column(COUNT, default=0)


class IntakeState:
    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ArchiveIntakeRun(TenantMixin, Base):
    __tablename__ = "archive_intake_runs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    state: Mapped[str] = mapped_column(String(16), default=IntakeState.IDLE)
    run_token: Mapped[str] = mapped_column(String(32), default="")  # the claimer's token
    requested_by: Mapped[str] = mapped_column(String(100), default="")  # "" = the schedule
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    messages: Mapped[int] = mapped_column(default=0)  # stored by this run so far
    batches: Mapped[int] = mapped_column(default=0)
    last_seq: Mapped[int] = mapped_column(COUNT, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None]
