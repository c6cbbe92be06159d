"""The Pinduoduo connector against the sandbox's emulator over real HTTP: OAuth, the paid-time
backfill then update-time increments, a 70031 throttling storm, a wrong secret, fuzzed answers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.platforms.base import Credentials, Endpoint, WebhookRejected
from haina.platforms.canonical import IdentityKind, OrderStatus
from haina.platforms.http import PlatformError, RetryPolicy, Throttled
from haina.platforms.pdd import connector
from haina.platforms.pdd.client import PddClient, classify
from haina.platforms.pdd.sync import INCREMENT_WINDOW, LIST_WINDOW
from haina.platforms.windows import INCREMENT
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Shop
from tests.platforms.conftest import PathCounter, ShortSleeps
from tests.platforms.live_sandbox import LiveSandbox, run_stream, serve, world_span

SEED, CUSTOMERS = 7, 300
FUZZ_START = datetime(2025, 1, 1, tzinfo=UTC)
FUZZ_UNTIL = FUZZ_START + timedelta(days=1)
ORDERS = connector.streams["orders"]
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


def pdd_shop(sandbox: LiveSandbox) -> Shop:
    return sandbox.state.world.shops_of("pdd")[0]


def listed_orders(sandbox: LiveSandbox) -> dict[str, Order]:
    """What Pinduoduo lists: the shop's paid orders (an unpaid order does not exist for the API)."""
    shop = pdd_shop(sandbox)
    return {order.order_id: order for order in sandbox.state.world.orders_of(shop.shop_id) if order.paid_at}


def expected_status(sandbox: LiveSandbox, order: Order) -> str:
    refunds = [refund for refund in sandbox.state.world.refunds if refund.order_id == order.order_id]
    if order.finished_at is not None or order.status == "completed":
        progress = OrderStatus.COMPLETED
    elif order.shipped_at is not None or order.status == "shipped":
        progress = OrderStatus.SHIPPED
    else:
        progress = OrderStatus.PAID
    if any(refund.status in ("requested", "agreed") for refund in refunds):
        return progress  # an after-sale in progress does not change the order's state
    if any(refund.status == "completed" for refund in refunds) or order.status in (
        "refunded",
        "partially_refunded",
    ):
        return OrderStatus.REFUNDED  # 退款成功; the list does not say whether in part
    return progress


def authorised_client(sandbox: LiveSandbox, **options: Any) -> PddClient:
    """A client holding a token got the way a merchant grants one: consent redirect, then code."""
    shop = pdd_shop(sandbox)
    consent = httpx.get(
        sandbox.base_url("pdd") + "/authorize",
        params={"client_id": shop.app_key, "redirect_uri": "https://haina.example/pdd", "state": "s"},
        trust_env=False,
    )
    code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
    credentials = Credentials(shop.app_key, shop.app_secret, shop_id=shop.shop_id)
    client = connector.make_client(credentials, Endpoint(sandbox.base_url("pdd")), **options)
    client.create_token(code)
    return client


def test_full_sync_returns_every_listed_order_once_with_fen_and_statuses(sandbox: LiveSandbox) -> None:
    expected = listed_orders(sandbox)
    since, until = world_span(list(expected.values()))
    run = run_stream(ORDERS, authorised_client(sandbox), {"since": since.isoformat()}, until)
    assert sorted(run.ids) == sorted(expected) and len(set(run.ids)) == len(run.ids)
    assert run.bad == []
    for record in run.records:
        truth = expected[record.external_id]
        assert (record.total_fen, record.discount_fen, record.freight_fen, record.paid_fen) == (
            truth.total_fen,
            truth.discount_fen,
            truth.freight_fen,
            truth.paid_fen,
        )
        assert record.status == expected_status(sandbox, truth)
        assert truth.paid_at and record.paid_at == truth.paid_at.replace(microsecond=0)
        assert all(identity.is_masked for identity in record.buyer if identity.kind == IdentityKind.PHONE)
        assert "~" not in record.receiver_phone + record.receiver_name + record.receiver_address.street
    assert run.pages[-1].done and run.pages[-1].cursor["phase"] == INCREMENT


def test_incremental_windows_return_exactly_the_changed_orders(fresh_sandbox: LiveSandbox) -> None:
    state = fresh_sandbox.state
    since, caught_up = world_span(list(listed_orders(fresh_sandbox).values()))
    client = authorised_client(fresh_sandbox)
    backfill = run_stream(ORDERS, client, {"since": since.isoformat()}, caught_up)
    assert len(backfill.pages) == -(-(caught_up - since) // LIST_WINDOW)  # one call per 24 h window
    shipped = [order for order in listed_orders(fresh_sandbox).values() if order.status == "completed"][:3]
    elsewhere = next(order for order in state.world.orders if order.platform == "jd")
    with state.lock:
        for minutes, order in enumerate([*shipped, elsewhere], start=25):
            order.modified_at = caught_up + timedelta(minutes=minutes)
            order.version += 1
    run = run_stream(ORDERS, client, backfill.pages[-1].cursor, caught_up + timedelta(hours=1))
    assert sorted(run.ids) == sorted(order.order_id for order in shipped)
    assert len(run.pages) == timedelta(hours=1) // INCREMENT_WINDOW


def test_throttling_storm_backs_off_and_completes_without_gap_or_duplicate(sandbox: LiveSandbox) -> None:
    expected = listed_orders(sandbox)
    since, until = world_span(list(expected.values()))
    sleeps = ShortSleeps()
    client = authorised_client(
        sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=2, random=random.Random(3))
    )
    sandbox.state.faults.set("pdd", FaultPlan(throttle_rate=0.6, seed=11))
    try:
        run = run_stream(ORDERS, client, {"since": since.isoformat()}, until, resume_on=(Throttled,))
    finally:
        sandbox.state.faults.clear("pdd")
    assert sorted(run.ids) == sorted(expected) and len(set(run.ids)) == len(run.ids)
    assert sandbox.state.faults.counts["pdd"]["throttle"] > 0 and len(sleeps.seconds) > 0
    assert run.resumes >= 1  # the seeded storm outlasts the retry budget at least once


def test_a_wrong_secret_is_a_clear_error_without_retries(sandbox: LiveSandbox) -> None:
    shop = pdd_shop(sandbox)
    transport, sleeps = PathCounter(), ShortSleeps()
    credentials = Credentials(shop.app_key, "not-the-secret", shop_id=shop.shop_id, access_token="t")
    client = connector.make_client(
        credentials, Endpoint(sandbox.base_url("pdd")), sleep=sleeps, transport=transport
    )
    with pytest.raises(PlatformError) as raised:
        list(ORDERS.pages(client, None, until=FUZZ_UNTIL))
    assert raised.value.code == "20004" and not raised.value.retryable
    assert "client secret" in raised.value.message
    assert (transport.total(), sleeps.seconds) == (1, [])


def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(sandbox: LiveSandbox) -> None:
    client = authorised_client(sandbox)
    granted = client.credentials
    client.credentials = Credentials(
        granted.app_key, granted.app_secret, granted.shop_id, "expired", granted.refresh_token
    )
    _, until = world_span(list(listed_orders(sandbox).values()))
    cursor = {
        "phase": INCREMENT,
        "since": (until - timedelta(hours=1)).isoformat(),
        "page": 1,
        "backfill_until": until.isoformat(),
    }
    assert run_stream(ORDERS, client, cursor, until).pages[-1].done
    assert client.credentials.access_token not in ("expired", granted.access_token)


def test_pdd_has_no_push() -> None:
    with pytest.raises(WebhookRejected) as raised:
        connector.receive_webhook(Credentials("k", "s"), "POST", {}, {}, b"{}")
    assert raised.value.status == 404


def envelope(orders: list[Any]) -> bytes:
    return json.dumps(
        {"order_list_get_response": {"total_count": len(orders), "order_list": orders}}
    ).encode()


def scripted_client(body: bytes) -> PddClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    credentials = Credentials("key", "secret", shop_id="pdd_store", access_token="token")
    return PddClient(credentials, Endpoint("http://pdd.invalid"), sleep=ShortSleeps(), transport=transport)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON_VALUES, max_size=4))
def test_fuzzed_orders_in_a_valid_answer_become_records_or_bad_records(orders: list[Any]) -> None:
    run = run_stream(ORDERS, scripted_client(envelope(orders)), {"since": FUZZ_START.isoformat()}, FUZZ_UNTIL)
    assert len(run.records) + len(run.bad) == len(orders)
    assert all(bad.reason for bad in run.bad)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=64) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_answers_raise_only_platform_errors(body: bytes) -> None:
    verdict = classify(httpx.Response(200, content=body))
    assert verdict is None or isinstance(verdict, PlatformError)
    try:
        run_stream(ORDERS, scripted_client(body), {"since": FUZZ_START.isoformat()}, FUZZ_UNTIL)
    except PlatformError as error:
        assert error.message
