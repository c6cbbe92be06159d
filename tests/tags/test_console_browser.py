"""The rule builder in Chromium: an operator builds "bought 3+ times in the last 90 days" with the
no-code builder, sees the wrong condition pointed at when a value is bad, saves, watches the
batch evaluation's progress bar finish (the app's own event runner does the work) and the count
of customers; then builds a segment whose live count follows every edit, previews it and saves it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.tags import service as tags
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.customers.identity.builders import order, resolve_all, store
from tests.factories import PASSWORD

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]


class Server:
    def __init__(self, url: str, shots: Path) -> None:
        self.url, self.shots = url, shots


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'tags.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
        tenant_id = tenant.id
    # 陈 bought 3 times and 王 4 times in the last 90 days; 林 once; 赵 3 times, but long ago.
    orders = []
    for name, buyer, count, first_day in (
        ("陈晓", "chen", 3, 40),
        ("王芳", "wang", 4, 30),
        ("林一", "lin", 1, 50),
    ):
        orders += [
            order(f"YZ-{buyer}-{n}", buyer_id=f"yz-{buyer}", name=name, days=first_day + n)
            for n in range(count)
        ]
    orders += [order(f"YZ-zhao-{n}", buyer_id="yz-zhao", name="赵六", days=-300 + n) for n in range(3)]
    store(database, settings, tenant_id, orders)
    resolve_all(database)
    with database.unit_of_work() as session:
        user = session.scalars(select(User).where(User.username == "yunying")).one()
        actor = Actor(user.id, tenant_id, user.username, user.display_name, user.role)
        group = tags.create_group(session, actor, "客户意向")
        tags.create_tag(session, actor, tags.TagInput("高意向", group.id))
    app = create_app(settings, database, start_workers=True)
    try:
        with serving(app) as base_url:
            yield Server(base_url, screenshot_dir(tmp_path))
    finally:
        from haina.tags.evaluation import wait_for_background

        wait_for_background(10)
        database.dispose()


def test_build_a_rule_tag_and_a_segment_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        page = context.new_page()
        sign_in(page, url, "yunying", PASSWORD, "/tags")
        expect(page).to_have_url(url + "/tags")
        expect(page.locator("[data-subnav] a[href='/tags/lifecycle']")).to_be_visible()

        # A group, then a rule tag in it.
        page.fill("[data-new-group] input[name=name]", "消费行为")
        page.click("[data-new-group] button[type=submit]")
        expect(page.locator("[data-group-name='消费行为']")).to_be_visible()
        page.click("[data-new-rule]")
        expect(page.locator("#rule-builder")).to_be_visible()
        page.fill("input[name=name]", "复购3次+")
        page.click("#rule-builder [data-action=add-condition]")
        leaf = page.locator("#rule-builder .cb-leaf").first
        expect(leaf).to_have_attribute("data-path", "all[0]")
        leaf.locator("[data-role=field]").select_option("order_count")
        leaf.locator("[data-role=op]").select_option(">=")
        # A wrong value first: the save names the condition and marks its row.
        leaf.locator("[data-role=value]").fill("-3")
        leaf.locator("[data-role=param-days]").fill("90")
        page.click("[data-save]")
        expect(page.locator("[data-save-error]")).to_contain_text("all[0].value")
        expect(page.locator("#rule-builder .cb-leaf.is-invalid-condition")).to_have_count(1)
        expect(leaf.locator("[data-role=error]")).not_to_be_empty()
        page.screenshot(path=str(server.shots / "tags-rule-error.png"), full_page=True)

        leaf.locator("[data-role=value]").fill("3")
        page.click("[data-save]")
        page.wait_for_url(lambda address: "/tags/" in address and "/new" not in address)
        evaluation = page.locator("#evaluation")
        expect(evaluation).to_have_attribute("data-status", "done", timeout=30_000)
        expect(page.locator("#evaluation [data-progress]")).to_have_attribute("data-progress", "100")
        expect(evaluation).to_have_attribute("data-count", "2")
        expect(page.locator("#evaluation [data-added]")).to_contain_text("2")
        # Finished while watched: the page reloads itself with the new carriers.
        expect(page.locator("#carriers-table tr[data-customer]")).to_have_count(2)
        page.screenshot(path=str(server.shots / "tags-rule-done.png"), full_page=True)
        expect(page.locator("#carriers-table")).to_contain_text("陈晓")
        expect(page.locator("#carriers-table")).to_contain_text("王芳")
        # The read-only rule shows what was built.
        expect(page.locator("[data-condition-builder] .cb-leaf[data-field=order_count]")).to_have_count(1)
        page.goto(url + "/tags")
        expect(page.locator("tr[data-tag-name='复购3次+'] [data-count]")).to_have_text("2")

        # A segment: the live count follows each edit; a nested "any" group widens it.
        page.goto(url + "/tags/segments/new")
        page.fill("input[name=name]", "高频复购")
        page.click("#segment-builder [data-action=add-condition]")
        leaf = page.locator("#segment-builder .cb-leaf").first
        leaf.locator("[data-role=value]").fill("3")
        leaf.locator("[data-role=param-days]").fill("90")
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "2")
        leaf.locator("[data-role=value]").fill("4")
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "1")
        page.locator("#segment-builder [data-role=mode]").first.select_option("any")
        page.click("#segment-builder > .cb-group > .cb-group-head [data-action=add-group]")
        nested = page.locator("#segment-builder .cb-group .cb-group .cb-leaf").first
        expect(nested).to_have_attribute("data-path", "any[1].any[0]")
        nested.locator("[data-role=value]").fill("1")
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "4")
        nested.locator("[data-role=param-days]").fill("90")
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "3")
        page.click("[data-preview]")
        expect(page.locator("#preview-table tr[data-preview-customer]")).to_have_count(3)
        # A bad value is pointed at by the live count too.
        nested.locator("[data-role=value]").fill("")
        expect(page.locator("#segment-builder .cb-leaf.is-invalid-condition")).to_have_count(1)
        nested.locator("[data-role=value]").fill("1")
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "3")
        expect(page.locator("#segment-builder .is-invalid-condition")).to_have_count(0)
        page.screenshot(path=str(server.shots / "tags-segment-builder.png"), full_page=True)
        page.click("[data-save]")
        page.wait_for_url(lambda address: "/tags/segments/" in address and "/new" not in address)
        expect(page.locator("[data-segment-count]")).to_have_attribute("data-segment-count", "3")
        expect(page.locator("a[data-export=xlsx]")).to_be_visible()
        expect(page.locator("#segment-builder .cb-leaf")).to_have_count(2)

        # The customer profile: the tags card adds and removes a manual tag in place.
        page.goto(url + "/customers?q=" + quote("王芳"))
        page.click("#customers-table a.cell-title")
        card = page.locator("#customer-tags")
        expect(card.locator("[data-tag-name='复购3次+']")).to_be_visible()
        card.locator("[data-add-tag-choice]").select_option(label="客户意向 / 高意向")
        card.locator("[data-add-tag]").click()
        chip = page.locator("#customer-tags [data-tag-name='高意向']")
        expect(chip).to_contain_text("运营 小李")
        page.screenshot(path=str(server.shots / "tags-profile-card.png"), full_page=True)
        chip.locator("[data-remove-tag]").click()
        expect(page.locator("#customer-tags [data-tag-name='高意向']")).to_have_count(0)
        page.reload()
        page.select_option("[data-channel-filter]", "tags")
        expect(page.locator("#timeline li[data-kind='tag.removed']")).to_contain_text("运营 小李")
        expect(page.locator("#timeline li[data-kind='tag.added']")).to_have_count(2)
        browser.close()
