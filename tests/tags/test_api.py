"""Tags and segments through the REST API: CRUD, rule validation naming the bad condition,
injection attempts in a filter, manual tagging (history, event, timeline, audit), batch
evaluation of a rule tag, segment counts, previews and audited exports, and agents' scope."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.core.auth.models import User
from haina.core.database import Database
from haina.core.events.models import OutboxEvent
from haina.core.settings import Settings
from haina.customers.identity.models import Customer
from haina.tags import evaluation
from haina.tags.models import CustomerTag, TagChange, TagEvaluation
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import TenantFixture, bearer, token_for

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
PHONE = "13812345678"
THRICE = {"field": "order_count", "op": ">=", "value": 3, "days": 90}


@pytest.fixture
def seeded(database: Database, settings: Settings, tenant: TenantFixture) -> dict[str, str]:
    """陈晓: three Youzan orders and a WeCom contact followed by guide01; 林: one Pinduoduo order."""
    clock.freeze(NOW)
    store(
        database,
        settings,
        tenant.id,
        [
            order("YZ-1", buyer_id="yz-chen", unionid="union-chen", phone=PHONE, name="陈晓", days=10),
            order("YZ-2", buyer_id="yz-chen", phone=PHONE, name="陈晓", days=20, title="面霜"),
            order("YZ-3", buyer_id="yz-chen", phone=PHONE, name="陈晓", days=30, paid_fen=120_000),
            contact("wm-chen", name="晓晓", unionid="union-chen", mobiles=(PHONE,), staff="guide01"),
            order("PDD-1", platform="pdd", shop_id="P1", phone="150****0000", name="林*", days=6),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        ids = {customer.display_name: customer.id for customer in session.scalars(select(Customer))}
    chen = next(value for key, value in ids.items() if "陈" in key)
    lin = next(value for key, value in ids.items() if "林" in key)
    return {"chen": chen, "lin": lin}


def headers(client: TestClient, tenant: TenantFixture, role: str) -> dict[str, str]:
    return bearer(token_for(client, tenant.usernames[role]))


def make_group(client: TestClient, auth: dict[str, str], name: str = "消费行为") -> str:
    response = client.post("/api/v1/tag-groups", json={"name": name}, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def make_tag(
    client: TestClient, auth: dict[str, str], group_id: str, name: str, rule: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"group_id": group_id, "name": name, "kind": "rule" if rule else "manual"}
    if rule:
        body["rule"] = rule
    response = client.post("/api/v1/tags", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


def events(database: Database, event_type: str) -> list[dict[str, Any]]:
    with database.unit_of_work() as session:
        return [
            event.payload
            for event in session.scalars(select(OutboxEvent).where(OutboxEvent.type == event_type))
        ]


def run_evaluations(database: Database, tenant_id: str) -> None:
    with database.unit_of_work() as session:
        queued = [
            row.id for row in session.scalars(select(TagEvaluation).where(TagEvaluation.status == "queued"))
        ]
    for evaluation_id in queued:
        evaluation.run_batch(database, tenant_id, evaluation_id)


def test_groups_and_tags_crud(client: TestClient, database: Database, tenant: TenantFixture) -> None:
    owner = headers(client, tenant, "owner")
    group_id = make_group(client, owner)
    duplicate = client.post("/api/v1/tag-groups", json={"name": "消费行为"}, headers=owner)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "tag_group_exists"
    tag = make_tag(client, owner, group_id, "高潜力")
    assert tag["kind"] == "manual" and tag["customer_count"] == 0 and tag["rule"] is None
    again = client.post("/api/v1/tags", json={"group_id": group_id, "name": "高潜力"}, headers=owner)
    assert again.status_code == 409 and again.json()["error"]["code"] == "tag_exists"
    assert events(database, "tag.defined") == [{"tag_id": tag["id"]}]

    renamed = client.patch(f"/api/v1/tags/{tag['id']}", json={"name": "高潜客户"}, headers=owner)
    assert renamed.status_code == 200 and renamed.json()["name"] == "高潜客户"
    assert len(events(database, "tag.defined")) == 2
    listing = client.get("/api/v1/tags", params={"group_id": group_id}, headers=owner).json()
    assert [item["name"] for item in listing["items"]] == ["高潜客户"]
    groups = client.get("/api/v1/tag-groups", headers=owner).json()
    assert [(group["name"], group["tag_count"]) for group in groups] == [("消费行为", 1)]

    too_long = client.post("/api/v1/tags", json={"group_id": group_id, "name": "长" * 31}, headers=owner)
    assert too_long.status_code == 422
    unknown_group = client.post("/api/v1/tags", json={"group_id": "0" * 32, "name": "x"}, headers=owner)
    assert unknown_group.status_code == 404

    assert client.delete(f"/api/v1/tags/{tag['id']}", headers=owner).status_code == 204
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=owner).status_code == 404
    assert events(database, "tag.deleted") == [{"tag_id": tag["id"]}]
    # The name is free again.
    make_tag(client, owner, group_id, "高潜客户")
    assert client.delete(f"/api/v1/tag-groups/{group_id}", headers=owner).status_code == 204
    assert events(database, "tag_group.deleted") == [{"group_id": group_id}]
    assert client.get("/api/v1/tags", headers=owner).json()["total"] == 0
    with database.unit_of_work() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)))
    assert {"tag_group.created", "tag.created", "tag.updated", "tag.deleted", "tag_group.deleted"} <= actions


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        ({"all": [THRICE, {"field": "order_count", "op": "~", "value": 1}]}, "all[1].op"),
        ({"all": [{"field": "bought_thrice", "op": ">=", "value": 3}]}, "all[0].field"),
        (
            {"any": [THRICE, {"all": [{"field": "order_count", "op": ">=", "value": "三"}]}]},
            "any[1].all[0].value",
        ),
        ({"all": [{"field": "order_count", "op": ">=", "value": 3, "weeks": 2}]}, "all[0].weeks"),
        ({"not": {"all": []}}, "not.all"),
        ({"all": [THRICE], "any": [THRICE]}, "condition"),
    ],
)
def test_a_bad_rule_answers_422_naming_the_condition(
    client: TestClient, database: Database, tenant: TenantFixture, rule: dict[str, Any], path: str
) -> None:
    owner = headers(client, tenant, "owner")
    group_id = make_group(client, owner)
    response = client.post(
        "/api/v1/tags",
        json={"group_id": group_id, "name": "复购", "kind": "rule", "rule": rule},
        headers=owner,
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_condition"
    assert error["details"]["path"] == path
    assert error["details"]["message_zh"].startswith(path)
    assert path in error["message"]
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(TagEvaluation)) == 0


def test_a_rule_tag_needs_a_rule_and_a_manual_tag_has_none(client: TestClient, tenant: TenantFixture) -> None:
    owner = headers(client, tenant, "owner")
    group_id = make_group(client, owner)
    missing = client.post(
        "/api/v1/tags", json={"group_id": group_id, "name": "空", "kind": "rule"}, headers=owner
    )
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "rule_required"
    manual = client.post(
        "/api/v1/tags",
        json={"group_id": group_id, "name": "手", "kind": "manual", "rule": THRICE},
        headers=owner,
    )
    assert manual.status_code == 422 and manual.json()["error"]["code"] == "manual_tag_rule"


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"field": "customers.id; DROP TABLE customers; --", "op": "=", "value": "x"}, "field"),
        ({"field": "province", "op": "= '' OR 1=1 --", "value": "上海"}, "op"),
        (
            {"all": [{"field": "province", "op": "=", "value": "上海", "1=1) OR (1": "x"}]},
            "all[0].1=1) OR (1",
        ),
        ({"field": "province", "op": "=", "value": {"$ne": None}}, "value"),
        ({"sql": "SELECT * FROM users"}, "sql"),
    ],
)
def test_injection_attempts_in_a_segment_filter_are_rejected(
    client: TestClient,
    database: Database,
    tenant: TenantFixture,
    seeded: dict[str, str],
    definition: Any,
    path: str,
) -> None:
    operator = headers(client, tenant, "operator")
    for url in ("/api/v1/segments/count", "/api/v1/segments/preview"):
        response = client.post(url, json={"definition": definition}, headers=operator)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"]["path"] == path
    saved = client.post("/api/v1/segments", json={"name": "注入", "definition": definition}, headers=operator)
    assert saved.status_code == 422
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2


def test_text_that_looks_like_sql_is_only_a_value(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    for value in ("上海' OR '1'='1", "%", "_", "上海\\"):
        definition = {"field": "province", "op": "contains", "value": value}
        response = client.post("/api/v1/segments/count", json={"definition": definition}, headers=operator)
        assert response.status_code == 200, response.text
        assert response.json()["count"] == 0
    shanghai = {"field": "province", "op": "contains", "value": "上海"}
    counted = client.post("/api/v1/segments/count", json={"definition": shanghai}, headers=operator)
    assert counted.json()["count"] == 2
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Customer)) == 2


def test_manual_tagging_leaves_history_an_event_and_a_timeline_entry_with_who_did_it(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    group_id = make_group(client, operator, "客户意向")
    tag = make_tag(client, operator, group_id, "高意向")
    chen = seeded["chen"]
    added = client.post(f"/api/v1/customers/{chen}/tags", json={"tag_ids": [tag["id"]]}, headers=operator)
    assert added.status_code == 200, added.text
    (carried,) = added.json()
    assert (carried["name"], carried["source"], carried["reason"]) == ("高意向", "manual", "operator 用户")
    with database.unit_of_work() as session:
        (change,) = session.scalars(select(TagChange).where(TagChange.customer_id == chen))
        assert (change.action, change.source, change.reason, change.tag_name) == (
            "added", "manual", "operator 用户", "高意向",
        )  # fmt: skip
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "tags.added"))
        assert (
            entry is not None and entry.target_id == chen and entry.actor_name == tenant.usernames["operator"]
        )
    (event,) = events(database, "tag.added")
    assert event == {
        "customer_id": chen, "tag_id": tag["id"], "tag_name": "高意向", "source": "manual", "reason": "operator 用户",
    }  # fmt: skip
    # Adding it again changes nothing.
    client.post(f"/api/v1/customers/{chen}/tags", json={"tag_ids": [tag["id"]]}, headers=operator)
    assert len(events(database, "tag.added")) == 1

    timeline = client.get(
        f"/api/v1/customers/{chen}/timeline", params={"channel": "tags"}, headers=operator
    ).json()
    assert [(item["kind"], item["title"], item["detail"]["reason"]) for item in timeline] == [
        ("tag.added", "高意向", "operator 用户")
    ]
    profile = client.get(f"/api/v1/customers/{chen}", headers=operator).json()
    assert profile["tags"] == ["高意向"]

    removed = client.delete(f"/api/v1/customers/{chen}/tags/{tag['id']}", headers=operator)
    assert removed.status_code == 200 and removed.json() == []
    assert [item["kind"] for item in client.get(
        f"/api/v1/customers/{chen}/timeline", params={"channel": "tags"}, headers=operator
    ).json()] == ["tag.removed", "tag.added"]  # fmt: skip
    assert len(events(database, "tag.removed")) == 1

    bulk = client.post(
        "/api/v1/tags/bulk",
        json={"action": "add", "customer_ids": [chen, seeded["lin"]], "tag_ids": [tag["id"]]},
        headers=operator,
    )
    assert bulk.status_code == 200 and len(bulk.json()["added"]) == 2
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=operator).json()["customer_count"] == 2
    unknown = client.post(
        "/api/v1/tags/bulk", json={"customer_ids": [chen, "f" * 32], "tag_ids": [tag["id"]]}, headers=operator
    )
    assert unknown.status_code == 404


def test_a_rule_tag_is_evaluated_in_batch_and_set_by_its_rule(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    group_id = make_group(client, operator)
    tag = make_tag(client, operator, group_id, "复购3次+", {"all": [THRICE]})
    assert tag["rule_version"] == 1
    assert tag["evaluation"]["status"] == "queued" and tag["evaluation"]["requested_by"] == "operator 用户"
    run_evaluations(database, tenant.id)
    progress = client.get(f"/api/v1/tags/{tag['id']}/evaluation", headers=operator).json()
    assert (progress["status"], progress["done"], progress["total"], progress["added"], progress["percent"]) == (
        "done", 2, 2, 1, 100,
    )  # fmt: skip
    carriers = client.get(f"/api/v1/tags/{tag['id']}/customers", headers=operator).json()
    assert [(item["customer_id"], item["source"]) for item in carriers["items"]] == [(seeded["chen"], "rule")]
    assert carriers["items"][0]["reason"].endswith("复购3次+")
    # A rule tag is its rule's: no manual add.
    manual = client.post(
        f"/api/v1/customers/{seeded['lin']}/tags", json={"tag_ids": [tag["id"]]}, headers=operator
    )
    assert manual.status_code == 422 and manual.json()["error"]["code"] == "rule_tag_manual"

    # Editing the rule bumps its version and queues a new run, which takes the tag away again.
    edited = client.patch(
        f"/api/v1/tags/{tag['id']}",
        json={"rule": {"all": [{**THRICE, "value": 4}]}},
        headers=operator,
    )
    assert edited.status_code == 200 and edited.json()["rule_version"] == 2
    assert edited.json()["evaluation"]["status"] == "queued"
    run_evaluations(database, tenant.id)
    progress = client.get(f"/api/v1/tags/{tag['id']}/evaluation", headers=operator).json()
    assert (progress["rule_version"], progress["removed"]) == (2, 1)
    timeline = client.get(
        f"/api/v1/customers/{seeded['chen']}/timeline", params={"channel": "tags"}, headers=operator
    ).json()
    assert [(item["kind"], item["detail"]["source"]) for item in timeline] == [
        ("tag.removed", "rule"),
        ("tag.added", "rule"),
    ]
    # The same rule saved again is no change: no version, no run.
    same = client.patch(
        f"/api/v1/tags/{tag['id']}", json={"rule": {"all": [{**THRICE, "value": 4}]}}, headers=operator
    )
    assert same.json()["rule_version"] == 2 and same.json()["evaluation"]["status"] == "done"
    assert client.post(f"/api/v1/tags/{tag['id']}/evaluate", headers=operator).status_code == 202


def test_segments_count_preview_and_audited_exports(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    definition = {"any": [THRICE, {"field": "platform", "op": "=", "value": "pdd"}]}
    created = client.post(
        "/api/v1/segments", json={"name": "复购或拼多多", "definition": definition}, headers=operator
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["created_by"] == "operator 用户"
    assert client.get(f"/api/v1/segments/{segment['id']}/count", headers=operator).json() == {"count": 2}
    assert client.get("/api/v1/segments", headers=operator).json()[0]["last_count"] == 2
    preview = client.get(f"/api/v1/segments/{segment['id']}/preview", headers=operator).json()
    assert preview["count"] == 2 and {item["customer_id"] for item in preview["items"]} == set(
        seeded.values()
    )
    assert all("*" in item["phone_masked"] for item in preview["items"])

    exported = client.get(
        f"/api/v1/segments/{segment['id']}/export", params={"format": "csv"}, headers=operator
    )
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == ["客户编号", "姓名", "手机（脱敏）", "创建时间"]
    assert sorted(row[0] for row in rows[1:]) == sorted(seeded.values())
    assert PHONE not in exported.text

    workbook_response = client.get(
        f"/api/v1/segments/{segment['id']}/export", params={"format": "xlsx"}, headers=operator
    )
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(workbook_response.content)).active
    assert sheet is not None and sheet.max_row == 3
    with database.unit_of_work() as session:
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "export.segment")))
    assert [(entry.detail["format"], entry.detail["rows"], entry.target_id) for entry in audits] == [
        ("csv", 2, segment["id"]), ("xlsx", 2, segment["id"]),
    ]  # fmt: skip
    for role in ("agent", "finance"):  # finance exports money, never customer lists
        denied = client.get(f"/api/v1/segments/{segment['id']}/export", headers=headers(client, tenant, role))
        assert denied.status_code == 403, role
    bad_format = client.get(
        f"/api/v1/segments/{segment['id']}/export", params={"format": "pdf"}, headers=operator
    )
    assert bad_format.status_code == 422

    renamed = client.patch(f"/api/v1/segments/{segment['id']}", json={"name": "重要客户"}, headers=operator)
    assert renamed.status_code == 200 and renamed.json()["name"] == "重要客户"
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=operator).status_code == 204
    assert client.get(f"/api/v1/segments/{segment['id']}", headers=operator).status_code == 404


def test_an_agent_sees_tags_counts_and_previews_of_followed_customers_only(
    client: TestClient, database: Database, tenant: TenantFixture, seeded: dict[str, str]
) -> None:
    operator = headers(client, tenant, "operator")
    group_id = make_group(client, operator)
    tag = make_tag(client, operator, group_id, "老客")
    client.post(
        "/api/v1/tags/bulk",
        json={"customer_ids": list(seeded.values()), "tag_ids": [tag["id"]]},
        headers=operator,
    )
    with database.unit_of_work() as session:
        session.execute(update(User).where(User.id == tenant.users["agent"]).values(wecom_userid="guide01"))
    agent = headers(client, tenant, "agent")
    assert client.get(f"/api/v1/customers/{seeded['chen']}/tags", headers=agent).status_code == 200
    assert client.get(f"/api/v1/customers/{seeded['lin']}/tags", headers=agent).status_code == 404
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=agent).json()["customer_count"] == 1
    assert client.get(f"/api/v1/tags/{tag['id']}", headers=operator).json()["customer_count"] == 2
    carriers = client.get(f"/api/v1/tags/{tag['id']}/customers", headers=agent).json()
    assert (carriers["total"], [item["customer_id"] for item in carriers["items"]]) == (1, [seeded["chen"]])
    everyone = {"field": "has_tag", "op": "in", "value": [tag["id"]]}
    assert client.post("/api/v1/segments/count", json={"definition": everyone}, headers=agent).json() == {
        "count": 1
    }
    assert client.post("/api/v1/segments/count", json={"definition": everyone}, headers=operator).json() == {
        "count": 2
    }
    preview = client.post("/api/v1/segments/preview", json={"definition": everyone}, headers=agent).json()
    assert [item["customer_id"] for item in preview["items"]] == [seeded["chen"]]
    denied = client.post(
        f"/api/v1/customers/{seeded['chen']}/tags", json={"tag_ids": [tag["id"]]}, headers=agent
    )
    assert denied.status_code == 403
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(CustomerTag)) == 2


def test_the_demo_seeds_its_tags_and_segments_once(
    client: TestClient, database: Database, settings: Settings
) -> None:
    from haina.demo import seed_demo, seed_demo_tags

    seed_demo(settings)
    assert seed_demo_tags(database) == 7
    assert seed_demo_tags(database) == 0
    auth = bearer(token_for(client, "demo", "haina-demo-2026"))
    names = {item["name"]: item for item in client.get("/api/v1/tags", headers=auth).json()["items"]}
    assert {"复购3次+", "提及过敏", "沉睡客户", "天猫高客单", "高意向"} <= set(names)
    assert names["天猫高客单"]["rule"] == {
        "all": [{"field": "order_amount", "op": ">=", "value": 100_000, "platforms": ["tmall"]}]
    }
    assert names["复购3次+"]["evaluation"]["status"] == "queued"
    segments = client.get("/api/v1/segments", headers=auth).json()
    assert sorted(segment["name"] for segment in segments) == ["待唤醒老客", "近 90 天高频复购"]


def test_dates_in_a_rule_or_segment_are_stored_as_iso_text(client: TestClient, tenant: TenantFixture) -> None:
    owner = headers(client, tenant, "owner")
    window = {
        "all": [
            {"field": "order_count", "op": ">=", "value": 1, "since": "2026-01-01", "until": "2026-03-01"}
        ]
    }
    segment = client.post("/api/v1/segments", json={"name": "春节", "definition": window}, headers=owner)
    assert segment.status_code == 201 and segment.json()["definition"] == window
    tag = make_tag(client, owner, make_group(client, owner), "春节买家", window)
    assert tag["rule"] == window


def test_a_tag_tested_by_a_rule_or_a_segment_cannot_be_deleted_until_they_change(
    client: TestClient, tenant: TenantFixture
) -> None:
    operator = headers(client, tenant, "operator")
    group_id = make_group(client, operator)
    vip = make_tag(client, operator, group_id, "VIP")
    uses_vip = {"field": "has_tag", "op": "in", "value": [vip["id"]]}
    rule = make_tag(client, operator, group_id, "VIP复购", {"all": [uses_vip, THRICE]})
    segment = client.post(
        "/api/v1/segments", json={"name": "VIP 客户", "definition": {"any": [uses_vip]}}, headers=operator
    ).json()

    refused = client.delete(f"/api/v1/tags/{vip['id']}", headers=operator)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"]["code"] == "tag_in_use"
    assert body["error"]["details"]["used_by"] == ["rule tag 「VIP复购」", "segment 「VIP 客户」"]
    assert client.get(f"/api/v1/tags/{vip['id']}", headers=operator).status_code == 200

    assert client.delete(f"/api/v1/tags/{rule['id']}", headers=operator).status_code == 204
    assert client.delete(f"/api/v1/segments/{segment['id']}", headers=operator).status_code == 204
    assert client.delete(f"/api/v1/tags/{vip['id']}", headers=operator).status_code == 204
