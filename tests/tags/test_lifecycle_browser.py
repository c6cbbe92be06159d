"""/tags/lifecycle in Chromium: the stage cards, the three ECharts charts drawn (stages over time,
the flow Sankey, the R × F grid), a settings error shown in place and fixed, and "recompute now"
on the server's scheduler thread: the button waits while the job runs, the page reloads when it
is done. Then the same page in English."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from haina.core import clock
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.tags import rfm
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.tags.rfm_seed import add_customer, add_order

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


def _seed(database: Database, tenant_id: str) -> None:
    """Two days of history before today: a first computation, then moves the next day."""
    base = datetime.now(UTC).replace(microsecond=0)
    ago = lambda days: base - timedelta(days=days)  # noqa: E731
    with database.unit_of_work() as session:
        names = ("张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇")
        ids = [add_customer(session, tenant_id, name) for name in names]
        plan = [(ids[0], [3, 40, 80], 39_900), (ids[1], [100], 12_800), (ids[2], [200, 400], 59_900),
                (ids[3], [500], 8_800), (ids[4], [10], 128_800), (ids[5], [60, 65], 19_900)]  # fmt: skip
        for customer_id, days, fen in plan:
            for day in days:
                add_order(session, tenant_id, customer_id, ago(day), fen)
    clock.freeze(base - timedelta(days=2))
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    with database.unit_of_work() as session:
        add_order(session, tenant_id, ids[3], ago(1.5), 26_600)  # lost → won back
        add_order(session, tenant_id, ids[6], ago(1.5), 9_900)  # prospect → new
    clock.freeze(base - timedelta(days=1))
    with database.unit_of_work() as session:
        rfm.compute(session, tenant_id)
    clock.freeze(None)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, threading.Event]]:
    url = f"sqlite:///{tmp_path / 'lifecycle.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳家电旗舰店")
        create_user(session, tenant.id, NewUser("wanglei", "王磊", "owner", PASSWORD), settings)
        tenant_id = tenant.id
    _seed(database, tenant_id)
    # "Recompute now" waits on a gate, so the page can be seen while the job runs.
    gate = threading.Event()
    original = rfm.compute

    def gated_compute(*args: Any, **kwargs: Any) -> rfm.ComputeResult:
        gate.wait(20)
        return original(*args, **kwargs)

    monkeypatch.setattr(rfm, "compute", gated_compute)
    app = create_app(settings, database, start_workers=True)  # workers: the tags scheduler runs
    try:
        with serving(app, stop_seconds=20) as base_url:
            try:
                yield base_url, screenshot_dir(tmp_path), gate
            finally:
                gate.set()
    finally:
        database.dispose()


def test_lifecycle_dashboard_in_chromium(server: tuple[str, Path, threading.Event]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, shots, gate = server
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(url + "/tags/lifecycle")
        page.fill("input[name=username]", "wanglei")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(url + "/tags/lifecycle")
        expect(page.locator('[data-nav="tags"]')).to_have_attribute("aria-current", "page")

        # Cards: 8 customers; the lost one was won back and the prospect bought yesterday.
        expect(page.locator('[data-stage="won_back"] [data-count]')).to_have_text("1")
        expect(page.locator('[data-stage="prospect"] [data-count]')).to_have_text("1")
        total = sum(
            int(page.locator(f'[data-stage="{stage}"] [data-count]').inner_text().replace(",", ""))
            for stage in ("prospect", "new", "active", "won_back", "at_risk", "dormant", "lost")
        )
        assert total == 8
        # Each chart container is drawn by ECharts (a canvas of real size inside it).
        for chart in ("lifecycle-trend-chart", "lifecycle-flow-chart", "lifecycle-rfm-chart"):
            container = page.locator(f"#{chart}")
            expect(container).to_have_attribute("data-chart-ready", "true")
            canvas = container.locator("canvas").first
            expect(canvas).to_be_visible()
            box = canvas.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 150, (chart, box)
        expect(page.locator('#lifecycle-flow-table [data-flow="lost-won_back"]')).to_contain_text("1")
        expect(page.locator('#lifecycle-flow-table [data-flow="prospect-new"]')).to_contain_text("1")
        page.screenshot(path=str(shots / "lifecycle-zh.png"), full_page=True)
        page.locator("#lifecycle-flows").screenshot(path=str(shots / "lifecycle-flows-zh.png"))
        assert errors == []

        # Fixed bands with cut points out of order: the error is shown in place, input kept.
        settings_card = page.locator("#lifecycle-settings")
        settings_card.locator("select[name=band_method]").select_option("fixed")
        settings_card.locator("input[name=recency_bounds]").fill("30, 7, 90, 180")
        settings_card.locator("input[name=frequency_bounds]").fill("2, 3, 5, 10")
        settings_card.locator("input[name=monetary_bounds]").fill("100, 500, 1000, 5000")
        settings_card.locator("[data-save-settings]").click()
        error = page.locator('#lifecycle-settings [data-settings-error="recency_bounds"]')
        expect(error).to_contain_text("严格递增")
        expect(page.locator("#lifecycle-settings input[name=recency_bounds]")).to_have_value("30, 7, 90, 180")
        expect(page.locator("#lifecycle-settings input[name=recency_bounds]")).to_have_attribute(
            "aria-invalid", "true"
        )
        page.screenshot(path=str(shots / "lifecycle-settings-error-zh.png"), full_page=True)
        page.locator("#lifecycle-settings input[name=recency_bounds]").fill("7, 30, 90, 180")
        page.locator("#lifecycle-settings [data-save-settings]").click()
        expect(page.locator("#lifecycle-settings .alert-success")).to_be_visible()
        expect(page.locator("#lifecycle-settings input[name=monetary_bounds]")).to_have_value(
            "100, 500, 1000, 5000"
        )

        # Recompute now: queued on the scheduler thread, polled, then the page reloads.
        page.locator("[data-recompute-button]").click()
        job = page.locator("#lifecycle-job")
        expect(job).to_have_attribute("data-recompute-state", "running", timeout=10_000)
        expect(page.locator("[data-recompute-button]")).to_be_disabled()
        page.screenshot(path=str(shots / "lifecycle-running-zh.png"), full_page=True)
        gate.set()
        expect(page.locator("#lifecycle-job")).to_have_attribute(
            "data-recompute-state", "done", timeout=15_000
        )
        expect(page.locator("#lifecycle-job")).to_contain_text("8 位客户")
        expect(page.locator("[data-recompute-button]")).to_be_enabled()
        expect(page.locator("#lifecycle-rfm-chart")).to_have_attribute("data-chart-ready", "true")
        page.screenshot(path=str(shots / "lifecycle-done-zh.png"), full_page=True)

        context.add_cookies([{"name": "haina_lang", "value": "en", "url": url}])
        page.goto(url + "/tags/lifecycle?days=7")
        expect(page.locator("h1")).to_have_text("RFM & lifecycle")
        expect(page.locator('[data-stage="won_back"] .stat-label')).to_contain_text("Won back")
        expect(page.locator("#lifecycle-trend-chart")).to_have_attribute("data-chart-ready", "true")
        page.screenshot(path=str(shots / "lifecycle-en.png"), full_page=True)
        assert errors == []
        browser.close()
