"""The welcome message editor in Chromium: an operator writes a text with the customer-name
variable (the WeChat bubble preview fills it in as they type), adds a link attachment (shown as a
card in the preview), saves, and finds the message listed with its attachment; a channel scope
without a state is refused with the reason and the typed text kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from haina.core import clock
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.factories import PASSWORD

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'welcome.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
    app = create_app(settings, database, start_workers=False)
    try:
        with serving(app) as base_url:
            yield base_url, screenshot_dir(tmp_path)
    finally:
        database.dispose()


def test_create_a_welcome_message_with_a_link_in_chromium(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, shots = server
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        page = context.new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/welcome")
        expect(page).to_have_url(url + "/engage/welcome")
        page.click("[data-new-welcome]")
        expect(page.locator("[data-welcome-editor]")).to_be_visible()

        page.fill("input[name=name]", "新客默认欢迎语")
        page.check("input[name=scope][value=default]")
        expect(page.locator("[data-scope-field=channel]")).to_be_hidden()
        page.fill("[data-welcome-text]", "您好，")
        page.click("[data-insert='{客户昵称}']")
        page.type("[data-welcome-text]", "！欢迎光临海纳美妆")
        # The preview fills the variable with the sample customer name.
        expect(page.locator("[data-preview-text]")).to_have_text("您好，林小满！欢迎光临海纳美妆")

        page.click("[data-add-attachment=link]")
        row = page.locator("[data-attachment=link]")
        row.locator("[data-attachment-field=title]").fill("新人专享 满199减30")
        row.locator("[data-attachment-field=url]").fill("https://shop.example.com/new")
        row.locator("[data-attachment-field=desc]").fill("点击领取")
        expect(page.locator("[data-preview-card=link]")).to_contain_text("新人专享 满199减30")
        page.screenshot(path=str(shots / "welcome-editor.png"), full_page=True)
        page.click("[data-save-welcome]")

        page.wait_for_url(url + "/engage/welcome")
        listed = page.locator("#welcome-table tr[data-welcome]")
        expect(listed).to_have_count(1)
        expect(listed).to_contain_text("新客默认欢迎语")
        expect(listed).to_contain_text("新人专享 满199减30")
        expect(listed).to_contain_text("默认")
        page.screenshot(path=str(shots / "welcome-list.png"), full_page=True)

        # A channel message needs its live code's state: refused, with the text kept.
        page.click("[data-new-welcome]")
        page.fill("input[name=name]", "直播间欢迎语")
        page.check("input[name=scope][value=channel]")
        expect(page.locator("[data-scope-field=channel]")).to_be_visible()
        page.fill("[data-welcome-text]", "欢迎来自直播间的{客户昵称}")
        page.click("[data-save-welcome]")
        expect(page.locator("[data-welcome-error]")).to_be_visible()
        expect(page.locator("[data-welcome-text]")).to_have_value("欢迎来自直播间的{客户昵称}")
        browser.close()
