"""Retention through HTTP: the API by role, and the settings page's confirmation step before a
shorter policy is saved, "run now" and the purge history."""

from __future__ import annotations

from sqlalchemy import select

from haina.archive.retention import service
from haina.core import clock
from haina.core.audit.models import AuditEntry
from tests.archive.retention.conftest import NOW
from tests.factories import bearer, console_sign_in, token_for


def test_api_by_role(client, database, archived) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    owner = bearer(token_for(client, archived.usernames["owner"]))
    agent = bearer(token_for(client, archived.usernames["agent"]))
    finance = bearer(token_for(client, archived.usernames["finance"]))
    base = "/api/v1/archive/retention"

    assert client.get(base, headers=agent).status_code == 403
    assert client.get(base, headers=finance).status_code == 403
    assert client.put(base, json={"keep_days": 90}, headers=agent).status_code == 403
    current = client.get(base, headers=owner).json()
    assert current["keep_days"] is None and current["messages"] == 0

    assert client.get(f"{base}/preview", params={"keep_days": 10}, headers=owner).status_code == 422
    preview = client.get(f"{base}/preview", params={"keep_days": 90}, headers=owner).json()
    assert (preview["messages"], preview["conversations"]) == (4, 1)
    wrong = client.put(base, json={"keep_days": 60, "media_keep_days": 90}, headers=owner)
    assert wrong.status_code == 422 and "media_keep_days" in wrong.text
    saved = client.put(base, json={"keep_days": 90}, headers=owner)
    assert saved.status_code == 200 and saved.json()["messages"] == 4

    assert client.post(f"{base}/purge", headers=agent).status_code == 403
    purged = client.post(f"{base}/purge", headers=owner)
    assert purged.status_code == 201, purged.text
    assert (purged.json()["messages"], purged.json()["by"]) == (4, archived.usernames["owner"])
    history = client.get(f"{base}/purges", headers=owner).json()
    assert [item["id"] for item in history] == [purged.json()["id"]]
    with database.unit_of_work() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == archived.id)))
    assert {"archive.retention_set", "archive.purged"} <= actions


def test_settings_page_confirms_a_shorter_policy(client, database, archived) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    token = console_sign_in(client, archived.usernames["owner"], "/archive/retention")
    page = client.get("/archive/retention")
    assert 'data-policy="forever"' in page.text and "暂无清理记录" in page.text

    asked = client.post("/archive/retention", data={"csrf_token": token, "keep_days": "90"})
    assert asked.status_code == 200
    assert 'data-confirm-messages="4"' in asked.text and 'name="confirmed" value="yes"' in asked.text
    with database.unit_of_work() as session:
        assert service.get_policy(session, archived.id).is_forever  # not saved yet

    bad = client.post("/archive/retention", data={"csrf_token": token, "keep_days": "7"})
    assert "data-retention-error" in bad.text and "30" in bad.text

    done = client.post(
        "/archive/retention",
        data={"csrf_token": token, "keep_days": "90", "confirmed": "yes"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert "留存策略已保存" in client.get(done.headers["location"]).text
    with database.unit_of_work() as session:
        assert service.get_policy(session, archived.id).keep_days == 90
    # A longer policy needs no confirmation.
    longer = client.post(
        "/archive/retention", data={"csrf_token": token, "keep_days": "120"}, follow_redirects=False
    )
    assert longer.status_code == 303

    ran = client.post("/archive/retention/purge", data={"csrf_token": token}, follow_redirects=False)
    assert ran.status_code == 303
    page = client.get("/archive/retention")
    assert page.text.count("data-purge=") == 1 and 'data-policy="120"' in page.text


def test_agent_cannot_open_the_settings_page(client, archived) -> None:  # type: ignore[no-untyped-def]
    console_sign_in(client, archived.usernames["agent"], "/archive")
    assert client.get("/archive/retention").status_code == 403
