"""Composing a customer moment in Chromium against the WeCom emulator: the phone preview follows
the text and link as typed, a tag is picked, the moment is sent (add_moment_task), and after a
member publishes it in their app the detail page shows 1/2 published, per member."""

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
from haina.engage.moments.models import Moment
from haina.sandbox.emulators.wecom_moments import moments_state, simulate_publish_moment
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

pytestmark = [pytest.mark.browser, needs_chromium]


class Server:
    def __init__(self, url: str, shots: Path, database: Database, corp: Any, tenant_id: str) -> None:
        self.url, self.shots, self.database, self.corp, self.tenant_id = url, shots, database, corp, tenant_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'moments.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
        tenant_id = tenant.id
        actor = Actor("ops", tenant_id, "ops", "运营", "owner")
        group = tags.create_group(session, actor, "客户意向")
        tags.create_tag(session, actor, tags.TagInput("高意向", group.id))
    try:
        with (
            serve(SandboxState(generate_world(7, 40))) as sandbox,
            connected_corp(database, settings, tenant_id, sandbox) as corp,
            serving(create_app(settings, database, start_workers=False)) as base_url,
        ):
            yield Server(base_url, screenshot_dir(tmp_path), database, corp, tenant_id)
    finally:
        wecom_corps.forget_clients()
        database.dispose()


def test_compose_send_and_follow_a_moment_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    first, second = server.corp.world.staff[0].userid, server.corp.world.staff[1].userid
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900}).new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/moments")
        expect(page).to_have_url(url + "/engage/moments")
        page.click("[data-new-moment]")
        page.fill("[data-moment-text]", "双十二预售开启，老客专享满199减30")
        expect(page.locator("[data-preview-text]")).to_have_text("双十二预售开启，老客专享满199减30")
        expect(page.locator("[data-preview-link]")).to_be_hidden()
        page.fill("[data-moment-link-title]", "预售会场")
        page.fill("[data-moment-link-url]", "https://shop.example.com/1212")
        expect(page.locator("[data-preview-link]")).to_contain_text("预售会场")
        page.fill("[data-moment-senders]", f"{first}, {second}")
        expect(page.locator("[data-picked]")).to_be_checked()
        page.check("input[name=tag_ids][data-tag-name='高意向']")
        page.screenshot(path=str(server.shots / "moments-compose.png"), full_page=True)
        page.click("[data-send]")
        page.wait_for_url(lambda address: "/engage/moments/" in address and "/new" not in address)
        expect(page.locator("[data-moment]")).to_have_attribute("data-status", "sending")

        recorded = list(moments_state(server.corp.sandbox.state)["moments"].values())
        assert len(recorded) == 1 and sorted(recorded[0]["senders"]) == sorted([first, second])
        assert recorded[0]["tag_list"] == [server.corp.corp_tag("高意向").tag_id]

        page.click("[data-refresh]")  # the job is processing
        expect(page.locator("[data-moment]")).to_have_attribute("data-status", "sending")
        page.click("[data-refresh]")
        expect(page.locator("[data-moment]")).to_have_attribute("data-status", "sent")
        simulate_publish_moment(server.corp.sandbox.state, recorded[0]["moment_id"], first)
        page.click("[data-refresh]")
        expect(page.locator(f"tr[data-staff='{first}']")).to_have_attribute("data-published", "yes")
        expect(page.locator(f"tr[data-staff='{second}']")).to_have_attribute("data-published", "no")
        expect(page.locator(".moment-compose [data-progress]")).to_have_attribute("data-progress", "1/2")
        page.screenshot(path=str(server.shots / "moments-detail.png"), full_page=True)

        page.goto(url + "/engage/moments")
        expect(page.locator("tr[data-moment] [data-progress]")).to_have_attribute("data-progress", "1/2")
        browser.close()
    with server.database.unit_of_work() as session:
        moment = session.scalars(select(Moment).where(Moment.tenant_id == server.tenant_id)).one()
        assert moment.text == "双十二预售开启，老客专享满199减30" and moment.status == "sent"
