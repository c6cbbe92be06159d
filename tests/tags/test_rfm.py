"""RFM scores on hand-built customers: quantile and fixed bands, refunds net, window edges on a
frozen clock, ties, and the settings' validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.tags import rfm
from haina.tags.models import CustomerScore, RfmSettings
from tests.tags.rfm_seed import add_customer, add_order

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _tenant(database: Database) -> str:
    from haina.core.tenancy.service import get_or_create_tenant

    with database.unit_of_work() as session:
        return get_or_create_tenant(session, f"rfm-{uuid.uuid4().hex[:8]}", "RFM 商户").id


def _scores(database: Database, tenant_id: str) -> dict[str, CustomerScore]:
    with database.unit_of_work() as session:
        rows = session.scalars(select(CustomerScore).where(CustomerScore.tenant_id == tenant_id))
        return {row.customer_id: row for row in rows}


def _settings(**changes: object) -> rfm.SettingsInput:
    values: dict[str, object] = {
        "window_days": 365,
        "band_method": "quantile",
        "recency_bounds": [],
        "frequency_bounds": [],
        "monetary_bounds": [],
        "new_days": 30,
        "active_days": 90,
        "at_risk_days": 180,
        "dormant_days": 365,
    }
    values.update(changes)
    return rfm.SettingsInput(**values)  # type: ignore[arg-type]


def _days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_quantile_scores_rank_the_tenants_buyers(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    other_tenant = _tenant(database)
    with database.unit_of_work() as session:
        # name → (days ago of each order, fen per order); monetary order differs from frequency.
        plan = {
            "a": ([200], 50_000),
            "b": ([100, 150], 5_000),
            "c": ([50, 60, 70], 20_000 // 3 + 1),
            "d": ([10, 20, 30, 40], 10_000),
            "e": ([1, 2, 3, 4, 5], 6_000),
        }
        ids = {}
        for name, (days, fen) in plan.items():
            ids[name] = add_customer(session, tenant_id, name)
            for day in days:
                add_order(session, tenant_id, ids[name], _days_ago(day), fen)
        ids["prospect"] = add_customer(session, tenant_id, "prospect")
        ids["old"] = add_customer(session, tenant_id, "old")
        add_order(session, tenant_id, ids["old"], _days_ago(400), 99_999)
        ids["merged"] = add_customer(session, tenant_id, "merged", status="merged")
        add_order(session, tenant_id, ids["merged"], _days_ago(1), 1_000_000)
        stranger = add_customer(session, other_tenant, "stranger")
        add_order(session, other_tenant, stranger, _days_ago(1), 9_000_000)
    with database.unit_of_work() as session:
        result = rfm.compute(session, tenant_id)
    assert (result.customers, result.buyers) == (7, 5)

    scores = _scores(database, tenant_id)
    assert ids["merged"] not in scores and stranger not in scores
    got = {name: scores[ids[name]] for name in ids if name != "merged"}
    assert {n: s.recency_days for n, s in got.items()} == {
        "a": 200, "b": 100, "c": 50, "d": 10, "e": 1, "prospect": None, "old": 400,
    }  # fmt: skip
    assert {n: (s.frequency, s.monetary_fen) for n, s in got.items()} == {
        "a": (1, 50_000), "b": (2, 10_000), "c": (3, 20_001), "d": (4, 40_000), "e": (5, 30_000),
        "prospect": (0, 0), "old": (0, 0),
    }  # fmt: skip
    assert {n: (s.recency_score, s.frequency_score, s.monetary_score) for n, s in got.items()} == {
        "a": (1, 1, 5), "b": (2, 2, 1), "c": (3, 3, 2), "d": (4, 4, 4), "e": (5, 5, 3),
        "prospect": (0, 0, 0), "old": (0, 0, 0),
    }  # fmt: skip
    assert got["e"].first_order_at == _days_ago(5) and got["e"].last_order_at == _days_ago(1)
    assert _scores(database, other_tenant) == {}


def test_ties_share_the_lower_band_whatever_the_row_order(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        ids = [add_customer(session, tenant_id, f"c{index}") for index in range(4)]
        for customer_id in ids[:3]:
            add_order(session, tenant_id, customer_id, _days_ago(3), 1_000)
        add_order(session, tenant_id, ids[3], _days_ago(3), 1_000)
        add_order(session, tenant_id, ids[3], _days_ago(4), 1_000)
    for _ in range(2):
        with database.unit_of_work() as session:
            rfm.compute(session, tenant_id)
        scores = _scores(database, tenant_id)
        # Three buyers with one order (rank 1 of 4): band 1; the one with two (rank 4): band 4.
        assert [scores[i].frequency_score for i in ids] == [1, 1, 1, 4]
        assert [scores[i].monetary_score for i in ids] == [1, 1, 1, 4]
        assert [scores[i].recency_score for i in ids] == [1, 1, 1, 1]


def test_fixed_bands(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        rfm.update_settings(
            session,
            tenant_id,
            _settings(
                band_method="fixed",
                recency_bounds=[7, 30, 90, 180],
                frequency_bounds=[2, 3, 5, 10],
                monetary_bounds=[10_000, 50_000, 100_000, 500_000],
            ),
        )
        # (days ago of the last order, orders, fen each) → expected (R, F, M)
        cases = {
            (7, 1, 9_999): (5, 1, 1),
            (8, 2, 5_000): (4, 2, 2),
            (30, 3, 20_000): (4, 3, 3),
            (90, 5, 20_000): (3, 4, 4),
            (181, 10, 50_000): (1, 5, 5),
            (180, 9, 100): (2, 4, 1),
        }
        ids = {}
        for key in cases:
            last, count, fen = key
            ids[key] = add_customer(session, tenant_id, str(key))
            for extra in range(count):
                add_order(session, tenant_id, ids[key], _days_ago(last + extra * 0.001), fen)
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    scores = _scores(database, tenant_id)
    got = {
        key: (scores[i].recency_score, scores[i].frequency_score, scores[i].monetary_score)
        for key, i in ids.items()
    }
    assert got == cases


def test_refunds_are_netted_and_unpaid_orders_ignored(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        customer = add_customer(session, tenant_id, "refunder")
        add_order(
            session,
            tenant_id,
            customer,
            _days_ago(5),
            10_000,
            status="partially_refunded",
            refunds=((3_000, "completed"), (1_000, "agreed"), (2_000, "requested"), (500, "refused")),
        )
        add_order(session, tenant_id, customer, _days_ago(6), 7_000, refunds=((9_000, "completed"),))
        add_order(session, tenant_id, customer, _days_ago(1), 8_000, status="refunded")
        add_order(session, tenant_id, customer, _days_ago(1), 8_000, status="pending_payment")
        add_order(session, tenant_id, customer, _days_ago(1), 8_000, status="closed")
        # No payment time: the order counts at its creation.
        add_order(session, tenant_id, customer, _days_ago(2), 1_000, status="shipped", paid_at=False)
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    score = _scores(database, tenant_id)[customer]
    # 10,000 − 3,000 − 1,000; the over-refunded order counts as an order worth 0; +1,000.
    assert (score.frequency, score.monetary_fen) == (3, 7_000)
    assert score.recency_days == 2
    assert score.last_order_at == _days_ago(2)


def test_window_edges_follow_shanghai_calendar_days(database: Database) -> None:
    clock.freeze(NOW)  # 2026-11-24 10:00 in Shanghai
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        rfm.update_settings(session, tenant_id, _settings(window_days=30))
        inside = add_customer(session, tenant_id, "inside")
        # 2026-10-26 00:00 in Shanghai: the first moment of the 30th day back (today counts).
        add_order(session, tenant_id, inside, datetime(2026, 10, 25, 16, 0, tzinfo=UTC), 100)
        outside = add_customer(session, tenant_id, "outside")
        add_order(session, tenant_id, outside, datetime(2026, 10, 25, 15, 59, 59, tzinfo=UTC), 100)
        after_midnight = add_customer(session, tenant_id, "after-midnight")
        add_order(session, tenant_id, after_midnight, datetime(2026, 11, 23, 16, 30, tzinfo=UTC), 100)
        late_yesterday = add_customer(session, tenant_id, "late-yesterday")
        add_order(session, tenant_id, late_yesterday, datetime(2026, 11, 23, 15, 30, tzinfo=UTC), 100)
        ahead = add_customer(session, tenant_id, "clock-ahead")  # a platform stamp after our today
        add_order(session, tenant_id, ahead, NOW + timedelta(days=2), 100)
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    scores = _scores(database, tenant_id)
    assert (scores[inside].recency_days, scores[inside].frequency) == (29, 1)
    assert (scores[outside].recency_days, scores[outside].frequency) == (30, 0)
    assert scores[outside].recency_score == 0
    assert scores[after_midnight].recency_days == 0
    assert scores[late_yesterday].recency_days == 1
    assert scores[ahead].recency_days == 0

    clock.freeze(NOW + timedelta(days=1))  # the window moves with the clock
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    scores = _scores(database, tenant_id)
    assert (scores[inside].recency_days, scores[inside].frequency) == (30, 0)


def test_unchanged_rows_are_not_rewritten(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        steady = add_customer(session, tenant_id, "steady")
        add_order(session, tenant_id, steady, _days_ago(3), 1_000)
        mover = add_customer(session, tenant_id, "mover")
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    clock.freeze(NOW + timedelta(minutes=10))
    with database.unit_of_work() as session:
        add_order(session, tenant_id, mover, NOW + timedelta(minutes=5), 2_000)
        rfm.compute(session, tenant_id)
    scores = _scores(database, tenant_id)
    assert scores[steady].computed_at == NOW
    assert scores[mover].computed_at == NOW + timedelta(minutes=10)
    assert scores[mover].frequency == 1


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"window_days": 0}, "rfm_window_invalid", "window_days"),
        ({"window_days": 4000}, "rfm_window_invalid", "window_days"),
        ({"band_method": "deciles"}, "rfm_band_method_invalid", "band_method"),
        ({"band_method": "fixed"}, "rfm_bounds_count", "recency_bounds"),
        (
            {"band_method": "fixed", "recency_bounds": [1, 2, 3, 4], "frequency_bounds": [1, 2, 3]},
            "rfm_bounds_count",
            "frequency_bounds",
        ),
        ({"monetary_bounds": [100, 100, 200, 300]}, "rfm_bounds_order", "monetary_bounds"),
        ({"recency_bounds": [30, 7, 90, 180]}, "rfm_bounds_order", "recency_bounds"),
        ({"frequency_bounds": [-1, 2, 3, 4]}, "rfm_bounds_range", "frequency_bounds"),
        ({"monetary_bounds": [1, 2, 3, 10**13]}, "rfm_bounds_range", "monetary_bounds"),
        ({"new_days": 0}, "rfm_stage_days_range", "stage_days"),
        ({"active_days": 200}, "rfm_stage_days_order", "stage_days"),
        ({"new_days": 120}, "rfm_stage_days_order", "stage_days"),
    ],
)
def test_settings_validation_names_the_problem(
    database: Database, changes: dict[str, object], code: str, field: str
) -> None:
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        with pytest.raises(rfm.RfmSettingsInvalid) as raised:
            rfm.update_settings(session, tenant_id, _settings(**changes))
        assert raised.value.code == code
        assert raised.value.details["field"] == field
        assert raised.value.status_code == 422
        assert session.get(RfmSettings, tenant_id) is None


def test_settings_round_trip(database: Database) -> None:
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        assert rfm.get_settings(session, tenant_id).window_days == 365  # defaults, not stored
        assert session.get(RfmSettings, tenant_id) is None
        rfm.update_settings(
            session,
            tenant_id,
            _settings(window_days=180, band_method="fixed", recency_bounds=[7, 30, 90, 180],
                      frequency_bounds=[2, 3, 5, 10], monetary_bounds=[1, 2, 3, 4]),
        )  # fmt: skip
    with database.unit_of_work() as session:
        stored = rfm.get_settings(session, tenant_id)
        assert (stored.window_days, stored.band_method, stored.monetary_bounds) == (
            180,
            "fixed",
            [1, 2, 3, 4],
        )


def test_a_customer_merged_away_loses_its_scores(database: Database) -> None:
    from haina.customers.identity.models import Customer

    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        kept = add_customer(session, tenant_id, "kept")
        absorbed = add_customer(session, tenant_id, "absorbed")
        add_order(session, tenant_id, absorbed, _days_ago(3), 1_000)
    with database.unit_of_work() as session:
        assert rfm.compute(session, tenant_id).customers == 2
    with database.unit_of_work() as session:
        customer = session.get(Customer, (tenant_id, absorbed))
        assert customer is not None
        customer.status = "merged"
    with database.unit_of_work() as session:
        result = rfm.compute(session, tenant_id)
    assert result.customers == 1 and result.counts["new"] == 0
    assert set(_scores(database, tenant_id)) == {kept}
