"""Tables of canonical records: orders and their lines, refunds, platform buyer identities,
WeCom external contacts with their follow relations, customer groups and coupons.

Rows are written set-based by `haina.customers.service.store_records`, so their ids are
derived from the natural key (`record_id`): the same record always gets the same id, which
lets a batch write parent and child rows without a round trip for generated keys, and makes two
concurrent writers of one record agree on its id.

Each top-level row keeps the platform's (modified_at, version) and a `fingerprint` (a keyed
digest of its content, children included) so a re-delivery is recognised as unchanged without
comparing column by column. There is no Customer (OneID) table yet: buyer identities and
contacts carry a nullable `customer_id` for the resolver to fill in.

Keys: every primary key, unique key and index starts with `tenant_id`. All access is
tenant-scoped, and a lookup by id must not be planned through an index led by the tenant alone:
with stale statistics (a new tenant's first import) PostgreSQL takes that one and scans the
tenant's rows for every batch, which makes an import quadratic.

Foreign keys: none to `tenants` (tenant scoping lives in the repositories, as in the event core),
and none from order lines and order buyers to their parents. These are the ingest tables: each
foreign key costs a lookup and a KEY SHARE row lock per inserted row (on the one tenant row, for
every concurrent ingest worker), about a third of the write time in bench/ingest_store.py.
Their rows are written only by `store_records`, parent first, in one transaction; whatever
comes to delete orders must delete their lines and buyer links with them. The low-volume children (follows, group members) keep
theirs.

PII: full phone numbers are stored as AES-GCM ciphertext plus a keyed hash for matching, never
as plaintext. Masked phones (``138****5678``) are kept as the masked text: they are not
PII-complete (the platform already removed the middle digits) and are only good for display
and compatibility checks.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from haina.core.database import Base, utcnow

ID = String(32)


def record_id(kind: str, tenant_id: str, *key: str) -> str:
    """The id of a record, derived from its natural key: 32 hex digits, like `new_id()`."""
    text = "\x1f".join((kind, tenant_id, *key))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class Order(Base):
    """One platform order in its latest known state (latest = greatest (modified_at, version))."""

    __tablename__ = "orders"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "platform", "shop_id", "external_id"),
        Index("ix_orders_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    platform_status: Mapped[str] = mapped_column(String(64))
    total_fen: Mapped[int]
    discount_fen: Mapped[int]
    freight_fen: Mapped[int]
    paid_fen: Mapped[int]
    buyer_nick: Mapped[str] = mapped_column(String(100))
    receiver_name: Mapped[str] = mapped_column(String(100))
    # A full receiver phone: ciphertext + keyed hash, never plaintext. A masked phone as the
    # platform gave it (not PII-complete, so kept as text); for a full phone, its display mask.
    receiver_phone_encrypted: Mapped[str | None] = mapped_column(String(200))
    receiver_phone_hash: Mapped[str | None] = mapped_column(String(64))
    receiver_phone_masked: Mapped[str] = mapped_column(String(64))
    receiver_province: Mapped[str] = mapped_column(String(64))
    receiver_city: Mapped[str] = mapped_column(String(64))
    receiver_district: Mapped[str] = mapped_column(String(64))
    receiver_street: Mapped[str] = mapped_column(String(255))
    coupon_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    modified_at: Mapped[datetime]
    version: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(
        primaryjoin="and_(Order.tenant_id == foreign(OrderLine.tenant_id), Order.id == foreign(OrderLine.order_id))",
        lazy="raise",
        order_by="OrderLine.position",
        viewonly=True,
    )
    buyers: Mapped[list[BuyerIdentity]] = relationship(
        secondary="order_buyers",
        primaryjoin="and_(Order.tenant_id == foreign(OrderBuyer.tenant_id), Order.id == foreign(OrderBuyer.order_id))",
        secondaryjoin=(
            "and_(BuyerIdentity.tenant_id == foreign(OrderBuyer.tenant_id),"
            " BuyerIdentity.id == foreign(OrderBuyer.buyer_identity_id))"
        ),
        lazy="raise",
        order_by="BuyerIdentity.kind",
        viewonly=True,
    )


class OrderLine(Base):
    """A line of an order; replaced as a whole when the order changes."""

    __tablename__ = "order_lines"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "order_id", "position"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(ID)
    position: Mapped[int]
    external_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    outer_sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "platform", "shop_id", "external_id"),
        # A refund may arrive before its order, so it names the order by its platform key.
        Index("ix_refunds_order_key", "tenant_id", "platform", "shop_id", "order_external_id"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    order_external_id: Mapped[str] = mapped_column(String(64))
    order_line_external_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    modified_at: Mapped[datetime]
    version: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class BuyerIdentity(Base):
    """An identifier of a buyer as a platform gives it (open uid, OAID, buyer id, phone…).

    Masked values and OAIDs are kept as such (`is_masked`), never "completed". A full phone or
    email is stored as its keyed hash in `value` (so uniqueness and matching still work) with
    the ciphertext beside it.
    """

    __tablename__ = "buyer_identities"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "platform", "kind", "value"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    value: Mapped[str] = mapped_column(String(255))
    value_encrypted: Mapped[str | None] = mapped_column(String(400))
    is_masked: Mapped[bool]
    shop_id: Mapped[str] = mapped_column(String(64))
    # Filled by OneID resolution (a later module); no Customer table yet.
    customer_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderBuyer(Base):
    """Which identities an order names (buyer open uid, receiver OAID, receiver phone…)."""

    __tablename__ = "order_buyers"

    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "order_id", "buyer_identity_id"),
        Index("ix_order_buyers_tenant_id_buyer_identity_id", "tenant_id", "buyer_identity_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(ID)
    buyer_identity_id: Mapped[str] = mapped_column(ID)


class Contact(Base):
    """A WeCom external contact (外部联系人)."""

    __tablename__ = "contacts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "corp_id", "external_userid"),
        Index("ix_contacts_tenant_id_unionid", "tenant_id", "unionid"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    corp_id: Mapped[str] = mapped_column(String(64))
    external_userid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[int]
    gender: Mapped[int]
    unionid: Mapped[str] = mapped_column(String(64))
    avatar: Mapped[str] = mapped_column(String(500))
    is_deleted: Mapped[bool]
    customer_id: Mapped[str | None] = mapped_column(String(32))
    modified_at: Mapped[datetime | None]
    fingerprint: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    follows: Mapped[list[ContactFollow]] = relationship(
        lazy="raise", order_by="ContactFollow.staff_userid", passive_deletes=True
    )


class ContactFollow(Base):
    """A staff member following an external contact (跟进人), active until either side ends it."""

    __tablename__ = "contact_follows"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "contact_id", "staff_userid"),
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        # "An agent sees only the customers they follow."
        Index("ix_contact_follows_tenant_id_staff_userid", "tenant_id", "staff_userid"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[str] = mapped_column(ID)
    staff_userid: Mapped[str] = mapped_column(String(64))
    remark: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text)
    # PII: the JSON list of phones, AES-GCM encrypted (context 'contact_follows.remark_mobiles'),
    # and one keyed hash per phone for matching.
    remark_mobiles_encrypted: Mapped[str | None] = mapped_column(Text)
    remark_mobile_hashes: Mapped[list[str]] = mapped_column(JSON)
    tag_ids: Mapped[list[str]] = mapped_column(JSON)
    add_channel_state: Mapped[str] = mapped_column(String(64))
    add_way: Mapped[int]
    created_at: Mapped[datetime | None]
    is_active: Mapped[bool]
    # Time of the record that last set this relation's state: older news cannot undo newer.
    changed_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    # True: the customer deleted the staff member; False: the reverse; None: unknown or active.
    removed_by_customer: Mapped[bool | None]


class CustomerGroup(Base):
    """A WeCom customer group chat (客户群)."""

    __tablename__ = "customer_groups"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "corp_id", "chat_id"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    corp_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime | None]
    is_dismissed: Mapped[bool]
    member_count: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[CustomerGroupMember]] = relationship(
        lazy="raise", order_by="CustomerGroupMember.member_id", passive_deletes=True
    )


class CustomerGroupMember(Base):
    __tablename__ = "customer_group_members"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "group_id", "member_id"),
        ForeignKeyConstraint(
            ["tenant_id", "group_id"], ["customer_groups.tenant_id", "customer_groups.id"], ondelete="CASCADE"
        ),
        Index("ix_customer_group_members_tenant_id_member_id", "tenant_id", "member_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[str] = mapped_column(ID)
    member_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[int]
    joined_at: Mapped[datetime | None]
    unionid: Mapped[str] = mapped_column(String(64))


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "platform", "shop_id", "external_id"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(16))
    shop_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    threshold_fen: Mapped[int]
    value_fen: Mapped[int]
    discount_percent: Mapped[int]
    label: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    fingerprint: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


def columns_of(model: Any) -> list[str]:
    """Column names of a model's table, in table order."""
    return [column.name for column in model.__table__.columns]
