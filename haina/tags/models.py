"""Tables of the tags module: tags, who carries them, segments, RFM scores and lifecycle stages.

* TagGroup / Tag: the merchant's labels. A manual tag is set by people (or by WeCom, where a
  staff member tags a contact); a rule tag is set and cleared by its `rule` (conditions.py).
* CustomerTag: one row per (customer, tag) with where it came from and why; `origin_customer_id`
  remembers who carried it before a merge, so an unmerge gives it back.
* TagChange: every add and remove, in time order: the customer timeline and the audit of rules.
* TagEvaluation: one batch run of a rule over every customer, with its progress.
* TagMirror: a tag's twin among one WeCom corp's tags (add_corp_tag / mark_tag).
* Segment: a saved filter in the same condition language.
* RfmSettings / CustomerScore: RFM windows and bands per tenant; each customer's scores and
  lifecycle stage. LifecycleDay: counts per stage and the flows between stages, per day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, PrimaryKeyConstraint, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class TagKind:
    MANUAL = "manual"
    RULE = "rule"


class TagSource:
    RULE = "rule"  # set and cleared by the tag's rule
    MANUAL = "manual"  # a person in Haina
    WECOM = "wecom"  # a staff member in WeCom (arrived by callback or sync)


class EvaluationStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class TagGroup(Base):
    __tablename__ = "tag_groups"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(30))
    order: Mapped[int] = mapped_column(default=0)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "group_id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(16), default=TagKind.MANUAL)
    # The rule of a rule tag: the condition language of conditions.py, validated on save.
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rule_version: Mapped[int] = mapped_column(default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    order: Mapped[int] = mapped_column(default=0)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (
        # On PostgreSQL the key's index carries `source` too: a batch chunk reads every
        # carrier's tag and source in customer order from the index alone (evaluation.py).
        PrimaryKeyConstraint("tenant_id", "customer_id", "tag_id", postgresql_include=["source"]),
        # With customer_id: a batch chunk reads one tag's carriers in an id range (evaluation.py).
        Index("ix_customer_tags_tenant_id_tag_id_customer_id", "tenant_id", "tag_id", "customer_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(ID)
    tag_id: Mapped[str] = mapped_column(ID)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")  # the rule's name or who did it
    origin_customer_id: Mapped[str | None] = mapped_column(ID)  # the carrier before a merge
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagChange(Base):
    __tablename__ = "tag_changes"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_tag_changes_tenant_id_customer_id_at", "tenant_id", "customer_id", "at"),
        Index("ix_tag_changes_tenant_id_tag_id_at", "tenant_id", "tag_id", "at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(ID)
    tag_id: Mapped[str] = mapped_column(ID)
    tag_name: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(8))  # added / removed
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TagEvaluation(Base):
    __tablename__ = "tag_evaluations"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_tag_evaluations_tenant_id_tag_id_created_at", "tenant_id", "tag_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    tag_id: Mapped[str] = mapped_column(ID)
    rule_version: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=EvaluationStatus.QUEUED)
    total: Mapped[int] = mapped_column(default=0)  # customers to look at
    done: Mapped[int] = mapped_column(default=0)  # customers looked at
    added: Mapped[int] = mapped_column(default=0)
    removed: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    # Touched after every chunk: a claim whose heartbeat went stale (its worker died) can be
    # taken over; a fresh one means another worker is on it.
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class TagMirror(Base):
    __tablename__ = "tag_mirrors"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "connection_id", "tag_id"),
        UniqueConstraint("tenant_id", "connection_id", "wecom_tag_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    connection_id: Mapped[str] = mapped_column(ID)
    tag_id: Mapped[str] = mapped_column(ID)
    corp_id: Mapped[str] = mapped_column(String(64))
    wecom_tag_id: Mapped[str] = mapped_column(String(64))
    wecom_group_id: Mapped[str] = mapped_column(String(64), default="")
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        UniqueConstraint("tenant_id", "name"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_count: Mapped[int | None]
    counted_at: Mapped[datetime | None]


class RfmSettings(Base):
    __tablename__ = "rfm_settings"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    window_days: Mapped[int] = mapped_column(default=365)
    band_method: Mapped[str] = mapped_column(String(16), default="quantile")  # quantile / fixed
    # Fixed bands: four ascending cut points each, giving scores 1..5.
    recency_bounds: Mapped[list[int]] = mapped_column(JSON, default=list)  # days since last order
    frequency_bounds: Mapped[list[int]] = mapped_column(JSON, default=list)  # orders in the window
    monetary_bounds: Mapped[list[int]] = mapped_column(JSON, default=list)  # fen in the window
    # Lifecycle: days since the first / last order that separate the stages.
    new_days: Mapped[int] = mapped_column(default=30)
    active_days: Mapped[int] = mapped_column(default=90)
    at_risk_days: Mapped[int] = mapped_column(default=180)
    dormant_days: Mapped[int] = mapped_column(default=365)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerScore(Base):
    __tablename__ = "customer_scores"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "customer_id"),
        Index("ix_customer_scores_tenant_id_stage", "tenant_id", "stage"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(ID)
    recency_days: Mapped[int | None]
    frequency: Mapped[int] = mapped_column(default=0)
    monetary_fen: Mapped[int] = mapped_column(default=0)
    recency_score: Mapped[int] = mapped_column(default=0)  # 1..5, 0 without orders
    frequency_score: Mapped[int] = mapped_column(default=0)
    monetary_score: Mapped[int] = mapped_column(default=0)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    # prospect (no order yet) / new / active / at_risk / dormant / lost / won_back
    stage: Mapped[str] = mapped_column(String(16), default="prospect")
    stage_since: Mapped[datetime] = mapped_column(default=utcnow)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class LifecycleDay(Base):
    """Per day: customers in each stage (from_stage == to_stage) and moves between stages."""

    __tablename__ = "lifecycle_days"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "day", "from_stage", "to_stage"),)

    tenant_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(default=0)
