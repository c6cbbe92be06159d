"""The /platforms page in Chromium: add a connection (the secret never comes back), press "sync
now", watch the progress bar poll while the sync runs and settle when it is done."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from haina.connections import tasks
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving
from tests.conftest import make_settings
from tests.connections.fakes import PLATFORM, SECRET, FakeConnector, StoredRecords
from tests.factories import PASSWORD

pytestmark = needs_chromium


@pytest.fixture
def server(
    tmp_path: Path, fake: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    from haina.connections import service

    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳家电旗舰店")
        create_user(session, tenant.id, NewUser("wanglei", "王磊", "owner", PASSWORD), settings)
    records = StoredRecords(database)
    records.metadata.create_all(database.engine)
    monkeypatch.setattr(service.wiring, "store", records.store)
    app = create_app(settings, database, start_workers=False)
    try:
        with serving(app) as base_url:
            try:
                yield base_url, screenshot_dir(tmp_path)
            finally:
                if fake.stream.gate is not None:
                    fake.stream.gate.set()
                tasks.wait_for_background_syncs(10)
    finally:
        database.dispose()


def test_platforms_page_in_chromium(server: tuple[str, Path], fake: FakeConnector) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, shots = server
    fake.stream.pages_script = [["o-1", "o-2"], ["o-3"]]
    fake.stream.gate = threading.Event()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 860}).new_page()
        page.goto(url + "/platforms")
        page.fill("input[name=username]", "wanglei")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(url + "/platforms")
        expect(page.locator('[data-nav="platforms"]')).to_have_attribute("aria-current", "page")

        page.click("summary >> text=新建连接")
        page.select_option("select[name=platform]", PLATFORM)
        page.fill("input[name=name]", "天猫旗舰店")
        page.fill("input[name=shop_id]", "shop-1")
        page.fill("input[name=app_key]", "browser-key")
        page.fill("input[name=app_secret]", SECRET)
        page.fill("input[name=base_url]", "http://127.0.0.1:9")
        page.fill("textarea[name=extra]", "callback_token=browser-callback-token")
        page.click("form[action='/platforms'] button[type=submit]")
        expect(page.locator(".alert-success")).to_contain_text("天猫旗舰店")
        row = page.locator("#connections-table tbody tr").first
        expect(row).to_contain_text("••••" + SECRET[-4:])
        assert SECRET not in page.content() and "browser-callback-token" not in page.content()

        stream = row.locator('[data-stream="orders"]')
        stream.locator("button[type=submit]").click()  # HTMX: swaps the streams in place
        expect(row.locator('.connection-streams[data-running="true"]')).to_be_visible()
        expect(stream.locator("button[type=submit]")).to_be_disabled()
        page.screenshot(path=str(shots / "platforms-syncing-zh.png"), full_page=True)
        fake.stream.gate.set()
        # The polling fragment settles on its own once the run is done.
        expect(row.locator('.connection-streams[data-running="false"]')).to_be_visible(timeout=15_000)
        expect(row.locator('[data-stream="orders"] .stream-figures')).to_contain_text(re.compile(r"3 条"))
        expect(row.locator('[data-stream="orders"] progress')).to_have_attribute("value", "100")
        page.screenshot(path=str(shots / "platforms-done-zh.png"), full_page=True)
        browser.close()
