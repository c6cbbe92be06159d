"""The Douyin connector against the sandbox's emulator over real HTTP: self-use token, full and
incremental order sync, a throttling storm, a wrong secret, pushes verified end to end, replayed
push payloads (tests/fixtures/douyin/) and fuzzed answers and pushes."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.platforms.base import Credentials, Endpoint, PushItem, WebhookRejected
from haina.platforms.canonical import IdentityKind, OrderStatus, Refund, RefundStatus
from haina.platforms.douyin import connector
from haina.platforms.douyin.client import DouyinClient, classify
from haina.platforms.douyin.signing import event_sign
from haina.platforms.douyin.webhooks import ACKNOWLEDGEMENT
from haina.platforms.http import PlatformError, RetryPolicy, Throttled
from haina.platforms.reading import RecordError
from haina.sandbox import world as sandbox_world
from haina.sandbox.emulators.douyin import pusher_of
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Shop
from tests.platforms.conftest import PathCounter, ShortSleeps
from tests.platforms.live_sandbox import LiveSandbox, run_stream, serve, world_span

SEED, CUSTOMERS = 7, 300
FIXTURES = Path(__file__).parents[1] / "fixtures" / "douyin"
FUZZ_START = datetime(2025, 1, 1, tzinfo=UTC)
FUZZ_UNTIL = FUZZ_START + timedelta(days=1)
ORDERS = connector.streams["orders"]
PUSH_CREDENTIALS = Credentials("7521631869783422652", "push-secret", shop_id="dy_flagship")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def fresh_sandbox() -> Iterator[LiveSandbox]:
    """A sandbox of its own, for tests that move orders (the session's `sandbox`, from
    conftest.py, is shared and only read here)."""
    with serve(SandboxState(generate_world(SEED, CUSTOMERS))) as live:
        yield live


def douyin_shop(sandbox: LiveSandbox) -> Shop:
    return sandbox.state.world.shops_of("douyin")[0]


def shop_orders(sandbox: LiveSandbox) -> dict[str, Order]:
    """Douyin lists every order of the shop, unpaid ones too."""
    return {order.order_id: order for order in sandbox.state.world.orders_of(douyin_shop(sandbox).shop_id)}


def expected_status(order: Order) -> str:
    # Douyin has one state, 4 已取消, for cancelled and fully refunded orders.
    if order.status in ("closed", "refunded"):
        return OrderStatus.CLOSED
    if order.finished_at is not None or order.status == "completed":
        return OrderStatus.COMPLETED
    if order.shipped_at is not None or order.status == "shipped":
        return OrderStatus.SHIPPED
    return OrderStatus.PAID if order.paid_at else OrderStatus.PENDING_PAYMENT


def shop_client(sandbox: LiveSandbox, secret: str | None = None, **options: Any) -> DouyinClient:
    """A self-use app's client with no token yet: it creates one for its shop on the first call."""
    shop = douyin_shop(sandbox)
    credentials = Credentials(shop.app_key, secret or shop.app_secret, shop_id=shop.shop_id)
    return connector.make_client(credentials, Endpoint(sandbox.base_url("douyin")), **options)


def test_full_sync_returns_every_order_once_with_fen_and_statuses(sandbox: LiveSandbox) -> None:
    expected = shop_orders(sandbox)
    since, until = world_span(list(expected.values()))
    client = shop_client(sandbox)
    run = run_stream(ORDERS, client, {"since": since.isoformat()}, until)
    assert client.credentials.access_token  # created through token.create
    assert sorted(run.ids) == sorted(expected) and len(set(run.ids)) == len(run.ids)
    assert run.bad == []
    statuses = set()
    for record in run.records:
        truth = expected[record.external_id]
        assert (record.total_fen, record.discount_fen, record.freight_fen, record.paid_fen) == (
            truth.total_fen,
            truth.discount_fen,
            truth.freight_fen,
            truth.paid_fen,
        )
        assert record.status == expected_status(truth)
        statuses.add(record.status)
        assert [line.external_id for line in record.lines] == [line.line_id for line in truth.lines]
        assert [line.unit_price_fen for line in record.lines] == [line.price_fen for line in truth.lines]
        phone = next(identity for identity in record.buyer if identity.kind == IdentityKind.PHONE)
        assert phone.is_masked and record.receiver_phone == phone.value and "$" not in phone.value
    assert {OrderStatus.SHIPPED, OrderStatus.COMPLETED} <= statuses
    progress = [page.progress for page in run.pages]
    assert progress == sorted(progress) and run.pages[-1].done


def test_incremental_window_returns_exactly_the_changed_orders(fresh_sandbox: LiveSandbox) -> None:
    state = fresh_sandbox.state
    since, caught_up = world_span(list(shop_orders(fresh_sandbox).values()))
    client = shop_client(fresh_sandbox)
    cursor = run_stream(ORDERS, client, {"since": since.isoformat()}, caught_up).pages[-1].cursor
    changed = list(shop_orders(fresh_sandbox).values())[:3]
    elsewhere = next(order for order in state.world.orders if order.platform == "pdd")
    with state.lock:
        for minutes, order in enumerate([*changed, elsewhere], start=1):
            order.status, order.finished_at = "completed", caught_up + timedelta(minutes=minutes)
            order.modified_at = caught_up + timedelta(minutes=minutes)
    run = run_stream(ORDERS, client, cursor, caught_up + timedelta(hours=2))
    assert sorted(run.ids) == sorted(order.order_id for order in changed)
    assert {record.status for record in run.records} == {OrderStatus.COMPLETED}


@pytest.mark.parametrize(
    "throttle_body",
    [None, {"code": 40100, "msg": "限流", "sub_code": "isp.limit", "sub_msg": "", "data": None}],
    ids=["default", "configured"],
)
def test_throttling_storm_backs_off_and_completes_without_gap_or_duplicate(
    sandbox: LiveSandbox, throttle_body: dict[str, Any] | None
) -> None:
    expected = shop_orders(sandbox)
    since, until = world_span(list(expected.values()))
    sleeps = ShortSleeps()
    client = shop_client(sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=2, random=random.Random(3)))
    state = sandbox.state
    if throttle_body:
        state.scratch["douyin"]["throttle_body"] = throttle_body
    state.faults.set("douyin", FaultPlan(throttle_rate=0.6, seed=11))
    try:
        run = run_stream(ORDERS, client, {"since": since.isoformat()}, until, resume_on=(Throttled,))
    finally:
        state.faults.clear("douyin")
        state.scratch["douyin"].pop("throttle_body", None)
    assert sorted(run.ids) == sorted(expected) and len(set(run.ids)) == len(run.ids)
    assert len(sleeps.seconds) > 0 and run.resumes >= 1


def test_a_wrong_secret_is_a_clear_error_without_retries(sandbox: LiveSandbox) -> None:
    transport, sleeps = PathCounter(), ShortSleeps()
    client = shop_client(sandbox, secret="not-the-secret", sleep=sleeps, transport=transport)
    with pytest.raises(PlatformError) as raised:
        list(ORDERS.pages(client, None, until=FUZZ_UNTIL))
    assert raised.value.code == "40002" and not raised.value.retryable
    assert "app secret" in raised.value.message
    assert (transport.total(), sleeps.seconds) == (1, [])


def test_an_unknown_token_is_replaced_once_and_the_call_succeeds(sandbox: LiveSandbox) -> None:
    client = shop_client(sandbox)
    client.credentials = Credentials(
        client.credentials.app_key, client.credentials.app_secret, client.shop_id, "gone"
    )
    _, until = world_span(list(shop_orders(sandbox).values()))
    assert (
        run_stream(ORDERS, client, {"since": (until - timedelta(days=2)).isoformat()}, until).pages[-1].done
    )
    assert client.credentials.access_token not in ("gone", "")


# ---- pushes ------------------------------------------------------------------------------


class Receiver:
    """Haina's webhook endpoint in miniature: a loopback server handing each push to the
    connector and answering what it says."""

    def __init__(self, credentials: Credentials) -> None:
        self.items: list[PushItem] = []
        self.rejections: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    answer = connector.receive_webhook(
                        credentials, "POST", {}, dict(self.headers.items()), body
                    )
                    status, content = answer.status, answer.body
                    receiver.items += answer.items
                except WebhookRejected as rejected:
                    receiver.rejections.append(rejected.status)
                    status, content = rejected.status, rejected.reason.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *arguments: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/douyin"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_sandbox_pushes_are_verified_acknowledged_and_parsed(fresh_sandbox: LiveSandbox) -> None:
    state, shop = fresh_sandbox.state, douyin_shop(fresh_sandbox)
    credentials = Credentials(shop.app_key, shop.app_secret, shop_id=shop.shop_id)
    receiver = Receiver(credentials)
    state.push_targets["douyin"] = receiver.url
    state.scratch["douyin"]["push_synchronously"] = True
    try:
        order = next(iter(shop_orders(fresh_sandbox).values()))
        refund = sandbox_world.Refund(
            "R-1",
            order.order_id,
            "douyin",
            shop.shop_id,
            1500,
            "质量问题",
            "completed",
            order.created_at,
            order.modified_at,
        )
        state.add("refunds", refund)
        state.add("refunds", refund)  # a redelivery
        state.notify("orders", order)
    finally:
        receiver.close()
    assert [outcome["status"] for outcome in pusher_of(state).delivered] == [200, 200, 200]
    assert receiver.rejections == []
    refund_items = [item for item in receiver.items if item.object_id == "R-1"]
    assert len({item.dedupe_key for item in refund_items}) == 1  # the redelivery dedupes
    [parsed] = connector.parse_push(credentials, refund_items[0].payload)
    assert isinstance(parsed, Refund)
    assert (parsed.external_id, parsed.order_external_id, parsed.amount_fen, parsed.status) == (
        "R-1",
        order.order_id,
        1500,
        RefundStatus.COMPLETED,
    )
    order_item = next(item for item in receiver.items if item.object_id == order.order_id)
    assert connector.parse_push(credentials, order_item.payload) == []  # the orders stream lists it


def signed_headers(body: bytes, credentials: Credentials = PUSH_CREDENTIALS) -> dict[str, str]:
    return {
        "App-Id": credentials.app_key,
        "Event-Sign": event_sign(credentials.app_key, body, credentials.app_secret),
    }


def test_replayed_pushes_give_one_item_per_message_and_skip_the_ping() -> None:
    body = (FIXTURES / "order_paid_and_ping.json").read_bytes()
    answer = connector.receive_webhook(PUSH_CREDENTIALS, "POST", {}, signed_headers(body), body)
    assert (answer.status, answer.body, answer.content_type) == (200, ACKNOWLEDGEMENT, "application/json")
    [item] = answer.items
    assert (item.dedupe_key, item.object_id) == ("message:6918369276192785149:2:101", "6918369276192785149")
    refund_body = (FIXTURES / "refund_completed.json").read_bytes()
    [refund_item] = connector.receive_webhook(
        PUSH_CREDENTIALS, "POST", {}, signed_headers(refund_body), refund_body
    ).items
    [refund] = connector.parse_push(PUSH_CREDENTIALS, refund_item.payload)
    assert isinstance(refund, Refund)
    assert (refund.amount_fen, refund.order_line_external_id) == (28290, "691836927619278514901")
    assert refund.modified_at == datetime(2024, 5, 1, 1, 2, tzinfo=UTC)


def wrong_sign(body: bytes) -> dict[str, str]:
    return {**signed_headers(body), "Event-Sign": "0" * 32}


def no_sign(body: bytes) -> dict[str, str]:
    return {"App-Id": PUSH_CREDENTIALS.app_key}


def other_app(body: bytes) -> dict[str, str]:
    return {**signed_headers(body), "App-Id": "someone-else"}


@pytest.mark.parametrize(
    ("headers", "method", "status"),
    [
        (wrong_sign, "POST", 401),
        (no_sign, "POST", 401),
        (other_app, "POST", 403),
        (signed_headers, "GET", 405),
    ],
    ids=["wrong sign", "no sign", "other app", "not a POST"],
)
def test_pushes_that_fail_verification_are_rejected(
    headers: Callable[[bytes], dict[str, str]], method: str, status: int
) -> None:
    body = (FIXTURES / "refund_completed.json").read_bytes()
    with pytest.raises(WebhookRejected) as rejected:
        connector.receive_webhook(PUSH_CREDENTIALS, method, {}, headers(body), body)
    assert rejected.value.status == status and rejected.value.reason


def test_a_push_signed_with_another_secret_is_rejected() -> None:
    body = (FIXTURES / "refund_completed.json").read_bytes()
    stranger = Credentials(PUSH_CREDENTIALS.app_key, "another-secret")
    with pytest.raises(WebhookRejected, match="event-sign"):
        connector.receive_webhook(PUSH_CREDENTIALS, "POST", {}, signed_headers(body, stranger), body)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=80) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_signed_pushes_become_items_or_record_errors_never_crashes(body: bytes) -> None:
    answer = connector.receive_webhook(PUSH_CREDENTIALS, "POST", {}, signed_headers(body), body)
    assert answer.status == 200
    for item in answer.items:
        assert item.dedupe_key
        try:
            connector.parse_push(PUSH_CREDENTIALS, item.payload)
        except RecordError as error:
            assert error.reason


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "tag": st.sampled_from(["200", "201", "204", "206", "101", "999", 206]),
                "msg_id": st.text(max_size=6),
                "data": JSON_VALUES.map(json.dumps),
            }
        ),
        max_size=3,
    )
)
def test_fuzzed_messages_in_the_documented_shape_never_crash(messages: list[dict[str, Any]]) -> None:
    body = json.dumps(messages).encode()
    for item in connector.receive_webhook(PUSH_CREDENTIALS, "POST", {}, signed_headers(body), body).items:
        try:
            records = connector.parse_push(PUSH_CREDENTIALS, item.payload)
        except RecordError as error:
            assert error.reason
        else:
            assert all(isinstance(record, Refund) for record in records)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=40), st.text(max_size=40))
def test_fuzzed_unsigned_pushes_are_rejected(body: bytes, signature: str) -> None:
    with pytest.raises(WebhookRejected):
        connector.receive_webhook(PUSH_CREDENTIALS, "POST", {}, {"event-sign": signature + "x"}, body)


# ---- fuzzed gateway answers ----------------------------------------------------------------


def envelope(orders: list[Any]) -> bytes:
    data = {"shop_order_list": orders, "page": 0, "size": 100, "total": len(orders)}
    return json.dumps({"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "data": data}).encode()


def scripted_client(body: bytes) -> DouyinClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    credentials = Credentials("key", "secret", shop_id="dy_flagship", access_token="token")
    return DouyinClient(
        credentials, Endpoint("http://douyin.invalid"), sleep=ShortSleeps(), transport=transport
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_VALUES, max_size=4))
def test_fuzzed_orders_in_a_valid_answer_become_records_or_bad_records(orders: list[Any]) -> None:
    run = run_stream(ORDERS, scripted_client(envelope(orders)), {"since": FUZZ_START.isoformat()}, FUZZ_UNTIL)
    assert len(run.records) + len(run.bad) == len(orders)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=64) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_answers_raise_only_platform_errors(body: bytes) -> None:
    verdict = classify(httpx.Response(200, content=body))
    assert verdict is None or isinstance(verdict, PlatformError)
    try:
        run_stream(ORDERS, scripted_client(body), {"since": FUZZ_START.isoformat()}, FUZZ_UNTIL)
    except PlatformError as error:
        assert error.message
