"""A mass message in Chromium against the WeCom emulator: an operator creates a broadcast to a
segment (with a link attachment), sees the preview (recipients, exclusions), sends it, a member
confirms it in their app, and the detail page shows the staff confirmation and the funnel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.customers import service as customers
from haina.customers.identity.models import Customer
from haina.engage.broadcasts.models import Broadcast
from haina.sandbox.emulators.wecom_groupmsg import mass_messages, simulate_confirm_mass_message
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.tags import service as tags
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.platforms.live_sandbox import serve
from tests.wecom_corp import connected_corp

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
AUDIENCE = 8

pytestmark = [pytest.mark.browser, needs_chromium]


class Server:
    def __init__(
        self, url: str, shots: Path, database: Database, corp: Any, tenant_id: str, segment_id: str
    ) -> None:
        self.url, self.shots, self.database, self.corp = url, shots, database, corp
        self.tenant_id, self.segment_id = tenant_id, segment_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'broadcasts.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
        tenant_id = tenant.id
    try:
        with (
            serve(SandboxState(generate_world(7, 40))) as sandbox,
            connected_corp(database, settings, tenant_id, sandbox) as corp,
        ):
            actor = Actor("ops", tenant_id, "ops", "运营", "owner")
            with database.unit_of_work() as session:
                ids = list(
                    session.scalars(
                        select(Customer.id).where(Customer.tenant_id == tenant_id).order_by(Customer.id)
                    )
                )
                followed = sorted(
                    {
                        f.customer_id
                        for f in customers.wecom_follows_of(session, tenant_id, customer_ids=ids)
                        if f.customer_id
                    }
                )
                group = tags.create_group(session, actor, "活动")
                tag = tags.create_tag(session, actor, tags.TagInput("双12预热", group.id))
                tags.tag_customers(session, actor, followed[:AUDIENCE], [tag.id])
                segment = tags.create_segment(
                    session,
                    actor,
                    name="双12预热人群",
                    definition={"field": "has_tag", "op": "in", "value": [tag.id]},
                )
                segment_id = segment.id
            with serving(create_app(settings, database, start_workers=False)) as base_url:
                yield Server(base_url, screenshot_dir(tmp_path), database, corp, tenant_id, segment_id)
    finally:
        clock.freeze(None)
        wecom_corps.forget_clients()
        database.dispose()


def test_create_preview_send_and_follow_a_broadcast_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900}).new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        sign_in(page, url, "yunying", PASSWORD, "/engage/broadcasts")
        expect(page).to_have_url(url + "/engage/broadcasts")
        page.click("[data-new-broadcast]")
        page.fill("[data-title]", "双12预热提醒")
        expect(page.locator("[data-target-panel='tags']")).to_be_hidden()
        page.select_option("[data-segment]", server.segment_id)
        page.fill("[data-text]", "双12预售开启，老客专享满199减30，点击链接提前加购～")
        row = page.locator("[data-attachment]").first
        expect(row.locator("input[name=att_url]")).to_be_hidden()
        row.locator("[data-attachment-kind]").select_option("link")
        row.locator("input[name=att_title]").fill("预售会场")
        row.locator("input[name=att_url]").fill("https://shop.example.com/1212")
        page.screenshot(path=str(server.shots / "broadcasts-edit.png"), full_page=True)
        page.click("[data-save]")
        page.wait_for_url(lambda address: "/engage/broadcasts/" in address and "/new" not in address)
        expect(page.locator("[data-broadcast]")).to_have_attribute("data-status", "draft")
        expect(page.locator("[data-preview-summary]")).to_have_attribute("data-sendable", str(AUDIENCE))
        expect(page.locator("tr[data-recipient]")).to_have_count(AUDIENCE)
        page.screenshot(path=str(server.shots / "broadcasts-preview.png"), full_page=True)

        page.click("[data-send]")
        expect(page.locator("[data-broadcast]")).to_have_attribute("data-status", "sent")
        messages = mass_messages(server.corp.sandbox.state)
        assert sum(len(m["recipients"]) for m in messages) == AUDIENCE
        assert messages[0]["attachments"][0]["link"]["url"] == "https://shop.example.com/1212"
        expect(page.locator("tr[data-staff]")).to_have_count(len(messages))
        first = messages[0]
        simulate_confirm_mass_message(server.corp.sandbox.state, first["msgid"], first["sender"])
        page.click("[data-refresh]")
        expect(page.locator(f"tr[data-staff='{first['sender']}']")).to_have_attribute(
            "data-confirmation", "confirmed"
        )
        expect(page.locator("#broadcast-funnel canvas")).to_have_count(1)
        page.screenshot(path=str(server.shots / "broadcasts-detail.png"), full_page=True)

        page.goto(url + "/engage/broadcasts")
        expect(page.locator("tr[data-broadcast] [data-staff-confirmed]")).to_have_text(f"1/{len(messages)}")
        expect(page.locator("tr[data-broadcast] [data-delivered]")).to_have_text(
            str(len(first["recipients"]))
        )
        browser.close()
    with server.database.session_factory() as session:
        broadcast = session.scalars(select(Broadcast).where(Broadcast.tenant_id == server.tenant_id)).one()
        assert broadcast.title == "双12预热提醒" and broadcast.status == "sent"
