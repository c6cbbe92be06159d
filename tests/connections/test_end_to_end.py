"""The spine with the real pieces: the Douyin connector syncing from the sandbox's Douyin emulator
over loopback HTTP into the canonical tables (haina.customers.service.store_records), and the
documented Douyin push format (tests/fixtures/douyin) through the webhook into the same tables."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from haina.connections import service
from haina.connections.models import Connection
from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.service import count_orders, snapshot
from haina.platforms.douyin.signing import event_sign
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.connections.fakes import drain
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve, world_span

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "douyin"
PUSH_APP_KEY, PUSH_SECRET = "7521631869783422652", "push-secret"


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 120))) as live:
        yield live


def test_a_douyin_shop_syncs_into_the_canonical_tables(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    shop = sandbox.state.world.shops_of("douyin")[0]
    orders = sandbox.state.world.orders_of(shop.shop_id)
    since, until = world_span(list(orders))
    with database.unit_of_work() as session:
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform="douyin",
                name="抖店旗舰店",
                app_key=shop.app_key,
                app_secret=shop.app_secret,
                shop_id=shop.shop_id,
                base_url=sandbox.base_url("douyin"),
            ),
            settings,
        )
    updates: list[service.SyncProgress] = []
    result = service.run_sync(
        database, settings, connection.id, "orders", since=since, until=until, progress=updates.append
    )
    assert result.status == "idle" and result.records_done == len(orders) and result.bad_records == 0
    assert [update.progress for update in updates] == sorted(update.progress or 0 for update in updates)
    with database.unit_of_work() as session:
        assert count_orders(session, tenant.id, platform="douyin") == len(orders)
        stored = session.get_one(Connection, connection.id)
        # The token the client created with token.create is kept, encrypted.
        assert service.credentials_of(stored, settings).access_token
        assert service.credentials_of(stored, settings).access_token not in stored.credentials_encrypted

    # The next run lists only what changed since: nothing, and nothing is stored twice.
    again = service.run_sync(database, settings, connection.id, "orders", until=until + timedelta(hours=1))
    assert again.status == "idle"
    with database.unit_of_work() as session:
        assert count_orders(session, tenant.id, platform="douyin") == len(orders)


def test_documented_douyin_pushes_reach_the_canonical_tables(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    with database.unit_of_work() as session:
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform="douyin",
                name="抖店推送",
                app_key=PUSH_APP_KEY,
                app_secret=PUSH_SECRET,
                shop_id="dy_flagship",
                base_url="http://127.0.0.1:9",
            ),
            settings,
        )
    for name in ("refund_completed.json", "order_paid_and_ping.json"):
        body = (FIXTURES / name).read_bytes()
        headers = {
            "event-sign": event_sign(PUSH_APP_KEY, body, PUSH_SECRET),
            "app-id": PUSH_APP_KEY,
            "content-type": "application/json",
        }
        answer = client.post(f"/webhooks/douyin/{connection.id}", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert json.loads(answer.content) == {"code": 0, "msg": "success"}
    drain(database, rounds=1)
    with database.unit_of_work() as session:
        refunds = snapshot(session, tenant.id)["refunds"]
    assert "douyin/dy_flagship/7000000000000000206" in refunds
    assert refunds["douyin/dy_flagship/7000000000000000206"]["amount_fen"] == 28290
