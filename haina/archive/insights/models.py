"""The tenant's reply-time QA settings: working hours (per weekday, Asia/Shanghai by default) and
the target reply time. No row = every day 09:00–21:00 Asia/Shanghai, 5 minutes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id


class ReplySettings(TenantMixin, Base):
    __tablename__ = "archive_reply_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    # [[start minute, end minute] or null] × 7, Monday first: minutes after local midnight.
    hours: Mapped[list[Any]] = mapped_column(JSON)
    target_minutes: Mapped[int] = mapped_column(default=5)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
