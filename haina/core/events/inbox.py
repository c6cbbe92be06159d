"""The durable inbox: raw inbound payloads, stored once per dedupe key before we answer 2xx."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import new_id
from haina.core.events._sql import insert_ignoring_conflicts
from haina.core.events.models import InboxItem, InboxStatus, OutboxEvent
from haina.core.events.outbox import emit, emit_many

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


@dataclass(frozen=True)
class NewItem:
    """One payload for `receive_many`."""

    tenant_id: str
    source: str
    dedupe_key: str
    payload: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    connection_id: str | None = None


def receive_many(session: Session, items: list[NewItem]) -> list[bool]:
    """`receive` for many payloads at once (group commit of webhooks): one INSERT for the items
    and one for their events; returns, per item, whether it is new. The first of two items with
    the same tenant and dedupe key in one call wins, like two calls in a row."""
    if not items:
        return []
    for item in items:
        if not SOURCE.match(item.source):
            raise ValueError(f"source {item.source!r} should be a lower-case name like 'youzan'")
    now = clock.now()
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        key = (item.tenant_id, item.dedupe_key)
        if key not in first:
            first[key] = {
                "id": new_id(),
                "tenant_id": item.tenant_id,
                "source": item.source,
                "connection_id": item.connection_id,
                "dedupe_key": item.dedupe_key,
                "payload": item.payload,
                "headers": item.headers,
                "received_at": now,
                "status": InboxStatus.RECEIVED.value,
                "attempts": 0,
            }
    table = InboxItem.__table__
    rows = list(first.values())
    statement = insert_ignoring_conflicts(session, table, ["tenant_id", "dedupe_key"]).returning(  # type: ignore[arg-type]
        table.c.id
    )
    # Parameters apart from the statement: compiled once, then sent as multi-row batches.
    inserted = set(session.scalars(statement, rows))
    emit_many(
        session,
        [
            (
                row["tenant_id"],
                received_event_type(row["source"]),
                {"inbox_item_id": row["id"], "source": row["source"], "connection_id": row["connection_id"]},
            )
            for row in rows
            if row["id"] in inserted
        ],
    )
    claimed: set[tuple[str, str]] = set()
    answers: list[bool] = []
    for item in items:
        key = (item.tenant_id, item.dedupe_key)
        answers.append(first[key]["id"] in inserted and key not in claimed)
        claimed.add(key)
    return answers


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


def item_id_of(event: OutboxEvent) -> str | None:
    """The id of the inbox item behind a `<source>.payload_received` event, if that is what it is."""
    item_id = event.payload.get("inbox_item_id") if isinstance(event.payload, dict) else None
    if not isinstance(item_id, str) or event.type != received_event_type(str(event.payload.get("source"))):
        return None
    return item_id


def item_for_event(session: Session, event: OutboxEvent) -> InboxItem | None:
    """The inbox item behind a `<source>.payload_received` event, if that is what it is."""
    item_id = item_id_of(event)
    return get_item(session, event.tenant_id, item_id) if item_id is not None else None


def items_for_events(session: Session, events: list[OutboxEvent]) -> dict[int, InboxItem]:
    """The inbox items behind many events, by event id, in one query per tenant."""
    wanted: dict[str, dict[str, int]] = {}
    for event in events:
        item_id = item_id_of(event)
        if item_id is not None:
            wanted.setdefault(event.tenant_id, {})[item_id] = event.id
    found: dict[int, InboxItem] = {}
    for tenant_id, event_by_item in wanted.items():
        items = session.scalars(
            select(InboxItem).where(InboxItem.tenant_id == tenant_id, InboxItem.id.in_(list(event_by_item)))
        )
        for item in items:
            found[event_by_item[item.id]] = item
    return found
