"""Tables of the event core: the inbox (raw inbound payloads), the outbox and deliveries.

An outbox event fans out into one delivery per subscribed handler; each delivery carries its
own attempts and status, so one failing handler never holds back another.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id


class InboxStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    DEAD = "dead"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    # Handed to a runner (queued or executing) until `next_attempt_at`, its lease: a delivery
    # lost with its worker comes due again instead of waiting for a human.
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class InboxItem(TenantMixin, Base):
    """One raw inbound payload, kept byte for byte (signatures and GBK bodies survive)."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_inbox_items_status_received_at", "status", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(default=clock.now)
    status: Mapped[str] = mapped_column(String(16), default=InboxStatus.RECEIVED.value)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)

    @property
    def payload_text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


class OutboxEvent(TenantMixin, Base):
    """A domain event written in the business transaction that caused it."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_dispatched_at_id", "dispatched_at", "id"),)

    # SQLite only auto-increments an INTEGER primary key, so BIGINT there would stay NULL.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    uuid: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Set when the event has been fanned out into deliveries.
    dispatched_at: Mapped[datetime | None]


class EventDelivery(TenantMixin, Base):
    """One handler's run of one event: its attempts, next try and last error."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "handler"),
        Index("ix_event_deliveries_status_priority_next_attempt_at", "status", "priority", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    event_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("outbox_events.id", ondelete="CASCADE")
    )
    handler: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    # Lower runs first (registry.RECORDS, registry.REACTIONS): set from the handler at fan-out.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    attempts: Mapped[int] = mapped_column(default=0)
    # Due time while pending; lease expiry while running.
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    enqueued_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]

    event: Mapped[OutboxEvent] = relationship(lazy="raise")
