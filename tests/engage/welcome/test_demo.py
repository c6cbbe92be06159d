"""The demo seed: three realistic welcome messages and a week of sends, created once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.welcome import demo
from haina.engage.welcome.models import WelcomeMessage, WelcomeSend
from tests.factories import make_tenant
from tests.web.test_console import sign_in


def test_seed_is_idempotent_and_shows_on_the_list(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings)
    for _ in range(2):
        with database.unit_of_work() as session:
            demo.seed(session, users.id, None)
    with database.session_factory() as session:
        names = sorted(
            session.scalars(select(WelcomeMessage.name).where(WelcomeMessage.tenant_id == users.id))
        )
        sends = session.scalar(
            select(func.count()).select_from(WelcomeSend).where(WelcomeSend.tenant_id == users.id)
        )
    assert names == ["导购一对一欢迎语", "新客默认欢迎语", "门店海报欢迎语"]
    assert sends == 36
    sign_in(client, users.usernames["operator"])
    page = client.get("/engage/welcome")
    assert page.status_code == 200
    assert page.text.count("data-welcome=") == 3 and "demo-store-poster" in page.text
