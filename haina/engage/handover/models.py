"""Tables of engage.handover (every table name starts with `engage_`).

* HandoverJob: one transfer of a staff member's customers to another (在职转接 in_office or
  离职继承 resigned), with its transfer message and progress counts.
* HandoverItem: one customer of a job: its batch (≤100 per WeCom call), status and WeCom errcode.
  The items with status waiting / done are Haina's record of transfers, checked against WeCom's
  limit of two per customer in 90 days before any call.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class HandoverKind:
    IN_OFFICE = "in_office"
    RESIGNED = "resigned"


class JobStatus:
    RUNNING = "running"
    DONE = "done"


class ItemStatus:
    PENDING = "pending"  # not yet sent to WeCom
    WAITING = "waiting"  # accepted by WeCom, waiting for the takeover (24 h for in-office)
    DONE = "done"
    REFUSED = "refused"  # the customer refused, or WeCom refused this customer
    FAILED = "failed"


SETTLED = (ItemStatus.DONE, ItemStatus.REFUSED, ItemStatus.FAILED)
# Statuses that count as a transfer in WeCom's 90-day limit.
COUNTED = (ItemStatus.WAITING, ItemStatus.DONE)


class HandoverJob(Base):
    __tablename__ = "engage_handover_jobs"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_handover_jobs_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[str] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16))
    handover_userid: Mapped[str] = mapped_column(String(64))
    takeover_userid: Mapped[str] = mapped_column(String(64))
    transfer_message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.RUNNING)
    total: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    polled_at: Mapped[datetime | None] = mapped_column()


class HandoverItem(Base):
    __tablename__ = "engage_handover_items"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_handover_items_tenant_id_job_id", "tenant_id", "job_id"),
        Index(
            "ix_engage_handover_items_tenant_id_external_userid_requested_at",
            "tenant_id",
            "external_userid",
            "requested_at",
        ),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str] = mapped_column(ID)
    external_userid: Mapped[str] = mapped_column(String(64))
    handover_userid: Mapped[str] = mapped_column(String(64))
    takeover_userid: Mapped[str] = mapped_column(String(64))
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    batch: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.PENDING)
    reason: Mapped[str] = mapped_column(String(40), default="")
    errcode: Mapped[int] = mapped_column(default=0)
    requested_at: Mapped[datetime | None] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()
