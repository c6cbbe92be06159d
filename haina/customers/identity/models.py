"""Tables of identity resolution (OneID): customers, the identity graph, merge history, the
review queue and each tenant's matching settings.

The graph: every identifier is an `IdentityNode` (a phone by its keyed hash, a WeCom
external_userid, a unionid, a Taobao open uid, a Youzan / JD / Pinduoduo / Douyin buyer id, a
masked phone with the receiver's initial…), and an `IdentityLink` says why two nodes may be one
person (the rule, its score, the record that showed it) and what was decided (merged, refused by
a guard rail and why, sent to review, rejected by a person). A node's `customer_id` is the
customer it currently belongs to; the customer of an order is the customer of its anchor node
(`OrderOwner`).

Reversibility: a merge never deletes the absorbed customer. Its row stays, marked `merged` and
`merged_into_id`, and `CustomerMerge` keeps both sides' node lists as they were, so an unmerge
can give every node back. Everything a customer has (orders, contacts, identities, tags to come)
hangs off its nodes, so giving the nodes back restores the profile.

Keys start with `tenant_id`, like the canonical records; every read is tenant-scoped through the
repositories.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, utcnow

ID = String(32)


class CustomerStatus(StrEnum):
    ACTIVE = "active"
    MERGED = "merged"  # absorbed by `merged_into_id`; kept so an unmerge can bring it back


class LinkStatus(StrEnum):
    PENDING = "pending"  # derived, not decided yet
    MERGED = "merged"  # accepted: both nodes are one customer
    REFUSED = "refused"  # stopped by a guard rail (`reason` says which)
    REVIEW = "review"  # scored in the band below the auto-merge threshold: a person decides
    WEAK = "weak"  # evidence that never merges on its own (a shared household device)
    MANUAL = "manual"  # a person merged them: kept whatever the guard rails say
    REJECTED = "rejected"  # a person said no (review rejected, or unmerged)
    CANNOT_LINK = "cannot_link"  # a person split these apart: no path may join them again


class ReviewStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    OBSOLETE = "obsolete"  # the two sides became one customer (or a side vanished) meanwhile


class Customer(Base):
    """One person as the merchant knows them, across every platform."""

    __tablename__ = "customers"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_customers_tenant_id_status_created_at", "tenant_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=CustomerStatus.ACTIVE.value)
    merged_into_id: Mapped[str | None] = mapped_column(ID)
    # Derived from the nodes on every resolution, for lists and search.
    display_name: Mapped[str] = mapped_column(String(100), default="")
    phone_masked: Mapped[str] = mapped_column(String(32), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    node_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityNode(Base):
    """One identifier. PII kinds (phone, email) keep the keyed hash in `value` and the plaintext
    only as ciphertext (`value_encrypted`, context 'identity_nodes.value')."""

    __tablename__ = "identity_nodes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "kind", "value"),
        Index("ix_identity_nodes_tenant_id_customer_id", "tenant_id", "customer_id"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(255))
    # Where the kind is exclusive: one external_userid per corp, one buyer id per shop ("" = tenant).
    scope: Mapped[str] = mapped_column(String(128), default="")
    platform: Mapped[str] = mapped_column(String(16), default="")
    display: Mapped[str] = mapped_column(String(128), default="")  # never PII-complete
    label: Mapped[str] = mapped_column(String(100), default="")  # the best name seen with it
    value_encrypted: Mapped[str | None] = mapped_column(String(400))
    customer_id: Mapped[str | None] = mapped_column(ID)
    # An over-linking key (e.g. a parcel locker's phone on many buyers' orders): never merges.
    is_blocked: Mapped[bool] = mapped_column(default=False)
    blocked_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityLink(Base):
    """Why two nodes may be one person, and what was decided. `node_a` < `node_b`."""

    __tablename__ = "identity_links"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_identity_links_tenant_id_node_a", "tenant_id", "node_a"),
        Index("ix_identity_links_tenant_id_node_b", "tenant_id", "node_b"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    node_a: Mapped[str] = mapped_column(ID)
    node_b: Mapped[str] = mapped_column(ID)
    rule: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=LinkStatus.PENDING.value)
    reason: Mapped[str] = mapped_column(String(64), default="")
    evidence_type: Mapped[str] = mapped_column(String(16), default="")  # order / contact / person / matcher
    evidence_id: Mapped[str] = mapped_column(String(64), default="")
    evidence_count: Mapped[int] = mapped_column(default=1)
    decided_by: Mapped[str] = mapped_column(String(100), default="")  # "system" or a username
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderOwner(Base):
    """The customer of an order: the customer of the order's anchor node (its buyer account, or
    its receiver when the platform names no account)."""

    __tablename__ = "order_owners"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "order_id"),
        Index("ix_order_owners_tenant_id_customer_id", "tenant_id", "customer_id"),
        Index("ix_order_owners_tenant_id_node_id", "tenant_id", "node_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(ID)
    node_id: Mapped[str] = mapped_column(ID)
    customer_id: Mapped[str | None] = mapped_column(ID)


class CustomerMerge(Base):
    """One merge (who, which rule, what score) with both sides' nodes as they were, so it can be
    undone exactly."""

    __tablename__ = "customer_merges"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_customer_merges_tenant_id_survivor_id", "tenant_id", "survivor_id"),
        Index("ix_customer_merges_tenant_id_absorbed_id", "tenant_id", "absorbed_id"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    survivor_id: Mapped[str] = mapped_column(ID)
    absorbed_id: Mapped[str] = mapped_column(ID)
    rule: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    link_id: Mapped[str | None] = mapped_column(ID)
    actor_id: Mapped[str | None] = mapped_column(String(32))  # None: the resolver
    actor_name: Mapped[str] = mapped_column(String(100), default="system")
    survivor_node_ids: Mapped[list[str]] = mapped_column(JSON)
    absorbed_node_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by_id: Mapped[str | None] = mapped_column(String(32))
    undone_by_name: Mapped[str] = mapped_column(String(100), default="")


class IdentityReview(Base):
    """A candidate pair scored below the auto-merge threshold: a person compares and decides."""

    __tablename__ = "identity_reviews"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "node_a", "node_b"),
        Index("ix_identity_reviews_tenant_id_status_created_at", "tenant_id", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID)
    tenant_id: Mapped[str] = mapped_column(String(32))
    node_a: Mapped[str] = mapped_column(ID)
    node_b: Mapped[str] = mapped_column(ID)
    link_id: Mapped[str] = mapped_column(ID)
    rule: Mapped[str] = mapped_column(String(40))
    score: Mapped[float] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.OPEN.value)
    decided_by_id: Mapped[str | None] = mapped_column(String(32))
    decided_by_name: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentitySettings(Base):
    """A tenant's thresholds and guard-rail limits; defaults apply while it has no row."""

    __tablename__ = "identity_settings"

    tenant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    auto_merge_threshold: Mapped[float] = mapped_column(Float)
    review_threshold: Mapped[float] = mapped_column(Float)
    max_cluster_nodes: Mapped[int]
    max_accounts_per_key: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityBlockKey(Base):
    """The matcher's blocking keys of each record (an anchor node, as `MatchRecord`), so that
    incremental resolution finds a new record's candidates by index, the same pairs a rebuild
    makes by grouping every record's keys. `key` is a digest of the key text (the text holds a
    name or an address: only the digest is kept)."""

    __tablename__ = "identity_block_keys"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "node_id", "key"),
        Index("ix_identity_block_keys_tenant_id_key", "tenant_id", "key"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    node_id: Mapped[str] = mapped_column(ID)
    key: Mapped[str] = mapped_column(String(32))
