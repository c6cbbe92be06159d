"""The emulator's join way endpoints answer WeCom's way: validation errors by errcode, the QR
image as PNG, and a scan into a full pool without auto-create refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from haina.connections import wecom_corps
from haina.core.database import Database
from haina.core.settings import Settings
from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors, join_ways
from haina.sandbox.emulators.wecom_join_ways import set_group_member_cap, simulate_join_via_join_way
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.engage.groupcodes.test_wecom_flow import customer, new_group
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
        yield connected
    wecom_corps.forget_clients()


def test_join_way_endpoints_validate_like_wecom(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    with database.session_factory() as session:
        found = wecom_corps.first_corp(session, tenant.id)
    assert found is not None
    client = found.client
    chats = [new_group(corp, f"测试群{n}") for n in range(6)]
    fields = {
        "remark": "测试",
        "auto_create_room": False,
        "room_base_name": "",
        "room_base_id": 1,
        "state": "s1",
    }

    def refused(call: object, **overrides: object) -> str:
        with pytest.raises(PlatformError) as raised:
            call(client, **{**fields, **overrides})  # type: ignore[operator]
        return raised.value.code

    assert refused(join_ways.add_join_way, chat_ids=[]) == str(errors.INVALID_PARAMETER)
    assert refused(join_ways.add_join_way, chat_ids=chats) == str(errors.INVALID_PARAMETER)  # six
    assert refused(join_ways.add_join_way, chat_ids=["wrNoSuchChat"]) == str(errors.INVALID_CHAT_ID)
    assert refused(join_ways.add_join_way, chat_ids=chats[:1], state="s" * 31) == str(
        errors.INVALID_PARAMETER
    )
    assert refused(join_ways.add_join_way, chat_ids=chats[:1], auto_create_room=True) == str(
        errors.INVALID_PARAMETER
    )

    config_id = join_ways.add_join_way(client, **{**fields, "chat_ids": chats[:2]})  # type: ignore[arg-type]
    way = join_ways.get_join_way(client, config_id)
    assert (way.chat_ids, way.state, way.scene, way.auto_create_room) == (chats[:2], "s1", 2, False)
    image = httpx.get(way.qr_code, timeout=10)
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")

    with pytest.raises(PlatformError) as raised:
        join_ways.get_join_way(client, "no-such-config")
    assert raised.value.code == str(errors.INVALID_CONFIG_ID)
    with pytest.raises(PlatformError) as raised:
        client.post("/cgi-bin/externalcontact/groupchat/del_join_way", {})
    assert raised.value.code == str(errors.MISSING_CONFIG_ID)

    # Both groups full by WeCom's cap and no auto-create: nobody can join.
    set_group_member_cap(corp.sandbox.state, 2)
    assert simulate_join_via_join_way(corp.sandbox.state, config_id, customer(1)) == chats[0]
    assert simulate_join_via_join_way(corp.sandbox.state, config_id, customer(2)) == chats[1]
    # Someone already inside goes back to their group.
    assert simulate_join_via_join_way(corp.sandbox.state, config_id, customer(1)) == chats[0]
    with pytest.raises(ValueError):
        simulate_join_via_join_way(corp.sandbox.state, config_id, customer(3))

    join_ways.delete_join_way(client, config_id)
    assert httpx.get(way.qr_code, timeout=10).status_code == 404
