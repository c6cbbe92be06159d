"""The demo merchant: logins for every role, and the tenant connected to the embedded sandbox."""

from __future__ import annotations

from haina.connections import service as connections
from haina.core.database import Database
from haina.demo import DEMO_TENANT, connect_demo_tenant, seed_demo
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.conftest import make_settings


def test_demo_tenant_is_connected_to_the_sandbox_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path, database_url=f"sqlite:///{tmp_path / 'demo.db'}", base_url="http://127.0.0.1:9999"
    )
    logins = seed_demo(settings)
    assert {role for _, role in logins} == {"owner", "operator", "agent", "finance", "technician"}
    state = SandboxState(generate_world(5, 60))
    database = Database(settings)
    created = connect_demo_tenant(database, settings, state)
    assert connect_demo_tenant(database, settings, state) == 0
    with database.unit_of_work() as session:
        from haina.core.tenancy.service import get_tenant_by_slug

        tenant = get_tenant_by_slug(session, DEMO_TENANT)
        platforms = sorted(c.platform for c in connections.list_connections(session, tenant.id))
    database.dispose()
    assert created == len(platforms) and {"wecom", "youzan", "taobao", "tmall", "douyin"} <= set(platforms)
    assert set(state.push_targets) == {"wecom", "youzan", "douyin"}
    assert all(url.startswith("http://127.0.0.1:9999/webhooks/") for url in state.push_targets.values())


def test_demo_archive_key_is_made_once_and_pulls_the_sandbox_chats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from haina.archive.models import ArchiveMessage
    from haina.demo import connect_demo_archive, pull_demo_archive
    from haina.sandbox.emulators.wecom_store import scratch
    from tests.platforms.live_sandbox import serve

    state = SandboxState(generate_world(5, 60))
    assert state.world.messages, "the generated corp has chats to archive"
    with serve(state) as live:
        settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'demo.db'}")
        seed_demo(settings)
        database = Database(settings)
        connect_demo_archive(database, settings, state)
        first_key = scratch(state)["archive_public_keys"][1]
        connect_demo_archive(database, settings, state)  # a restart: same key, registered again
        assert scratch(state)["archive_public_keys"][1] == first_key
        wecom = live.base_url("wecom")
        stored = pull_demo_archive(database, settings, state, wecom_url=wecom)
        assert stored > 0 and pull_demo_archive(database, settings, state, wecom_url=wecom) == 0
        with database.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(ArchiveMessage)) == stored
        database.dispose()
