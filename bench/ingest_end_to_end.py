"""End-to-end ingest on PostgreSQL: signed Youzan pushes → verify → inbox → canonical records, and
how fast a real server answers pushes while it works.

    python bench/ingest_end_to_end.py            # 20,000 orders; 5,000 pushes at 1,000/s
    python bench/ingest_end_to_end.py --quick    # 1,000 orders; 600 pushes at 200/s

Pushes are built by the sandbox's Youzan emulator (body-signed, PII encrypted) for the orders of
a generated world, all re-homed onto its Youzan shop (trade_TradeCreate/Paid/SellerShip/Success
pushes carry the whole trade, so each one yields an order with its lines).

1. ingest.orders_per_s — the server's pipeline in process: 32 request threads hand every push
   to the group-commit intake (verify, then one shared transaction per batch of pushes, durable
   before the answer), while the thread runner drains the inbox in micro-batches (parse, one
   set-based store of orders/lines/buyers per batch, every handler the stored orders' events
   reach). orders/s = N / seconds from the first push until all N orders are stored (the
   issue's verify → inbox → canonical records); ingest.orders_with_reactions_per_s = N /
   seconds until no open work is left (OneID, tags and the other reactions done too).
2. ingest.ratio_to_raw_insert — baseline in the same run: the same N orders (as parsed, rows
   prepared beforehand) written by a plain psycopg `executemany` INSERT into orders and
   order_lines, 1,000 orders per transaction. ratio = end-to-end orders/s ÷ raw orders/s.
3. webhook.ack_p50_ms / ack_p99_ms — `uvicorn haina.web.app:create_app --factory` in a
   subprocess on a free 127.0.0.1 port, by default as deployed in production: HAINA_TASK_MODE=
   celery with two workers as the README deploys them on one machine — `haina worker --queues
   haina.records --concurrency 1 --pool solo` storing pushes and `haina worker --queues haina.events
   --concurrency 1 --nice 10` running the reactions, yielding the CPU to the server — processing
   the pushes while they arrive (`--reactions-concurrency 2` for two reactions processes: on
   2 cores they finish no sooner and slow the sidebar, p50 ~85 vs ~65 ms at 200/s)
   (`--topology threads` keeps the embedded event threads in the server instead). Pushes are
   sent on an open-loop schedule at a fixed rate over keep-alive connections from one asyncio
   client thread (requests prepared beforehand, so the client takes little CPU) to a second
   connection (another tenant). Latency is measured from each push's scheduled send time to its
   answer (so a client that falls behind counts, no coordinated omission); the server-side
   send→answer time is printed too. Client, server and worker share this machine's cores.
   Measured once the workers answer a Celery ping and after a warm-up of 200 pushes at 200/s to
   a tenant of its own (until 2026-11-25 the load started while the workers were still importing,
   and the server's first pushes paid for its cold caches).

4. sidebar.order_visible_p50_ms / p99_ms — on the same server, 2,000 more pushes (400 with
   --quick) at a steady 200/s to a third connection, sent by the same open-loop client; a
   watcher looks up, by key, which of the next orders not seen yet are committed, every 5 ms.
   Per order: ms from its push's answer until it is readable, which is when the WeCom sidebar
   shows it for a known buyer (its query: bench/oneid_incremental.py). (Until 2026-11-24 the
   pushes came from 8 httpx threads and the watcher re-read the tenant's every order each time:
   both took CPU from the server they measured.)

A scratch database haina_bench_<random> is created on HAINA_BENCH_PG_ADMIN_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres), migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from haina.connections import service
from haina.connections.intake import WebhookIntake
from haina.core.database import Database, new_id
from haina.core.events import ThreadRunner, dispatcher
from haina.core.events.registry import discover_handlers
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.platforms.canonical import Order
from haina.platforms.youzan import webhooks as youzan_webhooks
from haina.sandbox.emulators import youzan as emulator
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState

ADMIN_URL = os.environ.get(
    "HAINA_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET_KEY = "bench-secret-key-0123456789abcdef"
ENCRYPTION_KEYS = "1:" + base64.b64encode(b"e" * 32).decode()
HASH_KEY = "bench-hash-key"
RAW_BATCH = 1_000
BROKER_URL = os.environ.get("HAINA_BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
WORKER_NICE: list[str] = []  # set from --worker-nice
RECORDS_NICE: list[str] = []  # set from --records-nice
SERVER_ENV: dict[str, str] = {}  # set from --server-env
INTAKE_THREADS = 32  # like the server's request thread pool (40)
DISPATCH_DEADLINE_S = 600.0
SERVER_START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
WARM_UP = 200  # pushes at 200/s to a tenant of their own before the server is measured
FULL_TRADE_STATUSES = ("pending_payment", "paid", "shipped", "completed", "partially_refunded")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- pushes ----------------------------------------------------------------------------------


def build_pushes(count: int, seed: int) -> tuple[Any, list[tuple[bytes, dict[str, str]]]]:
    """`count` signed push bodies for distinct orders, all on the world's Youzan shop."""
    customers = max(200, int(count / 2.3) + 200)
    world = generate_world(seed, customers)
    shop = next(s for s in world.shops if s.platform == "youzan")
    state = SandboxState(world)
    pusher = emulator.Pusher(state)
    seen: set[str] = set()
    pushes: list[tuple[bytes, dict[str, str]]] = []
    for order in world.orders:
        if len(pushes) >= count:
            break
        if order.status not in FULL_TRADE_STATUSES or order.order_id in seen or not order.lines:
            continue
        if world.shop(order.shop_id).platform == "pos":
            continue
        seen.add(order.order_id)
        rehomed = dataclasses.replace(order, shop_id=shop.shop_id)
        message = pusher.order_message(rehomed)
        assert message is not None and message.type in youzan_webhooks.FULL_TRADE_TYPES
        pushes.append(pusher.request(message, 0))
    if len(pushes) < count:
        sys.exit(f"the world has only {len(pushes)} usable orders for {count} pushes")
    return shop, pushes


# --- raw baseline ----------------------------------------------------------------------------

ORDER_COLUMNS = (
    "id, tenant_id, platform, shop_id, external_id, status, platform_status, total_fen, discount_fen,"
    " freight_fen, paid_fen, buyer_nick, receiver_name, receiver_phone_encrypted, receiver_phone_hash,"
    " receiver_phone_masked, receiver_province, receiver_city, receiver_district, receiver_street,"
    " coupon_ids, created_at, paid_at, shipped_at, finished_at, modified_at, version, fingerprint,"
    " source, synced_at"
)
LINE_COLUMNS = (
    "order_id, position, tenant_id, external_id, sku_id, outer_sku, title, quantity, unit_price_fen"
)


def raw_rows(tenant_id: str, orders: list[Order]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    now = datetime.now(UTC)
    order_rows: list[tuple[Any, ...]] = []
    line_rows: list[tuple[Any, ...]] = []
    for order in orders:
        order_id = new_id()
        address = order.receiver_address
        order_rows.append(
            (
                order_id,
                tenant_id,
                order.platform,
                order.shop_id,
                order.external_id,
                order.status,
                order.platform_status,
                order.total_fen,
                order.discount_fen,
                order.freight_fen,
                order.paid_fen,
                order.buyer_nick,
                order.receiver_name,
                None,
                None,
                "",
                address.province,
                address.city,
                address.district,
                address.street,
                "[]",
                order.created_at,
                order.paid_at,
                order.shipped_at,
                order.finished_at,
                order.modified_at,
                order.version,
                "0" * 32,
                "bench",
                now,
            )
        )
        for position, line in enumerate(order.lines):
            line_rows.append(
                (
                    order_id,
                    position,
                    tenant_id,
                    line.external_id,
                    line.sku_id,
                    line.outer_sku,
                    line.title,
                    line.quantity,
                    line.unit_price_fen,
                )
            )
    return order_rows, line_rows


def run_raw_insert(url: str, tenant_id: str, orders: list[Order]) -> tuple[float, int, int]:
    import psycopg

    order_sql = f"INSERT INTO orders ({ORDER_COLUMNS}) VALUES ({', '.join(['%s'] * 30)})"
    line_sql = f"INSERT INTO order_lines ({LINE_COLUMNS}) VALUES ({', '.join(['%s'] * 9)})"
    prepared = [raw_rows(tenant_id, orders[i : i + RAW_BATCH]) for i in range(0, len(orders), RAW_BATCH)]
    elapsed = 0.0
    order_count = line_count = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        for order_rows, line_rows in prepared:
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.executemany(order_sql, order_rows)
                cursor.executemany(line_sql, line_rows)
            connection.commit()
            elapsed += time.perf_counter() - started
            order_count += len(order_rows)
            line_count += len(line_rows)
    return elapsed, order_count, line_count


# --- end to end in process -------------------------------------------------------------------


@dataclasses.dataclass
class EndToEnd:
    durable_s: float  # until the last push was durable (verify + inbox)
    records_s: float  # until every pushed order was stored (canonical records)
    all_work_s: float  # until no open work was left (OneID, tags and the other reactions too)
    commits: int  # group commits made


def run_end_to_end(
    database: Database,
    settings: Settings,
    tenant_id: str,
    connection_id: str,
    pushes: list[tuple[bytes, dict[str, str]]],
    orders: int,
) -> EndToEnd:
    """The server's pipeline in this process: INTAKE_THREADS request threads hand pushes to the
    group-commit intake while the thread runner turns them into records; a watcher counts the
    tenant's stored orders every 20 ms until all `orders` are there."""
    intake = WebhookIntake(database, settings)
    runner = ThreadRunner(database)
    intake.start()
    runner.start()
    next_push = iter(range(len(pushes)))
    lock = threading.Lock()
    failures: list[str] = []

    def send() -> None:
        while True:
            with lock:
                index = next(next_push, None)
            if index is None:
                return
            body, headers = pushes[index]
            outcome = intake.receive("youzan", connection_id, "POST", {}, headers, body, ip="127.0.0.1")
            if outcome.status != 200 or outcome.stored != 1:
                failures.append(
                    f"push answered {outcome.status} (stored {outcome.stored}): {outcome.body[:200]!r}"
                )
            runner.wake()

    stored_at: list[float] = []

    def watch() -> None:
        query = text("SELECT COUNT(*) FROM orders WHERE tenant_id = :tenant")
        deadline = time.perf_counter() + DISPATCH_DEADLINE_S
        with database.engine.connect() as connection:
            while time.perf_counter() < deadline:
                if int(connection.scalar(query, {"tenant": tenant_id}) or 0) >= orders:
                    stored_at.append(time.perf_counter())
                    return
                connection.rollback()
                time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    try:
        senders = [threading.Thread(target=send) for _ in range(INTAKE_THREADS)]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        received = time.perf_counter()
        if failures:
            sys.exit(failures[0])
        if not runner.drain(timeout=DISPATCH_DEADLINE_S):
            sys.exit(f"the runner still had open work after {DISPATCH_DEADLINE_S:.0f} s")
        finished = time.perf_counter()
        watcher.join(timeout=5)
    finally:
        runner.stop()
        intake.stop()
    if not stored_at:
        sys.exit("the watcher never saw every order stored")
    return EndToEnd(received - started, stored_at[0] - started, finished - started, intake.batches)


# --- real server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(url: str, var_dir: Path, topology: str) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("HAINA_") and key != "NO_PROXY"
    }
    environment.update(
        {
            "HAINA_DATABASE_URL": url,
            "HAINA_VAR_DIR": str(var_dir),
            "HAINA_ENV": "test",
            "HAINA_SECRET_KEY": SECRET_KEY,
            "HAINA_ENCRYPTION_KEYS": ENCRYPTION_KEYS,
            "HAINA_HASH_KEY": HASH_KEY,
            "HAINA_SANDBOX_ENABLED": "false",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    if topology == "celery":
        environment.update({"HAINA_TASK_MODE": "celery", "HAINA_CELERY_BROKER_URL": BROKER_URL})
    environment.update(SERVER_ENV)
    return environment


RECORDS_POOL = ["--pool", "solo"]


def start_workers(url: str, var_dir: Path, reactions: int) -> list[subprocess.Popen[bytes]]:
    """As the README deploys them on one machine: `haina worker --queues haina.records
    --concurrency 1 --pool solo` (stores pushes) and `haina worker --queues haina.events --concurrency
    <reactions> --nice 10` (the reactions, yielding the CPU), on a scratch Redis database,
    emptied first."""
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()
    processes = []
    for name, queues, concurrency, nice in (
        ("records", "haina.records", "1", RECORDS_POOL + RECORDS_NICE),
        ("events", "haina.events", str(reactions), WORKER_NICE),
    ):
        log = open(var_dir / f"worker-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        command = [
            str(Path(sys.executable).with_name("haina")),
            "worker",
            "--queues",
            queues,
            "--concurrency",
            concurrency,
            "--loglevel",
            "warning",
            *nice,
        ]
        processes.append(
            subprocess.Popen(
                command,
                env=server_environment(url, var_dir, "celery"),
                cwd=var_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    return processes


def wait_workers_ready(count: int, timeout: float = SERVER_START_TIMEOUT_S) -> None:
    """Until `count` Celery workers answer a ping: a worker still importing its modules takes
    the cores the server is measured on."""
    from celery import Celery

    app = Celery("bench", broker=BROKER_URL, set_as_current=False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=1.0)) >= count:
                return
        raise RuntimeError(f"{count} Celery workers did not answer a ping in {timeout:.0f} s")
    finally:
        app.close()


def start_server(
    url: str, var_dir: Path, port: int, log_path: Path, topology: str
) -> subprocess.Popen[bytes]:
    environment = server_environment(url, var_dir, topology)
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "haina.web.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    # cwd = the scratch dir, so no project .env is read by the server.
    process = subprocess.Popen(command, env=environment, cwd=var_dir, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                return process
        time.sleep(0.1)
    stop_server(process)
    raise RuntimeError(f"the server did not answer /healthz in {SERVER_START_TIMEOUT_S:.0f} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclasses.dataclass
class LoadResult:
    from_schedule_ms: list[float]
    service_ms: list[float]
    errors: int
    elapsed_s: float
    first_error: str = ""


def open_loop(
    base_url: str,
    path: str,
    pushes: list[tuple[bytes, dict[str, str]]],
    rate: float,
    connections: int,
    answered: dict[int, float] | None = None,
) -> LoadResult:
    """Send push i at start + i/rate over `connections` keep-alive HTTP/1.1 connections (the
    first free one takes it). One asyncio thread with the requests' bytes prepared beforehand,
    so the client costs little of the cores it shares with the server; latency counts from the
    scheduled time (a push waiting for a free connection counts). `answered`, when given, gets
    each push's perf_counter() at its 200 answer, by index."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    prepared = [
        b"".join(
            [
                f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-length: {len(body)}\r\n".encode(),
                *(f"{name}: {value}\r\n".encode() for name, value in headers.items()),
                b"\r\n",
                body,
            ]
        )
        for body, headers in pushes
    ]
    from_schedule: list[float] = []
    service_times: list[float] = []
    errors = 0
    first_error: list[str] = []

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
        writer.write(request)
        status = int((await reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        answer = await reader.readexactly(length)
        if status != 200 and not first_error:
            first_error.append(f"{status} {answer[:200]!r}")
        return status

    async def run() -> float:
        nonlocal errors
        queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        start = time.perf_counter() + 0.2

        async def schedule() -> None:
            for index in range(len(prepared)):
                delay = start + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait((index, start + index / rate))
            for _ in range(connections):
                queue.put_nowait(None)

        async def connection() -> None:
            nonlocal errors
            streams = await asyncio.open_connection(host, int(port))
            while (item := await queue.get()) is not None:
                index, due = item
                sent = time.perf_counter()
                try:
                    status = await asyncio.wait_for(exchange(*streams, prepared[index]), REQUEST_TIMEOUT_S)
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as error:
                    status = 0
                    if not first_error:
                        first_error.append(f"{type(error).__name__}: {error}")
                    streams[1].close()
                    streams = await asyncio.open_connection(host, int(port))
                done = time.perf_counter()
                if status == 200:
                    if answered is not None:
                        answered[index] = done
                    from_schedule.append((done - due) * 1000)
                    service_times.append((done - sent) * 1000)
                else:
                    errors += 1
            streams[1].close()

        await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    return LoadResult(from_schedule, service_times, errors, elapsed, first_error[0] if first_error else "")


def order_visibility(
    base_url: str,
    path: str,
    pushes: list[tuple[str, bytes, dict[str, str]]],
    rate: float,
    database: Database,
    tenant_id: str,
) -> list[float]:
    """Push → visible: each push (order external id, body, headers) is sent at `rate` by the
    open-loop client (`open_loop`, 8 connections) and its answer time noted; a watcher looks up
    every 5 ms which of the next orders not seen yet are committed (by their key, so a look
    costs the same at the first order and the last) and notes when each first shows. Returns,
    per order, ms from its push's answer to the moment it was readable (what the sidebar reads:
    it shows an order of a known buyer as soon as the order is committed)."""
    answered: dict[int, float] = {}
    seen: dict[int, float] = {}
    stop = threading.Event()
    index_of = {external_id: index for index, (external_id, _, _) in enumerate(pushes)}

    def watch() -> None:
        query = text("SELECT external_id FROM orders WHERE tenant_id = :tenant AND external_id = ANY(:ids)")
        waiting = 0  # pushes before this one have all been seen
        with database.engine.connect() as connection:
            while not stop.is_set():
                while waiting < len(pushes) and waiting in seen:
                    waiting += 1
                ids = [pushes[i][0] for i in range(waiting, min(len(pushes), waiting + 200)) if i not in seen]
                if ids:
                    rows = connection.execute(query, {"tenant": tenant_id, "ids": ids}).all()
                    now = time.perf_counter()
                    for (external_id,) in rows:
                        seen.setdefault(index_of[external_id], now)
                    connection.rollback()
                time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    open_loop(base_url, path, [(body, headers) for _, body, headers in pushes], rate, 8, answered)
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and not all(index in seen for index in answered):
        time.sleep(0.05)
    stop.set()
    watcher.join(timeout=5)
    return [max(0.0, (seen[index] - answered[index]) * 1000) for index in answered if index in seen]


def visibility_stages(database: Database, tenant_id: str) -> dict[str, list[float]]:
    """Where a push's way to its stored order went, from the server's own timestamps (ms): the
    inbox write (its event's created_at) → fan-out (the store delivery's created_at) → claimed
    and handed to the records worker (enqueued_at) → stored (finished_at)."""
    query = text(
        "SELECT e.created_at, d.created_at, d.enqueued_at, d.finished_at FROM outbox_events e"
        " JOIN event_deliveries d ON d.event_id = e.id"
        " WHERE e.tenant_id = :tenant AND d.handler = 'connections.youzan.push' AND d.finished_at IS NOT NULL"
    )
    stages: dict[str, list[float]] = {
        "inbox → fan-out": [],
        "fan-out → handed over": [],
        "handed → stored": [],
    }
    with database.engine.connect() as connection:
        for written, fanned, handed, stored in connection.execute(query, {"tenant": tenant_id}):
            if handed is None:
                continue
            for name, (start, end) in zip(
                stages, ((written, fanned), (fanned, handed), (handed, stored)), strict=True
            ):
                stages[name].append((end - start).total_seconds() * 1000)
    return stages


def wait_processed(database: Database, timeout: float) -> float | None:
    """Seconds until the server's runner had no open work left (None on timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with database.unit_of_work() as session:
            if not dispatcher.has_open_work(session):
                return time.perf_counter() - started
        time.sleep(0.2)
    return None


# --- main ------------------------------------------------------------------------------------


def add_connection(database: Database, settings: Settings, slug: str, shop: Any) -> tuple[str, str]:
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, slug, f"压测商户 {slug}")
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform="youzan",
                name="压测有赞店",
                app_key=shop.app_key,
                app_secret=shop.app_secret,
                shop_id=str(emulator.kdt_id(shop)),
            ),
            settings,
        )
        return tenant.id, connection.id


def count_rows(database: Database, tenant_id: str) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {
            table: int(
                connection.scalar(
                    text(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant_id}
                )
                or 0
            )
            for table in ("inbox_items", "orders", "order_lines")
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 orders; 600 pushes at 200/s")
    parser.add_argument("--orders", type=int, default=None, help="orders for the ingest rate (20,000)")
    parser.add_argument("--pushes", type=int, default=None, help="pushes for the ack latency (5,000)")
    parser.add_argument("--rate", type=float, default=None, help="target pushes/s (1,000)")
    parser.add_argument(
        "--connections", type=int, default=None, help="client connections (48; 16 with --quick)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=10,
        help="`haina worker --nice` of the reactions' worker (10, as the README advises on one machine)",
    )
    parser.add_argument(
        "--records-nice",
        type=int,
        default=0,
        help="`haina worker --nice` of the records' worker (0)",
    )
    parser.add_argument(
        "--reactions-concurrency",
        type=int,
        default=1,
        help="processes of the reactions' worker (1, as the README advises on a 2-core machine)",
    )
    parser.add_argument(
        "--records-pool",
        choices=("solo", "prefork"),
        default="solo",
        help="`haina worker --pool` of the records' worker (solo, as the README deploys it)",
    )
    parser.add_argument(
        "--topology",
        choices=("celery", "threads"),
        default="celery",
        help="server + one Celery worker process (production; default) or the embedded event threads",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="HAINA_NAME=VALUE",
        help="a setting for the server and the workers (repeatable), e.g. HAINA_EVENT_TASKS_IN_FLIGHT=2",
    )
    args = parser.parse_args()
    for pair in args.server_env:
        name, equals, value = pair.partition("=")
        if not name.startswith("HAINA_") or not equals:
            parser.error(f"--server-env takes HAINA_NAME=VALUE, not {pair!r}")
        SERVER_ENV[name] = value
    RECORDS_POOL[1:] = [args.records_pool]
    WORKER_NICE[:] = ["--nice", str(args.worker_nice)] if args.worker_nice else []
    RECORDS_NICE[:] = ["--nice", str(args.records_nice)] if args.records_nice else []
    orders_n = args.orders or (1_000 if args.quick else 20_000)
    pushes_n = args.pushes or (600 if args.quick else 5_000)
    rate = args.rate or (200.0 if args.quick else 1_000.0)
    visible_n = 400 if args.quick else 2_000
    visible_rate = 200.0
    connections = args.connections or (16 if args.quick else 48)

    started = time.perf_counter()
    shop, pushes = build_pushes(max(orders_n, pushes_n) + visible_n, args.seed)
    build_seconds = time.perf_counter() - started
    parsed: list[Order] = []
    for body, _ in pushes[:orders_n]:
        parsed.extend(
            r for r in youzan_webhooks.parse(body, str(emulator.kdt_id(shop))) if isinstance(r, Order)
        )
    line_total = sum(len(order.lines) for order in parsed)

    name = f"haina_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    database: Database | None = None
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="haina-bench-") as directory:
            settings = Settings(
                env="test",
                var_dir=Path(directory),
                database_url=url,
                secret_key=SECRET_KEY,
                encryption_keys=ENCRYPTION_KEYS,
                hash_key=HASH_KEY,
                _env_file=None,  # type: ignore[call-arg]
            )
            database = Database(settings)
            service.bind_settings(database)
            discover_handlers()
            e2e_tenant, e2e_connection = add_connection(database, settings, "bench-e2e", shop)
            raw_tenant, _ = add_connection(database, settings, "bench-raw", shop)
            server_tenant, server_connection = add_connection(database, settings, "bench-server", shop)
            visible_tenant, visible_connection = add_connection(database, settings, "bench-visible", shop)
            _, warm_connection = add_connection(database, settings, "bench-warm", shop)

            # 1. end to end, in process
            e2e = run_end_to_end(
                database, settings, e2e_tenant, e2e_connection, pushes[:orders_n], len(parsed)
            )
            e2e_counts = count_rows(database, e2e_tenant)
            if e2e_counts["orders"] != len(parsed):
                print(f"warning: {e2e_counts['orders']} orders stored for {len(parsed)} pushed")

            # 2. raw executemany baseline, same tables, another tenant
            raw_seconds, raw_orders, raw_lines = run_raw_insert(url, raw_tenant, parsed)

            # 3. a real server under an open-loop push rate
            port = free_port()
            if args.topology == "celery":
                workers = start_workers(url, Path(directory), args.reactions_concurrency)
                wait_workers_ready(len(workers))
            server = start_server(url, Path(directory), port, Path(directory) / "server.log", args.topology)
            # Warm-up on a tenant of its own: the first pushes a process serves pay for its caches
            # (connections, compiled statements, the broker's channels), not for the load.
            open_loop(
                f"http://127.0.0.1:{port}", f"/webhooks/youzan/{warm_connection}", pushes[:WARM_UP], 200.0, 8
            )
            wait_processed(database, timeout=60.0)
            load = open_loop(
                f"http://127.0.0.1:{port}",
                f"/webhooks/youzan/{server_connection}",
                pushes[:pushes_n],
                rate,
                connections,
            )
            drain_seconds = wait_processed(database, timeout=120.0)
            server_counts = count_rows(database, server_tenant)
            # 4. push → visible, at a steady 200 orders/s, on the same server
            kdt = str(emulator.kdt_id(shop))
            tail = pushes[len(pushes) - visible_n :]
            labelled = [
                (
                    next(r.external_id for r in youzan_webhooks.parse(body, kdt) if isinstance(r, Order)),
                    body,
                    headers,
                )
                for body, headers in tail
            ]
            visible_ms = order_visibility(
                f"http://127.0.0.1:{port}",
                f"/webhooks/youzan/{visible_connection}",
                labelled,
                visible_rate,
                database,
                visible_tenant,
            )
            stages = visibility_stages(database, visible_tenant)
            stop_server(server)
            server_log = (Path(directory) / "server.log").read_text(errors="replace")
            server = None
            for worker in workers:
                stop_server(worker)
            for log_path in sorted(Path(directory).glob("worker-*.log")):
                server_log += log_path.read_text(errors="replace")
            workers = []

        e2e_rate = orders_n / e2e.records_s
        all_work_rate = orders_n / e2e.all_work_s
        raw_rate = raw_orders / raw_seconds
        print(f"pushes built           {len(pushes):>10,}  ({build_seconds:.1f} s, world + render + sign)")
        print(f"orders / lines         {len(parsed):>10,} / {line_total:,}")
        print()
        print(f"ingest (in process, {INTAKE_THREADS} request threads → intake → thread runner, PostgreSQL)")
        print(f"  {'step':<34}{'seconds':>10}{'orders/s':>12}")
        print(
            f"  {'all pushes durable (verify+inbox)':<34}{e2e.durable_s:>10.2f}{orders_n / e2e.durable_s:>12,.0f}"
        )
        print(f"  {'end to end (records stored)':<34}{e2e.records_s:>10.2f}{e2e_rate:>12,.0f}")
        print(f"  {'every reaction done too':<34}{e2e.all_work_s:>10.2f}{all_work_rate:>12,.0f}")
        print(f"  {'raw executemany INSERT':<34}{raw_seconds:>10.2f}{raw_rate:>12,.0f}")
        print(
            f"  group commits {e2e.commits:,} ({orders_n / max(e2e.commits, 1):.1f} pushes each); stored {e2e_counts};"
            f" raw inserted {raw_orders:,} orders, {raw_lines:,} lines"
        )
        print()
        ok = len(load.from_schedule_ms)
        achieved = ok / load.elapsed_s if load.elapsed_s else 0.0
        where = (
            f"server + Celery workers (records 1 process, reactions {args.reactions_concurrency}"
            f" at nice {args.worker_nice})"
            if args.topology == "celery"
            else "server with its event threads"
        )
        print(
            f"webhook ack (uvicorn subprocess, {where}, {connections} client connections,"
            f" open loop at {rate:,.0f}/s)"
        )
        print(f"  pushes {pushes_n:,}, answered 200: {ok:,}, errors: {load.errors:,}")
        if load.first_error:
            print(f"  first error: {load.first_error}")
        if ok:
            print(f"  {'':<26}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
            for label, values in (
                ("from schedule (ms)", load.from_schedule_ms),
                ("send → answer (ms)", load.service_ms),
            ):
                print(
                    f"  {label:<26}{percentile(values, 0.5):>9.2f}{percentile(values, 0.9):>9.2f}"
                    f"{percentile(values, 0.99):>9.2f}{max(values):>9.2f}"
                )
        drained = (
            "not within 120 s" if drain_seconds is None else f"{drain_seconds:.1f} s after the last answer"
        )
        print(f"  server processed the pushes: {drained}; stored {server_counts}")
        if "Traceback" in server_log:
            print("  server log has a traceback:\n" + server_log[-3000:])
        print(f"achieved rate {achieved:,.0f} pushes/s (target {rate:,.0f}/s) over {load.elapsed_s:.1f} s")
        print(f"figure: ingest.orders_per_s {e2e_rate:.0f} orders/s")
        print(f"figure: ingest.orders_with_reactions_per_s {all_work_rate:.0f} orders/s")
        print(f"figure: ingest.ratio_to_raw_insert {e2e_rate / raw_rate:.3f} x")
        if ok:
            print(f"figure: webhook.ack_p50_ms {percentile(load.from_schedule_ms, 0.5):.2f} ms")
            print(f"figure: webhook.ack_p99_ms {percentile(load.from_schedule_ms, 0.99):.2f} ms")
        print(
            f"push → order readable (sidebar), {visible_n:,} pushes at {visible_rate:.0f}/s: "
            f"{len(visible_ms):,} seen"
        )
        for stage, values in stages.items():
            if values:
                print(
                    f"  {stage:<24} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms"
                )
        if visible_ms:
            print(f"figure: sidebar.order_visible_p50_ms {percentile(visible_ms, 0.5):.1f} ms")
            print(f"figure: sidebar.order_visible_p99_ms {percentile(visible_ms, 0.99):.1f} ms")
        sys.stdout.flush()
    finally:
        if server is not None:
            stop_server(server)
        for worker in workers:
            stop_server(worker)
        if database is not None:
            database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
