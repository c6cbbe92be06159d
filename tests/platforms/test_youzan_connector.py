"""The Youzan connector against the sandbox's Youzan emulator over real HTTP: token, full and
incremental order sync (with refunds and decrypted PII), a throttling storm, server errors, a wrong
secret, and pushes in both signature styles, forged and fuzzed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.platforms.base import Credentials, Endpoint, WebhookRejected
from haina.platforms.canonical import IdentityKind, Order, Refund
from haina.platforms.http import PlatformError, RetryPolicy
from haina.platforms.reading import RecordError
from haina.platforms.registry import get_connector
from haina.platforms.youzan import connector
from haina.platforms.youzan.client import YouzanClient
from haina.sandbox.emulators.youzan import pusher_of
from haina.sandbox.faults import FaultPlan
from haina.sandbox.world import Order as WorldOrder
from haina.sandbox.world import Shop
from tests.platforms.conftest import PathCounter, ShortSleeps
from tests.platforms.live_sandbox import LiveSandbox, run_stream, world_span

ORDERS = connector.streams["orders"]


def youzan_shop(sandbox: LiveSandbox) -> Shop:
    return sandbox.state.world.shops_of("youzan")[0]


def credentials(sandbox: LiveSandbox, *, secret: str | None = None) -> Credentials:
    shop = youzan_shop(sandbox)
    return Credentials(shop.app_key, shop.app_secret if secret is None else secret, shop_id=shop.shop_id)


def client(sandbox: LiveSandbox, **options: Any) -> YouzanClient:
    options.setdefault("sleep", ShortSleeps())
    options.setdefault("retry", RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05))
    return connector.make_client(credentials(sandbox), Endpoint(sandbox.base_url("youzan")), **options)


def world_orders(sandbox: LiveSandbox) -> dict[str, WorldOrder]:
    return {order.order_id: order for order in sandbox.state.world.orders_of(youzan_shop(sandbox).shop_id)}


def full_sync(sandbox: LiveSandbox, youzan: YouzanClient) -> tuple[list[Order], list[Refund], dict[str, Any]]:
    start, end = world_span(list(world_orders(sandbox).values()))
    run = run_stream(ORDERS, youzan, {"since": start.isoformat()}, end)
    assert run.bad == []
    orders = [record for record in run.records if isinstance(record, Order)]
    refunds = [record for record in run.records if isinstance(record, Refund)]
    return orders, refunds, run.pages[-1].cursor


def test_registry_finds_the_connector() -> None:
    assert get_connector("youzan") is connector


def test_full_sync_returns_every_order_and_refund_once_exactly(sandbox: LiveSandbox) -> None:
    orders, refunds, _ = full_sync(sandbox, client(sandbox))
    world = world_orders(sandbox)
    assert sorted(order.external_id for order in orders) == sorted(world)
    for order in orders:
        source = world[order.external_id]
        assert order.status == source.status  # the world's states are the canonical ones
        assert (order.total_fen, order.paid_fen, order.freight_fen) == (
            source.total_fen,
            source.paid_fen,
            source.freight_fen,
        )
        assert order.discount_fen == source.discount_fen
        assert sum(line.unit_price_fen * line.quantity for line in order.lines) == sum(
            line.price_fen * line.quantity for line in source.lines
        )
        assert order.receiver_phone == source.receiver_phone  # decrypted with the shop's key
        assert order.receiver_address.street == source.address
        assert order.created_at == source.created_at.replace(microsecond=0)
        assert order.modified_at == source.modified_at.replace(microsecond=0)
        assert any(
            identity.kind == IdentityKind.BUYER_ID and identity.value == source.buyer_id
            for identity in order.buyer
        )
    world_refunds = {
        r.refund_id: r for r in sandbox.state.world.refunds if r.shop_id == youzan_shop(sandbox).shop_id
    }
    assert sorted(refund.external_id for refund in refunds) == sorted(world_refunds)
    for refund in refunds:
        source_refund = world_refunds[refund.external_id]
        assert (refund.amount_fen, refund.status, refund.order_external_id) == (
            source_refund.amount_fen,
            source_refund.status,
            source_refund.order_id,
        )


def test_incremental_window_returns_exactly_the_changed_orders(sandbox: LiveSandbox) -> None:
    youzan = client(sandbox)
    _, _, cursor = full_sync(sandbox, youzan)
    _, end = world_span(list(world_orders(sandbox).values()))
    changed = sorted(world_orders(sandbox).values(), key=lambda order: order.order_id)[:3]
    for hours, order in enumerate(changed, start=1):
        order.modified_at = end + timedelta(hours=hours)
        order.version += 1
        sandbox.state.notify("orders", order)
    run = run_stream(ORDERS, youzan, cursor, end + timedelta(days=2))
    ids = [record.external_id for record in run.records if isinstance(record, Order)]
    assert sorted(ids) == sorted(order.order_id for order in changed)
    # Caught up: another run from the last cursor lists nothing.
    again = run_stream(ORDERS, youzan, run.pages[-1].cursor, end + timedelta(days=2))
    assert again.records == [] and again.pages[-1].done


def test_throttling_storm_backs_off_and_the_sync_is_exact(sandbox: LiveSandbox) -> None:
    sleeps = ShortSleeps(cap=0.05)
    youzan = client(sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=200, base_delay=0.05, max_delay=1))
    sandbox.state.faults.set("youzan", FaultPlan(throttle_for_seconds=0.4))
    orders, refunds, _ = full_sync(sandbox, youzan)
    assert sandbox.state.faults.counts["youzan"]["throttle"] >= 1
    assert sleeps.seconds
    assert sorted(order.external_id for order in orders) == sorted(world_orders(sandbox))
    assert len({refund.external_id for refund in refunds}) == len(refunds)


def test_server_errors_are_retried(sandbox: LiveSandbox) -> None:
    youzan = client(sandbox, retry=RetryPolicy(max_attempts=20))
    sandbox.state.faults.set("youzan", FaultPlan(error_rate=0.3, seed=5))
    orders, _, _ = full_sync(sandbox, youzan)
    assert sandbox.state.faults.counts["youzan"]["error"] >= 1
    assert sorted(order.external_id for order in orders) == sorted(world_orders(sandbox))


def test_wrong_secret_is_a_clear_error_without_retry(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    youzan = connector.make_client(
        credentials(sandbox, secret="wrong"), Endpoint(sandbox.base_url("youzan")), transport=counter
    )
    with pytest.raises(PlatformError) as caught:
        youzan.access_token()
    assert not caught.value.retryable
    assert "client_secret" in str(caught.value)
    assert counter.total() == 1


def test_a_refused_token_is_renewed_once(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    youzan = client(sandbox, transport=counter)
    youzan.access_token()
    sandbox.state.scratch["youzan"]["tokens"].clear()  # the token is no longer valid (4201)
    data = youzan.call("youzan.trades.sold.get", "4.0.2", {"page_size": 1})
    assert data["total_results"] >= 1
    assert counter.count("/auth/token") == 2


# -- pushes ------------------------------------------------------------------------------------


def push(sandbox: LiveSandbox, record: object, style: str = "body") -> tuple[bytes, dict[str, str]]:
    """The exact request the emulator would POST for a change of `record`."""
    pusher = pusher_of(sandbox.state)
    sandbox.state.scratch["youzan"]["push_style"] = style
    try:
        message = (
            pusher.order_message(record) if isinstance(record, WorldOrder) else pusher.refund_message(record)
        )
        assert message is not None
        return pusher.request(message, 0)
    finally:
        sandbox.state.scratch["youzan"]["push_style"] = "body"


def completed_order(sandbox: LiveSandbox) -> WorldOrder:
    return next(order for order in world_orders(sandbox).values() if order.status == "completed")


@pytest.mark.parametrize("style", ["body", "header", "both"])
def test_push_is_verified_and_parsed(sandbox: LiveSandbox, style: str) -> None:
    order = completed_order(sandbox)
    body, headers = push(sandbox, order, style)
    answer = connector.receive_webhook(credentials(sandbox), "POST", {}, headers, body)
    assert answer.status == 200 and json.loads(answer.body) == {"code": 0, "msg": "success"}
    [item] = answer.items
    assert item.object_id == order.order_id
    records = connector.parse_push(credentials(sandbox), item.payload)
    [parsed] = [record for record in records if isinstance(record, Order)]
    assert (parsed.external_id, parsed.status, parsed.paid_fen) == (
        order.order_id,
        "completed",
        order.paid_fen,
    )
    assert parsed.receiver_phone == ""  # ciphertext without the shop's key is unknown, not garbage


def test_refund_push_parses(sandbox: LiveSandbox) -> None:
    refund = next(r for r in sandbox.state.world.refunds if r.shop_id == youzan_shop(sandbox).shop_id)
    body, headers = push(sandbox, refund)
    [item] = connector.receive_webhook(credentials(sandbox), "POST", {}, headers, body).items
    [parsed] = connector.parse_push(credentials(sandbox), item.payload)
    assert isinstance(parsed, Refund)
    assert (parsed.external_id, parsed.amount_fen, parsed.status) == (
        refund.refund_id,
        refund.amount_fen,
        refund.status,
    )


def test_redelivery_has_the_same_dedupe_key(sandbox: LiveSandbox) -> None:
    pusher = pusher_of(sandbox.state)
    message = pusher.order_message(completed_order(sandbox))
    assert message is not None
    keys = set()
    for send_count in range(3):
        body, headers = pusher.request(message, send_count)
        keys.add(
            connector.receive_webhook(credentials(sandbox), "POST", {}, headers, body).items[0].dedupe_key
        )
    assert len(keys) == 1


def test_forged_foreign_and_heartbeat_pushes(sandbox: LiveSandbox) -> None:
    body, headers = push(sandbox, completed_order(sandbox))
    with pytest.raises(WebhookRejected) as caught:
        connector.receive_webhook(credentials(sandbox, secret="other"), "POST", {}, headers, body)
    assert caught.value.status == 401
    body, headers = push(sandbox, completed_order(sandbox), "header")
    with pytest.raises(WebhookRejected):
        connector.receive_webhook(credentials(sandbox), "POST", {}, headers, body + b" ")
    other = Credentials("another-client", youzan_shop(sandbox).app_secret, shop_id="1")
    envelope = json.loads(push(sandbox, completed_order(sandbox))[0])
    with pytest.raises(WebhookRejected) as caught:
        connector.receive_webhook(other, "POST", {}, {}, json.dumps(envelope).encode())
    assert caught.value.status in (401, 403)
    shop = youzan_shop(sandbox)
    heartbeat = {"client_id": shop.app_key, "msg": "%7B%7D", "test": True, "type": "trade_TradeCreate"}
    from haina.platforms.youzan.signing import push_sign

    heartbeat["sign"] = push_sign(shop.app_key, "%7B%7D", shop.app_secret)
    answer = connector.receive_webhook(credentials(sandbox), "POST", {}, {}, json.dumps(heartbeat).encode())
    assert answer.status == 200 and answer.items == []


@pytest.fixture(scope="module")
def shop_credentials(sandbox: LiveSandbox) -> tuple[Credentials, Shop]:
    return credentials(sandbox), youzan_shop(sandbox)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@FUZZ
@given(body=st.binary(max_size=500), sign=st.text(max_size=40))
def test_fuzzed_pushes_are_rejected_never_crash(
    shop_credentials: tuple[Credentials, Shop], body: bytes, sign: str
) -> None:
    headers = {"Event-Sign": sign} if sign else {}
    with pytest.raises(WebhookRejected):
        connector.receive_webhook(shop_credentials[0], "POST", {}, headers, body)


@FUZZ
@given(
    msg=JSON_VALUES,
    kind=st.sampled_from(["trade_TradeCreate", "trade_refund_RefundSuccess", "x"]),
    status=st.text(max_size=10),
)
def test_fuzzed_signed_messages_parse_or_fail_cleanly(
    shop_credentials: tuple[Credentials, Shop], msg: object, kind: str, status: str
) -> None:
    creds, shop = shop_credentials
    body = json.dumps(
        {"client_id": shop.app_key, "type": kind, "status": status, "msg": json.dumps(msg)}
    ).encode()
    from haina.platforms.youzan.signing import event_sign

    answer = connector.receive_webhook(
        creds, "POST", {}, {"Event-Sign": event_sign(shop.app_key, body, shop.app_secret)}, body
    )
    for item in answer.items:
        try:
            connector.parse_push(creds, item.payload)
        except RecordError as error:
            assert error.reason


@FUZZ
@given(trade=JSON_VALUES)
def test_fuzzed_trades_become_bad_records(trade: object) -> None:
    from haina.platforms.youzan.mapping import map_trades

    records, bad = map_trades([trade], "shop", lambda value: value)
    assert len(records) + len(bad) >= 1


def test_a_malformed_trade_is_a_bad_record_and_the_rest_maps(sandbox: LiveSandbox) -> None:
    from haina.platforms.youzan.mapping import map_trades

    good = json.loads(push(sandbox, completed_order(sandbox))[0])
    from urllib.parse import unquote_plus

    trade = json.loads(unquote_plus(good["msg"]))
    broken = json.loads(json.dumps(trade))
    broken["full_order_info"]["pay_info"]["payment"] = "lots"
    records, bad = map_trades([broken, trade], "yz", lambda value: "")
    assert len(bad) == 1 and "payment" in bad[0].reason
    assert bad[0].object_id == trade["full_order_info"]["order_info"]["tid"]
    assert any(isinstance(record, Order) for record in records)


def test_dates_are_aware_utc(sandbox: LiveSandbox) -> None:
    orders, _, _ = full_sync(sandbox, client(sandbox))
    assert all(order.created_at.tzinfo == UTC for order in orders[:5])
    assert all(order.created_at < datetime(2030, 1, 1, tzinfo=UTC) for order in orders)
