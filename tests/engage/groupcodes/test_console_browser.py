"""The group live code console in Chromium: an operator creates a code over two customer groups
of the WeCom emulator, lands on its page with the pool's fill bars and QR code, and finds it in
the list; a customer's scan then shows after "refresh now"."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from haina.connections import wecom_corps
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.sandbox.emulators.wecom_join_ways import join_way, simulate_join_via_join_way
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.engage.groupcodes.test_wecom_flow import customer, new_group
from tests.factories import PASSWORD
from tests.platforms.live_sandbox import serve
from tests.wecom_corp import Corp, connected_corp

pytestmark = [pytest.mark.browser, needs_chromium]


@dataclass
class Server:
    url: str
    shots: Path
    corp: Corp
    groups: tuple[str, str]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'groupcodes.db'}"
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
            connected_corp(database, settings, tenant_id, sandbox, first_crawl=False) as corp,
        ):
            groups = (new_group(corp, "美妆福利群1"), new_group(corp, "美妆福利群2"))
            app = create_app(settings, database, start_workers=False)
            with serving(app) as base_url:
                yield Server(base_url, screenshot_dir(tmp_path), corp, groups)
    finally:
        wecom_corps.forget_clients()
        database.dispose()


def test_create_a_group_code_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    first, second = server.groups
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        page = context.new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/group-codes")
        expect(page).to_have_url(url + "/engage/group-codes")
        expect(page.locator("#group-codes-empty")).to_be_visible()
        expect(page.locator("[data-subnav] a[aria-current=page]")).to_have_attribute(
            "href", "/engage/group-codes"
        )

        page.click("[data-new-group-code]")
        page.fill("input[name=name]", "美妆福利群")
        page.fill("input[name=member_limit]", "2")
        # Auto-create without a name prefix is refused, and the form keeps what was typed.
        page.check(f"#group-code-pool input[value='{first}']")
        page.check(f"#group-code-pool input[value='{second}']")
        page.check("input[name=is_auto_create]")
        page.click("[data-save]")
        expect(page.locator(".alert-error")).to_contain_text("新群名称前缀")
        expect(page.locator("input[name=name]")).to_have_value("美妆福利群")
        page.screenshot(path=str(server.shots / "groupcodes-form-error.png"), full_page=True)
        page.uncheck("input[name=is_auto_create]")
        page.click("[data-save]")

        page.wait_for_url(lambda address: "notice=created" in address)
        expect(page.locator(".alert-success")).to_contain_text("群活码已创建")
        pool = page.locator("#group-code-pool .gc-fill")
        expect(pool).to_have_count(2)
        expect(pool.first).to_contain_text("1 / 2")
        expect(page.locator("#group-code-qr img")).to_be_visible()
        assert page.evaluate("document.querySelector('#group-code-qr img').naturalWidth") > 0
        page.screenshot(path=str(server.shots / "groupcodes-created.png"), full_page=True)

        config_id = next(iter(server.corp.sandbox.state.scratch["wecom"]["join_ways"]["ways"]))
        assert join_way(server.corp.sandbox.state, config_id)["chat_id_list"] == [first, second]
        assert simulate_join_via_join_way(server.corp.sandbox.state, config_id, customer(1)) == first
        page.click(".page-actions form[action$='/refresh'] button")
        expect(page.locator(".alert-success")).to_contain_text("已重新读取群人数")
        expect(page.locator(f"#group-code-pool .gc-fill[data-chat-id='{first}']")).to_have_class(
            "gc-fill is-full"
        )
        expect(page.locator("#group-code-stats .stat-value").first).to_have_text("1")
        expect(page.locator("#group-code-daily-chart canvas")).to_have_count(1)
        assert join_way(server.corp.sandbox.state, config_id)["chat_id_list"] == [second]
        page.screenshot(path=str(server.shots / "groupcodes-detail.png"), full_page=True)

        page.goto(url + "/engage/group-codes")
        row = page.locator("#group-codes tr[data-group-code]")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("美妆福利群")
        expect(row.locator("[data-joins]")).to_have_text("1")
        expect(row.locator(".gc-fill.is-listed")).to_have_count(1)
        page.screenshot(path=str(server.shots / "groupcodes-list.png"), full_page=True)
        browser.close()
