"""Hand-built customers and paid orders for the RFM and lifecycle tests (rows written directly)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from haina.customers.identity.models import Customer, OrderOwner
from haina.customers.models import Order, Refund


def add_customer(session: Session, tenant_id: str, name: str, *, status: str = "active") -> str:
    customer_id = uuid.uuid4().hex
    session.add(Customer(id=customer_id, tenant_id=tenant_id, status=status, display_name=name))
    session.flush()
    return customer_id


def add_order(
    session: Session,
    tenant_id: str,
    customer_id: str,
    at: datetime,
    paid_fen: int,
    *,
    status: str = "completed",
    refunds: tuple[tuple[int, str], ...] = (),
    paid_at: bool = True,
) -> str:
    """A paid order of `customer_id` at `at` (its payment time; creation an hour before unless
    `paid_at` is False), with refunds given as (amount_fen, status)."""
    order_id = uuid.uuid4().hex
    external_id = f"E-{order_id[:12]}"
    created = at if not paid_at else at.replace(microsecond=0)
    session.add(
        Order(
            id=order_id,
            tenant_id=tenant_id,
            platform="youzan",
            shop_id="S1",
            external_id=external_id,
            status=status,
            platform_status="X",
            total_fen=paid_fen,
            discount_fen=0,
            freight_fen=0,
            paid_fen=paid_fen,
            buyer_nick="",
            receiver_name="",
            receiver_phone_masked="",
            receiver_province="",
            receiver_city="",
            receiver_district="",
            receiver_street="",
            coupon_ids=[],
            created_at=created,
            paid_at=at if paid_at else None,
            modified_at=at,
            version=1,
            fingerprint="f",
            source="test",
        )
    )
    session.add(
        OrderOwner(tenant_id=tenant_id, order_id=order_id, node_id=uuid.uuid4().hex, customer_id=customer_id)
    )
    for amount, refund_status in refunds:
        session.add(
            Refund(
                id=uuid.uuid4().hex,
                tenant_id=tenant_id,
                platform="youzan",
                shop_id="S1",
                external_id=f"R-{uuid.uuid4().hex[:12]}",
                order_external_id=external_id,
                order_line_external_id="",
                amount_fen=amount,
                status=refund_status,
                reason="",
                created_at=at,
                modified_at=at,
                version=1,
                fingerprint="f",
                source="test",
            )
        )
    session.flush()
    return order_id
