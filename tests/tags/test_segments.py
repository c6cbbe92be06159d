"""Segments: saved filters in the rule language, counted, previewed, exported and used as targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.core.errors import Conflict, InvalidInput, NotFound
from haina.tags import segments
from haina.tags.conditions import InvalidCondition
from tests.tags import builders as b

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TENANT = "t1"
BUYERS = {"field": "order_count", "op": ">=", "value": 1, "days": 30}


def test_count_preview_targets_and_export_agree(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        buyers = set()
        for index in range(5):
            customer_id = b.customer(session, TENANT, f"买家{index}")
            b.order(session, TENANT, customer_id, paid_at=NOW - timedelta(days=index))
            buyers.add(customer_id)
        lapsed = b.customer(session, TENANT, "老客")
        b.order(session, TENANT, lapsed, paid_at=NOW - timedelta(days=40))
        b.customer(session, "t2", "别家")
        saved = segments.create(session, TENANT, name="近30天买家", definition=BUYERS, created_by="ops")

        assert segments.count(session, TENANT, BUYERS) == 5
        rows = segments.preview(session, TENANT, BUYERS, limit=3)
        assert len(rows) == 3 and {row.customer_id for row in rows} <= buyers
        assert rows[0].phone_masked == "138****0000" and rows[0].display_name.startswith("买家")
        assert set(segments.customer_ids(session, TENANT, saved.id)) == buyers
        inner = segments.customer_ids_select(session, TENANT, saved.id)
        assert set(session.scalars(select(inner.subquery().c.id))) == buyers
        segments.EXPORT_BATCH, was = 2, segments.EXPORT_BATCH
        try:
            exported = [row.customer_id for row in segments.export_rows(session, TENANT, saved.id)]
        finally:
            segments.EXPORT_BATCH = was
        assert exported == sorted(buyers)
        counted = segments.refresh_count(session, TENANT, saved.id)
        assert (counted.last_count, counted.counted_at) == (5, NOW)


def test_create_update_delete_validate(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        with pytest.raises(InvalidCondition) as caught:
            segments.create(
                session,
                TENANT,
                name="坏的",
                definition={"all": [BUYERS, {"field": "x", "op": "=", "value": 1}]},
            )
        assert caught.value.path == "all[1].field"
        with pytest.raises(InvalidInput):
            segments.create(session, TENANT, name="  ", definition=BUYERS)
        saved = segments.create(session, TENANT, name="买家", definition=BUYERS)
        other = segments.create(
            session, TENANT, name="沉睡", definition={"field": "last_order_days", "op": ">", "value": 90}
        )
        with pytest.raises(Conflict):
            segments.create(session, TENANT, name="买家", definition=BUYERS)
        with pytest.raises(Conflict):
            segments.update(session, TENANT, other.id, name="买家")
        changed = segments.update(
            session, TENANT, saved.id, definition={"field": "city", "op": "=", "value": "上海市"}
        )
        assert changed.definition == {"field": "city", "op": "=", "value": "上海市"}
        assert [segment.name for segment in segments.list_segments(session, TENANT)] == ["买家", "沉睡"]
        with pytest.raises(NotFound):
            segments.get(session, "t2", saved.id)  # another tenant's segment is not found
        segments.delete(session, TENANT, saved.id)
        assert [segment.id for segment in segments.list_segments(session, TENANT)] == [other.id]
