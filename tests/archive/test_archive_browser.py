"""The archive's console pages in headless Chromium against a real uvicorn server, with chats
pulled from the sandbox emulator through the real intake: the insights charts drawn by ECharts
with data, the retention policy's confirmation step, "run now" and its history row, a stored
picture shown inline from the media endpoint, and "立即拉取" with its HTMX progress poll.
Screenshots go to $HAINA_SCREENSHOT_DIR (or the test's tmp directory)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from haina.archive import schedule
from haina.archive.models import ArchiveMessage
from haina.core import clock
from haina.sandbox.emulators.wecom_archive_media import drop_media
from haina.sandbox.world import ChatMessage
from tests.archive.conftest import CUSTOMER_A, CUSTOMER_B, ROCKY, TOMMY
from tests.archive.retention.helpers import Script, load
from tests.archive.retention.test_schedule import connect
from tests.browser import launch, needs_chromium, screenshot_dir, serving, sign_in
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, needs_chromium]

NOW = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 in Beijing, a Tuesday
WAIT_MS = 20_000
CHARTS = ("insights-heatmap-chart", "insights-questions-chart", "insights-quality-chart")


@dataclass
class Chats:
    picture: str  # msgid of a customer's picture, fetched and stored
    lost: str  # msgid of a picture whose file the platform no longer has
    old: int  # messages older than 90 days
    new: list[ChatMessage] = field(default_factory=list)  # served after the first pull


def script() -> tuple[Script, Chats]:
    s = Script()
    day = NOW - timedelta(days=2)  # Sunday 12:00 in Beijing
    s.say(CUSTOMER_A, ROCKY, day, "什么时候发货？")
    s.say(ROCKY, CUSTOMER_A, day + timedelta(minutes=2), "今天下午就发")
    s.say(CUSTOMER_A, ROCKY, day + timedelta(hours=1), "几天能发货呀")
    s.say(ROCKY, CUSTOMER_A, day + timedelta(hours=1, minutes=12), "48小时内")
    picture = s.say(CUSTOMER_A, ROCKY, day + timedelta(hours=3), "", msgtype="image")
    lost = s.say(CUSTOMER_A, ROCKY, day + timedelta(hours=3, minutes=1), "", msgtype="image")
    s.say(CUSTOMER_B, TOMMY, day, "可以开发票吗")
    s.say(TOMMY, CUSTOMER_B, day + timedelta(minutes=40), "可以的")
    s.say(CUSTOMER_B, TOMMY, day + timedelta(hours=2), "请问多久发货")
    s.say(TOMMY, CUSTOMER_B, day + timedelta(hours=2, minutes=1), "明天")
    # Old chats with B: due under a 90-day policy.
    s.say(CUSTOMER_B, TOMMY, NOW - timedelta(days=200), "口红有没有试色")
    s.say(TOMMY, CUSTOMER_B, NOW - timedelta(days=150), "有的，欢迎到店")
    chats = Chats(picture=picture, lost=lost, old=2)
    more = Script()
    more.messages = list(s.messages)
    for minutes in (1, 2, 3):
        more.say(CUSTOMER_A, ROCKY, NOW - timedelta(minutes=minutes), f"在吗？第{minutes}次")
    chats.new = more.messages[len(s.messages) :]
    return s, chats


@dataclass
class Console:
    url: str
    database: Any
    tenant: Any
    sandbox: Any
    chats: Chats
    shots: Path


@pytest.fixture
def console(app, database, tenant, sandbox, intake, key_pairs, tmp_path: Path) -> Iterator[Console]:  # type: ignore[no-untyped-def]
    chats_script, chats = script()
    lost_fileid = next(m.content["sdkfileid"] for m in chats_script.messages if m.msgid == chats.lost)
    drop_media(sandbox.state, lost_fileid)
    load(database, tenant, sandbox, intake, key_pairs, chats_script)
    sandbox.state.world.messages.extend(chats.new)  # only "立即拉取" brings these in
    connect(database, tenant.id, sandbox.base_url("wecom"))
    clock.freeze(NOW)
    with serving(app) as base_url:
        yield Console(base_url, database, tenant, sandbox, chats, screenshot_dir(tmp_path))


class Browser:
    """A signed-in Chromium page that records JS errors and failed responses."""

    def __init__(self, playwright: Any, console: Console, language: str = "zh-CN") -> None:
        self.browser = launch(playwright)
        context = self.browser.new_context(locale=language, viewport={"width": 1366, "height": 900})
        self.page = context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on(
            "console", lambda message: self.errors.append(message.text) if message.type == "error" else None
        )
        self.page.on(
            "response",
            lambda response: (
                self.errors.append(f"{response.status} {response.url}") if response.status >= 400 else None
            ),
        )


@pytest.fixture
def browser(console: Console) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)  # a pull and the 2-second poll on a busy machine
    with sync_playwright() as playwright:
        opened = Browser(playwright, console)
        try:
            yield opened
        finally:
            opened.browser.close()
            expect.set_options(timeout=5_000)  # Playwright's default, for the other tests


def _signed_in(browser: Browser, console: Console, path: str) -> Any:
    page = browser.page
    sign_in(page, console.url, console.tenant.usernames["owner"], PASSWORD, path)
    page.wait_for_url(console.url + path)
    return page


def _conversation_of(console: Console, msgid: str) -> str:
    with console.database.unit_of_work() as session:
        found = session.scalar(select(ArchiveMessage.conversation_id).where(ArchiveMessage.msgid == msgid))
    assert found is not None
    return str(found)


def _messages(console: Console) -> int:
    with console.database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(ArchiveMessage)) or 0)


def test_insights_page_draws_its_charts(console: Console, browser: Browser) -> None:
    from playwright.sync_api import expect

    page = _signed_in(browser, console, "/archive/insights")
    for chart in CHARTS:
        expect(page.locator(f'#{chart}[data-chart-ready="true"] canvas').first).to_be_visible()
    points = page.evaluate(
        """ids => ids.map(id => {
             const chart = echarts.getInstanceByDom(document.getElementById(id));
             return chart ? chart.getOption().series[0].data.length : -1;
           })""",
        list(CHARTS),
    )
    assert points[0] == 7 * 24 and points[1] > 0 and points[2] == 2, points
    first = page.locator("#insights-questions tr[data-cluster]").first
    expect(first).to_contain_text("发货")
    examples = first.locator(".archive-examples a")
    expect(examples).to_have_count(3)
    tops = [examples.nth(index).bounding_box()["y"] for index in range(3)]  # type: ignore[index]
    assert tops == sorted(tops) and len(set(tops)) == 3, f"the examples run together: {tops}"
    expect(page.locator("#insights-quality tr[data-staff]")).to_have_count(2)
    expect(page.locator('[data-period="30"]')).to_have_attribute("aria-current", "page")
    page.wait_for_timeout(600)  # the charts' entry animation, for the screenshot only
    page.screenshot(path=str(console.shots / "archive-insights-zh.png"), full_page=True)

    # Another period: the page comes back with its charts; the working hours form saves.
    page.click('[data-period="7"]')
    page.wait_for_url(console.url + "/archive/insights?days=7")
    expect(page.locator('#insights-heatmap-chart[data-chart-ready="true"] canvas').first).to_be_visible()
    page.fill("input[name=target_minutes]", "15")
    page.click("#insights-hours button[type=submit]")
    page.wait_for_url(console.url + "/archive/insights?days=7")
    expect(page.locator("input[name=target_minutes]")).to_have_value("15")
    expect(page.locator("#insights-quality .card-title")).to_contain_text("15")
    page.locator("#insights-hours input[name=end]").first.fill("08:00")  # before Monday's start
    page.click("#insights-hours button[type=submit]")
    expect(page.locator('[role="alert"]')).to_contain_text("开始 < 结束")
    expect(page.locator("#insights-hours input[name=end]").first).to_have_value("21:00")  # not saved
    body = page.locator("body").inner_text()
    assert "archive_insights." not in body and "archive." not in body, "an untranslated key is shown"

    # In English: the same charts, English labels, no untranslated key.
    page.click(".topbar .lang-switch >> text=English")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for chart in CHARTS:
        expect(page.locator(f'#{chart}[data-chart-ready="true"] canvas').first).to_be_visible()
    weekdays = page.evaluate(
        "() => echarts.getInstanceByDom(document.getElementById('insights-heatmap-chart'))"
        ".getOption().yAxis[0].data"
    )
    assert weekdays[0] == "Mon" and len(weekdays) == 7
    body = page.locator("body").inner_text()
    assert "archive_insights." not in body and "archive." not in body, "an untranslated key is shown"
    page.wait_for_timeout(600)  # the charts' entry animation, for the screenshot only
    page.screenshot(path=str(console.shots / "archive-insights-en.png"), full_page=True)

    # Phone width: the pages fold to one column and do not scroll sideways.
    page.click(".topbar .lang-switch >> text=中文")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/archive/insights", "/archive", "/archive/retention"):
        page.goto(console.url + path)
        expect(page.locator(".page-title")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{path} scrolls sideways"
    page.screenshot(path=str(console.shots / "archive-phone-zh.png"), full_page=True)
    assert browser.errors == []


def test_retention_confirms_then_runs_now(console: Console, browser: Browser) -> None:
    from playwright.sync_api import expect

    page = _signed_in(browser, console, "/archive/retention")
    expect(page.locator("[data-policy]")).to_have_attribute("data-policy", "forever")
    page.fill("#retention-policy input[name=keep_days]", "90")
    page.click("#retention-policy button[type=submit]")
    confirm = page.locator("#retention-confirm")
    expect(confirm).to_have_attribute("data-confirm-messages", str(console.chats.old))
    expect(confirm).to_contain_text(f"{console.chats.old} 条消息")
    page.screenshot(path=str(console.shots / "archive-retention-confirm-zh.png"), full_page=True)
    confirm.locator("button[type=submit]").click()
    page.wait_for_url(console.url + "/archive/retention?saved=1")
    expect(page.locator("[data-policy]")).to_have_attribute("data-policy", "90")
    expect(page.locator("#retention-history tr[data-purge]")).to_have_count(0)

    before = _messages(console)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-run-now]")
    page.wait_for_url(console.url + "/archive/retention?purged=1")
    row = page.locator("#retention-history tr[data-purge]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(console.tenant.usernames["owner"])
    assert _messages(console) == before - console.chats.old
    page.screenshot(path=str(console.shots / "archive-retention-history-zh.png"), full_page=True)
    assert browser.errors == []


def test_conversation_shows_the_picture(console: Console, browser: Browser) -> None:
    from playwright.sync_api import expect

    conversation = _conversation_of(console, console.chats.picture)
    page = _signed_in(browser, console, f"/archive/conversations/{conversation}")
    picture = page.locator(f'[data-message="{console.chats.picture}"] img')
    expect(picture).to_have_count(1)
    picture.scroll_into_view_if_needed()
    handle = picture.element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
    assert page.evaluate("img => [img.naturalWidth, img.naturalHeight]", handle) == [96, 72]
    lost = page.locator(f'[data-message="{console.chats.lost}"] [data-media-status]')
    expect(lost).to_have_attribute("data-media-status", "failed")
    expect(lost).to_contain_text("10005")
    page.screenshot(path=str(console.shots / "archive-conversation-media-zh.png"), full_page=True)
    assert browser.errors == []


def test_pull_now_and_its_progress(console: Console, browser: Browser) -> None:
    from playwright.sync_api import expect

    before = _messages(console)
    page = _signed_in(browser, console, "/archive")
    area = page.locator("#archive-pull")
    button = area.locator("[data-pull-now]")
    expect(button).to_be_visible()
    with page.expect_response(lambda answer: answer.url.endswith("/archive/pull")) as answer:
        button.click()
    assert answer.value.status == 200
    assert answer.value.request.headers.get("x-csrf-token")
    expect(area).to_have_attribute("data-state", "done")
    expect(area).to_contain_text(f"{len(console.chats.new)} 条消息")
    assert _messages(console) == before + len(console.chats.new)
    page.screenshot(path=str(console.shots / "archive-pull-done-zh.png"), full_page=True)

    # A pull that is running shows its progress and polls until it ends.
    token = schedule.claim(console.database, console.tenant.id, requested_by="cron")
    assert token is not None
    page.reload()
    expect(area).to_have_attribute("data-state", "running")
    expect(area).to_contain_text("正在拉取")
    page.screenshot(path=str(console.shots / "archive-pull-running-zh.png"), full_page=True)
    console.sandbox.state.world.messages.append(
        ChatMessage(
            len(console.sandbox.state.world.messages) + 1,
            "m-late",
            "send",
            CUSTOMER_B,
            [TOMMY],
            "",
            NOW,
            "text",
            {"content": "还有货吗"},
            1,
        )
    )
    outcome = schedule.pull_tenant(console.database, console.tenant.id, token=token)
    assert (outcome.state, outcome.stored) == ("done", 1)
    expect(area).to_have_attribute("data-state", "done")  # the 2-second poll brought the end
    expect(area).to_contain_text("1 条消息")
    expect(button).to_be_visible()
    assert browser.errors == []
