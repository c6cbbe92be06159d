"""The probabilistic matcher plugged into the resolver through the seam (opt-in): its pairs are
stored as links and decided like any other, and a rebuild with it stays idempotent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.identity import service
from haina.customers.identity.models import IdentityLink, LinkStatus, OrderOwner
from haina.customers.models import record_id
from tests.customers.identity.builders import order, store
from tests.factories import TenantFixture

pytest.importorskip("haina.customers.matching")


@pytest.fixture
def matcher() -> Iterator[None]:
    from haina.customers.identity import matcher

    matcher.enable()
    yield
    matcher.disable()
    from haina.customers.identity import seam as _seam

    _seam.reset_link_proposer()


def test_matcher_pairs_become_links_the_resolver_decides(
    database: Database, settings: Settings, tenant: TenantFixture, matcher: None
) -> None:
    # No rule ties these: Taobao shows only the last 4 digits of the phone.
    store(
        database,
        settings,
        tenant.id,
        [
            order("YZ-1", buyer_id="yz-chen", phone="13812345678", name="陈晓明"),
            order(
                "TB-1",
                platform="taobao",
                shop_id="T1",
                buyer_id="AAHchen",
                phone="*******5678",
                name="陈晓明",
                days=2,
            ),
            order(
                "TB-2",
                platform="taobao",
                shop_id="T1",
                buyer_id="AAHchen",
                phone="*******5678",
                name="陈晓明",
                days=9,
            ),
            order(
                "JD-9",
                platform="jd",
                shop_id="J1",
                buyer_id="jd-zhou",
                phone="13600009999",
                name="周杰",
                days=4,
            ),
        ],
    )
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
    with database.unit_of_work() as session:
        anchors = {
            key: session.get(OrderOwner, (tenant.id, record_id("order", tenant.id, *key))).node_id
            for key in (("youzan", "S1", "YZ-1"), ("taobao", "T1", "TB-1"), ("jd", "J1", "JD-9"))
        }
        proposed = session.scalars(
            select(IdentityLink).where(
                IdentityLink.tenant_id == tenant.id, IdentityLink.evidence_type == "matcher"
            )
        ).all()
        # Whatever the matcher's verdict on Chen (its model is young), what it proposes is stored
        # as a probabilistic link and decided by the tenant's thresholds and the guard rails.
        allowed = {LinkStatus.MERGED.value, LinkStatus.REVIEW.value, LinkStatus.REFUSED.value}
        assert all(link.rule == "probabilistic" and link.status in allowed for link in proposed)
        assert not any(anchors[("jd", "J1", "JD-9")] in (link.node_a, link.node_b) for link in proposed)
    with database.unit_of_work() as session:
        again = service.rebuild(session, tenant.id, settings=settings)
    assert (again.customers_created, again.merges, again.splits, again.events) == (0, 0, 0, 0)


def test_the_matchers_decisions_map_onto_the_tenants_thresholds() -> None:
    from haina.customers.identity.matcher import _score
    from haina.customers.identity.resolver import Thresholds

    thresholds = Thresholds(auto_merge=0.9, review=0.6)
    assert _score("merge", 0.999, thresholds) == 0.999
    assert _score("merge", 0.5, thresholds) == 0.9  # the matcher's own line is authoritative
    assert 0.6 <= _score("review", 0.95, thresholds) < 0.9  # type: ignore[operator]
    assert _score("review", 0.2, thresholds) == 0.6
    assert _score("distinct", 0.99, thresholds) is None
