"""Tables of archive.alerts (every table name starts with `archive_`).

* ArchiveAlertSettings: per tenant: whether keyword alerts are sent at all, from which WeCom
  application (agentid; empty = the loss-alert settings' agentid), the supervisors, whether the
  conversation's own member hears about customer-side words, and extra recipients per rule.
* ArchiveAlertNotification: one row per keyword alert: sent (to whom, who was invalid), folded
  into an earlier message of the same (conversation, rule) (deduplicated), or not sent and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id


class NotificationStatus:
    SENT = "sent"
    DEDUPLICATED = "deduplicated"  # counted in the next message of its (conversation, rule)
    SKIPPED = "skipped"  # nothing to send: switched off, no recipient, no agentid, no WeCom
    RETRYING = "retrying"  # WeCom could not answer (busy, throttled, unreachable): sent again later
    FAILED = "failed"  # WeCom refused, or still could not answer after the last retry


class ArchiveAlertSettings(Base):
    __tablename__ = "archive_alert_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    is_enabled: Mapped[bool] = mapped_column(default=True)
    agentid: Mapped[int | None] = mapped_column()
    supervisor_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    notify_member: Mapped[bool] = mapped_column(default=True)
    # rule id → extra member userids told about that rule's alerts
    rule_recipients: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchiveAlertNotification(TenantMixin, Base):
    __tablename__ = "archive_alert_notifications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "alert_id"),
        Index(
            "ix_archive_alert_notifications_conversation_rule",
            "tenant_id",
            "conversation_id",
            "rule_id",
            "created_at",
        ),
        Index("ix_archive_alert_notifications_retry", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # Purged with its alert (retention deletes messages, their alerts, and so these rows).
    alert_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("archive_keyword_alerts.id", ondelete="CASCADE")
    )
    rule_id: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(32))
    staff_userid: Mapped[str] = mapped_column(String(64), default="")
    phrase: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    invalid_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # hits this message reported: itself plus the deduplicated ones since the last message
    hit_count: Mapped[int] = mapped_column(default=1)
    error_code: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)  # calls to WeCom made for it
    next_attempt_at: Mapped[datetime | None] = mapped_column()  # RETRYING only
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
