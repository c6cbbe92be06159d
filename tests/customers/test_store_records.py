"""Storing canonical records on SQLite and PostgreSQL: idempotence, latest version wins, the right
events once, PII at rest, tenant isolation, and a bounded number of statements per batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text

from haina.core.crypto import keyed_hash
from haina.core.database import Database
from haina.core.errors import NotFound
from haina.core.events.models import OutboxEvent
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.customers import service
from haina.customers.service import StoreResult
from haina.platforms.canonical import (
    Address,
    BuyerIdentity,
    CanonicalRecord,
    Contact,
    ContactRemoved,
    Coupon,
    FollowRelation,
    Group,
    GroupMember,
    Order,
    OrderLine,
    Refund,
)

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PHONE = "13812345678"
REMARK_PHONE = "13987654321"


# --- factories --------------------------------------------------------------------------------


def make_order(external_id: str = "E1", *, status: str = "paid", minutes: int = 0, **changes: Any) -> Order:
    paid = status != "pending_payment"
    order = Order(
        platform="youzan",
        shop_id="S1",
        external_id=external_id,
        status=status,
        platform_status=status.upper(),
        total_fen=12_900,
        discount_fen=1_000,
        freight_fen=900,
        paid_fen=11_900 if paid else 0,
        created_at=T0,
        modified_at=T0 + timedelta(minutes=minutes),
        buyer=[
            BuyerIdentity("youzan", "buyer_id", f"buyer-{external_id}", shop_id="S1"),
            BuyerIdentity("youzan", "phone", "138****5678", shop_id="S1", is_masked=True),
        ],
        buyer_nick="小明",
        receiver_name="张三",
        receiver_phone=PHONE,
        receiver_address=Address("浙江省", "杭州市", "西湖区", "文三路 1 号"),
        paid_at=T0 + timedelta(minutes=1) if paid else None,
        lines=[
            OrderLine("L1", "SKU-1", "保温杯", 1, 8_000),
            OrderLine("L2", "SKU-2", "杯套", 2, 2_000),
        ],
    )
    return replace(order, **changes)


def make_contact(external_userid: str = "wmA", *, minutes: int = 0, **changes: Any) -> Contact:
    contact = Contact(
        corp_id="ww1",
        external_userid=external_userid,
        name="李四",
        gender=1,
        unionid="union-1",
        follows=[
            FollowRelation(
                "staff-1",
                remark="老客户",
                remark_mobiles=[REMARK_PHONE],
                tag_ids=["tag-vip"],
                add_channel_state="live-code-7",
                add_way=1,
                created_at=T0,
            )
        ],
        modified_at=T0 + timedelta(minutes=minutes),
    )
    return replace(contact, **changes)


@pytest.fixture
def tenant_id(database: Database) -> str:
    return _new_tenant(database)


def _new_tenant(database: Database) -> str:
    with database.unit_of_work() as session:
        return get_or_create_tenant(session, f"t-{uuid.uuid4().hex[:8]}", "测试商户").id


def store(
    database: Database, settings: Settings, tenant_id: str, records: Sequence[CanonicalRecord]
) -> StoreResult:
    with database.unit_of_work() as session:
        return service.store_records(session, tenant_id, records, settings=settings, source="test")


def events(database: Database, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    with database.unit_of_work() as session:
        rows = session.execute(
            select(OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.tenant_id == tenant_id)
            .order_by(OutboxEvent.id)
        )
        return [(row.type, row.payload) for row in rows]


def event_types(database: Database, tenant_id: str) -> list[str]:
    return [event_type for event_type, _ in events(database, tenant_id)]


def snapshot(database: Database, tenant_id: str, settings: Settings | None = None) -> dict[str, Any]:
    with database.unit_of_work() as session:
        return service.snapshot(session, tenant_id, settings=settings)


# --- tests ------------------------------------------------------------------------------------


def everything() -> list[CanonicalRecord]:
    return [
        make_order("E1"),
        make_order("E2", status="pending_payment"),
        Refund("youzan", "S1", "R1", "E1", 2_000, "requested", "不想要了", T0, T0 + timedelta(hours=1)),
        make_contact(),
        Group(
            "ww1", "chat-1", "VIP 群", "staff-1", T0, [GroupMember("wmA", 2, T0), GroupMember("staff-1", 1)]
        ),
        Coupon("youzan", "S1", "C1", "满199减30", "threshold", 19_900, 3_000, 0),
    ]


def test_insert_then_restore_is_idempotent(database: Database, settings: Settings, tenant_id: str) -> None:
    first = store(database, settings, tenant_id, everything())
    assert first["order"].inserted == 2
    assert first["refund"].inserted == 1
    assert first["contact"].inserted == 1
    assert first["group"].inserted == 1
    assert first["coupon"].inserted == 1
    assert first["buyer_identity"].inserted == 3  # two buyer ids, one masked phone shared
    assert sorted(event_types(database, tenant_id)) == sorted(
        [
            "order.created",
            "order.paid",
            "order.created",
            "refund.created",
            "contact.added",
            "group.created",
            "coupon.saved",
        ]
    )
    before = snapshot(database, tenant_id, settings)
    emitted = len(events(database, tenant_id))

    again = store(database, settings, tenant_id, everything())

    assert again.written == 0
    assert again.events == 0
    assert again["order"].unchanged == 2
    assert again["refund"].unchanged == 1
    assert again["contact"].unchanged == 1
    assert again["group"].unchanged == 1
    assert again["coupon"].unchanged == 1
    assert len(events(database, tenant_id)) == emitted
    assert snapshot(database, tenant_id, settings) == before
    order = before["orders"]["youzan/S1/E1"]
    assert order["receiver_phone"] == PHONE
    assert order["paid_fen"] == 11_900
    assert [line["sku_id"] for line in order["lines"]] == ["SKU-1", "SKU-2"]
    assert before["coupons"]["youzan/S1/C1"]["label"] == "满199减30"
    assert set(before["groups"]["ww1/chat-1"]["members"]) == {"wmA", "staff-1"}


def test_same_order_three_times_out_of_order(database: Database, settings: Settings, tenant_id: str) -> None:
    v1 = make_order(status="pending_payment", minutes=0, version=1)
    v2 = make_order(status="paid", minutes=5, version=2)
    v3 = make_order(status="shipped", minutes=9, version=3, shipped_at=T0 + timedelta(minutes=9))

    assert store(database, settings, tenant_id, [v3])["order"].inserted == 1
    assert store(database, settings, tenant_id, [v1])["order"].stale == 1
    assert store(database, settings, tenant_id, [v2])["order"].stale == 1
    assert store(database, settings, tenant_id, [v3])["order"].unchanged == 1

    with database.unit_of_work() as session:
        assert service.count_orders(session, tenant_id) == 1
        stored = service.find_order(session, tenant_id, "youzan", "S1", "E1")
        assert stored is not None
        assert (stored.status, stored.version) == ("shipped", 3)
    assert event_types(database, tenant_id) == ["order.created", "order.paid", "order.shipped"]


def test_same_order_three_times_in_one_batch(database: Database, settings: Settings, tenant_id: str) -> None:
    v1 = make_order(status="pending_payment", minutes=0)
    v2 = make_order(status="paid", minutes=5)
    v3 = make_order(status="completed", minutes=9, finished_at=T0 + timedelta(minutes=9))

    result = store(database, settings, tenant_id, [v2, v3, v1])

    assert (result["order"].inserted, result["order"].stale) == (1, 2)
    assert snapshot(database, tenant_id)["orders"]["youzan/S1/E1"]["status"] == "completed"
    # Paid and completed are each announced once; a completed order is evidence of shipping.
    assert event_types(database, tenant_id) == [
        "order.created",
        "order.paid",
        "order.shipped",
        "order.completed",
    ]


def test_status_transitions_emit_exactly_the_right_events_once(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    steps = [
        (make_order(status="pending_payment", minutes=0), ["order.created"]),
        (make_order(status="paid", minutes=1), ["order.paid"]),
        (make_order(status="shipped", minutes=2, shipped_at=T0 + timedelta(minutes=2)), ["order.shipped"]),
        (
            make_order(status="completed", minutes=3, shipped_at=T0 + timedelta(minutes=2)),
            ["order.completed"],
        ),
        (
            make_order(status="partially_refunded", minutes=4, shipped_at=T0 + timedelta(minutes=2)),
            ["order.partially_refunded"],
        ),
        (
            make_order(
                status="partially_refunded",
                minutes=5,
                shipped_at=T0 + timedelta(minutes=2),
                receiver_name="张三丰",
            ),
            ["order.updated"],
        ),
        (
            make_order(status="refunded", minutes=6, shipped_at=T0 + timedelta(minutes=2), paid_fen=0),
            ["order.refunded"],
        ),
    ]
    seen: list[str] = []
    for record, expected in steps:
        store(database, settings, tenant_id, [record])
        seen += expected
        assert event_types(database, tenant_id) == seen
        # Each delivery again, and an old one: nothing more.
        store(database, settings, tenant_id, [record, make_order(status="pending_payment", minutes=0)])
        assert event_types(database, tenant_id) == seen

    paid = [payload for event_type, payload in events(database, tenant_id) if event_type == "order.paid"]
    assert paid[0]["paid_fen"] == 11_900
    assert paid[0]["status"] == "paid"
    assert paid[0]["previous_status"] == "pending_payment"
    assert paid[0]["source"] == "test"


def test_closed_unpaid_order(database: Database, settings: Settings, tenant_id: str) -> None:
    store(database, settings, tenant_id, [make_order(status="pending_payment")])
    store(database, settings, tenant_id, [make_order(status="closed", minutes=30, paid_at=None)])
    assert event_types(database, tenant_id) == ["order.created", "order.closed"]


def test_refunds(database: Database, settings: Settings, tenant_id: str) -> None:
    requested = Refund("youzan", "S1", "R1", "E1", 2_000, "requested", "尺码不合适", T0, T0, "L1", version=1)
    agreed = replace(requested, status="agreed", modified_at=T0 + timedelta(hours=1), version=2)
    completed = replace(requested, status="completed", modified_at=T0 + timedelta(hours=2), version=3)

    assert store(database, settings, tenant_id, [requested])["refund"].inserted == 1
    assert store(database, settings, tenant_id, [completed])["refund"].updated == 1
    result = store(database, settings, tenant_id, [agreed, requested, completed])
    assert (result["refund"].stale, result["refund"].unchanged) == (2, 1)

    refund = snapshot(database, tenant_id)["refunds"]["youzan/S1/R1"]
    assert (refund["status"], refund["amount_fen"], refund["order_external_id"]) == ("completed", 2_000, "E1")
    assert refund["order_line_external_id"] == "L1"
    assert [(t, p["status"]) for t, p in events(database, tenant_id)] == [
        ("refund.created", "requested"),
        ("refund.updated", "completed"),
    ]


def test_lines_replaced_on_change(database: Database, settings: Settings, tenant_id: str) -> None:
    store(database, settings, tenant_id, [make_order()])
    changed = make_order(minutes=10, lines=[OrderLine("L9", "SKU-9", "礼盒", 3, 5_000, outer_sku="GIFT")])

    assert store(database, settings, tenant_id, [changed])["order"].updated == 1

    with database.unit_of_work() as session:
        stored = service.find_order(session, tenant_id, "youzan", "S1", "E1")
        assert stored is not None
        assert [
            (line.sku_id, line.quantity, line.unit_price_fen, line.outer_sku) for line in stored.lines
        ] == [("SKU-9", 3, 5_000, "GIFT")]
        total = session.scalar(
            text("SELECT COUNT(*) FROM order_lines WHERE tenant_id = :t"), {"t": tenant_id}
        )
        assert total == 1
    # Only the version moved: the row follows, nothing is announced.
    before = len(events(database, tenant_id))
    assert (
        store(database, settings, tenant_id, [replace(changed, modified_at=T0 + timedelta(hours=1))])[
            "order"
        ].updated
        == 1
    )
    assert len(events(database, tenant_id)) == before


def test_buyer_identities_kept_as_given_and_deduplicated(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    oaid = "1ZJkcsa0AFHrpmkCw3hFgwKYxAQ"
    buyers = [
        BuyerIdentity("taobao", "open_uid", "AAHm5d-EAAeGwJedwSHpg8bT", shop_id="S1"),
        BuyerIdentity("taobao", "oaid", oaid, shop_id="S1", is_masked=True),
        BuyerIdentity("taobao", "phone", "138****5678", shop_id="S1", is_masked=True),
        BuyerIdentity("taobao", "phone", PHONE, shop_id="S1"),
    ]
    first = make_order("T1", platform="taobao", buyer=buyers)
    second = make_order("T2", platform="taobao", buyer=list(reversed(buyers)))

    result = store(database, settings, tenant_id, [first, second])

    assert result["buyer_identity"].inserted == 4
    stored = snapshot(database, tenant_id, settings)
    assert stored["buyer_identities"] == sorted(
        [
            ("taobao", "open_uid", "AAHm5d-EAAeGwJedwSHpg8bT", False),
            ("taobao", "oaid", oaid, True),
            ("taobao", "phone", "138****5678", True),
            ("taobao", "phone", PHONE, False),
        ]
    )
    assert stored["orders"]["taobao/S1/T1"]["buyer"] == stored["orders"]["taobao/S1/T2"]["buyer"]
    with database.unit_of_work() as session:
        rows = session.execute(
            text("SELECT kind, value, value_encrypted, is_masked FROM buyer_identities WHERE tenant_id = :t"),
            {"t": tenant_id},
        ).all()
        by_value = {row.value: row for row in rows}
        assert by_value[oaid].value_encrypted is None  # an OAID is kept as such, never "resolved"
        assert by_value["138****5678"].value_encrypted is None
        full = by_value[keyed_hash(PHONE, settings.hash_key, kind="phone")]
        assert full.value_encrypted.startswith("v1.")
        order = service.find_order(session, tenant_id, "taobao", "S1", "T1")
        assert order is not None
        assert sorted(identity.kind for identity in order.buyers) == ["oaid", "open_uid", "phone", "phone"]
    # The same buyer on a third order adds no identity.
    again = store(database, settings, tenant_id, [make_order("T3", platform="taobao", buyer=buyers[:2])])
    assert (again["buyer_identity"].inserted, again["buyer_identity"].unchanged) == (0, 2)


def test_masked_receiver_phone_kept_as_masked_text(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    store(database, settings, tenant_id, [make_order(receiver_phone="138****5678")])
    with database.unit_of_work() as session:
        row = session.execute(
            text(
                "SELECT receiver_phone_masked, receiver_phone_encrypted, receiver_phone_hash FROM orders"
                " WHERE tenant_id = :t"
            ),
            {"t": tenant_id},
        ).one()
    assert tuple(row) == ("138****5678", None, None)


def test_contacts_follows_and_removals(database: Database, settings: Settings, tenant_id: str) -> None:
    contact = make_contact()
    second_staff = FollowRelation("staff-2", remark="李姐", add_channel_state="store-42", created_at=T0)
    store(database, settings, tenant_id, [contact])
    store(database, settings, tenant_id, [make_contact(minutes=5, follows=[*contact.follows, second_staff])])
    assert [(t, p["staff_userid"]) for t, p in events(database, tenant_id)] == [
        ("contact.added", "staff-1"),
        ("contact.added", "staff-2"),
    ]
    added = events(database, tenant_id)[1][1]
    assert added["add_channel_state"] == "store-42"

    by_customer = ContactRemoved("ww1", "wmA", "staff-1", by_customer=True, at=T0 + timedelta(minutes=10))
    by_staff = ContactRemoved("ww1", "wmA", "staff-2", by_customer=False, at=T0 + timedelta(minutes=11))
    result = store(database, settings, tenant_id, [by_customer, by_staff])
    assert result["contact_removal"].updated == 2
    again = store(database, settings, tenant_id, [by_staff, by_customer])
    assert (again["contact_removal"].unchanged, again.events) == (2, 0)
    # The contact as it was before the removals, delivered late: it does not revive anyone.
    late = store(
        database, settings, tenant_id, [make_contact(minutes=6, follows=[*contact.follows, second_staff])]
    )
    assert late.events == 0

    assert event_types(database, tenant_id)[2:] == ["contact.deleted_by_customer", "contact.deleted_by_staff"]
    follows = snapshot(database, tenant_id, settings)["contacts"]["ww1/wmA"]["follows"]
    assert follows["staff-1"]["is_active"] is False
    assert follows["staff-1"]["removed_by_customer"] is True
    assert follows["staff-2"]["removed_by_customer"] is False
    assert follows["staff-1"]["remark_mobiles"] == [REMARK_PHONE]
    assert follows["staff-1"]["tag_ids"] == ["tag-vip"]

    # The customer adds staff-1 again later: a new relation, announced once.
    store(database, settings, tenant_id, [make_contact(minutes=20)])
    store(database, settings, tenant_id, [make_contact(minutes=20)])
    assert event_types(database, tenant_id)[4:] == ["contact.added"]
    follows = snapshot(database, tenant_id)["contacts"]["ww1/wmA"]["follows"]
    assert follows["staff-1"]["is_active"] is True
    assert follows["staff-2"]["is_active"] is False


def test_contact_update_and_removal_of_unknown_contact(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    store(database, settings, tenant_id, [make_contact()])
    store(database, settings, tenant_id, [make_contact(minutes=1, name="李四（VIP）")])
    assert event_types(database, tenant_id) == ["contact.added", "contact.updated"]

    removal = ContactRemoved("ww1", "wmZ", "staff-3", by_customer=True, at=T0)
    result = store(database, settings, tenant_id, [removal])
    assert result["contact_removal"].inserted == 1
    assert event_types(database, tenant_id)[-1] == "contact.deleted_by_customer"
    stored = snapshot(database, tenant_id)["contacts"]["ww1/wmZ"]
    assert stored["follows"]["staff-3"]["is_active"] is False
    # The full contact arrives later without the removed staff member: known, no second event.
    store(database, settings, tenant_id, [make_contact("wmZ", minutes=1, follows=[])])
    assert snapshot(database, tenant_id)["contacts"]["ww1/wmZ"]["name"] == "李四"


def test_groups_and_coupons_change(database: Database, settings: Settings, tenant_id: str) -> None:
    group = Group("ww1", "chat-1", "VIP 群", "staff-1", T0, [GroupMember("wmA", 2, T0)])
    coupon = Coupon("youzan", "S1", "C1", "八五折", "discount", 0, 0, 85)
    store(database, settings, tenant_id, [group, coupon])
    grown = replace(group, members=[GroupMember("wmA", 2, T0), GroupMember("wmB", 2, T0 + timedelta(days=1))])
    result = store(database, settings, tenant_id, [grown, replace(coupon, title="八五折券")])
    assert (result["group"].updated, result["coupon"].updated) == (1, 1)
    assert event_types(database, tenant_id) == [
        "group.created",
        "coupon.saved",
        "group.updated",
        "coupon.saved",
    ]
    stored = snapshot(database, tenant_id)
    assert set(stored["groups"]["ww1/chat-1"]["members"]) == {"wmA", "wmB"}
    assert stored["groups"]["ww1/chat-1"]["member_count"] == 2
    assert stored["coupons"]["youzan/S1/C1"]["label"] == "8.5折"


def test_no_plaintext_pii_in_the_tables(database: Database, settings: Settings, tenant_id: str) -> None:
    buyers = [BuyerIdentity("youzan", "phone", PHONE, shop_id="S1")]
    store(database, settings, tenant_id, [make_order(buyer=buyers), make_contact()])
    tables = ["orders", "buyer_identities", "contact_follows", "contacts", "outbox_events"]
    with database.unit_of_work() as session:
        for table in tables:
            rows = session.execute(text(f"SELECT * FROM {table}")).all()
            assert rows, table
            dump = repr(rows)
            assert PHONE not in dump, table
            assert REMARK_PHONE not in dump, table
        phone_hash = session.scalar(text("SELECT receiver_phone_hash FROM orders"))
        assert phone_hash == keyed_hash(PHONE, settings.hash_key)
        hashes = session.scalar(text("SELECT remark_mobile_hashes FROM contact_follows"))
        assert keyed_hash(REMARK_PHONE, settings.hash_key) in str(hashes)
    # The stored ciphertexts decrypt back to the phones.
    stored = snapshot(database, tenant_id, settings)
    assert stored["orders"]["youzan/S1/E1"]["receiver_phone"] == PHONE
    assert stored["orders"]["youzan/S1/E1"]["receiver_phone_masked"] == "138****5678"


def test_tenant_isolation(database: Database, settings: Settings, tenant_id: str) -> None:
    other = _new_tenant(database)
    store(database, settings, tenant_id, everything())
    with database.unit_of_work() as session:
        order_id = service.list_orders(session, tenant_id)[0].id
        assert service.list_orders(session, other) == []
        assert service.count_orders(session, other) == 0
        assert service.find_order(session, other, "youzan", "S1", "E1") is None
        with pytest.raises(NotFound):
            service.get_order(session, other, order_id)
    empty = snapshot(database, other)
    assert all(not value for value in empty.values())
    assert events(database, other) == []

    # The same platform records under the other tenant are that tenant's own rows.
    before = snapshot(database, tenant_id, settings)
    result = store(database, settings, other, everything())
    assert result["order"].inserted == 2
    assert snapshot(database, tenant_id, settings) == before
    with database.unit_of_work() as session:
        assert service.count_orders(session, tenant_id) == 2
        assert service.count_orders(session, other) == 2
        assert service.get_order(session, tenant_id, order_id).tenant_id == tenant_id


def test_list_and_get_orders(database: Database, settings: Settings, tenant_id: str) -> None:
    records = [make_order(f"E{i}", created_at=T0 + timedelta(hours=i)) for i in range(5)]
    records.append(make_order("J1", platform="jd", created_at=T0 - timedelta(hours=1)))
    store(database, settings, tenant_id, records)
    with database.unit_of_work() as session:
        newest = service.list_orders(session, tenant_id, platform="youzan", limit=2)
        assert [order.external_id for order in newest] == ["E4", "E3"]
        assert [o.external_id for o in service.list_orders(session, tenant_id, limit=2, offset=4)] == [
            "E0",
            "J1",
        ]
        assert service.count_orders(session, tenant_id, platform="jd") == 1
        detail = service.get_order(session, tenant_id, newest[0].id)
        assert [line.title for line in detail.lines] == ["保温杯", "杯套"]


@contextmanager
def counting_statements(database: Database) -> Iterator[list[str]]:
    """Statements sent through SQLAlchemy, and the COPY streams PostgreSQL gets past it."""
    from haina.customers import repository

    statements: list[str] = []
    real_copy = repository.copy_into

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def counted_copy(session: Any, table: Any, rows: Any, *, into: str | None = None) -> None:
        statements.append(f"COPY {into or table.name}")
        real_copy(session, table, rows, into=into)

    event.listen(database.engine, "before_cursor_execute", count)
    repository.copy_into = counted_copy  # type: ignore[assignment]
    try:
        yield statements
    finally:
        repository.copy_into = real_copy  # type: ignore[assignment]
        event.remove(database.engine, "before_cursor_execute", count)


def test_batch_uses_a_bounded_number_of_statements(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    def batch(prefix: str, size: int) -> list[Order]:
        return [
            make_order(
                f"{prefix}{i}",
                receiver_phone=f"139{i:08d}",
                buyer=[BuyerIdentity("youzan", "buyer_id", f"{prefix}-b{i}", shop_id="S1")],
            )
            for i in range(size)
        ]

    with counting_statements(database) as small:
        assert store(database, settings, tenant_id, batch("a", 200))["order"].inserted == 200
    with counting_statements(database) as large:
        result = store(database, settings, tenant_id, batch("b", 2_000))
    assert result["order"].inserted == 2_000
    assert result.events == 4_000
    assert len(large) <= 30, large
    # Multi-row statements are paged (1,000 rows a page), so a few more, not 10× more.
    assert len(large) <= len(small) + 6, (small, large)
    with database.unit_of_work() as session:
        assert service.count_orders(session, tenant_id) == 2_200
        lines = session.scalar(
            text("SELECT COUNT(*) FROM order_lines WHERE tenant_id = :t"), {"t": tenant_id}
        )
        assert lines == 4_400

    # Storing the large batch again reads it and writes nothing.
    with counting_statements(database) as again:
        assert store(database, settings, tenant_id, batch("b", 2_000))["order"].unchanged == 2_000
    assert len(again) <= 5, again


def test_order_stored_concurrently_between_read_and_write(
    database: Database, settings: Settings, tenant_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer stores the order after this batch read it as missing: decided again, not doubled."""
    from haina.customers import repository

    real_read = repository.OrderRepository.rows_by_id

    def blind_once(self: Any, columns: Any, ids: Any) -> dict[str, Any]:
        monkeypatch.setattr(repository.OrderRepository, "rows_by_id", real_read)
        return {}

    store(database, settings, tenant_id, [make_order(status="paid", minutes=5)])

    monkeypatch.setattr(repository.OrderRepository, "rows_by_id", blind_once)
    older = store(database, settings, tenant_id, [make_order(status="pending_payment", minutes=0)])
    assert (older["order"].inserted, older["order"].stale) == (0, 1)

    shipped = make_order(
        status="shipped",
        minutes=9,
        shipped_at=T0 + timedelta(minutes=9),
        lines=[OrderLine("L3", "SKU-3", "礼盒", 1, 9_900)],
    )
    monkeypatch.setattr(repository.OrderRepository, "rows_by_id", blind_once)
    newer = store(database, settings, tenant_id, [shipped])
    assert (newer["order"].inserted, newer["order"].updated) == (0, 1)

    assert event_types(database, tenant_id) == ["order.created", "order.paid", "order.shipped"]
    order = snapshot(database, tenant_id)["orders"]["youzan/S1/E1"]
    assert order["status"] == "shipped"
    assert [line["sku_id"] for line in order["lines"]] == ["SKU-3"]


def test_partial_contacts_merge_follows_and_keep_the_profile(
    database: Database, settings: Settings, tenant_id: str
) -> None:
    """WeCom's batch API lists a customer once per following member, and a callback knows only
    ids: neither ends the other members' relations nor blanks the stored profile."""
    first = make_contact(follows_complete=False)
    second_staff = FollowRelation("staff-2", remark="李姐", created_at=T0)
    store(database, settings, tenant_id, [first])
    store(
        database,
        settings,
        tenant_id,
        [make_contact(minutes=1, follows=[second_staff], follows_complete=False)],
    )
    callback = make_contact(
        minutes=2,
        name="",
        gender=0,
        unionid="",
        follows=[FollowRelation("staff-3", add_channel_state="poster-1", created_at=T0)],
        follows_complete=False,
        profile_known=False,
    )
    store(database, settings, tenant_id, [callback])
    stored = snapshot(database, tenant_id, settings)["contacts"]["ww1/wmA"]
    assert {staff for staff, follow in stored["follows"].items() if follow["is_active"]} == {
        "staff-1",
        "staff-2",
        "staff-3",
    }
    assert (stored["name"], stored["gender"], stored["unionid"]) == ("李四", 1, "union-1")
    assert [p["staff_userid"] for t, p in events(database, tenant_id) if t == "contact.added"] == [
        "staff-1",
        "staff-2",
        "staff-3",
    ]
    # The complete list (externalcontact/get) does end a relation that is gone.
    store(database, settings, tenant_id, [make_contact(minutes=3, follows=[second_staff])])
    stored = snapshot(database, tenant_id, settings)["contacts"]["ww1/wmA"]
    assert {staff for staff, follow in stored["follows"].items() if follow["is_active"]} == {"staff-2"}
