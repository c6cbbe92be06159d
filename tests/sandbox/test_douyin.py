"""The Douyin 抖店 emulator through HTTP, and its pushes to a real loopback receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.core import clock
from haina.platforms.douyin.signing import canonical_param_json, method_path, sign, verify_event
from haina.sandbox.emulators import douyin
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, OrderLine, Refund, Shop, World

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
SHOP = Shop("4463798", "douyin", "海纳美妆抖店", app_key="7001", app_secret="dy-secret-1")
OTHER_SHOP = Shop("4463799", "douyin", "海纳零食抖店", app_key="7002", app_secret="dy-secret-2")


def make_order(number: int, *, shop: Shop = SHOP, modified_minutes: int = 0, **changes: Any) -> Order:
    created = START + timedelta(minutes=number)
    lines = [
        OrderLine(f"69{number:08d}1", "3001", "保湿面霜 50ml", 1, 15900),
        OrderLine(f"69{number:08d}2", "3002", "洁面乳", 3, 4990, outer_sku="CLEAN-1"),
    ]
    values: dict[str, Any] = {
        "order_id": f"69{number:08d}0",
        "platform": "douyin",
        "shop_id": shop.shop_id,
        "account_id": f"A{number}",
        "buyer_id": f"dy_buyer_{number}",
        "status": "paid",
        "created_at": created,
        "modified_at": created + timedelta(minutes=modified_minutes),
        "lines": lines,
        "total_fen": 15900 + 14970 + 600,
        "discount_fen": 3001,
        "freight_fen": 600,
        "paid_fen": 15900 + 14970 + 600 - 3001,
        "receiver_name": "赵六",
        "receiver_phone": "13712345678",
        "province": "广东省",
        "city": "深圳市",
        "district": "南山区",
        "address": "科技园1号",
        "paid_at": created + timedelta(seconds=20),
    }
    values.update(changes)
    return Order(**values)


def make_world(orders: list[Order]) -> World:
    return World(
        seed=5,
        merchant_name="海纳美妆",
        corp_id="ww-test",
        corp_secret="corp-secret",
        callback_token="token",
        callback_aes_key="a" * 43,
        shops=[SHOP, OTHER_SHOP],
        orders=orders,
    )


def make_client(state: SandboxState) -> TestClient:
    app = FastAPI()
    app.include_router(douyin.build_router(state), prefix="/sandbox/douyin")
    return TestClient(app)


def call(
    client: TestClient,
    method: str,
    business: dict[str, Any],
    *,
    token: str = "",
    shop: Shop = SHOP,
    secret: str | None = None,
    sign_method: str = "hmac-sha256",
    path: str | None = None,
) -> Any:
    param_json = canonical_param_json(business)
    timestamp = str(int(clock.now().timestamp()))
    query = {
        "app_key": shop.app_key,
        "method": method,
        "timestamp": timestamp,
        "v": "2",
        "sign_method": sign_method,
        "sign": sign(
            app_key=shop.app_key,
            app_secret=secret or shop.app_secret,
            method=method,
            param_json=param_json,
            timestamp=timestamp,
            sign_method=sign_method,
        ),
    }
    if token:
        query["access_token"] = token
    response = client.post(
        "/sandbox/douyin" + (path or method_path(method)),
        params=query,
        content=param_json.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    return response.json()


def connect(client: TestClient, shop: Shop = SHOP) -> dict[str, Any]:
    answer = call(
        client,
        "token.create",
        {"code": "", "grant_type": "authorization_self", "shop_id": shop.shop_id},
        shop=shop,
    )
    assert answer["code"] == 10000, answer
    return answer["data"]


def search(client: TestClient, token: str, **business: Any) -> dict[str, Any]:
    answer = call(client, "order.searchList", business, token=token)
    assert answer["code"] == 10000, answer
    return answer["data"]


@pytest.fixture
def frozen() -> None:
    clock.freeze(START + timedelta(hours=3))


def test_token_create_and_search_with_either_sign_method(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    grant = connect(client)
    assert grant["shop_id"] == 4463798 and grant["expires_in"] == douyin.ACCESS_TOKEN_LIFETIME.total_seconds()
    for sign_method in ("md5", "hmac-sha256"):
        answer = call(
            client,
            "order.searchList",
            {"page": 0, "size": 10},
            token=grant["access_token"],
            sign_method=sign_method,
        )
        assert answer["code"] == 10000 and answer["msg"] == "success"
        assert [order["order_id"] for order in answer["data"]["shop_order_list"]] == ["69000000010"]


def test_wrong_signature_and_mismatched_path_get_douyin_errors(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    wrong = call(client, "order.searchList", {"page": 0}, token=token, secret="wrong")
    assert (wrong["code"], wrong["sub_code"]) == douyin.SIGNATURE_INVALID[:2] and wrong["data"] is None
    elsewhere = call(client, "order.searchList", {"page": 0}, token=token, path="/order/orderDetail")
    assert elsewhere["code"] == douyin.METHOD_UNKNOWN[0]


def test_signature_is_checked_over_the_canonical_param_json(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    timestamp = "2024-05-01 13:00:00"
    loose_body = '{"size": 10, "page": 0}'
    query = {
        "app_key": SHOP.app_key,
        "method": "order.searchList",
        "access_token": token,
        "timestamp": timestamp,
        "v": "2",
    }

    def with_sign(param_json: str) -> dict[str, str]:
        signature = sign(
            app_key=SHOP.app_key,
            app_secret=SHOP.app_secret,
            method="order.searchList",
            param_json=param_json,
            timestamp=timestamp,
        )
        return {**query, "sign": signature}

    headers = {"Content-Type": "application/json"}
    canonical = client.post(
        "/sandbox/douyin/order/searchList",
        params=with_sign('{"page":0,"size":10}'),
        content=loose_body,
        headers=headers,
    )
    assert canonical.json()["code"] == 10000
    as_sent = client.post(
        "/sandbox/douyin/order/searchList", params=with_sign(loose_body), content=loose_body, headers=headers
    )
    assert as_sent.json()["code"] == douyin.SIGNATURE_INVALID[0]


def test_unknown_and_expired_tokens_are_refused_and_refresh_works(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    grant = connect(client)
    assert call(client, "order.searchList", {}, token="nope")["code"] == douyin.TOKEN_UNKNOWN[0]
    other = connect(client, OTHER_SHOP)["access_token"]
    assert call(client, "order.searchList", {}, token=other)["code"] == douyin.TOKEN_UNKNOWN[0]
    clock.advance(douyin.ACCESS_TOKEN_LIFETIME)
    expired = call(client, "order.searchList", {}, token=grant["access_token"])
    assert (expired["code"], expired["sub_code"]) == douyin.TOKEN_EXPIRED[:2]
    refreshed = call(
        client, "token.refresh", {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    )
    assert refreshed["code"] == 10000
    assert search(client, refreshed["data"]["access_token"])["total"] == 1
    again = call(
        client, "token.refresh", {"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}
    )
    assert again["code"] == douyin.PARAMETER_INVALID


def test_pages_start_at_zero_and_return_every_order_exactly_once(frozen: None) -> None:
    orders = [make_order(number) for number in range(12)]
    client = make_client(SandboxState(make_world(orders)))
    token = connect(client)["access_token"]
    seen: list[str] = []
    for page in range(3):
        data = search(client, token, page=page, size=5, order_by="create_time", order_asc=True)
        assert (data["page"], data["size"], data["total"]) == (page, 5, 12)
        seen += [order["order_id"] for order in data["shop_order_list"]]
    assert seen == [order.order_id for order in orders]
    assert search(client, token, page=3, size=5)["shop_order_list"] == []
    newest_first = search(client, token, page=0, size=2)["shop_order_list"]
    assert [order["order_id"] for order in newest_first] == [orders[11].order_id, orders[10].order_id]


def test_update_window_returns_exactly_the_changed_orders(frozen: None) -> None:
    changed = [make_order(1, modified_minutes=30), make_order(2, modified_minutes=50)]
    quiet = [make_order(3), make_order(4, modified_minutes=56)]
    elsewhere = make_order(5, shop=OTHER_SHOP, modified_minutes=40)
    client = make_client(SandboxState(make_world([*changed, *quiet, elsewhere])))
    token = connect(client)["access_token"]
    start = int((START + timedelta(minutes=31)).timestamp())
    data = search(
        client,
        token,
        update_time_start=start,
        update_time_end=start + 29 * 60,
        order_by="update_time",
        size=100,
    )
    assert {order["order_id"] for order in data["shop_order_list"]} == {order.order_id for order in changed}
    assert data["total"] == 2


def test_money_is_fen_and_sku_payments_add_up(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    order = search(client, token)["shop_order_list"][0]
    assert (order["order_amount"], order["pay_amount"], order["post_amount"], order["promotion_amount"]) == (
        31470,
        28469,
        600,
        3001,
    )
    skus = order["sku_order_list"]
    assert [sku["origin_amount"] for sku in skus] == [15900, 14970]
    assert sum(sku["pay_amount"] for sku in skus) == order["pay_amount"] - order["post_amount"]
    assert all(isinstance(sku["pay_amount"], int) for sku in skus)
    assert order["create_time"] == int((START + timedelta(minutes=1)).timestamp())
    assert order["order_status"] == 2 and order["order_status_desc"] == "备货中"


def test_receiver_is_encrypted_with_masked_copies(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    order = search(client, token)["shop_order_list"][0]
    assert "13712345678" not in json.dumps(order, ensure_ascii=False)
    assert order["encrypt_post_tel"].startswith("$") and order["mask_post_tel"] == "137****5678"
    assert order["mask_post_receiver"] == "赵*"
    assert order["post_addr"]["province"]["name"] == "广东省"


def test_throttle_fault_is_configurable_and_error_fault_is_a_5xx(frozen: None) -> None:
    state = SandboxState(make_world([make_order(1)]))
    client = make_client(state)
    token = connect(client)["access_token"]
    state.faults.set("douyin", FaultPlan(throttle_rate=1.0))
    assert call(client, "order.searchList", {}, token=token) == douyin.THROTTLE_BODY
    state.scratch["douyin"]["throttle_body"] = {
        "code": 40100,
        "msg": "限流",
        "sub_code": "isp.limit",
        "sub_msg": "",
        "data": None,
    }
    assert call(client, "order.searchList", {}, token=token)["code"] == 40100
    state.faults.set("douyin", FaultPlan(error_rate=1.0))
    assert client.post("/sandbox/douyin/order/searchList").status_code == 502


# ---- pushes ------------------------------------------------------------------------------


class Receiver:
    """A real loopback HTTP server standing in for Haina's Douyin webhook."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({key.lower(): value for key, value in self.headers.items()}, body))
                answer = b'{"code":0,"msg":"success"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                receiver.arrived.set()

            def log_message(self, *arguments: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/douyin"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def pushing_state(receiver: Receiver, *, synchronously: bool = True) -> SandboxState:
    state = SandboxState(make_world([]), push_targets={"douyin": receiver.url})
    state.scratch["douyin"]["push_synchronously"] = synchronously
    make_client(state)  # building the router subscribes the pusher
    return state


def test_order_change_is_pushed_with_a_valid_event_sign(receiver: Receiver) -> None:
    state = pushing_state(receiver)
    order = make_order(1)
    state.add("orders", order)
    [(headers, body)] = receiver.received
    assert headers["app-id"] == SHOP.app_key
    assert verify_event(SHOP.app_key, body, SHOP.app_secret, headers["event-sign"])
    [message] = json.loads(body)
    assert message["tag"] == douyin.ORDER_TAGS["paid"]
    assert json.loads(message["data"])["p_id"] == order.order_id
    assert douyin.pusher_of(state).delivered == [{"url": receiver.url, "status": 200}]


def test_refund_change_is_pushed(receiver: Receiver) -> None:
    state = pushing_state(receiver)
    refund = Refund("R1", "69000000010", "douyin", SHOP.shop_id, 1500, "质量问题", "requested", START, START)
    state.add("refunds", refund)
    [(headers, body)] = receiver.received
    assert verify_event(SHOP.app_key, body, SHOP.app_secret, headers["event-sign"])
    data = json.loads(json.loads(body)[0]["data"])
    assert (data["aftersale_id"], data["refund_amount"]) == ("R1", 1500)


def test_background_pushes_arrive_and_other_platforms_are_not_pushed(receiver: Receiver) -> None:
    state = pushing_state(receiver, synchronously=False)
    state.notify("orders", make_order(2, platform="pdd"))
    state.notify("orders", make_order(3))
    assert receiver.arrived.wait(timeout=10)
    douyin.pusher_of(state).outbox.join()
    assert [json.loads(json.loads(body)[0]["data"])["p_id"] for _, body in receiver.received] == [
        "69000000030"
    ]


def test_dropped_pushes_are_not_sent(receiver: Receiver) -> None:
    state = pushing_state(receiver)
    state.faults.set("douyin", FaultPlan(drop_push_rate=1.0))
    state.notify("orders", make_order(1))
    assert receiver.received == []
    assert state.faults.counts["douyin"] == {"dropped_push": 1}


def test_building_the_router_twice_subscribes_one_pusher(receiver: Receiver) -> None:
    state = pushing_state(receiver)
    make_client(state)
    state.notify("orders", make_order(1))
    assert len(receiver.received) == 1
