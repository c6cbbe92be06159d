"""The Youzan emulator through HTTP: token grant, gateway, encrypted PII, faults and signed pushes."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.core import clock
from haina.core.clock import SHANGHAI
from haina.platforms.youzan import signing
from haina.sandbox.emulators import youzan
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Account, Coupon, Order, OrderLine, Refund, Shop, World

NOW = datetime(2024, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
START = NOW - timedelta(hours=20)
CLIENT_ID, CLIENT_SECRET = "c346b8b39599aaa677", "youzan-client-secret"
KDT_ID = 13027865
ORDERS = 23
PREFIX = "/sandbox/youzan"


# --- a tiny world -------------------------------------------------------------------------------


def make_account(number: int) -> Account:
    return Account(
        account_id=f"yz-acct-{number}",
        person_id=f"person-{number}",
        platform="youzan",
        shop_id=str(KDT_ID),
        buyer_id=f"yzopen{number:04d}",
        nickname=f"微信用户{number}",
        name="王小明",
        phone=f"1390013{number:04d}",
        province="上海市",
        city="上海市",
        district="徐汇区",
        address="漕溪北路 88 号",
        device_id=f"device-{number}",
        unionid=f"oUnion{number:04d}",
        created_at=START + timedelta(minutes=number),
    )


def make_order(number: int, modified_at: datetime, status: str = "paid", shop_id: str = str(KDT_ID)) -> Order:
    return Order(
        order_id=f"E2024030100000{number:04d}",
        platform="youzan",
        shop_id=shop_id,
        account_id=f"yz-acct-{number}",
        buyer_id=f"yzopen{number:04d}",
        status=status,
        created_at=modified_at - timedelta(minutes=30),
        modified_at=modified_at,
        lines=[
            OrderLine(f"oid{number}a", "sku-cream", "保湿面霜", 1, 12900, "CREAM-1"),
            OrderLine(f"oid{number}b", "sku-mask", "补水面膜 10 片", 3, 3333, "MASK-10"),
        ],
        total_fen=12900 + 3 * 3333,
        discount_fen=500,
        freight_fen=0,
        paid_fen=12900 + 3 * 3333 - 500,
        receiver_name="王小明",
        receiver_phone=f"1390013{number:04d}",
        province="上海市",
        city="上海市",
        district="徐汇区",
        address="漕溪北路 88 号",
        paid_at=modified_at - timedelta(minutes=20) if status != "pending_payment" else None,
    )


def make_world() -> World:
    world = World(
        seed=1,
        merchant_name="海纳美妆",
        corp_id="ww1",
        corp_secret="s",
        callback_token="t",
        callback_aes_key="a" * 43,
        shops=[
            Shop(str(KDT_ID), "youzan", "开业啦商城", CLIENT_ID, CLIENT_SECRET),
            Shop("tb1", "taobao", "淘宝店", "23456789", "taobao-secret"),
        ],
    )
    for number in range(ORDERS):
        world.accounts.append(make_account(number))
        world.orders.append(make_order(number, START + timedelta(minutes=41 * number, seconds=9)))
    world.coupons.append(
        Coupon(
            "cg1",
            "youzan",
            str(KDT_ID),
            "满 100 减 10",
            "threshold",
            10000,
            1000,
            0,
            START,
            NOW + timedelta(days=7),
            total=2,
        )
    )
    return world


def shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def state() -> Iterator[SandboxState]:
    clock.freeze(NOW)
    sandbox = SandboxState(world=make_world())
    sandbox.scratch["youzan"]["push_mode"] = "sync"
    yield sandbox
    clock.freeze(None)


@pytest.fixture
def client(state: SandboxState) -> TestClient:
    app = FastAPI()
    app.include_router(youzan.build_router(state), prefix=PREFIX)
    return TestClient(app)


def grant(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorize_type": "silent",
        "grant_id": str(KDT_ID),
        "refresh": False,
        **overrides,
    }
    return client.post(f"{PREFIX}/auth/token", json=body).json()


@pytest.fixture
def token(client: TestClient) -> str:
    return grant(client)["data"]["access_token"]


def api(client: TestClient, name: str, version: str, token: str, **params: Any) -> Any:
    response = client.post(f"{PREFIX}/api/{name}/{version}", params={"access_token": token}, json=params)
    return response


def keys(client: TestClient) -> dict[int, str]:
    timestamp = shanghai(clock.now())
    body = {
        "client_id": CLIENT_ID,
        "kdt_id": KDT_ID,
        "timestamp": timestamp,
        "sign": signing.encrypt_config_sign(CLIENT_ID, KDT_ID, timestamp, CLIENT_SECRET),
    }
    answer = client.post(
        f"{PREFIX}/api/auth_exempt/youzan.cloud.client.query.encryptconfig/1.0.0", json=body
    ).json()
    return {item["version"]: item["secretKey"] for item in answer["data"]["secretKeyInfoList"]}


def decrypt(client: TestClient, value: str) -> str:
    return signing.decrypt_field(value, keys(client)[signing.field_key_version(value)])


# --- token ------------------------------------------------------------------------------------


def test_silent_grant_and_reuse(client: TestClient) -> None:
    first = grant(client)
    assert first["success"] is True and first["code"] == 200
    data = first["data"]
    assert data["authority_id"] == str(KDT_ID)
    assert data["expires"] == int((NOW + youzan.TOKEN_LIFETIME).timestamp() * 1000)
    assert grant(client)["data"]["access_token"] == data["access_token"]  # silent hands back the live token
    assert grant(client, refresh=True)["data"]["access_token"] != data["access_token"]
    refreshed = grant(client, authorize_type="refresh_token", refresh_token=data["refresh_token"])
    assert refreshed["success"] is True


@pytest.mark.parametrize(
    "overrides",
    [{"client_secret": "wrong"}, {"client_id": "nobody"}, {"grant_id": "999"}, {"authorize_type": "magic"}],
)
def test_bad_grants_are_refused(client: TestClient, overrides: dict[str, Any]) -> None:
    answer = grant(client, **overrides)
    assert answer["success"] is False and answer["code"] != 200


def test_token_errors_use_the_gateway_envelope(client: TestClient, token: str) -> None:
    unknown = api(client, "youzan.trade.get", "4.0.0", "nope", tid="x").json()
    assert unknown == {
        "gw_err_resp": {"err_code": youzan.TOKEN_INVALID[0], "err_msg": youzan.TOKEN_INVALID[1]}
    }
    missing = client.post(f"{PREFIX}/api/youzan.trade.get/4.0.0", json={}).json()
    assert missing["gw_err_resp"]["err_code"] == youzan.TOKEN_INVALID[0]
    no_api = api(client, "youzan.nothing.here", "1.0.0", token).json()
    assert no_api["gw_err_resp"]["err_code"] == youzan.API_NOT_FOUND[0]
    clock.advance(youzan.TOKEN_LIFETIME)
    expired = api(client, "youzan.trades.sold.get", "4.0.2", token).json()
    assert expired["gw_err_resp"]["err_code"] == youzan.TOKEN_EXPIRED[0]


# --- trades -------------------------------------------------------------------------------------


def test_paging_returns_every_trade_exactly_once(client: TestClient, token: str) -> None:
    seen = []
    for page_no in range(1, 7):
        data = api(client, "youzan.trades.sold.get", "4.0.2", token, page_no=page_no, page_size=5).json()[
            "data"
        ]
        assert data["total_results"] == ORDERS
        seen += [item["full_order_info"]["order_info"]["tid"] for item in data["full_order_info_list"]]
    assert len(seen) == ORDERS == len(set(seen))
    over = api(client, "youzan.trades.sold.get", "4.0.2", token, page_no=101).json()
    assert over["success"] is False and over["code"] == youzan.PARAMETER_INVALID


def test_update_window_returns_exactly_the_trades_modified_in_it(client: TestClient, token: str) -> None:
    start = START + timedelta(minutes=41 * 4, seconds=9)
    end = START + timedelta(minutes=41 * 9, seconds=9)
    data = api(
        client,
        "youzan.trades.sold.get",
        "4.0.2",
        token,
        start_update=shanghai(start),
        end_update=shanghai(end),
        page_size=100,
    ).json()["data"]
    tids = [item["full_order_info"]["order_info"]["tid"] for item in data["full_order_info_list"]]
    assert sorted(tids) == [f"E2024030100000{n:04d}" for n in range(4, 10)]
    times = [item["full_order_info"]["order_info"]["update_time"] for item in data["full_order_info_list"]]
    assert times == sorted(times, reverse=True)
    too_wide = api(
        client,
        "youzan.trades.sold.get",
        "4.0.2",
        token,
        start_update=shanghai(START - timedelta(days=100)),
        end_update=shanghai(START),
    ).json()
    assert too_wide["success"] is False


def test_trade_get_shape_money_and_status(client: TestClient, token: str, state: SandboxState) -> None:
    order = state.world.orders[3]
    data = api(client, "youzan.trade.get", "4.0.0", token, tid=order.order_id).json()["data"]
    info = data["full_order_info"]
    assert info["order_info"]["status"] == "WAIT_SELLER_SEND_GOODS"
    assert info["order_info"]["update_time"] == shanghai(order.modified_at)
    assert info["pay_info"] == {
        "total_fee": "228.99",
        "post_fee": "0.00",
        "payment": "223.99",
        "transaction": [],
        "outer_transactions": [],
    }
    line_cents = sum(int(line["payment"].replace(".", "")) for line in info["orders"])
    assert line_cents == order.paid_fen
    assert info["buyer_info"]["yz_open_id"] == "yzopen0003"
    assert info["buyer_info"]["outer_user_id"] == "oUnion0003"
    assert data["order_promotion"]["order"][0]["discount_fee"] == "5.00"
    missing = api(client, "youzan.trade.get", "4.0.0", token, tid="E0").json()
    assert missing["success"] is False and missing["code"] == youzan.NOT_FOUND


def test_pii_fields_are_encrypted_and_decrypt_with_the_served_key(
    client: TestClient, token: str, state: SandboxState
) -> None:
    order = state.world.orders[7]
    info = api(client, "youzan.trade.get", "4.0.0", token, tid=order.order_id).json()["data"][
        "full_order_info"
    ]
    address = info["address_info"]
    for value in (
        address["receiver_name"],
        address["receiver_tel"],
        address["delivery_address"],
        info["buyer_info"]["buyer_phone"],
    ):
        assert signing.is_encrypted(value)
    assert decrypt(client, address["receiver_tel"]) == "13900130007"
    assert decrypt(client, address["receiver_name"]) == "王小明"
    assert address["delivery_city"] == "上海市"  # the region is not encrypted
    state.scratch["youzan"]["key_version"] = 2
    rotated = api(client, "youzan.trade.get", "4.0.0", token, tid=order.order_id).json()["data"][
        "full_order_info"
    ]
    assert signing.field_key_version(rotated["address_info"]["receiver_tel"]) == 2
    assert set(keys(client)) == {1, 2}
    assert decrypt(client, address["receiver_tel"]) == decrypt(
        client, rotated["address_info"]["receiver_tel"]
    )
    state.scratch["youzan"]["encrypt_pii"] = False
    plain = api(client, "youzan.trade.get", "4.0.0", token, tid=order.order_id).json()["data"][
        "full_order_info"
    ]
    assert plain["address_info"]["receiver_tel"] == "13900130007"


def test_key_query_checks_its_sign(client: TestClient) -> None:
    body = {"client_id": CLIENT_ID, "kdt_id": KDT_ID, "timestamp": "2024-03-02 12:00:00", "sign": "0" * 32}
    answer = client.post(
        f"{PREFIX}/api/auth_exempt/youzan.cloud.client.query.encryptconfig/1.0.0", json=body
    ).json()
    assert answer["success"] is False


# --- customers and coupons ---------------------------------------------------------------------


def test_customer_search_pages_and_get(client: TestClient, token: str) -> None:
    seen = []
    for page in range(1, 4):
        data = api(client, "youzan.scrm.customer.search", "3.0.0", token, page=page, page_size=10).json()[
            "data"
        ]
        assert data["total"] == ORDERS
        seen += [item["yz_open_id"] for item in data["items"]]
    assert sorted(seen) == sorted(f"yzopen{n:04d}" for n in range(ORDERS))
    window = api(
        client,
        "youzan.scrm.customer.list",
        "3.0.0",
        token,
        created_at_start=shanghai(START + timedelta(minutes=5)),
        created_at_end=shanghai(START + timedelta(minutes=7)),
    ).json()["data"]
    assert [item["yz_open_id"] for item in window["items"]] == ["yzopen0005", "yzopen0006", "yzopen0007"]
    detail = api(
        client,
        "youzan.scrm.customer.get",
        "3.0.0",
        token,
        account_type="YouZanAccount",
        account_id="yzopen0002",
    ).json()["data"]
    assert detail["trade_count"] == 1 and detail["area"]["county"] == "徐汇区"
    assert decrypt(client, detail["mobile"]) == "13900130002"


def test_coupon_take_issues_until_the_stock_runs_out(
    client: TestClient, token: str, state: SandboxState
) -> None:
    groups = api(client, "youzan.ump.coupons.unfinished.search", "3.0.0", token).json()["data"]
    assert groups[0]["group_id"] == "cg1" and groups[0]["stock"] == 2
    for number in range(2):
        taken = api(
            client,
            "youzan.ump.coupon.take",
            "3.0.0",
            token,
            coupon_group_id="cg1",
            yz_open_id=f"yzopen000{number}",
        )
        promocard = taken.json()["data"]["promocard"]
        assert (promocard["value"], promocard["condition"]) == ("10.00", "100.00")
    exhausted = api(
        client, "youzan.ump.coupon.take", "3.0.0", token, coupon_group_id="cg1", mobile="13900130000"
    ).json()
    assert exhausted["success"] is False and exhausted["code"] == youzan.COUPON_UNAVAILABLE
    assert state.world.coupons[0].issued == 2


# --- faults -------------------------------------------------------------------------------------


def test_throttle_and_error_faults(client: TestClient, token: str, state: SandboxState) -> None:
    state.faults.set("youzan", FaultPlan(throttle_rate=1.0))
    throttled = api(client, "youzan.trades.sold.get", "4.0.2", token)
    assert throttled.status_code == youzan.THROTTLED[0]
    assert throttled.json() == youzan.THROTTLED[1]
    state.scratch["youzan"]["throttle_status"] = 200
    state.scratch["youzan"]["throttle_body"] = {"success": False, "code": 4003, "message": "限流"}
    configured = api(client, "youzan.trades.sold.get", "4.0.2", token)
    assert (configured.status_code, configured.json()["message"]) == (200, "限流")
    state.faults.set("youzan", FaultPlan(error_rate=1.0))
    failed = api(client, "youzan.trades.sold.get", "4.0.2", token)
    assert failed.status_code == 500 and "gw_err_resp" in failed.json()
    state.faults.clear()
    assert api(client, "youzan.trades.sold.get", "4.0.2", token).json()["success"] is True


# --- pushes -------------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server that records what it is sent and can fail the first few posts."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failures_left = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k: v for k, v in self.headers.items()}, body))
                status = 500 if receiver.failures_left else 200
                receiver.failures_left = max(receiver.failures_left - 1, 0)
                answer = b'{"code":0,"msg":"success"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/youzan/push"

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver(state: SandboxState, client: TestClient) -> Iterator[Receiver]:
    receiver = Receiver()
    state.push_targets["youzan"] = receiver.url
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_body_style_push_verifies_and_carries_the_trade(state: SandboxState, receiver: Receiver) -> None:
    order = state.world.orders[2]
    state.notify("orders", order)
    [message] = receiver.messages()
    headers = receiver.received[0][0]
    assert "Event-Sign" not in headers
    assert signing.verify_push_sign(message, CLIENT_SECRET)
    assert message["sign"] == signing.push_sign(CLIENT_ID, message["msg"], CLIENT_SECRET)
    assert (message["type"], message["status"], message["id"]) == (
        "trade_TradePaid",
        "WAIT_SELLER_SEND_GOODS",
        order.order_id,
    )
    assert (message["kdt_id"], message["sendCount"], message["test"]) == (KDT_ID, 0, False)
    assert "%3A" in message["msg"]  # fully URL-encoded by default
    trade = json.loads(urllib.parse.unquote_plus(message["msg"]))
    assert trade["full_order_info"]["order_info"]["tid"] == order.order_id
    assert signing.is_encrypted(trade["full_order_info"]["address_info"]["receiver_tel"])
    assert not signing.verify_push_sign(dict(message, sign="0" * 32), CLIENT_SECRET)


def test_header_style_push_signs_the_raw_body(state: SandboxState, receiver: Receiver) -> None:
    state.scratch["youzan"]["push_style"] = "header"
    state.notify("orders", state.world.orders[0])
    headers, body = receiver.received[0]
    assert signing.verify_event_sign(body, headers["Event-Sign"], CLIENT_ID, CLIENT_SECRET)
    assert headers["Event-Type"] == "trade_TradePaid" and headers["Client-Id"] == CLIENT_ID
    message = json.loads(body)
    assert "sign" not in message
    assert json.loads(message["msg"])["full_order_info"]["order_info"]["status"] == "WAIT_SELLER_SEND_GOODS"
    assert not signing.verify_event_sign(body + b" ", headers["Event-Sign"], CLIENT_ID, CLIENT_SECRET)


def test_both_styles_and_legacy_msg_encoding(state: SandboxState, receiver: Receiver) -> None:
    state.scratch["youzan"].update(push_style="both", msg_encoding="legacy")
    order = state.world.orders[1]
    order.status = "refunded"
    state.notify("orders", order)
    headers, body = receiver.received[0]
    message = json.loads(body)
    assert signing.verify_push_sign(message, CLIENT_SECRET)
    assert signing.verify_event_sign(body, headers["Event-Sign"], CLIENT_ID, CLIENT_SECRET)
    assert message["type"] == "trade_TradeClose"
    assert ":" in message["msg"] and "%3A" not in message["msg"]
    closed = json.loads(urllib.parse.unquote(message["msg"]))
    assert (closed["close_type"], closed["tid"]) == (2, order.order_id)


def test_refund_pushes_and_other_platforms_stay_silent(state: SandboxState, receiver: Receiver) -> None:
    moment = NOW
    state.add(
        "refunds",
        Refund(
            "RF1",
            state.world.orders[0].order_id,
            "youzan",
            str(KDT_ID),
            3333,
            "过敏",
            "requested",
            moment,
            moment,
            "oid0b",
        ),
    )
    state.add("refunds", Refund("RF2", "T1", "taobao", "tb1", 100, "x", "requested", moment, moment))
    [message] = receiver.messages()
    assert (message["type"], message["id"]) == ("trade_refund_BuyerCreated", "RF1")
    assert json.loads(urllib.parse.unquote_plus(message["msg"]))["refund_fee"] == "33.33"


def test_failed_deliveries_are_retried_with_a_growing_send_count(
    state: SandboxState, receiver: Receiver
) -> None:
    receiver.failures_left = 1
    state.notify("orders", state.world.orders[0])
    first, second = receiver.messages()
    assert (first["sendCount"], second["sendCount"]) == (0, 1)
    assert first["msg_id"] == second["msg_id"]
    outcomes = [entry["outcome"] for entry in state.scratch["youzan"]["push_log"]]  # a bounded deque
    assert outcomes == ["failed", "delivered"]


def test_dropped_pushes_never_arrive(state: SandboxState, receiver: Receiver) -> None:
    state.faults.set("youzan", FaultPlan(drop_push_rate=1.0))
    state.notify("orders", state.world.orders[0])
    assert receiver.received == []
    assert state.scratch["youzan"]["push_log"][-1]["outcome"] == "dropped"


def test_background_delivery(state: SandboxState, receiver: Receiver) -> None:
    state.scratch["youzan"]["push_mode"] = "background"
    for order in state.world.orders[:3]:
        state.notify("orders", order)
    assert youzan.pusher_of(state).wait_idle(timeout=10)
    assert sorted(message["id"] for message in receiver.messages()) == [
        o.order_id for o in state.world.orders[:3]
    ]


def test_one_push_per_change_however_often_the_router_is_built(
    state: SandboxState, receiver: Receiver
) -> None:
    youzan.build_router(state)  # a second app on the same state must not subscribe twice
    state.notify("orders", state.world.orders[0])
    assert len(receiver.received) == 1


def test_no_push_target_means_no_work(state: SandboxState, client: TestClient) -> None:
    state.notify("orders", state.world.orders[0])
    assert "push_log" not in state.scratch["youzan"]
