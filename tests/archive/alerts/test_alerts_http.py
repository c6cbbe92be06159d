"""Keyword alert settings and notifications through HTTP: the API by role and scope, and the
console page (who was told or why not, the settings form, Chinese and English)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import haina.archive.tasks  # noqa: F401 - registers archive.alerts' handler
from haina.archive.alerts import service
from haina.archive.alerts.models import ArchiveAlertNotification, NotificationStatus
from haina.core.audit.models import AuditEntry
from haina.core.database import Database
from haina.core.settings import Settings
from tests.archive.alerts.conftest import BOSS, CUSTOMER_A, LEAD, ROCKY, TOMMY
from tests.archive.alerts.test_alert_notifications import (
    AGENTID,
    configure,
    conversation_of,
    pull,
    rules,
)
from tests.archive.conftest import Intake, add_keys, set_wecom_userid
from tests.factories import TenantFixture, bearer, console_sign_in, token_for
from tests.platforms.live_sandbox import LiveSandbox
from tests.wecom_corp import Corp, connected_corp

BASE = "/api/v1/archive/alerts"


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox, key_pairs: Any
) -> Iterator[Corp]:
    add_keys(database, tenant, key_pairs, versions=(1,))
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def test_api_by_role_and_scope(
    client: TestClient, database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    owner = bearer(token_for(client, tenant.usernames["owner"]))
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    finance = bearer(token_for(client, tenant.usernames["finance"]))
    found = rules(database, tenant, "投诉", "phone")

    defaults = client.get(f"{BASE}/settings", headers=owner).json()
    assert (defaults["is_enabled"], defaults["agentid"], defaults["supervisor_userids"]) == (True, None, [])
    assert client.get(f"{BASE}/settings", headers=finance).status_code == 403
    body = {"agentid": AGENTID, "supervisor_userids": [BOSS, f" {LEAD} ", BOSS]}
    assert client.put(f"{BASE}/settings", json=body, headers=agent).status_code == 403
    unknown = client.put(
        f"{BASE}/settings", json={**body, "rule_recipients": {"x" * 32: [LEAD]}}, headers=owner
    )
    assert unknown.status_code == 422 and "x" * 32 in unknown.text
    assert client.put(f"{BASE}/settings", json={**body, "agentid": 0}, headers=owner).status_code == 422
    saved = client.put(
        f"{BASE}/settings", json={**body, "rule_recipients": {found["phone"]: [ROCKY]}}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["supervisor_userids"] == [BOSS, LEAD]
    assert saved.json()["rule_recipients"] == {found["phone"]: [ROCKY]}
    with database.session_factory() as session:
        audited = session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)).all()
    assert "archive.alert_settings_saved" in audited

    pull(database, tenant.id, intake)
    listed = client.get(f"{BASE}/notifications", headers=owner).json()
    by_phrase = {item["phrase"]: item for item in listed}
    assert set(by_phrase) == {"投诉", "phone"}
    assert by_phrase["投诉"]["userids"] == [ROCKY, BOSS, LEAD]
    assert by_phrase["phone"]["userids"] == [BOSS, LEAD, ROCKY]  # the rule's extra recipient
    assert all(item["status"] == "sent" for item in listed)
    # An agent sees the notifications of their own conversations only.
    set_wecom_userid(database, tenant.users["agent"], TOMMY)
    assert [item["phrase"] for item in client.get(f"{BASE}/notifications", headers=agent).json()] == ["phone"]
    assert client.get(f"{BASE}/notifications", headers=finance).status_code == 403


def test_console_page_shows_why_not_sent_and_saves_settings(
    client: TestClient, database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    found = rules(database, tenant, "投诉")
    configure(database, tenant.id, agentid=None)
    pull(database, tenant.id, intake)
    conversation_id = conversation_of(database, tenant.id, CUSTOMER_A)

    token = console_sign_in(client, tenant.usernames["owner"], "/archive/alerts")
    page = client.get("/archive/alerts")
    assert "关键词提醒" in page.text and "未设置应用 AgentId" in page.text
    assert f'href="/archive/conversations/{conversation_id}"' in page.text
    assert 'data-status="skipped"' in page.text and "archive_alerts." not in page.text

    form = {"csrf_token": token, "is_enabled": "1", "supervisor_userids": "boss，lead", "notify_member": "1"}
    bad = client.post("/archive/alerts/settings", data={**form, "agentid": "abc"})
    assert bad.status_code == 422 and "正整数" in bad.text
    too_big = client.post("/archive/alerts/settings", data={**form, "agentid": "9223372036854775808"})
    assert too_big.status_code == 422 and "正整数" in too_big.text
    unknown = client.post(
        "/archive/alerts/settings", data={**form, "agentid": "1", "rule_recipients": "退货: lead"}
    )
    assert unknown.status_code == 422 and "「退货」不是已设置的关键词" in unknown.text
    saved = client.post(
        "/archive/alerts/settings",
        data={**form, "agentid": str(AGENTID), "rule_recipients": "投诉：rocky, tommy"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/archive/alerts?saved=1"
    with database.session_factory() as session:
        settings = service.get_settings(session, tenant.id)
    assert (settings.agentid, settings.supervisor_userids) == (AGENTID, [BOSS, LEAD])
    assert settings.rule_recipients == {found["投诉"]: [ROCKY, TOMMY]}
    again = client.get("/archive/alerts?saved=1")
    assert "提醒设置已保存" in again.text and "投诉: rocky, tommy" in again.text

    english = client.get("/archive/alerts", headers={"Accept-Language": "en"})
    assert "Keyword alerts" in english.text and "No application AgentId set" in english.text
    assert "archive_alerts." not in english.text

    # A notification waiting for WeCom says so, with when it goes again.
    with database.unit_of_work() as session:
        row = session.scalars(select(ArchiveAlertNotification)).one()
        row.status, row.attempts, row.error_code = NotificationStatus.RETRYING, 2, "500"
        row.reason, row.next_attempt_at = (
            "wecom_error: server error 500",
            datetime(2026, 11, 1, 2, 5, tzinfo=UTC),
        )
    waiting = client.get("/archive/alerts")
    assert 'data-status="retrying"' in waiting.text and "等待重试" in waiting.text
    assert "将于 2026-11-01 10:05" in waiting.text and "已尝试 2 次" in waiting.text

    # An agent may read the page but not save.
    agent_client = TestClient(client.app)
    agent_token = console_sign_in(agent_client, tenant.usernames["agent"], "/archive/alerts")
    denied = agent_client.post("/archive/alerts/settings", data={**form, "csrf_token": agent_token})
    assert denied.status_code == 403
