"""The scripts library: Chinese search through the jieba index (ranking by matched words, then
use count; scene filter), use counts, the REST API's permissions, the console pages, and the
sidebar panel an agent uses beside a chat (customer name filled into {客户昵称})."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.database import Database
from haina.core.errors import InvalidInput
from haina.core.settings import Settings
from haina.customers.identity.models import Customer
from haina.engage.scripts import service
from haina.engage.scripts.models import ScriptWord
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import PASSWORD, TenantFixture, bearer, token_for

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")


def library(database: Database, tenant: TenantFixture) -> dict[str, str]:
    """Scenes and scripts; answers title → id."""
    actor = owner(tenant)
    ids = {}
    with database.unit_of_work() as session:
        scenes = {scene.name: scene.id for scene in service.ensure_default_scenes(session, actor)}
        for scene, title, content, keywords in (
            ("售后安抚", "退款流程说明", "{客户昵称}您好，申请售后后 1-3 个工作日原路退回。", []),
            ("售后安抚", "使用后皮肤不适", "如出现过敏反应请立即停用，我们为您办理退换。", []),
            ("售前咨询", "退款政策速览", "七天无理由，退款运费由我们承担。", ["退款"]),
            ("催付", "下单未付款提醒", "{客户昵称}，您拍下的宝贝还没有付款哦。", ["催付"]),
            ("复购提醒", "面霜回购", "老客回购享第二件半价。", ["复购"]),
        ):
            script = service.create_script(
                session,
                actor,
                service.ScriptInput(title=title, scene_id=scenes[scene], content=content, keywords=keywords),
            )
            ids[title] = script.id
        ids.update({f"scene:{name}": scene_id for name, scene_id in scenes.items()})
    return ids


def titles(database: Database, tenant: TenantFixture, query: str, scene_id: str | None = None) -> list[str]:
    with database.unit_of_work() as session:
        return [s.title for s in service.search(session, tenant.id, query, scene_id=scene_id)]


def test_chinese_search_finds_words_inside_longer_words_and_ranks(
    database: Database, tenant: TenantFixture
) -> None:
    ids = library(database, tenant)
    # 退款 is inside 退款流程说明 (title) and 退款政策速览 (title, keyword and body).
    assert set(titles(database, tenant, "退款")) == {"退款流程说明", "退款政策速览"}
    # 过敏 is in 过敏反应, deep in a body.
    assert titles(database, tenant, "过敏") == ["使用后皮肤不适"]
    assert titles(database, tenant, "物流") == []
    # Traditional characters are searched as simplified ones.
    assert titles(database, tenant, "過敏") == ["使用后皮肤不适"]
    # Equal matches: the more used first; a use moves 退款流程说明 ahead.
    with database.unit_of_work() as session:
        for _ in range(3):
            service.record_use(session, tenant.id, ids["退款流程说明"])
    assert titles(database, tenant, "退款") == ["退款流程说明", "退款政策速览"]
    # More matched words beat more uses: 退款 + 运费 is only in 退款政策速览.
    assert titles(database, tenant, "退款 运费")[0] == "退款政策速览"
    # The scene filter.
    assert titles(database, tenant, "退款", ids["scene:售前咨询"]) == ["退款政策速览"]
    # No query: the scene's scripts, most used first.
    assert titles(database, tenant, "", ids["scene:售后安抚"])[0] == "退款流程说明"


def test_editing_reindexes_and_deleting_drops_the_index(database: Database, tenant: TenantFixture) -> None:
    ids = library(database, tenant)
    actor = owner(tenant)
    with database.unit_of_work() as session:
        service.update_script(
            session, actor, ids["面霜回购"], service.ScriptInput(title="面霜回购", content="换季保湿推荐")
        )
    assert titles(database, tenant, "保湿") == ["面霜回购"]
    assert titles(database, tenant, "半价") == []
    with database.unit_of_work() as session:
        service.delete_script(session, actor, ids["面霜回购"])
    with database.unit_of_work() as session:
        left = session.scalars(select(ScriptWord).where(ScriptWord.script_id == ids["面霜回购"])).all()
    assert left == []
    with database.unit_of_work() as session, pytest.raises(InvalidInput):
        service.create_script(
            session, actor, service.ScriptInput(title="空", kind="link", link_url="ftp://x")
        )


def test_rest_api_searches_records_uses_and_guards_changes(
    client: TestClient, database: Database, tenant: TenantFixture
) -> None:
    ids = library(database, tenant)
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    operator = bearer(token_for(client, tenant.usernames["operator"]))
    found = client.get("/api/v1/engage/scripts", params={"q": "过敏"}, headers=agent)
    assert found.status_code == 200, found.text
    assert [s["title"] for s in found.json()] == ["使用后皮肤不适"]
    for expected in (1, 2):
        used = client.post(f"/api/v1/engage/scripts/{ids['使用后皮肤不适']}/uses", headers=agent)
        assert used.status_code == 200 and used.json()["use_count"] == expected
    # Agents use the library; changing it is marketing's.
    body = {"title": "新话术", "content": "您好"}
    assert client.post("/api/v1/engage/scripts", json=body, headers=agent).status_code == 403
    created = client.post("/api/v1/engage/scripts", json=body, headers=operator)
    assert created.status_code == 201, created.text
    scenes = client.get("/api/v1/engage/scripts/scenes", headers=agent).json()
    assert [s["name"] for s in scenes] == ["售前咨询", "售后安抚", "催付", "复购提醒"]
    assert (
        client.post("/api/v1/engage/scripts/scenes", json={"name": "售后安抚"}, headers=operator).status_code
        == 422
    )


def sign_in(client: TestClient, username: str, next_path: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return token


def test_console_library_search_and_editor(
    client: TestClient, database: Database, tenant: TenantFixture
) -> None:
    ids = library(database, tenant)
    sign_in(client, tenant.usernames["operator"], "/engage/scripts")
    page = client.get("/engage/scripts")
    assert page.status_code == 200
    assert 'data-scene-name="催付"' in page.text and "退款流程说明" in page.text
    partial = client.get(
        "/engage/scripts", params={"q": "过敏", "part": "list"}, headers={"HX-Request": "true"}
    )
    assert partial.status_code == 200 and "<html" not in partial.text
    assert re.findall(r'data-title="([^"]+)"', partial.text) == ["使用后皮肤不适"]
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    saved = client.post(
        "/engage/scripts/new",
        data={
            "csrf_token": csrf,
            "title": "直播预告",
            "scene_id": ids["scene:复购提醒"],
            "content": "今晚八点直播",
            "keywords": "直播，预告",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert titles(database, tenant, "直播") == ["直播预告"]
    assert client.get(f"/engage/scripts/{ids['面霜回购']}/edit").status_code == 200


@pytest.fixture
def followed(database: Database, settings: Settings, tenant: TenantFixture) -> str:
    """A customer 陈晓 followed by the agent's WeCom userid."""
    clock.freeze(NOW)
    store(
        database,
        settings,
        tenant.id,
        [
            order(
                "YZ-1", buyer_id="yz-chen", unionid="union-chen", phone="13812345678", name="陈晓", days=10
            ),
            contact("wm-chen", name="晓晓", unionid="union-chen", mobiles=("13812345678",), staff="guide01"),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        session.execute(update(User).where(User.id == tenant.users["agent"]).values(wecom_userid="guide01"))
        customer = session.scalars(select(Customer).where(Customer.tenant_id == tenant.id)).one()
        customer.display_name = "陈晓"
        return customer.id


def test_sidebar_panel_renders_for_an_agent_with_the_name_filled(
    client: TestClient, database: Database, tenant: TenantFixture, followed: str
) -> None:
    ids = library(database, tenant)
    sign_in(client, tenant.usernames["agent"], "/")
    page = client.get("/engage/scripts/sidebar", params={"customer_id": followed})
    assert page.status_code == 200, page.text
    assert "陈晓您好，申请售后后" in page.text and "{客户昵称}" not in page.text
    message = re.search(rf'data-send-script="{ids["退款流程说明"]}" data-message="([^"]+)"', page.text)
    assert message is not None
    payload = json.loads(message.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    assert payload == {"msgtype": "text", "text": {"content": "陈晓您好，申请售后后 1-3 个工作日原路退回。"}}
    # The HTMX search swaps only the results.
    results = client.get(
        "/engage/scripts/sidebar",
        params={"customer_id": followed, "q": "催付", "part": "results"},
        headers={"HX-Request": "true"},
    )
    assert re.findall(r'data-title="([^"]+)"', results.text) == ["下单未付款提醒"]
    assert "<html" not in results.text
    # The customer's sidebar includes the panel.
    sidebar = client.get("/sidebar/customer", params={"external_userid": "wm-chen"})
    assert f'hx-get="/engage/scripts/sidebar?customer_id={followed}"' in sidebar.text
    # A use from the panel (console session, CSRF header).
    csrf = re.search(r'data-csrf="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    used = client.post(f"/engage/scripts/{ids['退款流程说明']}/use", headers={"X-CSRF-Token": csrf})
    assert used.status_code == 200 and used.json()["use_count"] == 1
    # A customer the agent does not follow: the library still works, with the default address.
    other = client.get("/engage/scripts/sidebar", params={"customer_id": "0" * 32})
    assert other.status_code == 200 and "亲您好，申请售后后" in other.text


def test_demo_seeds_are_idempotent(database: Database, tenant: TenantFixture) -> None:
    from haina.engage.moments import demo as moments_demo
    from haina.engage.moments import service as moments
    from haina.engage.scripts import demo as scripts_demo

    for _ in range(2):
        with database.unit_of_work() as session:
            scripts_demo.seed(session, tenant.id, None)
            moments_demo.seed(session, tenant.id, None)
    with database.unit_of_work() as session:
        assert len(service.search(session, tenant.id, "", limit=100)) == len(scripts_demo.SCRIPTS)
        rows = moments.list_moments(session, tenant.id)
    assert titles(database, tenant, "退款") == ["退款流程说明"]
    assert sorted((row.moment.status, row.published, row.total) for row in rows) == [
        ("draft", 0, 0),
        ("sent", 3, 4),
    ]
