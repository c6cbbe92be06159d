"""Fixtures of the live code tests: the WeCom emulator on loopback, a tenant connected to it, an
owner acting in Haina and a manual tag for the codes to put on customers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import haina.engage.livecodes.tasks  # noqa: F401 - the live code event handlers
from haina.connections import wecom_corps
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.settings import Settings
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.tags import service as tags
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp


@dataclass
class Setup:
    corp: Corp
    owner: Actor
    tag_id: str


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    try:
        with connected_corp(database, settings, tenant.id, sandbox) as connected:
            yield connected
    finally:
        wecom_corps.forget_clients()


def owner_of(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主 王", "owner")


@pytest.fixture
def setup(database: Database, tenant: TenantFixture, corp: Corp) -> Setup:
    owner = owner_of(tenant)
    with database.unit_of_work() as session:
        group = tags.create_group(session, owner, "渠道来源")
        tag = tags.create_tag(session, owner, tags.TagInput(name="门店海报", group_id=group.id))
        tag_id = tag.id
    return Setup(corp, owner, tag_id)
