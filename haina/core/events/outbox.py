"""Writing domain events in the caller's transaction, so they exist exactly when its effects do."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Insert, Table, insert, literal, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import new_id_in_sql
from haina.core.events.models import OutboxEvent
from haina.core.events.registry import check_event_type


def emit(session: Session, tenant_id: str, type: str, payload: dict[str, Any]) -> OutboxEvent:
    """Add an event (e.g. "order.paid") to the outbox; it is dispatched once the caller commits."""
    check_event_type(type)
    event = OutboxEvent(tenant_id=tenant_id, type=type, payload=payload)
    session.add(event)
    # Flush so a payload that cannot be stored fails here, in the caller's code, not later.
    session.flush()
    return event


def event_rows(events: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Outbox rows for `(tenant_id, type, payload)` events, checked, with fresh uuids (for a
    set-based insert: `emit_many`, or COPY where a caller writes thousands at once)."""
    for event_type in {event_type for _, event_type, _ in events}:
        check_event_type(event_type)
    now = clock.now()
    randomness = os.urandom(16 * len(events)).hex()  # random 128-bit ids like new_id(), at once
    return [
        {
            "tenant_id": tenant_id,
            "uuid": randomness[32 * index : 32 * index + 32],
            "type": event_type,
            "payload": payload,
            "created_at": now,
        }
        for index, (tenant_id, event_type, payload) in enumerate(events)
    ]


def emit_many(session: Session, events: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """Add many `(tenant_id, type, payload)` events in one statement, in order (a batch of 2,000
    would cost 2,000 round trips through `emit`). Nothing is returned: they are not in the
    session; read them back by query if needed."""
    if not events:
        return
    table: Table = OutboxEvent.__table__  # type: ignore[assignment]
    session.execute(insert(table), event_rows(events))


def emit_from(
    tenant_id: str,
    event_type: str,
    payload: ColumnElement[Any],
    source: FromClause,
    order_by: Sequence[ColumnElement[Any]] = (),
) -> Insert:
    """PostgreSQL: an INSERT of one `event_type` event per row of `source`, its payload the JSON
    expression `payload` (json_build_object of the row's columns), in `order_by` order. For a
    statement writing thousands of rows together with their events (a CTE beside the rows'
    INSERT … RETURNING), so that no row travels to Python and back."""
    check_event_type(event_type)
    table: Table = OutboxEvent.__table__  # type: ignore[assignment]
    rows = (
        select(
            literal(tenant_id, table.c.tenant_id.type),
            new_id_in_sql(),
            literal(event_type, table.c.type.type),
            payload,
            literal(clock.now(), table.c.created_at.type),
        )
        .select_from(source)
        .order_by(*order_by)
    )
    return insert(table).from_select(["tenant_id", "uuid", "type", "payload", "created_at"], rows)
