"""Authorization-matrix samples of engage.moments (loaded by tests/core/test_authorization_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "moment_id": lambda tenant: tenant.extra["moment_id"],
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/moments"): lambda: {"json": {"text": "矩阵朋友圈"}},
    ("POST", "/engage/moments"): lambda: {"data": {"text": "矩阵朋友圈"}},
    ("PUT", "/api/v1/engage/moments/{moment_id}"): lambda: {"json": {"text": "矩阵朋友圈（改）"}},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    from haina.core.auth.actor import Actor
    from haina.engage.moments import service

    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        moment = service.create_moment(session, actor, service.MomentInput(text="矩阵朋友圈"))
        tenant.extra["moment_id"] = moment.id
