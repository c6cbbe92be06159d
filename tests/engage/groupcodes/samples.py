"""Authorization-matrix samples of engage.groupcodes: one group live code per tenant (stored
directly: the matrix tenant has no WeCom corp, so WeCom calls answer 409, never 5xx)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haina.core import clock
from haina.engage.groupcodes.models import GroupCode
from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "group_code_id": lambda tenant: tenant.extra["group_code_id"],
}

_FORM = {"name": "矩阵群码", "member_limit": "180", "chat_ids": ["wrMatrixChat1"], "room_base_id": "1"}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/group-codes"): lambda: {
        "json": {"name": "矩阵群码", "chat_ids": ["wrMatrixChat1"]}
    },
    ("PATCH", "/api/v1/engage/group-codes/{group_code_id}"): lambda: {"json": {"name": "改名群码"}},
    ("POST", "/engage/group-codes/new"): lambda: {"data": dict(_FORM)},
    ("POST", "/engage/group-codes/{group_code_id}/edit"): lambda: {"data": dict(_FORM)},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    with database.unit_of_work() as session:
        code = GroupCode(
            tenant_id=tenant.id,
            connection_id="0" * 32,
            name="矩阵群码",
            member_limit=180,
            chat_ids=["wrMatrixChat1"],
            listed_chat_ids=["wrMatrixChat1"],
            groups={},
            state="hgc_matrix",
            config_id="matrix-config",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(code)
        session.flush()
        tenant.extra["group_code_id"] = code.id
