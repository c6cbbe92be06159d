"""Authorization-matrix samples of engage.scripts (loaded by tests/core/test_authorization_matrix.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "script_scene_id": lambda tenant: tenant.extra["script_scene_id"],
    "script_id": lambda tenant: tenant.extra["script_id"],
}


def _scene() -> dict[str, Any]:
    return {"name": f"场景{uuid.uuid4().hex[:6]}"}


def _script() -> dict[str, Any]:
    return {"title": "矩阵话术", "content": "{客户昵称}您好"}


BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/scripts/scenes"): lambda: {"json": _scene()},
    ("PATCH", "/api/v1/engage/scripts/scenes/{script_scene_id}"): lambda: {"json": {"name": "矩阵场景"}},
    ("POST", "/api/v1/engage/scripts"): lambda: {"json": _script()},
    ("PUT", "/api/v1/engage/scripts/{script_id}"): lambda: {"json": _script()},
    ("POST", "/engage/scripts/scenes"): lambda: {"data": _scene()},
    ("POST", "/engage/scripts/scenes/{script_scene_id}/rename"): lambda: {"data": {"name": "矩阵场景"}},
    ("POST", "/engage/scripts/new"): lambda: {"data": _script()},
    ("POST", "/engage/scripts/{script_id}/edit"): lambda: {"data": _script()},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    from haina.core.auth.actor import Actor
    from haina.engage.scripts import service

    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        scene = service.create_scene(session, actor, "矩阵场景")
        script = service.create_script(
            session, actor, service.ScriptInput(title="矩阵话术", scene_id=scene.id, content="您好")
        )
        tenant.extra["script_scene_id"] = scene.id
        tenant.extra["script_id"] = script.id
