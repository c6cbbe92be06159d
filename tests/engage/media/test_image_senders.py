"""Pictures of the image library in a mass message and in a customer moment, sent to the WeCom
emulator over loopback HTTP: the broadcast carries a media/upload media_id, the moment an
upload_attachment one (the emulator refuses a media/upload id there)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from haina.connections import wecom_corps
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.broadcasts import service as broadcasts
from haina.engage.broadcasts.models import BroadcastStatus, TargetKind
from haina.engage.media import service as media
from haina.engage.moments import service as moments
from haina.engage.moments.models import MomentStatus
from haina.platforms.http import PlatformError
from haina.platforms.wecom import media as wecom_media
from haina.platforms.wecom import moments as wecom_moments
from haina.sandbox.emulators.wecom_groupmsg import mass_messages
from haina.sandbox.emulators.wecom_media import find_media
from haina.sandbox.emulators.wecom_moments import moments_state
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.engage.broadcasts.builders import tagged_segment, wecom_customers
from tests.engage.media.samples import png_bytes
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import serve
from tests.wecom_corp import Corp, connected_corp

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")


@pytest.fixture
def corp(database: Database, settings: Settings, tenant: TenantFixture) -> Iterator[Corp]:
    clock.freeze(START)
    try:
        with (
            serve(SandboxState(generate_world(7, 12))) as sandbox,
            connected_corp(database, settings, tenant.id, sandbox) as connected,
        ):
            yield connected
    finally:
        wecom_corps.forget_clients()


def stored_image(database: Database, tenant: TenantFixture) -> str:
    with database.unit_of_work() as session:
        return media.store_image(session, owner(tenant), "cover.png", png_bytes(6, 6), "image/png").id


def test_a_broadcast_sends_its_picture_as_a_media_id(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    audience = tagged_segment(database, tenant, wecom_customers(database, corp)[:3])
    image_id = stored_image(database, tenant)
    with database.unit_of_work() as session:
        broadcast = broadcasts.create_broadcast(
            session,
            owner(tenant),
            broadcasts.BroadcastInput(
                title="上新",
                text="冬季新品到店",
                attachments=[{"kind": "image", "image_id": image_id}],
                target_kind=TargetKind.SEGMENT,
                segment_id=audience.segment_id,
            ),
        )
        assert broadcast.attachments == [{"kind": "image", "image_id": image_id}]
        sent = broadcasts.send_now(session, owner(tenant), broadcast.id)
        assert sent.status == BroadcastStatus.SENT, sent.error
    messages = mass_messages(corp.sandbox.state)
    assert messages
    media_ids = {message["attachments"][0]["image"]["media_id"] for message in messages}
    assert len(media_ids) == 1  # one upload, reused for every sender
    kept = find_media(corp.sandbox.state, media_ids.pop())
    assert kept is not None and kept["purpose"] == "media" and kept["content"] == png_bytes(6, 6)


def test_a_moment_sends_its_picture_as_an_upload_attachment_id(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    image_id = stored_image(database, tenant)
    with database.unit_of_work() as session:
        moment = moments.create_moment(
            session,
            owner(tenant),
            moments.MomentInput(text="新品上市", attachments=[{"kind": "image", "image_id": image_id}]),
        )
        sent = moments.send_moment(session, owner(tenant), moment.id)
        assert sent.status == MomentStatus.SENDING, sent.error
    [recorded] = moments_state(corp.sandbox.state)["moments"].values()
    [attachment] = recorded["attachments"]
    assert attachment["msgtype"] == "image"
    kept = find_media(corp.sandbox.state, attachment["image"]["media_id"])
    assert kept is not None and kept["purpose"] == "attachment"

    # WeCom's rule, as the emulator plays it: a media/upload id does not do for a moment.
    with database.session_factory() as session:
        handle = wecom_corps.first_corp(session, tenant.id)
    assert handle is not None
    message_id = wecom_media.upload_image(handle.client, "a.png", png_bytes(), "image/png").media_id
    with pytest.raises(PlatformError) as raised:
        wecom_moments.add_moment_task(
            handle.client, text="x", attachments=[wecom_moments.attachment("image", media_id=message_id)]
        )
    assert str(raised.value.code) == "40007"
