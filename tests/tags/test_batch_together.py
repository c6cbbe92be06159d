"""Batch runs of many rules at once (on PostgreSQL one walk over the customers, the order leaves
reading shared per-customer facts) mean exactly what the event path's compile means, field by
field, and a run that fails or is taken over does not stop the others."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import Database
from haina.customers.identity.models import Customer, IdentityNode
from haina.tags import conditions, evaluation
from haina.tags.models import CustomerTag, EvaluationStatus, Tag, TagEvaluation, TagSource
from tests.tags import builders as b

# 10:00 in Shanghai on 2026-11-24; the Shanghai day began at 2026-11-23 16:00 UTC.
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TODAY_START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
TENANT = "t1"
STATUSES = ("paid", "shipped", "completed", "partially_refunded", "refunded", "closed", "pending_payment")
PLATFORMS = ("youzan", "tmall", "jd", "pdd")
PLACES = (("上海市", "上海市"), ("广东省", "广州市"), ("浙江省", "杭州市"), ("北京市", "北京市"))

# Every field of the catalogue, with the ops, windows and filters whose compile differs.
RULES: list[dict[str, Any]] = [
    {"field": "order_count", "op": ">=", "value": 1},
    {"field": "order_count", "op": "=", "value": 0},
    {"field": "order_count", "op": "<", "value": 2, "days": 30},
    {"field": "order_count", "op": "between", "value": [1, 2], "days": 1},
    {"field": "order_count", "op": ">=", "value": 1, "since": "2026-11-01", "until": "2026-11-23"},
    {"field": "order_count", "op": ">=", "value": 1, "platforms": ["jd", "pdd"], "days": 90},
    {"field": "order_count", "op": ">=", "value": 1, "product": "面膜"},
    {"field": "order_count", "op": ">=", "value": 1, "sku": "SKU7"},
    {"field": "order_count", "op": "!=", "value": 1, "product": "面膜", "days": 60},
    {"field": "order_amount", "op": ">=", "value": 15_000},
    {"field": "order_amount", "op": "<", "value": 5_000, "days": 30},
    {"field": "order_amount", "op": "between", "value": [1, 9_999], "platforms": ["youzan"]},
    {"field": "last_order_days", "op": ">", "value": 30},
    {"field": "last_order_days", "op": "<=", "value": 1},
    {"field": "last_order_days", "op": "=", "value": 0},
    {"field": "last_order_days", "op": "!=", "value": 1},
    {"field": "last_order_days", "op": ">=", "value": 0},
    {"field": "last_order_days", "op": "between", "value": [2, 40]},
    {"field": "no_order_in_days", "op": "=", "value": 7},
    {"field": "refund_count", "op": ">=", "value": 1},
    {"field": "refund_count", "op": "=", "value": 0, "days": 30},
    {"field": "refund_count", "op": ">=", "value": 2, "since": "2026-10-01"},
    {"field": "coupon_used", "op": "=", "value": True},
    {"field": "coupon_used", "op": "=", "value": False, "days": 30},
    {"field": "coupon_used", "op": "=", "value": True, "coupon_ids": ["C1"]},
    {"field": "province", "op": "=", "value": "广东省"},
    {"field": "province", "op": "!=", "value": "上海市"},
    {"field": "city", "op": "in", "value": ["杭州市", "北京市"]},
    {"field": "city", "op": "not_in", "value": ["杭州市"]},
    {"field": "city", "op": "contains", "value": "州"},
    {"field": "platform", "op": "in", "value": ["jd", "tmall"]},
    {"field": "platform", "op": "not_in", "value": ["youzan"]},
    {"field": "platform", "op": "=", "value": "douyin"},
    {"field": "gender", "op": "=", "value": "female"},
    {"field": "channel_state", "op": "!=", "value": "live"},
    {"field": "followed_by", "op": "in", "value": ["amy"]},
    {"field": "in_group", "op": "=", "value": True},
    {"field": "recency_score", "op": "<", "value": 3},
    {"field": "lifecycle_stage", "op": "=", "value": "prospect"},
    {
        "all": [
            {"field": "order_count", "op": ">=", "value": 2, "days": 365},
            {"field": "order_amount", "op": ">=", "value": 3_000, "days": 365},
            {"not": {"field": "refund_count", "op": ">=", "value": 1}},
        ]
    },
    {
        "any": [
            {"field": "order_count", "op": "=", "value": 0},
            {"field": "last_order_days", "op": ">", "value": 60},
            {"field": "city", "op": "=", "value": "上海市"},
        ]
    },
    {
        "not": {
            "any": [
                {"field": "province", "op": "in", "value": ["北京市"]},
                {"field": "gender", "op": "=", "value": "male"},
            ]
        }
    },
]


def world(session: Session, seed: int = 5) -> list[str]:
    """Customers with a mix of everything the rules read (seeded: the same world every time)."""
    rng = random.Random(seed)
    people = [b.customer(session, TENANT) for _ in range(36)]
    people.append(b.customer(session, TENANT, status="merged"))
    for index, customer_id in enumerate(people):
        moments = [
            TODAY_START,
            TODAY_START - timedelta(minutes=1),
            NOW - timedelta(days=rng.randrange(0, 400)),
        ]
        for number in range(rng.choice((0, 0, 1, 2, 3, 4))):
            province, city = rng.choice(PLACES)
            paid_at = rng.choice(moments) if number < 2 else NOW - timedelta(days=rng.randrange(0, 120))
            status = rng.choice(STATUSES)
            order = b.order(
                session,
                TENANT,
                customer_id,
                paid_at=None if status == "pending_payment" else paid_at,
                paid_fen=rng.randrange(100, 12_000),
                status=status,
                platform=rng.choice(PLATFORMS),
                title=rng.choice(("补水面膜", "洁面乳", "保温杯")),
                sku=rng.choice(("SKU1", "SKU7")),
                coupon_ids=rng.choice(([], [], ["C1"], ["C10"])),
                province=province,
                city=city,
            )
            for _ in range(rng.choice((0, 0, 1, 2))):
                b.refund(
                    session,
                    TENANT,
                    order,
                    rng.randrange(1, 13_000),
                    status=rng.choice(("requested", "agreed", "completed", "refused")),
                    at=NOW - timedelta(days=rng.randrange(0, 90)),
                )
        if index % 4 == 0:
            b.contact(
                session,
                TENANT,
                customer_id,
                gender=rng.choice((0, 1, 2)),
                staff=rng.choice(("amy", "ben")),
                channel_state=rng.choice(("", "live")),
            )
        if index % 5 == 0:
            session.add(
                IdentityNode(
                    id=b.uid(),
                    tenant_id=TENANT,
                    kind="buyer",
                    value=b.uid(),
                    platform=rng.choice(("douyin", "tmall")),
                    customer_id=customer_id,
                )
            )
        if index % 3 == 0:
            b.score(session, TENANT, customer_id, recency=rng.randrange(0, 6), stage="active")
    contacts = [b.contact(session, TENANT, people[index]) for index in (1, 2)]
    b.group(session, TENANT, "chat-1", [contact.external_userid for contact in contacts])
    # Another tenant's buyer matches many rules and must never be touched.
    stranger = b.customer(session, "t2")
    b.order(session, "t2", stranger, paid_at=NOW)
    session.flush()
    return people


def expected(session: Session, tenant_id: str, rule: dict[str, Any]) -> set[str]:
    """Who the event path's compile says holds the rule (no scope: the whole tenant)."""
    test = conditions.filter_for(session, tenant_id, conditions.validate(rule))
    return set(session.scalars(select(Customer.id).where(test)))


def test_facts_mean_what_the_event_path_means(database: Database) -> None:
    """PostgreSQL's shared facts against each leaf's own subqueries, over several scopes."""
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("per-customer facts are the PostgreSQL batch path")
        people = sorted(world(session))
        compiled = [conditions.validate(rule) for rule in RULES]
        for scope in (
            conditions.Range(""),
            conditions.Range(people[5], people[20]),
            conditions.Range(people[30]),
        ):
            together = conditions.batch_tests_for(session, TENANT, compiled, scope=scope)
            assert together.facts is not None
            statement = (
                select(Customer.id, *(test.label(f"r{index}") for index, test in enumerate(together.tests)))
                .select_from(Customer)
                .outerjoin(together.facts, together.facts.c.customer_id == Customer.id)
                .where(Customer.tenant_id == TENANT, evaluation.conditions_in(scope, Customer.id))
            )
            rows = session.execute(statement).all()
            for index, rule in enumerate(RULES):
                alone = conditions.customer_filter(
                    compiled[index], TENANT, now=NOW, scope=scope, dialect="postgresql"
                )
                wanted = set(session.scalars(select(Customer.id).where(alone)))
                assert {row[0] for row in rows if row[index + 1]} == wanted, rule


def test_the_latest_order_is_the_same_one_on_both_paths(database: Database) -> None:
    """Province/city of the latest paid order: the batch's max() of a sortable key picks what the
    event path's ORDER BY paid_at DESC, id DESC picks — a microsecond apart, and on an exact tie."""
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("per-customer facts are the PostgreSQL batch path")
        apart, tied, late_unpaid = (b.customer(session, TENANT) for _ in range(3))
        moment = NOW - timedelta(days=3, microseconds=250)
        b.order(session, TENANT, apart, paid_at=moment, province="广东省", city="广州市")
        b.order(
            session,
            TENANT,
            apart,
            paid_at=moment + timedelta(microseconds=1),
            province="浙江省",
            city="杭州市",
        )
        for province, city in (("广东省", "广州市"), ("北京市", "北京市"), ("浙江省", "杭州市")):
            b.order(session, TENANT, tied, paid_at=moment, province=province, city=city)
        b.order(session, TENANT, late_unpaid, paid_at=moment, province="北京市", city="北京市")
        b.order(session, TENANT, late_unpaid, paid_at=NOW, status="closed", province="广东省", city="广州市")
        session.flush()
        rules = [
            {"field": "province", "op": "=", "value": value} for value in ("广东省", "浙江省", "北京市")
        ] + [{"field": "city", "op": "in", "value": ["杭州市", "北京市"]}]
        compiled = [conditions.validate(rule) for rule in rules]
        scope = conditions.Range("")
        together = conditions.batch_tests_for(session, TENANT, compiled, scope=scope)
        statement = (
            select(Customer.id, *(test.label(f"r{index}") for index, test in enumerate(together.tests)))
            .select_from(Customer)
            .outerjoin(together.facts, together.facts.c.customer_id == Customer.id)
            .where(Customer.tenant_id == TENANT)
        )
        rows = session.execute(statement).all()
        for index, rule in enumerate(rules):
            wanted = expected(session, TENANT, rule)
            assert {row[0] for row in rows if row[index + 1]} == wanted, rule
        assert apart in expected(session, TENANT, rules[1])  # 1 µs later wins
        assert late_unpaid in expected(session, TENANT, rules[2])  # a closed order is not paid
        assert sum(tied in expected(session, TENANT, rule) for rule in rules[:3]) == 1


def test_a_run_of_all_rules_agrees_with_the_event_path(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three chunks at a time (PostgreSQL): chunks side by side must agree with the event path.
    monkeypatch.setenv("HAINA_TAGS_BATCH_WORKERS", "3")
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        people = world(session)
        tags = [b.rule_tag(session, TENANT, f"r{index}", rule) for index, rule in enumerate(RULES)]
        # Carriers from before: stale rule rows go, hand-made ones stay, true ones are kept as they are.
        kept_at = NOW - timedelta(days=3)
        session.add(
            CustomerTag(
                tenant_id=TENANT,
                customer_id=people[0],
                tag_id=tags[1],
                source=TagSource.RULE,
                added_at=kept_at,
            )
        )
        session.add(
            CustomerTag(tenant_id=TENANT, customer_id=people[0], tag_id=tags[0], source=TagSource.RULE)
        )
        session.add(
            CustomerTag(tenant_id=TENANT, customer_id=people[1], tag_id=tags[0], source=TagSource.MANUAL)
        )
        session.add(
            CustomerTag(tenant_id=TENANT, customer_id=people[-1], tag_id=tags[1], source=TagSource.RULE)
        )
        before = {tag: b.carriers(session, TENANT, tag) for tag in tags}
        wanted = {tag: expected(session, TENANT, rule) for tag, rule in zip(tags, RULES, strict=True)}
    empty = [
        rule
        for tag, rule in zip(tags, RULES, strict=True)
        if not wanted[tag] or len(wanted[tag]) == len(people) - 1
    ]
    assert not empty, empty

    runs = evaluation.evaluate_all(database, TENANT, chunk_size=7)
    assert {run.status for run in runs} == {EvaluationStatus.DONE}
    assert all((run.total, run.done) == (len(people), len(people)) for run in runs)
    with database.unit_of_work() as session:
        by_rule = {
            tag: set(
                session.scalars(
                    select(CustomerTag.customer_id).where(
                        CustomerTag.tag_id == tag, CustomerTag.source == TagSource.RULE
                    )
                )
            )
            for tag in tags
        }
        assert by_rule == wanted
        assert people[1] in b.carriers(session, TENANT, tags[0])  # by hand: left alone
        kept = session.scalar(
            select(CustomerTag.added_at).where(
                CustomerTag.customer_id == people[0], CustomerTag.tag_id == tags[1]
            )
        )
        assert people[0] not in wanted[tags[1]] or kept == kept_at
        for run in runs:
            tag = run.tag_id
            assert (run.added, run.removed) == (
                len(b.carriers(session, TENANT, tag) - before[tag]),
                len(before[tag] - b.carriers(session, TENANT, tag)),
            )
        # The event path, asked about everybody, finds nothing left to change.
        applied = evaluation.evaluate_customers(session, TENANT, people)
        assert (applied.added, applied.removed) == ([], [])
    again = evaluation.evaluate_all(database, TENANT, chunk_size=1000)
    assert [(run.added, run.removed) for run in again] == [(0, 0)] * len(RULES)


def test_a_broken_rule_fails_alone_and_a_taken_run_is_left_to_its_taker(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        people = world(session)
        good = b.rule_tag(session, TENANT, "下单", {"field": "order_count", "op": ">=", "value": 1})
        broken = b.rule_tag(session, TENANT, "坏", {"field": "order_count", "op": ">=", "value": 1})
        taken = b.rule_tag(session, TENANT, "被接手", {"field": "order_count", "op": "=", "value": 0})
        session.execute(
            update(Tag).where(Tag.id == broken).values(rule={"field": "nope", "op": "=", "value": 1})
        )
        wanted = expected(session, TENANT, {"field": "order_count", "op": ">=", "value": 1})

    chunks = [0]
    real = (
        evaluation.apply_together if database.engine.dialect.name == "postgresql" else evaluation.apply_range
    )

    def then_another_worker_takes(session: Session, *args: Any, **kwargs: Any) -> Any:
        chunks[0] += 1
        if chunks[0] == 2:  # during the second chunk the run of `taken` changes hands
            with database.unit_of_work() as other:
                other.execute(
                    update(TagEvaluation)
                    .where(TagEvaluation.tag_id == taken)
                    .values(heartbeat_at=NOW + timedelta(hours=1))
                )
        return real(session, *args, **kwargs)

    if database.engine.dialect.name == "postgresql":
        monkeypatch.setattr(evaluation, "apply_together", then_another_worker_takes)
        runs = {run.tag_id: run for run in evaluation.evaluate_all(database, TENANT, chunk_size=10)}
        assert set(runs) == {good, broken}  # the taken run is its taker's to report
    else:
        runs = {run.tag_id: run for run in evaluation.evaluate_all(database, TENANT, chunk_size=10)}
    assert runs[broken].status == EvaluationStatus.FAILED
    assert "unknown field 'nope'" in runs[broken].error
    assert (runs[good].status, runs[good].done, runs[good].added) == (
        EvaluationStatus.DONE,
        len(people),
        len(wanted),
    )
    with database.unit_of_work() as session:
        assert b.carriers(session, TENANT, good) == wanted
        if database.engine.dialect.name == "postgresql":
            status = session.scalar(select(TagEvaluation.status).where(TagEvaluation.tag_id == taken))
            assert status == EvaluationStatus.RUNNING  # not finished by us


def test_a_single_rule_batch_reports_progress_chunk_by_chunk(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's progress bar: each committed chunk moves `done` by its customers (one chunk
    at a time here, so the order of the steps is known)."""
    monkeypatch.setenv("HAINA_TAGS_BATCH_WORKERS", "1")
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        people = world(session)
        tag = b.rule_tag(session, TENANT, "复购", {"field": "order_count", "op": ">=", "value": 2})
        requested = evaluation.request_batch(session, TENANT, tag)
    seen: list[int] = []
    if database.engine.dialect.name == "postgresql":
        real = evaluation.apply_together

        def watch(session: Session, *args: Any, **kwargs: Any) -> Any:
            with database.unit_of_work() as other:
                seen.append(
                    other.scalar(select(TagEvaluation.done).where(TagEvaluation.id == requested.id)) or 0
                )
            return real(session, *args, **kwargs)

        monkeypatch.setattr(evaluation, "apply_together", watch)
    result = evaluation.run_batch(database, TENANT, requested.id, chunk_size=10)
    assert result is not None and (result.status, result.total, result.done) == (
        EvaluationStatus.DONE,
        len(people),
        len(people),
    )
    if seen:
        assert seen == [0, 10, 20, 30]


def test_the_latest_key_counts_every_microsecond_until_2100(database: Database) -> None:
    """The latest-order key reads paid_at through date_part's double: on this PostgreSQL, for
    times from 1990 to 2100, it is the exact microsecond count, so two orders a microsecond apart
    never tie or swap."""
    with database.unit_of_work() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("the key is the PostgreSQL batch path's")
        rng = random.Random(11)
        start = datetime(1990, 1, 1, tzinfo=UTC)
        span = int((datetime(2100, 1, 1, tzinfo=UTC) - start).total_seconds() * 1_000_000)
        moments = [start + timedelta(microseconds=rng.randrange(span)) for _ in range(20_000)]
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        exact = [
            ((moment - epoch).days * 86_400 + (moment - epoch).seconds) * 1_000_000
            + (moment - epoch).microseconds
            for moment in moments
        ]
        rows = session.execute(
            text(
                "SELECT CAST(date_part('epoch', CAST(m AS timestamptz)) * 1000000 AS BIGINT)"
                " FROM unnest(CAST(:moments AS text[])) WITH ORDINALITY AS t(m, n) ORDER BY n"
            ),
            {"moments": [moment.isoformat() for moment in moments]},
        ).scalars()
        assert list(rows) == exact
