"""What an identifier is worth: node kinds with their guard-rail policies, the deterministic rules,
and the derivation of nodes and links from stored orders and contacts.

Pure functions over plain facts (no SQL): `derive()` turns `OrderFacts` / `ContactFacts` into the
nodes they name and the links between them. The resolver decides the links.

Deterministic rules, by priority (a lower number is decided first):

0 `manual`                 a person merged the two customers
1 `same_account`           account ids named together by one order (Youzan buyer id + fans id + unionid…)
1 `contact_unionid`        a WeCom external contact and its WeChat unionid
3 `order_receiver_phone`   an order's buyer account and its full receiver phone (keyed hash)
3 `order_receiver_oaid`    a Taobao/Tmall buyer and the OAID of the order's receiver
3 `order_email`            an order's buyer account and the buyer's email (keyed hash)
3 `contact_remark_mobile`  a WeCom contact and the mobile a staff member wrote in its remark
4 `mask_of_phone`          a full phone and the masked form platforms show (138****5678) with
                           the same name initial (traditional folded to simplified)
5 `order_receiver_masked`  an order's buyer account and its masked receiver phone + initial
6 `probabilistic`          proposed by the matcher (haina.customers.matching) with its own score
9 `shared_device`          an account and a device id: evidence only, never merges on its own

Shared keys (a phone hash, a unionid, a masked phone + initial) join every record that names
them: that is "same phone hash", "same unionid", "an order's receiver phone = a contact's remark
mobile", "a Youzan buyer's unionid = a WeCom contact's unionid".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import zhconv

from haina.customers.models import record_id


class Kind(StrEnum):
    PHONE_HASH = "phone_hash"
    PHONE_MASKED = "phone_masked"  # "138****5678|陈": the 7 digits platforms show + the name initial
    EMAIL_HASH = "email_hash"
    WECOM_EXTERNAL_USERID = "wecom_external_userid"
    UNIONID = "unionid"
    TAOBAO_OPEN_UID = "taobao_open_uid"
    TAOBAO_OAID = "taobao_oaid"
    YOUZAN_BUYER = "youzan_buyer"
    YOUZAN_FANS = "youzan_fans"
    JD_BUYER = "jd_buyer"
    PDD_BUYER = "pdd_buyer"
    DOUYIN_BUYER = "douyin_buyer"
    POS_MEMBER = "pos_member"
    DEVICE_ID = "device_id"
    ORDER_REF = "order_ref"  # an order that names nothing else: its own anchor


@dataclass(frozen=True)
class KindPolicy:
    anchor_rank: int  # which identity of an order carries it: lower first
    is_exclusive: bool = False  # at most one per scope in a customer
    limit: int | None = None  # at most this many in a customer
    is_shared_key: bool = False  # many records may name it: watched for over-linking
    is_weak: bool = False  # never merges two customers on its own
    is_pii: bool = False  # `value` is a keyed hash; plaintext kept only encrypted


ACCOUNT_RANK = 10
POLICIES: dict[str, KindPolicy] = {
    Kind.WECOM_EXTERNAL_USERID: KindPolicy(5, is_exclusive=True),
    Kind.TAOBAO_OPEN_UID: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    Kind.YOUZAN_BUYER: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    Kind.YOUZAN_FANS: KindPolicy(ACCOUNT_RANK + 1, is_exclusive=True),
    Kind.JD_BUYER: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    Kind.PDD_BUYER: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    Kind.DOUYIN_BUYER: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    Kind.POS_MEMBER: KindPolicy(ACCOUNT_RANK, is_exclusive=True),
    # One WeChat identity per person; shared between a WeCom contact and a Youzan buyer.
    Kind.UNIONID: KindPolicy(20, is_exclusive=True, is_shared_key=True),
    Kind.PHONE_HASH: KindPolicy(30, limit=3, is_shared_key=True, is_pii=True),
    Kind.EMAIL_HASH: KindPolicy(31, limit=3, is_shared_key=True, is_pii=True),
    Kind.PHONE_MASKED: KindPolicy(40, limit=4, is_shared_key=True),
    Kind.TAOBAO_OAID: KindPolicy(50, limit=30, is_shared_key=True),
    Kind.DEVICE_ID: KindPolicy(90, is_shared_key=True, is_weak=True),
    Kind.ORDER_REF: KindPolicy(99, is_exclusive=True),
}
DEFAULT_POLICY = KindPolicy(ACCOUNT_RANK, is_exclusive=True)  # another platform's buyer id


def policy(kind: str) -> KindPolicy:
    return POLICIES.get(kind, DEFAULT_POLICY)


def is_account_kind(kind: str) -> bool:
    """Kinds that stand for one account of one person (a buyer id, a WeCom contact)."""
    return policy(kind).is_exclusive and kind not in (Kind.UNIONID, Kind.ORDER_REF)


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    score: float


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("manual", 0, 1.0),
        Rule("review_accepted", 0, 1.0),
        Rule("same_account", 1, 1.0),
        Rule("contact_unionid", 1, 1.0),
        Rule("order_receiver_phone", 3, 0.95),
        Rule("order_receiver_oaid", 3, 0.95),
        Rule("order_email", 3, 0.95),
        Rule("contact_remark_mobile", 3, 0.95),
        Rule("mask_of_phone", 4, 0.92),
        Rule("order_receiver_masked", 5, 0.9),
        Rule("probabilistic", 6, 0.0),
        Rule("shared_device", 9, 0.3),
    )
}
HUMAN_RULES = frozenset({"manual", "review_accepted"})


def rule_priority(rule: str) -> int:
    found = RULES.get(rule)
    return found.priority if found is not None else 7


# ---------------------------------------------------------------------------------------------
# Values


MASKED_MOBILE = re.compile(r"^(1\d{2})\*{4}(\d{4})$")


def masked_mobile(text: str) -> str:
    """'138****5678' when the text shows 7 digits of a mobile that way (full or masked); else ''."""
    text = (text or "").strip()
    match = MASKED_MOBILE.match(text)
    if match:
        return text
    digits = re.sub(r"\D", "", text)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if "*" not in text and len(digits) == 11 and digits.startswith("1"):
        return digits[:3] + "****" + digits[-4:]
    return ""


def name_initial(name: str) -> str:
    """The first character of a name as platforms keep it when masking ('陳**' → '陈'), folded
    to simplified Chinese and lower case; '' when unknown."""
    name = (name or "").strip()
    if not name or name[0] == "*":
        return ""
    return zhconv.convert(name[0], "zh-cn").casefold()


def is_full_name(name: str) -> bool:
    return bool(name) and "*" not in name


def node_id(tenant_id: str, kind: str, value: str) -> str:
    return record_id("identity_node", tenant_id, kind, value)


def link_id(tenant_id: str, node_a: str, node_b: str, rule: str) -> str:
    first, second = sorted((node_a, node_b))
    return record_id("identity_link", tenant_id, first, second, rule)


BUYER_ID_KINDS = {
    "youzan": Kind.YOUZAN_BUYER,
    "jd": Kind.JD_BUYER,
    "pdd": Kind.PDD_BUYER,
    "douyin": Kind.DOUYIN_BUYER,
}


def kind_of_buyer_identity(platform: str, kind: str, is_masked: bool) -> str | None:
    """The node kind of a stored buyer identity (platform, kind); None when it makes no node by
    itself (a masked phone: it needs the receiver's initial, see `derive`)."""
    if kind == "phone":
        return None if is_masked else Kind.PHONE_HASH
    if kind == "email":
        return None if is_masked else Kind.EMAIL_HASH
    if kind == "unionid":
        return Kind.UNIONID
    if kind == "external_userid":
        return Kind.WECOM_EXTERNAL_USERID
    if kind == "open_uid":
        return Kind.TAOBAO_OPEN_UID
    if kind == "oaid":
        return Kind.TAOBAO_OAID
    if kind == "fans_id":
        return Kind.YOUZAN_FANS
    if kind == "pos_member":
        return Kind.POS_MEMBER
    if kind == "device_id":
        return Kind.DEVICE_ID
    if kind == "buyer_id":
        return BUYER_ID_KINDS.get(platform, f"{platform}_buyer")
    return None


def buyer_identity_sources(node_kind: str, value: str) -> list[tuple[str, str]]:
    """The (platform, buyer-identity kind) pairs a node's value may be stored under, to find the
    `buyer_identities` rows that mirror its customer."""
    from haina.platforms.canonical import Platform

    everywhere = [platform.value for platform in Platform]
    if node_kind == Kind.PHONE_HASH:
        return [(platform, "phone") for platform in everywhere]
    if node_kind == Kind.EMAIL_HASH:
        return [(platform, "email") for platform in everywhere]
    if node_kind == Kind.UNIONID:
        return [(platform, "unionid") for platform in everywhere]
    if node_kind == Kind.TAOBAO_OPEN_UID:
        return [("taobao", "open_uid"), ("tmall", "open_uid")]
    if node_kind == Kind.TAOBAO_OAID:
        return [("taobao", "oaid"), ("tmall", "oaid")]
    if node_kind == Kind.YOUZAN_FANS:
        return [("youzan", "fans_id")]
    if node_kind == Kind.POS_MEMBER:
        return [("pos", "pos_member")]
    if node_kind == Kind.DEVICE_ID:
        return [(platform, "device_id") for platform in everywhere]
    if node_kind.endswith("_buyer"):
        return [(node_kind.removesuffix("_buyer"), "buyer_id")]
    return []


# ---------------------------------------------------------------------------------------------
# Facts in, nodes and links out


@dataclass(frozen=True)
class BuyerFact:
    """A stored buyer identity as an order names it."""

    identity_id: str
    platform: str
    kind: str
    value: str  # keyed hash for full phones and emails
    is_masked: bool
    shop_id: str = ""
    plaintext: str | None = None  # decrypted PII, when the caller could decrypt it


@dataclass
class OrderFacts:
    order_id: str
    platform: str
    shop_id: str
    receiver_name: str = ""
    receiver_phone_hash: str | None = None
    receiver_phone_masked: str = ""
    receiver_phone_plain: str | None = None
    buyer_nick: str = ""
    buyers: list[BuyerFact] = field(default_factory=list)


@dataclass
class FollowFacts:
    staff_userid: str
    remark: str
    mobile_hashes: list[str]
    mobiles: list[str] | None = None  # plaintext, when the caller could decrypt them


@dataclass
class ContactFacts:
    contact_id: str
    corp_id: str
    external_userid: str
    name: str = ""
    unionid: str = ""
    follows: list[FollowFacts] = field(default_factory=list)


@dataclass
class NodeSpec:
    id: str
    kind: str
    value: str
    scope: str = ""
    platform: str = ""
    display: str = ""
    label: str = ""
    plaintext: str | None = None  # PII to store encrypted
    identity_ids: set[str] = field(default_factory=set)  # the buyer identities stored as this node

    def offer_label(self, name: str) -> None:
        """Keep the best name seen: a full name beats a masked one, a longer one a shorter one."""
        name = (name or "").strip()[:100]
        if not name:
            return
        mine = (is_full_name(self.label), len(self.label))
        theirs = (is_full_name(name), len(name))
        if theirs > mine:
            self.label = name


@dataclass
class LinkSpec:
    id: str
    node_a: str
    node_b: str
    rule: str
    score: float
    evidence_type: str
    evidence_id: str
    evidence_count: int = 1


@dataclass
class Derived:
    nodes: dict[str, NodeSpec] = field(default_factory=dict)
    links: dict[str, LinkSpec] = field(default_factory=dict)
    order_anchor: dict[str, str] = field(default_factory=dict)  # order id → anchor node id
    contact_anchor: dict[str, str] = field(default_factory=dict)  # contact id → node id

    def node(self, tenant_id: str, kind: str, value: str, **details: str | None) -> NodeSpec:
        identifier = node_id(tenant_id, kind, value)
        found = self.nodes.get(identifier)
        if found is None:
            found = self.nodes[identifier] = NodeSpec(id=identifier, kind=kind, value=value)
        for name, detail in details.items():
            if detail and not getattr(found, name):
                setattr(found, name, detail)
        return found

    def link(
        self, tenant_id: str, a: NodeSpec, b: NodeSpec, rule: str, evidence_type: str, evidence_id: str
    ) -> None:
        if a.id == b.id:
            return
        identifier = link_id(tenant_id, a.id, b.id, rule)
        found = self.links.get(identifier)
        if found is not None:
            found.evidence_count += 1
            return
        first, second = sorted((a.id, b.id))
        self.links[identifier] = LinkSpec(
            identifier, first, second, rule, RULES[rule].score, evidence_type, evidence_id
        )


def _order_rule(anchor_kind: str, other_kind: str) -> str:
    if other_kind == Kind.PHONE_HASH:
        return "order_receiver_phone"
    if other_kind == Kind.TAOBAO_OAID:
        return "order_receiver_oaid"
    if other_kind == Kind.EMAIL_HASH:
        return "order_email"
    if other_kind == Kind.PHONE_MASKED:
        return "order_receiver_masked"
    if other_kind == Kind.DEVICE_ID:
        return "shared_device"
    return "same_account"


def derive(tenant_id: str, orders: Iterable[OrderFacts], contacts: Iterable[ContactFacts] = ()) -> Derived:
    """The nodes and links a set of orders and contacts shows (each order: a star from its anchor)."""
    derived = Derived()
    for order in orders:
        _derive_order(tenant_id, derived, order)
    for contact in contacts:
        _derive_contact(tenant_id, derived, contact)
    return derived


def _derive_order(tenant_id: str, derived: Derived, order: OrderFacts) -> None:
    name = order.receiver_name
    initial = name_initial(name)
    named: list[NodeSpec] = []
    phone_node: NodeSpec | None = None
    for buyer in order.buyers:
        kind = kind_of_buyer_identity(buyer.platform, buyer.kind, buyer.is_masked)
        if kind is None:
            continue
        spec = policy(kind)
        scope = ""
        if spec.is_exclusive and kind != Kind.UNIONID:
            scope = f"{buyer.platform}:{buyer.shop_id or order.shop_id}"
        display = buyer.value if not spec.is_pii else ""
        node = derived.node(
            tenant_id, kind, buyer.value, scope=scope, platform=buyer.platform, display=display[:128]
        )
        node.identity_ids.add(buyer.identity_id)
        if spec.is_pii and buyer.plaintext:
            node.plaintext = node.plaintext or buyer.plaintext
            if kind == Kind.PHONE_HASH:
                node.display = node.display or masked_mobile(buyer.plaintext)
        if kind == Kind.PHONE_HASH:
            phone_node = node
        named.append(node)
    if phone_node is None and order.receiver_phone_hash:
        phone_node = derived.node(
            tenant_id, Kind.PHONE_HASH, order.receiver_phone_hash, display=order.receiver_phone_masked
        )
        if order.receiver_phone_plain:
            phone_node.plaintext = phone_node.plaintext or order.receiver_phone_plain
        named.append(phone_node)
    if phone_node is not None and not phone_node.display:
        phone_node.display = masked_mobile(order.receiver_phone_masked)
    mask = masked_mobile(order.receiver_phone_masked)
    masked_node: NodeSpec | None = None
    if mask:
        masked_node = derived.node(
            tenant_id,
            Kind.PHONE_MASKED,
            f"{mask}|{initial}",
            display=mask + (f" · {initial}" if initial else ""),
        )
        masked_node.offer_label(name)
    if phone_node is not None:
        phone_node.offer_label(name)
    anchor = min(named, key=lambda node: (policy(node.kind).anchor_rank, node.id), default=None)
    if anchor is None:
        anchor = masked_node
    if anchor is None:
        anchor = derived.node(
            tenant_id, Kind.ORDER_REF, order.order_id, scope=order.order_id, platform=order.platform
        )
    anchor.offer_label(name if is_account_kind(anchor.kind) else "")
    if not anchor.platform:
        anchor.platform = order.platform
    derived.order_anchor[order.order_id] = anchor.id
    for node in named:
        if node is not anchor:
            derived.link(
                tenant_id, anchor, node, _order_rule(anchor.kind, node.kind), "order", order.order_id
            )
    if masked_node is not None and masked_node is not anchor:
        if phone_node is not None:
            # A full phone and how other platforms show it: joins the masked orders of that phone.
            if initial:
                derived.link(tenant_id, phone_node, masked_node, "mask_of_phone", "order", order.order_id)
        elif anchor.kind != Kind.ORDER_REF:
            derived.link(tenant_id, anchor, masked_node, "order_receiver_masked", "order", order.order_id)


def _derive_contact(tenant_id: str, derived: Derived, contact: ContactFacts) -> None:
    anchor = derived.node(
        tenant_id,
        Kind.WECOM_EXTERNAL_USERID,
        contact.external_userid,
        scope=contact.corp_id,
        platform="wecom",
        display=contact.external_userid[:128],
    )
    derived.contact_anchor[contact.contact_id] = anchor.id
    remark_names = [follow.remark for follow in contact.follows if follow.remark]
    for remark in remark_names:
        anchor.offer_label(_remark_name(remark))
    anchor.offer_label(contact.name)
    if contact.unionid:
        unionid = derived.node(tenant_id, Kind.UNIONID, contact.unionid, display=contact.unionid[:128])
        derived.link(tenant_id, anchor, unionid, "contact_unionid", "contact", contact.contact_id)
    for follow in contact.follows:
        plain = follow.mobiles or []
        # The remark is what a guide wrote (usually the real name); the WeChat name may be one too.
        initials = [name_initial(_remark_name(follow.remark)), name_initial(contact.name)]
        for index, mobile_hash in enumerate(follow.mobile_hashes):
            phone = derived.node(tenant_id, Kind.PHONE_HASH, mobile_hash)
            mobile = plain[index] if index < len(plain) else None
            if mobile:
                phone.plaintext = phone.plaintext or mobile
                phone.display = phone.display or masked_mobile(mobile)
            phone.offer_label(_remark_name(follow.remark))
            derived.link(tenant_id, anchor, phone, "contact_remark_mobile", "contact", contact.contact_id)
            mask = masked_mobile(mobile or "")
            for initial in dict.fromkeys(initials):
                if mask and initial:
                    masked = derived.node(
                        tenant_id, Kind.PHONE_MASKED, f"{mask}|{initial}", display=f"{mask} · {initial}"
                    )
                    derived.link(tenant_id, phone, masked, "mask_of_phone", "contact", contact.contact_id)


_REMARK_SUFFIX = re.compile(r"[-－—·\s].*$")


def _remark_name(remark: str) -> str:
    """The name part of a staff member's remark ('陈晓-南京西路店' → '陈晓')."""
    return _REMARK_SUFFIX.sub("", (remark or "").strip())


def best_anchor(kinds_and_ids: Sequence[tuple[str, str]]) -> str | None:
    """The node that best stands for a customer (an account before a phone), by (kind, id)."""
    ranked = sorted(kinds_and_ids, key=lambda item: (policy(item[0]).anchor_rank, item[1]))
    return ranked[0][1] if ranked else None
