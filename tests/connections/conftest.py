"""Fixtures of the connections tests: the fake platform and store (tests/connections/fakes.py),
settings that dead-letter after two attempts, and a connection of the fake platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from haina.connections import service
from haina.core.database import Database
from haina.core.settings import Settings
from tests.conftest import make_settings
from tests.connections.fakes import PLATFORM, SECRET, fake, stored  # noqa: F401 - fixtures
from tests.factories import TenantFixture


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, event_max_attempts=2)


@pytest.fixture
def connection_id(
    request: pytest.FixtureRequest, database: Database, settings: Settings, tenant: TenantFixture
) -> str:
    request.getfixturevalue("fake")  # the connection's platform must be known
    with database.unit_of_work() as session:
        connection = service.create_connection(
            session,
            tenant.id,
            service.NewConnection(
                platform=PLATFORM,
                name="测试店",
                app_key="fake-key",
                app_secret=SECRET,
                shop_id="shop-1",
                base_url="http://127.0.0.1:9",
            ),
            settings,
        )
        return connection.id
