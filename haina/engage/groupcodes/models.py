"""Tables of engage.groupcodes (every table name starts with `engage_`).

* GroupCode: one group live code (群活码): a WeCom join way whose listed groups Haina rotates
  through the code's ordered pool of customer groups as each reaches the code's member limit.
  `listed_chat_ids` is what the join way lists now; `groups` caches what the last reading of
  each pool group found ({chat_id: {"name", "members", "is_auto_created"}}).
* GroupCodeJoin: one customer who joined a pool group by scanning (join scene 3) after the code
  was created: the statistics per code, per group and per day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class GroupCode(Base):
    __tablename__ = "engage_group_codes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_group_codes_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(60))
    member_limit: Mapped[int] = mapped_column(default=180)
    # The ordered pool of customer group chat ids; auto-created groups are appended.
    chat_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    listed_chat_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    groups: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_auto_create: Mapped[bool] = mapped_column(default=False)
    room_base_name: Mapped[str] = mapped_column(String(40), default="")
    room_base_id: Mapped[int] = mapped_column(default=1)
    state: Mapped[str] = mapped_column(String(30))
    config_id: Mapped[str] = mapped_column(String(64), default="")
    qr_code: Mapped[str] = mapped_column(String(500), default="")
    is_pool_exhausted: Mapped[bool] = mapped_column(default=False)
    sync_error: Mapped[str] = mapped_column(String(300), default="")
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    synced_at: Mapped[datetime | None] = mapped_column(default=None)
    pool_read_at: Mapped[datetime | None] = mapped_column(default=None)  # every group read
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupCodeJoin(Base):
    __tablename__ = "engage_group_code_joins"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "code_id", "chat_id", "external_userid"),
        Index("ix_engage_group_code_joins_tenant_id_code_id_day", "tenant_id", "code_id", "day"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    code_id: Mapped[str] = mapped_column(ID)
    chat_id: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime] = mapped_column()
    day: Mapped[date] = mapped_column(Date)
