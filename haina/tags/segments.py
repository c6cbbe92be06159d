"""Segments: saved customer filters in the condition language of rule tags (conditions.py).

A segment is evaluated when it is used (count, preview, target list, export), never stored as a
membership list, so it always reflects the data of the moment it is read. Services flush; the
caller commits, writes the audit line of an export, and renders CSV / XLSX from `export_rows`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.errors import Conflict, InvalidInput, NotFound
from haina.customers.identity.models import Customer
from haina.tags import conditions
from haina.tags.models import Segment

MAX_NAME = 60
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class CustomerRow:
    customer_id: str
    display_name: str
    phone_masked: str
    created_at: datetime


def _matching(session: Session, tenant_id: str, definition: Any) -> Select[Any]:
    condition = conditions.validate(definition)
    return select(Customer).where(conditions.filter_for(session, tenant_id, condition))


def count(session: Session, tenant_id: str, definition: Any) -> int:
    """How many active customers match `definition` now (raises InvalidCondition if it is bad)."""
    condition = conditions.validate(definition)
    return int(
        session.scalar(select(func.count()).where(conditions.filter_for(session, tenant_id, condition))) or 0
    )


def preview(session: Session, tenant_id: str, definition: Any, limit: int = 20) -> list[CustomerRow]:
    """The first `limit` matching customers (newest first), masked phones only."""
    statement = _matching(session, tenant_id, definition).order_by(Customer.created_at.desc(), Customer.id)
    return [_row(customer) for customer in session.scalars(statement.limit(max(1, min(limit, 200))))]


def _row(customer: Customer) -> CustomerRow:
    return CustomerRow(customer.id, customer.display_name, customer.phone_masked, customer.created_at)


def get(session: Session, tenant_id: str, segment_id: str) -> Segment:
    """One segment of the tenant; another tenant's answers 404 like a missing one."""
    segment = session.scalar(select(Segment).where(Segment.tenant_id == tenant_id, Segment.id == segment_id))
    if segment is None:
        raise NotFound(f"segment {segment_id} not found", code="segment_not_found")
    return segment


def list_segments(session: Session, tenant_id: str) -> list[Segment]:
    """The tenant's segments by name."""
    return list(session.scalars(select(Segment).where(Segment.tenant_id == tenant_id).order_by(Segment.name)))


def _name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > MAX_NAME:
        raise InvalidInput(
            f"a segment needs a name of 1 to {MAX_NAME} characters", code="invalid_segment_name"
        )
    return cleaned


def _unique(session: Session, tenant_id: str, name: str, segment_id: str | None = None) -> None:
    statement = select(Segment.id).where(Segment.tenant_id == tenant_id, Segment.name == name)
    if segment_id is not None:
        statement = statement.where(Segment.id != segment_id)
    if session.scalar(statement) is not None:
        raise Conflict(f"a segment named {name!r} exists already", code="segment_exists")


def create(
    session: Session,
    tenant_id: str,
    *,
    name: str,
    definition: Any,
    description: str = "",
    created_by: str = "",
) -> Segment:
    """Save a new segment; its definition is validated and stored normalised."""
    cleaned = _name(name)
    condition = conditions.validate(definition)
    _unique(session, tenant_id, cleaned)
    now = clock.now()
    segment = Segment(
        tenant_id=tenant_id,
        name=cleaned,
        description=description,
        definition=conditions.to_json(condition),
        created_by=created_by[:100],
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    session.flush()
    return segment


def update(
    session: Session,
    tenant_id: str,
    segment_id: str,
    *,
    name: str | None = None,
    definition: Any = None,
    description: str | None = None,
) -> Segment:
    """Change a segment's name, definition or description (None: keep)."""
    segment = get(session, tenant_id, segment_id)
    if name is not None:
        cleaned = _name(name)
        _unique(session, tenant_id, cleaned, segment_id)
        segment.name = cleaned
    if definition is not None:
        segment.definition = conditions.to_json(conditions.validate(definition))
        segment.last_count = None
        segment.counted_at = None
    if description is not None:
        segment.description = description
    segment.updated_at = clock.now()
    session.flush()
    return segment


def delete(session: Session, tenant_id: str, segment_id: str) -> None:
    """Delete a segment (customers are not touched: a segment is only a filter)."""
    session.delete(get(session, tenant_id, segment_id))
    session.flush()


def refresh_count(session: Session, tenant_id: str, segment_id: str) -> Segment:
    """Count a saved segment now and keep the figure (`last_count`, `counted_at`) for lists."""
    segment = get(session, tenant_id, segment_id)
    segment.last_count = count(session, tenant_id, segment.definition)
    segment.counted_at = clock.now()
    session.flush()
    return segment


def customer_ids_select(session: Session, tenant_id: str, segment_id: str) -> Select[Any]:
    """A SELECT of the matching customer ids, for other modules to use as a target inside their
    own statements (journeys, mass messages)."""
    return definition_ids_select(session, tenant_id, get(session, tenant_id, segment_id).definition)


def definition_ids_select(session: Session, tenant_id: str, definition: Any) -> Select[Any]:
    """The same for an unsaved definition in the condition language (e.g. a mass message's tag
    filter); raises InvalidCondition if it is bad."""
    condition = conditions.validate(definition)
    return (
        select(Customer.id).where(conditions.filter_for(session, tenant_id, condition)).order_by(Customer.id)
    )


def customer_ids(session: Session, tenant_id: str, segment_id: str) -> list[str]:
    """The ids of the customers in a saved segment now, in id order."""
    return list(session.scalars(customer_ids_select(session, tenant_id, segment_id)))


def export_rows(session: Session, tenant_id: str, segment_id: str) -> Iterator[CustomerRow]:
    """The customers of a segment for CSV / XLSX, in id order, read a page at a time (masked
    phones only; the caller audits the export)."""
    segment = get(session, tenant_id, segment_id)
    condition = conditions.validate(segment.definition)
    after = ""
    while True:
        page = list(
            session.scalars(
                select(Customer)
                .where(conditions.filter_for(session, tenant_id, condition), Customer.id > after)
                .order_by(Customer.id)
                .limit(EXPORT_BATCH)
            )
        )
        yield from (_row(customer) for customer in page)
        if len(page) < EXPORT_BATCH:
            return
        after = page[-1].id
