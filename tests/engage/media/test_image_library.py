"""The engage image library: uploads through the REST API (validated: jpg/png, ≤ 10 MB, really a
picture), previews, media_ids uploaded to the WeCom emulator over loopback HTTP and reused for
2.5 days, the emulator's media checks, and a welcome message whose picture reaches the emulator
through the real webhook path as a media_id the emulator knows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import haina.engage.tasks  # noqa: F401 - registers the welcome handler
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.engage.media import service
from haina.engage.media.models import EngageImageUpload, Purpose
from haina.engage.welcome import service as welcome
from haina.engage.welcome.models import Scope, SendStatus, WelcomeSend
from haina.platforms.http import PlatformError
from haina.platforms.wecom import media as wecom_media
from haina.platforms.wecom import welcome as wecom_welcome
from haina.sandbox.emulators.wecom import simulate_add_contact
from haina.sandbox.emulators.wecom_media import find_media, media_store
from haina.sandbox.emulators.wecom_welcome import welcome_messages
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ExternalContact
from tests.engage.media.samples import png_bytes
from tests.factories import TenantFixture, bearer, make_tenant, token_for
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain

BASE = "/api/v1/engage/images"
START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店长", "owner")


def gif_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3, 3), (255, 0, 0)).save(buffer, format="GIF")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


# ── the REST API ─────────────────────────────────────────────────────────────────────────────


def test_upload_preview_and_tenant_isolation(
    client: TestClient, database: Database, settings: Settings
) -> None:
    home, other = make_tenant(database, settings), make_tenant(database, settings)
    token = bearer(token_for(client, home.usernames["operator"]))
    picture = png_bytes(20, 10)
    created = client.post(BASE, files={"media": ("海报.png", picture, "image/png")}, headers=token)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["content_type"], body["width"], body["height"], body["size"]) == (
        "海报.png",
        "image/png",
        20,
        10,
        len(picture),
    )
    again = client.post(BASE, files={"media": ("copy.png", picture, "image/png")}, headers=token)
    assert again.json()["id"] == body["id"]  # the same bytes are kept once

    preview = client.get(body["url"], headers=token)
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "image/png" and preview.content == picture

    stranger = bearer(token_for(client, other.usernames["operator"]))
    assert client.get(body["url"], headers=stranger).status_code == 404
    agent = bearer(token_for(client, home.usernames["agent"]))
    assert client.get(body["url"], headers=agent).status_code == 403


@pytest.mark.parametrize(
    ("upload", "code", "words"),
    [
        (("notes.png", b"this is not a picture at all", "image/png"), "image_invalid", "not a picture"),
        (("anim.gif", gif_bytes(), "image/gif"), "image_wrong_type", "jpg or png"),
        (("anim.png", gif_bytes(), "image/png"), "image_wrong_type", "jpg or png"),
        (("empty.png", b"", "image/png"), "image_empty", "empty"),
    ],
)
def test_invalid_uploads_are_refused_with_the_reason(
    client: TestClient,
    database: Database,
    settings: Settings,
    upload: tuple[str, bytes, str],
    code: str,
    words: str,
) -> None:
    tenant = make_tenant(database, settings)
    token = bearer(token_for(client, tenant.usernames["operator"]))
    answer = client.post(BASE, files={"media": upload}, headers={**token, "Accept-Language": "en"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == code
    assert words in error["message"]


def test_a_picture_over_10_mb_is_refused(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    too_big = png_bytes() + b"\0" * (10 * 1024 * 1024)
    with database.unit_of_work() as session, pytest.raises(InvalidInput) as raised:
        service.store_image(session, owner(tenant), "big.png", too_big, "image/png")
    assert raised.value.status_code == 422 and raised.value.code == "image_too_large"
    assert "larger than 10 MB" in raised.value.message
    # Over HTTP the upload path takes up to settings.max_upload_bytes (11 MB), more than other
    # paths (max_body_bytes, 2 MB): a 3 MB picture is kept, a 10 MB one gets the library's own
    # answer, and a body over 11 MB is refused before it is read into memory.
    token = bearer(token_for(client, tenant.usernames["operator"]))
    three_mb = png_bytes() + b"\0" * (3 * 1024 * 1024)
    kept = client.post(BASE, files={"media": ("three.png", three_mb, "image/png")}, headers=token)
    assert kept.status_code in (200, 201), kept.text
    answer = client.post(BASE, files={"media": ("big.png", too_big, "image/png")}, headers=token)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "image_too_large"
    huge = png_bytes() + b"\0" * (12 * 1024 * 1024)
    answer = client.post(BASE, files={"media": ("huge.png", huge, "image/png")}, headers=token)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"


def test_a_jpeg_is_kept(database: Database, tenant: TenantFixture) -> None:
    with database.unit_of_work() as session:
        image = service.store_image(session, owner(tenant), "a.jpg", jpeg_bytes(), "")
        assert (image.content_type, image.width, image.height) == ("image/jpeg", 8, 6)
        with pytest.raises(InvalidInput):
            service.check_images(session, tenant.id, [image.id, "0" * 32])


# ── against the emulator ─────────────────────────────────────────────────────────────────────


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 12))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    clock.freeze(START)
    try:
        with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
            yield connected
    finally:
        wecom_corps.forget_clients()


def handle(database: Database, corp: Corp) -> wecom_corps.Corp:
    with database.session_factory() as session:
        found = wecom_corps.corp_by_connection(session, corp.tenant_id, corp.connection_id)
    assert found is not None
    return found


def stored_image(database: Database, tenant: TenantFixture, picture: bytes | None = None) -> str:
    with database.unit_of_work() as session:
        return service.store_image(
            session, owner(tenant), "cover.png", picture or png_bytes(), "image/png"
        ).id


def uploads(database: Database, tenant_id: str) -> int:
    with database.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(EngageImageUpload)
                .where(EngageImageUpload.tenant_id == tenant_id)
            )
            or 0
        )


def test_the_emulator_checks_what_is_uploaded(database: Database, tenant: TenantFixture, corp: Corp) -> None:
    client = handle(database, corp).client
    cases = [
        (lambda: wecom_media.upload_media(client, "sticker", "a.png", png_bytes(), "image/png"), 40004),
        (lambda: wecom_media.upload_image(client, "a.png", b"plain text, no picture", "image/png"), 40005),
        (lambda: wecom_media.upload_image(client, "a.gif", gif_bytes(), "image/gif"), 40005),
        (lambda: wecom_media.upload_image(client, "a.png", b"\0", "image/png"), 40006),
        (
            lambda: wecom_media.upload_attachment(client, "a.png", png_bytes(), "image/png", media_type=3),
            40004,
        ),
    ]
    for call, errcode in cases:
        with pytest.raises(PlatformError) as raised:
            call()
        assert str(raised.value.code) == str(errcode)
    uploaded = wecom_media.upload_image(client, "海报.png", png_bytes(), "image/png")
    kept = find_media(corp.sandbox.state, uploaded.media_id)
    assert kept is not None
    assert (kept["type"], kept["purpose"], kept["filename"], kept["width"]) == (
        "image",
        "media",
        "海报.png",
        4,
    )
    assert uploaded.created_at == START
    attachment = wecom_media.upload_attachment(client, "m.jpg", jpeg_bytes(), "image/jpeg")
    assert media_store(corp.sandbox.state)[attachment.media_id]["purpose"] == "attachment"


def test_media_ids_are_reused_for_two_and_a_half_days_then_uploaded_again(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    image_id = stored_image(database, tenant)
    with database.unit_of_work() as session:
        first = service.media_id_for(session, handle(database, corp), image_id, Purpose.MESSAGE)
    clock.advance(timedelta(days=2, hours=11))
    with database.unit_of_work() as session:
        assert service.media_id_for(session, handle(database, corp), image_id, Purpose.MESSAGE) == first
        moment_id = service.media_id_for(session, handle(database, corp), image_id, Purpose.MOMENT)
    assert moment_id != first  # moments need their own upload (upload_attachment)
    assert media_store(corp.sandbox.state)[moment_id]["purpose"] == "attachment"
    clock.advance(timedelta(hours=2))  # 2 days 13 hours after the first upload
    with database.unit_of_work() as session:
        second = service.media_id_for(session, handle(database, corp), image_id, Purpose.MESSAGE)
    assert second != first
    assert uploads(database, tenant.id) == 3
    kept = find_media(corp.sandbox.state, second)
    assert kept is not None and kept["content"] == png_bytes()


def test_the_emulator_refuses_an_expired_or_unknown_media_id(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    client = handle(database, corp).client
    staff = corp.world.staff[0].userid
    old = wecom_media.upload_image(client, "a.png", png_bytes(), "image/png").media_id
    clock.advance(timedelta(days=3, seconds=1))
    for media_id in (old, "never-uploaded"):
        code = simulate_add_contact(corp.sandbox.state, fan(1 if media_id == old else 2), staff, "")
        assert code
        with pytest.raises(PlatformError) as raised:
            wecom_welcome.send_welcome_msg(
                client, code, "您好", [{"msgtype": "image", "image": {"media_id": media_id}}]
            )
        assert str(raised.value.code) == "40007"
    fresh = wecom_media.upload_image(client, "a.png", png_bytes(), "image/png").media_id
    code = simulate_add_contact(corp.sandbox.state, fan(3), staff, "")
    assert code
    # The code was not used up by the refusals above: a good id goes through.
    wecom_welcome.send_welcome_msg(client, code, "您好", [{"msgtype": "image", "image": {"media_id": fresh}}])
    assert welcome_messages(corp.sandbox.state)[-1]["attachments"][0]["image"]["media_id"] == fresh


def fan(number: int) -> ExternalContact:
    return ExternalContact(
        external_userid=f"wmMediaFan{number:04d}",
        person_id=f"p-media-{number}",
        name="林小满",
        type=1,
        gender=2,
        unionid=f"union-media-{number}",
        avatar="",
    )


def test_a_welcome_message_with_a_library_picture_reaches_wecom_as_a_media_id(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    image_id = stored_image(database, tenant)
    with database.unit_of_work() as session:
        welcome.create_message(
            session,
            owner(tenant),
            welcome.MessageInput(
                name="默认",
                scope=Scope.DEFAULT,
                text="欢迎光临",
                attachments=[{"type": "image", "image_id": image_id}],
            ),
        )
    staff = corp.world.staff[0].userid
    simulate_add_contact(corp.sandbox.state, fan(1), staff, "")
    drain(database)
    simulate_add_contact(corp.sandbox.state, fan(2), staff, "")
    drain(database)

    first, second = welcome_messages(corp.sandbox.state)
    media_id = first["attachments"][0]["image"]["media_id"]
    kept = find_media(corp.sandbox.state, media_id)
    assert kept is not None and kept["purpose"] == "media" and kept["content"] == png_bytes()
    assert second["attachments"] == first["attachments"]  # the upload was reused
    with database.session_factory() as session:
        statuses = list(session.scalars(select(WelcomeSend.status).where(WelcomeSend.tenant_id == tenant.id)))
    assert statuses == [SendStatus.SENT, SendStatus.SENT]
    assert uploads(database, tenant.id) == 1


def test_welcome_attachments_name_pictures_of_the_library(database: Database, tenant: TenantFixture) -> None:
    with database.unit_of_work() as session:
        with pytest.raises(InvalidInput) as raised:
            welcome.create_message(
                session,
                owner(tenant),
                welcome.MessageInput(
                    name="x", scope=Scope.DEFAULT, attachments=[{"type": "image", "image_id": "0" * 32}]
                ),
            )
        assert raised.value.code == "image_not_found_in_library"
        with pytest.raises(InvalidInput):
            welcome.create_message(
                session,
                owner(tenant),
                welcome.MessageInput(name="x", scope=Scope.DEFAULT, attachments=[{"type": "image"}]),
            )
        legacy = welcome.create_message(
            session,
            owner(tenant),
            welcome.MessageInput(
                name="y", scope=Scope.DEFAULT, attachments=[{"type": "image", "media_id": "MEDIA"}]
            ),
        )
        assert legacy.attachments == [{"type": "image", "media_id": "MEDIA"}]
