"""The durable inbox: raw inbound payloads, stored once per dedupe key before we answer 2xx."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import new_id
from haina.core.events._sql import insert_ignoring_conflicts
from haina.core.events.models import InboxItem, InboxStatus, OutboxEvent
from haina.core.events.outbox import emit

SOURCE = re.compile(r"^[a-z][a-z0-9_]*$")


def received_event_type(source: str) -> str:
    """The event emitted for each new inbox item, e.g. "youzan.payload_received"."""
    return f"{source}.payload_received"


def receive(
    session: Session,
    tenant_id: str,
    source: str,
    dedupe_key: str,
    payload: bytes | str,
    headers: dict[str, Any] | None = None,
    *,
    connection_id: str | None = None,
) -> tuple[InboxItem, bool]:
    """Store a payload once per (tenant, dedupe key); returns the item and whether it is new.

    A new item also emits `<source>.payload_received` in the same transaction, so the platform's
    normaliser runs through the dispatcher with its retries and dead-letter list.
    """
    if not SOURCE.match(source):
        raise ValueError(f"source {source!r} should be a lower-case name like 'youzan'")
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    table = InboxItem.__table__
    statement = (
        insert_ignoring_conflicts(session, table, ["tenant_id", "dedupe_key"])  # type: ignore[arg-type]
        .values(
            id=new_id(),
            tenant_id=tenant_id,
            source=source,
            connection_id=connection_id,
            dedupe_key=dedupe_key,
            payload=body,
            headers=headers or {},
            received_at=clock.now(),
            status=InboxStatus.RECEIVED.value,
            attempts=0,
        )
        .returning(table.c.id)
    )
    inserted_id = session.execute(statement).scalar_one_or_none()
    item = session.scalars(
        select(InboxItem)
        .where(InboxItem.tenant_id == tenant_id, InboxItem.dedupe_key == dedupe_key)
        .execution_options(populate_existing=True)
    ).one()
    if inserted_id is None:
        return item, False
    emit(
        session,
        tenant_id,
        received_event_type(source),
        {"inbox_item_id": item.id, "source": source, "connection_id": connection_id},
    )
    return item, True


def get_item(session: Session, tenant_id: str, item_id: str) -> InboxItem | None:
    return session.scalars(
        select(InboxItem).where(InboxItem.tenant_id == tenant_id, InboxItem.id == item_id)
    ).one_or_none()


def list_items(
    session: Session, tenant_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[InboxItem]:
    """Newest first, for the console; `status="dead"` lists payloads that could not be processed."""
    query = select(InboxItem).where(InboxItem.tenant_id == tenant_id)
    if status is not None:
        query = query.where(InboxItem.status == status)
    query = query.order_by(InboxItem.received_at.desc(), InboxItem.id).limit(limit).offset(offset)
    return list(session.scalars(query))


def count_items(session: Session, tenant_id: str, *, status: str | None = None) -> int:
    query = select(func.count()).select_from(InboxItem).where(InboxItem.tenant_id == tenant_id)
    if status is not None:
        query = query.where(InboxItem.status == status)
    return session.scalar(query) or 0


def item_for_event(session: Session, event: OutboxEvent) -> InboxItem | None:
    """The inbox item behind a `<source>.payload_received` event, if that is what it is."""
    item_id = event.payload.get("inbox_item_id") if isinstance(event.payload, dict) else None
    if not isinstance(item_id, str) or event.type != received_event_type(str(event.payload.get("source"))):
        return None
    return get_item(session, event.tenant_id, item_id)
