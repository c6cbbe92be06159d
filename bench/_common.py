"""What the PostgreSQL benches share: a scratch database, migrated, with throwaway keys, dropped
afterwards (HAINA_BENCH_PG_ADMIN_URL names the server; default: the local one, user postgres)."""

from __future__ import annotations

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
