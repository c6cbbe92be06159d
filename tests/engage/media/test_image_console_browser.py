"""Pictures in the console, in Chromium: the welcome editor's image attachment and the moment
form upload a PNG to /api/v1/engage/images (the CSRF header sent by the page's script), show the
thumbnail, and the saved message / moment names the library picture; the mass message form keeps
the uploaded id in its row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from haina.core import clock
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.tenancy.service import get_or_create_tenant
from haina.engage.media.models import EngageImage
from haina.engage.moments.models import Moment
from haina.engage.welcome.models import WelcomeMessage
from haina.web.app import create_app
from tests.browser import launch, needs_chromium, serving, sign_in
from tests.conftest import make_settings
from tests.engage.media.samples import png_bytes
from tests.factories import PASSWORD

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Database, Path]]:
    clock.freeze(NOW)
    url = f"sqlite:///{tmp_path / 'images.db'}"
    upgrade(url)
    settings = make_settings(tmp_path, database_url=url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, "haina-demo", "海纳美妆旗舰店")
        create_user(session, tenant.id, NewUser("yunying", "运营 小李", "operator", PASSWORD), settings)
    picture = tmp_path / "cover.png"
    picture.write_bytes(png_bytes(30, 20))
    app = create_app(settings, database, start_workers=False)
    try:
        with serving(app) as base_url:
            yield base_url, database, picture
    finally:
        database.dispose()


def test_pictures_are_uploaded_from_the_forms(server: tuple[str, Database, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, database, picture = server
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900}).new_page()
        sign_in(page, url, "yunying", PASSWORD, "/engage/welcome/new")

        page.fill("input[name=name]", "图片欢迎语")
        page.check("input[name=scope][value=default]")
        page.click("[data-add-attachment=image]")
        page.locator("[data-attachment=image] [data-image-file]").set_input_files(str(picture))
        expect(page.locator("[data-attachment=image] [data-image-thumbnail]")).to_be_visible()
        expect(page.locator("[data-preview-card=image] img")).to_be_visible()
        page.click("[data-save-welcome]")
        page.wait_for_url(url + "/engage/welcome")

        with database.session_factory() as session:
            [image_id] = list(session.scalars(select(EngageImage.id)))
            [attachments] = list(session.scalars(select(WelcomeMessage.attachments)))
        assert attachments == [{"type": "image", "image_id": image_id}]

        page.goto(url + "/engage/moments/new")
        page.fill("[data-moment-text]", "新品上市")
        page.locator("[data-moment-pictures] [data-image-file]").set_input_files(str(picture))
        expect(page.locator("[data-moment-picture] img")).to_be_visible()
        expect(page.locator("[data-preview-pictures] img")).to_have_count(1)
        page.click("[data-save-draft]")
        page.wait_for_url(url + "/engage/moments/*")
        with database.session_factory() as session:
            [moment_attachments] = list(session.scalars(select(Moment.attachments)))
        assert moment_attachments == [{"kind": "image", "image_id": image_id}]  # same bytes, same picture

        page.goto(url + "/engage/broadcasts/new")
        row = page.locator("[data-attachment]").first
        row.locator("[data-attachment-kind]").select_option("image")
        row.locator("[data-image-file]").set_input_files(str(picture))
        expect(row.locator("[data-image-thumbnail]")).to_be_visible()
        expect(row.locator("[data-image-id]")).to_have_value(image_id)
        browser.close()
