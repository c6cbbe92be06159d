"""Event dispatch through real Celery worker processes and a real broker, on PostgreSQL.

The worker is killed with SIGKILL mid-task and just after its commit; every event must still
have its effect exactly once. RabbitMQ is the broker for the kill tests because it hands a dead
consumer's unacknowledged messages to the next consumer at once (Redis waits for its visibility
timeout, which the runner's lease shortens, but not to test-friendly seconds).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import delete, select, text

from haina.core.database import Database
from haina.core.events import CeleryRunner, EventDelivery, InboxItem, OutboxEvent, Registry, emit
from haina.core.events.celery_app import create_celery_app
from haina.core.settings import Settings
from tests.conftest import make_settings

pytestmark = [pytest.mark.celery, pytest.mark.postgres]

RABBITMQ_URL = os.environ.get("HAINA_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("HAINA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HANDLERS_PATH = Path(__file__).with_name("celery_handlers.py")
TENANT = "tenant-celery"
HOLD_SECONDS = 60.0  # far longer than the test needs to notice the marker and kill


def load_handlers() -> ModuleType:
    """Import tests/core/celery_handlers.py under the name its workers import it by."""
    name = HANDLERS_PATH.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HANDLERS_PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


handlers = load_handlers()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n--- worker log tail ---\n{tail}")


class Worker:
    """A real `celery worker` process (prefork with one child, or solo) in its own process group."""

    def __init__(
        self, settings: Settings, queue: str, markers: Path, log: Path, pool: str = "prefork"
    ) -> None:
        environment = {
            **os.environ,
            "HAINA_ENV": "test",
            "HAINA_VAR_DIR": str(settings.var_dir),
            "HAINA_DATABASE_URL": settings.database_url,
            "HAINA_TASK_MODE": "celery",
            "HAINA_CELERY_BROKER_URL": settings.broker_url,
            "HAINA_SECRET_KEY": settings.secret_key,
            "HAINA_ENCRYPTION_KEYS": settings.encryption_keys,
            "HAINA_HASH_KEY": settings.hash_key,
            "HAINA_EVENT_MAX_ATTEMPTS": str(settings.event_max_attempts),
            "HAINA_EVENT_RETRY_BASE_SECONDS": str(settings.event_retry_base_seconds),
            handlers.MARKER_DIR_VARIABLE: str(markers),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(HANDLERS_PATH.parent), os.environ.get("PYTHONPATH")])
            ),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "haina.core.events.celery_app:celery_app",
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "--queues",
            queue,
            "--include",
            HANDLERS_PATH.stem,
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"{queue}-{uuid.uuid4().hex[:6]}@%h",
        ]
        self.log = log
        self._log_file = log.open("ab")
        self.process = subprocess.Popen(
            command, env=environment, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill_everything(self) -> None:
        """SIGKILL the main process and its pool children at once, like a machine losing power."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_everything()
            except ProcessLookupError:
                pass
        # Children outliving a killed parent would keep consuming; make sure none is left.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log_file.close()


class Harness:
    """One test's broker queue, workers, runner and effect table on the PostgreSQL database."""

    def __init__(self, tmp_path: Path, postgres_url: str, broker_url: str) -> None:
        self.settings = make_settings(
            tmp_path, database_url=postgres_url, task_mode="celery", celery_broker_url=broker_url
        )
        self.database = Database(self.settings)
        self.queue = f"haina-test-events-{uuid.uuid4().hex[:10]}"
        self.markers = tmp_path / "markers"
        self.markers.mkdir()
        self.tmp_path = tmp_path
        self.workers: list[Worker] = []
        registry = Registry()
        registry.add(handlers.EVENT_TYPE, handlers.HANDLER_NAME, handlers.write_effect)
        self.app = create_celery_app(self.settings)
        # A short lease so a delivery the broker did not bring back is re-published quickly.
        self.runner = CeleryRunner(
            self.database, app=self.app, queue=self.queue, registry=registry, lease_seconds=10
        )
        with self.database.engine.begin() as connection:
            connection.execute(
                text(
                    f"CREATE TABLE {handlers.EFFECTS_TABLE} "
                    "(id BIGSERIAL PRIMARY KEY, event_uuid TEXT NOT NULL, pid INTEGER NOT NULL)"
                )
            )

    def start_worker(self, pool: str = "prefork") -> Worker:
        worker = Worker(
            self.settings, self.queue, self.markers, self.tmp_path / f"worker-{len(self.workers)}.log", pool
        )
        self.workers.append(worker)
        return worker

    @property
    def log(self) -> Path | None:
        return self.workers[-1].log if self.workers else None

    def emit(self, payloads: Sequence[Mapping[str, object]]) -> list[str]:
        with self.database.unit_of_work() as session:
            return [emit(session, TENANT, handlers.EVENT_TYPE, dict(payload)).uuid for payload in payloads]

    def deliveries(self) -> list[EventDelivery]:
        with self.database.session_factory() as session:
            return list(session.scalars(select(EventDelivery)))

    def effects(self) -> list[tuple[str, int]]:
        with self.database.engine.connect() as connection:
            rows = connection.execute(text(f"SELECT event_uuid, pid FROM {handlers.EFFECTS_TABLE}"))
            return [(row.event_uuid, row.pid) for row in rows]

    def wait_until_all_done(self, count: int, timeout: float = 120) -> None:
        def all_done() -> bool:
            found = self.deliveries()
            return len(found) == count and all(d.status == "done" for d in found)

        wait_for(all_done, timeout, f"{count} deliveries to be done; now {self.deliveries()}", self.log)

    def marker_pid(self, kind: str, event_uuid: str, timeout: float = 60) -> int:
        path = self.markers / f"{kind}-{event_uuid}"
        wait_for(lambda: path.exists() and path.read_text() != "", timeout, f"marker {path.name}", self.log)
        return int(path.read_text())

    def outcomes(self) -> list[tuple[str, str, int]]:
        path = self.markers / "outcomes.txt"
        if not path.exists():
            return []
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return [(delivery_id, outcome, int(pid)) for delivery_id, outcome, pid in lines]

    def close(self) -> None:
        self.runner.stop()
        for worker in self.workers:
            worker.close()
        try:
            with self.app.connection_for_write() as connection:
                connection.default_channel.queue_delete(self.queue)
        except Exception:  # noqa: BLE001 - best effort; the queue name is unique anyway
            pass
        with self.database.engine.begin() as connection:
            connection.execute(text(f"DROP TABLE IF EXISTS {handlers.EFFECTS_TABLE}"))
        with self.database.unit_of_work() as session:
            for model in (EventDelivery, OutboxEvent, InboxItem):
                session.execute(delete(model))
        self.database.dispose()


@pytest.fixture
def rabbitmq_harness(tmp_path: Path, postgres_url: str) -> Iterator[Harness]:
    harness = Harness(tmp_path, postgres_url, RABBITMQ_URL)
    try:
        yield harness
    finally:
        harness.close()


def assert_exactly_once(harness: Harness, event_uuids: list[str]) -> None:
    counts = Counter(event_uuid for event_uuid, _ in harness.effects())
    assert counts == Counter({event_uuid: 1 for event_uuid in event_uuids}), counts
    # A run killed before its commit left no trace either: no attempt was counted for it.
    assert {d.attempts for d in harness.deliveries()} == {1}


@pytest.mark.parametrize("broker_url", [RABBITMQ_URL, REDIS_URL], ids=["rabbitmq", "redis"])
def test_celery_workers_run_every_event_once(tmp_path: Path, postgres_url: str, broker_url: str) -> None:
    harness = Harness(tmp_path, postgres_url, broker_url)
    try:
        harness.start_worker()
        harness.runner.start()
        uuids = harness.emit([{"number": number} for number in range(20)])
        harness.runner.wake()
        harness.wait_until_all_done(20)
        assert_exactly_once(harness, uuids)
        assert harness.runner.drain(timeout=30)
    finally:
        harness.close()


def test_sigkill_of_the_pool_child_mid_task_loses_nothing(rabbitmq_harness: Harness) -> None:
    harness = rabbitmq_harness
    harness.start_worker()
    held, *others = harness.emit([{"hold_seconds": HOLD_SECONDS}] + [{"number": n} for n in range(5)])
    harness.runner.start()

    killed_pid = harness.marker_pid("started", held)
    os.kill(killed_pid, signal.SIGKILL)

    harness.wait_until_all_done(6)
    assert_exactly_once(harness, [held, *others])
    (effect_pid,) = [pid for event_uuid, pid in harness.effects() if event_uuid == held]
    assert effect_pid != killed_pid, "the killed run's uncommitted effect survived"
    assert harness.workers[0].process.poll() is None, "the worker's main process should have survived"


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_sigkill_of_the_whole_worker_mid_task_loses_nothing(rabbitmq_harness: Harness, pool: str) -> None:
    """Also with `--pool solo` (the records' worker as the README deploys it: tasks run in the
    worker's own process, so a kill takes the task with it)."""
    harness = rabbitmq_harness
    first = harness.start_worker(pool)
    held, *others = harness.emit([{"hold_seconds": HOLD_SECONDS}] + [{"number": n} for n in range(5)])
    harness.runner.start()

    killed_pid = harness.marker_pid("started", held)
    first.kill_everything()
    assert {d.status for d in harness.deliveries()} != {"done"}, "the kill came too late to test anything"
    harness.start_worker(pool)

    harness.wait_until_all_done(6)
    assert_exactly_once(harness, [held, *others])
    (effect_pid,) = [pid for event_uuid, pid in harness.effects() if event_uuid == held]
    assert effect_pid != killed_pid


def test_sigkill_after_commit_before_ack_applies_the_effect_once(rabbitmq_harness: Harness) -> None:
    harness = rabbitmq_harness
    harness.start_worker()
    (held,) = harness.emit([{"hold_after_commit_seconds": HOLD_SECONDS}])
    harness.runner.start()

    killed_pid = harness.marker_pid("committed", held)
    os.kill(killed_pid, signal.SIGKILL)

    harness.wait_until_all_done(1)
    (delivery,) = harness.deliveries()
    # The broker brings the unacknowledged message back; the new run finds the delivery done.
    wait_for(
        lambda: any(d == delivery.id and pid != killed_pid for d, _, pid in harness.outcomes()),
        60,
        "the redelivered task to run",
        harness.log,
    )
    redelivered = [
        outcome for d, outcome, pid in harness.outcomes() if d == delivery.id and pid != killed_pid
    ]
    assert redelivered == ["skipped"]
    assert harness.effects() == [(held, killed_pid)]
    assert_exactly_once(harness, [held])
