"""The WeCom emulator over HTTP, as a connector sees it: tokens, faults, paging, tags, contact
ways, groups, welcome and mass messages, the archive pull, OAuth, and pushed callbacks that a
loopback receiver decrypts with the shared WXBizMsgCrypt."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from haina.core import clock
from haina.platforms.wecom.crypto import WXBizMsgCrypt, xml_fields
from haina.platforms.wecom.errors import ArchiveSdkError
from haina.sandbox.emulators import wecom_contacts
from haina.sandbox.emulators.wecom import (
    SandboxDecryptor,
    build_router,
    deliver,
    generate_archive_key_pair,
    push_log,
    revoke_tokens,
    set_api_changes_push,
    set_archive_public_key,
    set_synchronous_push,
    simulate_add_contact,
    simulate_delete_contact,
    simulate_edit_contact,
    simulate_scan_contact_way,
    wait_for_pushes,
)
from haina.sandbox.emulators.wecom_push import Callback
from haina.sandbox.emulators.wecom_store import scratch
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import (
    ChatMessage,
    CorpTag,
    CorpTagGroup,
    ExternalContact,
    FollowUser,
    GroupChat,
    GroupMember,
    Staff,
    World,
)

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
CORP_ID = "wwsandbox0001"
SECRET = "customer-contact-secret"
CALLBACK_TOKEN = "callbacktoken"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
BASE = "/sandbox/wecom"


# -- factories -------------------------------------------------------------------------------


def make_contact(
    number: int, followers: tuple[str, ...] = ("rocky",), tag_ids: tuple[str, ...] = ()
) -> ExternalContact:
    return ExternalContact(
        external_userid=f"wmContact{number:04d}",
        person_id=f"person-{number}",
        name=f"客户{number}",
        type=1,
        gender=number % 3,
        unionid=f"union-{number}" if number % 2 else "",
        avatar=f"https://avatar.invalid/{number}",
        follow_users=[
            FollowUser(
                userid=userid,
                remark=f"备注{number}",
                description="",
                createtime=START - timedelta(days=number),
                tag_ids=list(tag_ids),
                remark_mobiles=["13800000000"],
            )
            for userid in followers
        ],
        created_at=START - timedelta(days=number),
    )


def make_tag_group() -> CorpTagGroup:
    return CorpTagGroup(
        group_id="etGroupSkin",
        group_name="肤质",
        order=1,
        create_time=START,
        tags=[
            CorpTag(tag_id="etTagDry", name="干性", order=2, create_time=START),
            CorpTag(tag_id="etTagOily", name="油性", order=1, create_time=START),
            CorpTag(tag_id="etTagGone", name="已删除", order=0, create_time=START, deleted=True),
        ],
    )


def make_group_chat(number: int, owner: str = "rocky", status: int = 0) -> GroupChat:
    return GroupChat(
        chat_id=f"wrChat{number:03d}",
        name=f"会员群{number}",
        owner=owner,
        create_time=START,
        notice="欢迎",
        status=status,
        members=[
            GroupMember(userid=owner, type=1, join_time=START),
            GroupMember(userid="wmContact0001", type=2, join_time=START, join_scene=3, unionid="union-1"),
        ],
        admin_list=[owner],
    )


def make_world(contacts: int = 3) -> World:
    world = World(
        seed=7,
        merchant_name="海纳美妆",
        corp_id=CORP_ID,
        corp_secret=SECRET,
        callback_token=CALLBACK_TOKEN,
        callback_aes_key=AES_KEY,
        staff=[Staff("rocky", "罗琪", "13900000001"), Staff("tommy", "汤米", "13900000002", department=2)],
        tag_groups=[make_tag_group()],
    )
    world.contacts = [make_contact(number, tag_ids=("etTagDry",)) for number in range(1, contacts + 1)]
    world.groups = [make_group_chat(1)]
    return world


class WeComApi:
    """A thin connector stand-in: fetches a token and calls the emulator like WeCom."""

    def __init__(self, state: SandboxState) -> None:
        self.router = build_router(state)
        app = FastAPI()
        app.include_router(self.router, prefix=BASE)
        self.http = TestClient(app)
        self.state = state
        self._token = ""

    def token(self) -> str:
        if not self._token:
            answer = self.http.get(
                f"{BASE}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}
            )
            self._token = answer.json()["access_token"]
        return self._token

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        params.setdefault("access_token", self.token())
        return self.http.get(f"{BASE}{path}", params=params).json()

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        return self.http.post(
            f"{BASE}{path}", params={"access_token": token or self.token()}, json=body
        ).json()


class Receiver:
    """A Haina webhook stand-in on loopback that answers with scripted statuses (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
                receiver.requests.append((query, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/wecom/1?tenant=demo"

    def events(self) -> list[dict[str, Any]]:
        """Every received push, checked and decrypted the way Haina must do it."""
        crypt = WXBizMsgCrypt(CALLBACK_TOKEN, AES_KEY, CORP_ID)
        opened = []
        for query, body in self.requests:
            assert xml_fields(body)["ToUserName"] == CORP_ID
            inner = crypt.decrypt_message(body, query["msg_signature"], query["timestamp"], query["nonce"])
            opened.append(xml_fields(inner))
        return opened

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(START)
    try:
        yield
    finally:
        clock.freeze(None)


@pytest.fixture
def state() -> SandboxState:
    sandbox = SandboxState(world=make_world())
    return sandbox


@pytest.fixture
def api(state: SandboxState) -> WeComApi:
    client = WeComApi(state)
    set_synchronous_push(state)
    scratch(state)["push_retry_delay"] = 0
    return client


@pytest.fixture
def receiver(state: SandboxState) -> Iterator[Receiver]:
    server = Receiver()
    state.push_targets["wecom"] = server.url
    try:
        yield server
    finally:
        server.close()


# -- tokens and faults -----------------------------------------------------------------------


def test_gettoken_with_the_corp_secret_gives_a_7200_second_token(api: WeComApi) -> None:
    answer = api.http.get(f"{BASE}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}).json()
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert answer["expires_in"] == 7200
    assert (
        api.get("/cgi-bin/externalcontact/list", userid="rocky", access_token=answer["access_token"])[
            "errcode"
        ]
        == 0
    )


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"corpid": CORP_ID, "corpsecret": "wrong"}, 40001),
        ({"corpid": "wwother", "corpsecret": SECRET}, 40013),
        ({"corpsecret": SECRET}, 41002),
        ({"corpid": CORP_ID}, 41004),
    ],
)
def test_gettoken_refuses_wrong_credentials(api: WeComApi, params: dict[str, str], errcode: int) -> None:
    response = api.http.get(f"{BASE}/cgi-bin/gettoken", params=params)
    assert response.status_code == 200  # WeCom reports errors in the body
    assert response.json()["errcode"] == errcode
    assert (
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}" in response.json()["errmsg"]
    )


def test_a_live_token_is_handed_out_again_with_its_remaining_time(api: WeComApi) -> None:
    first = api.token()
    clock.advance(timedelta(seconds=1000))
    again = api.http.get(f"{BASE}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}).json()
    assert again["access_token"] == first
    assert again["expires_in"] == 6200


def test_wrong_missing_and_expired_tokens_get_wecom_errors(api: WeComApi) -> None:
    assert api.get("/cgi-bin/externalcontact/list", userid="rocky", access_token="forged")["errcode"] == 40014
    assert api.http.get(f"{BASE}/cgi-bin/externalcontact/list?userid=rocky").json()["errcode"] == 41001
    token = api.token()
    clock.advance(timedelta(seconds=7199))
    assert api.get("/cgi-bin/externalcontact/list", userid="rocky")["errcode"] == 0
    clock.advance(timedelta(seconds=1))
    assert api.get("/cgi-bin/externalcontact/list", userid="rocky")["errcode"] == 42001
    renewed = api.http.get(
        f"{BASE}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET}
    ).json()
    assert renewed["access_token"] != token
    assert (
        api.get("/cgi-bin/externalcontact/list", userid="rocky", access_token=renewed["access_token"])[
            "errcode"
        ]
        == 0
    )


def test_revoked_tokens_answer_40014(api: WeComApi, state: SandboxState) -> None:
    api.token()
    revoke_tokens(state)
    assert api.get("/cgi-bin/externalcontact/list", userid="rocky")["errcode"] == 40014


def test_a_throttle_fault_answers_45009_and_an_error_fault_http_500(
    api: WeComApi, state: SandboxState
) -> None:
    token = api.token()
    state.faults.set("wecom", FaultPlan(throttle_rate=1.0))
    throttled = api.get("/cgi-bin/externalcontact/list", userid="rocky", access_token=token)
    assert throttled["errcode"] == 45009
    assert throttled["errmsg"].startswith("api freq out of limit")
    gettoken = api.http.get(f"{BASE}/cgi-bin/gettoken", params={"corpid": CORP_ID, "corpsecret": SECRET})
    assert gettoken.json()["errcode"] == 45009
    state.faults.set("wecom", FaultPlan(error_rate=1.0))
    failed = api.http.get(
        f"{BASE}/cgi-bin/externalcontact/list", params={"access_token": token, "userid": "rocky"}
    )
    assert failed.status_code == 500
    assert failed.json()["errcode"] == -1
    state.faults.clear("wecom")
    assert api.get("/cgi-bin/externalcontact/list", userid="rocky", access_token=token)["errcode"] == 0


def _token_routes(api: WeComApi) -> list[tuple[str, str]]:
    routes = []
    for route in api.router.routes:
        is_api = isinstance(route, APIRoute) and route.path.startswith(("/cgi-bin/", "/msgaudit/"))
        if is_api and route.path != "/cgi-bin/gettoken":
            routes.append((next(iter(route.methods)), route.path))
    return routes


def test_every_api_route_wants_a_token_and_honours_faults(api: WeComApi, state: SandboxState) -> None:
    routes = _token_routes(api)
    assert len(routes) >= 14  # a new route is covered here automatically
    for method, path in routes:
        answer = api.http.request(method, f"{BASE}{path}", json={})
        assert answer.json()["errcode"] == 41001, path
        forged = api.http.request(method, f"{BASE}{path}", params={"access_token": "forged"}, json={})
        assert forged.json()["errcode"] == 40014, path
    token = api.token()
    state.faults.set("wecom", FaultPlan(throttle_rate=1.0))
    for method, path in routes:
        answer = api.http.request(method, f"{BASE}{path}", params={"access_token": token}, json={})
        assert answer.json()["errcode"] == 45009, path


def test_a_body_that_is_not_json_is_a_data_format_error(api: WeComApi) -> None:
    answer = api.http.post(
        f"{BASE}/cgi-bin/externalcontact/get_corp_tag_list",
        params={"access_token": api.token()},
        content=b"{oops",
    )
    assert answer.json()["errcode"] == 47001
    # The token is checked before the body is read.
    unauthorised = api.http.post(f"{BASE}/cgi-bin/externalcontact/get_corp_tag_list", content=b"{oops")
    assert unauthorised.json()["errcode"] == 41001


# -- customers -------------------------------------------------------------------------------


def test_list_returns_every_customer_of_a_member(api: WeComApi) -> None:
    answer = api.get("/cgi-bin/externalcontact/list", userid="rocky")
    assert answer["external_userid"] == ["wmContact0001", "wmContact0002", "wmContact0003"]
    assert api.get("/cgi-bin/externalcontact/list", userid="nobody")["errcode"] == 60111
    assert api.get("/cgi-bin/externalcontact/list", userid="tommy")["errcode"] == 84061


def test_get_renders_the_customer_and_follow_users_with_tag_names(api: WeComApi) -> None:
    answer = api.get("/cgi-bin/externalcontact/get", external_userid="wmContact0001")
    contact = answer["external_contact"]
    assert contact == {
        "external_userid": "wmContact0001",
        "name": "客户1",
        "avatar": "https://avatar.invalid/1",
        "type": 1,
        "gender": 1,
        "unionid": "union-1",
    }
    (follow_user,) = answer["follow_user"]
    assert follow_user["userid"] == "rocky"
    assert follow_user["createtime"] == int((START - timedelta(days=1)).timestamp())
    assert follow_user["tags"] == [
        {"group_name": "肤质", "tag_name": "干性", "tag_id": "etTagDry", "type": 1}
    ]
    assert follow_user["remark_mobiles"] == ["13800000000"]
    assert "next_cursor" not in answer
    assert (
        "unionid"
        not in api.get("/cgi-bin/externalcontact/get", external_userid="wmContact0002")["external_contact"]
    )
    assert api.get("/cgi-bin/externalcontact/get", external_userid="wmNobody")["errcode"] == 40096
    assert api.get("/cgi-bin/externalcontact/get")["errcode"] == 41035


def test_get_pages_follow_users_with_a_cursor(
    api: WeComApi, state: SandboxState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wecom_contacts, "FOLLOW_USER_PAGE_SIZE", 2)
    followers = tuple(f"member{number}" for number in range(5))
    state.world.staff += [Staff(userid, userid, "1") for userid in followers]
    state.add("contacts", make_contact(50, followers=followers))
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        answer = api.get("/cgi-bin/externalcontact/get", external_userid="wmContact0050", cursor=cursor)
        seen += [follow_user["userid"] for follow_user in answer["follow_user"]]
        cursor = answer.get("next_cursor", "")
        if not cursor:
            break
    assert seen == list(followers)


def _crawl(api: WeComApi, userids: list[str], limit: int) -> list[tuple[str, str]]:
    records: list[tuple[str, str]] = []
    cursor = ""
    for _ in range(1000):
        answer = api.post(
            "/cgi-bin/externalcontact/batch/get_by_user",
            {"userid_list": userids, "cursor": cursor, "limit": limit},
        )
        assert answer["errcode"] == 0, answer
        assert len(answer["external_contact_list"]) <= limit
        for record in answer["external_contact_list"]:
            records.append((record["follow_info"]["userid"], record["external_contact"]["external_userid"]))
        cursor = answer["next_cursor"]
        if not cursor:
            return records
    raise AssertionError("the crawl never ended")


@pytest.mark.parametrize("limit", [1, 7, 100])
def test_batch_get_by_user_returns_every_record_exactly_once(
    api: WeComApi, state: SandboxState, limit: int
) -> None:
    state.world.contacts = [
        make_contact(
            number,
            followers=("rocky", "tommy")
            if number % 3 == 0
            else ("tommy",)
            if number % 3 == 1
            else ("rocky",),
        )
        for number in range(1, 24)
    ]
    state.notify("contacts", state.world.contacts[0])
    expected = {
        (follow_user.userid, contact.external_userid)
        for contact in state.world.contacts
        for follow_user in contact.follow_users
    }
    records = _crawl(api, ["rocky", "tommy"], limit)
    assert len(records) == len(set(records)) == len(expected)
    assert set(records) == expected


def test_a_crawl_stays_exact_while_customers_are_added(api: WeComApi, state: SandboxState) -> None:
    first = api.post("/cgi-bin/externalcontact/batch/get_by_user", {"userid_list": ["rocky"], "limit": 2})
    served = [record["external_contact"]["external_userid"] for record in first["external_contact_list"]]
    state.add("contacts", make_contact(99))  # sorts after the cursor, so it is served too
    state.add("contacts", make_contact(0))  # sorts before it: it comes by callback instead
    rest = api.post(
        "/cgi-bin/externalcontact/batch/get_by_user",
        {"userid_list": ["rocky"], "limit": 100, "cursor": first["next_cursor"]},
    )
    served += [record["external_contact"]["external_userid"] for record in rest["external_contact_list"]]
    assert served == ["wmContact0001", "wmContact0002", "wmContact0003", "wmContact0099"]


def test_batch_get_by_user_checks_its_limits(api: WeComApi) -> None:
    path = "/cgi-bin/externalcontact/batch/get_by_user"
    assert api.post(path, {"userid_list": ["rocky"], "limit": 101})["errcode"] == 40058
    assert api.post(path, {"userid_list": [f"u{n}" for n in range(101)]})["errcode"] == 40058
    assert api.post(path, {"userid_list": ["rocky"], "cursor": "%%%garbage"})["errcode"] == 50100
    assert api.post(path, {"userid_list": []})["errcode"] == 41009
    follow_info = api.post(path, {"userid_list": ["rocky"]})["external_contact_list"][0]["follow_info"]
    assert follow_info["tag_id"] == ["etTagDry"]
    assert follow_info["oper_userid"] == "rocky"


# -- corp tags -------------------------------------------------------------------------------


def test_get_corp_tag_list_filters_like_wecom(api: WeComApi) -> None:
    everything = api.post("/cgi-bin/externalcontact/get_corp_tag_list", {})["tag_group"]
    assert [tag["id"] for tag in everything[0]["tag"]] == ["etTagDry", "etTagOily"]
    assert "deleted" not in everything[0]
    by_tag = api.post("/cgi-bin/externalcontact/get_corp_tag_list", {"tag_id": ["etTagGone"]})["tag_group"]
    assert by_tag[0]["tag"] == [
        {
            "id": "etTagGone",
            "name": "已删除",
            "create_time": int(START.timestamp()),
            "order": 0,
            "deleted": True,
        }
    ]
    both = api.post(
        "/cgi-bin/externalcontact/get_corp_tag_list", {"tag_id": ["etTagGone"], "group_id": ["etGroupSkin"]}
    )["tag_group"]
    assert [tag["id"] for tag in both[0]["tag"]] == ["etTagDry", "etTagOily"]  # group_id wins


def test_add_corp_tag_creates_or_reuses_a_group(api: WeComApi, state: SandboxState) -> None:
    created = api.post(
        "/cgi-bin/externalcontact/add_corp_tag",
        {"group_name": "渠道", "order": 3, "tag": [{"name": "门店A"}, {"name": "直播间", "order": 5}]},
    )
    assert created["errcode"] == 0
    group = created["tag_group"]
    assert group["group_name"] == "渠道" and group["order"] == 3
    assert [tag["name"] for tag in group["tag"]] == ["门店A", "直播间"]
    assert all(tag["id"].startswith("et") for tag in group["tag"])
    reused = api.post(
        "/cgi-bin/externalcontact/add_corp_tag", {"group_name": "渠道", "tag": [{"name": "门店B"}]}
    )
    assert reused["tag_group"]["group_id"] == group["group_id"]
    duplicate = api.post(
        "/cgi-bin/externalcontact/add_corp_tag", {"group_id": group["group_id"], "tag": [{"name": "门店A"}]}
    )
    assert duplicate["errcode"] == 40071
    unknown = api.post(
        "/cgi-bin/externalcontact/add_corp_tag", {"group_id": "etNope", "tag": [{"name": "x"}]}
    )
    assert unknown["errcode"] == 40068
    listed = api.post("/cgi-bin/externalcontact/get_corp_tag_list", {"group_id": [group["group_id"]]})
    assert [tag["name"] for tag in listed["tag_group"][0]["tag"]] == ["门店A", "直播间", "门店B"]


def test_mark_tag_changes_the_follow_users_tags(api: WeComApi) -> None:
    answer = api.post(
        "/cgi-bin/externalcontact/mark_tag",
        {
            "userid": "rocky",
            "external_userid": "wmContact0002",
            "add_tag": ["etTagOily"],
            "remove_tag": ["etTagDry"],
        },
    )
    assert answer == {"errcode": 0, "errmsg": "ok"}
    tags = api.get("/cgi-bin/externalcontact/get", external_userid="wmContact0002")["follow_user"][0]["tags"]
    assert [tag["tag_id"] for tag in tags] == ["etTagOily"]


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"userid": "rocky", "external_userid": "wmContact0001"}, 40058),
        ({"userid": "rocky", "external_userid": "wmContact0001", "add_tag": ["etTagGone"]}, 40068),
        ({"userid": "rocky", "external_userid": "wmContact0001", "add_tag": ["etMissing"]}, 40068),
        ({"userid": "tommy", "external_userid": "wmContact0001", "add_tag": ["etTagOily"]}, 84061),
        ({"userid": "ghost", "external_userid": "wmContact0001", "add_tag": ["etTagOily"]}, 60111),
        ({"userid": "rocky", "external_userid": "wmGhost", "add_tag": ["etTagOily"]}, 40096),
    ],
)
def test_mark_tag_refuses_what_wecom_refuses(api: WeComApi, body: dict[str, Any], errcode: int) -> None:
    assert api.post("/cgi-bin/externalcontact/mark_tag", body)["errcode"] == errcode


def test_api_changes_push_nothing_unless_the_sandbox_is_told_to(
    api: WeComApi, state: SandboxState, receiver: Receiver
) -> None:
    body = {"userid": "rocky", "external_userid": "wmContact0001", "add_tag": ["etTagOily"]}
    api.post("/cgi-bin/externalcontact/mark_tag", body)
    assert receiver.requests == []
    set_api_changes_push(state, True)
    api.post("/cgi-bin/externalcontact/mark_tag", {**body, "add_tag": [], "remove_tag": ["etTagOily"]})
    (event,) = receiver.events()
    assert (event["Event"], event["ChangeType"]) == ("change_external_contact", "edit_external_contact")
    api.post("/cgi-bin/externalcontact/add_corp_tag", {"group_name": "新组", "tag": [{"name": "新标签"}]})
    tag_event = receiver.events()[-1]
    assert (tag_event["Event"], tag_event["TagType"], tag_event["ChangeType"]) == (
        "change_external_tag",
        "tag_group",
        "create",
    )


# -- contact ways, groups --------------------------------------------------------------------


def test_a_contact_way_keeps_its_state_for_attribution(
    api: WeComApi, state: SandboxState, receiver: Receiver
) -> None:
    created = api.post(
        "/cgi-bin/externalcontact/add_contact_way",
        {
            "type": 2,
            "scene": 2,
            "state": "store-shanghai-01",
            "user": ["rocky"],
            "party": [2],
            "remark": "门店",
        },
    )
    assert created["errcode"] == 0 and len(created["config_id"]) == 32
    assert api.http.get(urlsplit(created["qr_code"]).path).headers["content-type"].startswith("image/png")
    way = api.post("/cgi-bin/externalcontact/get_contact_way", {"config_id": created["config_id"]})[
        "contact_way"
    ]
    assert isinstance(way, dict)
    assert way["state"] == "store-shanghai-01" and way["user"] == ["rocky", "tommy"] and way["qr_code"]
    assert state.scratch["wecom"]["contact_ways"][created["config_id"]]["state"] == "store-shanghai-01"

    first, _ = simulate_scan_contact_way(state, created["config_id"], make_contact(70, followers=()))
    second, _ = simulate_scan_contact_way(state, created["config_id"], make_contact(71, followers=()))
    assert (first, second) == ("rocky", "tommy")  # members take turns
    follow_user = api.get("/cgi-bin/externalcontact/get", external_userid="wmContact0070")["follow_user"][0]
    assert follow_user["state"] == "store-shanghai-01" and follow_user["add_way"] == 1
    event = receiver.events()[0]
    assert event["State"] == "store-shanghai-01" and event["WelcomeCode"]


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": 2, "user": ["rocky"]}, 41037),
        ({"type": 1, "user": ["rocky"]}, 41038),
        ({"type": 3, "scene": 2, "user": ["rocky"]}, 41039),
        ({"type": 1, "scene": 9, "user": ["rocky"]}, 41040),
        ({"type": 1, "scene": 2, "user": ["rocky"], "state": "x" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["rocky", "tommy"]}, 40058),
        ({"type": 1, "scene": 2, "user": ["ghost"]}, 60111),
    ],
)
def test_add_contact_way_validates(api: WeComApi, body: dict[str, Any], errcode: int) -> None:
    assert api.post("/cgi-bin/externalcontact/add_contact_way", body)["errcode"] == errcode


def test_get_contact_way_needs_a_known_config_id(api: WeComApi) -> None:
    assert api.post("/cgi-bin/externalcontact/get_contact_way", {})["errcode"] == 41043
    assert api.post("/cgi-bin/externalcontact/get_contact_way", {"config_id": "nope"})["errcode"] == 41044


def test_groupchat_list_pages_and_filters(api: WeComApi, state: SandboxState) -> None:
    state.world.groups = [
        make_group_chat(number, owner="rocky" if number % 2 else "tommy") for number in range(1, 8)
    ]
    seen: list[str] = []
    cursor = ""
    while True:
        answer = api.post("/cgi-bin/externalcontact/groupchat/list", {"cursor": cursor, "limit": 3})
        seen += [chat["chat_id"] for chat in answer["group_chat_list"]]
        cursor = answer["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == seen == [f"wrChat{number:03d}" for number in range(1, 8)]
    owned = api.post(
        "/cgi-bin/externalcontact/groupchat/list", {"limit": 100, "owner_filter": {"userid_list": ["tommy"]}}
    )
    assert [chat["chat_id"] for chat in owned["group_chat_list"]] == ["wrChat002", "wrChat004", "wrChat006"]
    assert api.post("/cgi-bin/externalcontact/groupchat/list", {"limit": 1001})["errcode"] == 40058


def test_groupchat_get_renders_members(api: WeComApi) -> None:
    chat = api.post("/cgi-bin/externalcontact/groupchat/get", {"chat_id": "wrChat001", "need_name": 1})[
        "group_chat"
    ]
    assert chat["owner"] == "rocky" and chat["admin_list"] == [{"userid": "rocky"}]
    staff_member, customer = chat["member_list"]
    assert (staff_member["type"], staff_member["name"]) == (1, "罗琪")
    assert (customer["type"], customer["unionid"], customer["name"], customer["join_scene"]) == (
        2,
        "union-1",
        "客户1",
        3,
    )
    assert chat["member_version"]
    assert api.post("/cgi-bin/externalcontact/groupchat/get", {"chat_id": "wrNope"})["errcode"] == 40050


# -- welcome and mass messages ---------------------------------------------------------------


def test_a_welcome_code_works_once_within_20_seconds(api: WeComApi, state: SandboxState) -> None:
    code = simulate_add_contact(state, make_contact(80), "rocky", "poster-1")
    assert code
    clock.advance(timedelta(seconds=20))
    first = api.post(
        "/cgi-bin/externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": "欢迎"}}
    )
    assert first["errcode"] == 0
    again = api.post(
        "/cgi-bin/externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": "欢迎"}}
    )
    assert again["errcode"] == 41051
    sent = state.scratch["wecom"]["welcome_messages"]
    assert [(message["userid"], message["external_userid"]) for message in sent] == [
        ("rocky", "wmContact0080")
    ]


def test_a_welcome_code_expires_after_20_seconds(api: WeComApi, state: SandboxState) -> None:
    code = simulate_add_contact(state, make_contact(81), "tommy")
    clock.advance(timedelta(seconds=21))
    late = api.post(
        "/cgi-bin/externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": "hi"}}
    )
    assert late["errcode"] == 41050
    path = "/cgi-bin/externalcontact/send_welcome_msg"
    assert api.post(path, {"welcome_code": "made-up", "text": {"content": "hi"}})["errcode"] == 41050
    assert api.post(path, {"text": {"content": "hi"}})["errcode"] == 41049


def test_no_welcome_code_when_wecom_would_send_none(state: SandboxState, api: WeComApi) -> None:
    assert simulate_add_contact(state, make_contact(82), "rocky", with_welcome_code=False) is None


def test_add_msg_template_records_the_mass_message(api: WeComApi, state: SandboxState) -> None:
    answer = api.post(
        "/cgi-bin/externalcontact/add_msg_template",
        {
            "chat_type": "single",
            "external_userid": ["wmContact0001", "wmContact0002", "wmGhost"],
            "sender": "rocky",
            "text": {"content": "双11 满199减30"},
            "attachments": [{"msgtype": "link", "link": {"title": "活动", "url": "https://shop.invalid"}}],
        },
    )
    assert answer["errcode"] == 0
    assert answer["fail_list"] == ["wmGhost"]
    recorded = state.scratch["wecom"]["mass_messages"][answer["msgid"]]
    assert [recipient["external_userid"] for recipient in recorded["recipients"]] == [
        "wmContact0001",
        "wmContact0002",
    ]
    assert recorded["text"] == {"content": "双11 满199减30"}


def test_add_msg_template_applies_the_tag_filter_and_needs_recipients(
    api: WeComApi, state: SandboxState
) -> None:
    state.world.contacts[2].follow_users[0].tag_ids = ["etTagOily"]
    filtered = api.post(
        "/cgi-bin/externalcontact/add_msg_template",
        {
            "sender": "rocky",
            "tag_filter": {"group_list": [{"tag_list": ["etTagOily"]}]},
            "text": {"content": "油皮专享"},
        },
    )
    recipients = state.scratch["wecom"]["mass_messages"][filtered["msgid"]]["recipients"]
    assert recipients == [{"userid": "rocky", "external_userid": "wmContact0003"}]
    nobody = api.post(
        "/cgi-bin/externalcontact/add_msg_template", {"sender": "tommy", "text": {"content": "x"}}
    )
    assert nobody["errcode"] == 41048
    empty = api.post("/cgi-bin/externalcontact/add_msg_template", {"sender": "rocky"})
    assert empty["errcode"] == 40058
    group = api.post(
        "/cgi-bin/externalcontact/add_msg_template",
        {"chat_type": "group", "sender": "rocky", "text": {"content": "群发"}},
    )
    assert state.scratch["wecom"]["mass_messages"][group["msgid"]]["recipients"] == [
        {"userid": "rocky", "chat_id": "wrChat001"}
    ]


# -- message archive -------------------------------------------------------------------------


def _archive_messages() -> list[ChatMessage]:
    def message(
        seq: int, msgtype: str, content: dict[str, Any], version: int, action: str = "send"
    ) -> ChatMessage:
        return ChatMessage(
            seq=seq,
            msgid=f"msg{seq}",
            action=action,
            sender="rocky",
            tolist=["wmContact0001"],
            roomid="",
            msgtime=START + timedelta(seconds=seq),
            msgtype=msgtype,
            content=content,
            publickey_ver=version,
        )

    return [
        message(1, "text", {"content": "您好，有什么可以帮您？"}, 1),
        message(2, "image", {"md5sum": "50de", "filesize": 70961, "sdkfileid": "opaque-1"}, 1),
        message(3, "revoke", {"pre_msgid": "msg1"}, 2, action="recall"),
        message(
            4, "docmsg", {"title": "价目表", "doc_creator": "rocky", "link_url": "https://doc.invalid"}, 2
        ),
        message(5, "switch", {}, 2, action="switch"),
    ]


@pytest.fixture(scope="module")
def archive_key_pairs() -> dict[int, tuple[str, str]]:
    return {1: generate_archive_key_pair(), 2: generate_archive_key_pair()}


def test_archive_pull_round_trips_across_two_key_versions(
    api: WeComApi, state: SandboxState, archive_key_pairs: dict[int, tuple[str, str]]
) -> None:
    state.world.messages = list(reversed(_archive_messages()))  # served in seq order regardless
    for version, (_, public_pem) in archive_key_pairs.items():
        set_archive_public_key(state, version, public_pem)
    private_keys = {version: private_pem for version, (private_pem, _) in archive_key_pairs.items()}
    decryptor = SandboxDecryptor()
    opened: list[dict[str, Any]] = []
    seq = 0
    while True:
        answer = api.post("/msgaudit/get_chat_data", {"seq": seq, "limit": 2})
        assert answer["errcode"] == 0
        if not answer["chatdata"]:
            break
        for item in answer["chatdata"]:
            assert set(item) == {"seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg"}
            opened.append(decryptor.decrypt_item(item, private_keys))
        seq = answer["chatdata"][-1]["seq"]
    assert [message["msgid"] for message in opened] == ["msg1", "msg2", "msg3", "msg4", "msg5"]
    assert opened[0] == {
        "msgid": "msg1",
        "action": "send",
        "from": "rocky",
        "tolist": ["wmContact0001"],
        "roomid": "",
        "msgtime": int((START + timedelta(seconds=1)).timestamp() * 1000),
        "msgtype": "text",
        "text": {"content": "您好，有什么可以帮您？"},
    }
    assert opened[2]["action"] == "recall" and opened[2]["revoke"] == {"pre_msgid": "msg1"}
    assert opened[3]["doc"]["title"] == "价目表"
    assert opened[4] == {"msgid": "msg5", "action": "switch", "time": opened[4]["time"], "user": "rocky"}


def test_archive_decrypt_fails_with_the_wrong_key_or_version(
    api: WeComApi, state: SandboxState, archive_key_pairs: dict[int, tuple[str, str]]
) -> None:
    state.world.messages = _archive_messages()[:1]
    set_archive_public_key(state, 1, archive_key_pairs[1][1])
    (item,) = api.post("/msgaudit/get_chat_data", {"seq": 0, "limit": 10})["chatdata"]
    decryptor = SandboxDecryptor()
    with pytest.raises(ArchiveSdkError) as missing:
        decryptor.decrypt_item(item, {2: archive_key_pairs[2][0]})
    assert missing.value.code == 10007
    with pytest.raises(ArchiveSdkError) as wrong:
        decryptor.decrypt_item(item, {1: archive_key_pairs[2][0]})
    assert wrong.value.code in (10006, 10008)
    with pytest.raises(ArchiveSdkError) as garbled:
        decryptor.decrypt_data("some-key", item["encrypt_chat_msg"])
    assert garbled.value.code == 10006


def test_archive_pull_checks_its_parameters_and_keys(api: WeComApi, state: SandboxState) -> None:
    state.world.messages = _archive_messages()
    assert api.post("/msgaudit/get_chat_data", {"seq": 0, "limit": 1001})["errcode"] == 10000
    assert api.post("/msgaudit/get_chat_data", {"seq": -1, "limit": 10})["errcode"] == 10000
    assert (
        api.post("/msgaudit/get_chat_data", {"seq": 0, "limit": 10})["errcode"] == 10004
    )  # no key registered
    assert api.post("/msgaudit/get_chat_data", {"seq": 5, "limit": 10}) == {
        "errcode": 0,
        "errmsg": "ok",
        "chatdata": [],
    }


# -- OAuth -----------------------------------------------------------------------------------


def test_oauth_code_names_the_member_once(api: WeComApi) -> None:
    redirect = api.http.get(
        f"{BASE}/connect/oauth2/authorize",
        params={
            "appid": CORP_ID,
            "redirect_uri": "https://haina.invalid/sidebar?x=1",
            "state": "s1",
            "userid": "tommy",
        },
        follow_redirects=False,
    )
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    query = parse_qs(location.query)
    assert location.netloc == "haina.invalid" and query["x"] == ["1"] and query["state"] == ["s1"]
    code = query["code"][0]
    assert api.get("/cgi-bin/auth/getuserinfo", code=code) == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "tommy",
    }
    assert api.get("/cgi-bin/auth/getuserinfo", code=code)["errcode"] == 40029


# -- pushed callbacks ------------------------------------------------------------------------


def test_an_added_customer_is_pushed_encrypted_and_signed(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    code = simulate_add_contact(state, make_contact(90), "rocky", "live-room")
    (query, body) = receiver.requests[0]
    assert set(query) >= {"msg_signature", "timestamp", "nonce", "tenant"}
    assert query["timestamp"] == str(int(START.timestamp()))
    (event,) = receiver.events()
    assert event == {
        "ToUserName": CORP_ID,
        "FromUserName": "sys",
        "CreateTime": str(int(START.timestamp())),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "rocky",
        "ExternalUserID": "wmContact0090",
        "State": "live-room",
        "WelcomeCode": code,
    }
    assert push_log(state)[-1]["delivered"] is True


def test_notified_contact_changes_become_wecom_events(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    contact = make_contact(91, followers=("rocky",))
    state.add("contacts", contact)
    contact.follow_users[0].remark = "VIP"
    state.notify("contacts", contact)
    contact.follow_users[0].remark_mobiles = ["13911112222"]  # WeCom pushes nothing for this alone
    state.notify("contacts", contact)
    simulate_edit_contact(state, "wmContact0091", "rocky", add_tags=["etTagOily"])
    simulate_add_contact(state, contact, "tommy")
    simulate_delete_contact(state, "wmContact0091", "tommy", by_customer=True)
    state.world.contacts.remove(contact)
    state.notify("contacts", contact)
    changes = [(event["ChangeType"], event["UserID"]) for event in receiver.events()]
    assert changes == [
        ("add_external_contact", "rocky"),
        ("edit_external_contact", "rocky"),
        ("edit_external_contact", "rocky"),
        ("add_external_contact", "tommy"),
        ("del_follow_user", "tommy"),
        ("del_external_contact", "rocky"),
    ]


def test_group_and_tag_changes_become_wecom_events(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    chat = state.world.groups[0]
    chat.members.append(GroupMember(userid="wmContact0002", type=2, join_time=START, join_scene=3))
    chat.name = "会员群（新）"
    state.notify("groups", chat)
    state.add("groups", make_group_chat(2))
    state.world.groups.remove(chat)
    state.notify("groups", chat)
    group = state.world.tag_groups[0]
    group.tags.append(CorpTag(tag_id="etTagNew", name="混合", order=3, create_time=START))
    group.tags[0].name = "干皮"
    state.notify("tag_groups", group)
    events = receiver.events()
    chat_events = [
        (e["ChangeType"], e.get("UpdateDetail", "")) for e in events if e["Event"] == "change_external_chat"
    ]
    assert chat_events == [
        ("update", "change_name"),
        ("update", "add_member"),
        ("create", ""),
        ("dismiss", ""),
    ]
    joined = next(e for e in events if e.get("UpdateDetail") == "add_member")
    assert (
        joined["MemChangeList"] == ["wmContact0002"]
        and joined["MemChangeCnt"] == "1"
        and joined["JoinScene"] == "3"
    )
    assert joined["LastMemVer"] != joined["CurMemVer"]
    tag_events = [
        (e["Id"], e.get("TagType"), e["ChangeType"]) for e in events if e["Event"] == "change_external_tag"
    ]
    assert tag_events == [("etTagDry", "tag", "update"), ("etTagNew", "tag", "create")]


def test_a_push_is_retried_until_the_receiver_answers_200(state: SandboxState, api: WeComApi) -> None:
    server = Receiver(statuses=(500, 503))
    state.push_targets["wecom"] = server.url
    try:
        result = deliver(state, Callback("msgaudit_notify", []), retry_delay=0)
        assert result.delivered and result.attempts == 3 and result.statuses == [500, 503, 200]
        bodies = {body for _, body in server.requests}
        assert len(server.requests) == 3 and len(bodies) == 1  # the same message each time
        assert server.events()[0]["Event"] == "msgaudit_notify"
    finally:
        server.close()


def test_a_push_gives_up_after_three_tries(state: SandboxState, api: WeComApi) -> None:
    server = Receiver(statuses=(500, 500, 500, 200))
    state.push_targets["wecom"] = server.url
    try:
        result = deliver(state, Callback("msgaudit_notify", []), retry_delay=0)
        assert not result.delivered and result.attempts == 3 and len(server.requests) == 3
    finally:
        server.close()


def test_an_unreachable_receiver_is_tried_three_times(state: SandboxState, api: WeComApi) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state.push_targets["wecom"] = f"http://127.0.0.1:{port}/webhook"
    result = deliver(state, Callback("msgaudit_notify", []), retry_delay=0)
    assert not result.delivered and result.attempts == 3
    assert all(isinstance(status, str) for status in result.statuses)


def test_a_dropped_push_never_reaches_the_receiver(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    state.faults.set("wecom", FaultPlan(drop_push_rate=1.0))
    simulate_add_contact(state, make_contact(92), "rocky")
    assert receiver.requests == []
    assert push_log(state)[-1]["dropped"] is True
    assert state.faults.counts["wecom"]["dropped_push"] == 1


def test_pushes_go_out_in_the_background_in_order(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    set_synchronous_push(state, False)
    for number in range(93, 96):
        simulate_add_contact(state, make_contact(number), "rocky")
    assert wait_for_pushes(state, timeout=30)
    assert [event["ExternalUserID"] for event in receiver.events()] == [
        "wmContact0093",
        "wmContact0094",
        "wmContact0095",
    ]


def test_building_the_router_twice_pushes_once(
    state: SandboxState, api: WeComApi, receiver: Receiver
) -> None:
    build_router(state)
    simulate_add_contact(state, make_contact(96), "rocky")
    state.notify("contacts", state.world.contacts[-1])
    assert len(receiver.requests) == 1
