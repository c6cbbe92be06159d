"""The scripts panel of the WeCom sidebar in Chromium, outside WeCom: an agent searches in
Chinese (HTMX as they type), clicks send, the text (with the customer's name) is on the
clipboard, the button says 已复制 and the use count goes up by one, in the page and stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.customers.identity.models import Customer
from haina.engage.scripts import service
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.conftest import make_settings
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import PASSWORD

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

pytestmark = [pytest.mark.browser, needs_chromium]


class Server:
    def __init__(self, url: str, shots: Path, database: Database, tenant_id: str, script_id: str) -> None:
        self.url, self.shots, self.database = url, shots, database
        self.tenant_id, self.script_id = tenant_id, script_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'scripts.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("kefu", "客服 小王", "agent", PASSWORD), settings)
        tenant_id = tenant.id
    store(
        database,
        settings,
        tenant_id,
        [
            order(
                "YZ-1", buyer_id="yz-chen", unionid="union-chen", phone="13812345678", name="陈晓", days=10
            ),
            contact("wm-chen", name="晓晓", unionid="union-chen", mobiles=("13812345678",), staff="guide01"),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        session.execute(update(User).where(User.username == "kefu").values(wecom_userid="guide01"))
        customer = session.scalars(select(Customer).where(Customer.tenant_id == tenant_id)).one()
        customer.display_name = "陈晓"
        actor = Actor("ops", tenant_id, "ops", "运营", "owner")
        scenes = {scene.name: scene.id for scene in service.ensure_default_scenes(session, actor)}
        script = service.create_script(
            session,
            actor,
            service.ScriptInput(
                title="退款流程说明",
                scene_id=scenes["售后安抚"],
                content="{客户昵称}您好，退款 1-3 个工作日原路退回。",
            ),
        )
        service.create_script(
            session,
            actor,
            service.ScriptInput(title="下单未付款提醒", scene_id=scenes["催付"], content="还没付款哦"),
        )
        script_id = script.id
    app = create_app(settings, database, start_workers=False)
    try:
        with serving(app) as base_url:
            yield Server(base_url, screenshot_dir(tmp_path), database, tenant_id, script_id)
    finally:
        database.dispose()


def test_search_and_send_a_script_from_the_sidebar_outside_wecom(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 420, "height": 800})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page = context.new_page()
        sign_in(page, url, "kefu", PASSWORD, "/")
        # The customer's sidebar (demo path: the contact named in the URL) loads the scripts panel.
        page.goto(url + "/sidebar/customer?external_userid=wm-chen")
        panel = page.locator("[data-scripts-panel] [data-scripts-sidebar]")
        expect(panel).to_be_visible()
        expect(panel.locator("li[data-script]")).to_have_count(2)
        panel.locator("[data-sidebar-search]").fill("退款")
        expect(panel.locator("li[data-script]")).to_have_count(1)
        expect(page.locator("[data-scripts-sidebar]")).to_have_count(1)  # only the results were swapped
        item = panel.locator(f"li[data-script='{server.script_id}']")
        expect(item.locator("[data-text]")).to_contain_text("陈晓您好")
        expect(item.locator("[data-use-count]")).to_have_text("0")
        item.locator("[data-send-script]").click()
        expect(item.locator("[data-send-script]")).to_have_text("已复制")
        expect(item.locator("[data-send-script]")).to_have_attribute("data-state", "done")
        expect(item.locator("[data-use-count]")).to_have_text("1")
        assert page.evaluate("navigator.clipboard.readText()") == "陈晓您好，退款 1-3 个工作日原路退回。"
        page.screenshot(path=str(server.shots / "scripts-sidebar.png"), full_page=True)
        browser.close()
    with server.database.unit_of_work() as session:
        assert service.get_script(session, server.tenant_id, server.script_id).use_count == 1


WX_STUB = """
window.sentToChat = [];
window.wx = {
  invoke: function (name, args, callback) {
    if (name === "getCurExternalContact") callback({err_msg: "getCurExternalContact:ok", userId: "wm-chen"});
    else if (name === "sendChatMessage") { window.sentToChat.push(args); callback({err_msg: "sendChatMessage:ok"}); }
    else callback({err_msg: name + ":fail"});
  }
};
"""


def test_inside_wecom_the_script_goes_into_the_chat_with_the_js_sdk(server: Server) -> None:
    from playwright.sync_api import expect, sync_playwright

    url = server.url
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(locale="zh-CN", viewport={"width": 420, "height": 800})
        context.add_init_script(WX_STUB)  # what WeCom's JS-SDK answers, inside the chat's sidebar
        page = context.new_page()
        sign_in(page, url, "kefu", PASSWORD, "/")
        page.goto(url + "/sidebar/customer")  # the contact comes from getCurExternalContact
        panel = page.locator("[data-scripts-panel] [data-scripts-sidebar]")
        expect(panel).to_be_visible()
        item = panel.locator(f"li[data-script='{server.script_id}']")
        item.locator("[data-send-script]").click()
        expect(item.locator("[data-send-script]")).to_have_text("已发送")
        expect(item.locator("[data-use-count]")).to_have_text("1")
        assert page.evaluate("window.sentToChat") == [
            {
                "msgtype": "text",
                "text": {"content": "陈晓您好，退款 1-3 个工作日原路退回。"},
                "enterChat": True,
            }
        ]
        browser.close()
