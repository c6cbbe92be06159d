"""The one vocabulary every platform is translated into: plain typed shapes, no storage.

Each platform's `mapping.py` turns raw payloads into these; `haina.customers` stores them.
Money is integer fen; times are timezone-aware UTC. Identifiers keep the platform's own form,
including masked ones (``138****5678``) and OAIDs, flagged as such.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Platform(StrEnum):
    WECOM = "wecom"
    TAOBAO = "taobao"
    TMALL = "tmall"
    YOUZAN = "youzan"
    JD = "jd"
    PDD = "pdd"
    DOUYIN = "douyin"
    POS = "pos"


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CLOSED = "closed"


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    AGREED = "agreed"
    REFUSED = "refused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class IdentityKind(StrEnum):
    PHONE = "phone"
    UNIONID = "unionid"
    EXTERNAL_USERID = "external_userid"  # WeCom external contact
    OPEN_UID = "open_uid"  # Taobao/Tmall buyer open uid
    OAID = "oaid"  # Taobao/Tmall receiver OAID
    BUYER_ID = "buyer_id"  # Youzan/JD/PDD/Douyin buyer ids
    FANS_ID = "fans_id"  # Youzan fans id
    POS_MEMBER = "pos_member"
    DEVICE_ID = "device_id"
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class BuyerIdentity:
    platform: str
    kind: str  # an IdentityKind value
    value: str
    shop_id: str = ""
    is_masked: bool = False  # e.g. 138****5678: usable for compatibility checks only


@dataclass(frozen=True, slots=True)
class Address:
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""


@dataclass(slots=True)
class OrderLine:
    external_id: str
    sku_id: str
    title: str
    quantity: int
    unit_price_fen: int
    outer_sku: str = ""


@dataclass(slots=True)
class Order:
    platform: str
    shop_id: str
    external_id: str
    status: str  # an OrderStatus value
    platform_status: str  # the platform's own status code, kept for support
    total_fen: int  # goods + freight, before discounts
    discount_fen: int
    freight_fen: int
    paid_fen: int
    created_at: datetime
    modified_at: datetime
    buyer: list[BuyerIdentity] = field(default_factory=list)
    buyer_nick: str = ""
    receiver_name: str = ""
    receiver_phone: str = ""  # as the platform gives it (full, masked or empty)
    receiver_address: Address = field(default_factory=Address)
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    finished_at: datetime | None = None
    lines: list[OrderLine] = field(default_factory=list)
    coupon_ids: list[str] = field(default_factory=list)
    # Orders of one object id are ordered by (modified_at, version): the latest wins.
    version: int = 0


@dataclass(slots=True)
class Refund:
    platform: str
    shop_id: str
    external_id: str
    order_external_id: str
    amount_fen: int
    status: str  # a RefundStatus value
    reason: str
    created_at: datetime
    modified_at: datetime
    order_line_external_id: str = ""
    version: int = 0


@dataclass(slots=True)
class FollowRelation:
    """A staff member who follows a WeCom external contact (外部联系人的跟进人)."""

    staff_userid: str
    remark: str = ""
    description: str = ""
    remark_mobiles: list[str] = field(default_factory=list)
    tag_ids: list[str] = field(default_factory=list)
    add_channel_state: str = ""  # the `state` of the channel live code used to add
    add_way: int = 0
    created_at: datetime | None = None


@dataclass(slots=True)
class Contact:
    corp_id: str
    external_userid: str
    name: str
    type: int = 1  # 1 WeChat user, 2 WeCom user
    gender: int = 0
    unionid: str = ""
    avatar: str = ""
    follows: list[FollowRelation] = field(default_factory=list)
    is_deleted: bool = False
    modified_at: datetime | None = None
    # False when `follows` is only part of the list (WeCom's batch API lists a customer once per
    # following member; a callback names one member): relations missing here are not ended.
    follows_complete: bool = True
    # False when only the ids are known (a callback): stored name, gender… are kept as they are.
    profile_known: bool = True


@dataclass(slots=True)
class GroupMember:
    member_id: str  # staff userid or external_userid
    type: int  # 1 staff, 2 external contact
    joined_at: datetime | None = None
    unionid: str = ""


@dataclass(slots=True)
class Group:
    corp_id: str
    chat_id: str
    name: str
    owner: str
    created_at: datetime | None = None
    members: list[GroupMember] = field(default_factory=list)
    is_dismissed: bool = False


@dataclass(slots=True)
class Coupon:
    platform: str
    shop_id: str
    external_id: str
    title: str
    kind: str  # threshold / discount / cash
    threshold_fen: int
    value_fen: int
    discount_percent: int
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @property
    def label(self) -> str:
        """The one form a guide sees, whatever the platform: 满199减30, 8.5折, 无门槛减10."""
        if self.kind == "discount":
            return f"{self.discount_percent / 10:g}折"
        if self.threshold_fen:
            return f"满{self.threshold_fen / 100:g}减{self.value_fen / 100:g}"
        return f"无门槛减{self.value_fen / 100:g}"


@dataclass(slots=True)
class ContactRemoved:
    """A contact relation ended: the customer deleted the staff member, or the reverse."""

    corp_id: str
    external_userid: str
    staff_userid: str
    by_customer: bool
    at: datetime | None = None


CanonicalRecord = Order | Refund | Contact | Group | Coupon | ContactRemoved
