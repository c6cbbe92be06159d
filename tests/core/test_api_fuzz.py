"""Property-based API fuzzing with schemathesis against /api/openapi.json, with a valid token and
without one: no 5xx, and every error body explains itself ({"error": {"code", "message"}})."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.factories import make_tenant, token_for


@pytest.fixture
def api_schema(app, client, database, settings):  # type: ignore[no-untyped-def]
    home = make_tenant(database, settings)
    app.state.fuzz_token = token_for(client, home.usernames["owner"])
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


def _check_error_body(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict), f"error body without 'error': {body}"
        assert error.get("code") and error.get("message"), f"error body does not explain itself: {body}"


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "anonymous"])
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_explains_errors(case, app, authenticated) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {app.state.fuzz_token}"} if authenticated else {}
    response = case.call(headers=headers)
    _check_error_body(response)
