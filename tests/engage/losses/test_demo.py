"""The demo seeds of handover and losses: realistic rows, created once however often they run."""

from __future__ import annotations

from sqlalchemy import func, select

from haina.core.database import Database
from haina.engage.handover import demo as handover_demo
from haina.engage.handover.models import HandoverItem, HandoverJob
from haina.engage.losses import demo as losses_demo
from haina.engage.losses import service
from haina.engage.losses.models import LossAlert
from tests.factories import TenantFixture


def test_demo_seeds_are_idempotent(database: Database, tenant: TenantFixture) -> None:
    for _ in range(2):
        with database.unit_of_work() as session:
            handover_demo.seed(session, tenant.id, None)
            losses_demo.seed(session, tenant.id, None)
    with database.session_factory() as session:

        def count(model: type) -> int:
            statement = select(func.count()).select_from(model).where(model.tenant_id == tenant.id)  # type: ignore[attr-defined]
            return int(session.scalar(statement) or 0)

        assert count(HandoverJob) == len(handover_demo.EXAMPLES)
        assert count(HandoverItem) == sum(len(example[5]) for example in handover_demo.EXAMPLES)
        assert count(LossAlert) == len(losses_demo.EXAMPLES)
        assert service.get_settings(session, tenant.id).agentid == losses_demo.DEMO_AGENTID
        assert service.statistics(session, tenant.id).total == len(losses_demo.EXAMPLES)
