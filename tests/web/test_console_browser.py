"""The console in headless Chromium against a real uvicorn server: sign in, Chinese navigation,
switch to English, a module's coming-soon page, HTMX forms, the folded navigation at phone
width, sign out. Screenshots go to $HAINA_SCREENSHOT_DIR (or the test's tmp directory)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving
from tests.conftest import make_settings

PASSWORD = "correct-horse-42"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


@dataclass
class Console:
    url: str
    username: str
    shots: Path


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳家电旗舰店")
        create_user(session, tenant.id, NewUser("wanglei", "王磊", "owner", PASSWORD), settings)
        create_user(session, tenant.id, NewUser("zhaocai", "赵财", "finance", PASSWORD), settings)
    try:
        with serving(create_app(settings, database, start_workers=False)) as base_url:
            yield Console(url=base_url, username="wanglei", shots=screenshot_dir(tmp_path))
    finally:
        database.dispose()


def test_console_in_chromium(console: Console) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 860})
        page = context.new_page()
        failed_assets: list[str] = []
        page.on(
            "response",
            lambda response: failed_assets.append(response.url) if response.status >= 400 else None,
        )

        # Sign in: an anonymous visit lands on the login page, in Chinese.
        page.goto(console.url + "/settings/audit")
        expect(page).to_have_url(console.url + "/login?next=/settings/audit")
        expect(page.locator("h1")).to_have_text("账号登录")
        page.screenshot(path=str(console.shots / "login-desktop.png"))
        page.fill("input[name=username]", console.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(console.url + "/settings/audit")
        expect(page.locator("#audit-table")).to_contain_text("auth.login")
        page.screenshot(path=str(console.shots / "audit-desktop-zh.png"))

        # The overview: Chinese navigation, the top bar, and a chart drawn by ECharts.
        page.click('[data-nav="overview"]')
        expect(page.locator('[data-nav="customers"]')).to_contain_text("客户")
        expect(page.locator(".topbar-tenant")).to_have_text("海纳家电旗舰店")
        expect(page.locator(".topbar-user")).to_contain_text("王磊")
        expect(page.locator('#activity-chart[data-chart-ready="true"] canvas')).to_have_count(1)
        page.wait_for_timeout(600)  # let the chart finish its entry animation
        page.screenshot(path=str(console.shots / "overview-desktop-zh.png"), full_page=True)

        # Switch to English: the same page comes back in English.
        page.click(".topbar .lang-switch >> text=English")
        expect(page).to_have_url(console.url + "/")
        expect(page.locator('[data-nav="customers"]')).to_contain_text("Customers")
        expect(page.locator('[data-nav="audit"]')).to_have_text("Audit log")
        expect(page.locator("html")).to_have_attribute("lang", "en")

        # A module that is not built yet shows its coming-soon state.
        page.click('[data-nav="tickets"]')
        expect(page).to_have_url(console.url + "/tickets")
        expect(page.locator('[data-state="coming-soon"] .empty-badge')).to_have_text("Coming soon")
        expect(page.locator(".page-title")).to_have_text("Tickets")
        page.screenshot(path=str(console.shots / "module-desktop-en.png"))

        # HTMX: create a member (CSRF header from the meta tag), then change their role in place.
        page.click('[data-nav="users"]')
        page.click("summary >> text=New member")
        page.fill("#users-panel input[name=username]", "xiaomei")
        page.fill("#users-panel input[name=display_name]", "小美")
        page.select_option("#users-panel select[name=role]", "agent")
        page.fill("#users-panel input[name=password]", "another-horse-7")
        page.click("#users-panel button[type=submit]")
        row = page.locator('tr[data-username="xiaomei"]')
        expect(row).to_be_visible()
        expect(page.locator("#users-panel .alert-success")).to_contain_text("xiaomei")
        expect(page).to_have_url(console.url + "/settings/users")  # updated in place, no reload
        with page.expect_response(
            lambda response: response.url.endswith("/role") and response.request.method == "POST"
        ) as answer:
            row.locator("select[name=role]").select_option("operator")
        assert answer.value.status == 200
        assert answer.value.request.headers.get("x-csrf-token"), "haina.js did not add the CSRF header"
        expect(page.locator('tr[data-username="xiaomei"] select[name=role]')).to_have_value("operator")
        page.reload()
        expect(page.locator('tr[data-username="xiaomei"] select[name=role]')).to_have_value("operator")
        page.screenshot(path=str(console.shots / "users-desktop-en.png"), full_page=True)

        # Phone width: the navigation folds into a menu opened from the top bar.
        page.click(".topbar .lang-switch >> text=中文")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(console.url + "/")
        sidebar = page.locator("#sidebar")
        expect(sidebar).to_be_hidden()
        expect(page.locator("[data-nav-toggle]")).to_be_visible()
        page.wait_for_timeout(600)
        page.screenshot(path=str(console.shots / "overview-phone-zh.png"), full_page=True)
        page.click("[data-nav-toggle]")
        expect(sidebar).to_be_visible()
        expect(page.locator("[data-nav-toggle]")).to_have_attribute("aria-expanded", "true")
        page.screenshot(path=str(console.shots / "nav-open-phone-zh.png"))
        page.click('[data-nav="campaigns"]')
        expect(page).to_have_url(console.url + "/campaigns")
        expect(page.locator('[data-state="coming-soon"] .empty-badge')).to_have_text("即将上线")
        expect(sidebar).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, (
            "the page scrolls sideways at phone width"
        )
        page.screenshot(path=str(console.shots / "module-phone-zh.png"), full_page=True)
        page.goto(console.url + "/settings/users")
        expect(page.locator('tr[data-username="xiaomei"]')).to_be_visible()
        page.screenshot(path=str(console.shots / "users-phone-zh.png"), full_page=True)

        # Sign out.
        page.click(".logout-form button")
        expect(page).to_have_url(console.url + "/login")
        page.goto(console.url + "/")
        expect(page).to_have_url(console.url + "/login?next=/")

        # A finance user sees no chat archive in the menu, and opening it answers the 403 page.
        page.set_viewport_size({"width": 1366, "height": 860})
        page.fill("input[name=username]", "zhaocai")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator('[data-nav="settlement"]')).to_be_visible()
        expect(page.locator('[data-nav="archive"]')).to_have_count(0)
        assert failed_assets == [], "a page or asset failed to load"
        page.goto(console.url + "/archive")
        expect(page.locator(".error-title")).to_have_text("无权访问")
        page.screenshot(path=str(console.shots / "forbidden-desktop-zh.png"))
        assert failed_assets == [console.url + "/archive"]
        browser.close()
