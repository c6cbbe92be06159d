"""The JD JOS emulator through HTTP, the way a connector talks to api.jd.com/routerjson."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.core import clock
from haina.platforms.jd.signing import BUSINESS_PARAMETER, business_json, sign
from haina.sandbox.emulators import jd
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, OrderLine, Shop, World

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHOP = Shop("jd-1", "jd", "海纳家电京东店", app_key="jd-key-1", app_secret="jd-secret-1")
OTHER_SHOP = Shop("jd-2", "jd", "海纳美妆京东店", app_key="jd-key-2", app_secret="jd-secret-2")
SEARCH = "jingdong.pop.order.search"


def make_order(number: int, *, shop: Shop = SHOP, modified_minutes: int = 0, **changes: Any) -> Order:
    created = START + timedelta(minutes=number)
    lines = [
        OrderLine(f"L{number}a", "100001", "空气净化器", 1, 199900, outer_sku="AIR-1"),
        OrderLine(f"L{number}b", "100002", "滤网", 2, 9950),
    ]
    values: dict[str, Any] = {
        "order_id": f"23{number:010d}",
        "platform": "jd",
        "shop_id": shop.shop_id,
        "account_id": f"A{number}",
        "buyer_id": f"jd_pin_{number}",
        "status": "paid",
        "created_at": created,
        "modified_at": created + timedelta(minutes=modified_minutes),
        "lines": lines,
        "total_fen": 219800,
        "discount_fen": 10000,
        "freight_fen": 0,
        "paid_fen": 209800,
        "receiver_name": "李四",
        "receiver_phone": "13912345678",
        "province": "北京",
        "city": "北京市",
        "district": "朝阳区",
        "address": "建国路88号",
        "paid_at": created + timedelta(seconds=10),
    }
    values.update(changes)
    return Order(**values)


def make_world(orders: list[Order]) -> World:
    return World(
        seed=11,
        merchant_name="海纳家电",
        corp_id="ww-test",
        corp_secret="corp-secret",
        callback_token="token",
        callback_aes_key="a" * 43,
        shops=[SHOP, OTHER_SHOP],
        orders=orders,
    )


def make_client(state: SandboxState) -> TestClient:
    app = FastAPI()
    app.include_router(jd.build_router(state), prefix="/sandbox/jd")
    return TestClient(app)


def connect(client: TestClient, shop: Shop = SHOP) -> dict[str, Any]:
    consent = client.get(
        "/sandbox/jd/oauth2/to_login",
        params={
            "app_key": shop.app_key,
            "redirect_uri": "https://haina.example/cb",
            "state": "s1",
            "response_type": "code",
        },
        follow_redirects=False,
    )
    assert consent.status_code in (302, 307)
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    grant = client.get(
        "/sandbox/jd/oauth2/access_token",
        params={
            "app_key": shop.app_key,
            "app_secret": shop.app_secret,
            "grant_type": "authorization_code",
            "code": code,
        },
    ).json()
    assert grant["access_token"]
    return grant


def call(
    client: TestClient,
    token: str,
    *,
    method: str = SEARCH,
    shop: Shop = SHOP,
    secret: str | None = None,
    **business: Any,
) -> Any:
    parameters = {
        "method": method,
        "app_key": shop.app_key,
        "access_token": token,
        "timestamp": "2024-05-01 12:00:00.000+0800",
        "v": "2.0",
        BUSINESS_PARAMETER: business_json(business),
    }
    parameters["sign"] = sign(parameters, secret or shop.app_secret)
    response = client.post("/sandbox/jd/routerjson", data=parameters)
    assert response.status_code == 200
    return response.json()


def result(answer: Any) -> dict[str, Any]:
    return answer["jingdong_pop_order_search_responce"]["searchorderinfo_result"]


def shanghai(moment: datetime) -> str:
    return moment.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def frozen() -> None:
    clock.freeze(START + timedelta(hours=3))


def test_signed_search_answers_in_the_responce_envelope(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    answer = call(client, connect(client)["access_token"])
    assert answer["jingdong_pop_order_search_responce"]["code"] == "0"
    assert result(answer)["apiResult"]["success"] is True
    assert result(answer)["orderTotal"] == 1
    assert result(answer)["orderInfoList"][0]["orderId"] == "230000000001"


def test_wrong_signature_unknown_method_and_bad_app_key_get_jd_error_bodies(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    assert call(client, token, secret="wrong")["error_response"] == {
        "code": "12",
        "zh_desc": "无效签名",
        "en_desc": "Invalid Signature",
    }
    assert call(client, token, method="jingdong.no.such")["error_response"]["code"] == "15"
    stranger = Shop("x", "jd", "x", app_key="unknown", app_secret="s")
    assert call(client, token, shop=stranger)["error_response"]["code"] == "21"


def test_unknown_expired_and_foreign_tokens_get_code_19(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    other_token = connect(client, OTHER_SHOP)["access_token"]
    assert call(client, "nope")["error_response"]["code"] == "19"
    assert call(client, other_token)["error_response"]["code"] == "19"  # another app's shop
    clock.advance(jd.ACCESS_TOKEN_LIFETIME)
    assert call(client, token)["error_response"]["code"] == "19"


def test_refresh_token_gives_a_working_token_and_retires_the_old_one(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    grant = connect(client)
    refreshed = client.post(
        "/sandbox/jd/oauth2/refresh_token",
        data={
            "app_key": SHOP.app_key,
            "app_secret": SHOP.app_secret,
            "refresh_token": grant["refresh_token"],
        },
    ).json()
    assert "jingdong_pop_order_search_responce" in call(client, refreshed["access_token"])
    assert call(client, grant["access_token"])["error_response"]["code"] == "19"
    wrong_secret = {
        "app_key": SHOP.app_key,
        "app_secret": "x",
        "grant_type": "authorization_code",
        "code": "c",
    }
    assert client.get("/sandbox/jd/oauth2/access_token", params=wrong_secret).status_code == 400


def test_pages_return_every_order_exactly_once(frozen: None) -> None:
    orders = [make_order(number) for number in range(17)]
    client = make_client(SandboxState(make_world(orders)))
    token = connect(client)["access_token"]
    seen: list[str] = []
    for page in range(1, 5):
        body = result(call(client, token, page=str(page), page_size="5"))
        assert body["orderTotal"] == 17
        seen += [order["orderId"] for order in body["orderInfoList"]]
    assert len(seen) == 17 and set(seen) == {order.order_id for order in orders}
    assert result(call(client, token, page="5", page_size="5"))["orderInfoList"] == []


def test_newest_first_by_default_and_oldest_first_on_request(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(number) for number in range(3)])))
    token = connect(client)["access_token"]
    newest_first = [order["orderId"] for order in result(call(client, token))["orderInfoList"]]
    oldest_first = [order["orderId"] for order in result(call(client, token, sortType=0))["orderInfoList"]]
    assert newest_first == ["230000000002", "230000000001", "230000000000"]
    assert oldest_first == list(reversed(newest_first))


def test_modified_window_returns_exactly_the_changed_orders(frozen: None) -> None:
    changed = [make_order(1, modified_minutes=60), make_order(2, modified_minutes=89)]
    quiet = [make_order(3), make_order(4, modified_minutes=90)]
    unpaid = make_order(5, modified_minutes=70, status="pending_payment", paid_at=None)
    elsewhere = make_order(6, shop=OTHER_SHOP, modified_minutes=70)
    client = make_client(SandboxState(make_world([*changed, *quiet, unpaid, elsewhere])))
    token = connect(client)["access_token"]
    start, end = START + timedelta(minutes=61), START + timedelta(minutes=94)
    body = result(call(client, token, start_date=shanghai(start), end_date=shanghai(end), dateType=0))
    assert {order["orderId"] for order in body["orderInfoList"]} == {order.order_id for order in changed}
    by_creation = result(
        call(
            client,
            token,
            start_date=shanghai(START),
            end_date=shanghai(START + timedelta(minutes=2)),
            dateType=1,
        )
    )
    assert {order["orderId"] for order in by_creation["orderInfoList"]} == {"230000000001"}


def test_order_state_filter_uses_jd_state_names(frozen: None) -> None:
    shipped = make_order(1, status="shipped", shipped_at=START + timedelta(minutes=30))
    done = make_order(2, status="completed", shipped_at=START, finished_at=START + timedelta(hours=1))
    client = make_client(SandboxState(make_world([shipped, done, make_order(3)])))
    token = connect(client)["access_token"]
    body = result(call(client, token, order_state="WAIT_GOODS_RECEIVE_CONFIRM,FINISHED_L"))
    assert {order["orderId"]: order["orderState"] for order in body["orderInfoList"]} == {
        shipped.order_id: "WAIT_GOODS_RECEIVE_CONFIRM",
        done.order_id: "FINISHED_L",
    }


def test_money_is_yuan_text_times_are_shanghai_text_and_consignee_is_masked(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    order = result(call(client, token))["orderInfoList"][0]
    assert order["orderTotalPrice"] == "2198.00"
    assert order["orderPayment"] == "2098.00"
    assert order["freightPrice"] == "0.00"
    assert [item["jdPrice"] for item in order["itemInfoList"]] == ["1999.00", "99.50"]
    assert order["orderStartTime"] == "2024-05-01 10:01:00"
    assert order["consigneeInfo"]["mobile"] == "139****5678"
    assert order["consigneeInfo"]["fullname"] == "李*"
    assert "建国路88号" not in order["consigneeInfo"]["fullAddress"]
    assert order["open_id_buyer"] and "jd_pin" not in order["open_id_buyer"]


def test_optional_fields_limit_the_answer(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    order = result(call(client, token, optional_fields="order_state,orderPayment"))["orderInfoList"][0]
    assert set(order) == {"orderId", "orderState", "orderPayment"}


def test_bad_business_parameters_are_refused(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)["access_token"]
    assert call(client, token, page_size="500")["error_response"]["code"] == jd.PARAMETER_INVALID
    assert call(client, token, start_date="yesterday")["error_response"]["code"] == jd.PARAMETER_INVALID


def test_throttle_fault_body_is_configurable_and_error_fault_is_a_5xx(frozen: None) -> None:
    state = SandboxState(make_world([make_order(1)]))
    client = make_client(state)
    token = connect(client)["access_token"]
    state.faults.set("jd", FaultPlan(throttle_rate=1.0))
    assert call(client, token) == jd.THROTTLE_BODY
    state.scratch["jd"]["throttle_body"] = {
        "error_response": {"code": "99", "zh_desc": "限流", "en_desc": "limited"}
    }
    assert call(client, token)["error_response"]["code"] == "99"
    state.faults.set("jd", FaultPlan(error_rate=1.0))
    assert client.post("/sandbox/jd/routerjson", data={}).status_code == 502
