"""Authorization-matrix samples for engage.losses routes (loaded by
tests/core/test_authorization_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "loss_alert_id": lambda tenant: tenant.extra["loss_alert_id"],
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("PUT", "/api/v1/engage/losses/settings"): lambda: {
        "json": {"supervisor_userids": ["lisi"], "agentid": 1000002}
    },
    ("POST", "/api/v1/engage/losses/{loss_alert_id}/handle"): lambda: {"json": {"note": "已电话回访"}},
    ("POST", "/engage/losses/{loss_alert_id}/handle"): lambda: {"data": {"note": "已回访"}},
    ("POST", "/engage/losses/settings"): lambda: {
        "data": {"supervisor_userids": "lisi", "agentid": "1000002"}
    },
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    from haina.engage.losses.models import LossAlert

    with database.unit_of_work() as session:
        alert = LossAlert(
            tenant_id=tenant.id,
            contact_id="c" * 32,
            corp_id="wwMatrix",
            external_userid="wmMatrix",
            contact_name="矩阵客户",
            staff_userid="zhangsan",
            ended_by="customer",
            occurred_at=datetime(2026, 10, 1, tzinfo=UTC),
        )
        session.add(alert)
        session.flush()
        tenant.extra["loss_alert_id"] = alert.id
