"""Rule tags evaluated: the event path for a few customers, batch runs in chunks with progress and
a claim, and the two agreeing on a seeded sandbox merchant synced end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from haina.connections import service as connections
from haina.core import clock
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.events.models import OutboxEvent
from haina.core.settings import Settings
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.tags import changes, evaluation
from haina.tags.models import CustomerTag, EvaluationStatus, TagChange, TagEvaluation, TagSource
from tests.factories import TenantFixture
from tests.ingest.test_acceptance import connect_all
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.tags import builders as b

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TENANT = "t1"
BUYERS = {"field": "order_count", "op": ">=", "value": 2}


def events_of(database: Database, event_type: str) -> list[dict[str, object]]:
    with database.unit_of_work() as session:
        return [
            event.payload
            for event in session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == event_type).order_by(OutboxEvent.id)
            )
        ]


def test_the_event_path_adds_and_removes_with_history(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, TENANT, "复购", BUYERS)
        loyal = b.customer(session, TENANT)
        for _ in range(2):
            b.order(session, TENANT, loyal, paid_at=NOW - timedelta(days=1))
        once = b.customer(session, TENANT)
        b.order(session, TENANT, once, paid_at=NOW)
        by_hand = b.customer(session, TENANT)  # carries the tag by hand: rules leave that alone
        session.add(CustomerTag(tenant_id=TENANT, customer_id=by_hand, tag_id=tag, source=TagSource.MANUAL))
        session.add(CustomerTag(tenant_id=TENANT, customer_id=once, tag_id=tag, source=TagSource.RULE))
        applied = evaluation.evaluate_customers(session, TENANT, [loyal, once, by_hand])
    assert [(c.customer_id, c.tag_id) for c in applied.added] == [(loyal, tag)]
    assert [(c.customer_id, c.tag_id) for c in applied.removed] == [(once, tag)]
    with database.unit_of_work() as session:
        assert b.carriers(session, TENANT, tag) == {loyal, by_hand}
        history = session.scalars(select(TagChange).where(TagChange.tag_id == tag)).all()
        assert {(row.customer_id, row.action, row.reason) for row in history} == {
            (loyal, "added", "rule: 复购"),
            (once, "removed", "rule: 复购"),
        }
        # Nothing changed since: nothing happens.
        again = evaluation.evaluate_customers(session, TENANT, [loyal, once, by_hand])
        assert (again.added, again.removed) == ([], [])
    assert [p["customer_id"] for p in events_of(database, "tag.added")] == [loyal]
    assert [p["customer_id"] for p in events_of(database, "tag.removed")] == [once]


def test_a_batch_walks_every_chunk_and_reports_progress(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, TENANT, "复购", BUYERS)
        people = [b.customer(session, TENANT) for _ in range(7)]
        for index, customer_id in enumerate(people):
            for _ in range(index % 3):  # 0, 1 or 2 orders
                b.order(session, TENANT, customer_id, paid_at=NOW - timedelta(days=index))
        stale = people[0]  # carried the tag from an older rule
        session.add(CustomerTag(tenant_id=TENANT, customer_id=stale, tag_id=tag, source=TagSource.RULE))
        other_tenant = b.customer(session, "t2")
        b.order(session, "t2", other_tenant, paid_at=NOW)
        b.order(session, "t2", other_tenant, paid_at=NOW)
        requested = evaluation.request_batch(session, TENANT, tag, requested_by="ops")
    assert requested.status == EvaluationStatus.QUEUED
    assert events_of(database, evaluation.EVALUATION_REQUESTED) == [
        {"evaluation_id": requested.id, "tag_id": tag}
    ]

    result = evaluation.run_batch(database, TENANT, requested.id, chunk_size=2)
    assert result is not None
    expected = {customer_id for index, customer_id in enumerate(people) if index % 3 == 2}
    assert (result.status, result.error) == (EvaluationStatus.DONE, "")
    assert (result.total, result.done, result.added, result.removed) == (7, 7, len(expected), 1)
    assert result.finished_at is not None
    with database.unit_of_work() as session:
        assert b.carriers(session, TENANT, tag) == expected
        assert b.carriers(session, "t2", tag) == set()
        actions = session.scalars(select(TagChange.action).where(TagChange.tag_id == tag)).all()
        assert sorted(actions) == ["added"] * len(expected) + ["removed"]
    assert {c for p in events_of(database, "tag.added") for c in changes.customers_of(p)} == expected

    # A finished run is not run again; a fresh run of the same rule changes nothing.
    assert evaluation.run_batch(database, TENANT, requested.id) is None
    (rerun,) = evaluation.evaluate_all(database, TENANT)
    assert (rerun.status, rerun.added, rerun.removed) == (EvaluationStatus.DONE, 0, 0)


def test_a_batch_writes_history_lines_and_an_event_per_part_of_its_changes(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History lines as for a person (PostgreSQL writes them in the statement that writes the
    carriers); events carry up to BULK_PART customers each (a rule over a million customers
    would otherwise flood the dispatcher)."""
    monkeypatch.setattr(changes, "BULK_PART", 2)
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, TENANT, "复购", BUYERS)
        loyal = sorted(b.customer(session, TENANT) for _ in range(3))
        for customer_id in loyal:
            for _ in range(2):
                b.order(session, TENANT, customer_id, paid_at=NOW - timedelta(days=3))
        gone = b.customer(session, TENANT)
        session.add(CustomerTag(tenant_id=TENANT, customer_id=gone, tag_id=tag, source=TagSource.RULE))
        requested = evaluation.request_batch(session, TENANT, tag)
    result = evaluation.run_batch(database, TENANT, requested.id)
    assert result is not None and (result.added, result.removed) == (3, 1)
    reason = "rule: 复购"
    fields = {"tag_id": tag, "tag_name": "复购", "source": "rule", "reason": reason}
    assert (
        events_of(database, "tag.added")
        == [  # in customer order, two at most each
            {"customer_ids": loyal[:2], **fields},
            {"customer_ids": loyal[2:], **fields},
        ]
    )
    assert events_of(database, "tag.removed") == [{"customer_ids": [gone], **fields}]
    with database.unit_of_work() as session:
        history = session.scalars(select(TagChange).where(TagChange.tag_id == tag)).all()
        assert sorted((row.customer_id, row.action) for row in history) == sorted(
            [(customer_id, "added") for customer_id in loyal] + [(gone, "removed")]
        )
        assert {(row.tag_name, row.source, row.reason, row.at) for row in history} == {
            ("复购", "rule", reason, NOW)
        }
        assert all(len(row.id) == 32 and int(row.id, 16) >= 0 for row in history)
        assert len({row.id for row in history}) == 4
        uuids = session.scalars(select(OutboxEvent.uuid).where(OutboxEvent.type.like("tag.%"))).all()
        assert all(len(uuid) == 32 and int(uuid, 16) >= 0 for uuid in uuids)


def test_many_changes_at_once_travel_in_parts_and_a_few_one_by_one(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "BULK_PART", 2)
    with database.unit_of_work() as session:
        tag = b.manual_tag(session, TENANT, "活动")
        people = sorted(b.customer(session, TENANT) for _ in range(3))
        made = [changes.Change(person, tag, "活动", "manual", "运营小王") for person in people]
        changes.apply(session, TENANT, add=made[:2])  # two: an event each
        changes.apply(session, TENANT, remove=made)  # two held, removed together: still each
        changes.apply(session, TENANT, add=made)  # three: in parts of two
    added = events_of(database, "tag.added")
    assert [p.get("customer_id") for p in added[:2]] == people[:2]
    assert [p.get("customer_ids") for p in added[2:]] == [people[:2], people[2:]]
    assert [p.get("customer_id") for p in events_of(database, "tag.removed")] == people[:2]


def test_an_event_names_its_customers_one_or_many() -> None:
    one = changes.payload(changes.Change("c1", "t1", "VIP", "manual", "店主"))
    assert changes.customers_of(one) == ["c1"]
    assert changes.customers_of({"customer_ids": ["c1", "c2"], "tag_id": "t1"}) == ["c1", "c2"]
    assert changes.customers_of({"customer_ids": [None, 3, ""], "tag_id": "t1"}) == []


def test_a_claimed_run_is_left_alone_until_its_heartbeat_goes_stale(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, TENANT, "复购", BUYERS)
        requested = evaluation.request_batch(session, TENANT, tag)
    with database.unit_of_work() as session:  # another worker has it, and is alive
        session.execute(
            update(TagEvaluation)
            .where(TagEvaluation.id == requested.id)
            .values(status=EvaluationStatus.RUNNING, heartbeat_at=NOW)
        )
    assert evaluation.run_batch(database, TENANT, requested.id) is None
    clock.advance(evaluation.STALE_AFTER + timedelta(seconds=1))  # …and then it died
    result = evaluation.run_batch(database, TENANT, requested.id)
    assert result is not None and result.status == EvaluationStatus.DONE


def test_a_failed_run_says_why_and_manual_tags_cannot_be_batched(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, TENANT, "坏规则", BUYERS)
        manual = b.manual_tag(session, TENANT, "手动")
        requested = evaluation.request_batch(session, TENANT, tag)
        with pytest.raises(InvalidInput):
            evaluation.request_batch(session, TENANT, manual)
    with database.unit_of_work() as session:  # the stored rule was broken behind the service's back
        from haina.tags.models import Tag

        session.execute(
            update(Tag).where(Tag.id == tag).values(rule={"field": "nope", "op": "=", "value": 1})
        )
    result = evaluation.run_batch(database, TENANT, requested.id)
    assert result is not None and result.status == EvaluationStatus.FAILED
    assert "unknown field 'nope'" in result.error


# ── Event path and batch agree on a sandbox merchant ─────────────────────────────────────────

SEED, CUSTOMERS = 11, 60
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)
SYNCED_AT = HISTORY_END + timedelta(hours=1)
RULES = {
    "复购": {"field": "order_count", "op": ">=", "value": 2},
    "高消费": {"field": "order_amount", "op": ">=", "value": 50_000, "days": 365},
    "沉睡": {"field": "last_order_days", "op": ">", "value": 60},
    "未下单好友": {
        "all": [
            {"field": "order_count", "op": "=", "value": 0},
            {"field": "followed_by", "op": "!=", "value": "nobody"},
        ]
    },
    "退款": {"field": "refund_count", "op": ">=", "value": 1},
    "天猫或京东": {"field": "platform", "op": "in", "value": ["tmall", "jd"]},
}


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    clock.freeze(SYNCED_AT)
    with serve(SandboxState(generate_world(SEED, CUSTOMERS, start=HISTORY_END))) as live:
        yield live


@pytest.mark.slow
def test_event_path_and_batch_agree_on_a_sandbox_merchant(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    with database.unit_of_work() as session:
        tags = {name: b.rule_tag(session, tenant.id, name, rule) for name, rule in RULES.items()}
    ids = connect_all(database, settings, tenant, sandbox)
    since = min(order.created_at for order in sandbox.state.world.orders).replace(microsecond=0) - timedelta(
        days=1
    )
    for (platform, _), connection_id in ids.items():
        for stream in connections.connector_for(platform).streams:
            result = connections.run_sync(
                database, settings, connection_id, stream, since=since, until=SYNCED_AT
            )
            assert result.status == "idle", (platform, stream, result)
        b.drain(database)  # OneID, then the tag engine, as each shop's records arrive

    with database.unit_of_work() as session:
        by_events = {name: b.carriers(session, tenant.id, tag) for name, tag in tags.items()}
    assert all(by_events.values()), by_events  # every rule has carriers on this merchant
    runs = evaluation.evaluate_all(database, tenant.id, chunk_size=25)
    assert {run.status for run in runs} == {EvaluationStatus.DONE}
    assert [(run.added, run.removed) for run in runs] == [(0, 0)] * len(RULES)
    with database.unit_of_work() as session:
        by_batch = {name: b.carriers(session, tenant.id, tag) for name, tag in tags.items()}
    assert by_batch == by_events


def test_chunk_bounds_cut_the_customers_into_ranges_of_the_size(database: Database) -> None:
    """Every customer in exactly one range, `size` per range but the last; the first range
    starts at "" and the last is open (customers created during a walk fall in some range)."""
    with database.unit_of_work() as session:
        people = sorted(b.customer(session, TENANT) for _ in range(23))
        b.customer(session, "another tenant")
    ranges = evaluation.chunk_bounds(database, TENANT, 5)
    assert ranges[0].low == "" and ranges[-1].high is None
    assert [low.high for low in ranges[:-1]] == [high.low for high in ranges[1:]]
    counts = [
        sum(1 for person in people if person >= scope.low and (scope.high is None or person < scope.high))
        for scope in ranges
    ]
    assert counts == [5, 5, 5, 5, 3]
    assert evaluation.chunk_bounds(database, TENANT, 23) == [evaluation.conditions.Range("", None)]
    assert len(evaluation.chunk_bounds(database, TENANT, 100)) == 1
