"""API shapes of the customers module: customers, the 360 profile, the timeline, merges, the
review queue and the matching settings. Money is integer fen; times are UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from haina.customers.identity import profile as profiles
from haina.customers.identity.models import Customer, CustomerMerge, IdentityReview


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str
    merged_into_id: str | None
    display_name: str
    phone_masked: str
    node_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, customer: Customer) -> CustomerOut:
        return cls.model_validate(customer)


class CustomerListOut(BaseModel):
    items: list[CustomerOut]
    total: int
    limit: int
    offset: int


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    node_id: str
    kind: str
    platform: str
    display: str
    label: str
    is_blocked: bool
    is_revealed: bool


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    platform: str
    shop_id: str
    external_id: str
    status: str
    total_fen: int
    paid_fen: int
    created_at: datetime
    paid_at: datetime | None
    receiver_name: str
    receiver_phone: str
    address: str
    titles: list[str]
    coupon_ids: list[str]


class FollowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    contact_id: str
    external_userid: str
    contact_name: str
    staff_userid: str
    remark: str
    description: str
    added_at: datetime | None
    is_active: bool
    removed_at: datetime | None
    tag_ids: list[str]


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    platform: str
    shop_id: str
    external_id: str
    order_external_id: str
    amount_fen: int
    status: str
    reason: str
    created_at: datetime


class CouponOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    platform: str
    shop_id: str
    external_id: str
    title: str
    label: str


class StatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    order_count: int
    paid_order_count: int
    lifetime_value_fen: int
    refunded_fen: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    platforms: list[str]


class MergeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    survivor_id: str
    absorbed_id: str
    rule: str
    score: float
    actor_name: str
    created_at: datetime
    undone_at: datetime | None
    undone_by_name: str

    @classmethod
    def of(cls, merge: CustomerMerge) -> MergeOut:
        return cls.model_validate(merge)


class ReviewOut(BaseModel):
    id: str
    rule: str
    score: float
    status: str
    node_a: str
    node_b: str
    customer_a: str | None
    customer_b: str | None
    created_at: datetime
    decided_by_name: str
    decided_at: datetime | None

    @classmethod
    def of(cls, review: IdentityReview, customers: dict[str, str | None]) -> ReviewOut:
        return cls(
            id=review.id,
            rule=review.rule,
            score=review.score,
            status=review.status,
            node_a=review.node_a,
            node_b=review.node_b,
            customer_a=customers.get(review.node_a),
            customer_b=customers.get(review.node_b),
            created_at=review.created_at,
            decided_by_name=review.decided_by_name,
            decided_at=review.decided_at,
        )


class ReviewListOut(BaseModel):
    items: list[ReviewOut]
    total: int


class ProfileOut(BaseModel):
    customer: CustomerOut
    identities: dict[str, list[IdentityOut]]
    phones: list[IdentityOut]
    follows: list[FollowOut]
    orders: list[OrderOut]
    refunds: list[RefundOut]
    coupons: list[CouponOut]
    stats: StatsOut
    merges: list[MergeOut]
    reviews: list[str]
    tags: list[str]

    @classmethod
    def of(cls, profile: profiles.Profile) -> ProfileOut:
        return cls(
            customer=CustomerOut.of(profile.customer),
            identities={
                platform: [IdentityOut.model_validate(view) for view in views]
                for platform, views in profile.identities.items()
            },
            phones=[IdentityOut.model_validate(view) for view in profile.phones],
            follows=[FollowOut.model_validate(view) for view in profile.follows],
            orders=[OrderOut.model_validate(view) for view in profile.orders],
            refunds=[RefundOut.model_validate(refund) for refund in profile.refunds],
            coupons=[CouponOut.model_validate(coupon) for coupon in profile.coupons],
            stats=StatsOut.model_validate(profile.stats),
            merges=[MergeOut.of(merge) for merge in profile.merges],
            reviews=[review.id for review in profile.reviews],
            tags=profile.tags,
        )


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    channel: str
    kind: str
    title: str
    detail: dict[str, Any]


class MergeRequest(BaseModel):
    other_id: str = Field(min_length=1, max_length=32, description="the customer to merge with this one")


class IdentitySettingsIn(BaseModel):
    auto_merge_threshold: float = Field(ge=0.0, le=1.0)
    review_threshold: float = Field(ge=0.0, le=1.0)
    max_cluster_nodes: int = Field(ge=2, le=10_000)
    max_accounts_per_key: int = Field(ge=1, le=10_000)


class IdentitySettingsOut(IdentitySettingsIn):
    pass
