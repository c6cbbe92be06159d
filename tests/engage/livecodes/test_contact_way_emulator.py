"""The emulator's contact-way endpoints and the remark endpoint through Haina's typed WeCom calls
(haina/platforms/wecom/contact_ways.py): create, read (an object), update, list with a cursor,
delete, the QR route serving a real PNG that points at the sandbox scan page, and the remark
written on the member's follow relation; WeCom's error codes where the input is wrong."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from haina.connections import wecom_corps
from haina.core.database import Database
from haina.core.settings import Settings
from haina.platforms.http import PlatformError
from haina.platforms.wecom import contact_ways
from haina.platforms.wecom.client import WeComClient
from haina.sandbox.emulators.wecom_store import scratch
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox
from tests.wecom_corp import Corp, connected_corp


@pytest.fixture
def quiet_corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[tuple[Corp, WeComClient]]:
    try:
        with (
            connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as corp,
            database.session_factory() as session,
        ):
            found = wecom_corps.first_corp(session, tenant.id)
            assert found is not None
            yield corp, found.client
    finally:
        wecom_corps.forget_clients()


def test_contact_way_life_cycle(quiet_corp: tuple[Corp, WeComClient]) -> None:
    corp, client = quiet_corp
    first, second = (member.userid for member in corp.world.staff[:2])
    made = [contact_ways.add_contact_way(client, users=[first], state=f"hntest{n}") for n in range(3)]
    way = contact_ways.get_contact_way(client, made[0].config_id)
    assert way["state"] == "hntest0" and way["user"] == [first] and way["type"] == 2 and "scans" not in way

    contact_ways.update_contact_way(client, made[0].config_id, users=[first, second], skip_verify=False)
    way = contact_ways.get_contact_way(client, made[0].config_id)
    assert way["user"] == [first, second] and way["skip_verify"] is False and way["state"] == "hntest0"

    assert sorted(contact_ways.list_contact_way(client, limit=2)) == sorted(item.config_id for item in made)

    image = httpx.get(made[0].qr_code)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as png:
        assert png.format == "PNG" and png.size[0] == png.size[1] >= 200
    scan_page = httpx.get(made[0].qr_code.replace("/contact_way_qr/", "/scan/"))
    assert scan_page.status_code == 200 and "已添加成员" in scan_page.text
    assert scratch(corp.sandbox.state)["contact_ways"][made[0].config_id]["scans"] == 1

    contact_ways.del_contact_way(client, made[0].config_id)
    with pytest.raises(PlatformError) as gone:
        contact_ways.get_contact_way(client, made[0].config_id)
    assert gone.value.code == "41044"
    with pytest.raises(PlatformError) as unknown_member:
        contact_ways.update_contact_way(client, made[1].config_id, users=["nobody-here"])
    assert unknown_member.value.code in ("40003", "60111")
    with pytest.raises(PlatformError) as long_state:
        contact_ways.update_contact_way(client, made[1].config_id, state="x" * 31)
    assert long_state.value.code == "40058"


def test_remark_is_written_on_the_follow_relation(quiet_corp: tuple[Corp, WeComClient]) -> None:
    corp, client = quiet_corp
    contact = next(c for c in corp.world.contacts if c.follow_users)
    userid = contact.follow_users[0].userid
    contact_ways.set_remark(
        client, userid, contact.external_userid, remark="门店前台-1124", description="扫码添加"
    )
    follow = corp.contact(contact.external_userid).follow_users[0]
    assert (follow.remark, follow.description) == ("门店前台-1124", "扫码添加")
    stranger = next(
        m.userid for m in corp.world.staff if all(f.userid != m.userid for f in contact.follow_users)
    )
    with pytest.raises(PlatformError) as not_following:
        contact_ways.set_remark(client, stranger, contact.external_userid, remark="x")
    assert not_following.value.code == "84061"
    with pytest.raises(PlatformError) as too_long:
        client.post(
            "/cgi-bin/externalcontact/remark",
            {"userid": userid, "external_userid": contact.external_userid, "remark": "长" * 21},
        )
    assert too_long.value.code == "40058"
