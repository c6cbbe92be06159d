"""Small factories for tag-rule tests: customers with orders, refunds, contacts, groups and tags
written straight into the tables (the rule compiler reads tables; the ingest path has its own
tests), plus a way to run the event handlers until nothing is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from haina.core.database import Database
from haina.core.events import run_due
from haina.customers.identity.models import Customer, CustomerStatus, OrderOwner
from haina.customers.models import (
    Contact,
    ContactFollow,
    CustomerGroup,
    CustomerGroupMember,
    Order,
    OrderLine,
    Refund,
)
from haina.tags.models import CustomerScore, CustomerTag, Tag, TagGroup, TagKind

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def uid() -> str:
    return uuid.uuid4().hex


def customer(session: Session, tenant_id: str, name: str = "", *, status: str = "active") -> str:
    customer_id = uid()
    session.add(
        Customer(
            id=customer_id,
            tenant_id=tenant_id,
            status=status if status != "active" else CustomerStatus.ACTIVE.value,
            display_name=name,
            phone_masked="138****0000",
            created_at=T0,
            updated_at=T0,
        )
    )
    session.flush()
    return customer_id


def order(
    session: Session,
    tenant_id: str,
    customer_id: str | None,
    *,
    paid_at: datetime | None,
    paid_fen: int = 10_000,
    status: str = "paid",
    platform: str = "youzan",
    shop_id: str = "S1",
    title: str = "洁面乳",
    sku: str = "SKU1",
    coupon_ids: list[str] | None = None,
    province: str = "上海市",
    city: str = "上海市",
) -> Order:
    order_id = uid()
    row = Order(
        id=order_id,
        tenant_id=tenant_id,
        platform=platform,
        shop_id=shop_id,
        external_id=order_id[:16],
        status=status,
        platform_status=status.upper(),
        total_fen=paid_fen,
        discount_fen=0,
        freight_fen=0,
        paid_fen=paid_fen,
        buyer_nick="",
        receiver_name="",
        receiver_phone_masked="",
        receiver_province=province,
        receiver_city=city,
        receiver_district="",
        receiver_street="",
        coupon_ids=coupon_ids or [],
        created_at=paid_at or T0,
        paid_at=paid_at,
        modified_at=paid_at or T0,
        version=1,
        fingerprint="",
        source="test",
    )
    session.add(row)
    session.add(
        OrderLine(
            tenant_id=tenant_id,
            order_id=order_id,
            position=0,
            external_id=f"{order_id[:16]}-1",
            sku_id=sku,
            outer_sku="",
            title=title,
            quantity=1,
            unit_price_fen=paid_fen,
        )
    )
    session.add(OrderOwner(tenant_id=tenant_id, order_id=order_id, node_id=uid(), customer_id=customer_id))
    session.flush()
    return row


def refund(session: Session, tenant_id: str, of: Order, amount_fen: int, *, status: str = "completed",
           at: datetime | None = None) -> None:  # fmt: skip
    session.add(
        Refund(
            id=uid(),
            tenant_id=tenant_id,
            platform=of.platform,
            shop_id=of.shop_id,
            external_id=uid()[:16],
            order_external_id=of.external_id,
            order_line_external_id="",
            amount_fen=amount_fen,
            status=status,
            reason="",
            created_at=at or of.paid_at or T0,
            modified_at=at or of.paid_at or T0,
            version=1,
            fingerprint="",
            source="test",
        )
    )
    session.flush()


def contact(
    session: Session,
    tenant_id: str,
    customer_id: str | None,
    *,
    external_userid: str | None = None,
    gender: int = 0,
    staff: str = "guide01",
    channel_state: str = "",
    corp_id: str = "corp1",
) -> Contact:
    row = Contact(
        id=uid(),
        tenant_id=tenant_id,
        corp_id=corp_id,
        external_userid=external_userid or f"wm{uid()[:12]}",
        name="",
        type=1,
        gender=gender,
        unionid="",
        avatar="",
        is_deleted=False,
        customer_id=customer_id,
        fingerprint="",
        source="test",
    )
    session.add(row)
    session.flush()
    session.add(
        ContactFollow(
            id=uid(),
            tenant_id=tenant_id,
            contact_id=row.id,
            staff_userid=staff,
            remark="",
            description="",
            remark_mobile_hashes=[],
            tag_ids=[],
            add_channel_state=channel_state,
            add_way=1,
            is_active=True,
        )
    )
    session.flush()
    return row


def group(
    session: Session, tenant_id: str, chat_id: str, members: list[str], *, corp_id: str = "corp1"
) -> str:
    group_id = uid()
    session.add(
        CustomerGroup(
            id=group_id,
            tenant_id=tenant_id,
            corp_id=corp_id,
            chat_id=chat_id,
            name=chat_id,
            owner="guide01",
            is_dismissed=False,
            member_count=len(members),
            fingerprint="",
            source="test",
        )
    )
    session.flush()
    for member in members:
        session.add(
            CustomerGroupMember(tenant_id=tenant_id, group_id=group_id, member_id=member, type=2, unionid="")
        )
    session.flush()
    return group_id


def score(
    session: Session, tenant_id: str, customer_id: str, *, recency: int = 0, stage: str = "active"
) -> None:
    session.add(
        CustomerScore(tenant_id=tenant_id, customer_id=customer_id, recency_score=recency, stage=stage)
    )
    session.flush()


def tag_group(session: Session, tenant_id: str, name: str = "规则") -> str:
    row = TagGroup(id=uid(), tenant_id=tenant_id, name=name)
    session.add(row)
    session.flush()
    return row.id


def rule_tag(
    session: Session, tenant_id: str, name: str, rule: dict[str, Any], group_id: str | None = None
) -> str:
    row = Tag(
        id=uid(),
        tenant_id=tenant_id,
        group_id=group_id or tag_group(session, tenant_id, f"g-{name}"),
        name=name,
        kind=TagKind.RULE,
        rule=rule,
        rule_version=1,
    )
    session.add(row)
    session.flush()
    return row.id


def manual_tag(session: Session, tenant_id: str, name: str) -> str:
    row = Tag(id=uid(), tenant_id=tenant_id, group_id=tag_group(session, tenant_id, f"g-{name}"), name=name)
    session.add(row)
    session.flush()
    return row.id


def carriers(session: Session, tenant_id: str, tag_id: str) -> set[str]:
    from sqlalchemy import select

    return set(
        session.scalars(
            select(CustomerTag.customer_id).where(
                CustomerTag.tenant_id == tenant_id, CustomerTag.tag_id == tag_id
            )
        )
    )


def drain(database: Database) -> int:
    """Run the event handlers (OneID and the tag engine among them) until nothing is due."""
    import haina.customers.tasks  # noqa: F401 - registers identity resolution
    import haina.tags.realtime  # noqa: F401 - registers the rule-tag handlers
    from haina.connections.service import bind_settings

    bind_settings(database)
    total = 0
    while True:
        ran = run_due(database, limit=1000)
        total += ran
        if ran == 0:
            return total
