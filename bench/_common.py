"""What the benches share: a scratch PostgreSQL database, migrated, with throwaway keys, dropped
afterwards (HAINA_BENCH_PG_ADMIN_URL names the server; default: the local one, user postgres) or
the embedded SQLite file; the sandbox served on a loopback port; a tenant's WeCom connection to
the sandbox corp; percentiles."""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.sandbox.state import SandboxState
from haina.sandbox.world import World

ADMIN_URL = os.environ.get(
    "HAINA_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def bench_settings(var_dir: Path, database_url: str) -> Settings:
    """Settings with fixed throwaway keys (nothing a bench writes is kept)."""
    return Settings(
        env="test",
        var_dir=var_dir,
        database_url=database_url,
        secret_key="bench-secret-key-0123456789abcdef",
        encryption_keys="1:" + base64.b64encode(b"b" * 32).decode(),
        hash_key="bench-hash-key",
    )


@contextmanager
def scratch_database() -> Iterator[tuple[str, Settings, Database]]:
    """A new database haina_bench_<random>, migrated: (url, settings, database); dropped on exit."""
    name = f"haina_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    database: Database | None = None
    try:
        upgrade(url)
        with tempfile.TemporaryDirectory(prefix="haina-bench-") as directory:
            settings = bench_settings(Path(directory), url)
            database = Database(settings)
            yield url, settings, database
    finally:
        if database is not None:
            database.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5 → median, 0.99 → p99)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


@contextmanager
def serve_sandbox(state: SandboxState) -> Iterator[str]:
    """Serve the sandbox on a loopback port until the block ends; yields its base URL
    (`http://127.0.0.1:<port>/sandbox`; the WeCom emulator is at `<base>/wecom`)."""
    import socket
    import threading
    import time

    import uvicorn

    from haina.sandbox.app import create_sandbox_app

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_sandbox_app(state), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/sandbox"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@contextmanager
def bench_database(use_postgres: bool) -> Iterator[tuple[Settings, Database]]:
    """The embedded default (a migrated SQLite file in a temporary folder) or a scratch
    PostgreSQL database (`scratch_database`)."""
    if use_postgres:
        with scratch_database() as (_, settings, database):
            yield settings, database
        return
    with tempfile.TemporaryDirectory(prefix="haina-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'haina.db'}"
        upgrade(url)
        settings = bench_settings(Path(directory), url)
        database = Database(settings)
        try:
            yield settings, database
        finally:
            database.dispose()


def connect_wecom(
    database: Database, settings: Settings, tenant_id: str, world: World, wecom_url: str
) -> str:
    """A WeCom connection of the tenant to the sandbox corp (with its callback keys); its id."""
    from haina.connections import service as connections

    connections.bind_settings(database)
    with database.unit_of_work() as session:
        return connections.create_connection(
            session,
            tenant_id,
            connections.NewConnection(
                platform="wecom",
                name="企业微信",
                app_key=world.corp_id,
                app_secret=world.corp_secret,
                base_url=wecom_url,
                extra={"callback_token": world.callback_token, "encoding_aes_key": world.callback_aes_key},
            ),
            settings,
        ).id


def add_size_arguments(
    parser: argparse.ArgumentParser, *, full: int = 1_000_000, quick: int = 20_000
) -> None:
    """`--customers N` (default `full`) and `--quick` (`quick` customers)."""
    parser.add_argument("--customers", type=int, default=full)
    parser.add_argument("--quick", action="store_true", help=f"{quick:,} customers")
    parser.set_defaults(quick_size=quick)


def size_of(args: argparse.Namespace) -> tuple[int, str]:
    """How many customers the run uses and its label in figure names (1m, 200k…)."""
    customers = args.quick_size if args.quick else args.customers
    label = f"{customers // 1_000_000}m" if customers % 1_000_000 == 0 else f"{customers // 1000}k"
    return customers, label
