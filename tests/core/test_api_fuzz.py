"""Property-based API fuzzing with schemathesis against /api/openapi.json, with a valid token and
without one: no 5xx, and every error body explains itself ({"error": {"code", "message"}}).

Driven through hypothesis directly (one strategy per operation) rather than schemathesis' pytest
plugin, so the suite does not depend on the plugin's pytest internals."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from tests.factories import make_tenant, token_for

EXAMPLES_WITH_TOKEN = 25
EXAMPLES_WITHOUT_TOKEN = 10


def _check(response, label: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        body = json.loads(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        assert isinstance(error, dict), f"{label}: error body without 'error': {body}"
        assert error.get("code") and error.get("message"), (
            f"{label}: error body does not explain itself: {body}"
        )


def _fuzz(operation, headers: dict[str, str], examples: int) -> None:  # type: ignore[no-untyped-def]
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def exercise(case) -> None:  # type: ignore[no-untyped-def]
        _check(case.call(headers=headers), label)

    exercise()


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "anonymous"])
def test_api_never_fails_and_explains_errors(app, client, database, settings, authenticated) -> None:  # type: ignore[no-untyped-def]
    home = make_tenant(database, settings)
    headers = (
        {"Authorization": f"Bearer {token_for(client, home.usernames['owner'])}"} if authenticated else {}
    )
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        _fuzz(operation, headers, EXAMPLES_WITH_TOKEN if authenticated else EXAMPLES_WITHOUT_TOKEN)
