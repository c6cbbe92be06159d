"""Acceptance: the API server and the Celery workers are SIGKILLed in the middle of a large sync;
after a restart the store equals the sandbox.

Real processes on PostgreSQL and Redis: the sandbox serves a seeded merchant on a loopback port
(in this process); `haina serve` (celery mode) runs the JD and Pinduoduo syncs a person started
through the API; `haina sync` (the cron/beat way) runs the Youzan sync; `haina worker` (two pool
processes) runs the event deliveries: the Youzan pushes that keep arriving at the server's webhook
meanwhile, and what the stored orders announce. When every sync has stored a few pages and the
workers have done some deliveries, all of them are killed with SIGKILL (the whole process
groups, like a machine losing power); then the server and the workers start again,
each sync is resumed the way it was started, and the pushes that failed during the outage are
sent again, as a platform retries. Every order is then stored exactly once with its amounts and
status, and every push is processed.

Two waits of the product are simulated instead of waited for, by moving the stored times back:
a dead run's heartbeat must be STALE_RUN (10 min) old before another run takes its stream over,
and a delivery handed to a killed worker comes back when its lease (CELERY_LEASE_SECONDS, 5 min)
runs out.

The last test records that the scheduler never resumes a sync whose process died (a bug in
haina/connections/tasks.py, left to its owner).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import func, select, update

from haina.connections import service, tasks
from haina.connections.models import SyncCursor
from haina.core import clock
from haina.core.database import Database
from haina.core.events import count_dead_letters
from haina.core.events.models import EventDelivery, InboxItem, OutboxEvent
from haina.core.events.runners import CELERY_LEASE_SECONDS
from haina.core.settings import Settings
from haina.customers.service import count_orders, snapshot
from haina.sandbox.emulators import youzan as youzan_emulator
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.conftest import _empty_tables, make_settings
from tests.factories import PASSWORD, TenantFixture, make_tenant
from tests.ingest.helpers import order_differences
from tests.ingest.test_acceptance import connect_all, frozen, listed, sandbox
from tests.platforms.live_sandbox import LiveSandbox, serve

__all__ = ["frozen", "sandbox"]  # fixtures of test_acceptance, used by the last test

# A Redis database of its own: the server always publishes to the default events queue, which
# other Haina processes on this machine (a demo, another test run) must not consume from.
REDIS_URL = os.environ.get("HAINA_TEST_CRASH_REDIS_URL", "redis://127.0.0.1:6379/13")
HAINA = str(Path(sys.executable).with_name("haina"))
SEED, CUSTOMERS = 11, 300
PLATFORMS = ("youzan", "jd", "pdd")
# Added to each sandbox answer before the crash, so every sync is surely mid-way when it comes
# (JD's 13 pages the slowest: it must not finish before the others have stored a few).
SLOW_MS = {"youzan": 150, "jd": 300, "pdd": 100}
PAGES_BEFORE_CRASH = 2
WAIT = 120.0  # seconds: the limit of every wait below (never reached when things work)


# ---- processes -------------------------------------------------------------------------------


class Process:
    """One `haina …` command in its own process group, its output in a log file."""

    def __init__(self, name: str, arguments: list[str], environment: dict[str, str], directory: Path) -> None:
        self.name = name
        self.log = directory / f"{name}.log"
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            [HAINA, *arguments],
            env=environment,
            cwd=directory,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the process and every child at once."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self._log_file.close()

    def tail(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-3000:]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """The Haina side: a server and a worker (restartable), one-off CLI runs, and their logs."""

    settings: Settings
    directory: Path
    port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)
    generation: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        inherited = {key: value for key, value in os.environ.items() if not key.startswith("HAINA_")}
        return {
            **inherited,
            "NO_PROXY": "127.0.0.1,localhost",
            "HAINA_ENV": "test",
            "HAINA_VAR_DIR": str(self.directory),
            "HAINA_DATABASE_URL": self.settings.database_url,
            "HAINA_TASK_MODE": "celery",
            "HAINA_CELERY_BROKER_URL": self.settings.broker_url,
            "HAINA_SECRET_KEY": self.settings.secret_key,
            "HAINA_ENCRYPTION_KEYS": self.settings.encryption_keys,
            "HAINA_HASH_KEY": self.settings.hash_key,
            "HAINA_BASE_URL": self.url,
            "HAINA_DISPATCHER_POLL_SECONDS": "0.1",
            "HAINA_EVENT_RETRY_BASE_SECONDS": "0.2",
        }

    def run(self, name: str, *arguments: str) -> Process:
        process = Process(f"{name}-{self.generation}", list(arguments), self.environment(), self.directory)
        self.processes.append(process)
        return process

    def start(self) -> None:
        """A server and a worker (one main process, two pool processes), the server answering."""
        self.generation += 1
        server = self.run("server", "serve", "--host", "127.0.0.1", "--port", str(self.port))
        self.run("worker", "worker", "--concurrency", "2", "--loglevel", "warning")
        wait_for(self.is_answering, "the server to answer /healthz", self, dead=server)

    def is_answering(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def kill_all(self) -> None:
        for process in self.processes:
            if process.process.returncode is None:
                process.kill()

    def logs(self) -> str:
        return "\n".join(process.tail() for process in self.processes)


def wait_for(
    condition: Callable[[], bool],
    what: str,
    cluster: Cluster | None = None,
    *,
    dead: Process | None = None,
    timeout: float = WAIT,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if dead is not None and dead.process.poll() is not None:
            break
        time.sleep(0.05)
    logs = cluster.logs() if cluster is not None else ""
    pytest.fail(f"gave up waiting for {what}\n{logs}")


# ---- pushes that keep coming ----------------------------------------------------------------


class YouzanPushes:
    """Sends a Youzan push for each order of the shop to the server's webhook, as Youzan does: a
    push the server did not acknowledge (it was down) is sent again, with a growing sendCount.
    The first third goes before the crash; the rest waits for it, so it meets the outage."""

    def __init__(self, state: SandboxState, url: str, shop_id: str) -> None:
        pusher = youzan_emulator.Pusher(state)
        self.pusher = pusher
        self.messages = [
            message
            for order in state.world.orders_of(shop_id)
            if (message := pusher.order_message(order)) is not None
        ]
        self.before_crash = len(self.messages) // 3
        self.url = url
        self.acknowledged = 0
        self.retried = 0  # pushes that needed more than one delivery
        self.crashed = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._send_all, name="youzan-pushes", daemon=True)

    def _send_all(self) -> None:
        with httpx.Client(timeout=5, trust_env=False) as client:
            for number, message in enumerate(self.messages):
                if number == self.before_crash:
                    while not self.crashed.wait(0.1):
                        if self.stop.is_set():
                            return
                send_count = 0
                while not self._deliver(client, message, send_count):
                    send_count += 1
                    if self.stop.wait(0.1):  # Youzan spaces its retries out
                        return
                self.acknowledged += 1
                self.retried += int(send_count > 0)

    def _deliver(self, client: httpx.Client, message: youzan_emulator.PushMessage, send_count: int) -> bool:
        body, headers = self.pusher.request(message, send_count)
        try:
            return client.post(self.url, content=body, headers=headers).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def done(self) -> bool:
        return self.acknowledged == len(self.messages)


# ---- the database seen from the test ----------------------------------------------------------


def cursor_rows(database: Database, connection_ids: dict[str, str]) -> dict[str, SyncCursor]:
    with database.unit_of_work() as session:
        rows = session.scalars(
            select(SyncCursor).where(
                SyncCursor.connection_id.in_(connection_ids.values()), SyncCursor.stream == "orders"
            )
        ).all()
        session.expunge_all()
    platform_of = {connection_id: platform for platform, connection_id in connection_ids.items()}
    return {platform_of[row.connection_id]: row for row in rows}


def deliveries_by_status(database: Database) -> dict[str, set[str]]:
    with database.unit_of_work() as session:
        found: dict[str, set[str]] = {}
        for delivery_id, status in session.execute(select(EventDelivery.id, EventDelivery.status)):
            found.setdefault(status, set()).add(delivery_id)
        return found


def age_dead_runs(database: Database) -> None:
    """What STALE_RUN of waiting does to the killed runs: their heartbeats are that old."""
    with database.unit_of_work() as session:
        session.execute(
            update(SyncCursor)
            .where(SyncCursor.status == "running")
            .values(heartbeat_at=clock.now() - service.STALE_RUN - timedelta(minutes=1))
        )


def end_leases(database: Database, delivery_ids: set[str]) -> None:
    """What CELERY_LEASE_SECONDS of waiting does to deliveries handed to the killed worker."""
    assert CELERY_LEASE_SECONDS > WAIT  # else the test would just wait
    with database.unit_of_work() as session:
        session.execute(
            update(EventDelivery)
            .where(EventDelivery.id.in_(delivery_ids), EventDelivery.status == "running")
            .values(next_attempt_at=clock.now())
        )


def no_open_work(database: Database) -> bool:
    with database.unit_of_work() as session:
        undispatched = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
        )
        unfinished = session.scalar(
            select(func.count()).select_from(EventDelivery).where(EventDelivery.status != "done")
        )
        return not undispatched and not unfinished


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def crash_settings(tmp_path: Path, postgres_url: str) -> Iterator[Settings]:
    broker = redis.Redis.from_url(REDIS_URL)
    try:
        broker.flushdb()  # this test's own database: queues left by an earlier, killed run
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}")
    yield make_settings(tmp_path, database_url=postgres_url, task_mode="celery", celery_broker_url=REDIS_URL)
    broker.flushdb()
    broker.close()


@pytest.fixture
def crash_database(crash_settings: Settings) -> Iterator[Database]:
    database = Database(crash_settings)
    yield database
    _empty_tables(database)
    database.dispose()


@pytest.fixture
def cluster(crash_settings: Settings, tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(crash_settings, tmp_path)
    try:
        yield cluster
    finally:
        cluster.kill_all()


@pytest.fixture
def merchant() -> Iterator[LiveSandbox]:
    # History up to today's midnight (UTC), on the real clock: the processes under test run on it.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with serve(SandboxState(generate_world(SEED, CUSTOMERS, start=today))) as live:
        yield live


# ---- the test --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.celery
@pytest.mark.slow
def test_killing_the_server_and_workers_mid_sync_loses_and_duplicates_nothing(
    crash_settings: Settings, crash_database: Database, cluster: Cluster, merchant: LiveSandbox
) -> None:
    database, state = crash_database, merchant.state
    tenant: TenantFixture = make_tenant(database, crash_settings)
    connections = connect_all(database, crash_settings, tenant, merchant, platforms=PLATFORMS)
    ids = {platform: connection_id for (platform, _), connection_id in connections.items()}
    assert set(ids) == set(PLATFORMS), "the merchant needs one shop on each platform"
    youzan_shop = state.world.shops_of("youzan")[0].shop_id
    expected = [
        (platform, order)
        for platform in PLATFORMS
        for shop in state.world.shops_of(platform)
        for order in listed(merchant, platform, shop.shop_id)
    ]
    wanted = Counter(platform for platform, _ in expected)
    since = (min(order.created_at for _, order in expected) - timedelta(days=1)).isoformat()

    for platform in PLATFORMS:
        state.faults.set(platform, FaultPlan(slow_ms=SLOW_MS[platform]))
    cluster.start()
    pushes = YouzanPushes(state, f"{cluster.url}/webhooks/youzan/{ids['youzan']}", youzan_shop)
    try:
        # A person starts the JD and Pinduoduo syncs from the console (they run in the server);
        # cron starts the Youzan one; Youzan pushes arrive all the while.
        answer = httpx.post(
            f"{cluster.url}/api/v1/auth/token",
            json={"username": tenant.usernames["admin"], "password": PASSWORD},
            trust_env=False,
        )
        assert answer.status_code == 200, answer.text
        auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}

        def start_in_server(platform: str) -> None:
            url = f"{cluster.url}/api/v1/connections/{ids[platform]}/sync/orders"
            started = httpx.post(url, headers=auth, trust_env=False)
            assert started.status_code == 202, started.text

        cluster.run("sync-youzan", "sync", ids["youzan"], "--stream", "orders", "--since", since)
        wait_for(lambda: "youzan" in cursor_rows(database, ids), "the Youzan sync to start", cluster)
        start_in_server("jd")
        start_in_server("pdd")
        pushes.thread.start()

        def mid_way() -> bool:
            rows = cursor_rows(database, ids)
            # Pages alone are not progress: a backfill's first windows can be empty (how many
            # depends on the hour the test runs, as history ends at today's midnight).
            syncing = len(rows) == len(PLATFORMS) and all(
                row.status == "running" and row.pages_done >= PAGES_BEFORE_CRASH and row.records_done > 0
                for row in rows.values()
            )
            pushed = pushes.acknowledged == pushes.before_crash
            return syncing and pushed and bool(deliveries_by_status(database).get("done"))

        wait_for(mid_way, "every sync to store a few pages and the worker to run deliveries", cluster)

        # ---- the crash ----
        cluster.kill_all()
        in_flight = deliveries_by_status(database).get("running", set())
        rows = cursor_rows(database, ids)
        assert {platform: row.status for platform, row in rows.items()} == dict.fromkeys(PLATFORMS, "running")
        with database.unit_of_work() as session:
            for platform in PLATFORMS:
                assert count_orders(session, tenant.id, platform=platform) < wanted[platform], (
                    "killed too late"
                )

        # ---- the outage, then the restart ----
        pushes.crashed.set()
        state.faults.clear()
        cluster.start()
        age_dead_runs(database)
        start_in_server("jd")
        start_in_server("pdd")
        resumed = cluster.run("sync-youzan", "sync", ids["youzan"], "--stream", "orders")
        wait_for(lambda: resumed.process.poll() is not None, "the resumed Youzan sync", cluster)
        assert resumed.process.returncode == 0, cluster.logs()
        wait_for(
            lambda: all(row.status == "idle" for row in cursor_rows(database, ids).values()),
            "the resumed syncs to finish",
            cluster,
        )
        end_leases(database, in_flight)
        wait_for(lambda: pushes.done, "every push to be acknowledged", cluster)
        wait_for(lambda: no_open_work(database), "every delivery to be done", cluster)
    finally:
        pushes.stop.set()
        if pushes.thread.is_alive():
            pushes.thread.join(timeout=10)

    # The runs resumed from their last stored page, not from the start. (JD and Pinduoduo list each
    # order once per run; Youzan's windows overlap, so its count says nothing about a restart.)
    for platform, row in cursor_rows(database, ids).items():
        if platform != "youzan":
            assert 0 < row.records_done < wanted[platform], (platform, row.records_done, wanted)

    with database.unit_of_work() as session:
        for platform in PLATFORMS:
            assert count_orders(session, tenant.id, platform=platform) == wanted[platform], platform
        stored = snapshot(session, tenant.id)["orders"]
        assert count_dead_letters(session, tenant.id) == 0
        statuses = dict(
            session.execute(
                select(InboxItem.status, func.count())
                .where(InboxItem.source == "youzan")
                .group_by(InboxItem.status)
            ).all()
        )
    assert order_differences(stored, expected) == {}
    assert statuses == {"processed": len(pushes.messages)}, statuses
    assert pushes.retried, "no push met the outage"


# ---- the scheduler after a crash ---------------------------------------------------------------


def test_the_scheduler_resumes_a_sync_whose_process_died(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> None:
    ids = connect_all(database, settings, tenant, sandbox, platforms=("jd",))
    (connection_id,) = ids.values()
    # A run claims the stream, then its process dies before the first page.
    with database.unit_of_work() as session:
        service.start_sync(session, tenant.id, connection_id, "orders")
    clock.advance(service.STALE_RUN + timedelta(minutes=1))

    done = tasks.run_scheduled(database, settings)

    assert f"{connection_id}/orders" in done.synced
    wanted = [
        order for shop in sandbox.state.world.shops_of("jd") for order in listed(sandbox, "jd", shop.shop_id)
    ]
    with database.unit_of_work() as session:
        assert count_orders(session, tenant.id, platform="jd") == len(wanted)
