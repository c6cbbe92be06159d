"""The probabilistic matcher plugged into the resolver through the seam: its pairs are stored as
links and decided like any other, incremental resolution proposes what a rebuild proposes (the
same pairs by blocking key, the same scores), and a rebuild with it stays idempotent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from haina.core.database import Database
from haina.core.settings import Settings
from haina.customers.identity import seam, service
from haina.customers.identity.matcher import MatcherProposer
from haina.customers.identity.models import IdentityBlockKey, IdentityLink, LinkStatus, OrderOwner
from haina.customers.models import record_id
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.customers.identity.test_resolution import state
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


def matcher_links(session: Any, tenant_id: str) -> dict[str, tuple[str, str, float, str]]:
    rows = session.scalars(
        select(IdentityLink).where(
            IdentityLink.tenant_id == tenant_id, IdentityLink.evidence_type == "matcher"
        )
    )
    return {link.id: (link.node_a, link.node_b, link.score, link.status) for link in rows}


def block_keys(session: Any, tenant_id: str) -> set[tuple[str, str]]:
    rows = session.scalars(select(IdentityBlockKey).where(IdentityBlockKey.tenant_id == tenant_id))
    return {(row.node_id, row.key) for row in rows}


def owner_node(session: Any, tenant_id: str, platform: str, shop_id: str, external_id: str) -> str:
    return session.get(
        OrderOwner, (tenant_id, record_id("order", tenant_id, platform, shop_id, external_id))
    ).node_id


def chen(external_id: str, platform: str, shop_id: str, buyer_id: str, **changes: Any) -> Any:
    """陈晓明 as Taobao and Tmall show him: the last 4 digits and the name, which no rule joins."""
    values: dict[str, Any] = {"phone": "*******5678", "name": "陈晓明", **changes}
    return order(external_id, platform=platform, shop_id=shop_id, buyer_id=buyer_id, **values)


def test_incremental_resolution_proposes_what_a_rebuild_proposes(
    database: Database, settings: Settings, tenant: TenantFixture, matcher: None
) -> None:
    arrivals = [
        chen("TB-1", "taobao", "T1", "AAH-1"),
        order(
            "JD-9", platform="jd", shop_id="J1", buyer_id="jd-zhou", phone="13600009999", name="周杰", days=1
        ),
        chen("TM-1", "tmall", "M1", "AAH-2", days=2),
        contact("wm-chen", name="晓明", remark="陈晓明", days=3),
        chen("TB-2", "taobao", "T2", "AAH-3", days=4),
        order("YZ-1", buyer_id="yz-chen", phone="13812345678", name="陈晓明", days=5),
        # A later order of the first account, to someone else: its record changes.
        chen("TB-3", "taobao", "T1", "AAH-1", name="林*", phone="*******0000", days=6),
    ]
    for item in arrivals:
        store(database, settings, tenant.id, [item])
        resolve_all(database)
    with database.unit_of_work() as session:
        links, keys, before = (
            matcher_links(session, tenant.id),
            block_keys(session, tenant.id),
            state(session, tenant.id),
        )
        tmall = owner_node(session, tenant.id, "tmall", "M1", "TM-1")
        second = owner_node(session, tenant.id, "taobao", "T2", "TB-2")
    statuses = {status for *_, status in links.values()}
    assert LinkStatus.MERGED.value in statuses, links
    assert any({tmall, second} == {a, b} for a, b, *_ in links.values())
    assert (
        before["owners"][record_id("order", tenant.id, "tmall", "M1", "TM-1")][1]
        == before["owners"][record_id("order", tenant.id, "taobao", "T2", "TB-2")][1]
    ), "the matcher merges the Tmall and Taobao accounts no rule joins"
    with database.unit_of_work() as session:
        rebuilt = service.rebuild(session, tenant.id, settings=settings)
    assert (rebuilt.customers_created, rebuilt.merges, rebuilt.splits, rebuilt.events) == (0, 0, 0, 0)
    with database.unit_of_work() as session:
        assert matcher_links(session, tenant.id) == links
        assert block_keys(session, tenant.id) == keys
        assert state(session, tenant.id) == before


def test_a_key_held_by_too_many_records_pairs_nothing_then_again_when_it_is_not(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    proposer = MatcherProposer()
    proposer.max_block_size = 2  # a key held by a third record says nothing (like 张伟 in a big shop)
    seam.set_link_proposer(proposer)
    try:
        store(database, settings, tenant.id, [chen("TB-1", "taobao", "T1", "AAH-1")])
        store(database, settings, tenant.id, [chen("TM-1", "tmall", "M1", "AAH-2", days=1)])
        resolve_all(database)

        def owners() -> tuple[str | None, str | None, str | None]:
            with database.unit_of_work() as session:
                found = state(session, tenant.id)["owners"]
            return tuple(  # type: ignore[return-value]
                found.get(record_id("order", tenant.id, *key), (None, None))[1]
                for key in (("taobao", "T1", "TB-1"), ("tmall", "M1", "TM-1"), ("taobao", "T2", "TB-2"))
            )

        def agrees_with_a_rebuild() -> None:
            with database.unit_of_work() as session:
                links, before = matcher_links(session, tenant.id), state(session, tenant.id)
                rebuilt = service.rebuild(session, tenant.id, settings=settings)
            assert (rebuilt.customers_created, rebuilt.merges, rebuilt.splits) == (0, 0, 0)
            with database.unit_of_work() as session:
                assert matcher_links(session, tenant.id) == links
                assert state(session, tenant.id) == before

        first, tmall, _ = owners()
        assert first is not None and first == tmall
        # A third 陈晓明 *******5678: every key the pair shared is now held by three records.
        store(database, settings, tenant.id, [chen("TB-2", "taobao", "T2", "AAH-3", days=2)])
        resolve_all(database)
        first, tmall, third = owners()
        assert len({first, tmall, third}) == 3
        with database.unit_of_work() as session:
            assert not matcher_links(session, tenant.id)
        agrees_with_a_rebuild()
        # The third order is corrected to another receiver: the keys are back to two holders.
        corrected = chen("TB-2", "taobao", "T2", "AAH-3", name="林*", phone="*******0000", days=3)
        store(database, settings, tenant.id, [corrected])
        resolve_all(database)
        first, tmall, third = owners()
        assert first == tmall != third
        agrees_with_a_rebuild()
    finally:
        seam.reset_link_proposer()


def test_the_matcher_cannot_merge_buyers_through_a_parcel_lockers_phone(
    database: Database, settings: Settings, tenant: TenantFixture, matcher: None
) -> None:
    for index in range(10):
        store(
            database,
            settings,
            tenant.id,
            [
                order(
                    f"YZ-{index}",
                    shop_id=f"S{index}",
                    buyer_id=f"b-{index}",
                    phone="13600000000",
                    name=f"买家{index}",
                )
            ],
        )
        resolve_all(database)
    with database.unit_of_work() as session:
        customers = set(state(session, tenant.id)["owners"].values())
        links = matcher_links(session, tenant.id)
        reasons = set(
            session.scalars(
                select(IdentityLink.reason).where(
                    IdentityLink.tenant_id == tenant.id, IdentityLink.evidence_type == "matcher"
                )
            )
        )
    assert len({customer for _, customer in customers}) == 10
    assert links and reasons == {"over_linking_key"}
