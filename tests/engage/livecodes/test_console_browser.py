"""Live codes in Chromium: an operator opens the form, forgets the staff member and sees the
error in Chinese, then fills in the pool and a tag, saves, lands on the statistics page with its
charts drawn (canvas), simulates a scan in the sandbox, and finds the code in the list."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import haina.engage.livecodes.tasks  # noqa: F401 - the live code event handlers
from haina.connections import wecom_corps
from haina.core.auth.actor import Actor
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.tags import service as tags
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.platforms.live_sandbox import serve
from tests.wecom_corp import connected_corp

pytestmark = [pytest.mark.browser, needs_chromium]


@dataclass
class Server:
    url: str
    shots: Path
    staff: list[str]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'livecodes.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        user = create_user(
            session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings
        )
        actor = Actor(user.id, tenant.id, user.username, user.display_name, user.role)
        group = tags.create_group(session, actor, "渠道来源")
        tags.create_tag(session, actor, tags.TagInput("地铁海报", group.id))
        tenant_id = tenant.id
    try:
        with (
            serve(SandboxState(generate_world(7, 40))) as sandbox,
            connected_corp(database, settings, tenant_id, sandbox, first_crawl=False),
            serving(create_app(settings, database, start_workers=False)) as base_url,
        ):
            staff = [member.userid for member in sandbox.state.world.staff[:2]]
            yield Server(base_url, screenshot_dir(tmp_path), staff)
    finally:
        wecom_corps.forget_clients()
        database.dispose()


def test_create_a_live_code_and_see_its_statistics(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        page = context.new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/live-codes")
        expect(page).to_have_url(url + "/engage/live-codes")
        expect(page.locator("[data-empty]")).to_be_visible()

        page.click("[data-new-live-code]")
        page.fill("input[name=name]", "地铁站海报")
        page.select_option("select[name=channel]", "poster")
        page.click("[data-save]")
        expect(page.locator(".alert, [role=alert]").first).to_contain_text("请至少添加一位员工")

        row = page.locator("[data-pool-row='0']")
        row.locator("input[name=member_userid]").fill(server.staff[0])
        row.locator("input[name=member_ranges]").fill("00:00-24:00")
        row.locator("input[name=member_limit]").fill("50")
        page.locator("[data-pool-row='1'] input[name=member_userid]").fill(server.staff[1])
        page.get_by_label("地铁海报").check()
        page.screenshot(path=str(server.shots / "livecodes-form.png"), full_page=True)
        page.click("[data-save]")

        expect(page.locator("h1.page-title")).to_have_text("地铁站海报")
        expect(page.locator("#daily-chart canvas")).to_be_visible()
        expect(page.locator("[data-scans-hint]")).to_contain_text("企业微信不提供扫码次数")
        expect(page.locator("img.livecode-qr")).to_be_visible()
        page.screenshot(path=str(server.shots / "livecodes-stats.png"), full_page=True)

        # The sandbox's scan page adds a brand-new customer to a member on duty.
        scan = page.locator("[data-sandbox-scan]").get_attribute("href")
        assert scan and "/sandbox/wecom/scan/" in scan
        scanned = context.new_page()
        scanned.goto(scan)
        expect(scanned.locator("[data-scan-result]")).to_contain_text("已添加成员")
        scanned.close()

        page.goto(url + "/engage/live-codes")
        listed = page.locator("[data-live-code-name='地铁站海报']")
        expect(listed).to_be_visible()
        expect(listed).to_contain_text(server.staff[0])
        page.screenshot(path=str(server.shots / "livecodes-list.png"), full_page=True)
        browser.close()
