"""The condition language: validation names the bad node by its path, and the compiled filter
means what the module docstring says, on SQLite and PostgreSQL (Shanghai calendar days, paid
orders only, refunds netted, customers without rows handled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.database import Database
from haina.customers.identity.models import Customer
from haina.tags import conditions
from haina.tags.conditions import InvalidCondition
from haina.tags.models import CustomerTag, TagSource
from tests.tags import builders as b

# 10:00 in Shanghai on 2026-11-24; the Shanghai day began at 2026-11-23 16:00 UTC.
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TODAY_START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
TENANT = "t1"


def matches(session: Session, definition: dict[str, Any], tenant_id: str = TENANT) -> set[str]:
    condition = conditions.validate(definition)
    return set(
        session.scalars(select(Customer.id).where(conditions.filter_for(session, tenant_id, condition)))
    )


def rejected(definition: Any) -> InvalidCondition:
    with pytest.raises(InvalidCondition) as caught:
        conditions.validate(definition)
    return caught.value


# ── Validation ───────────────────────────────────────────────────────────────────────────────


def test_a_bad_value_is_named_by_its_path() -> None:
    error = rejected(
        {
            "all": [
                {"field": "order_count", "op": ">=", "value": 1},
                {"field": "city", "op": "=", "value": "上海市"},
                {"field": "order_count", "op": ">=", "value": "3; DROP TABLE customers"},
            ]
        }
    )
    assert error.path == "all[2].value"
    assert error.message == "all[2].value: order_count needs a whole number ≥ 0"
    assert error.status_code == 422
    assert error.details["message_zh"].startswith("all[2].value：")


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        ({"field": "order_count; DROP TABLE customers", "op": ">=", "value": 1}, "field", "unknown field"),
        ({"field": "order_count", "op": "OR 1=1", "value": 1}, "op", "does not take op"),
        ({"field": "order_count", "op": ">=", "value": 1, "days; --": 3}, "days; --", "no parameter"),
        ({"field": "order_count", "op": ">=", "value": True}, "value", "whole number"),
        ({"field": "order_count", "op": ">=", "value": -1}, "value", "whole number"),
        ({"field": "order_count", "op": ">=", "value": 1, "days": 0}, "days", "whole number ≥ 1"),
        (
            {"field": "order_count", "op": ">=", "value": 1, "days": 7, "since": "2026-01-01"},
            "days",
            "either",
        ),
        ({"field": "order_count", "op": ">=", "value": 1, "since": "yesterday"}, "since", "date"),
        ({"field": "order_count", "op": "between", "value": [5, 1]}, "value", "low ≤ high"),
        ({"field": "order_count", "op": ">="}, "value", "needs a value"),
        ({"field": "gender", "op": "=", "value": "robot"}, "value", "must be one of"),
        ({"field": "city", "op": "in", "value": [f"c{i}" for i in range(201)]}, "value", "list of 1 to 200"),
        ({"field": "city", "op": "=", "value": "x" * 65}, "value", "at most 64"),
        ({"any": []}, "any", "non-empty list"),
        ({"all": [1]}, "all[0]", "must be an object"),
        ({"every": []}, "every", "unknown key"),
        ({"all": [], "any": []}, "condition", "exactly one"),
        ("order_count > 1", "condition", "must be an object"),
        ({"not": {"any": [{"field": "order_count", "op": "≥", "value": 1}]}}, "not.any[0].op", "op"),
    ],
)
def test_bad_definitions_are_rejected_with_their_path(definition: Any, path: str, words: str) -> None:
    error = rejected(definition)
    assert error.path == path
    assert words in error.message


def test_depth_and_size_bombs_are_rejected() -> None:
    deep: dict[str, Any] = {"field": "order_count", "op": ">=", "value": 1}
    for _ in range(50):
        deep = {"not": deep}
    assert "nested deeper than 8" in rejected(deep).message
    wide = {"any": [{"field": "order_count", "op": ">=", "value": n} for n in range(101)]}
    assert "more than 100" in rejected(wide).message


def test_the_catalogue_is_data_for_the_builder() -> None:
    catalogue = {field["name"]: field for field in conditions.catalogue()}
    assert catalogue["order_count"]["label_zh"] == "订单数"
    assert "between" in catalogue["order_count"]["ops"]
    assert {param["name"] for param in catalogue["order_count"]["params"]} >= {"days", "since", "platforms"}
    assert catalogue["lifecycle_stage"]["choices"][0] == "prospect"


def test_valid_definitions_round_trip() -> None:
    definition = {
        "all": [
            {"field": "order_count", "op": ">=", "value": 2, "days": 30, "platforms": ["youzan"]},
            {"not": {"field": "has_tag", "op": "in", "value": ["t1"]}},
        ]
    }
    condition = conditions.validate(definition)
    assert conditions.to_json(condition) == definition
    assert conditions.fields_of(condition) == {"order_count", "has_tag"}


# ── Semantics on the database ────────────────────────────────────────────────────────────────


def test_windows_are_shanghai_calendar_days(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        late_yesterday = b.customer(session, TENANT)
        b.order(session, TENANT, late_yesterday, paid_at=TODAY_START - timedelta(minutes=1))  # 23:59 Shanghai
        early_today = b.customer(session, TENANT)
        b.order(session, TENANT, early_today, paid_at=TODAY_START)  # 00:00 Shanghai
        never = b.customer(session, TENANT)

        today = {"field": "order_count", "op": ">=", "value": 1, "days": 1}
        assert matches(session, today) == {early_today}
        assert matches(session, {**today, "days": 2}) == {early_today, late_yesterday}
        assert matches(session, {"field": "order_count", "op": "<", "value": 1, "days": 1}) == {
            late_yesterday,
            never,
        }
        assert matches(session, {"field": "last_order_days", "op": "=", "value": 1}) == {late_yesterday}
        assert matches(session, {"field": "last_order_days", "op": "<=", "value": 0}) == {early_today}
        assert matches(session, {"field": "last_order_days", "op": ">=", "value": 0}) == {
            early_today,
            late_yesterday,
        }
        assert matches(session, {"field": "no_order_in_days", "op": "=", "value": 1}) == {
            late_yesterday,
            never,
        }
        dates = {"field": "order_count", "op": ">=", "value": 1, "since": "2026-11-23", "until": "2026-11-23"}
        assert matches(session, dates) == {late_yesterday}


def test_only_paid_orders_count_and_refunds_are_netted(database: Database) -> None:
    clock.freeze(NOW)
    at = NOW - timedelta(days=3)
    with database.unit_of_work() as session:
        refunded = b.customer(session, TENANT)
        b.order(session, TENANT, refunded, paid_at=at, status="refunded")
        pending = b.customer(session, TENANT)
        b.order(session, TENANT, pending, paid_at=None, status="pending_payment")
        closed = b.customer(session, TENANT)
        b.order(session, TENANT, closed, paid_at=at, status="closed")
        partial = b.customer(session, TENANT)
        order = b.order(session, TENANT, partial, paid_at=at, status="partially_refunded", paid_fen=10_000)
        b.refund(session, TENANT, order, 3_000, status="completed")
        b.refund(session, TENANT, order, 1_000, status="requested")  # not refunded yet
        b.refund(session, TENANT, order, 500, status="refused")
        shipped = b.customer(session, TENANT)
        b.order(session, TENANT, shipped, paid_at=at, status="shipped", paid_fen=2_000)
        b.order(session, TENANT, shipped, paid_at=at, status="completed", paid_fen=2_000)

        assert matches(session, {"field": "order_count", "op": ">=", "value": 1}) == {partial, shipped}
        assert matches(session, {"field": "order_count", "op": "=", "value": 2}) == {shipped}
        assert matches(session, {"field": "order_amount", "op": "=", "value": 7_000}) == {partial}
        assert matches(session, {"field": "order_amount", "op": "between", "value": [4_000, 6_999]}) == {
            shipped
        }
        assert matches(session, {"field": "order_amount", "op": "<", "value": 1}) == {
            refunded,
            pending,
            closed,
        }
        assert matches(session, {"field": "refund_count", "op": ">=", "value": 2}) == {partial}


def test_order_filters_and_profile_fields(database: Database) -> None:
    clock.freeze(NOW)
    at = NOW - timedelta(days=2)
    with database.unit_of_work() as session:
        alice = b.customer(session, TENANT, "Alice")
        b.order(session, TENANT, alice, paid_at=at - timedelta(days=30), province="北京市", city="北京市")
        b.order(session, TENANT, alice, paid_at=at, platform="jd", title="补水面膜 10 片", coupon_ids=["C10"])
        bob = b.customer(session, TENANT, "Bob")
        b.order(
            session, TENANT, bob, paid_at=at, sku="SKU9", coupon_ids=["C1"], province="北京市", city="北京市"
        )
        carol = b.customer(session, TENANT, "Carol")
        merged = b.customer(session, TENANT, "Merged", status="merged")
        b.order(session, TENANT, merged, paid_at=at)

        assert matches(session, {"field": "order_count", "op": ">=", "value": 1, "product": "面膜"}) == {
            alice
        }
        assert matches(session, {"field": "order_count", "op": ">=", "value": 1, "sku": "SKU9"}) == {bob}
        assert matches(session, {"field": "order_count", "op": ">=", "value": 1, "platforms": ["jd"]}) == {
            alice
        }
        assert matches(session, {"field": "coupon_used", "op": "=", "value": True, "coupon_ids": ["C1"]}) == {
            bob
        }
        assert matches(session, {"field": "coupon_used", "op": "=", "value": True}) == {alice, bob}
        assert matches(session, {"field": "coupon_used", "op": "=", "value": False}) == {carol}
        # Province of the latest paid order: Alice's latest is in Shanghai.
        assert matches(session, {"field": "province", "op": "=", "value": "北京市"}) == {bob}
        assert matches(session, {"field": "province", "op": "!=", "value": "北京市"}) == {alice, carol}
        assert matches(session, {"field": "city", "op": "contains", "value": "海"}) == {alice}
        assert matches(session, {"field": "platform", "op": "in", "value": ["jd", "pdd"]}) == {alice}
        assert matches(session, {"field": "platform", "op": "not_in", "value": ["jd"]}) == {bob, carol}
        either = {
            "any": [
                {"field": "order_count", "op": ">=", "value": 2},
                {"field": "sku", "op": "=", "value": "x"},
            ]
        }
        assert rejected(either).path == "any[1].field"
        assert matches(session, {"not": {"field": "order_count", "op": ">=", "value": 2}}) == {bob, carol}


def test_engagement_tags_and_scores(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        alice = b.customer(session, TENANT)
        b.contact(
            session, TENANT, alice, external_userid="wmalice", gender=2, channel_state="live-618", staff="amy"
        )
        bob = b.customer(session, TENANT)
        b.contact(session, TENANT, bob, external_userid="wmbob", gender=1, staff="ben")
        carol = b.customer(session, TENANT)
        b.group(session, TENANT, "chat-vip", ["wmalice", "wmbob"])
        b.group(session, TENANT, "chat-new", ["wmbob"])
        b.score(session, TENANT, alice, recency=5, stage="active")
        b.score(session, TENANT, bob, recency=2, stage="at_risk")
        vip = b.manual_tag(session, TENANT, "VIP")
        session.add(CustomerTag(tenant_id=TENANT, customer_id=bob, tag_id=vip, source=TagSource.MANUAL))
        session.flush()

        assert matches(session, {"field": "channel_state", "op": "=", "value": "live-618"}) == {alice}
        assert matches(session, {"field": "channel_state", "op": "contains", "value": "LIVE"}) == {alice}
        assert matches(session, {"field": "channel_state", "op": "!=", "value": "live-618"}) == {bob, carol}
        assert matches(session, {"field": "followed_by", "op": "in", "value": ["amy", "zoe"]}) == {alice}
        assert matches(session, {"field": "gender", "op": "=", "value": "female"}) == {alice}
        assert matches(session, {"field": "in_group", "op": "=", "value": True}) == {alice, bob}
        assert matches(
            session, {"field": "in_group", "op": "=", "value": True, "chat_ids": ["chat-new"]}
        ) == {bob}
        assert matches(session, {"field": "in_group", "op": "=", "value": False}) == {carol}
        assert matches(session, {"field": "has_tag", "op": "in", "value": [vip]}) == {bob}
        assert matches(session, {"field": "has_tag", "op": "not_in", "value": [vip]}) == {alice, carol}
        assert matches(session, {"field": "recency_score", "op": ">=", "value": 4}) == {alice}
        assert matches(session, {"field": "recency_score", "op": "<", "value": 3}) == {bob, carol}
        assert matches(session, {"field": "lifecycle_stage", "op": "=", "value": "prospect"}) == {carol}
        assert matches(session, {"field": "lifecycle_stage", "op": "in", "value": ["active", "at_risk"]}) == {
            alice,
            bob,
        }


def test_hostile_text_is_only_ever_data(database: Database) -> None:
    clock.freeze(NOW)
    hostile = "上海'; DROP TABLE customers; --"
    with database.unit_of_work() as session:
        quoted = b.customer(session, TENANT)
        b.order(session, TENANT, quoted, paid_at=NOW, city=hostile)
        plain = b.customer(session, TENANT)
        b.order(session, TENANT, plain, paid_at=NOW, city="上海市")
        assert matches(session, {"field": "city", "op": "=", "value": hostile}) == {quoted}
        # LIKE wildcards in a value are literal characters.
        assert matches(session, {"field": "city", "op": "contains", "value": "%"}) == set()
        assert matches(session, {"field": "channel_state", "op": "in", "value": ["' OR '1'='1"]}) == set()
        assert session.scalar(select(func.count()).select_from(Customer)) == 2


def test_tenants_and_scopes_narrow_the_filter(database: Database) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        mine = [b.customer(session, TENANT) for _ in range(3)]
        for customer_id in mine:
            b.order(session, TENANT, customer_id, paid_at=NOW)
        other = b.customer(session, "t2")
        b.order(session, "t2", other, paid_at=NOW)
        condition = conditions.validate({"field": "order_count", "op": ">=", "value": 1})
        dialect = session.get_bind().dialect.name

        def run(scope: Any) -> set[str]:
            test = conditions.customer_filter(condition, TENANT, now=NOW, scope=scope, dialect=dialect)
            return set(session.scalars(select(Customer.id).where(test)))

        assert run(None) == set(mine)
        assert run([mine[0], other]) == {mine[0]}
        ordered = sorted(mine)
        assert run(conditions.Range(ordered[1], ordered[2])) == {ordered[1]}
        assert run(conditions.Range(ordered[1])) == set(ordered[1:])
