"""Rule tags follow events: a paid order, a refund, a contact gone, a chat message; manual tags
follow customers through a merge and come back on unmerge; a requested batch runs off-thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from haina.archive.models import ArchiveMessage
from haina.archive.service import EVENT_MESSAGES_STORED, Indexer
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.core.events import emit
from haina.core.events.models import OutboxEvent
from haina.core.settings import Settings
from haina.customers.identity import merge as merges
from haina.customers.identity.models import OrderOwner
from haina.customers.identity.service import customer_of_contact
from haina.customers.models import record_id
from haina.platforms.canonical import ContactRemoved, Refund
from haina.tags import changes, evaluation
from haina.tags.models import CustomerTag, EvaluationStatus, TagChange, TagSource
from tests.customers.identity.builders import contact, order, store
from tests.factories import TenantFixture
from tests.tags import builders as b

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
FIRST_ORDER = {"field": "order_count", "op": ">=", "value": 1, "days": 30}


def owner_of(session: object, tenant_id: str, external_id: str, platform: str = "youzan") -> str | None:
    return session.get(
        OrderOwner, (tenant_id, record_id("order", tenant_id, platform, "S1", external_id))
    ).customer_id  # type: ignore[attr-defined]


def paid_order(external_id: str, phone: str, days_ago: int = 1, paid_fen: int = 9_900):  # type: ignore[no-untyped-def]
    placed = order(external_id, phone=phone, buyer_id=f"buyer-{phone}", paid_fen=paid_fen)
    at = NOW - timedelta(days=days_ago)
    from dataclasses import replace

    return replace(placed, created_at=at, modified_at=at, paid_at=at)


def test_a_paid_order_tags_its_customer_once_events_drain(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, tenant.id, "近30天下单", FIRST_ORDER)
    store(database, settings, tenant.id, [paid_order("Y1", "13800001111")])
    b.drain(database)
    with database.unit_of_work() as session:
        customer_id = owner_of(session, tenant.id, "Y1")
        assert customer_id is not None
        assert b.carriers(session, tenant.id, tag) == {customer_id}
        (history,) = session.scalars(select(TagChange).where(TagChange.tag_id == tag)).all()
        assert (history.customer_id, history.action, history.source) == (customer_id, "added", TagSource.RULE)
        added = [
            event.payload
            for event in session.scalars(select(OutboxEvent).where(OutboxEvent.type == changes.TAG_ADDED))
        ]
        assert [(p["customer_id"], p["tag_id"]) for p in added] == [(customer_id, tag)]


def test_a_refund_and_a_deleted_contact_re_evaluate_their_customer(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        refunded = b.rule_tag(session, tenant.id, "退过款", {"field": "refund_count", "op": ">=", "value": 1})
        followed = b.rule_tag(
            session, tenant.id, "导购好友", {"field": "followed_by", "op": "=", "value": "guide01"}
        )
    store(
        database,
        settings,
        tenant.id,
        [paid_order("Y2", "13800002222"), contact("wm-li", name="李", mobiles=("13800002222",))],
    )
    b.drain(database)
    with database.unit_of_work() as session:
        customer_id = owner_of(session, tenant.id, "Y2")
        friend = customer_of_contact(session, tenant.id, "wm-li")
        assert customer_id is not None and friend is not None
        assert b.carriers(session, tenant.id, refunded) == set()
        assert b.carriers(session, tenant.id, followed) == {friend}
    refund = Refund(
        platform="youzan",
        shop_id="S1",
        external_id="R1",
        order_external_id="Y2",
        amount_fen=9_900,
        status="requested",
        reason="不想要了",
        created_at=NOW,
        modified_at=NOW,
    )
    store(database, settings, tenant.id, [refund])
    b.drain(database)
    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, refunded) == {customer_id}
    gone = ContactRemoved(
        corp_id="corp1", external_userid="wm-li", staff_userid="guide01", by_customer=True, at=NOW
    )
    store(database, settings, tenant.id, [gone])
    b.drain(database)
    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, followed) == set()


def test_a_chat_message_with_the_word_tags_the_speaker(database: Database, tenant: TenantFixture) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        asked = b.rule_tag(
            session,
            tenant.id,
            "问过退货",
            {"field": "chat_keyword", "op": "contains", "value": "退货", "days": 7},
        )
        speaker, quiet, old = (b.customer(session, tenant.id) for _ in range(3))
        indexer = Indexer(session, tenant.id, database.settings)
        for seq, (customer_id, body, at) in enumerate(
            [
                (speaker, "你好，这个怎么退货呀", NOW - timedelta(hours=2)),
                (quiet, "谢谢，收到了", NOW - timedelta(hours=1)),
                (old, "我要退货", NOW - timedelta(days=8)),
            ]
        ):
            message = ArchiveMessage(
                tenant_id=tenant.id,
                corp_id="corp1",
                seq=seq + 1,
                msgid=f"m{seq}",
                customer_id=customer_id,
                sent_at=at,
            )
            session.add(message)
            session.flush()
            indexer.messages.add_tokens(indexer.token_rows(message.id, at, body))
        emit(session, tenant.id, EVENT_MESSAGES_STORED, {"customer_ids": [speaker, quiet, old]})
    b.drain(database)
    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, asked) == {speaker}


def test_manual_tags_follow_a_merge_and_come_back_on_unmerge(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    clock.freeze(NOW)
    actor = Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")
    with database.unit_of_work() as session:
        first_order = b.rule_tag(session, tenant.id, "近30天下单", FIRST_ORDER)
        vip = b.manual_tag(session, tenant.id, "VIP")
        wholesale = b.manual_tag(session, tenant.id, "批发")
        shared = b.manual_tag(session, tenant.id, "老客")
    store(database, settings, tenant.id, [paid_order("Y3", "13800003333"), paid_order("Y4", "13900004444")])
    b.drain(database)
    with database.unit_of_work() as session:
        wang, li = owner_of(session, tenant.id, "Y3"), owner_of(session, tenant.id, "Y4")
        assert wang and li and wang != li
        changes.apply(
            session,
            tenant.id,
            add=[
                changes.Change(li, vip, "VIP", TagSource.MANUAL, "ops"),
                changes.Change(li, shared, "老客", TagSource.WECOM, "guide01"),
                changes.Change(wang, wholesale, "批发", TagSource.MANUAL, "ops"),
                changes.Change(wang, shared, "老客", TagSource.MANUAL, "ops"),
            ],
        )

    def carried(session: object) -> set[tuple[str, str, str | None]]:
        return {
            (row.customer_id, row.tag_id, row.origin_customer_id)
            for row in session.scalars(select(CustomerTag).where(CustomerTag.tenant_id == tenant.id))  # type: ignore[attr-defined]
        }

    with database.unit_of_work() as session:
        before = carried(session)
        merge = merges.merge_customers(session, actor, wang, li)
        merge_id, survivor, absorbed = merge.id, merge.survivor_id, merge.absorbed_id
    b.drain(database)
    own = {li: vip, wang: wholesale}
    with database.unit_of_work() as session:
        # The absorbed customer's own tag moved, remembering whose it was; the tag both had stays
        # on each (so an unmerge loses nothing); the absorbed customer's rule tag went away.
        assert carried(session) == {
            (survivor, own[survivor], None),
            (survivor, own[absorbed], absorbed),
            (survivor, shared, None),
            (absorbed, shared, None),
            (survivor, first_order, None),
        }
        history = session.scalars(select(TagChange).where(TagChange.tag_id == own[absorbed])).all()
        assert [(row.customer_id, row.action) for row in history][-2:] in (
            [(survivor, "added"), (absorbed, "removed")],
            [(absorbed, "removed"), (survivor, "added")],
        )
    with database.unit_of_work() as session:
        merges.unmerge(session, actor, merge_id)
    b.drain(database)
    with database.unit_of_work() as session:
        assert carried(session) == before


def test_a_requested_batch_runs_once_the_request_commits(database: Database, tenant: TenantFixture) -> None:
    clock.freeze(NOW)
    with database.unit_of_work() as session:
        tag = b.rule_tag(session, tenant.id, "无订单", {"field": "order_count", "op": "=", "value": 0})
        quiet = b.customer(session, tenant.id)
        requested = evaluation.request_batch(session, tenant.id, tag, requested_by="ops")
    b.drain(database)
    assert evaluation.wait_for_background(60)
    with database.unit_of_work() as session:
        done = evaluation.get_evaluation(session, tenant.id, requested.id)
        assert (done.status, done.added, done.total) == (EvaluationStatus.DONE, 1, 1)
        assert b.carriers(session, tenant.id, tag) == {quiet}


def test_a_stage_change_re_evaluates_rules_on_the_lifecycle_stage(
    database: Database, settings: Settings, tenant: TenantFixture
) -> None:
    from haina.tags import rfm

    clock.freeze(NOW)
    with database.unit_of_work() as session:
        at_risk = b.rule_tag(
            session, tenant.id, "流失预警", {"field": "lifecycle_stage", "op": "in", "value": ["at_risk"]}
        )
        buyer = b.customer(session, tenant.id, "周敏")
        b.order(session, tenant.id, buyer, paid_at=NOW - timedelta(days=40))
        rfm.compute(session, tenant.id, now=NOW)  # the first compute: active, no moves recorded
    b.drain(database)
    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, at_risk) == set()
    later = NOW + timedelta(days=100)  # 140 days since the order: at risk
    clock.freeze(later)
    with database.unit_of_work() as session:
        rfm.compute(session, tenant.id, now=later)
    b.drain(database)
    with database.unit_of_work() as session:
        assert b.carriers(session, tenant.id, at_risk) == {buyer}
        (history,) = session.scalars(select(TagChange).where(TagChange.tag_id == at_risk)).all()
        assert history.source == TagSource.RULE
