"""The Taobao/Tmall connector against the sandbox's TOP emulator over real HTTP: signed calls, full
and incremental order sync (same-day windows), refunds, TMC polling with confirmation, session
refresh, a throttling storm, server errors, a wrong secret, and fuzzed messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.core import clock
from haina.platforms.base import Credentials, Endpoint, WebhookRejected
from haina.platforms.canonical import IdentityKind, Order, Refund
from haina.platforms.http import PlatformError, RetryPolicy
from haina.platforms.reading import RecordError
from haina.platforms.registry import get_connector
from haina.platforms.taobao import connector
from haina.platforms.taobao.client import TaobaoClient
from haina.platforms.taobao.mapping import map_refunds, map_trades
from haina.sandbox.emulators.taobao import issue_session, numeric_id
from haina.sandbox.faults import FaultPlan
from haina.sandbox.world import Order as WorldOrder
from haina.sandbox.world import Shop
from tests.platforms.conftest import PathCounter, ShortSleeps
from tests.platforms.live_sandbox import LiveSandbox, run_stream, world_span

ORDERS, REFUNDS, TMC = (connector.streams[name] for name in ("orders", "refunds", "tmc"))


def taobao_shop(sandbox: LiveSandbox, platform: str = "taobao") -> Shop:
    return sandbox.state.world.shops_of(platform)[0]


def credentials(sandbox: LiveSandbox, *, secret: str | None = None, platform: str = "taobao") -> Credentials:
    shop = taobao_shop(sandbox, platform)
    session = issue_session(sandbox.state, shop.shop_id)
    refresh = sandbox.state.scratch["taobao"]["sessions"][session].refresh_token
    return Credentials(
        shop.app_key,
        shop.app_secret if secret is None else secret,
        shop_id=shop.shop_id,
        access_token=session,
        refresh_token=refresh,
        extra={"platform": platform},
    )


def client(sandbox: LiveSandbox, platform: str = "taobao", **options: Any) -> TaobaoClient:
    options.setdefault("sleep", ShortSleeps())
    options.setdefault("retry", RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05))
    creds = credentials(sandbox, platform=platform)
    return connector.make_client(creds, Endpoint(sandbox.base_url("taobao")), **options)


def world_orders(sandbox: LiveSandbox, platform: str = "taobao") -> dict[str, WorldOrder]:
    shop = taobao_shop(sandbox, platform)
    return {str(numeric_id(order.order_id)): order for order in sandbox.state.world.orders_of(shop.shop_id)}


def full_orders(
    sandbox: LiveSandbox, taobao: TaobaoClient, platform: str = "taobao"
) -> tuple[list[Order], dict]:
    start, end = world_span(list(world_orders(sandbox, platform).values()))
    run = run_stream(ORDERS, taobao, {"since": start.isoformat()}, end)
    assert run.bad == []
    return run.records, run.pages[-1].cursor


def test_registry_finds_the_connector() -> None:
    assert get_connector("taobao") is connector
    assert get_connector("tmall") is connector


def test_full_sync_returns_every_order_once_with_amounts_and_statuses(sandbox: LiveSandbox) -> None:
    orders, _ = full_orders(sandbox, client(sandbox))
    world = world_orders(sandbox)
    assert sorted(order.external_id for order in orders) == sorted(world)
    for order in orders:
        source = world[order.external_id]
        assert order.status == source.status, order.platform_status
        assert (order.total_fen, order.discount_fen, order.freight_fen, order.paid_fen) == (
            source.total_fen,
            source.discount_fen,
            source.freight_fen,
            source.paid_fen,
        )
        assert [line.quantity for line in order.lines] == [line.quantity for line in source.lines]
        assert [line.unit_price_fen for line in order.lines] == [line.price_fen for line in source.lines]
        assert order.modified_at == source.modified_at.replace(microsecond=0)
        kinds = {identity.kind: identity for identity in order.buyer}
        assert kinds[IdentityKind.OPEN_UID].value == source.buyer_id
        assert IdentityKind.OAID in kinds
        if IdentityKind.PHONE in kinds:
            assert kinds[IdentityKind.PHONE].is_masked  # the app sees masked receivers


def test_tmall_shop_records_say_tmall(sandbox: LiveSandbox) -> None:
    tmall = client(sandbox, "tmall")
    start, end = world_span(list(world_orders(sandbox, "tmall").values()))
    page = next(iter(ORDERS.pages(tmall, {"since": (end - timedelta(days=30)).isoformat()}, until=end)))
    assert page.records and {record.platform for record in page.records} == {"tmall"}


def test_incremental_windows_return_exactly_the_changed_orders_within_one_day(sandbox: LiveSandbox) -> None:
    taobao = client(sandbox)
    _, cursor = full_orders(sandbox, taobao)
    _, end = world_span(list(world_orders(sandbox).values()))
    changed = sorted(world_orders(sandbox).values(), key=lambda order: order.order_id)[:3]
    for hours, order in zip((2, 20, 30), changed, strict=True):  # across a midnight
        order.modified_at = end + timedelta(hours=hours)
        sandbox.state.notify("orders", order)
    sandbox.state.scratch["taobao"]["increment_same_day"] = True  # TOP's rule, enforced
    try:
        run = run_stream(ORDERS, taobao, cursor, end + timedelta(days=2))
    finally:
        sandbox.state.scratch["taobao"]["increment_same_day"] = False
    assert sorted(record.external_id for record in run.records) == sorted(
        str(numeric_id(order.order_id)) for order in changed
    )
    assert run.pages[-1].done


def test_reconciliation_lists_old_orders_changed_in_its_window(sandbox: LiveSandbox) -> None:
    """The spine's reconciliation re-pulls a recent window: by modification time, so an order
    created long ago and changed in the window (its change missed) is listed again."""
    taobao = client(sandbox)
    _, end = world_span(list(world_orders(sandbox).values()))
    oldest = sorted(world_orders(sandbox).values(), key=lambda order: order.created_at)[0]
    assert oldest.created_at < end - timedelta(days=30)
    oldest.modified_at = end + timedelta(minutes=30)
    sandbox.state.notify("orders", oldest)
    window_start = end
    run = run_stream(ORDERS, taobao, ORDERS.reconcile_cursor(window_start), end + timedelta(hours=1))
    assert [record.external_id for record in run.records] == [str(numeric_id(oldest.order_id))]


def test_refunds_stream_returns_every_refund_once(sandbox: LiveSandbox) -> None:
    shop = taobao_shop(sandbox)
    world = {r.refund_id: r for r in sandbox.state.world.refunds if r.shop_id == shop.shop_id}
    start = min(refund.created_at for refund in world.values()) - timedelta(seconds=1)
    end = max(refund.modified_at for refund in world.values()).replace(microsecond=0) + timedelta(seconds=1)
    run = run_stream(REFUNDS, client(sandbox), {"since": start.isoformat()}, end)
    assert run.bad == []
    assert sorted(refund.external_id for refund in run.records) == sorted(world)
    for refund in run.records:
        source = world[refund.external_id]
        assert (refund.amount_fen, refund.status) == (source.amount_fen, source.status)
        assert refund.order_external_id == str(numeric_id(source.order_id))


FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)  # the tmc stream drains the queue whatever `until` says


def drain(taobao: TaobaoClient) -> None:
    run_stream(TMC, taobao, None, FAR_FUTURE)


def test_tmc_messages_become_records_and_are_confirmed_after_storing(sandbox: LiveSandbox) -> None:
    taobao = client(sandbox)
    drain(taobao)
    orders = sorted(world_orders(sandbox).values(), key=lambda order: order.order_id)[-2:]
    for order in orders:
        sandbox.state.notify("orders", order)
        sandbox.state.notify("orders", order)  # two messages, one fetch
    refund = next(r for r in sandbox.state.world.refunds if r.shop_id == taobao_shop(sandbox).shop_id)
    sandbox.state.notify("refunds", refund)
    pages = TMC.pages(taobao, None, until=FAR_FUTURE)
    first = next(pages)  # stored by the spine, but the run stops before confirming
    pages.close()
    ids = sorted(record.external_id for record in first.records if isinstance(record, Order))
    assert ids == sorted(str(numeric_id(order.order_id)) for order in orders)
    [parsed_refund] = [record for record in first.records if isinstance(record, Refund)]
    assert (parsed_refund.external_id, parsed_refund.amount_fen) == (refund.refund_id, refund.amount_fen)
    assert len(first.cursor["unconfirmed"]) == 5
    queue = sandbox.state.scratch["taobao"]["tmc"][taobao.app_key]
    assert len(queue) == 5  # consumed, not yet confirmed: TMC would deliver them again
    # The next run confirms what the saved cursor names, so nothing comes twice.
    again = run_stream(TMC, taobao, first.cursor, FAR_FUTURE)
    assert again.records == [] and again.pages[-1].done
    assert len(queue) == 0
    assert taobao.tmc_consume(100) == []


def test_expired_session_is_refreshed_once(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    taobao = client(sandbox, transport=counter)
    old = taobao.session
    session = sandbox.state.scratch["taobao"]["sessions"][old]
    session.expires_at = session.expires_at - timedelta(days=5)
    answer = taobao.call("taobao.trades.sold.get", {"fields": "tid", "page_size": 1})
    assert "trades" in answer
    assert taobao.session != old
    assert counter.count("taobao.top.auth.token.refresh") == 1
    assert counter.count("taobao.trades.sold.get") == 2


def test_a_stale_timestamp_is_signed_again(sandbox: LiveSandbox) -> None:
    class LateTransport(PathCounter):
        """The first request arrives 11 minutes after it was signed (a long backoff)."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if self.total() == 0:
                clock.advance(timedelta(minutes=11))
            return super().handle_request(request)

    late = LateTransport()
    clock.freeze(datetime.now(UTC))
    try:
        taobao = client(sandbox, transport=late)
        assert "has_next" in taobao.call("taobao.trades.sold.get", {"fields": "tid", "use_has_next": True})
    finally:
        clock.freeze(None)
    assert late.count("taobao.trades.sold.get") == 2


def test_throttling_storm_backs_off_and_the_sync_is_exact(sandbox: LiveSandbox) -> None:
    sleeps = ShortSleeps(cap=0.05)
    taobao = client(sandbox, sleep=sleeps, retry=RetryPolicy(max_attempts=200, base_delay=0.05, max_delay=5))
    sandbox.state.faults.set("taobao", FaultPlan(throttle_for_seconds=0.4))
    orders, _ = full_orders(sandbox, taobao)
    assert sandbox.state.faults.counts["taobao"]["throttle"] >= 1
    assert max(sleeps.seconds) >= 1  # "This ban will last for 1 more seconds"
    assert sorted(order.external_id for order in orders) == sorted(world_orders(sandbox))


def test_server_errors_are_retried(sandbox: LiveSandbox) -> None:
    taobao = client(sandbox, retry=RetryPolicy(max_attempts=20))
    sandbox.state.faults.set("taobao", FaultPlan(error_rate=0.3, seed=9))
    orders, _ = full_orders(sandbox, taobao)
    assert sandbox.state.faults.counts["taobao"]["error"] >= 1
    assert sorted(order.external_id for order in orders) == sorted(world_orders(sandbox))


def test_wrong_secret_is_a_clear_error_without_retry(sandbox: LiveSandbox) -> None:
    counter = PathCounter()
    taobao = connector.make_client(
        credentials(sandbox, secret="wrong"), Endpoint(sandbox.base_url("taobao")), transport=counter
    )
    with pytest.raises(PlatformError) as caught:
        taobao.call("taobao.trades.sold.get", {"fields": "tid"})
    assert caught.value.code == "25"
    assert "app secret" in str(caught.value)
    assert counter.total() == 1


# -- no HTTP push; stored TMC messages ------------------------------------------------------


def test_webhook_is_refused(sandbox: LiveSandbox) -> None:
    with pytest.raises(WebhookRejected) as caught:
        connector.receive_webhook(credentials(sandbox), "POST", {}, {}, b"{}")
    assert caught.value.status == 404


def test_stored_refund_message_parses() -> None:
    message = {
        "id": 1,
        "topic": "taobao_refund_RefundSuccess",
        "content": json.dumps(
            {"refund_id": 77, "tid": 88, "oid": 99, "refund_fee": "12.30", "modified": "2025-06-18 10:00:00"}
        ),
    }
    creds = Credentials("k", "s", shop_id="tb")
    [refund] = connector.parse_push(creds, json.dumps(message).encode())
    assert isinstance(refund, Refund)
    assert (refund.external_id, refund.amount_fen, refund.status) == ("77", 1230, "completed")
    assert refund.modified_at.isoformat() == "2025-06-18T02:00:00+00:00"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
FUZZ = settings(max_examples=80, deadline=None)


@FUZZ
@given(payload=st.binary(max_size=300) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_messages_parse_or_fail_cleanly(payload: bytes) -> None:
    try:
        connector.parse_push(Credentials("k", "s", shop_id="tb"), payload)
    except RecordError as error:
        assert error.reason


@FUZZ
@given(raw=JSON_VALUES, trade=st.fixed_dictionaries({"status": st.text(max_size=8), "orders": JSON_VALUES}))
def test_fuzzed_trades_and_refunds_become_bad_records(raw: object, trade: dict) -> None:
    orders, bad = map_trades([raw, trade], "tb", "taobao")
    assert len(orders) + len(bad) == 2
    refunds, bad_refunds = map_refunds([raw], "tb", "taobao")
    assert len(refunds) + len(bad_refunds) == 1
