"""Identity resolution on SQLite and PostgreSQL, through the real store and the real event
handlers: deterministic rules across platforms, guard rails, merge and unmerge (exact restore),
idempotent rebuild, the review queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import or_, select

from haina.core.audit.models import AuditEntry
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.errors import Conflict, NotFound
from haina.core.events.models import OutboxEvent
from haina.core.settings import Settings
from haina.customers.identity import merge as merges
from haina.customers.identity import profile, seam, service
from haina.customers.identity.models import (
    Customer,
    CustomerMerge,
    CustomerStatus,
    IdentityLink,
    IdentityNode,
    IdentityReview,
    LinkStatus,
    OrderOwner,
    ReviewStatus,
)
from haina.customers.identity.rules import Kind
from haina.customers.models import BuyerIdentity, Contact, record_id
from tests.customers.identity.builders import contact, order, resolve_all, store
from tests.factories import TenantFixture, make_tenant

PHONE_CHEN = "13812345678"
PHONE_WANG = "13900001111"
PHONE_LI = "13700002222"


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")


def customer_of_order(
    session: Any, tenant_id: str, platform: str, shop_id: str, external_id: str
) -> str | None:
    order_id = record_id("order", tenant_id, platform, shop_id, external_id)
    row = session.get(OrderOwner, (tenant_id, order_id))
    return row.customer_id if row is not None else None


def customer_of_contact(
    session: Any, tenant_id: str, external_userid: str, corp_id: str = "corp1"
) -> str | None:
    row = session.get(Contact, (tenant_id, record_id("contact", tenant_id, corp_id, external_userid)))
    return row.customer_id if row is not None else None


def events(session: Any, tenant_id: str, type_: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id, OutboxEvent.type == type_)
    )
    return [row.payload for row in rows]


def state(session: Any, tenant_id: str) -> dict[str, Any]:
    """Everything resolution decides, keyed by stable ids: comparable before and after."""
    customers = {
        row.id: (row.status, row.merged_into_id, row.display_name, row.phone_masked, row.node_count)
        for row in session.scalars(select(Customer).where(Customer.tenant_id == tenant_id))
    }
    nodes = {
        row.id: row.customer_id
        for row in session.scalars(select(IdentityNode).where(IdentityNode.tenant_id == tenant_id))
    }
    owners = {
        row.order_id: (row.node_id, row.customer_id)
        for row in session.scalars(select(OrderOwner).where(OrderOwner.tenant_id == tenant_id))
    }
    contacts = {
        row.id: row.customer_id
        for row in session.scalars(select(Contact).where(Contact.tenant_id == tenant_id))
    }
    identities = {
        row.id: row.customer_id
        for row in session.scalars(select(BuyerIdentity).where(BuyerIdentity.tenant_id == tenant_id))
    }
    return {
        "customers": customers,
        "nodes": nodes,
        "owners": owners,
        "contacts": contacts,
        "identities": identities,
    }


def chen_records() -> list[Any]:
    """陈晓 on four channels: Youzan (full phone, unionid), WeCom (unionid, remark mobile), JD and
    Douyin (masked phone and name); plus a stranger on Pinduoduo."""
    return [
        order(
            "YZ-1", platform="youzan", buyer_id="yz-chen", unionid="union-chen", phone=PHONE_CHEN, name="陈晓"
        ),
        contact("wm-chen", name="晓晓", unionid="union-chen", remark="陈晓", mobiles=(PHONE_CHEN,)),
        order("JD-1", platform="jd", shop_id="J1", phone="138****5678", name="陈*", days=3),
        order(
            "DY-1",
            platform="douyin",
            shop_id="D1",
            buyer_id="dy-chen",
            phone="138****5678",
            name="陈**",
            days=5,
        ),
        order("PDD-1", platform="pdd", shop_id="P1", phone="150****0000", name="林*", days=6),
    ]


def test_one_customer_across_youzan_wecom_jd_and_douyin(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    store(database, settings, tenant.id, chen_records())
    resolve_all(database)
    with database.unit_of_work() as session:
        chen = customer_of_contact(session, tenant.id, "wm-chen")
        assert chen is not None
        for key in (("youzan", "S1", "YZ-1"), ("jd", "J1", "JD-1"), ("douyin", "D1", "DY-1")):
            assert customer_of_order(session, tenant.id, *key) == chen, key
        stranger = customer_of_order(session, tenant.id, "pdd", "P1", "PDD-1")
        assert stranger is not None and stranger != chen
        customer = session.get(Customer, (tenant.id, chen))
        assert customer.display_name == "陈晓" and customer.phone_masked == "138****5678"
        # The mirrors: buyer identities and the contact carry the customer too.
        mirrored = session.scalars(
            select(BuyerIdentity.customer_id).where(
                BuyerIdentity.tenant_id == tenant.id, BuyerIdentity.platform == "youzan"
            )
        ).all()
        assert set(mirrored) == {chen}
        resolved = events(session, tenant.id, "customer.resolved")
        assert any(chen == payload["customer_id"] and payload["order_ids"] for payload in resolved)
        assert len(events(session, tenant.id, "customer.created")) >= 2

    with database.unit_of_work() as session:
        before = state(session, tenant.id)
        again = service.rebuild(session, tenant.id, settings=settings)
    assert (again.customers_created, again.merges, again.splits, again.events) == (0, 0, 0, 0)
    with database.unit_of_work() as session:
        assert state(session, tenant.id) == before


def test_records_in_any_order_resolve_like_a_rebuild(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    youzan, contact_record, jd, douyin, pdd = chen_records()
    contact_record.follows[0].remark_mobiles = []  # the contact and the Douyin buyer meet only via Youzan
    for record in (douyin, pdd, contact_record, jd, youzan):
        store(database, settings, tenant.id, [record])
        resolve_all(database)
    with database.unit_of_work() as session:
        incremental = state(session, tenant.id)
        assert events(session, tenant.id, "customer.merged"), "late evidence should merge earlier customers"
        result = service.rebuild(session, tenant.id, settings=settings)
    assert (result.merges, result.splits, result.customers_created) == (0, 0, 0)
    with database.unit_of_work() as session:
        assert state(session, tenant.id) == incremental
        chen = customer_of_contact(session, tenant.id, "wm-chen")
        assert customer_of_order(session, tenant.id, "douyin", "D1", "DY-1") == chen
        assert customer_of_order(session, tenant.id, "youzan", "S1", "YZ-1") == chen


def test_a_household_device_alone_never_merges(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    ipad = "IDFA-FAMILY-IPAD"
    store(
        database,
        settings,
        tenant.id,
        [
            order("YZ-W", buyer_id="yz-wang", phone=PHONE_WANG, name="王芳", device_id=ipad),
            order("YZ-L", buyer_id="yz-li", phone=PHONE_LI, name="李雷", device_id=ipad, days=1),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        wang = customer_of_order(session, tenant.id, "youzan", "S1", "YZ-W")
        li = customer_of_order(session, tenant.id, "youzan", "S1", "YZ-L")
        assert wang and li and wang != li
        device = session.scalars(
            select(IdentityNode).where(
                IdentityNode.tenant_id == tenant.id, IdentityNode.kind == Kind.DEVICE_ID
            )
        ).one()
        assert device.customer_id is None
        device_links = session.scalars(
            select(IdentityLink).where(
                IdentityLink.tenant_id == tenant.id, IdentityLink.rule == "shared_device"
            )
        ).all()
        assert len(device_links) == 2 and {link.status for link in device_links} == {LinkStatus.WEAK.value}


def test_an_over_linking_key_is_stopped_by_the_guard_rails(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    locker = "13600000000"  # a parcel locker's number on many buyers' orders
    for index in range(12):
        store(
            database,
            settings,
            tenant.id,
            [
                order(
                    f"YZ-{index}",
                    shop_id=f"S{index}",
                    buyer_id=f"buyer-{index}",
                    phone=locker,
                    name=f"买家{index}",
                )
            ],
        )
        resolve_all(database)  # one at a time: the first few do merge, then the key is caught
    with database.unit_of_work() as session:
        owners = {
            customer_of_order(session, tenant.id, "youzan", f"S{index}", f"YZ-{index}") for index in range(12)
        }
        assert len(owners) == 12, "every buyer is their own customer again"
        key = session.scalars(
            select(IdentityNode).where(
                IdentityNode.tenant_id == tenant.id, IdentityNode.kind == Kind.PHONE_HASH
            )
        ).one()
        assert key.is_blocked and "over_linking_key" in key.blocked_reason
        refused = session.scalars(
            select(IdentityLink).where(
                IdentityLink.tenant_id == tenant.id,
                or_(IdentityLink.node_a == key.id, IdentityLink.node_b == key.id),
            )
        ).all()
        assert len([link for link in refused if link.rule == "order_receiver_phone"]) == 12
        assert {link.reason for link in refused} == {"over_linking_key"}
        assert events(session, tenant.id, "customer.split"), (
            "the buyers merged before the key was caught are split"
        )
        result = service.rebuild(session, tenant.id, settings=settings)
    assert result.merges == 0 and result.splits == 0


@pytest.fixture
def two_customers(database: Database, settings: Settings, tenant: TenantFixture) -> Iterator[tuple[str, str]]:
    store(
        database,
        settings,
        tenant.id,
        [
            order("YZ-W1", buyer_id="yz-wang", phone=PHONE_WANG, name="王芳"),
            order("YZ-W2", buyer_id="yz-wang", phone=PHONE_WANG, name="王芳", days=9, title="面霜"),
            contact("wm-wang", name="芳芳", remark="王芳", mobiles=(PHONE_WANG,)),
            order(
                "JD-L1", platform="jd", shop_id="J1", buyer_id="jd-li", phone=PHONE_LI, name="李雷", days=2
            ),
        ],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        wang = customer_of_contact(session, tenant.id, "wm-wang")
        li = customer_of_order(session, tenant.id, "jd", "J1", "JD-L1")
    assert wang and li and wang != li
    yield wang, li


def test_unmerge_restores_the_exact_prior_state(
    database: Database, settings: Settings, tenant: TenantFixture, two_customers: tuple[str, str]
) -> None:
    wang, li = two_customers
    actor = owner(tenant)
    with database.unit_of_work() as session:
        before = state(session, tenant.id)
        wang_profile = profile.get_profile(session, actor, wang, settings=settings)
        li_profile = profile.get_profile(session, actor, li, settings=settings)
    with database.unit_of_work() as session:
        merge = merges.merge_customers(session, actor, li, wang)
        merge_id, survivor, absorbed = merge.id, merge.survivor_id, merge.absorbed_id
    assert {survivor, absorbed} == {wang, li}
    with database.unit_of_work() as session:
        merged = profile.get_profile(session, actor, survivor, settings=settings)
        assert (
            len(merged.orders) == 3
            and merged.stats.platforms
            and set(merged.stats.platforms) == {"youzan", "jd"}
        )
        assert session.get(Customer, (tenant.id, absorbed)).status == CustomerStatus.MERGED.value
        payload = events(session, tenant.id, "customer.merged")[-1]
        assert (
            payload["rule"] == "manual"
            and payload["actor"] == actor.username
            and payload["merge_id"] == merge_id
        )
    with database.unit_of_work() as session:
        merges.unmerge(session, actor, merge_id)
    with database.unit_of_work() as session:
        assert state(session, tenant.id) == before
        for customer_id, earlier in ((wang, wang_profile), (li, li_profile)):
            now = profile.get_profile(session, actor, customer_id, settings=settings)
            assert [o.id for o in now.orders] == [o.id for o in earlier.orders]
            assert now.identities == earlier.identities and now.phones == earlier.phones
            assert [f.contact_id for f in now.follows] == [f.contact_id for f in earlier.follows]
        assert events(session, tenant.id, "customer.unmerged")[-1]["merge_id"] == merge_id
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)))
        assert {"customer.merged", "customer.unmerged"} <= actions
        with pytest.raises(Conflict):
            merges.unmerge(session, actor, merge_id)
    # A rebuild keeps them apart (the person's split is a cannot-link).
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
    with database.unit_of_work() as session:
        assert state(session, tenant.id) == before


def test_an_automatic_merge_can_be_undone_and_stays_undone(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    store(database, settings, tenant.id, [order("YZ-1", buyer_id="yz-chen", phone=PHONE_CHEN, name="陈晓")])
    resolve_all(database)  # the Youzan buyer is the older customer: it survives the merge
    store(database, settings, tenant.id, [contact("wm-x", name="小陈", remark="陈晓")])
    resolve_all(database)
    # A guide adds the customer's mobile to the WeCom contact's remark: resolution merges them.
    store(
        database,
        settings,
        tenant.id,
        [contact("wm-x", name="小陈", remark="陈晓", mobiles=(PHONE_CHEN,), days=1)],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        chen = customer_of_order(session, tenant.id, "youzan", "S1", "YZ-1")
        assert customer_of_contact(session, tenant.id, "wm-x") == chen
        (merge,) = session.scalars(select(CustomerMerge).where(CustomerMerge.tenant_id == tenant.id)).all()
        assert merge.actor_name == "system" and merge.rule == "contact_remark_mobile" and merge.score == 0.95
        merge_id, absorbed = merge.id, merge.absorbed_id
    with database.unit_of_work() as session:
        merges.unmerge(session, owner(tenant), merge_id)
    store(
        database,
        settings,
        tenant.id,
        [order("YZ-2", buyer_id="yz-chen", phone=PHONE_CHEN, name="陈晓", days=4)],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
    with database.unit_of_work() as session:
        assert customer_of_contact(session, tenant.id, "wm-x") == absorbed
        assert customer_of_order(session, tenant.id, "youzan", "S1", "YZ-2") == chen != absorbed
        assert session.get(Customer, (tenant.id, absorbed)).status == CustomerStatus.ACTIVE.value


@pytest.fixture
def proposer() -> Iterator[list[seam.ProposedLink]]:
    """A stand-in matcher: proposes whatever the test puts in the list."""
    proposals: list[seam.ProposedLink] = []

    def propose(records: Any, candidates: Any) -> list[seam.ProposedLink]:
        known = {record.record_id for record in [*records, *candidates]}
        return [p for p in proposals if p.left in known or p.right in known]

    seam.set_link_proposer(propose)
    yield proposals
    seam.reset_link_proposer()


def anchors(database: Database, tenant: TenantFixture) -> tuple[str, str]:
    with database.unit_of_work() as session:
        wang = session.get(OrderOwner, (tenant.id, record_id("order", tenant.id, "youzan", "S1", "YZ-W1")))
        li = session.get(OrderOwner, (tenant.id, record_id("order", tenant.id, "jd", "J1", "JD-L1")))
        return wang.node_id, li.node_id


def test_a_rejected_pair_stays_apart(
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    two_customers: tuple[str, str],
    proposer: list[seam.ProposedLink],
) -> None:
    wang, li = two_customers
    wang_anchor, li_anchor = anchors(database, tenant)
    proposer.append(seam.ProposedLink(wang_anchor, li_anchor, 0.8, detail={"name": 0.2}))
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
    with database.unit_of_work() as session:
        reviews, total, customers = profile.list_reviews(session, tenant.id)
        assert total == 1 and {customers[reviews[0].node_a], customers[reviews[0].node_b]} == {wang, li}
        review_id = reviews[0].id
        compare = profile.compare_review(session, owner(tenant), review_id)
        assert {compare.left.customer.id, compare.right.customer.id} == {wang, li}
    with database.unit_of_work() as session:
        merges.reject_review(session, owner(tenant), review_id)
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
        assert customer_of_contact(session, tenant.id, "wm-wang") != customer_of_order(
            session, tenant.id, "jd", "J1", "JD-L1"
        )
        assert session.get(IdentityReview, (tenant.id, review_id)).status == ReviewStatus.REJECTED.value
        assert profile.list_reviews(session, tenant.id)[1] == 0  # a rejected pair is not asked again
    # Not even when the matcher comes back with a high score.
    proposer[:] = [seam.ProposedLink(wang_anchor, li_anchor, 0.99, rule="probabilistic_v2")]
    with database.unit_of_work() as session:
        service.rebuild(session, tenant.id, settings=settings)
    with database.unit_of_work() as session:
        assert customer_of_contact(session, tenant.id, "wm-wang") == wang
        assert customer_of_order(session, tenant.id, "jd", "J1", "JD-L1") == li
        assert profile.list_reviews(session, tenant.id)[1] == 0


def test_an_accepted_pair_is_merged_with_its_score(
    database: Database,
    settings: Settings,
    tenant: TenantFixture,
    two_customers: tuple[str, str],
    proposer: list[seam.ProposedLink],
) -> None:
    wang_anchor, li_anchor = anchors(database, tenant)
    proposer.append(seam.ProposedLink(wang_anchor, li_anchor, 0.85, rule="probabilistic_v2"))
    # Incremental resolution asks the matcher too: a new order of Wang's brings the pair up.
    store(
        database,
        settings,
        tenant.id,
        [order("YZ-W3", buyer_id="yz-wang", phone=PHONE_WANG, name="王芳", days=20)],
    )
    resolve_all(database)
    with database.unit_of_work() as session:
        (review,) = profile.list_reviews(session, tenant.id)[0]
        assert review.rule == "probabilistic_v2" and review.score == 0.85
        review_id = review.id
    with database.unit_of_work() as session:
        merges.accept_review(session, owner(tenant), review_id)
    with database.unit_of_work() as session:
        assert customer_of_contact(session, tenant.id, "wm-wang") == customer_of_order(
            session, tenant.id, "jd", "J1", "JD-L1"
        )
        merge = session.scalars(select(CustomerMerge).where(CustomerMerge.tenant_id == tenant.id)).one()
        assert (
            merge.rule == "review_accepted"
            and merge.score == 0.85
            and merge.actor_name == tenant.usernames["owner"]
        )
        with pytest.raises(Conflict):
            merges.accept_review(session, owner(tenant), review_id)


def test_another_tenants_customer_is_not_found(
    database: Database, settings: Settings, tenant: TenantFixture, two_customers: tuple[str, str]
) -> None:
    other = make_tenant(database, settings)
    wang, li = two_customers
    with database.unit_of_work() as session:
        with pytest.raises(NotFound):
            profile.get_profile(session, owner(other), wang, settings=settings)
        with pytest.raises(NotFound):
            merges.merge_customers(session, owner(other), wang, li)
