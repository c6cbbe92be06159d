"""demo.seed: realistic examples, real join ways with a corp, offline ones without, idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from haina.connections import wecom_corps
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.groupcodes import demo, service
from haina.sandbox.emulators.wecom_join_ways import join_way
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox, first_crawl=False) as connected:
        yield connected
    wecom_corps.forget_clients()


def test_seed_with_the_sandbox_corp_makes_join_ways_once(
    database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    assert len(corp.world.groups) >= 3
    for _ in range(2):
        with database.unit_of_work() as session:
            demo.seed(session, tenant.id, wecom_corps.first_corp(session, tenant.id))
    with database.session_factory() as session:
        codes = service.list_codes(session, tenant.id)
        assert sorted(code.name for code in codes) == ["双十一福利群", "门店会员群"]
        for code in codes:
            assert join_way(corp.sandbox.state, code.config_id)["state"] == code.state
            assert service.stats(session, tenant.id, code.id).total > 20
            assert all(group.name for group in service.pool_groups(code))


def test_seed_without_a_corp_makes_offline_examples(database: Database, tenant: TenantFixture) -> None:
    for _ in range(2):
        with database.unit_of_work() as session:
            demo.seed(session, tenant.id, None)
    with database.unit_of_work() as session:
        codes = service.list_codes(session, tenant.id)
        assert len(codes) == 2 and all(not code.config_id for code in codes)
        assert service.refresh_all(session, tenant.id) == 0
        assert all(code.sync_error == "" for code in codes)
        assert service.pool_groups(codes[0])[0].members > 0
