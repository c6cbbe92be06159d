"""The platform-neutral world the sandbox serves: one merchant, its staff, shops, products,
customers' platform accounts, orders, refunds, coupons, WeCom contacts, groups and chats.

The generator (`generator.py`) produces these records; each emulator translates them into its
platform's own wire format. Money is integer fen; times are timezone-aware UTC datetimes.
The ground truth (which accounts are one person) lives in `Person` and `*.person_id`, which no
emulator ever exposes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# Platforms the sandbox emulates. "tmall" shops are served by the Taobao TOP emulator.
PLATFORMS = ("wecom", "taobao", "tmall", "youzan", "jd", "pdd", "douyin", "pos")
SHOP_PLATFORMS = ("taobao", "tmall", "youzan", "jd", "pdd", "douyin", "pos")

# Platform-neutral order states; each emulator maps them onto its own status codes.
ORDER_STATES = ("pending_payment", "paid", "shipped", "completed", "closed", "refunded", "partially_refunded")


@dataclass(slots=True)
class Staff:
    userid: str
    name: str
    mobile: str
    department: int = 1
    position: str = "导购"


@dataclass(slots=True)
class Shop:
    shop_id: str
    platform: str
    name: str
    # Credentials the emulator checks; a connector is configured with the same values.
    app_key: str = ""
    app_secret: str = ""


@dataclass(slots=True)
class Product:
    sku_id: str
    title: str
    category: str  # beauty / mother_baby / appliance / snacks
    price_fen: int
    outer_sku: str = ""


@dataclass(slots=True)
class Person:
    """Ground truth: one real human. Never served by an emulator."""

    person_id: str
    name: str
    phone: str
    gender: int  # 0 unknown, 1 male, 2 female
    province: str
    city: str
    district: str
    street: str
    birth_date: str  # YYYY-MM-DD
    household_device_id: str


@dataclass(slots=True)
class Account:
    """One person's account on one platform (or one shop of it), as the platform sees it."""

    account_id: str
    person_id: str
    platform: str
    shop_id: str
    buyer_id: str  # platform buyer id: open_uid, fans id, pin, pdd/douyin buyer id, POS member no
    nickname: str
    name: str  # as written on this platform (may be traditional, a typo, or a nickname)
    phone: str  # full or masked (138****5678), possibly a different number of the same person
    province: str
    city: str
    district: str
    address: str  # street part, written the platform's way
    device_id: str
    unionid: str = ""
    oaid: str = ""  # Taobao/Tmall OAID for masked receiver data
    email: str = ""
    created_at: datetime | None = None


@dataclass(slots=True)
class OrderLine:
    line_id: str
    sku_id: str
    title: str
    quantity: int
    price_fen: int  # unit price
    outer_sku: str = ""


@dataclass(slots=True)
class Order:
    order_id: str
    platform: str
    shop_id: str
    account_id: str
    buyer_id: str
    status: str  # one of ORDER_STATES
    created_at: datetime
    modified_at: datetime
    lines: list[OrderLine]
    total_fen: int  # sum of lines + freight, before discount
    discount_fen: int
    freight_fen: int
    paid_fen: int  # what the buyer paid = total - discount
    receiver_name: str
    receiver_phone: str
    province: str
    city: str
    district: str
    address: str
    paid_at: datetime | None = None
    shipped_at: datetime | None = None
    finished_at: datetime | None = None
    coupon_id: str = ""
    buyer_message: str = ""
    oaid: str = ""
    version: int = 1  # bumped on every change; modified_at moves with it


@dataclass(slots=True)
class Refund:
    refund_id: str
    order_id: str
    platform: str
    shop_id: str
    amount_fen: int
    reason: str
    status: str  # requested / agreed / refused / completed
    created_at: datetime
    modified_at: datetime
    line_id: str = ""


@dataclass(slots=True)
class Coupon:
    coupon_id: str
    platform: str
    shop_id: str
    title: str
    kind: str  # threshold (满减) / discount (折扣) / cash (无门槛)
    threshold_fen: int  # 0 when unconditional
    value_fen: int  # reduction in fen for threshold / cash
    discount_percent: int  # e.g. 85 for 8.5折; 0 when not a discount coupon
    starts_at: datetime
    ends_at: datetime
    total: int = 1000
    issued: int = 0


@dataclass(slots=True)
class FollowUser:
    userid: str
    remark: str
    description: str
    createtime: datetime
    tag_ids: list[str] = field(default_factory=list)
    remark_mobiles: list[str] = field(default_factory=list)
    add_way: int = 1
    state: str = ""
    oper_userid: str = ""


@dataclass(slots=True)
class ExternalContact:
    external_userid: str
    person_id: str
    name: str
    type: int  # 1 WeChat user, 2 WeCom user
    gender: int
    unionid: str
    avatar: str
    follow_users: list[FollowUser] = field(default_factory=list)
    created_at: datetime | None = None


@dataclass(slots=True)
class CorpTag:
    tag_id: str
    name: str
    order: int
    create_time: datetime
    deleted: bool = False


@dataclass(slots=True)
class CorpTagGroup:
    group_id: str
    group_name: str
    order: int
    create_time: datetime
    tags: list[CorpTag] = field(default_factory=list)
    deleted: bool = False


@dataclass(slots=True)
class GroupMember:
    userid: str  # staff userid or external_userid
    type: int  # 1 staff, 2 external contact
    join_time: datetime
    join_scene: int = 1
    invitor: str = ""
    unionid: str = ""


@dataclass(slots=True)
class GroupChat:
    chat_id: str
    name: str
    owner: str
    create_time: datetime
    notice: str = ""
    status: int = 0
    members: list[GroupMember] = field(default_factory=list)
    admin_list: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ChatMessage:
    """One archived WeCom chat message (会话存档), before encryption."""

    seq: int
    msgid: str
    action: str  # send / recall / switch
    sender: str  # staff userid or external_userid
    tolist: list[str]
    roomid: str
    msgtime: datetime
    msgtype: str
    content: dict  # the type-specific body, e.g. {"content": "..."} for text
    publickey_ver: int = 1


@dataclass(slots=True)
class PosMember:
    member_no: str
    person_id: str
    store_id: str
    name: str
    phone: str
    created_at: datetime
    points: int = 0


@dataclass(slots=True)
class World:
    """Everything one seeded merchant has. Held in memory by the emulators."""

    seed: int
    merchant_name: str
    corp_id: str
    corp_secret: str
    callback_token: str
    callback_aes_key: str  # 43 characters, WXBizMsgCrypt EncodingAESKey
    staff: list[Staff] = field(default_factory=list)
    shops: list[Shop] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    coupons: list[Coupon] = field(default_factory=list)
    contacts: list[ExternalContact] = field(default_factory=list)
    tag_groups: list[CorpTagGroup] = field(default_factory=list)
    groups: list[GroupChat] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)
    pos_members: list[PosMember] = field(default_factory=list)

    def shop(self, shop_id: str) -> Shop:
        for shop in self.shops:
            if shop.shop_id == shop_id:
                return shop
        raise KeyError(shop_id)

    def shops_of(self, platform: str) -> list[Shop]:
        return [shop for shop in self.shops if shop.platform == platform]

    def orders_of(self, shop_id: str) -> list[Order]:
        return [order for order in self.orders if order.shop_id == shop_id]
