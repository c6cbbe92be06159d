"""The tags console without a browser: pages render in Chinese and English, groups and tags are
managed through forms, the builder's JSON reaches the API with the session's CSRF header, the
live count names a bad condition, the profile's tags card adds and removes manual tags, and the
timeline shows tag changes with who made them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.identity.models import Customer
from haina.tags.models import Tag, TagChange, TagGroup
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import PASSWORD, TenantFixture

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
THRICE = {"all": [{"field": "order_count", "op": ">=", "value": 3, "days": 90}]}


def sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/tags"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf(client, "/tags")


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def chen(database: Database, settings: Settings, tenant: TenantFixture) -> str:
    clock.freeze(NOW)
    store(
        database,
        settings,
        tenant.id,
        [
            order(
                "YZ-1", buyer_id="yz-chen", unionid="union-chen", phone="13812345678", name="陈晓", days=10
            ),
            contact("wm-chen", name="晓晓", unionid="union-chen", mobiles=("13812345678",), staff="guide01"),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        return str(session.scalars(select(Customer.id)).one())


def test_the_tags_pages_render_and_groups_are_managed_by_forms(
    client: TestClient, database: Database, tenant: TenantFixture
) -> None:
    token = sign_in(client, tenant.usernames["operator"])
    home = client.get("/").text
    assert 'data-nav="tags"' in home and "即将上线" not in home.split('data-nav="tags"')[1].split("</a>")[0]
    page = client.get("/tags")
    assert page.status_code == 200 and "标签与分群" in page.text
    assert 'href="/tags/lifecycle"' in page.text and 'href="/tags/segments"' in page.text
    created = client.post(
        "/tags/groups", data={"name": "消费行为", "csrf_token": token}, follow_redirects=False
    )
    assert created.status_code == 303 and created.headers["location"] == "/tags?notice=group_created"
    page = client.get("/tags?notice=group_created")
    assert 'data-group-name="消费行为"' in page.text and "标签组已创建" in page.text
    without_csrf = client.post("/tags/groups", data={"name": "偷偷"}, follow_redirects=False)
    assert without_csrf.status_code == 403
    duplicate = client.post("/tags/groups", data={"name": "消费行为", "csrf_token": token})
    assert duplicate.status_code == 409 and "已有同名的标签组" in duplicate.text
    with database.unit_of_work() as session:
        group = session.scalars(select(TagGroup)).one()
    editor = client.get(f"/tags/new?kind=rule&group_id={group.id}")
    assert editor.status_code == 200
    assert "data-condition-builder" in editor.text and 'id="builder-catalogue"' in editor.text
    catalogue = json.loads(re.search(r'id="builder-catalogue">(.*?)</script>', editor.text, re.S).group(1))  # type: ignore[union-attr]
    fields = {field["name"]: field for field in catalogue["fields"]}
    assert fields["order_count"]["label"] == "订单数"
    assert [param["name"] for param in fields["order_count"]["params"]][:1] == ["days"]
    assert {"value": "tmall", "label": "天猫"} in fields["platform"]["choices"]
    client.cookies.set("haina_lang", "en")
    english = client.get(f"/tags/new?kind=rule&group_id={group.id}")
    assert "New rule tag" in english.text and '"label": "paid orders"' in english.text
    client.cookies.set("haina_lang", "zh-CN")
    renamed = client.post(
        f"/tags/groups/{group.id}/rename",
        data={"name": "购买行为", "csrf_token": token},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    deleted = client.post(
        f"/tags/groups/{group.id}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert 'data-group-name="购买行为"' not in client.get("/tags").text


def test_the_builder_json_saves_through_the_api_with_the_session(
    client: TestClient, database: Database, tenant: TenantFixture, chen: str
) -> None:
    token = sign_in(client, tenant.usernames["operator"])
    client.post("/tags/groups", data={"name": "消费行为", "csrf_token": token})
    with database.unit_of_work() as session:
        group_id = session.scalars(select(TagGroup.id)).one()
    body = {"group_id": group_id, "name": "复购3次+", "kind": "rule", "rule": THRICE}
    refused = client.post("/api/v1/tags", json=body)  # a cookie without the CSRF header
    assert refused.status_code == 403
    bad = client.post(
        "/api/v1/tags",
        json={**body, "rule": {"all": [{"field": "order_count", "op": ">=", "value": -1, "days": 90}]}},
        headers={"X-CSRF-Token": token},
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"]["path"] == "all[0].value"
    saved = client.post("/api/v1/tags", json=body, headers={"X-CSRF-Token": token})
    assert saved.status_code == 201, saved.text
    tag_id = saved.json()["id"]
    page = client.get(f"/tags/{tag_id}")
    assert page.status_code == 200 and 'data-status="queued"' in page.text
    assert 'hx-get="/tags/' in page.text and 'hx-trigger="every 1s"' in page.text
    partial = client.get(f"/tags/{tag_id}/evaluation", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "排队中" in partial.text
    assert client.get(f"/tags/{tag_id}/edit").status_code == 200
    assert client.get("/tags/lifecycle").status_code == 200  # a fixed page, never a tag id
    assert client.get("/tags/" + "z" * 32).status_code == 404


def test_the_live_count_and_preview_name_a_bad_condition(
    client: TestClient, tenant: TenantFixture, chen: str
) -> None:
    token = sign_in(client, tenant.usernames["agent"])
    assert client.get("/tags/segments").status_code == 200
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    good = client.post(
        "/tags/segments/count",
        data={"definition": json.dumps({"field": "platform", "op": "=", "value": "youzan"})},
        headers=headers,
    )
    assert good.status_code == 200 and 'data-segment-count="0"' in good.text  # the agent follows nobody yet
    bad = client.post(
        "/tags/segments/count",
        data={"definition": json.dumps({"any": [{"field": "platform", "op": "=", "value": "myspace"}]})},
        headers=headers,
    )
    assert bad.status_code == 422 and 'data-condition-error="any[0].value"' in bad.text
    assert "平台必须是" in bad.text
    broken = client.post("/tags/segments/preview", data={"definition": "{not json"}, headers=headers)
    assert broken.status_code == 422
    assert client.get("/tags/segments/new").status_code == 403  # agents read, operators manage


def test_the_profile_tags_card_adds_and_removes_manual_tags(
    client: TestClient, database: Database, tenant: TenantFixture, chen: str
) -> None:
    token = sign_in(client, tenant.usernames["operator"])
    client.post("/tags/groups", data={"name": "意向", "csrf_token": token})
    with database.unit_of_work() as session:
        group_id = session.scalars(select(TagGroup.id)).one()
    client.post(
        "/api/v1/tags", json={"group_id": group_id, "name": "高意向"}, headers={"X-CSRF-Token": token}
    )
    with database.unit_of_work() as session:
        tag_id = session.scalars(select(Tag.id)).one()
    profile = client.get(f"/customers/{chen}")
    assert f'hx-get="/customers/{chen}/tags"' in profile.text and 'value="tags"' in profile.text
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    card = client.get(f"/customers/{chen}/tags", headers=headers)
    assert "还没有标签" in card.text and f'<option value="{tag_id}">' in card.text
    added = client.post(f"/customers/{chen}/tags", data={"tag_id": tag_id}, headers=headers)
    assert added.status_code == 200 and f'data-tag="{tag_id}"' in added.text and "operator 用户" in added.text
    timeline = client.get(f"/customers/{chen}/timeline?channel=tags", headers=headers)
    assert 'data-kind="tag.added"' in timeline.text and "operator 用户" in timeline.text
    assert "打上标签" in timeline.text
    removed = client.post(f"/customers/{chen}/tags/{tag_id}/remove", headers=headers)
    assert removed.status_code == 200 and f'data-tag="{tag_id}"' not in removed.text
    with database.unit_of_work() as session:
        assert [change.action for change in session.scalars(select(TagChange).order_by(TagChange.at))] == [
            "added",
            "removed",
        ]
    detail = client.get(f"/tags/{tag_id}")
    assert "还没有客户带有这个标签" in detail.text


def test_bulk_tagging_from_the_customer_list(
    client: TestClient, database: Database, tenant: TenantFixture, chen: str
) -> None:
    token = sign_in(client, tenant.usernames["operator"])
    client.post("/tags/groups", data={"name": "意向", "csrf_token": token})
    with database.unit_of_work() as session:
        group_id = session.scalars(select(TagGroup.id)).one()
    client.post(
        "/api/v1/tags", json={"group_id": group_id, "name": "待回访"}, headers={"X-CSRF-Token": token}
    )
    with database.unit_of_work() as session:
        tag_id = session.scalars(select(Tag.id)).one()
    listing = client.get("/customers")
    assert "data-bulk-tags" in listing.text and f'name="customer_ids" value="{chen}"' in listing.text
    form = {
        "csrf_token": token,
        "customer_ids": [chen],
        "tag_id": tag_id,
        "action": "add",
        "back": "/customers?page=1",
    }
    done = client.post("/tags/bulk", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/customers?page=1&notice=bulk_tagged"
    assert "已给勾选的客户打上标签" in client.get(done.headers["location"]).text
    with database.unit_of_work() as session:
        (change,) = session.scalars(select(TagChange))
        assert (change.customer_id, change.reason) == (chen, "operator 用户")
    outside = client.post(
        "/tags/bulk", data={**form, "back": "https://evil.example/"}, follow_redirects=False
    )
    assert outside.headers["location"].startswith("/customers")
    nobody = client.post("/tags/bulk", data={**form, "customer_ids": []})
    assert nobody.status_code == 422


def test_the_segments_list_loads_each_count_live(
    client: TestClient, database: Database, tenant: TenantFixture, chen: str
) -> None:
    token = sign_in(client, tenant.usernames["operator"])
    definition = {"field": "platform", "op": "=", "value": "youzan"}
    saved = client.post(
        "/api/v1/segments",
        json={"name": "有赞客户", "definition": definition},
        headers={"X-CSRF-Token": token},
    )
    segment_id = saved.json()["id"]
    listing = client.get("/tags/segments")
    assert (
        f'hx-get="/tags/segments/{segment_id}/count"' in listing.text and 'data-export="xlsx"' in listing.text
    )
    counted = client.get(f"/tags/segments/{segment_id}/count", headers={"HX-Request": "true"})
    assert 'data-segment-count="1"' in counted.text
    assert client.get("/api/v1/segments", headers={"X-CSRF-Token": token}).json()[0]["last_count"] == 1
    page = client.get(f"/tags/segments/{segment_id}")
    assert page.status_code == 200 and '"value": "youzan"' in page.text
