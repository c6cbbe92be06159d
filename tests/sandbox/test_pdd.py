"""The Pinduoduo emulator through HTTP, the way a connector talks to gw-api.pinduoduo.com."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.core import clock
from haina.platforms.pdd.signing import sign
from haina.sandbox.emulators import pdd
from haina.sandbox.emulators.gateway_common import dumps_exact, unseal, yuan_number
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, OrderLine, Refund, Shop, World

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
SHOP = Shop("pdd-1", "pdd", "海纳母婴拼多多店", app_key="client-1", app_secret="secret-1")
OTHER_SHOP = Shop("pdd-2", "pdd", "海纳零食拼多多店", app_key="client-2", app_secret="secret-2")


def make_order(number: int, *, shop: Shop = SHOP, modified_minutes: int = 0, **changes: Any) -> Order:
    created = START + timedelta(minutes=number)
    line = OrderLine(f"L{number}", "880001", "婴儿湿巾 80抽", 2, 1995, outer_sku="WIPE-80")
    values: dict[str, Any] = {
        "order_id": f"240501-{number:015d}",
        "platform": "pdd",
        "shop_id": shop.shop_id,
        "account_id": f"A{number}",
        "buyer_id": f"B{number}",
        "status": "paid",
        "created_at": created,
        "modified_at": created + timedelta(minutes=modified_minutes),
        "lines": [line],
        "total_fen": 3990 + 800,
        "discount_fen": 500,
        "freight_fen": 800,
        "paid_fen": 4290,
        "receiver_name": "王小明",
        "receiver_phone": "13812345678",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "address": "文三路100号",
        "paid_at": created + timedelta(seconds=30),
    }
    values.update(changes)
    return Order(**values)


def make_world(orders: list[Order], refunds: list[Refund] | None = None) -> World:
    return World(
        seed=7,
        merchant_name="海纳母婴",
        corp_id="ww-test",
        corp_secret="corp-secret",
        callback_token="token",
        callback_aes_key="a" * 43,
        shops=[SHOP, OTHER_SHOP],
        orders=orders,
        refunds=refunds or [],
    )


def make_client(state: SandboxState) -> TestClient:
    app = FastAPI()
    app.include_router(pdd.build_router(state), prefix="/sandbox/pdd")
    return TestClient(app)


def call(
    client: TestClient, api: str, shop: Shop = SHOP, *, secret: str | None = None, **business: Any
) -> Any:
    parameters = {"type": api, "client_id": shop.app_key, "timestamp": str(int(clock.now().timestamp()))}
    parameters.update({key: str(value) for key, value in business.items()})
    parameters["sign"] = sign(parameters, secret or shop.app_secret)
    response = client.post("/sandbox/pdd/api/router", data=parameters)
    assert response.status_code == 200
    return json.loads(response.text, parse_float=Decimal)


def connect(client: TestClient, shop: Shop = SHOP) -> str:
    """The merchant consents, the connector swaps the code for a token."""
    return authorise(client, shop)["access_token"]


def authorise(client: TestClient, shop: Shop = SHOP) -> dict[str, Any]:
    consent = client.get(
        "/sandbox/pdd/authorize",
        params={"client_id": shop.app_key, "redirect_uri": "https://haina.example/cb", "state": "xyz"},
        follow_redirects=False,
    )
    assert consent.status_code == 302
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    assert query["state"] == ["xyz"]
    answer = call(client, "pdd.pop.auth.token.create", shop, code=query["code"][0])
    return answer["pop_auth_token_create_response"]


def window(start: datetime, minutes: int = 30) -> dict[str, int]:
    return {
        "start_updated_at": int(start.timestamp()),
        "end_updated_at": int((start + timedelta(minutes=minutes)).timestamp()),
    }


@pytest.fixture
def frozen() -> None:
    clock.freeze(START + timedelta(hours=2))


def test_signed_increment_call_answers_under_its_root_key(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    answer = call(client, "pdd.order.number.list.increment.get", access_token=token, **window(START))
    body = answer["order_sn_increment_get_response"]
    assert body["total_count"] == 1 and body["has_next"] is False
    assert body["order_sn_list"][0]["order_sn"] == "240501-000000000000001"


def test_wrong_signature_gets_pdd_20004(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    answer = call(
        client, "pdd.order.number.list.increment.get", secret="wrong", access_token=token, **window(START)
    )
    error = answer["error_response"]
    assert error["error_code"] == 20004 and error["sub_code"] == "20004"
    assert error["error_msg"] and error["request_id"]


def test_json_body_with_numbers_is_signed_over_their_text(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    parameters: dict[str, Any] = {
        "type": "pdd.order.number.list.increment.get",
        "client_id": SHOP.app_key,
        "access_token": token,
        "timestamp": int(clock.now().timestamp()),
        "page": 1,
        "page_size": 10,
        **window(START),
    }
    parameters["sign"] = sign(parameters, SHOP.app_secret)
    answer = client.post("/sandbox/pdd/api/router", json=parameters).json()
    assert answer["order_sn_increment_get_response"]["total_count"] == 1


def test_unknown_and_expired_tokens_get_10019(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    unknown = call(client, "pdd.order.number.list.increment.get", access_token="nope", **window(START))
    assert unknown["error_response"]["error_code"] == 10019
    clock.advance(pdd.ACCESS_TOKEN_LIFETIME + timedelta(seconds=1))
    expired = call(client, "pdd.order.number.list.increment.get", access_token=token, **window(START))
    assert expired["error_response"]["error_code"] == 10019


def test_refresh_replaces_the_token_and_reauthorising_revokes_the_old_one(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    first = authorise(client)
    assert (
        first["owner_id"] == SHOP.shop_id and first["expires_in"] == pdd.ACCESS_TOKEN_LIFETIME.total_seconds()
    )

    def works(token: str) -> bool:
        answer = call(client, "pdd.order.number.list.increment.get", access_token=token, **window(START))
        return "order_sn_increment_get_response" in answer

    refreshed = call(client, "pdd.pop.auth.token.refresh", refresh_token=first["refresh_token"])
    second = refreshed["pop_auth_token_refresh_response"]["access_token"]
    assert works(second) and not works(first["access_token"])
    third = connect(client)
    assert works(third) and not works(second)
    assert call(client, "pdd.pop.auth.token.create", code="unknown")["error_response"]["error_code"] == 10000
    reused = call(client, "pdd.pop.auth.token.refresh", refresh_token=first["refresh_token"])
    assert reused["error_response"]["error_code"] == 10000


def test_pages_return_every_order_exactly_once_in_either_direction(frozen: None) -> None:
    orders = [make_order(number) for number in range(23)]
    client = make_client(SandboxState(make_world(orders)))
    token = connect(client)
    seen: list[str] = []
    page = 1
    while True:
        body = call(
            client,
            "pdd.order.number.list.increment.get",
            access_token=token,
            page=page,
            page_size=5,
            **window(START),
        )["order_sn_increment_get_response"]
        assert body["total_count"] == 23
        seen += [order["order_sn"] for order in body["order_sn_list"]]
        if not body["has_next"]:
            break
        page += 1
    assert page == 5 and sorted(seen) == sorted(order.order_id for order in orders) and len(seen) == 23
    backwards = [
        order["order_sn"]
        for page in range(5, 0, -1)
        for order in call(
            client,
            "pdd.order.number.list.increment.get",
            access_token=token,
            page=page,
            page_size=5,
            **window(START),
        )["order_sn_increment_get_response"]["order_sn_list"]
    ]
    assert sorted(backwards) == sorted(seen)


def test_increment_window_returns_exactly_the_orders_changed_in_it(frozen: None) -> None:
    changed = [make_order(1, modified_minutes=40), make_order(2, modified_minutes=60)]
    unchanged = [make_order(3), make_order(4, modified_minutes=200)]
    unpaid = make_order(5, modified_minutes=45, status="pending_payment", paid_at=None)
    elsewhere = make_order(6, shop=OTHER_SHOP, modified_minutes=45)
    client = make_client(SandboxState(make_world([*changed, *unchanged, unpaid, elsewhere])))
    token = connect(client)
    body = call(
        client,
        "pdd.order.number.list.increment.get",
        access_token=token,
        **window(START + timedelta(minutes=35)),
    )["order_sn_increment_get_response"]
    assert {order["order_sn"] for order in body["order_sn_list"]} == {order.order_id for order in changed}
    edge = call(
        client,
        "pdd.order.number.list.increment.get",
        access_token=token,
        **window(START + timedelta(minutes=32)),
    )["order_sn_increment_get_response"]
    assert [order["order_sn"] for order in edge["order_sn_list"]] == [changed[0].order_id]


def test_increment_window_longer_than_30_minutes_is_refused(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    answer = call(
        client, "pdd.order.number.list.increment.get", access_token=token, **window(START, minutes=31)
    )
    assert answer["error_response"]["error_code"] == pdd.SPAN_TOO_LONG


def test_status_filters_follow_pdd_codes(frozen: None) -> None:
    shipped = make_order(1, status="shipped", shipped_at=START + timedelta(minutes=5))
    refunding = make_order(2)
    refund = Refund("R2", refunding.order_id, "pdd", SHOP.shop_id, 500, "不想要了", "requested", START, START)
    client = make_client(SandboxState(make_world([shipped, refunding, make_order(3)], [refund])))
    token = connect(client)

    def listed(**filters: int) -> set[str]:
        body = call(
            client, "pdd.order.number.list.increment.get", access_token=token, **window(START), **filters
        )
        return {order["order_sn"] for order in body["order_sn_increment_get_response"]["order_sn_list"]}

    assert listed(order_status=2) == {shipped.order_id}
    assert listed(refund_status=2) == {refunding.order_id}
    assert len(listed(order_status=1, refund_status=1)) == 1


def test_order_list_by_paid_time_allows_at_most_24_hours(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1), make_order(2)])))
    token = connect(client)
    day = {
        "start_confirm_at": int(START.timestamp()),
        "end_confirm_at": int((START + timedelta(hours=24)).timestamp()),
    }
    body = call(client, "pdd.order.list.get", access_token=token, **day)["order_list_get_response"]
    assert body["total_count"] == 2 and len(body["order_list"]) == 2
    too_long = {**day, "end_confirm_at": day["end_confirm_at"] + 1}
    assert (
        call(client, "pdd.order.list.get", access_token=token, **too_long)["error_response"]["error_code"]
        == 50001
    )


def test_money_is_exact_yuan_numbers_and_times_are_shanghai_text(frozen: None) -> None:
    client = make_client(SandboxState(make_world([make_order(1)])))
    token = connect(client)
    parameters = {
        "type": "pdd.order.number.list.increment.get",
        "client_id": SHOP.app_key,
        "access_token": token,
        "timestamp": "1",
        **{key: str(value) for key, value in window(START).items()},
    }
    parameters["sign"] = sign(parameters, SHOP.app_secret)
    text = client.post("/sandbox/pdd/api/router", data=parameters).text
    assert '"pay_amount":42.90' in text and '"goods_price":19.95' in text
    order = json.loads(text, parse_float=Decimal)["order_sn_increment_get_response"]["order_sn_list"][0]
    assert order["pay_amount"] == Decimal("42.90")
    assert order["goods_amount"] + order["postage"] - order["discount_amount"] == order["pay_amount"]
    assert order["created_time"] == "2024-05-01 10:01:00"
    assert order["pay_time"] == "2024-05-01 10:01:30"
    assert order["shipping_time"] == ""


def test_exact_json_refuses_floats() -> None:
    assert dumps_exact({"yuan": yuan_number(5), "fen": 5}) == '{"yuan":0.05,"fen":5}'
    with pytest.raises(TypeError):
        dumps_exact({"yuan": 0.05})


def test_receiver_is_encrypted_with_masked_copies(frozen: None) -> None:
    state = SandboxState(make_world([make_order(1)]))
    client = make_client(state)
    token = connect(client)
    order = call(client, "pdd.order.number.list.increment.get", access_token=token, **window(START))[
        "order_sn_increment_get_response"
    ]["order_sn_list"][0]
    assert "13812345678" not in json.dumps(order, ensure_ascii=False, default=str)
    assert order["receiver_phone"].startswith("~") and order["receiver_phone"].endswith("~~")
    assert order["receiver_phone_mask"] == "138****5678"
    assert order["receiver_name_mask"] == "王**"
    assert unseal(state, "pdd", order["receiver_phone"].strip("~")) == "13812345678"


def test_throttle_fault_is_pdd_70031_and_error_fault_is_a_5xx(frozen: None) -> None:
    state = SandboxState(make_world([make_order(1)]))
    client = make_client(state)
    token = connect(client)
    state.faults.set("pdd", FaultPlan(throttle_rate=1.0))
    answer = call(client, "pdd.order.number.list.increment.get", access_token=token, **window(START))
    assert answer["error_response"]["error_code"] == 70031
    state.faults.set("pdd", FaultPlan(error_rate=1.0))
    response = client.post("/sandbox/pdd/api/router", data={"type": "x"})
    assert response.status_code == 502
    assert state.faults.counts["pdd"] == {"throttle": 1, "error": 1}
