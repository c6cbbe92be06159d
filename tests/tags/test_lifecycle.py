"""Lifecycle stages over time on a frozen clock: every stage, won back (and how long it lasts),
the daily counts and flows (accumulating within a day), the stage_changed events, the
dashboard's read functions and the scheduler's run of a tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.core.events.models import OutboxEvent
from haina.tags import lifecycle, rfm, schedule
from haina.tags.models import CustomerScore, LifecycleDay
from tests.tags.rfm_seed import add_customer, add_order

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = date(2026, 11, 24)


def _tenant(database: Database) -> str:
    from haina.core.tenancy.service import get_or_create_tenant

    with database.unit_of_work() as session:
        return get_or_create_tenant(session, f"life-{uuid.uuid4().hex[:8]}", "生命周期商户").id


def _stages(database: Database, tenant_id: str) -> dict[str, tuple[str, datetime]]:
    with database.unit_of_work() as session:
        rows = session.scalars(select(CustomerScore).where(CustomerScore.tenant_id == tenant_id))
        return {row.customer_id: (row.stage, row.stage_since) for row in rows}


def _day(database: Database, tenant_id: str, day: date) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    with database.unit_of_work() as session:
        rows = session.scalars(
            select(LifecycleDay).where(LifecycleDay.tenant_id == tenant_id, LifecycleDay.day == day)
        )
        counts: dict[str, int] = {}
        flows: dict[tuple[str, str], int] = {}
        for row in rows:
            if row.from_stage == row.to_stage:
                counts[row.to_stage] = row.count
            else:
                flows[(row.from_stage, row.to_stage)] = row.count
        return counts, flows


def _events(database: Database, tenant_id: str) -> list[dict[str, str]]:
    with database.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.type == lifecycle.STAGE_CHANGED)
            .order_by(OutboxEvent.id)
        )
        return [row.payload for row in rows]


def _compute(database: Database, tenant_id: str) -> rfm.ComputeResult:
    with database.unit_of_work() as session:
        return rfm.compute(session, tenant_id)


def test_stages_moves_counts_and_events(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    ago = lambda days: NOW - timedelta(days=days)  # noqa: E731
    with database.unit_of_work() as session:
        c = {name: add_customer(session, tenant_id, name) for name in ("p", "n", "a", "r", "d", "l")}
        add_order(session, tenant_id, c["n"], ago(5), 100)
        add_order(session, tenant_id, c["a"], ago(100), 100)
        add_order(session, tenant_id, c["a"], ago(10), 100)
        add_order(session, tenant_id, c["r"], ago(120), 100)
        add_order(session, tenant_id, c["d"], ago(200), 100)
        add_order(session, tenant_id, c["l"], ago(400), 100)

    # Day 1: the first computation sets the scene: counts, no moves, no events.
    first = _compute(database, tenant_id)
    stages = _stages(database, tenant_id)
    assert {name: stages[c[name]][0] for name in c} == {
        "p": "prospect", "n": "new", "a": "active", "r": "at_risk", "d": "dormant", "l": "lost",
    }  # fmt: skip
    expected_counts = dict.fromkeys(lifecycle.STAGES, 0) | {
        "prospect": 1, "new": 1, "active": 1, "at_risk": 1, "dormant": 1, "lost": 1,
    }  # fmt: skip
    assert first.counts == expected_counts
    assert _day(database, tenant_id, TODAY) == (expected_counts, {})
    assert _events(database, tenant_id) == []

    # Day 2: the lost and dormant customers order again (won back), the prospect buys (new),
    # the at-risk one buys (active, not won back), and a new customer appears with an order.
    clock.freeze(NOW + timedelta(days=1))
    tomorrow = TODAY + timedelta(days=1)
    with database.unit_of_work() as session:
        for name in ("l", "d", "p", "r"):
            add_order(session, tenant_id, c[name], clock.now() - timedelta(hours=1), 100)
        c["x"] = add_customer(session, tenant_id, "x")
        add_order(session, tenant_id, c["x"], clock.now() - timedelta(hours=2), 100)
        c["q"] = add_customer(session, tenant_id, "q")  # a new prospect: no move
    _compute(database, tenant_id)
    stages = _stages(database, tenant_id)
    assert {name: stages[c[name]][0] for name in c} == {
        "p": "new", "n": "new", "a": "active", "r": "active", "d": "won_back", "l": "won_back",
        "x": "new", "q": "prospect",
    }  # fmt: skip
    assert stages[c["l"]][1] == clock.now() and stages[c["a"]][1] == NOW  # stage_since moves on change only
    counts, flows = _day(database, tenant_id, tomorrow)
    assert flows == {
        ("lost", "won_back"): 1,
        ("dormant", "won_back"): 1,
        ("prospect", "new"): 2,
        ("at_risk", "active"): 1,
    }
    assert counts == dict.fromkeys(lifecycle.STAGES, 0) | {
        "prospect": 1,
        "new": 3,
        "active": 2,
        "won_back": 2,
    }
    assert _day(database, tenant_id, TODAY)[0] == expected_counts  # yesterday's snapshot is kept
    events = _events(database, tenant_id)
    assert sorted((e["customer_id"], e["from"], e["to"]) for e in events) == sorted(
        [
            (c["l"], "lost", "won_back"),
            (c["d"], "dormant", "won_back"),
            (c["p"], "prospect", "new"),
            (c["x"], "prospect", "new"),
            (c["r"], "at_risk", "active"),
        ]
    )

    # Later the same day: another move adds to the day's flows; counts are replaced.
    clock.freeze(NOW + timedelta(days=1, hours=3))
    with database.unit_of_work() as session:
        add_order(session, tenant_id, c["q"], clock.now() - timedelta(minutes=5), 100)
    _compute(database, tenant_id)
    counts, flows = _day(database, tenant_id, tomorrow)
    assert flows[("prospect", "new")] == 3
    assert (counts["prospect"], counts["new"]) == (0, 4)
    assert len(_events(database, tenant_id)) == 6

    # Won back lasts while the customer would otherwise be active …
    clock.freeze(NOW + timedelta(days=80))
    _compute(database, tenant_id)
    stages = _stages(database, tenant_id)
    assert stages[c["l"]][0] == "won_back" and stages[c["n"]][0] == "active"
    # … and ends when they would be something else.
    clock.freeze(NOW + timedelta(days=100))
    _compute(database, tenant_id)
    stages = _stages(database, tenant_id)
    assert stages[c["l"]][0] == "at_risk" and stages[c["d"]][0] == "at_risk"
    _, flows = _day(database, tenant_id, TODAY + timedelta(days=100))
    assert flows[("won_back", "at_risk")] == 2


def test_thresholds_come_from_the_settings(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        customer = add_customer(session, tenant_id, "c")
        add_order(session, tenant_id, customer, NOW - timedelta(days=40), 100)
        add_order(session, tenant_id, customer, NOW - timedelta(days=20), 100)
    _compute(database, tenant_id)
    assert _stages(database, tenant_id)[customer][0] == "active"
    with database.unit_of_work() as session:
        rfm.update_settings(
            session,
            tenant_id,
            rfm.SettingsInput(
                window_days=365, band_method="quantile", recency_bounds=[], frequency_bounds=[],
                monetary_bounds=[], new_days=7, active_days=14, at_risk_days=20, dormant_days=60,
            ),
        )  # fmt: skip
    _compute(database, tenant_id)
    # Last order 20 days ago: day 21 counting today, beyond "within 20 days": dormant.
    assert _stages(database, tenant_id)[customer][0] == "dormant"
    _, flows = _day(database, tenant_id, TODAY)
    assert flows == {("active", "dormant"): 1}


def test_dashboard_reads(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        ids = [add_customer(session, tenant_id, f"c{i}") for i in range(3)]
        add_order(session, tenant_id, ids[0], NOW - timedelta(days=2), 1_000)
        add_order(session, tenant_id, ids[1], NOW - timedelta(days=200), 3_000)
        add_order(session, tenant_id, ids[1], NOW - timedelta(days=150), 3_000)
    _compute(database, tenant_id)
    clock.freeze(NOW + timedelta(days=2))
    with database.unit_of_work() as session:
        add_order(session, tenant_id, ids[2], clock.now(), 5_000)
    _compute(database, tenant_id)
    with database.unit_of_work() as session:
        series = lifecycle.daily_counts(
            session, tenant_id, TODAY - timedelta(days=7), TODAY + timedelta(days=2)
        )
        assert series.days == [TODAY, TODAY + timedelta(days=2)]
        assert series.counts["prospect"] == [1, 0] and series.counts["new"] == [1, 2]
        assert lifecycle.flows(session, tenant_id, TODAY, TODAY + timedelta(days=2)) == {
            ("prospect", "new"): 1
        }
        assert lifecycle.flows(session, tenant_id, TODAY, TODAY) == {}
        assert lifecycle.stage_counts(session, tenant_id)["new"] == 2
        grid = {
            (cell.recency_score, cell.frequency_score): cell
            for cell in lifecycle.rfm_grid(session, tenant_id)
        }
        assert sum(cell.customers for cell in grid.values()) == 3
        # Three buyers: recency bands 1, 2, 4 by position (c1 oldest, c2 newest).
        top = grid[(4, 1)]
        assert (top.customers, top.average_fen) == (1, 5_000)
        assert lifecycle.last_computed_at(session, tenant_id) == clock.now()


def test_scheduler_runs_due_tenants_and_records_jobs(database: Database) -> None:
    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        customer = add_customer(session, tenant_id, "c")
        add_order(session, tenant_id, customer, NOW - timedelta(days=1), 100)
    scheduler = schedule.LifecycleScheduler(database, database.settings, tick_seconds=3600)
    evaluated: list[str] = []
    scheduler.evaluate_rule_tags = evaluated.append  # type: ignore[method-assign]
    ran = scheduler.run_due()
    assert tenant_id in ran and tenant_id in evaluated
    job = schedule.job_of(tenant_id)
    assert job is not None and job.state == "done" and job.customers == 1
    assert _stages(database, tenant_id)[customer][0] == "new"
    # Not due again within the interval, nor are rule tags evaluated twice the same day.
    assert tenant_id not in scheduler.run_due()
    clock.freeze(NOW + timedelta(minutes=scheduler.every.total_seconds() / 60 + 1))
    assert tenant_id in scheduler.run_due()
    assert evaluated.count(tenant_id) == 1
    clock.freeze(NOW + timedelta(days=1))
    scheduler.run_due()
    assert evaluated.count(tenant_id) == 2


def test_requested_run_happens_on_the_scheduler_thread(database: Database) -> None:
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        add_customer(session, tenant_id, "c")
    scheduler = schedule.LifecycleScheduler(database, database.settings, tick_seconds=3600)
    scheduler.evaluate_rule_tags = lambda tenant_id: None  # type: ignore[method-assign]
    scheduler.start()
    try:
        job = scheduler.request(tenant_id)
        assert job.state in ("queued", "running", "done")
        assert scheduler.wait_idle(30)
        done = schedule.job_of(tenant_id)
        assert done is not None and done.state == "done" and done.customers == 1
    finally:
        scheduler.stop()
    assert _stages(database, tenant_id) != {}


# ── Console (TestClient; the browser test draws the charts) ────────────────────────────────────


def _sign_in(client, database: Database, settings, role: str = "owner"):  # type: ignore[no-untyped-def]
    import re

    from tests.factories import PASSWORD, make_tenant

    tenant = make_tenant(database, settings)
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    data = {"username": tenant.usernames[role], "password": PASSWORD, "csrf_token": token, "next": "/"}
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    return tenant


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    import re

    page = client.get("/tags/lifecycle").text
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_console_page_recompute_and_settings(client, database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    tenant = _sign_in(client, database, settings)
    with database.unit_of_work() as session:
        buyer = add_customer(session, tenant.id, "buyer")
        add_order(session, tenant.id, buyer, NOW - timedelta(days=3), 12_345)
        add_customer(session, tenant.id, "prospect")
    page = client.get("/tags/lifecycle")
    assert page.status_code == 200
    assert "RFM 与生命周期" in page.text and "尚未计算" in page.text
    token = _csrf(client)

    # No background workers in this app: the request computes, and asks the page to reload.
    done = client.post(
        "/tags/lifecycle/recompute", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert done.status_code == 200 and done.headers.get("HX-Refresh") == "true"
    assert 'data-recompute-state="done"' in done.text and "2 位客户" in done.text
    page = client.get("/tags/lifecycle").text
    assert 'data-stage="new"' in page and "lifecycle-rfm-option" in page and "lifecycle-trend-option" in page
    data = client.get("/tags/lifecycle/data?days=7").json()
    assert data["counts"]["new"] == 1 and data["counts"]["prospect"] == 1
    assert data["rfm"] == [
        {
            "recency_score": 1,
            "frequency_score": 1,
            "customers": 1,
            "monetary_fen": 12_345,
            "average_fen": 12_345,
        }
    ]

    bad = client.post(
        "/tags/lifecycle/settings",
        data={
            "csrf_token": token, "window_days": "365", "band_method": "fixed", "recency_bounds": "30, 7, 90, 180",
            "frequency_bounds": "2,3,5,10", "monetary_bounds": "100, 500, 1000, 5000", "new_days": "30",
            "active_days": "90", "at_risk_days": "180", "dormant_days": "365",
        },
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert bad.status_code == 200
    assert 'data-settings-error="recency_bounds"' in bad.text and "严格递增" in bad.text
    assert 'value="30, 7, 90, 180"' in bad.text  # the input is kept for correction
    good = client.post(
        "/tags/lifecycle/settings",
        data={
            "csrf_token": token, "window_days": "180", "band_method": "fixed", "recency_bounds": "7, 30, 90, 180",
            "frequency_bounds": "2,3,5,10", "monetary_bounds": "99.5, 500, 1000, 5000", "new_days": "30",
            "active_days": "90", "at_risk_days": "180", "dormant_days": "365",
        },
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert good.status_code == 200 and "已保存" in good.text
    assert 'value="99.5, 500, 1000, 5000"' in good.text  # yuan shown as entered
    with database.unit_of_work() as session:
        stored = rfm.get_settings(session, tenant.id)
        assert (stored.window_days, stored.monetary_bounds) == (180, [9_950, 50_000, 100_000, 500_000])

    english = client.post(
        "/tags/lifecycle/settings",
        data={"csrf_token": token, "window_days": "abc", "band_method": "quantile", "new_days": "30",
              "active_days": "90", "at_risk_days": "180", "dormant_days": "365"},
        cookies={"haina_lang": "en"},
    )  # fmt: skip
    assert english.status_code == 422  # a whole page (no HTMX), with the form and its error
    assert "“Window (days)” contains something that is not a number" in english.text
    assert 'data-settings-error="window_days"' in english.text
    huge = client.post(
        "/tags/lifecycle/settings",
        data={"csrf_token": token, "window_days": "30", "band_method": "fixed", "recency_bounds": "1,2,3,4",
              "frequency_bounds": "1,2,3,4", "monetary_bounds": "1, 2, 3, Infinity", "new_days": "30",
              "active_days": "90", "at_risk_days": "180", "dormant_days": "365"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert 'data-settings-error="monetary_bounds"' in huge.text and "1,000,000,000,000" in huge.text


def test_agents_read_but_cannot_change(client, database: Database, settings) -> None:  # type: ignore[no-untyped-def]
    _sign_in(client, database, settings, role="agent")
    page = client.get("/tags/lifecycle")
    assert (
        page.status_code == 200
        and "data-recompute-button" not in page.text
        and "data-save-settings" not in page.text
    )
    token = _csrf(client)
    assert client.post("/tags/lifecycle/recompute", data={"csrf_token": token}).status_code == 403


def test_a_failed_computation_leaves_nothing_behind(database: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        customer = add_customer(session, tenant_id, "c")
        add_order(session, tenant_id, customer, NOW - timedelta(days=1), 100)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    original = rfm._write_scores
    monkeypatch.setattr(rfm, "_write_scores", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _compute(database, tenant_id)
    assert _stages(database, tenant_id) == {} and _day(database, tenant_id, TODAY) == ({}, {})
    job = schedule.run_tenant(database, tenant_id)  # the scheduler keeps the error on the job
    assert job.state == "failed" and "disk full" in job.error
    monkeypatch.setattr(rfm, "_write_scores", original)
    assert _compute(database, tenant_id).customers == 1
    assert _stages(database, tenant_id)[customer][0] == "new"


def test_daily_rule_tag_evaluation_runs_the_evaluation_module(database: Database) -> None:
    from tests.tags import builders

    clock.freeze(NOW)
    tenant_id = _tenant(database)
    with database.unit_of_work() as session:
        buyer = builders.customer(session, tenant_id, "周敏")
        builders.order(session, tenant_id, buyer, paid_at=NOW - timedelta(days=1))
        ordered = builders.rule_tag(
            session, tenant_id, "下过单", {"field": "order_count", "op": ">=", "value": 1}
        )
    schedule.evaluate_rule_tags(database, tenant_id)
    with database.unit_of_work() as session:
        assert builders.carriers(session, tenant_id, ordered) == {buyer}
