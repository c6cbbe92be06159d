"""The customers API through HTTP on SQLite and PostgreSQL: search (name, phone by keyed hash,
masked phone, platform id), the 360 profile with PII masked per role, the timeline filtered by
channel, merge and unmerge, the review queue, the matching settings, and the agent's data scope."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from haina.core.audit.models import AuditEntry
from haina.core.auth.models import User
from haina.core.database import Database
from haina.core.settings import Settings
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import TenantFixture, bearer, token_for

PHONE = "13812345678"


@pytest.fixture
def seeded(database: Database, settings: Settings, tenant: TenantFixture) -> dict[str, str]:
    """陈晓 on Youzan, WeCom (followed by guide01), JD and Douyin; 林 on Pinduoduo only."""
    store(
        database,
        settings,
        tenant.id,
        [
            order(
                "YZ-1", buyer_id="yz-chen", unionid="union-chen", phone=PHONE, name="陈晓", paid_fen=19_900
            ),
            order(
                "YZ-2", buyer_id="yz-chen", phone=PHONE, name="陈晓", paid_fen=5_000, days=30, title="面霜"
            ),
            contact(
                "wm-chen",
                name="晓晓",
                unionid="union-chen",
                remark="陈晓-南京西路店",
                mobiles=(PHONE,),
                staff="guide01",
            ),
            order(
                "JD-1", platform="jd", shop_id="J1", phone="138****5678", name="陈*", paid_fen=29_900, days=3
            ),
            order(
                "DY-1",
                platform="douyin",
                shop_id="D1",
                buyer_id="dy-chen",
                phone="138****5678",
                name="陈**",
                days=5,
            ),
            order("PDD-1", platform="pdd", shop_id="P1", phone="150****0000", name="林*", days=6),
        ],
    )
    resolve_all(database)
    return {}


def headers(client: TestClient, tenant: TenantFixture, role: str) -> dict[str, str]:
    return bearer(token_for(client, tenant.usernames[role]))


def search(client: TestClient, auth: dict[str, str], query: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/customers", params={"query": query}, headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_search_by_name_phone_masked_phone_and_platform_ids(
    client: TestClient, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    auth = headers(client, tenant, "operator")
    everyone = client.get("/api/v1/customers", headers=auth).json()
    assert everyone["total"] == 2
    (chen,) = search(client, auth, "陈晓")
    assert chen["display_name"] == "陈晓" and chen["phone_masked"] == "138****5678"
    for query in (
        PHONE,
        "+86 138 1234 5678",
        "138****5678",
        "yz-chen",
        "dy-chen",
        "wm-chen",
        "union-chen",
        chen["id"],
    ):
        assert [item["id"] for item in search(client, auth, query)] == [chen["id"]], query
    assert search(client, auth, "王五") == [] and search(client, auth, "13900000000") == []
    (lin,) = search(client, auth, "150****0000")
    assert lin["id"] != chen["id"]


def test_profile_shows_every_platform_and_masks_phones_per_role(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    (chen,) = search(client, operator, "陈晓")
    profile = client.get(f"/api/v1/customers/{chen['id']}", headers=operator).json()
    assert set(profile["identities"]) == {"youzan", "wecom", "douyin"}
    assert {order["platform"] for order in profile["orders"]} == {"youzan", "jd", "douyin"}
    assert (
        profile["stats"]["order_count"] == 4
        and profile["stats"]["lifetime_value_fen"] == 19_900 + 5_000 + 29_900 + 9_900
    )
    assert [follow["staff_userid"] for follow in profile["follows"]] == ["guide01"]
    text = str(profile)
    assert PHONE not in text and "138****5678" in text
    # The operator may not read PII: asking to reveal changes nothing and audits nothing.
    revealed = client.get(
        f"/api/v1/customers/{chen['id']}", params={"reveal": "true"}, headers=operator
    ).json()
    assert PHONE not in str(revealed)
    owner = headers(client, tenant, "owner")
    revealed = client.get(f"/api/v1/customers/{chen['id']}", params={"reveal": "true"}, headers=owner).json()
    assert any(phone["display"] == PHONE and phone["is_revealed"] for phone in revealed["phones"])
    with database.unit_of_work() as session:
        reads = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant.id, AuditEntry.action == "pii.read")
        ).all()
        assert [entry.target_id for entry in reads] == [chen["id"]]


def test_timeline_in_time_order_filtered_by_channel(
    client: TestClient, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    auth = headers(client, tenant, "operator")
    (chen,) = search(client, auth, "陈晓")
    entries = client.get(f"/api/v1/customers/{chen['id']}/timeline", headers=auth).json()
    times = [entry["at"] for entry in entries]
    assert times == sorted(times, reverse=True)
    assert {entry["channel"] for entry in entries} == {"youzan", "jd", "douyin", "wecom"}
    assert {"order.created", "order.paid", "contact.added"} <= {entry["kind"] for entry in entries}
    jd = client.get(f"/api/v1/customers/{chen['id']}/timeline", params={"channel": "jd"}, headers=auth).json()
    assert jd and {entry["channel"] for entry in jd} == {"jd"}
    assert (
        client.get(
            f"/api/v1/customers/{chen['id']}/timeline", params={"channel": "JD!"}, headers=auth
        ).status_code
        == 422
    )


def test_merge_and_unmerge_through_the_api(
    client: TestClient, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    auth = headers(client, tenant, "operator")
    (chen,) = search(client, auth, "陈晓")
    (lin,) = search(client, auth, "150****0000")
    before = client.get(f"/api/v1/customers/{lin['id']}", headers=auth).json()
    response = client.post(
        f"/api/v1/customers/{chen['id']}/merge", json={"other_id": lin["id"]}, headers=auth
    )
    assert response.status_code == 200, response.text
    merge = response.json()
    assert merge["rule"] == "manual" and merge["actor_name"] == tenant.usernames["operator"]
    survivor = client.get(f"/api/v1/customers/{merge['survivor_id']}", headers=auth).json()
    assert len(survivor["orders"]) == 5 and [m["id"] for m in survivor["merges"]] == [merge["id"]]
    absorbed = client.get(f"/api/v1/customers/{merge['absorbed_id']}", headers=auth).json()
    assert (
        absorbed["customer"]["status"] == "merged"
        and absorbed["customer"]["merged_into_id"] == merge["survivor_id"]
    )
    assert client.get("/api/v1/customers", headers=auth).json()["total"] == 1
    assert (
        client.post(
            f"/api/v1/customers/{chen['id']}/merge", json={"other_id": lin["id"]}, headers=auth
        ).status_code
        == 409
    )
    undone = client.post(f"/api/v1/customers/merges/{merge['id']}/undo", headers=auth)
    assert undone.status_code == 200 and undone.json()["undone_at"]
    after = client.get(f"/api/v1/customers/{lin['id']}", headers=auth).json()
    assert after["orders"] == before["orders"] and after["identities"] == before["identities"]
    assert after["customer"]["status"] == "active"
    assert client.post(f"/api/v1/customers/merges/{merge['id']}/undo", headers=auth).status_code == 409
    assert (
        client.post(
            f"/api/v1/customers/{chen['id']}/merge", json={"other_id": chen["id"]}, headers=auth
        ).status_code
        == 422
    )


def test_review_queue_and_settings(client: TestClient, tenant: TenantFixture, seeded: dict[str, str]) -> None:
    auth = headers(client, tenant, "operator")
    assert client.get("/api/v1/customers/reviews", headers=auth).json() == {"items": [], "total": 0}
    assert client.get("/api/v1/customers/reviews", params={"status": "nope"}, headers=auth).status_code == 422
    current = client.get("/api/v1/customers/identity-settings", headers=auth).json()
    assert current == {
        "auto_merge_threshold": 0.9,
        "review_threshold": 0.6,
        "max_cluster_nodes": 40,
        "max_accounts_per_key": 8,
    }
    changed = {**current, "auto_merge_threshold": 0.95}
    assert client.put("/api/v1/customers/identity-settings", json=changed, headers=auth).json() == changed
    assert client.get("/api/v1/customers/identity-settings", headers=auth).json() == changed
    wrong = {**current, "review_threshold": 0.99}
    assert client.put("/api/v1/customers/identity-settings", json=wrong, headers=auth).status_code == 422


def test_an_agent_sees_only_the_customers_they_follow(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    (chen,) = search(client, operator, "陈晓")
    (lin,) = search(client, operator, "150****0000")
    agent = headers(client, tenant, "agent")
    assert client.get("/api/v1/customers", headers=agent).json()["total"] == 0  # no WeCom userid yet
    with database.unit_of_work() as session:
        session.execute(update(User).where(User.id == tenant.users["agent"]).values(wecom_userid="guide01"))
    listing = client.get("/api/v1/customers", headers=agent).json()
    assert [item["id"] for item in listing["items"]] == [chen["id"]]
    assert client.get(f"/api/v1/customers/{chen['id']}", headers=agent).status_code == 200
    assert client.get(f"/api/v1/customers/{lin['id']}", headers=agent).status_code == 404
    assert client.get(f"/api/v1/customers/{lin['id']}/timeline", headers=agent).status_code == 404
    assert search(client, agent, "150****0000") == []
