"""Deleting a tag takes it from every carrier with history lines and tag.removed events; a tag
carried by more than BULK_PART customers goes set-based on PostgreSQL, with the same result."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.events.models import OutboxEvent
from haina.tags import changes, service
from haina.tags.models import CustomerTag, Tag, TagChange
from tests.factories import TenantFixture
from tests.tags import builders as b

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("carried_by", [2, 5])  # within one event part (2) and beyond it
def test_deleting_a_tag_removes_it_from_every_carrier_with_history_and_events(
    database: Database, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch, carried_by: int
) -> None:
    monkeypatch.setattr(changes, "BULK_PART", 2)
    clock.freeze(NOW)
    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主 王", "owner")
    with database.unit_of_work() as session:
        doomed = b.manual_tag(session, tenant.id, "双11 预热")
        kept = b.manual_tag(session, tenant.id, "VIP")
        people = sorted(b.customer(session, tenant.id) for _ in range(carried_by))
        service.tag_customers(session, actor, people, [doomed, kept])
    set_based: list[int] = []
    record_written = changes.record_written

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        set_based.append(1)
        return record_written(*args, **kwargs)

    monkeypatch.setattr(changes, "record_written", spy)
    with database.unit_of_work() as session:
        service.delete_tag(session, actor, doomed)
        on_postgres = session.get_bind().dialect.name == "postgresql"
    assert set_based == ([1] if on_postgres and carried_by > 2 else [])

    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, doomed) == set()
        assert b.carriers(session, tenant.id, kept) == set(people)
        assert session.scalars(select(Tag.is_deleted).where(Tag.id == doomed)).one()
        assert session.scalar(select(CustomerTag.customer_id).where(CustomerTag.tag_id == doomed)) is None
        history = session.scalars(
            select(TagChange).where(TagChange.tag_id == doomed, TagChange.action == "removed")
        ).all()
        assert sorted(line.customer_id for line in history) == people
        assert {(line.tag_name, line.reason, line.at) for line in history} == {
            ("双11 预热", "店主 王（删除标签）", NOW)
        }
        removed = [
            event.payload
            for event in session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == changes.TAG_REMOVED).order_by(OutboxEvent.id)
            )
        ]
    assert all(payload["tag_id"] == doomed for payload in removed)
    told = [customer for payload in removed for customer in changes.customers_of(payload)]
    assert sorted(told) == people  # every carrier told once
    assert all(len(changes.customers_of(payload)) <= 2 for payload in removed)
