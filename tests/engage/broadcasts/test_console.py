"""The mass-message console pages over HTTP (no browser): the form refuses variables with the
reason in Chinese, saves a tag-filter broadcast with a schedule in Beijing time, the detail page
shows the preview with exclusions, the list shows it; and the demo seed is idempotent."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from haina.core import clock
from haina.core.database import Database
from haina.engage.broadcasts import demo, service
from haina.engage.broadcasts.models import Broadcast, BroadcastStatus
from tests.engage.broadcasts.builders import owner
from tests.factories import PASSWORD, TenantFixture


def sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/engage/broadcasts"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/engage/broadcasts")
    assert page.status_code == 200
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_form_preview_and_list(client: TestClient, database: Database, tenant: TenantFixture) -> None:
    from haina.tags import service as tags

    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    try:
        with database.unit_of_work() as session:
            group = tags.create_group(session, owner(tenant), "会员")
            vip = tags.create_tag(session, owner(tenant), tags.TagInput("金卡", group.id)).id
        token = sign_in(client, tenant.usernames["operator"])
        form = client.get("/engage/broadcasts/new")
        assert form.status_code == 200 and "金卡" in form.text
        base = {"csrf_token": token, "title": "金卡会员日", "target_kind": "tags", "tag_any": vip}
        refused = client.post(
            "/engage/broadcasts", data={**base, "text": "{客户名称}您好"}, follow_redirects=False
        )
        assert refused.status_code == 422
        assert "不支持" in refused.text and "金卡会员日" in refused.text  # the form keeps what was typed
        saved = client.post(
            "/engage/broadcasts",
            data={
                **base,
                "text": "金卡会员专享：本周五全场 8 折",
                "att_kind": ["link", ""],
                "att_title": ["会员日会场", ""],
                "att_url": ["https://shop.example.com/vip", ""],
                "send_mode": "schedule",
                "scheduled_at": "2026-11-27T10:00",
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        with database.session_factory() as session:
            broadcast = session.scalars(select(Broadcast).where(Broadcast.tenant_id == tenant.id)).one()
            assert broadcast.status == BroadcastStatus.SCHEDULED
            assert broadcast.scheduled_at == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 Beijing
            assert broadcast.tag_filter == {"any": [vip], "all": [], "exclude": []}
            assert broadcast.attachments[0]["url"] == "https://shop.example.com/vip"
        detail = client.get(saved.headers["location"])
        assert detail.status_code == 200
        assert 'data-preview-summary data-sendable="0"' in detail.text
        listing = client.get("/engage/broadcasts")
        assert "金卡会员日" in listing.text and 'data-status="scheduled"' in listing.text
    finally:
        clock.freeze(None)


def test_demo_seed_is_idempotent(database: Database, tenant: TenantFixture) -> None:
    for _ in range(2):
        with database.unit_of_work() as session:
            demo.seed(session, tenant.id, None)
    with database.session_factory() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Broadcast).where(Broadcast.tenant_id == tenant.id)
            )
            == 3
        )
        statuses = sorted(row.broadcast.status for row in service.list_broadcasts(session, tenant.id))
    assert statuses == ["draft", "scheduled", "sent"]
