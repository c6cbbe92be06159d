"""Group live codes through the REST API and the console pages (HTTP), against the WeCom
emulator: create with a pool chosen from the corp's groups, list with fill counts, refresh,
statistics, the QR download as PNG, the console form and its errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haina.connections import wecom_corps
from haina.core.database import Database
from haina.core.settings import Settings
from haina.sandbox.emulators.wecom_join_ways import join_way, simulate_join_via_join_way
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.engage.groupcodes.test_wecom_flow import customer, new_group
from tests.factories import TenantFixture, bearer, token_for
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp

BASE = "/api/v1/engage/group-codes"


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


def test_rest_and_console(client, tenant: TenantFixture, corp: Corp) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(token_for(client, tenant.usernames["operator"]))
    first, second = new_group(corp, "会员福利群1"), new_group(corp, "会员福利群2")

    groups = client.get(f"{BASE}/groups", headers=headers)
    assert groups.status_code == 200
    assert {first, second} <= {group["chat_id"] for group in groups.json()}

    created = client.post(
        BASE, headers=headers, json={"name": "会员福利群", "member_limit": 2, "chat_ids": [first, second]}
    )
    assert created.status_code == 201, created.text
    code = created.json()
    assert code["listed_chat_ids"] == [first, second]
    assert [(group["chat_id"], group["members"], group["is_listed"]) for group in code["pool"]] == [
        (first, 1, True),
        (second, 1, True),
    ]

    assert simulate_join_via_join_way(corp.sandbox.state, code["config_id"], customer(1)) == first
    refreshed = client.post(f"{BASE}/{code['id']}/refresh", headers=headers).json()
    assert refreshed["listed_chat_ids"] == [second]
    assert refreshed["pool"][0]["is_full"] and refreshed["joins"] == 1
    assert join_way(corp.sandbox.state, code["config_id"])["chat_id_list"] == [second]

    stats = client.get(f"{BASE}/{code['id']}/stats?days=7", headers=headers).json()
    assert stats["total"] == 1 and len(stats["days"]) == 7
    assert stats["groups"] == [{"chat_id": first, "name": "会员福利群1", "joins": 1}]

    patched = client.patch(f"{BASE}/{code['id']}", headers=headers, json={"member_limit": 5})
    assert patched.status_code == 200 and patched.json()["listed_chat_ids"] == [first, second]
    bad = client.post(BASE, headers=headers, json={"name": "x", "chat_ids": [first], "is_auto_create": True})
    assert bad.status_code == 422 and "room_base_name" in bad.text
    assert client.post(BASE, headers=headers, json={"name": "x", "chat_ids": []}).status_code == 422

    listing = client.get(BASE, headers=headers).json()["items"]
    assert [item["id"] for item in listing] == [code["id"]]

    # Console: the list shows fill bars, the code page its charts, the QR downloads as PNG.
    page = client.get("/engage/group-codes", headers=headers)
    assert page.status_code == 200
    assert f'data-chat-id="{first}" data-members="2"' in page.text and "会员福利群" in page.text
    detail = client.get(f"/engage/group-codes/{code['id']}", headers=headers)
    assert detail.status_code == 200 and 'data-echarts="group-code-daily-option"' in detail.text
    image = client.get(f"/engage/group-codes/{code['id']}/qr.png", headers=headers)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")

    form = client.get("/engage/group-codes/new", headers=headers)
    assert form.status_code == 200 and f'value="{second}"' in form.text
    refused = client.post(
        "/engage/group-codes/new",
        headers=headers,
        data={"name": "门店群", "member_limit": "180", "chat_ids": [first], "is_auto_create": "1"},
        follow_redirects=False,
    )
    assert refused.status_code == 422 and "开启自动建群时请填写新群名称前缀" in refused.text
    saved = client.post(
        "/engage/group-codes/new",
        headers=headers,
        data={"name": "门店群", "member_limit": "180", "chat_ids": [second, first]},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    new_id = saved.headers["location"].split("/")[-1].split("?")[0]
    assert client.get(f"{BASE}/{new_id}", headers=headers).json()["chat_ids"] == [second, first]

    assert client.delete(f"{BASE}/{new_id}", headers=headers).status_code == 204
    assert client.get(f"{BASE}/{new_id}", headers=headers).status_code == 404
