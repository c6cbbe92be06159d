"""Tables of engage.livecodes (every table name starts with `engage_`).

* LiveCode: a channel live code (渠道活码): its WeCom contact way (config_id, qr_code), the
  `state` that identifies it in callbacks, its staff pool with schedules, limits and backups, the
  auto tags and remark, and the members currently sent to WeCom (`duty_userids`).
* LiveCodeAdd: one customer added through a code to one member; `lost_at` when either side
  deleted the other (retention); `customer_id` once identity resolution knows the customer.
* LiveCodeBrand: the merchant's logo pasted in the middle of downloaded QR codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, LargeBinary, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class ChannelKind:
    POSTER = "poster"  # 海报
    STORE_COUNTER = "store_counter"  # 门店前台
    PARCEL_CARD = "parcel_card"  # 包裹卡
    LIVE_ROOM = "live_room"  # 直播间
    EVENT = "event"  # 活动
    OTHER = "other"

    ALL = (POSTER, STORE_COUNTER, PARCEL_CARD, LIVE_ROOM, EVENT, OTHER)


class LiveCode(Base):
    __tablename__ = "engage_live_codes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "state"),
        Index("ix_engage_live_codes_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(20), default=ChannelKind.OTHER)
    state: Mapped[str] = mapped_column(String(30))
    connection_id: Mapped[str] = mapped_column(String(32), default="")
    config_id: Mapped[str] = mapped_column(String(64), default="")
    qr_code: Mapped[str] = mapped_column(String(500), default="")
    skip_verify: Mapped[bool] = mapped_column(default=True)
    # {"members": [{"userid", "weekdays": [1..7], "ranges": [["09:00", "18:00"]], "daily_limit"}],
    #  "backups": [userid]}
    pool: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tag_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    remark_template: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    duty_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    duty_reason: Mapped[str] = mapped_column(String(16), default="")
    duty_checked_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LiveCodeAdd(Base):
    __tablename__ = "engage_live_code_adds"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "live_code_id", "contact_id", "staff_userid"),
        Index(
            "ix_engage_live_code_adds_tenant_id_live_code_id_added_at",
            "tenant_id",
            "live_code_id",
            "added_at",
        ),
        Index("ix_engage_live_code_adds_tenant_id_contact_id", "tenant_id", "contact_id"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    live_code_id: Mapped[str] = mapped_column(ID)
    contact_id: Mapped[str] = mapped_column(ID)
    corp_id: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(64))
    staff_userid: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(ID)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    remark: Mapped[str] = mapped_column(String(64), default="")
    remark_error: Mapped[str] = mapped_column(String(200), default="")
    tags_applied: Mapped[bool] = mapped_column(default=False)
    lost_at: Mapped[datetime | None] = mapped_column()
    lost_by: Mapped[str] = mapped_column(String(16), default="")  # customer / staff


class LiveCodeBrand(Base):
    __tablename__ = "engage_live_code_brands"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
