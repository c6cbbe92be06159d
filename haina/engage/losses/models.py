"""Tables of engage.losses (every table name starts with `engage_`).

* LossAlert: one ended follow relation: who ended it (the customer deleted the member, or the
  member deleted the customer), the customer's value at that moment, who was told, and whether
  someone handled it. A removal that belongs to a handover is kept with kind `transfer` (never
  notified), so the loss list only counts real losses.
* LossAlertSettings: per tenant: who supervises, which removals notify, and the agentid of the
  WeCom application the messages come from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class EndedBy:
    CUSTOMER = "customer"  # del_follow_user: the customer deleted the member
    STAFF = "staff"  # del_external_contact: the member deleted the customer


class AlertKind:
    LOSS = "loss"
    TRANSFER = "transfer"


class LossAlert(Base):
    __tablename__ = "engage_loss_alerts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "contact_id", "staff_userid", "occurred_at"),
        Index("ix_engage_loss_alerts_tenant_id_occurred_at", "tenant_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default=AlertKind.LOSS)
    contact_id: Mapped[str] = mapped_column(ID)
    customer_id: Mapped[str | None] = mapped_column(ID)
    corp_id: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    staff_userid: Mapped[str] = mapped_column(String(64))
    ended_by: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column()
    order_count: Mapped[int] = mapped_column(default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    notify_error: Mapped[str] = mapped_column(String(200), default="")
    is_handled: Mapped[bool] = mapped_column(default=False)
    handled_by: Mapped[str] = mapped_column(String(100), default="")
    handled_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LossAlertSettings(Base):
    __tablename__ = "engage_loss_alert_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    supervisor_userids: Mapped[list[str]] = mapped_column(JSON, default=list)
    notify_customer_deleted: Mapped[bool] = mapped_column(default=True)
    notify_staff_deleted: Mapped[bool] = mapped_column(default=True)
    agentid: Mapped[int | None] = mapped_column()
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
