"""The WeCom tag mirror against the sandbox's WeCom emulator over loopback HTTP, both ways: a tag
added or removed in Haina is marked in the emulator's world (follow_user.tag_ids); a member's tag
edit in WeCom, and a corp tag made, renamed or deleted in WeCom, arrive as encrypted callbacks
through the real webhook path and are reflected in Haina; WeCom errors are retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import haina.connections.tasks  # noqa: F401 - the spine's push handlers
import haina.customers.tasks  # noqa: F401 - identity resolution (customer.resolved)
from haina.connections import service as connections
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.database import Database
from haina.core.events import outbox, run_due
from haina.core.events.models import DeliveryStatus, EventDelivery, InboxItem, OutboxEvent
from haina.core.settings import Settings
from haina.customers import service as customers
from haina.customers.identity.models import OrderOwner
from haina.sandbox.emulators.wecom import (
    set_api_changes_push,
    set_synchronous_push,
    simulate_edit_contact,
    wait_for_pushes,
)
from haina.sandbox.faults import FaultPlan
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.sandbox.world import CorpTag, CorpTagGroup, ExternalContact
from haina.tags import changes, evaluation, wecom_sync
from haina.tags.changes import Change
from haina.tags.models import CustomerTag, Tag, TagChange, TagGroup, TagKind, TagMirror, TagSource
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 40))) as live:
        yield live


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    # The first crawl: contacts (with their corp tags) stored, resolved into customers, and the
    # corp tags they carry adopted as Haina tags.
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def customer_of(database: Database, corp: Corp, external_userid: str) -> str:
    with database.session_factory() as session:
        follows = customers.wecom_follows_of(
            session,
            corp.tenant_id,
            contact_ids=[
                customers.models.record_id("contact", corp.tenant_id, corp.world.corp_id, external_userid)
            ],
        )
    customer_id = next(follow.customer_id for follow in follows if follow.customer_id)
    assert customer_id
    return customer_id


def haina_tag(database: Database, tenant_id: str, name: str) -> Tag | None:
    with database.session_factory() as session:
        tag = session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, Tag.name == name)).one_or_none()
        if tag is not None:
            session.expunge(tag)
        return tag


def held(database: Database, tenant_id: str, customer_id: str) -> dict[str, str]:
    """The customer's tags: name → source."""
    with database.session_factory() as session:
        rows = session.execute(
            select(Tag.name, CustomerTag.source)
            .join(Tag, (Tag.tenant_id == CustomerTag.tenant_id) & (Tag.id == CustomerTag.tag_id))
            .where(CustomerTag.tenant_id == tenant_id, CustomerTag.customer_id == customer_id)
        )
        return {name: source for name, source in rows}


def history(database: Database, tenant_id: str, customer_id: str, tag_name: str) -> list[tuple[str, str]]:
    with database.session_factory() as session:
        rows = session.execute(
            select(TagChange.action, TagChange.source)
            .where(
                TagChange.tenant_id == tenant_id,
                TagChange.customer_id == customer_id,
                TagChange.tag_name == tag_name,
            )
            .order_by(TagChange.at, TagChange.id)
        )
        return [(action, source) for action, source in rows]


def new_tag(
    database: Database, tenant_id: str, group_name: str, name: str, kind: str = TagKind.MANUAL
) -> str:
    with database.unit_of_work() as session:
        group = session.scalars(
            select(TagGroup).where(TagGroup.tenant_id == tenant_id, TagGroup.name == group_name)
        ).one_or_none()
        if group is None:
            group = TagGroup(tenant_id=tenant_id, name=group_name)
            session.add(group)
            session.flush()
        tag = Tag(tenant_id=tenant_id, group_id=group.id, name=name, kind=kind)
        session.add(tag)
        session.flush()
        return tag.id


def change(
    database: Database,
    tenant_id: str,
    customer_id: str,
    tag_id: str,
    *,
    add: bool,
    source: str = TagSource.MANUAL,
) -> None:
    clock.advance(timedelta(seconds=1))  # the history orders by time
    with database.unit_of_work() as session:
        name = session.scalars(select(Tag.name).where(Tag.tenant_id == tenant_id, Tag.id == tag_id)).one()
        item = Change(customer_id, tag_id, name, source, "运营小王")
        changes.apply(session, tenant_id, add=[item] if add else [], remove=[] if add else [item])


def mirror_of(database: Database, tenant_id: str, tag_id: str) -> TagMirror | None:
    with database.session_factory() as session:
        mirror = session.scalars(
            select(TagMirror).where(TagMirror.tenant_id == tenant_id, TagMirror.tag_id == tag_id)
        ).one_or_none()
        if mirror is not None:
            session.expunge(mirror)
        return mirror


def two_member_contact(corp: Corp) -> ExternalContact:
    return next(contact for contact in corp.world.contacts if len(contact.follow_users) == 2)


def one_member_contact(corp: Corp, without: str = "") -> ExternalContact:
    return next(
        contact
        for contact in corp.world.contacts
        if len(contact.follow_users) == 1 and without not in contact.follow_users[0].tag_ids
    )


# -- the first crawl ---------------------------------------------------------------------------


def test_the_first_crawl_imports_corp_tags_and_who_carries_them(database: Database, corp: Corp) -> None:
    world_tags = {(g.group_name, t.name) for g in corp.world.tag_groups for t in g.tags if not t.deleted}
    with database.session_factory() as session:
        rows = session.execute(
            select(TagGroup.name, Tag.name)
            .join(TagGroup, (TagGroup.tenant_id == Tag.tenant_id) & (TagGroup.id == Tag.group_id))
            .where(Tag.tenant_id == corp.tenant_id, Tag.is_deleted.is_(False))
        )
        haina = {(group, name) for group, name in rows}
        mirrors = session.scalar(
            select(func.count()).select_from(TagMirror).where(TagMirror.tenant_id == corp.tenant_id)
        )
    assert haina == world_tags
    assert mirrors == len(world_tags)
    tagged = next(c for c in corp.world.contacts if c.follow_users and c.follow_users[0].tag_ids)
    names = {
        corp_tag.name
        for g in corp.world.tag_groups
        for corp_tag in g.tags
        if corp_tag.tag_id in tagged.follow_users[0].tag_ids
    }
    carried = held(database, corp.tenant_id, customer_of(database, corp, tagged.external_userid))
    assert names <= set(carried) and {carried[name] for name in names} == {TagSource.WECOM}


# -- Haina → WeCom -----------------------------------------------------------------------------


def test_a_tag_added_in_haina_is_marked_on_every_follow_and_removed_again(
    database: Database, corp: Corp
) -> None:
    contact = two_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    tag_id = new_tag(database, corp.tenant_id, "会员权益", "黑金会员")

    change(database, corp.tenant_id, customer_id, tag_id, add=True)
    drain(database)

    mirror = mirror_of(database, corp.tenant_id, tag_id)
    assert mirror is not None and mirror.corp_id == corp.world.corp_id
    made = corp.corp_tag("黑金会员")
    assert made.tag_id == mirror.wecom_tag_id
    group = next(g for g in corp.world.tag_groups if any(t is made for t in g.tags))
    assert group.group_name == "会员权益" and mirror.wecom_group_id == group.group_id
    assert corp.marked(contact.external_userid, made.tag_id) == [True, True]
    assert held(database, corp.tenant_id, customer_id)["黑金会员"] == TagSource.MANUAL

    # A second tag of the same group goes into the same corp group.
    second = new_tag(database, corp.tenant_id, "会员权益", "生日礼")
    change(database, corp.tenant_id, customer_id, second, add=True)
    change(database, corp.tenant_id, customer_id, tag_id, add=False)
    drain(database)
    assert corp.marked(contact.external_userid, made.tag_id) == [False, False]
    assert corp.marked(contact.external_userid, corp.corp_tag("生日礼").tag_id) == [True, True]
    assert any(t.name == "生日礼" for t in group.tags)


def test_a_rule_batch_marks_its_carriers_through_events_of_many_customers(
    database: Database, corp: Corp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule's batch emits an event per part of its changes (customer_ids); each part's
    customers are marked on their relations like a person's change."""
    monkeypatch.setattr(changes, "BULK_PART", 2)
    tag_id = new_tag(database, corp.tenant_id, "规则", "全部客户", kind=TagKind.RULE)
    with database.unit_of_work() as session:
        tag = session.get_one(Tag, (corp.tenant_id, tag_id))
        tag.rule = {"field": "order_count", "op": ">=", "value": 0}
        requested = evaluation.request_batch(session, corp.tenant_id, tag_id).id
    result = evaluation.run_batch(database, corp.tenant_id, requested)
    assert result is not None and result.added >= 3
    with database.session_factory() as session:
        parts = [
            event.payload
            for event in session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.tenant_id == corp.tenant_id, OutboxEvent.type == "tag.added"
                )
            )
            if event.payload.get("tag_id") == tag_id
        ]
    assert [len(part["customer_ids"]) for part in parts] == [2] * (result.added // 2) + [1] * (
        result.added % 2
    )
    drain(database)
    made = corp.corp_tag("全部客户")
    for contact in (two_member_contact(corp), one_member_contact(corp)):
        assert set(corp.marked(contact.external_userid, made.tag_id)) == {True}


def test_added_then_removed_before_delivery_ends_unmarked(database: Database, corp: Corp) -> None:
    """Deliveries push the customer's state, not the event's direction: order does not matter."""
    contact = one_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    tag_id = new_tag(database, corp.tenant_id, "活动", "双十一")
    change(database, corp.tenant_id, customer_id, tag_id, add=True)
    change(database, corp.tenant_id, customer_id, tag_id, add=False)
    drain(database)
    # By the time the push ran the customer no longer held it: nothing to make or mark.
    assert mirror_of(database, corp.tenant_id, tag_id) is None
    assert not any(tag.name == "双十一" for g in corp.world.tag_groups for tag in g.tags)
    assert held(database, corp.tenant_id, customer_id).get("双十一") is None


def test_marks_we_make_come_back_as_callbacks_and_change_nothing(database: Database, corp: Corp) -> None:
    state = corp.sandbox.state
    set_api_changes_push(state, True)  # the emulator echoes API changes as callbacks
    # …from its push thread: a synchronous push would wait for Haina inside our own mark_tag call.
    set_synchronous_push(state, False)

    def settle() -> None:
        for _ in range(5):
            drain(database)
            assert wait_for_pushes(state)
        drain(database)

    contact = two_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    tag_id = new_tag(database, corp.tenant_id, "会员权益", "回声测试")
    change(database, corp.tenant_id, customer_id, tag_id, add=True)
    settle()
    assert corp.marked(contact.external_userid, corp.corp_tag("回声测试").tag_id) == [True, True]
    assert history(database, corp.tenant_id, customer_id, "回声测试") == [("added", TagSource.MANUAL)]
    with database.session_factory() as session:  # the echoes did arrive, and were read
        echoes = session.scalar(
            select(func.count())
            .select_from(InboxItem)
            .where(
                InboxItem.tenant_id == corp.tenant_id, InboxItem.dedupe_key.contains("edit_external_contact")
            )
        )
    assert echoes and echoes >= 2
    change(database, corp.tenant_id, customer_id, tag_id, add=False)
    settle()
    assert corp.marked(contact.external_userid, corp.corp_tag("回声测试").tag_id) == [False, False]
    assert history(database, corp.tenant_id, customer_id, "回声测试") == [
        ("added", TagSource.MANUAL),
        ("removed", TagSource.MANUAL),
    ]


def test_renaming_and_deleting_a_tag_in_haina_edits_the_corp_tag(database: Database, corp: Corp) -> None:
    vip = haina_tag(database, corp.tenant_id, "VIP")
    assert vip is not None
    wecom_id = corp.corp_tag("VIP").tag_id
    with database.unit_of_work() as session:
        session.get_one(Tag, (corp.tenant_id, vip.id)).name = "超级VIP"
        outbox.emit(session, corp.tenant_id, wecom_sync.TAG_DEFINED, {"tag_id": vip.id})
    drain(database)
    assert corp.corp_tag("超级VIP").tag_id == wecom_id

    with database.unit_of_work() as session:
        session.get_one(Tag, (corp.tenant_id, vip.id)).is_deleted = True
        outbox.emit(session, corp.tenant_id, wecom_sync.TAG_DELETED, {"tag_id": vip.id})
    drain(database)
    assert all(tag.deleted for g in corp.world.tag_groups for tag in g.tags if tag.tag_id == wecom_id)
    assert mirror_of(database, corp.tenant_id, vip.id) is None

    # A new tag is made in WeCom when it is defined, before anyone carries it.
    fresh = new_tag(database, corp.tenant_id, "客户等级", "钻石")
    with database.unit_of_work() as session:
        outbox.emit(session, corp.tenant_id, wecom_sync.TAG_DEFINED, {"tag_id": fresh})
    drain(database)
    assert corp.corp_tag("钻石").tag_id == mirror_of(database, corp.tenant_id, fresh).wecom_tag_id  # type: ignore[union-attr]


# -- WeCom → Haina -----------------------------------------------------------------------------


def test_a_members_tag_edit_in_wecom_is_reflected(database: Database, corp: Corp) -> None:
    oily = corp.corp_tag("油性")
    contact = one_member_contact(corp, without=oily.tag_id)
    member = contact.follow_users[0].userid
    customer_id = customer_of(database, corp, contact.external_userid)
    assert "油性" not in held(database, corp.tenant_id, customer_id)

    simulate_edit_contact(corp.sandbox.state, contact.external_userid, member, add_tags=[oily.tag_id])
    drain(database)
    assert held(database, corp.tenant_id, customer_id)["油性"] == TagSource.WECOM
    with database.session_factory() as session:
        reason = session.scalar(
            select(TagChange.reason).where(TagChange.customer_id == customer_id, TagChange.tag_name == "油性")
        )
    assert reason == member

    simulate_edit_contact(corp.sandbox.state, contact.external_userid, member, remove_tags=[oily.tag_id])
    drain(database)
    assert "油性" not in held(database, corp.tenant_id, customer_id)
    assert history(database, corp.tenant_id, customer_id, "油性") == [
        ("added", TagSource.WECOM),
        ("removed", TagSource.WECOM),
    ]
    assert corp.marked(contact.external_userid, oily.tag_id) == [False]


def test_a_tag_one_member_adds_is_marked_for_the_other_and_a_rule_tag_is_never_removed(
    database: Database, corp: Corp
) -> None:
    contact = two_member_contact(corp)
    first, second = (follow.userid for follow in contact.follow_users)
    customer_id = customer_of(database, corp, contact.external_userid)
    carried = {tag_id for follow in contact.follow_users for tag_id in follow.tag_ids}
    live = next(tag for g in corp.world.tag_groups for tag in g.tags if tag.tag_id not in carried)
    simulate_edit_contact(corp.sandbox.state, contact.external_userid, first, add_tags=[live.tag_id])
    drain(database)
    assert held(database, corp.tenant_id, customer_id)[live.name] == TagSource.WECOM
    assert corp.marked(contact.external_userid, live.tag_id) == [True, True]  # pushed to the other member

    rule_tag = new_tag(database, corp.tenant_id, "消费行为", "高复购", kind=TagKind.RULE)
    change(database, corp.tenant_id, customer_id, rule_tag, add=True, source=TagSource.RULE)
    drain(database)
    made = corp.corp_tag("高复购")
    assert corp.marked(contact.external_userid, made.tag_id) == [True, True]
    for member in (first, second):
        simulate_edit_contact(corp.sandbox.state, contact.external_userid, member, remove_tags=[made.tag_id])
    drain(database)
    assert held(database, corp.tenant_id, customer_id)["高复购"] == TagSource.RULE


def test_corp_tags_made_renamed_and_deleted_in_wecom_are_reflected(database: Database, corp: Corp) -> None:
    state = corp.sandbox.state
    group = next(g for g in corp.world.tag_groups if g.group_name == "兴趣品类")
    with state.lock:
        group.tags.append(CorpTag("etMadeInWeCom0001", "户外", 0, clock.now()))
    state.notify("tag_groups", group)  # an admin adds a tag in the WeCom admin console
    drain(database)
    outdoor = haina_tag(database, corp.tenant_id, "户外")
    assert outdoor is not None and outdoor.kind == TagKind.MANUAL and not outdoor.is_deleted
    assert mirror_of(database, corp.tenant_id, outdoor.id).wecom_tag_id == "etMadeInWeCom0001"  # type: ignore[union-attr]

    brand_new = CorpTagGroup(
        "etGroupMadeInWeCom",
        "门店会员",
        0,
        clock.now(),
        [CorpTag("etMadeInWeCom0002", "金卡", 0, clock.now())],
    )
    with state.lock:
        corp.world.tag_groups.append(brand_new)
    state.notify("tag_groups", brand_new)
    drain(database)
    gold = haina_tag(database, corp.tenant_id, "金卡")
    assert gold is not None
    with database.session_factory() as session:
        assert session.get_one(TagGroup, (corp.tenant_id, gold.group_id)).name == "门店会员"

    # Carried by a customer, then renamed and deleted in WeCom.
    contact = one_member_contact(corp)
    simulate_edit_contact(
        state, contact.external_userid, contact.follow_users[0].userid, add_tags=["etMadeInWeCom0001"]
    )
    drain(database)
    customer_id = customer_of(database, corp, contact.external_userid)
    assert "户外" in held(database, corp.tenant_id, customer_id)
    with state.lock:
        group.tags[-1].name = "户外运动"
    state.notify("tag_groups", group)
    drain(database)
    renamed = haina_tag(database, corp.tenant_id, "户外运动")
    assert renamed is not None and renamed.id == outdoor.id
    assert "户外运动" in held(database, corp.tenant_id, customer_id)

    with state.lock:
        group.tags[-1].deleted = True
    state.notify("tag_groups", group)
    drain(database)
    deleted = haina_tag(database, corp.tenant_id, "户外运动")
    assert deleted is not None and deleted.is_deleted
    assert "户外运动" not in held(database, corp.tenant_id, customer_id)
    assert mirror_of(database, corp.tenant_id, outdoor.id) is None


# -- errors ------------------------------------------------------------------------------------


def test_wecom_errors_are_retried_until_the_mark_lands(database: Database, corp: Corp) -> None:
    state = corp.sandbox.state
    contact = one_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    tag_id = new_tag(database, corp.tenant_id, "活动", "年货节")
    state.faults.set("wecom", FaultPlan(error_rate=1.0))  # every call answers HTTP 500
    try:
        change(database, corp.tenant_id, customer_id, tag_id, add=True)
        run_due(database)
        with database.session_factory() as session:
            failed = session.scalars(
                select(EventDelivery).where(
                    EventDelivery.handler == "tags.wecom_sync.mark_added",
                    EventDelivery.status != DeliveryStatus.DONE.value,
                )
            ).one()
            assert failed.status == DeliveryStatus.PENDING.value and failed.attempts == 1
            assert failed.last_error and "500" in failed.last_error
    finally:
        state.faults.clear()
    drain(database)
    assert corp.marked(contact.external_userid, corp.corp_tag("年货节").tag_id) == [True]


def test_a_corp_tag_deleted_behind_our_back_is_mirrored_again(database: Database, corp: Corp) -> None:
    contact = one_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    tag_id = new_tag(database, corp.tenant_id, "活动", "清仓")
    change(database, corp.tenant_id, customer_id, tag_id, add=True)
    drain(database)
    first = corp.corp_tag("清仓")
    with corp.sandbox.state.lock:
        first.deleted = True  # deleted in WeCom, its callback lost
    other = one_member_contact(corp, without=first.tag_id)
    other_customer = customer_of(database, corp, other.external_userid)
    change(database, corp.tenant_id, other_customer, tag_id, add=True)
    drain(database)
    again = corp.corp_tag("清仓")
    assert again.tag_id != first.tag_id
    assert mirror_of(database, corp.tenant_id, tag_id).wecom_tag_id == again.tag_id  # type: ignore[union-attr]
    assert corp.marked(other.external_userid, again.tag_id) == [True]


# -- end to end: an order makes a rule tag, which is marked in WeCom ---------------------------


def test_an_order_pushed_into_the_sandbox_tags_the_customer_and_marks_it_in_wecom(
    database: Database, settings: Settings, corp: Corp
) -> None:
    import dataclasses

    import haina.tags.tasks  # noqa: F401 - rule tags follow events (realtime.py)
    from tests.platforms.live_sandbox import world_span

    world = corp.world
    remarks = {m: c for c in world.contacts for f in c.follow_users for m in f.remark_mobiles}
    order = next(o for o in world.orders if o.platform == "douyin" and o.receiver_phone in remarks)
    contact = remarks[order.receiver_phone]
    shop = world.shop(order.shop_id)
    with database.unit_of_work() as session:
        douyin = connections.create_connection(
            session,
            corp.tenant_id,
            connections.NewConnection(
                platform="douyin",
                name="抖店旗舰店",
                app_key=shop.app_key,
                app_secret=shop.app_secret,
                shop_id=shop.shop_id,
                base_url=corp.sandbox.base_url("douyin"),
            ),
            settings,
        )
        douyin_id = douyin.id
    since, until = world_span(list(world.orders_of(shop.shop_id)))
    assert (
        connections.run_sync(database, settings, douyin_id, "orders", since=since, until=until).status
        == "idle"
    )
    drain(database)
    customer_id = customer_of(database, corp, contact.external_userid)
    with database.session_factory() as session:  # OneID joined the buyer to the WeCom contact
        owned = session.scalar(
            select(func.count())
            .select_from(OrderOwner)
            .where(OrderOwner.tenant_id == corp.tenant_id, OrderOwner.customer_id == customer_id)
        )
    assert owned == 1
    rule_tag = new_tag(database, corp.tenant_id, "消费行为", "抖音复购", kind=TagKind.RULE)
    with database.unit_of_work() as session:
        tag = session.get_one(Tag, (corp.tenant_id, rule_tag))
        tag.rule = {"all": [{"field": "order_count", "op": ">=", "value": 2}]}
        tag.rule_version = 1
    assert "抖音复购" not in held(database, corp.tenant_id, customer_id)

    # The buyer orders again.
    moment = until + timedelta(minutes=1)
    again = dataclasses.replace(
        order,
        order_id=order.order_id[:-4] + "9999",
        created_at=moment,
        modified_at=moment,
        paid_at=moment,
        shipped_at=None,
        finished_at=None,
    )
    with corp.sandbox.state.lock:
        world.orders.append(again)
    clock.freeze(moment + timedelta(minutes=5))
    assert connections.run_sync(database, settings, douyin_id, "orders").status == "idle"
    drain(database)
    assert held(database, corp.tenant_id, customer_id)["抖音复购"] == TagSource.RULE
    made = corp.corp_tag("抖音复购")
    assert all(corp.marked(contact.external_userid, made.tag_id))


def test_a_relation_ended_in_wecom_is_skipped_and_the_rest_still_marked(
    database: Database, corp: Corp
) -> None:
    contact = two_member_contact(corp)
    customer_id = customer_of(database, corp, contact.external_userid)
    gone, kept = contact.follow_users
    with corp.sandbox.state.lock:
        contact.follow_users = [kept]  # the first member deleted the customer; its callback was lost
    tag_id = new_tag(database, corp.tenant_id, "活动", "会员日")
    change(database, corp.tenant_id, customer_id, tag_id, add=True)
    drain(database)  # 84061 for the ended relation does not fail the delivery
    assert corp.marked(contact.external_userid, corp.corp_tag("会员日").tag_id) == [True]
    with database.session_factory() as session:
        dead = session.scalar(
            select(func.count())
            .select_from(EventDelivery)
            .where(
                EventDelivery.tenant_id == corp.tenant_id, EventDelivery.status == DeliveryStatus.DEAD.value
            )
        )
    assert dead == 0 and gone.userid != kept.userid
