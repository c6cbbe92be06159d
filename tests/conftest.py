"""Shared fixtures: settings on a temporary var/, and a `database` on SQLite and PostgreSQL.

The PostgreSQL variant uses one scratch database per test session (created here, dropped at the
end) and empties every table after each test; the SQLite variant copies a migrated template file.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from haina.core import clock
from haina.core.auth.passwords import set_hash_cost
from haina.core.database import Database
from haina.core.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "HAINA_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Real argon2id, at a cost that keeps a suite creating hundreds of users fast.
set_hash_cost(time_cost=1, memory_cost=1024)

TEST_ENCRYPTION_KEY = base64.b64encode(b"k" * 32).decode()


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "var_dir": tmp_path,
        "secret_key": "test-secret-key-0123456789abcdef",
        "encryption_keys": f"1:{TEST_ENCRYPTION_KEY}",
        "hash_key": "test-hash-key",
        "dispatcher_poll_seconds": 0.05,
        "event_retry_base_seconds": 0.05,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _migrate(url: str) -> None:
    from haina.core.migrate import upgrade

    upgrade(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"haina_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {error}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _migrate(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_tables(database: Database) -> None:
    from haina.models import load_all_models

    metadata = load_all_models().metadata
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "haina.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    if not settings.is_sqlite:
        _empty_tables(database)
    database.dispose()


@pytest.fixture(autouse=True)
def _unfrozen_clock() -> Iterator[None]:
    yield
    clock.freeze(None)


@pytest.fixture
def app(settings: Settings, database: Database):  # type: ignore[no-untyped-def]
    from haina.web.app import create_app

    return create_app(settings, database, start_workers=False)


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def tenant(database: Database, settings: Settings):  # type: ignore[no-untyped-def]
    from tests.factories import make_tenant

    return make_tenant(database, settings)
