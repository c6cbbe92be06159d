"""The engage hub page: every operation has a card leading to its page, for the roles that may
manage marketing; the others get the 403 page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.views import SECTIONS
from tests.factories import make_tenant
from tests.web.test_console import sign_in


def test_the_hub_links_every_operation(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "operator")
    sign_in(client, users.usernames["operator"])
    page = client.get("/engage")
    assert page.status_code == 200
    for key, path in SECTIONS:
        assert f'href="{path}" data-section="{key}"' in page.text
    assert "渠道活码" in page.text and "离职继承" in page.text


def test_an_agent_may_not_open_the_hub(client: TestClient, database: Database, settings: Settings) -> None:
    users = make_tenant(database, settings, "agent")
    sign_in(client, users.usernames["agent"])
    assert client.get("/engage").status_code == 403


def test_the_cards_show_each_operations_headline_figure(
    client: TestClient, database: Database, settings: Settings
) -> None:
    import re

    from sqlalchemy import func, select

    from haina.engage.livecodes import demo as livecodes_demo
    from haina.engage.scripts import demo as scripts_demo
    from haina.engage.scripts.models import Script

    users = make_tenant(database, settings, "hubfigures")
    other = make_tenant(database, settings, "hubother")
    with database.unit_of_work() as session:
        livecodes_demo.seed(session, users.id, None)  # a month of adds to three codes
        scripts_demo.seed(session, users.id, None)
        scripts_demo.seed(session, other.id, None)  # another tenant's scripts are not counted
        scripts = int(
            session.scalar(select(func.count()).select_from(Script).where(Script.tenant_id == users.id)) or 0
        )
    sign_in(client, users.usernames["operator"])
    page = client.get("/engage").text
    shown = {key: int(value) for key, value in re.findall(r'data-figure="(\w+)">(\d+)<', page)}
    assert set(shown) == {key for key, _ in SECTIONS}
    assert shown["livecodes"] > 0
    assert shown["scripts"] == scripts > 0
    assert shown["broadcasts"] == 0 and shown["losses"] == 0
