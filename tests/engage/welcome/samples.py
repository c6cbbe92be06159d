"""Authorization-matrix samples of engage.welcome: one default welcome message per tenant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haina.core import clock
from haina.engage.welcome.models import Scope, WelcomeMessage
from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "welcome_message_id": lambda tenant: tenant.extra["welcome_message_id"],
}

_FORM = {
    "name": "矩阵欢迎语",
    "scope": "default",
    "text": "您好 {客户昵称}",
    "attachments": "[]",
    "is_active": "1",
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/welcome-messages"): lambda: {
        "json": {"name": "矩阵欢迎语", "scope": "default", "text": "您好"}
    },
    ("PATCH", "/api/v1/engage/welcome-messages/{welcome_message_id}"): lambda: {"json": {"name": "改名"}},
    ("POST", "/api/v1/engage/welcome-messages/preview"): lambda: {"json": {"text": "您好 {客户昵称}"}},
    ("POST", "/engage/welcome"): lambda: {"data": dict(_FORM)},
    ("POST", "/engage/welcome/{welcome_message_id}/edit"): lambda: {"data": dict(_FORM)},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    with database.unit_of_work() as session:
        message = WelcomeMessage(
            tenant_id=tenant.id,
            name="矩阵欢迎语",
            scope=Scope.DEFAULT,
            text="您好",
            attachments=[],
            staff_userids=[],
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(message)
        session.flush()
        tenant.extra["welcome_message_id"] = message.id
