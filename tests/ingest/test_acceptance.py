"""Acceptance of the ingest spine against a seeded sandbox merchant, over real loopback HTTP.

1. A full sync of every shop (WeCom, Youzan, Taobao, Tmall, Douyin, JD, Pinduoduo), every stream:
   each order arrives exactly once with its amounts and a sensible status, every Taobao/Tmall
   refund, every Youzan refund, every WeCom contact.
2. The same Youzan push delivered several times, out of order, through the real webhook: one
   stored order, the latest version wins.
3. Pushes from a running shop (LiveTicker) to a live Haina server with 10 % of them dropped, then
   reconciliation: the stored orders equal the sandbox's.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from haina.connections import service
from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.service import count_orders, snapshot
from haina.platforms.base import Credentials, Endpoint
from haina.platforms.jd import connector as jd_connector
from haina.platforms.pdd import connector as pdd_connector
from haina.sandbox.emulators import youzan as youzan_emulator
from haina.sandbox.emulators.taobao import issue_session
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.live import LiveTicker
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order
from tests.connections.fakes import drain
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve

SEED, CUSTOMERS = 7, 80
# History ends here (the generator's `start`); the clock is frozen just after it.
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)
NOW = HISTORY_END + timedelta(hours=1)
ORDER_PLATFORMS = ("youzan", "taobao", "tmall", "douyin", "jd", "pdd")
PUSHING = ("youzan", "douyin")

# A sandbox status → the canonical statuses a connector may sensibly report for it (platforms
# fold "refunded" into closed, an order partly refunded keeps its progress on some, and
# Pinduoduo's list says 退款成功 without saying whether in part).
SENSIBLE = {
    "pending_payment": {"pending_payment"},
    "paid": {"paid"},
    "shipped": {"shipped"},
    "completed": {"completed"},
    "closed": {"closed"},
    "refunded": {"refunded", "closed", "completed"},
    "partially_refunded": {"partially_refunded", "refunded", "paid", "shipped", "completed"},
}


@pytest.fixture
def frozen() -> datetime:
    clock.freeze(NOW)
    return NOW


@pytest.fixture
def sandbox(frozen: datetime) -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(SEED, CUSTOMERS, start=HISTORY_END))) as live:
        yield live


# ---- helpers ---------------------------------------------------------------------------------


def _consent_code(url: str, params: dict[str, str]) -> str:
    consent = httpx.get(url, params=params, trust_env=False)
    return parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]


def _granted(live: LiveSandbox, platform: str, shop: Any) -> Credentials:
    """Tokens got the way a merchant grants them: the consent redirect, then the code."""
    credentials = Credentials(shop.app_key, shop.app_secret, shop_id=shop.shop_id)
    if platform == "jd":
        code = _consent_code(
            live.base_url("jd") + "/oauth2/to_login",
            {"app_key": shop.app_key, "redirect_uri": "https://haina.example/jd", "state": "s"},
        )
        client = jd_connector.make_client(credentials, Endpoint(live.base_url("jd")))
        granted = client.exchange_code(code)
    else:
        code = _consent_code(
            live.base_url("pdd") + "/authorize",
            {"client_id": shop.app_key, "redirect_uri": "https://haina.example/pdd", "state": "s"},
        )
        client = pdd_connector.make_client(credentials, Endpoint(live.base_url("pdd")))
        client.create_token(code)
        granted = client.credentials
    client.close()
    return granted


def connect_all(
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    live: LiveSandbox,
    *,
    platforms: tuple[str, ...] = ("wecom", *ORDER_PLATFORMS),
    webhook_base: str | None = None,
) -> dict[tuple[str, str], str]:
    """Connect the tenant to the sandbox's corp and shops (like haina.demo.connect_demo_tenant);
    with `webhook_base`, point the pushing platforms at the connections' webhooks there.
    Returns connection ids by (platform, shop_id)."""
    world = live.state.world
    wanted: list[service.NewConnection] = []
    if "wecom" in platforms:
        wanted.append(
            service.NewConnection(
                platform="wecom",
                name="企业微信",
                app_key=world.corp_id,
                app_secret=world.corp_secret,
                shop_id=world.corp_id,
                base_url=live.base_url("wecom"),
                extra={"callback_token": world.callback_token, "encoding_aes_key": world.callback_aes_key},
            )
        )
    for shop in world.shops:
        if shop.platform not in platforms:
            continue
        emulator = "taobao" if shop.platform == "tmall" else shop.platform
        access_token = refresh_token = ""
        if emulator == "taobao":
            access_token = issue_session(live.state, shop.shop_id)
        elif emulator in ("jd", "pdd"):
            granted = _granted(live, emulator, shop)
            access_token, refresh_token = granted.access_token, granted.refresh_token
        wanted.append(
            service.NewConnection(
                platform=shop.platform,
                name=shop.name,
                app_key=shop.app_key,
                app_secret=shop.app_secret,
                shop_id=shop.shop_id,
                base_url=live.base_url(emulator),
                access_token=access_token,
                refresh_token=refresh_token,
            )
        )
    ids: dict[tuple[str, str], str] = {}
    with database.unit_of_work() as session:
        for new in wanted:
            connection = service.create_connection(session, tenant.id, new, settings)
            ids[(new.platform, new.shop_id)] = connection.id
            if webhook_base and new.platform in PUSHING:
                live.state.push_targets[new.platform] = (
                    f"{webhook_base.rstrip('/')}/webhooks/{new.platform}/{connection.id}"
                )
    return ids


def listed(live: LiveSandbox, platform: str, shop_id: str) -> list[Order]:
    """The orders a platform lists for a shop: JD and Pinduoduo list paid orders only."""
    orders = live.state.world.orders_of(shop_id)
    if platform in ("jd", "pdd"):
        return [order for order in orders if order.paid_at is not None]
    return orders


def stored_orders(database: Database, tenant: TenantFixture) -> dict[str, dict[str, Any]]:
    with database.unit_of_work() as session:
        return snapshot(session, tenant.id)["orders"]


@contextmanager
def haina_server(app: Any) -> Iterator[str]:
    """Haina's app served by uvicorn on a loopback port (so the sandbox can push to it)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):  # readiness is an event, not a timing assertion
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the Haina server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


# ---- 1. full sync ----------------------------------------------------------------------------


def test_full_sync_of_every_shop_stores_every_order_refund_and_contact_once(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    world = sandbox.state.world
    ids = connect_all(database, settings, tenant, sandbox)
    since = min(order.created_at for order in world.orders).replace(microsecond=0) - timedelta(days=1)
    until = NOW
    for (platform, _), connection_id in ids.items():
        for stream in service.connector_for(platform).streams:
            result = service.run_sync(database, settings, connection_id, stream, since=since, until=until)
            assert result.status == "idle", (platform, stream, result)
            assert result.bad_records == 0, (platform, stream, result)

    expected: dict[str, Order] = {}
    with database.unit_of_work() as session:
        for platform in ORDER_PLATFORMS:
            shops = world.shops_of(platform)
            assert shops, f"the world has no {platform} shop"
            mine = [order for shop in shops for order in listed(sandbox, platform, shop.shop_id)]
            assert mine, f"the world has no {platform} order"
            # Exactly once: as many rows as orders, none stored twice.
            assert count_orders(session, tenant.id, platform=platform) == len(mine), platform
            expected.update({f"{platform}/{order.shop_id}/{order.order_id}": order for order in mine})
        everything = snapshot(session, tenant.id)
    orders = everything["orders"]
    assert set(orders) == set(expected)
    wrong = {
        key: (order.status, orders[key]["status"], order.paid_fen, orders[key]["paid_fen"])
        for key, order in expected.items()
        if orders[key]["paid_fen"] != order.paid_fen
        or orders[key]["total_fen"] != order.total_fen
        or orders[key]["status"] not in SENSIBLE[order.status]
    }
    assert not wrong

    # Refunds: Taobao and Tmall list them (refunds stream), a Youzan trade carries its own; each
    # with its amount. (JD, Pinduoduo and Douyin have no refund stream.)
    refunds = everything["refunds"]
    wanted_refunds = {
        f"{refund.platform}/{refund.shop_id}/{refund.refund_id}": refund
        for refund in world.refunds
        if refund.platform in ("taobao", "tmall", "youzan")
    }
    assert wanted_refunds
    assert set(wanted_refunds) <= set(refunds)
    assert all(refunds[key]["amount_fen"] == refund.amount_fen for key, refund in wanted_refunds.items())

    # WeCom contacts: every one, with its external_userid.
    contacts = everything["contacts"]
    assert world.contacts
    assert set(contacts) == {f"{world.corp_id}/{contact.external_userid}" for contact in world.contacts}
    assert all(contact["external_userid"] for contact in contacts.values())


# ---- 2. duplicate and out-of-order pushes -----------------------------------------------------


def test_a_youzan_push_delivered_three_times_out_of_order_stores_one_order_latest_wins(
    client: TestClient,
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    sandbox: LiveSandbox,
) -> None:
    ids = connect_all(database, settings, tenant, sandbox, platforms=("youzan",))
    shop = sandbox.state.world.shops_of("youzan")[0]
    connection_id = ids[("youzan", shop.shop_id)]
    original = next(
        order for order in sandbox.state.world.orders_of(shop.shop_id) if order.status == "completed"
    )
    base = original.modified_at.replace(microsecond=0)
    paid = dataclasses.replace(
        original, status="paid", shipped_at=None, finished_at=None, modified_at=base + timedelta(days=1)
    )
    shipped = dataclasses.replace(
        original, status="shipped", finished_at=None, modified_at=base + timedelta(days=2)
    )
    completed = dataclasses.replace(original, status="completed", modified_at=base + timedelta(days=3))
    pusher = youzan_emulator.Pusher(sandbox.state)

    def push(order: Order, send_count: int = 0) -> None:
        message = pusher.order_message(order)
        assert message is not None
        body, headers = pusher.request(message, send_count)
        answer = client.post(f"/webhooks/youzan/{connection_id}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    # The newest three times (a platform retrying), older versions after it.
    for order, send_count in ((shipped, 0), (completed, 0), (paid, 0), (completed, 1), (shipped, 1)):
        push(order, send_count)
        drain(database, rounds=1)
    push(completed, 2)
    drain(database, rounds=2)

    orders = stored_orders(database, tenant)
    assert list(orders) == [f"youzan/{shop.shop_id}/{original.order_id}"]
    (stored,) = orders.values()
    assert stored["status"] == "completed"
    assert stored["paid_fen"] == original.paid_fen and stored["total_fen"] == original.total_fen
    assert stored["finished_at"] is not None


# ---- 3. pushes with losses, then reconciliation ----------------------------------------------


def test_dropped_pushes_are_recovered_by_reconciliation(
    app: Any, database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    state = sandbox.state
    with haina_server(app) as haina_url:
        ids = connect_all(database, settings, tenant, sandbox, platforms=PUSHING, webhook_base=haina_url)
        start = clock.now()
        # The history first: a full sync of each pushing shop.
        since = min(order.created_at for order in state.world.orders).replace(microsecond=0)
        for connection_id in ids.values():
            assert service.run_sync(database, settings, connection_id, "orders", since=since).status == "idle"
        # Deliver pushes in the ticker's thread, so a tick has been delivered when it returns.
        state.scratch["youzan"]["push_mode"] = "sync"
        state.scratch["douyin"]["push_synchronously"] = True
        for number, platform in enumerate(PUSHING):
            state.faults.set(platform, FaultPlan(drop_push_rate=0.1, seed=SEED + number))
        ticker = LiveTicker(state, SEED, orders_per_minute=120, interval_seconds=1.0)
        changed: set[str] = set()
        for _ in range(60):
            clock.advance(timedelta(seconds=5))
            changed |= {change.record_id for change in ticker.tick()}
        drain(database)
        pushed_orders = {
            order.order_id
            for order in state.world.orders
            if order.platform in PUSHING and order.order_id in changed
        }
        assert pushed_orders, "the ticker changed no order of a pushing shop"

        def differences() -> dict[str, tuple[Any, ...]]:
            stored = stored_orders(database, tenant)
            found = {}
            for platform in PUSHING:
                for shop in state.world.shops_of(platform):
                    for order in state.world.orders_of(shop.shop_id):
                        key = f"{platform}/{shop.shop_id}/{order.order_id}"
                        row = stored.get(key)
                        if row is None:
                            found[key] = ("missing",)
                        elif row["paid_fen"] != order.paid_fen or row["status"] not in SENSIBLE[order.status]:
                            found[key] = (order.status, row["status"], order.paid_fen, row["paid_fen"])
            extra = set(stored) - {
                f"{order.platform}/{order.shop_id}/{order.order_id}"
                for order in state.world.orders
                if order.platform in PUSHING
            }
            found.update({key: ("extra",) for key in extra})
            return found

        lost = differences()
        # Youzan pushes carry the whole trade: an order is stale exactly when its latest push was
        # dropped (or its status did not change since the last one delivered). Douyin's order
        # pushes carry no amounts and add no record, so its new orders wait for a sync.
        last_push: dict[str, str] = {}
        for entry in state.scratch["youzan"]["push_log"]:
            last_push[entry["id"]] = entry["outcome"]
        assert "delivered" in last_push.values() and "dropped" in last_push.values()
        youzan_lost = {key.rsplit("/", 1)[1] for key in lost if key.startswith("youzan/")}
        assert youzan_lost, "no Youzan push was lost"
        assert all(last_push.get(order_id) == "dropped" for order_id in youzan_lost), (youzan_lost, last_push)

        until = clock.now() + timedelta(seconds=1)
        for connection_id in ids.values():
            results = service.reconcile(
                database, settings, connection_id, window=until - start + timedelta(minutes=5), until=until
            )
            assert all(result.status == "idle" for result in results), results
        drain(database)
        assert differences() == {}


# ---- 4. pushes that only name a change -------------------------------------------------------


def test_douyin_order_pushes_pull_the_orders_stream_at_once(
    app: Any, database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    """Douyin's order pushes carry ids, not amounts: each batch of them starts a sync of the
    orders stream, so the pushed orders are stored without waiting for the schedule."""
    state = sandbox.state
    with haina_server(app) as haina_url:
        ids = connect_all(database, settings, tenant, sandbox, platforms=("douyin",), webhook_base=haina_url)
        since = min(order.created_at for order in state.world.orders).replace(microsecond=0)
        for connection_id in ids.values():
            assert service.run_sync(database, settings, connection_id, "orders", since=since).status == "idle"
        state.scratch["douyin"]["push_synchronously"] = True
        ticker = LiveTicker(state, SEED, orders_per_minute=120, interval_seconds=1.0)
        changed: set[str] = set()
        for _ in range(20):
            clock.advance(timedelta(seconds=5))
            changed |= {change.record_id for change in ticker.tick()}
        drain(database)

    pushed = [
        order for order in state.world.orders if order.platform == "douyin" and order.order_id in changed
    ]
    assert pushed, "the ticker changed no Douyin order"
    stored = stored_orders(database, tenant)
    for order in pushed:
        row = stored.get(f"douyin/{order.shop_id}/{order.order_id}")
        assert row is not None, f"pushed order {order.order_id} was not pulled"
        assert row["paid_fen"] == order.paid_fen and row["status"] in SENSIBLE[order.status]
