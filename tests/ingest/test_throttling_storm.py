"""Acceptance: a full sync through a throttling storm.

The sandbox answers every call with its platform's throttle error for a while (then, for Youzan
and JD, a quarter of them at random), in each platform's own format: Youzan an HTTP 429 with a gateway `gw_err_resp`
4290 and no hint of how long; Taobao/Tmall a TOP `error_response` code 7 saying "This ban will
last for N more seconds"; JD an HTTP 200 whose `error_response` is code 67. The full sync of the
seeded merchant's shops (connection → run_sync → store, then the event deliveries) backs off and
completes: the store equals the sandbox, no order missing and none twice.

The clients retry on a test-sized budget (PatientConnector: many short seeded backoffs instead of
five up to 30 s), so the storm lasts a couple of seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest

from haina.connections import service
from haina.core.database import Database
from haina.core.events import count_dead_letters
from haina.core.settings import Settings
from haina.customers.service import count_orders, snapshot
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.connections.fakes import drain
from tests.factories import TenantFixture
from tests.ingest.helpers import PatientConnector, order_differences
from tests.ingest.test_acceptance import CUSTOMERS, HISTORY_END, NOW, SEED, connect_all, frozen, listed
from tests.platforms.live_sandbox import LiveSandbox, serve

__all__ = ["frozen"]  # a fixture, used by `sandbox`

STORM_SECONDS = 1.5

# platform under test → (the shops' platforms, the emulator whose fault plan applies, the plan)
CASES = {
    "youzan": (("youzan",), "youzan", FaultPlan(throttle_for_seconds=STORM_SECONDS, throttle_rate=0.25)),
    # Each TOP throttle asks for a wait of at least a second, which the client honours; a full
    # sync makes hundreds of calls (day windows), so the storm alone keeps the test short.
    "taobao": (("taobao", "tmall"), "taobao", FaultPlan(throttle_for_seconds=STORM_SECONDS)),
    "jd": (("jd",), "jd", FaultPlan(throttle_for_seconds=STORM_SECONDS, throttle_rate=0.25)),
}
REFUNDING = ("taobao", "tmall", "youzan")


@pytest.fixture
def sandbox(frozen: object) -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(SEED, CUSTOMERS, start=HISTORY_END))) as live:
        yield live


@pytest.mark.parametrize("case", list(CASES))
def test_a_full_sync_backs_off_through_a_throttling_storm_and_stores_every_order_once(
    case: str, database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    platforms, emulator, plan = CASES[case]
    world = sandbox.state.world
    ids = connect_all(database, settings, tenant, sandbox, platforms=platforms)
    since = min(order.created_at for order in world.orders).replace(microsecond=0) - timedelta(days=1)
    patient = PatientConnector(service.connector_for(platforms[0]), seed=SEED)

    # The storm starts now, with the first call.
    sandbox.state.faults.set(emulator, dataclasses.replace(plan, seed=SEED))
    try:
        for (platform, _), connection_id in ids.items():
            for stream in patient.streams:
                result = service.run_sync(
                    database, settings, connection_id, stream, since=since, until=NOW, connector=patient
                )
                assert result.status == "idle", (platform, stream, result)
                assert result.bad_records == 0, (platform, stream, result)
    finally:
        sandbox.state.faults.clear(emulator)
    drain(database, rounds=2)  # what the stored orders announce (identity resolution…) runs too

    # The storm happened, and every throttled answer was met with a backoff, none with a failure.
    throttled = sandbox.state.faults.counts.get(emulator, {}).get("throttle", 0)
    assert len(patient.sleeps) == throttled
    if emulator == "taobao":
        # TOP says how long the ban lasts; the client waits that long at once, so the storm costs
        # one refused call, not a string of them.
        assert throttled == 1 and min(patient.sleeps) >= 1.0, patient.sleeps
    else:
        # No hint: short backoffs, retried again and again through the storm.
        assert throttled > 2, sandbox.state.faults.counts

    expected = [
        (platform, order)
        for platform in platforms
        for shop in world.shops_of(platform)
        for order in listed(sandbox, platform, shop.shop_id)
    ]
    assert expected
    with database.unit_of_work() as session:
        everything = snapshot(session, tenant.id)
        for platform in platforms:
            wanted = sum(1 for shop_platform, _ in expected if shop_platform == platform)
            assert count_orders(session, tenant.id, platform=platform) == wanted, platform
        assert count_dead_letters(session, tenant.id) == 0
    assert order_differences(everything["orders"], expected) == {}

    refunds = {
        f"{refund.platform}/{refund.shop_id}/{refund.refund_id}": refund.amount_fen
        for refund in world.refunds
        if refund.platform in platforms and refund.platform in REFUNDING
    }
    stored_refunds = {key: row["amount_fen"] for key, row in everything["refunds"].items()}
    assert {key: stored_refunds.get(key) for key in refunds} == refunds
