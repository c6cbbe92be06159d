"""Authorization-matrix samples of engage.broadcasts (loaded by tests/core/test_authorization_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "broadcast_id": lambda tenant: tenant.extra["broadcast_id"],
}


def _json() -> dict[str, Any]:
    return {
        "json": {
            "title": "矩阵群发",
            "text": "矩阵群发内容",
            "target_kind": "tags",
            "tag_filter": {"any": ["t"]},
        }
    }


BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/broadcasts"): _json,
    ("PUT", "/api/v1/engage/broadcasts/{broadcast_id}"): _json,
    ("PUT", "/api/v1/engage/broadcasts/settings"): lambda: {"json": {"monthly_cap": 4}},
    ("POST", "/engage/broadcasts"): lambda: {
        "data": {"title": "矩阵群发", "text": "矩阵群发内容", "target_kind": "tags", "tag_any": "t"}
    },
    ("POST", "/engage/broadcasts/{broadcast_id}"): lambda: {
        "data": {"title": "矩阵群发", "text": "矩阵群发内容", "target_kind": "tags", "tag_any": "t"}
    },
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    from haina.core.auth.actor import Actor
    from haina.engage.broadcasts import service

    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        broadcast = service.create_broadcast(
            session,
            actor,
            service.BroadcastInput(
                title="矩阵群发", text="矩阵群发内容", target_kind="tags", tag_filter={"any": ["t"]}
            ),
        )
        tenant.extra["broadcast_id"] = broadcast.id
