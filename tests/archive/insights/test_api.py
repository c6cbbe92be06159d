"""Insights through HTTP: frequent questions and reply-time QA by role (agents: their own
conversations only; finance refused), working-hours settings, and the page with its charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.audit.models import AuditEntry
from tests.archive.conftest import CUSTOMER_A, CUSTOMER_B, ROCKY, TOMMY, set_wecom_userid
from tests.archive.retention.helpers import Script, load
from tests.factories import bearer, console_sign_in, token_for

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 in Beijing, a Tuesday
CUSTOMER_C = "wmCustomerC000000000003"


def script() -> Script:
    s = Script()
    day = NOW - timedelta(days=2)  # Sunday 12:00 Beijing
    # Rocky ↔ A: two shipping questions, answered after 2 and 12 minutes.
    s.say(CUSTOMER_A, ROCKY, day, "什么时候发货？")
    s.say(ROCKY, CUSTOMER_A, day + timedelta(minutes=2), "今天下午就发")
    s.say(CUSTOMER_A, ROCKY, day + timedelta(hours=1), "几天能发货呀")
    s.say(ROCKY, CUSTOMER_A, day + timedelta(hours=1, minutes=12), "48小时内")
    # Tommy ↔ B: an invoice question answered after 40 minutes, and shipping once.
    s.say(CUSTOMER_B, TOMMY, day, "可以开发票吗")
    s.say(TOMMY, CUSTOMER_B, day + timedelta(minutes=40), "可以的")
    s.say(CUSTOMER_B, TOMMY, day + timedelta(hours=2), "请问多久发货")
    s.say(TOMMY, CUSTOMER_B, day + timedelta(hours=2, minutes=1), "明天")
    # Tommy ↔ C, 20 days ago: only in the 30-day period.
    s.say(CUSTOMER_C, TOMMY, NOW - timedelta(days=20), "能开发票吗")
    s.say(TOMMY, CUSTOMER_C, NOW - timedelta(days=20, minutes=-3), "能")
    return s


@pytest.fixture
def chats(database, tenant, sandbox, intake, key_pairs) -> Any:  # type: ignore[no-untyped-def]
    load(database, tenant, sandbox, intake, key_pairs, script())
    set_wecom_userid(database, tenant.users["agent"], ROCKY)
    clock.freeze(NOW)
    return tenant


def _clusters(answer: Any) -> dict[str, tuple[int, int]]:
    assert answer.status_code == 200, answer.text
    return {item["question"]: (item["count"], item["customers"]) for item in answer.json()}


def test_questions_by_role_and_period(client, database, chats) -> None:  # type: ignore[no-untyped-def]
    owner = bearer(token_for(client, chats.usernames["owner"]))
    agent = bearer(token_for(client, chats.usernames["agent"]))
    finance = bearer(token_for(client, chats.usernames["finance"]))
    url = "/api/v1/archive/insights/questions"

    everything = client.get(url, params={"days": 30}, headers=owner)
    assert _clusters(everything) == {"多久发货": (3, 2), "能开发票": (2, 2)}
    shipping = next(item for item in everything.json() if "发货" in item["question"])
    assert [example["text"] for example in shipping["examples"]] == [
        "请问多久发货",
        "几天能发货呀",
        "什么时候发货？",
    ]
    assert shipping["examples"][0]["link"].startswith("/archive/conversations/")
    week = _clusters(client.get(url, params={"days": 7}, headers=owner))
    assert week["多久发货"] == (3, 2) and sum(count for count, _ in week.values()) == 4  # C is older

    mine = _clusters(client.get(url, params={"days": 30}, headers=agent))
    assert mine == {"什么时候发货": (2, 1)}  # Rocky's conversation with A only
    assert client.get(url, headers=finance).status_code == 403
    with database.unit_of_work() as session:
        reads = session.scalars(select(AuditEntry).where(AuditEntry.action == "archive.questions_read")).all()
    assert len(reads) == 3


def test_quality_by_role_and_settings(client, chats) -> None:  # type: ignore[no-untyped-def]
    owner = bearer(token_for(client, chats.usernames["owner"]))
    agent = bearer(token_for(client, chats.usernames["agent"]))
    finance = bearer(token_for(client, chats.usernames["finance"]))
    url = "/api/v1/archive/insights/quality"

    measured = client.get(url, params={"days": 30}, headers=owner).json()
    staff = {item["staff_userid"]: item for item in measured["staff"]}
    assert measured["target_minutes"] == 5
    assert (staff[ROCKY]["replies"], staff[ROCKY]["median_minutes"], staff[ROCKY]["breaches"]) == (2, 7.0, 1)
    assert (staff[TOMMY]["replies"], staff[TOMMY]["within_target"], staff[TOMMY]["breaches"]) == (3, 0.667, 1)
    assert [(w["staff_userid"], w["minutes"]) for w in measured["worst"]] == [(TOMMY, 40.0), (ROCKY, 12.0)]
    assert measured["worst"][0]["link"].startswith("/archive/conversations/")

    own = client.get(url, params={"days": 30}, headers=agent).json()
    assert [item["staff_userid"] for item in own["staff"]] == [ROCKY]
    assert client.get(url, headers=finance).status_code == 403

    settings_url = "/api/v1/archive/insights/settings"
    sunday_off = {
        "days": [{"start": "09:00", "end": "21:00"}] * 6 + [None],
        "target_minutes": 15,
    }
    assert client.put(settings_url, json=sunday_off, headers=agent).status_code == 403
    wrong = client.put(settings_url, json={**sunday_off, "timezone": "Mars/Olympus"}, headers=owner)
    assert wrong.status_code == 422 and "timezone" in wrong.text
    backwards = {"days": [{"start": "21:00", "end": "09:00"}] * 7}
    assert client.put(settings_url, json=backwards, headers=owner).status_code == 422
    saved = client.put(settings_url, json=sunday_off, headers=owner)
    assert saved.status_code == 200 and saved.json()["days"][6] is None
    assert client.get(settings_url, headers=agent).json()["target_minutes"] == 15

    # The Sunday chats no longer count as waiting; only C's 3 minutes (a Wednesday) remain.
    after = client.get(url, params={"days": 30}, headers=owner).json()
    staff = {item["staff_userid"]: item for item in after["staff"]}
    assert after["target_minutes"] == 15 and after["worst"] == []
    assert staff[ROCKY]["median_minutes"] == 0.0 and staff[TOMMY]["within_target"] == 1.0


def test_insights_page(client, chats) -> None:  # type: ignore[no-untyped-def]
    console_sign_in(client, chats.usernames["owner"], "/archive/insights")
    page = client.get("/archive/insights", params={"days": 7})
    assert page.status_code == 200
    text = page.text
    for marker in (
        "insights-heatmap-option",
        "insights-questions-option",
        "insights-quality-option",
        "echarts.min.js",
    ):
        assert marker in text
    assert 'data-period="7" aria-current="page"' in text
    assert "什么时候发货" in text and f'data-staff="{TOMMY}"' in text
    assert 'action="/archive/insights/settings"' in text
    assert "/archive/insights" in client.get("/archive").text

    client.cookies.clear()
    console_sign_in(client, chats.usernames["agent"], "/archive/insights")
    agent_page = client.get("/archive/insights").text
    assert f'data-staff="{ROCKY}"' in agent_page and f'data-staff="{TOMMY}"' not in agent_page
    assert 'action="/archive/insights/settings"' not in agent_page


def test_settings_form(client, chats) -> None:  # type: ignore[no-untyped-def]
    token = console_sign_in(client, chats.usernames["owner"], "/archive/insights")
    form = {
        "csrf_token": token,
        "target_minutes": "10",
        "start": ["09:30"] * 7,
        "end": ["18:00"] * 7,
        "days_on": ["0", "1", "2", "3", "4"],
        "days": "30",
    }
    saved = client.post("/archive/insights/settings", data=form, follow_redirects=False)
    assert saved.status_code == 303 and "error" not in saved.headers["location"]
    owner = bearer(token_for(client, chats.usernames["owner"]))
    current = client.get("/api/v1/archive/insights/settings", headers=owner).json()
    assert current["target_minutes"] == 10
    assert current["days"][0] == {"start": "09:30", "end": "18:00"} and current["days"][5] is None
    bad = client.post(
        "/archive/insights/settings", data={**form, "end": ["08:00"] * 7}, follow_redirects=False
    )
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
