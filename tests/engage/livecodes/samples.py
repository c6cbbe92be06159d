"""Authorization-matrix samples of the live code routes (loaded by
tests/core/test_authorization_matrix.py). The sample code has no WeCom contact way, so no route
calls WeCom: creating or changing one answers 422 (no WeCom connection) after authorising."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.factories import TenantFixture


def _api_body() -> dict[str, Any]:
    return {
        "json": {
            "name": f"矩阵活码{uuid.uuid4().hex[:6]}",
            "channel": "poster",
            "members": [{"userid": "zhangsan"}],
        }
    }


def _form_body() -> dict[str, Any]:
    return {
        "data": {
            "name": f"矩阵活码{uuid.uuid4().hex[:6]}",
            "channel": "poster",
            "member_userid": ["zhangsan"],
            "member_weekday": ["0:1"],
            "member_ranges": [""],
            "member_limit": ["0"],
        }
    }


PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "live_code_id": lambda tenant: tenant.extra["live_code_id"],
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/live-codes"): _api_body,
    ("PUT", "/api/v1/engage/live-codes/{live_code_id}"): _api_body,
    ("DELETE", "/api/v1/engage/live-codes/{live_code_id}"): lambda: {},
    ("POST", "/engage/live-codes/new"): _form_body,
    ("POST", "/engage/live-codes/{live_code_id}/edit"): _form_body,
    ("POST", "/engage/live-codes/{live_code_id}/delete"): lambda: {"data": {}},
    ("POST", "/engage/live-codes/logo"): lambda: {"data": {}},
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    """One live code of the tenant, without a WeCom contact way."""
    from haina.engage.livecodes.models import LiveCode

    with database.unit_of_work() as session:
        code = LiveCode(
            tenant_id=tenant.id,
            name="矩阵样例活码",
            channel="poster",
            state=f"hn{uuid.uuid4().hex[:12]}",
            pool={
                "members": [
                    {"userid": "zhangsan", "weekdays": [1, 2, 3, 4, 5, 6, 7], "ranges": [], "daily_limit": 0}
                ],
                "backups": [],
            },
            tag_ids=[],
        )
        session.add(code)
        session.flush()
        tenant.extra["live_code_id"] = code.id
