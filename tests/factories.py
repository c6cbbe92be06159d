"""Small factories for test data: a tenant with one user per role, tokens, clients."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from haina.core.auth.permissions import Role
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant

PASSWORD = "correct-horse-42"


@dataclass
class TenantFixture:
    id: str
    slug: str
    users: dict[str, str] = field(default_factory=dict)  # role → user id
    usernames: dict[str, str] = field(default_factory=dict)  # role → username
    phones: dict[str, str] = field(default_factory=dict)  # role → plaintext phone
    extra: dict[str, str] = field(default_factory=dict)  # other objects tests address by id


def make_tenant(database: Database, settings: Settings, slug: str | None = None) -> TenantFixture:
    """A tenant with one user per built-in role, each with a phone number."""
    slug = slug or f"t-{uuid.uuid4().hex[:8]}"
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, slug, f"测试商户 {slug}")
        fixture = TenantFixture(id=tenant.id, slug=slug)
        for role in Role:
            username = f"{role.value}-{slug}"
            phone = f"139{abs(hash((slug, role.value))) % 10**8:08d}"
            user = create_user(
                session,
                tenant.id,
                NewUser(username, f"{role.value} 用户", role.value, PASSWORD, phone),
                settings,
            )
            fixture.users[role.value] = user.id
            fixture.usernames[role.value] = username
            fixture.phones[role.value] = phone
    return fixture


def token_for(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def console_sign_in(client: TestClient, username: str, path: str = "/", password: str = PASSWORD) -> str:
    """Sign in through the login form (as a browser does), open `path`, and return the page's
    CSRF token for the console's form posts."""
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, "the login page has no CSRF token"
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": found.group(1), "next": path},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get(path)
    assert page.status_code == 200, page.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None, f"{path} has no CSRF meta tag"
    return token.group(1)
