"""The Taobao/Tmall TOP emulator through HTTP: signature, sessions, trades, refunds, TMC, faults."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.core import clock
from haina.core.clock import SHANGHAI
from haina.platforms.taobao import signing
from haina.sandbox.emulators import taobao
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Account, Order, OrderLine, Refund, Shop, World

NOW = datetime(2024, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
START = NOW - timedelta(hours=20)
REST = "/sandbox/taobao/router/rest"
TAOBAO_KEY, TAOBAO_SECRET = "23456789", "taobao-secret"
TMALL_KEY, TMALL_SECRET = "34567890", "tmall-secret"
TAOBAO_ORDERS = 25
FIELDS = "tid,status,payment,total_fee,post_fee,discount_fee,created,modified,buyer_nick,receiver_name,receiver_mobile,receiver_address,receiver_state,oaid,orders"


# --- a tiny world -------------------------------------------------------------------------------


def make_account(number: int, shop_id: str) -> Account:
    return Account(
        account_id=f"acct-{shop_id}-{number}",
        person_id=f"person-{number}",
        platform="tmall" if shop_id == "tm1" else "taobao",
        shop_id=shop_id,
        buyer_id=f"AAH{number:04d}-openuid",
        nickname=f"tb_buyer{number}",
        name="李小红",
        phone=f"1380013{number:04d}",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        address="文三路 90 号",
        device_id=f"device-{number}",
        created_at=START,
    )


def make_order(number: int, shop_id: str, modified_at: datetime, status: str = "paid") -> Order:
    lines = [
        OrderLine(f"{number}01", "sku-milk", "婴儿奶粉 800g", 2, 19990, "MILK-800"),
        OrderLine(f"{number}02", "sku-diaper", "纸尿裤 L码", 1, 8900, "DIAPER-L"),
    ]
    return Order(
        order_id=f"{3_000_000 + number}",
        platform="tmall" if shop_id == "tm1" else "taobao",
        shop_id=shop_id,
        account_id=f"acct-{shop_id}-{number}",
        buyer_id=f"AAH{number:04d}-openuid",
        status=status,
        created_at=modified_at - timedelta(hours=1),
        modified_at=modified_at,
        lines=lines,
        total_fen=2 * 19990 + 8900 + 1000,
        discount_fen=1001,
        freight_fen=1000,
        paid_fen=2 * 19990 + 8900 + 1000 - 1001,
        receiver_name="李小红",
        receiver_phone=f"1380013{number:04d}",
        province="浙江省",
        city="杭州市",
        district="西湖区",
        address="文三路 90 号",
        paid_at=modified_at - timedelta(minutes=50) if status != "pending_payment" else None,
    )


def make_world() -> World:
    world = World(
        seed=1,
        merchant_name="海纳母婴",
        corp_id="ww1",
        corp_secret="s",
        callback_token="t",
        callback_aes_key="a" * 43,
        shops=[
            Shop("tb1", "taobao", "海纳母婴淘宝店", TAOBAO_KEY, TAOBAO_SECRET),
            Shop("tm1", "tmall", "海纳天猫旗舰店", TMALL_KEY, TMALL_SECRET),
        ],
    )
    for number in range(TAOBAO_ORDERS):
        world.accounts.append(make_account(number, "tb1"))
        # 37-minute steps, 17 seconds in: order i is modified at START + i*37min + 17s
        world.orders.append(make_order(number, "tb1", START + timedelta(minutes=37 * number, seconds=17)))
    for number in range(100, 103):
        world.accounts.append(make_account(number, "tm1"))
        world.orders.append(make_order(number, "tm1", START + timedelta(minutes=number)))
    return world


def shanghai(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def state() -> Iterator[SandboxState]:
    clock.freeze(NOW)
    yield SandboxState(world=make_world())
    clock.freeze(None)


@pytest.fixture
def client(state: SandboxState) -> TestClient:
    app = FastAPI()
    app.include_router(taobao.build_router(state), prefix="/sandbox/taobao")
    return TestClient(app)


def top_call(
    client: TestClient,
    method: str,
    *,
    session: str | None = None,
    app_key: str = TAOBAO_KEY,
    secret: str = TAOBAO_SECRET,
    sign_method: str = "md5",
    use_get: bool = False,
    tamper: dict[str, str] | None = None,
    **business: Any,
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "method": method,
        "app_key": app_key,
        "timestamp": shanghai(clock.now()),
        "v": "2.0",
        "format": "json",
        "session": session,
        **business,
    }
    ready = signing.signed(parameters, secret, sign_method)
    ready.update(tamper or {})
    response = client.get(REST, params=ready) if use_get else client.post(REST, data=ready)
    return {"status": response.status_code, **response.json()}


@pytest.fixture
def session(state: SandboxState) -> str:
    return taobao.issue_session(state, "tb1")


def trades_of(body: dict[str, Any], root: str = "trades_sold_get_response") -> list[dict[str, Any]]:
    return body[root].get("trades", {}).get("trade", [])


# --- signature and common parameters --------------------------------------------------------------


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
@pytest.mark.parametrize("use_get", [False, True])
def test_a_correctly_signed_call_succeeds(
    client: TestClient, session: str, sign_method: str, use_get: bool
) -> None:
    body = top_call(
        client,
        "taobao.trades.sold.get",
        session=session,
        sign_method=sign_method,
        use_get=use_get,
        fields="tid",
    )
    assert body["status"] == 200
    assert body["trades_sold_get_response"]["total_results"] == TAOBAO_ORDERS


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_a_wrong_signature_is_tops_invalid_signature(
    client: TestClient, session: str, sign_method: str
) -> None:
    body = top_call(
        client,
        "taobao.trades.sold.get",
        session=session,
        sign_method=sign_method,
        tamper={"fields": "tid,payment"},
        fields="tid",
    )
    error = body["error_response"]
    assert (error["code"], error["msg"]) == (25, "Invalid Signature")
    assert error["request_id"]
    assert "trades_sold_get_response" not in body


def test_signature_signed_with_another_secret_is_refused(client: TestClient, session: str) -> None:
    body = top_call(client, "taobao.trades.sold.get", session=session, secret="not-the-secret", fields="tid")
    assert body["error_response"]["code"] == 25


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sign": ""}, 24),
        ({"app_key": ""}, 28),
        ({"app_key": "99999999"}, 29),
        ({"method": ""}, 21),
        ({"timestamp": ""}, 30),
        ({"timestamp": "2024/03/02 12:00:00"}, 31),
        ({"v": ""}, 32),
        ({"v": "1.0"}, 34),
        ({"format": "xml"}, 23),
        ({"sign_method": "sha1"}, 25),
    ],
)
def test_common_parameter_errors_use_tops_codes(
    client: TestClient, session: str, change: dict[str, str], code: int
) -> None:
    body = top_call(client, "taobao.trades.sold.get", session=session, tamper=change, fields="tid")
    assert body["error_response"]["code"] == code
    assert body["error_response"]["msg"] == taobao.ERROR_MESSAGES[code]


def test_unknown_method_is_invalid_method(client: TestClient, session: str) -> None:
    body = top_call(client, "taobao.no.such.api", session=session)
    assert body["error_response"]["code"] == 22


def test_a_timestamp_more_than_ten_minutes_off_is_refused(client: TestClient, session: str) -> None:
    stale = shanghai(NOW - timedelta(minutes=11))
    parameters = {"method": "taobao.trades.sold.get", "app_key": TAOBAO_KEY, "timestamp": stale, "v": "2.0"}
    ready = signing.signed(
        {**parameters, "format": "json", "session": session, "fields": "tid"}, TAOBAO_SECRET
    )
    assert client.post(REST, data=ready).json()["error_response"]["code"] == 31
    clock.advance(timedelta(minutes=-2))  # a clock 9 minutes behind the caller's is still accepted
    assert "trades_sold_get_response" in client.post(REST, data=ready).json()


# --- sessions -------------------------------------------------------------------------------------


def test_session_errors(client: TestClient, state: SandboxState, session: str) -> None:
    missing = top_call(client, "taobao.trades.sold.get", fields="tid")
    assert missing["error_response"]["code"] == 26
    unknown = top_call(client, "taobao.trades.sold.get", session="6nonsense", fields="tid")
    assert unknown["error_response"]["code"] == 27
    assert unknown["error_response"]["sub_code"] == taobao.SESSION_SUB_CODE
    tmall_session = taobao.issue_session(state, "tm1")
    other_app = top_call(client, "taobao.trades.sold.get", session=tmall_session, fields="tid")
    assert other_app["error_response"]["code"] == 27
    clock.advance(taobao.SESSION_LIFETIME + timedelta(seconds=1))
    expired = top_call(client, "taobao.trades.sold.get", session=session, fields="tid")
    assert expired["error_response"]["code"] == 27


def test_oauth_code_flow_gives_a_working_session(client: TestClient) -> None:
    answer = client.get(
        "/sandbox/taobao/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": TAOBAO_KEY,
            "redirect_uri": "http://127.0.0.1/cb",
            "state": "xyz",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 302
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["location"]).query))
    assert query["state"] == "xyz"
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "client_id": TAOBAO_KEY,
        "client_secret": TAOBAO_SECRET,
        "redirect_uri": "http://127.0.0.1/cb",
    }
    token = client.post("/sandbox/taobao/oauth/token", data=form).json()
    assert token["expires_in"] == int(taobao.SESSION_LIFETIME.total_seconds())
    assert urllib.parse.unquote(token["taobao_user_nick"]) == "海纳母婴淘宝店"
    body = top_call(client, "taobao.trades.sold.get", session=token["access_token"], fields="tid")
    assert body["trades_sold_get_response"]["total_results"] == TAOBAO_ORDERS
    reused = client.post("/sandbox/taobao/oauth/token", data=form)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    wrong_secret = client.post("/sandbox/taobao/oauth/token", data={**form, "client_secret": "x"})
    assert wrong_secret.status_code == 401
    refreshed = client.post(
        "/sandbox/taobao/oauth/token",
        data={**form, "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    ).json()
    assert refreshed["access_token"] != token["access_token"]


def test_token_create_through_the_gateway(client: TestClient, state: SandboxState) -> None:
    location = client.get(
        "/sandbox/taobao/oauth/authorize",
        params={"client_id": TMALL_KEY, "redirect_uri": "http://127.0.0.1/cb"},
        follow_redirects=False,
    ).headers["location"]
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    body = top_call(client, "taobao.top.auth.token.create", app_key=TMALL_KEY, secret=TMALL_SECRET, code=code)
    token = json.loads(body["top_auth_token_create_response"]["token_result"])
    assert state.scratch["taobao"]["sessions"][token["access_token"]].shop_id == "tm1"


# --- trades -----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_has_next", [False, True])
def test_paging_returns_every_trade_exactly_once(
    client: TestClient, session: str, use_has_next: bool
) -> None:
    seen: list[int] = []
    flags = []
    for page_no in range(1, 10):
        body = top_call(
            client,
            "taobao.trades.sold.get",
            session=session,
            fields="tid",
            page_no=page_no,
            page_size=7,
            use_has_next=use_has_next,
        )
        response = body["trades_sold_get_response"]
        if use_has_next:
            assert "total_results" not in response
            flags.append(response["has_next"])
        else:
            assert response["total_results"] == TAOBAO_ORDERS
        seen += [trade["tid"] for trade in trades_of(body)]
        if use_has_next and not response["has_next"]:
            break
    assert len(seen) == TAOBAO_ORDERS == len(set(seen))
    assert set(seen) == {3_000_000 + number for number in range(TAOBAO_ORDERS)}
    if use_has_next:
        assert flags == [True, True, True, False]


def test_trades_sold_get_sorts_newest_first_and_filters_created(client: TestClient, session: str) -> None:
    body = top_call(client, "taobao.trades.sold.get", session=session, fields="tid,created", page_size=100)
    created = [trade["created"] for trade in trades_of(body)]
    assert created == sorted(created, reverse=True)
    window = top_call(
        client,
        "taobao.trades.sold.get",
        session=session,
        fields="tid",
        start_created=shanghai(START),
        end_created=shanghai(START + timedelta(minutes=37 * 2)),
    )
    # created = START + 37n min + 17 s - 1 h, which falls within START + [0, 74] min for n = 2 and 3
    assert {t["tid"] for t in trades_of(window)} == {3_000_002, 3_000_003}


def test_increment_window_returns_exactly_the_trades_modified_in_it(client: TestClient, session: str) -> None:
    # Orders 3..7 are modified at START + 37*n min + 17 s; both ends inclusive at whole seconds.
    start = START + timedelta(minutes=37 * 3, seconds=17)
    end = START + timedelta(minutes=37 * 7, seconds=17)
    body = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        fields="tid,modified",
        start_modified=shanghai(start),
        end_modified=shanghai(end),
        page_size=100,
    )
    trades = trades_of(body, "trades_sold_increment_get_response")
    assert sorted(t["tid"] for t in trades) == [3_000_000 + n for n in range(3, 8)]
    assert body["trades_sold_increment_get_response"]["total_results"] == 5
    just_inside = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        fields="tid",
        start_modified=shanghai(start + timedelta(seconds=1)),
        end_modified=shanghai(end - timedelta(seconds=1)),
    )
    assert len(trades_of(just_inside, "trades_sold_increment_get_response")) == 3


def test_increment_window_errors(client: TestClient, session: str) -> None:
    too_long = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        fields="tid",
        start_modified=shanghai(START),
        end_modified=shanghai(START + timedelta(days=1, seconds=1)),
    )
    assert too_long["error_response"]["code"] == 41
    assert too_long["error_response"]["sub_code"].startswith("isv.invalid-parameter")
    missing_end = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        fields="tid",
        start_modified=shanghai(START),
    )
    assert missing_end["error_response"]["code"] == 40
    missing_fields = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        start_modified=shanghai(START),
        end_modified=shanghai(NOW),
    )
    assert missing_fields["error_response"]["sub_code"] == "isv.missing-parameter:fields"


def test_an_empty_window_omits_trades(client: TestClient, session: str) -> None:
    body = top_call(
        client,
        "taobao.trades.sold.increment.get",
        session=session,
        fields="tid",
        start_modified=shanghai(NOW + timedelta(hours=1)),
        end_modified=shanghai(NOW + timedelta(hours=2)),
    )
    assert body["trades_sold_increment_get_response"]["total_results"] == 0
    assert "trades" not in body["trades_sold_increment_get_response"]


def test_fields_are_honoured(client: TestClient, session: str) -> None:
    body = top_call(client, "taobao.trades.sold.get", session=session, fields="tid,payment", page_size=3)
    assert all(set(trade) == {"tid", "payment"} for trade in trades_of(body))
    with_nick = top_call(
        client, "taobao.trades.sold.get", session=session, fields="tid,buyer_nick", page_size=1
    )
    assert set(trades_of(with_nick)[0]) == {"tid", "buyer_nick", "buyer_open_uid"}
    sub_fields = top_call(
        client, "taobao.trades.sold.get", session=session, fields="tid,orders.title", page_size=1
    )
    assert trades_of(sub_fields)[0]["orders"]["order"] == [
        {"title": "婴儿奶粉 800g"},
        {"title": "纸尿裤 L码"},
    ]


def test_money_is_exact_yuan_and_times_are_beijing_time(
    client: TestClient, session: str, state: SandboxState
) -> None:
    order = state.world.orders[0]
    body = top_call(client, "taobao.trade.fullinfo.get", session=session, fields=FIELDS, tid=order.order_id)
    trade = body["trade_fullinfo_get_response"]["trade"]
    assert trade["payment"] == "488.79"  # 2*199.90 + 89.00 + 10.00 freight - 10.01 discount
    assert trade["total_fee"] == "488.80"
    assert (trade["post_fee"], trade["discount_fee"]) == ("10.00", "10.01")
    lines = trade["orders"]["order"]
    paid_cents = sum(int(line["payment"].replace(".", "")) for line in lines)
    assert paid_cents == order.paid_fen - order.freight_fen  # the parts add up to the goods payment
    assert trade["modified"] == shanghai(order.modified_at) == "2024-03-01 16:00:17"
    assert trade["status"] == "WAIT_SELLER_SEND_GOODS"


def test_buyer_and_receiver_are_masked_and_oaid_decrypts(
    client: TestClient, session: str, state: SandboxState
) -> None:
    order = state.world.orders[5]
    body = top_call(client, "taobao.trade.fullinfo.get", session=session, fields=FIELDS, tid=order.order_id)
    trade = body["trade_fullinfo_get_response"]["trade"]
    assert trade["receiver_mobile"] == "*******0005"
    assert trade["receiver_name"] == "李**"
    assert "文三路" not in trade["receiver_address"]
    assert trade["buyer_nick"] == "t**5"
    assert trade["receiver_state"] == "浙江省"  # the region stays readable
    query = [{"oaid": trade["oaid"], "tid": str(trade["tid"]), "scene": "1001"}]
    decrypted = top_call(client, "taobao.top.oaid.decrypt", session=session, query_list=json.dumps(query))
    receiver = decrypted["top_oaid_decrypt_response"]["receiver_list"]["receiver"][0]
    assert (receiver["name"], receiver["mobile"], receiver["address_detail"]) == (
        "李小红",
        "13800130005",
        "文三路 90 号",
    )
    wrong = [{"oaid": "1" + "0" * 31, "tid": str(trade["tid"]), "scene": "1001"}]
    refused = top_call(client, "taobao.top.oaid.decrypt", session=session, query_list=json.dumps(wrong))
    assert refused["error_response"]["code"] == 15


def test_mask_style_is_a_sandbox_option(client: TestClient, session: str, state: SandboxState) -> None:
    state.scratch["taobao"]["mask_style"] = "middle"
    tid = state.world.orders[5].order_id
    trade = top_call(client, "taobao.trade.fullinfo.get", session=session, fields=FIELDS, tid=tid)
    assert trade["trade_fullinfo_get_response"]["trade"]["receiver_mobile"] == "138****0005"
    state.scratch["taobao"]["mask_style"] = "empty"
    trade = top_call(client, "taobao.trade.fullinfo.get", session=session, fields=FIELDS, tid=tid)
    assert "receiver_mobile" in trade["trade_fullinfo_get_response"]["trade"]
    assert trade["trade_fullinfo_get_response"]["trade"]["receiver_mobile"] == ""


def test_tmall_shops_share_the_gateway_but_not_the_data(
    client: TestClient, state: SandboxState, session: str
) -> None:
    tmall_session = taobao.issue_session(state, "tm1")
    body = top_call(
        client,
        "taobao.trades.sold.get",
        session=tmall_session,
        app_key=TMALL_KEY,
        secret=TMALL_SECRET,
        fields="tid",
    )
    assert {t["tid"] for t in trades_of(body)} == {3_000_100, 3_000_101, 3_000_102}
    taobao_tids = {
        t["tid"]
        for t in trades_of(
            top_call(client, "taobao.trades.sold.get", session=session, fields="tid", page_size=100)
        )
    }
    assert not taobao_tids & {3_000_100, 3_000_101, 3_000_102}
    unknown = top_call(client, "taobao.trade.fullinfo.get", session=session, fields="tid", tid="3000100")
    assert unknown["error_response"]["sub_code"] == "isv.trade-not-exist"


def test_simplify_drops_the_wrappers(client: TestClient, session: str) -> None:
    body = top_call(
        client,
        "taobao.trades.sold.get",
        session=session,
        fields="tid,orders.oid",
        page_size=2,
        simplify="true",
    )
    assert body["total_results"] == TAOBAO_ORDERS
    assert isinstance(body["trades"], list) and isinstance(body["trades"][0]["orders"], list)


def test_refunds_receive_get(client: TestClient, state: SandboxState, session: str) -> None:
    order = state.world.orders[2]
    moment = NOW - timedelta(minutes=30)
    state.world.refunds.append(
        Refund("R1", order.order_id, "taobao", "tb1", 8900, "不想要了", "requested", moment, moment, f"{2}02")
    )
    body = top_call(
        client,
        "taobao.refunds.receive.get",
        session=session,
        fields="refund_id,tid,oid,refund_fee,status,modified",
        start_modified=shanghai(NOW - timedelta(hours=1)),
        end_modified=shanghai(NOW),
    )
    refunds = body["refunds_receive_get_response"]["refunds"]["refund"]
    assert body["refunds_receive_get_response"]["total_results"] == 1
    assert refunds[0]["tid"] == int(order.order_id)
    assert (refunds[0]["refund_fee"], refunds[0]["status"]) == ("89.00", "WAIT_SELLER_AGREE")
    trade = top_call(
        client, "taobao.trade.fullinfo.get", session=session, fields="orders", tid=order.order_id
    )
    lines = trade["trade_fullinfo_get_response"]["trade"]["orders"]["order"]
    assert [line["refund_status"] for line in lines] == ["NO_REFUND", "WAIT_SELLER_AGREE"]


# --- TMC ----------------------------------------------------------------------------------------


def consume(client: TestClient, **extra: Any) -> list[dict[str, Any]]:
    body = top_call(client, "taobao.tmc.messages.consume", **extra)
    return body["tmc_messages_consume_response"].get("messages", {}).get("tmc_message", [])


def test_tmc_consume_confirm_and_redelivery(client: TestClient, state: SandboxState) -> None:
    order = state.world.orders[4]
    order.status = "shipped"
    state.notify("orders", order)
    refund = Refund("R9", order.order_id, "taobao", "tb1", 100, "少发", "completed", NOW, NOW, "402")
    state.add("refunds", refund)
    messages = consume(client)
    assert [m["topic"] for m in messages] == ["taobao_trade_TradeSellerShip", "taobao_refund_RefundSuccess"]
    content = json.loads(messages[0]["content"])
    assert (content["tid"], content["status"], content["payment"]) == (
        3_000_004,
        "WAIT_BUYER_CONFIRM_GOODS",
        "488.79",
    )
    assert messages[0]["user_nick"] == "海纳母婴淘宝店" and messages[0]["pub_time"] == shanghai(NOW)
    assert consume(client) == []  # in flight: not handed out twice
    confirmed = top_call(client, "taobao.tmc.messages.confirm", s_message_ids=str(messages[0]["id"]))
    assert confirmed["tmc_messages_confirm_response"]["is_success"] is True
    clock.advance(taobao.REDELIVERY_AFTER - timedelta(seconds=1))
    assert consume(client) == []
    clock.advance(timedelta(seconds=1))
    again = consume(client)
    assert [m["id"] for m in again] == [messages[1]["id"]]  # only the unconfirmed one comes back
    top_call(client, "taobao.tmc.messages.confirm", s_message_ids=str(messages[1]["id"]))
    clock.advance(taobao.REDELIVERY_AFTER)
    assert consume(client) == []


def test_tmc_failed_confirm_comes_back_at_once_and_queues_are_per_app(
    client: TestClient, state: SandboxState
) -> None:
    state.notify("orders", state.world.orders[0])
    state.notify("orders", state.world.orders[-1])  # a tmall order goes to the tmall app's queue
    first = consume(client)
    assert len(first) == 1 and json.loads(first[0]["content"])["tid"] == 3_000_000
    top_call(client, "taobao.tmc.messages.confirm", f_message_ids=str(first[0]["id"]))
    assert [m["id"] for m in consume(client)] == [first[0]["id"]]
    tmall = consume(client, app_key=TMALL_KEY, secret=TMALL_SECRET)
    assert json.loads(tmall[0]["content"])["tid"] == 3_000_102


def test_tmc_quantity_limits_and_drop_push(client: TestClient, state: SandboxState) -> None:
    for order in state.world.orders[:12]:
        state.notify("orders", order)
    assert len(consume(client, quantity=10)) == 10
    assert top_call(client, "taobao.tmc.messages.consume", quantity=5)["error_response"]["code"] == 41
    too_many = ",".join(str(n) for n in range(201))
    assert (
        top_call(client, "taobao.tmc.messages.confirm", s_message_ids=too_many)["error_response"]["code"]
        == 41
    )
    state.faults.set("taobao", FaultPlan(drop_push_rate=1.0))
    state.notify("orders", state.world.orders[20])
    state.faults.clear()
    assert len(consume(client)) == 2  # the two left over, not the dropped one
    assert state.faults.counts["taobao"]["dropped_push"] == 1


# --- faults ---------------------------------------------------------------------------------------


def test_throttling_uses_tops_app_call_limited_format(
    client: TestClient, state: SandboxState, session: str
) -> None:
    state.faults.set("taobao", FaultPlan(throttle_rate=1.0))
    body = top_call(client, "taobao.trades.sold.get", session=session, fields="tid")
    assert body["status"] == 200
    error = body["error_response"]
    assert (error["code"], error["msg"], error["sub_code"]) == (
        7,
        "App Call Limited",
        "accesscontrol.limited-by-app-access-count",
    )
    assert error["sub_msg"] == "This ban will last for 1 more seconds"
    state.faults.set("taobao", FaultPlan(throttle_for_seconds=30))
    error = top_call(client, "taobao.trades.sold.get", session=session, fields="tid")["error_response"]
    seconds = int(error["sub_msg"].split()[-3])
    assert 1 <= seconds <= 30


def test_server_error_fault_is_a_5xx(client: TestClient, state: SandboxState, session: str) -> None:
    state.faults.set("taobao", FaultPlan(error_rate=1.0))
    body = top_call(client, "taobao.trades.sold.get", session=session, fields="tid")
    assert body["status"] == 503
    assert body["error_response"]["code"] == 10
    state.faults.clear()
    assert top_call(client, "taobao.trades.sold.get", session=session, fields="tid")["status"] == 200


def test_unread_tmc_messages_expire(client: TestClient, state: SandboxState) -> None:
    state.notify("orders", state.world.orders[0])
    clock.advance(taobao.TMC_RETENTION + timedelta(seconds=1))
    state.notify("orders", state.world.orders[1])
    assert [json.loads(m["content"])["tid"] for m in consume(client)] == [3_000_001]
