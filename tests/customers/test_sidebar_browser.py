"""The WeCom sidebar in Chromium, for a customer with orders on four platforms: opened with the demo's
URL parameter, and opened the way WeCom does it (the JS-SDK's getCurExternalContact, stubbed
as WeCom's `ww` object would answer). A paid order stored after the page was first shown is
there on the next load, before identity resolution has even run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import PASSWORD

PHONE = "13812345678"

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


class Server:
    def __init__(self, url: str, shots: Path, database: Database, settings: Settings, tenant_id: str) -> None:
        self.url, self.shots, self.database, self.settings, self.tenant_id = (
            url,
            shots,
            database,
            settings,
            tenant_id,
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'sidebar.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("xiaochen", "导购 小陈", "owner", PASSWORD), settings)
        tenant_id = tenant.id
    store(
        database,
        settings,
        tenant_id,
        [
            order(
                "YZ-1001",
                buyer_id="yz-chen",
                unionid="union-chen",
                phone=PHONE,
                name="陈晓",
                paid_fen=19_900,
                title="玻尿酸精华",
            ),
            contact(
                "wm-chen", name="晓晓", unionid="union-chen", remark="陈晓", mobiles=(PHONE,), staff="guide01"
            ),
            order(
                "JD-2002",
                platform="jd",
                shop_id="J1",
                phone="138****5678",
                name="陈*",
                paid_fen=29_900,
                days=3,
                title="扫地机器人",
            ),
            order(
                "DY-3003",
                platform="douyin",
                shop_id="D1",
                buyer_id="dy-chen",
                phone="138****5678",
                name="陈**",
                days=5,
                title="面膜 10 片",
            ),
            order(
                "PDD-4004",
                platform="pdd",
                shop_id="P1",
                phone="138****5678",
                name="陈*",
                paid_fen=4_990,
                days=7,
                title="纸尿裤",
            ),
        ],
    )
    resolve_all(database)
    app = create_app(settings, database, start_workers=False)
    try:
        with serving(app) as base_url:
            yield Server(base_url, screenshot_dir(tmp_path), database, settings, tenant_id)
    finally:
        database.dispose()


def test_the_sidebar_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        # The width of WeCom's chat sidebar on a desktop client.
        context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 780})
        page = context.new_page()
        # Signed in first: WeCom's OAuth does this inside WeCom. (The console's login redirect
        # keeps only the path of the page asked for, so the sign-in names the page itself.)
        sign_in(page, url, "xiaochen", PASSWORD, "/sidebar/customer?external_userid=wm-chen")
        expect(page).to_have_url(url + "/sidebar/customer?external_userid=wm-chen")
        panel = page.locator("#sidebar-panel")
        expect(panel).to_have_attribute("data-state", "loaded")
        expect(page.locator("[data-name]")).to_have_text("陈晓")
        expect(page.locator("[data-phone]")).to_have_text("138****5678")
        platforms = page.locator("[data-by-platform] li[data-platform]")
        expect(platforms).to_have_count(4)
        for platform, label, number in (
            ("youzan", "有赞", "YZ-1001"),
            ("jd", "京东", "JD-2002"),
            ("douyin", "抖", "DY-3003"),
            ("pdd", "拼多多", "PDD-4004"),
        ):
            row = page.locator(f'[data-by-platform] li[data-platform="{platform}"]')
            expect(row).to_contain_text(label)
            expect(row).to_have_attribute("data-order", number)
        expect(page.locator("[data-tickets]")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, (
            "the sidebar must not scroll sideways"
        )
        page.screenshot(path=str(server.shots / "sidebar-url-zh.png"), full_page=True)

        # A new paid order arrives (stored, its resolution not run yet): the next load shows it.
        store(
            server.database,
            server.settings,
            server.tenant_id,
            [
                order(
                    "YZ-1009",
                    buyer_id="yz-chen",
                    phone=PHONE,
                    name="陈晓",
                    paid_fen=8_800,
                    days=9,
                    title="防晒霜",
                )
            ],
        )
        page.reload()
        expect(page.locator('[data-latest] li[data-latest-order="YZ-1009"]')).to_be_visible()
        expect(page.locator('[data-by-platform] li[data-platform="youzan"]')).to_have_attribute(
            "data-order", "YZ-1009"
        )

        # Inside WeCom: no URL parameter; the JS-SDK says which contact the chat is with.
        page.add_init_script(
            "window.ww = { getCurExternalContact: function () {"
            " window.__askedSdk = true; return Promise.resolve({ userId: 'wm-chen' }); } };"
        )
        page.goto(url + "/sidebar/customer")
        expect(panel).to_have_attribute("data-state", "loaded")
        assert page.evaluate("window.__askedSdk") is True
        expect(page.locator("[data-by-platform] li[data-platform]")).to_have_count(4)
        page.screenshot(path=str(server.shots / "sidebar-sdk-zh.png"), full_page=True)

        # The sidebar's link opens the full profile: chart drawn, timeline filtered in place.
        customer_id = page.locator("[data-customer]").first.get_attribute("data-customer")
        profile = context.new_page()
        profile.set_viewport_size({"width": 1366, "height": 900})
        profile.goto(f"{url}/customers/{customer_id}")
        expect(profile.locator("#orders-chart")).to_have_attribute("data-chart-ready", "true")
        expect(profile.locator("#orders-table tbody tr")).to_have_count(5)
        expect(profile.locator("#timeline .timeline-item[data-channel='wecom']")).to_have_count(1)
        profile.select_option("[data-channel-filter]", "jd")
        expect(profile.locator("#timeline")).to_have_attribute("data-channel", "jd")
        channels = profile.locator("#timeline .timeline-item").evaluate_all(
            "items => [...new Set(items.map(item => item.dataset.channel))]"
        )
        assert channels == ["jd"]
        profile.screenshot(path=str(server.shots / "customer-profile-zh.png"), full_page=True)

        # Outside WeCom without a parameter: a plain explanation, no error page.
        bare = context.new_page()
        bare.goto(url + "/sidebar/customer")
        expect(bare.locator("#sidebar-panel")).to_have_attribute("data-state", "no-sdk")
        browser.close()
