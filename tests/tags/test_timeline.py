"""Tag changes on the customer 360: the timeline (API and page) lists every add and remove with
its source and reason (the rule's name, or who did it), the "tags" channel filter keeps only
them, and the WeCom sidebar shows the customer's tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.identity.models import Customer
from haina.tags import changes
from haina.tags import service as tags
from haina.tags.models import TagSource
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import TenantFixture, bearer, token_for

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def test_tag_changes_on_the_timeline_and_the_sidebar(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
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
    owner = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主 王", "owner")
    with database.unit_of_work() as session:
        customer_id = session.scalars(select(Customer.id)).one()
        group = tags.create_group(session, owner, "肤质")
        sensitive = tags.create_tag(session, owner, tags.TagInput("敏感肌", group.id))
        vip = tags.create_tag(session, owner, tags.TagInput("VIP", group.id))
        tags.tag_customers(session, owner, [customer_id], [sensitive.id])
    clock.freeze(NOW + timedelta(minutes=5))
    with database.unit_of_work() as session:
        # What a rule and WeCom write, through the same one writer.
        changes.apply(
            session,
            tenant.id,
            add=[changes.Change(customer_id, vip.id, "VIP", TagSource.RULE, "rule: VIP")],
            remove=[changes.Change(customer_id, sensitive.id, "敏感肌", TagSource.WECOM, "guide01")],
        )

    auth = bearer(token_for(client, tenant.usernames["operator"]))
    everything = client.get(f"/api/v1/customers/{customer_id}/timeline", headers=auth).json()
    assert {"order.created", "contact.added", "tag.added", "tag.removed"} <= {
        item["kind"] for item in everything
    }
    only_tags = client.get(f"/api/v1/customers/{customer_id}/timeline?channel=tags", headers=auth).json()
    assert [
        (item["kind"], item["title"], item["detail"]["source"], item["detail"]["reason"])
        for item in only_tags
    ] == [
        ("tag.removed", "敏感肌", "wecom", "guide01"),
        ("tag.added", "VIP", "rule", "rule: VIP"),
        ("tag.added", "敏感肌", "manual", "店主 王"),
    ]
    assert all(item["channel"] == "tags" for item in only_tags)
    assert client.get(f"/api/v1/customers/{customer_id}", headers=auth).json()["tags"] == ["VIP"]
    carried = client.get(f"/api/v1/customers/{customer_id}/tags", headers=auth).json()
    assert [(item["name"], item["source"], item["reason"], item["group_name"]) for item in carried] == [
        ("VIP", "rule", "rule: VIP", "肤质")
    ]

    # The console: the profile's timeline and the WeCom sidebar.
    from tests.tags.test_console import sign_in

    sign_in(client, tenant.usernames["owner"])
    page = client.get(f"/customers/{customer_id}?channel=tags")
    assert page.status_code == 200
    assert page.text.count('data-kind="tag.') == 3 and "店主 王" in page.text and "rule: VIP" in page.text
    assert "企业微信 · <span data-reason>guide01</span>" in page.text  # the removal's source and who
    panel = client.get("/sidebar/customer/panel", params={"external_userid": "wm-chen"})
    assert panel.status_code == 200 and 'data-tag-name="VIP"' in panel.text and "敏感肌" not in panel.text
