"""Tables of engage.welcome (every table name starts with `engage_`).

* WelcomeMessage: the text and attachments sent when a customer adds a staff member, for one
  channel live code (by its `state`), for some staff members, or the tenant's default.
  A channel message beats a staff message, which beats the default.
* WelcomeSend: one attempt to use a callback's single-use WelcomeCode: sent, failed (with
  WeCom's errcode), expired (older than 20 s when we got to it) or skipped (nothing configured).
  Unique per welcome code, so a redelivered callback never sends twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class Scope:
    CHANNEL = "channel"  # one channel live code, keyed by its state
    STAFF = "staff"  # some staff members (WeCom userids)
    DEFAULT = "default"  # the tenant's fallback

    ALL = (CHANNEL, STAFF, DEFAULT)
    PRIORITY = {CHANNEL: 0, STAFF: 1, DEFAULT: 2}


class SendStatus:
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"

    ALL = (SENT, FAILED, EXPIRED, SKIPPED)


class WelcomeMessage(Base):
    __tablename__ = "engage_welcome_messages"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_welcome_messages_tenant_id_scope_state", "tenant_id", "scope", "state"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    scope: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(30), default="")  # the live code's state (channel scope)
    staff_userids: Mapped[list[str]] = mapped_column(JSON, default=list)  # staff scope
    text: Mapped[str] = mapped_column(Text, default="")
    # [{"type": "image", "image_id"} (a picture of the engage image library) or {"type": "image",
    #  "media_id"} (typed by hand), {"type": "link", "title", "url", "desc", "picurl"},
    #  {"type": "miniprogram", "title", "appid", "page", "pic_media_id"}]
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WelcomeSend(Base):
    __tablename__ = "engage_welcome_sends"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "welcome_code"),
        Index("ix_engage_welcome_sends_tenant_id_at", "tenant_id", "at"),
        Index("ix_engage_welcome_sends_tenant_id_message_id_at", "tenant_id", "message_id", "at"),
        Index("ix_engage_welcome_sends_tenant_id_external_userid", "tenant_id", "external_userid"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    welcome_code: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(ID)
    corp_id: Mapped[str] = mapped_column(String(64), default="")
    external_userid: Mapped[str] = mapped_column(String(64), default="")
    staff_userid: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(30), default="")
    status: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None] = mapped_column()
    reason: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")  # as rendered for this customer
    at: Mapped[datetime] = mapped_column(default=utcnow)
