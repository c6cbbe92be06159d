"""Connections: CRUD through the API, the CLI-facing service and the console; secrets encrypted at
rest with their own context, and never returned, rendered or audited."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from haina.connections import service
from haina.connections.models import Connection
from haina.core.audit.models import AuditEntry
from haina.core.crypto import DecryptionError, cipher_for
from haina.core.database import Database
from haina.core.settings import Settings
from tests.connections.fakes import PLATFORM, SECRET
from tests.factories import PASSWORD, TenantFixture, bearer, make_tenant, token_for

NEW_SECRET = "rotated-secret-fedcba9876543210"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"


def owner_headers(client: TestClient, tenant: TenantFixture) -> dict[str, str]:
    return bearer(token_for(client, tenant.usernames["owner"]))


def create_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "platform": PLATFORM,
        "name": "旗舰店",
        "shop_id": "shop-1",
        "app_key": "fake-key",
        "app_secret": SECRET,
        "access_token": "token-abcdefghijkl",
        "extra": {"callback_token": "cb-token-value", "encoding_aes_key": AES_KEY},
    }
    body.update(overrides)
    return body


def audit_text(database: Database) -> str:
    with database.unit_of_work() as session:
        entries = session.scalars(select(AuditEntry)).all()
        return json.dumps([entry.detail for entry in entries], ensure_ascii=False)


def test_create_read_update_never_returns_secrets(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture, fake
) -> None:  # type: ignore[no-untyped-def]
    headers = owner_headers(client, tenant)
    created = client.post("/api/v1/connections", json=create_body(), headers=headers)
    assert created.status_code == 201, created.text
    out = created.json()
    for secret in (SECRET, "token-abcdefghijkl", "cb-token-value", AES_KEY):
        assert secret not in created.text
    assert out["secret_hint"] == "••••" + SECRET[-4:]
    assert out["extra_keys"] == ["callback_token", "encoding_aes_key"]
    assert out["webhook_url"].endswith(f"/webhooks/{PLATFORM}/{out['id']}")
    assert [stream["stream"] for stream in out["streams"]] == ["orders"]
    assert out["streams"][0]["status"] == "idle"

    listed = client.get("/api/v1/connections", headers=headers)
    assert [item["id"] for item in listed.json()] == [out["id"]]
    assert SECRET not in listed.text

    changed = client.patch(
        f"/api/v1/connections/{out['id']}",
        json={
            "name": "旗舰店二号",
            "app_secret": NEW_SECRET,
            "extra": {"callback_token": "", "grant_id": "g-1"},
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "旗舰店二号"
    assert changed.json()["secret_hint"] == "••••" + NEW_SECRET[-4:]
    assert changed.json()["extra_keys"] == ["encoding_aes_key", "grant_id"]
    assert NEW_SECRET not in changed.text

    fetched = client.get(f"/api/v1/connections/{out['id']}", headers=headers)
    assert fetched.json()["name"] == "旗舰店二号"

    with database.unit_of_work() as session:
        row = session.get_one(Connection, out["id"])
        stored = row.credentials_encrypted
        credentials = service.credentials_of(row, settings)
    # At rest: ciphertext only, bound to its context.
    assert NEW_SECRET not in stored and SECRET not in stored and AES_KEY not in stored
    cipher = cipher_for(settings.encryption_keys)
    assert NEW_SECRET in cipher.decrypt(stored, context=service.CREDENTIALS_CONTEXT)
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, context="users.phone")
    assert credentials.app_secret == NEW_SECRET
    assert credentials.access_token == "token-abcdefghijkl"
    assert dict(credentials.extra) == {"encoding_aes_key": AES_KEY, "grant_id": "g-1"}
    assert credentials.shop_id == "shop-1"
    # The audit log names what changed, never the values.
    text = audit_text(database)
    assert "connection.created" not in text  # actions are columns; details carry names only
    for secret in (SECRET, NEW_SECRET, "token-abcdefghijkl", AES_KEY, "g-1"):
        assert secret not in text
    assert "app_secret" in text


def test_invalid_and_duplicate_connections_are_refused(
    client: TestClient, tenant: TenantFixture, fake
) -> None:  # type: ignore[no-untyped-def]
    headers = owner_headers(client, tenant)
    assert client.post("/api/v1/connections", json=create_body(), headers=headers).status_code == 201
    duplicate = client.post("/api/v1/connections", json=create_body(), headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "connection_exists"
    unknown = client.post(
        "/api/v1/connections", json=create_body(platform="myspace", name="x"), headers=headers
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_platform"
    bad_url = client.post(
        "/api/v1/connections", json=create_body(name="y", base_url="ftp://example.com"), headers=headers
    )
    assert bad_url.status_code == 422
    bad_key = client.post(
        "/api/v1/connections", json=create_body(name="z", extra={"Bad Key": "v"}), headers=headers
    )
    assert bad_key.status_code == 422
    assert SECRET not in duplicate.text + unknown.text + bad_url.text + bad_key.text


def test_another_tenants_connection_answers_404(
    client: TestClient, database: Database, settings: Settings, tenant: TenantFixture, connection_id: str
) -> None:
    other = make_tenant(database, settings)
    headers = bearer(token_for(client, other.usernames["owner"]))
    assert client.get(f"/api/v1/connections/{connection_id}", headers=headers).status_code == 404
    assert (
        client.patch(f"/api/v1/connections/{connection_id}", json={"name": "x"}, headers=headers).status_code
        == 404
    )
    assert client.post(f"/api/v1/connections/{connection_id}/sync/orders", headers=headers).status_code == 404
    assert client.get("/api/v1/connections", headers=headers).json() == []
    # An agent may not manage platforms at all.
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    assert client.get("/api/v1/connections", headers=agent).status_code == 403


def sign_in(client: TestClient, username: str) -> str:
    """Sign in through the login form; returns the console's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get("/platforms")
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text).group(1)  # type: ignore[union-attr]


def test_console_adds_a_connection_and_never_shows_its_secrets(
    client: TestClient, database: Database, tenant: TenantFixture, fake
) -> None:  # type: ignore[no-untyped-def]
    csrf = sign_in(client, tenant.usernames["admin"])
    empty = client.get("/platforms")
    assert empty.status_code == 200 and 'data-state="coming-soon"' not in empty.text
    form = {
        "csrf_token": csrf,
        "platform": PLATFORM,
        "name": "控制台店",
        "shop_id": "shop-9",
        "app_key": "console-key",
        "app_secret": SECRET,
        "extra": "callback_token=console-callback-token\nencoding_aes_key=" + AES_KEY,
    }
    created = client.post("/platforms", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text
    page = client.get(created.headers["location"])
    assert "控制台店" in page.text and "••••" + SECRET[-4:] in page.text
    assert "callback_token" in page.text  # the names of the settings, not their values
    for secret in (SECRET, "console-callback-token", AES_KEY):
        assert secret not in page.text
    assert 'data-stream="orders"' in page.text and "/webhooks/fakeshop/" in page.text

    # An error re-renders the form without the secrets typed in.
    again = client.post("/platforms", data=form, follow_redirects=False)
    assert again.status_code == 409
    assert "控制台店" in again.text
    for secret in (SECRET, "console-callback-token", AES_KEY):
        assert secret not in again.text
    with database.unit_of_work() as session:
        assert len(service.list_connections(session, tenant.id)) == 1


def test_secrets_are_reencrypted_after_a_key_rotation(
    database: Database, settings: Settings, connection_id: str
) -> None:
    from tests.conftest import TEST_ENCRYPTION_KEY

    rotated = settings.model_copy(update={"encryption_keys": f"2:{'A' * 43}=,1:{TEST_ENCRYPTION_KEY}"})
    with database.unit_of_work() as session:
        assert service.reencrypt_credentials(session, rotated) == 1
        assert service.reencrypt_credentials(session, rotated) == 0
    with database.unit_of_work() as session:
        row = session.get_one(Connection, connection_id)
        assert row.credentials_encrypted.startswith("v2.")
        assert service.credentials_of(row, rotated).app_secret == SECRET
        with pytest.raises(service.CredentialsUnreadable):
            service.credentials_of(row, settings)  # the old key alone no longer reads it
