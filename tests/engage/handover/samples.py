"""Authorization-matrix samples for engage.handover routes (loaded by
tests/core/test_authorization_matrix.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.factories import TenantFixture

PATH_SAMPLES: dict[str, Callable[[TenantFixture], str]] = {
    "handover_id": lambda tenant: tenant.extra["handover_id"],
}

BODY_SAMPLES: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
    ("POST", "/api/v1/engage/handovers"): lambda: {
        "json": {
            "kind": "in_office",
            "handover_userid": "zhangsan",
            "takeover_userid": "lisi",
            "external_userids": ["wmMatrix"],
        }
    },
    ("POST", "/engage/handover"): lambda: {
        "data": {"handover_userid": "zhangsan", "takeover_userid": "lisi"}
    },
}


def prepare(database: Any, tenant: TenantFixture) -> None:
    from haina.engage.handover.models import HandoverItem, HandoverJob

    with database.unit_of_work() as session:
        job = HandoverJob(
            tenant_id=tenant.id,
            connection_id="0" * 32,
            kind="in_office",
            handover_userid="zhangsan",
            takeover_userid="lisi",
            total=1,
            created_at=datetime(2026, 10, 1, tzinfo=UTC),
        )
        session.add(job)
        session.flush()
        session.add(
            HandoverItem(
                tenant_id=tenant.id,
                job_id=job.id,
                external_userid="wmMatrix",
                handover_userid="zhangsan",
                takeover_userid="lisi",
                status="waiting",
                requested_at=datetime(2026, 10, 1, tzinfo=UTC),
            )
        )
        tenant.extra["handover_id"] = job.id
