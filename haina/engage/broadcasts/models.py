"""Tables of engage.broadcasts (every table name starts with `engage_`).

* Broadcast: one mass message (群发) to customers through their staff: content, target (a saved
  segment or a tag filter), schedule and status, and the figures of its last plan.
* BroadcastTask: one add_msg_template call: a sender (staff userid), its msgid and whether the
  member has confirmed it in their app (polled).
* BroadcastRecipient: one customer the message was handed to WeCom for, with its sender and
  delivery status (polled); also the per-customer monthly accounting of the receive cap.
* BroadcastSettings: per tenant, the cap of mass messages one customer receives a month.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class BroadcastStatus:
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"  # claimed by the sender job / a send-now request
    SENT = "sent"  # handed to WeCom: members confirm in their app
    CANCELLED = "cancelled"
    FAILED = "failed"


class TargetKind:
    SEGMENT = "segment"
    TAGS = "tags"


class TaskStatus:
    PENDING = "pending"  # the member has not tapped 发送 yet
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class DeliveryStatus:
    PENDING = "pending"  # handed to WeCom, member not confirmed yet
    SENT = "sent"
    NOT_FRIEND = "not_friend"
    OVER_LIMIT = "over_limit"
    UNSENT = "unsent"  # the member confirmed without this customer (or the message was cancelled)
    FAILED = "failed"  # in add_msg_template's fail_list


class Broadcast(Base):
    __tablename__ = "engage_broadcasts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_broadcasts_tenant_id_status_scheduled_at", "tenant_id", "status", "scheduled_at"),
        Index("ix_engage_broadcasts_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text, default="")
    # [{kind: link|image|miniprogram, title, url, image_id (engage image library), image_url
    #  (older drafts: sent as pic_url), appid, page}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    target_kind: Mapped[str] = mapped_column(String(16), default=TargetKind.SEGMENT)
    segment_id: Mapped[str | None] = mapped_column(ID)
    # {"any": [tag ids], "all": [tag ids], "exclude": [tag ids]}
    tag_filter: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.DRAFT)
    scheduled_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    connection_id: Mapped[str | None] = mapped_column(ID)
    corp_id: Mapped[str] = mapped_column(String(64), default="")
    # The plan at sending: targeted, recipients and exclusions by reason.
    figures: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    polled_at: Mapped[datetime | None] = mapped_column()


class BroadcastTask(Base):
    __tablename__ = "engage_broadcast_tasks"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "broadcast_id", "msgid"),
        Index("ix_engage_broadcast_tasks_tenant_id_msgid", "tenant_id", "msgid"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    broadcast_id: Mapped[str] = mapped_column(ID)
    msgid: Mapped[str] = mapped_column(String(128))
    sender_userid: Mapped[str] = mapped_column(String(64))
    recipient_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.PENDING)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRecipient(Base):
    __tablename__ = "engage_broadcast_recipients"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "broadcast_id", "customer_id"),
        # The monthly cap: how many a customer was handed this month.
        Index("ix_engage_broadcast_recipients_customer_created", "tenant_id", "customer_id", "created_at"),
        Index("ix_engage_broadcast_recipients_tenant_id_msgid", "tenant_id", "msgid"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    broadcast_id: Mapped[str] = mapped_column(ID)
    customer_id: Mapped[str] = mapped_column(ID)
    external_userid: Mapped[str] = mapped_column(String(64))
    sender_userid: Mapped[str] = mapped_column(String(64))
    msgid: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastSettings(Base):
    __tablename__ = "engage_broadcast_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    monthly_cap: Mapped[int] = mapped_column(default=4)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
