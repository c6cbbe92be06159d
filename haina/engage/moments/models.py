"""Tables of engage.moments (every table name starts with `engage_`).

* Moment: one corp moment (客户朋友圈): text, attachments, who posts it (every member or picked
  userids) and which customers see it (Haina tags, mapped to corp tags when sent); its WeCom
  job and moment ids, and what WeCom refused.
* MomentStaff: one row per member asked to post it, with whether they have (polled) and, once
  they have, how many customers their post is visible to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class MomentStatus:
    DRAFT = "draft"
    SENDING = "sending"  # add_moment_task accepted, the job not done yet
    SENT = "sent"  # WeCom made the moment: members are publishing it
    CANCELLED = "cancelled"
    FAILED = "failed"


class SenderMode:
    ALL = "all"
    PICKED = "picked"


class Moment(Base):
    __tablename__ = "engage_moments"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_moments_tenant_id_status", "tenant_id", "status"),
        Index("ix_engage_moments_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    # [{kind: link|image, title, url, image_url}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sender_mode: Mapped[str] = mapped_column(String(8), default=SenderMode.ALL)
    sender_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # Haina tags
    status: Mapped[str] = mapped_column(String(16), default=MomentStatus.DRAFT)
    connection_id: Mapped[str | None] = mapped_column(ID)
    corp_tag_ids: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # Haina → corp tag id
    jobid: Mapped[str] = mapped_column(String(128), default="")
    moment_id: Mapped[str] = mapped_column(String(128), default="")
    invalid_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    invalid_tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)  # Haina tags refused
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    polled_at: Mapped[datetime | None] = mapped_column()


class MomentStaff(Base):
    __tablename__ = "engage_moment_staff"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "moment_id", "userid"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    moment_id: Mapped[str] = mapped_column(ID)  # Moment.id
    userid: Mapped[str] = mapped_column(String(64))
    is_published: Mapped[bool] = mapped_column(default=False)
    published_seen_at: Mapped[datetime | None] = mapped_column()
    # How many customers can see the member's post (get_moment_customer_list), once published.
    customer_count: Mapped[int | None] = mapped_column()
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
