"""Tokens, /me, user management and bad input on the auth endpoints."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.core.auth.models import User
from tests.factories import PASSWORD, bearer, token_for


def _count(database, model) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_token_and_me(client, tenant) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/auth/token", json={"username": tenant.usernames["owner"], "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    data = me.json()
    assert data["user"]["username"] == tenant.usernames["owner"]
    assert data["tenant"]["slug"] == tenant.slug
    assert data["role"] == "owner" and data["data_scope"] == "all"
    # the owner may see PII: the full phone, and that read is audited
    assert data["user"]["phone"] == tenant.phones["owner"]


def test_agent_sees_masked_phone_and_followed_scope(client, tenant) -> None:  # type: ignore[no-untyped-def]
    token = token_for(client, tenant.usernames["agent"])
    data = client.get("/api/v1/me", headers=bearer(token)).json()
    phone = tenant.phones["agent"]
    assert data["user"]["phone"] == phone[:3] + "****" + phone[-4:]
    assert data["data_scope"] == "followed_customers"
    assert "chats.read" in data["permissions"] and "money.read" not in data["permissions"]


def test_finance_never_gets_chat_permission(client, tenant) -> None:  # type: ignore[no-untyped-def]
    data = client.get("/api/v1/me", headers=bearer(token_for(client, tenant.usernames["finance"]))).json()
    assert "chats.read" not in data["permissions"] and "money.read" in data["permissions"]


def test_invalid_login_is_401_and_only_audited(client, tenant, database) -> None:  # type: ignore[no-untyped-def]
    users_before, audit_before = _count(database, User), _count(database, AuditEntry)
    response = client.post(
        "/api/v1/auth/token", json={"username": tenant.usernames["owner"], "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "bad_credentials"
    assert response.json()["error"]["message"]
    unknown = client.post("/api/v1/auth/token", json={"username": "nobody-at-all", "password": "x"})
    assert unknown.status_code == 401
    assert _count(database, User) == users_before
    assert _count(database, AuditEntry) == audit_before + 2


def test_lockout_after_repeated_failures(client, tenant, settings) -> None:  # type: ignore[no-untyped-def]
    username = tenant.usernames["operator"]
    for _ in range(settings.login_max_failures):
        assert (
            client.post(
                "/api/v1/auth/token", json={"username": username, "password": "nope-nope"}
            ).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    clock.freeze(clock.now() + timedelta(minutes=settings.login_lockout_minutes + 1))
    assert (
        client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD}).status_code
        == 200
    )


def test_unknown_tenant_is_a_clear_404(client, tenant) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/auth/token",
        json={"username": tenant.usernames["owner"], "password": PASSWORD, "tenant": "no-such-shop"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_tenant"


def test_expired_and_malformed_tokens(client, tenant) -> None:  # type: ignore[no-untyped-def]
    token = token_for(client, tenant.usernames["owner"])
    clock.freeze(clock.now() + timedelta(days=30))
    expired = client.get("/api/v1/me", headers=bearer(token))
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "token_expired"
    clock.freeze(None)
    for header in ("Bearer not-a-jwt", "Bearer " + token[:-4] + "AAAA", "Basic abc", "Bearer "):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["message"]
    assert client.get("/api/v1/me").status_code == 401


def test_malformed_and_oversized_json(client, tenant, settings, database) -> None:  # type: ignore[no-untyped-def]
    malformed = client.post(
        "/api/v1/auth/token", content=b'{"username": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["code"] == "malformed_json"
    missing = client.post("/api/v1/auth/token", json={"username": "x"})
    assert missing.status_code == 422 and "password" in missing.json()["error"]["message"]
    token = token_for(client, tenant.usernames["owner"])
    users_before = _count(database, User)
    huge = b'{"username": "' + b"a" * (settings.max_body_bytes + 10) + b'"}'
    oversized = client.post(
        "/api/v1/users", content=huge, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert oversized.status_code == 413
    assert oversized.json()["error"]["code"] == "payload_too_large"
    assert _count(database, User) == users_before


def test_user_management(client, tenant) -> None:  # type: ignore[no-untyped-def]
    token = token_for(client, tenant.usernames["admin"])
    created = client.post(
        "/api/v1/users",
        json={
            "username": "new-agent-1",
            "display_name": "新客服",
            "role": "agent",
            "password": "long-enough-pw",
            "phone": "13812345678",
        },
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    duplicate = client.post(
        "/api/v1/users",
        json={"username": "new-agent-1", "display_name": "x", "role": "agent", "password": "long-enough-pw"},
        headers=bearer(token),
    )
    assert duplicate.status_code == 409
    bad_role = client.post(
        "/api/v1/users",
        json={"username": "new-agent-2", "display_name": "x", "role": "king", "password": "long-enough-pw"},
        headers=bearer(token),
    )
    assert bad_role.status_code == 422 and bad_role.json()["error"]["code"] == "unknown_role"
    assert "owner" in bad_role.json()["error"]["detail_en"]
    patched = client.patch(f"/api/v1/users/{user_id}", json={"role": "operator"}, headers=bearer(token))
    assert patched.status_code == 200 and patched.json()["role"] == "operator"
    audit = client.get("/api/v1/audit", params={"action": "user.updated"}, headers=bearer(token)).json()
    assert audit and audit[0]["target_id"] == user_id


def test_audit_export_is_excel_and_audited(client, tenant) -> None:  # type: ignore[no-untyped-def]
    import io

    from openpyxl import load_workbook

    token = token_for(client, tenant.usernames["owner"])
    response = client.get("/api/v1/audit/export.xlsx", headers=bearer(token))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.cell(1, 3).value == "操作"
    assert any(row[2] == "auth.login" for row in sheet.iter_rows(min_row=2, values_only=True))
    exports = client.get("/api/v1/audit", params={"action": "export.audit_log"}, headers=bearer(token)).json()
    assert len(exports) == 1


def test_audit_log_refuses_updates_in_the_database(database, tenant) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET action = 'forged'"))
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_nul_characters_are_refused_with_a_reason(client, tenant) -> None:  # type: ignore[no-untyped-def]
    token = token_for(client, tenant.usernames["owner"])
    in_query = client.get("/api/v1/users", params={"role": "\x00"}, headers=bearer(token))
    assert in_query.status_code == 422 and in_query.json()["error"]["code"] == "nul_character"
    in_body = client.post("/api/v1/auth/token", json={"username": "\x00", "password": "x"})
    assert in_body.status_code == 422 and in_body.json()["error"]["code"] == "nul_character"


def test_tokens_follow_the_app_clock_not_the_machines() -> None:
    from datetime import UTC, datetime, timedelta

    import pytest as _pytest

    from haina.core import clock
    from haina.core.auth.tokens import issue_access_token, read_access_token
    from haina.core.errors import NotAuthenticated

    secret = "token-clock-secret-0123456789abcdef"
    clock.freeze(datetime.now(UTC) + timedelta(days=3))  # the app clock ahead of the machine's
    try:
        token = issue_access_token(secret, user_id="u1", tenant_id="t1", minutes=30)
        assert read_access_token(secret, token)["sub"] == "u1"
        clock.advance(timedelta(minutes=31))
        with _pytest.raises(NotAuthenticated):
            read_access_token(secret, token)
    finally:
        clock.freeze(None)
