"""The handover and loss-alert pages in Chromium, against a tenant connected to the WeCom
emulator: an operator starts an in-office handover of two picked customers and lands on its
page (progress bar, one row per customer waiting); a customer deleting a member (pushed through
the real webhook path) shows on the losses page, where the operator marks it handled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

import haina.engage.losses.tasks  # noqa: F401 - registers the handlers
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.engage.handover.models import HandoverItem
from haina.engage.losses import service as losses
from haina.sandbox.emulators.wecom import simulate_delete_contact
from haina.sandbox.emulators.wecom_transfer import transfer_calls
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.factories import PASSWORD
from tests.platforms.live_sandbox import serve
from tests.wecom_corp import Corp, connected_corp, drain

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

pytestmark = [pytest.mark.browser, needs_chromium]


class Server:
    def __init__(self, url: str, shots: Path, database: Database, corp: Corp) -> None:
        self.url, self.shots, self.database, self.corp = url, shots, database, corp


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'handover.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
        tenant_id = tenant.id
    try:
        with (
            serve(SandboxState(generate_world(7, 12))) as sandbox,
            connected_corp(database, settings, tenant_id, sandbox) as corp,
            serving(create_app(settings, database, start_workers=False)) as base_url,
        ):
            yield Server(base_url, screenshot_dir(tmp_path), database, corp)
    finally:
        wecom_corps.forget_clients()
        database.dispose()


def test_start_a_handover_and_handle_a_loss_in_chromium(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    corp, url = server.corp, server.url
    followed = [contact for contact in corp.world.contacts if contact.follow_users]
    giver = followed[0].follow_users[0].userid
    picked = [contact.external_userid for contact in followed if contact.follow_users[0].userid == giver][:2]
    taker = next(member.userid for member in corp.world.staff if member.userid != giver)
    with server.database.unit_of_work() as session:
        losses.save_settings(
            session,
            corp.tenant_id,
            supervisor_userids=[taker],
            notify_customer_deleted=True,
            notify_staff_deleted=True,
            agentid=1000002,
        )
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
        page = context.new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/handover")
        expect(page).to_have_url(url + "/engage/handover")
        expect(page.locator("[data-subnav] a[aria-current=page]")).to_have_attribute(
            "href", "/engage/handover"
        )
        expect(
            page.locator("#handover-unassigned [data-unassigned], #handover-unassigned p.muted")
        ).to_be_visible()

        form = page.locator("[data-handover-form]")
        form.locator("input[name=handover_userid]").fill(giver)
        form.locator("input[name=takeover_userid]").fill(taker)
        form.locator("input[name=scope][value=picked]").check()
        form.locator("textarea[name=external_userids]").fill("\n".join(picked))
        form.locator("textarea[name=transfer_message]").fill("您好，之后由我为您服务")
        page.click("[data-start-handover]")
        page.wait_for_url(lambda address: "/engage/handover/" in address)
        expect(page.locator("#handover-items tr[data-item]")).to_have_count(len(picked))
        expect(page.locator("#handover-items tr[data-status=waiting]")).to_have_count(len(picked))
        expect(page.locator("#handover-progress")).to_have_attribute("data-progress", "0")
        page.screenshot(path=str(server.shots / "engage-handover-job.png"), full_page=True)
        assert [sorted(call["external_userid"]) for call in transfer_calls(corp.sandbox.state)] == [
            sorted(picked)
        ]
        with server.database.session_factory() as session:
            assert len(session.scalars(select(HandoverItem)).all()) == len(picked)

        # A customer (not handed over) deletes another member: an alert on the losses page.
        lost = next(
            c for c in followed if c.external_userid not in picked and c.follow_users[0].userid != giver
        )
        loser = lost.follow_users[0].userid
        simulate_delete_contact(corp.sandbox.state, lost.external_userid, loser, by_customer=True)
        drain(server.database)
        page.goto(url + "/engage/losses")
        row = page.locator("#losses-table tr[data-alert]")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-ended-by", "customer")
        expect(row).to_contain_text(loser)
        expect(page.locator("[data-ranking]")).to_contain_text(loser)
        expect(page.locator("#losses-chart canvas, #losses-chart svg").first).to_be_visible()
        page.screenshot(path=str(server.shots / "engage-losses.png"), full_page=True)
        row.locator("[data-handle]").click()
        expect(page.locator("#losses-table tr[data-alert] [data-handle]")).to_have_count(0)
        expect(page.locator("#losses-table")).to_contain_text("已处理")
        browser.close()
