"""The archive through HTTP: search and conversations with bearer tokens per role, the console
pages, and the management endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from haina.archive import tasks
from haina.archive.models import ArchiveConversation
from haina.core.audit.models import AuditEntry
from tests.archive.conftest import CORP_ID, ROCKY, TOMMY, Intake, add_keys, set_wecom_userid
from tests.factories import bearer, token_for


@pytest.fixture
def loaded(database, tenant, intake: Intake, key_pairs) -> Any:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    set_wecom_userid(database, tenant.users["agent"], ROCKY)
    return tenant


def _conversation(database: Any, staff: str) -> str:
    with database.unit_of_work() as session:
        found = session.scalar(
            select(ArchiveConversation.id).where(
                ArchiveConversation.staff_userid == staff, ArchiveConversation.peer_userid.like("wm%")
            )
        )
        assert found is not None
        return found


def test_search_and_open_by_role(client, database, loaded) -> None:  # type: ignore[no-untyped-def]
    owner = bearer(token_for(client, loaded.usernames["owner"]))
    agent = bearer(token_for(client, loaded.usernames["agent"]))
    finance = bearer(token_for(client, loaded.usernames["finance"]))

    answer = client.get("/api/v1/archive/search", params={"q": "快递"}, headers=owner)
    assert answer.status_code == 200
    hits = answer.json()["hits"]
    assert [hit["msgid"] for hit in hits] == ["msg0017", "msg0012"]
    assert {"text": "快递", "highlight": True} in hits[0]["snippet"]
    assert client.get("/api/v1/archive/search", params={"q": "快递"}, headers=agent).json()["hits"] == []
    assert client.get("/api/v1/archive/search", params={"q": "退款"}, headers=finance).status_code == 403

    tommys, rockys = _conversation(database, TOMMY), _conversation(database, ROCKY)
    assert client.get(f"/api/v1/archive/conversations/{tommys}", headers=agent).status_code == 404
    opened = client.get(f"/api/v1/archive/conversations/{rockys}", headers=agent)
    assert opened.status_code == 200
    texts = [message["text"] for message in opened.json()["messages"]]
    assert any("退款" in text for text in texts), opened.json()
    assert client.get(f"/api/v1/archive/conversations/{rockys}", headers=finance).status_code == 403
    listed = client.get("/api/v1/archive/conversations", headers=agent).json()
    assert {item["staff_userid"] for item in listed} == {ROCKY}

    with database.unit_of_work() as session:
        actions = [
            (entry.action, entry.actor_id)
            for entry in session.scalars(select(AuditEntry).where(AuditEntry.action.like("archive.%")))
        ]
    assert actions.count(("archive.searched", loaded.users["owner"])) == 1
    assert actions.count(("archive.searched", loaded.users["agent"])) == 1
    assert ("archive.conversation_opened", loaded.users["agent"]) in actions


def test_rules_words_and_keys_need_chats_manage(client, database, loaded, key_pairs) -> None:  # type: ignore[no-untyped-def]
    owner = bearer(token_for(client, loaded.usernames["owner"]))
    agent = bearer(token_for(client, loaded.usernames["agent"]))
    assert client.post("/api/v1/archive/rules", json={"phrase": "差评"}, headers=agent).status_code == 403
    created = client.post("/api/v1/archive/rules", json={"phrase": "差评"}, headers=owner)
    assert created.status_code == 201 and created.json()["phrase"] == "差评"
    assert client.post("/api/v1/archive/rules", json={"phrase": "差评"}, headers=owner).status_code == 409
    assert client.post("/api/v1/archive/words", json={"word": "小棕瓶"}, headers=owner).json() == ["小棕瓶"]
    assert client.get("/api/v1/archive/search", params={"q": "小棕瓶"}, headers=owner).json()["hits"]
    duplicate = client.post(
        "/api/v1/archive/keys", json={"version": 1, "private_key_pem": key_pairs[1][0]}, headers=owner
    )
    assert duplicate.status_code == 409
    bad = client.post(
        "/api/v1/archive/keys", json={"version": 9, "private_key_pem": "nonsense"}, headers=owner
    )
    assert bad.status_code == 422
    status = client.get("/api/v1/archive/status", headers=owner).json()
    assert status["key_versions"] == [1, 2] and status["corps"][0]["seq"] > 0


def _login(client: Any, username: str) -> None:
    from tests.web.test_console import sign_in

    sign_in(client, username)


def test_console_search_page_highlights_and_conversation(client, database, loaded) -> None:  # type: ignore[no-untyped-def]
    _login(client, loaded.usernames["owner"])
    page = client.get("/archive", params={"q": "过敏"})
    assert page.status_code == 200
    assert "<mark>過敏</mark>" in page.text and 'data-message="msg0001"' in page.text
    conversation = client.get(f"/archive/conversations/{_conversation(database, ROCKY)}")
    assert conversation.status_code == 200 and "退款" in conversation.text
    assert "已撤回" in conversation.text  # msg0003 was recalled


def test_console_agent_cannot_open_another_members_conversation(client, database, loaded) -> None:  # type: ignore[no-untyped-def]
    _login(client, loaded.usernames["agent"])
    assert client.get(f"/archive/conversations/{_conversation(database, TOMMY)}").status_code == 404
    assert client.get("/archive", params={"q": "快递"}).status_code == 200
