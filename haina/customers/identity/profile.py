"""The customer 360: search, the profile, the journey timeline and the WeCom sidebar view.

Reads only. Everything a customer has hangs off its identity nodes: orders through
`order_owners` (and, for an order stored a moment ago whose resolution has not run yet, through
its buyer identities' `customer_id`), contacts through `contacts.customer_id`, refunds and
coupons through the orders.

Data scopes: an agent sees only the customers they follow (an active follow relation of one of
the customer's WeCom contacts, by the agent's WeCom userid); any other customer answers 404,
like another tenant's. Phones are shown masked unless the role may read PII; an unmasked read
is written to the audit log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.permissions import DataScope
from haina.core.crypto import DecryptionError, cipher_for, keyed_hash
from haina.core.errors import NotFound
from haina.core.settings import Settings
from haina.customers.identity import repository, rules
from haina.customers.identity.models import (
    Customer,
    CustomerMerge,
    CustomerStatus,
    IdentityNode,
    IdentityReview,
    OrderOwner,
    ReviewStatus,
)
from haina.customers.identity.rules import Kind, policy
from haina.customers.identity.service import NODE_VALUE_CONTEXT
from haina.customers.models import (
    Contact,
    ContactFollow,
    Coupon,
    Order,
    OrderBuyer,
    OrderLine,
    Refund,
)

# Kinds a platform id typed into the search box may be.
ID_KINDS = tuple(
    kind.value
    for kind in Kind
    if kind not in (Kind.PHONE_HASH, Kind.EMAIL_HASH, Kind.PHONE_MASKED, Kind.DEVICE_ID, Kind.ORDER_REF)
)
PHONE_QUERY = re.compile(r"^\+?(86)?1\d{10}$")
MASKED_QUERY = re.compile(r"^1\d{2}\*{4}\d{4}$")
ACCOUNT_IDENTITY_KINDS = ("open_uid", "buyer_id", "fans_id", "unionid", "pos_member", "external_userid")

# Channels of the timeline.
CHANNELS = ("wecom", "taobao", "tmall", "youzan", "jd", "pdd", "douyin", "pos", "system", "tags")


def _tag_names(session: Session, tenant_id: str, customer_id: str) -> list[str]:
    """The customer's tags (the tags module depends on this one: imported when used)."""
    from haina.tags import service as tags

    return [item.name for item in tags.tags_of_customers(session, tenant_id, [customer_id])[customer_id]]


# ---------------------------------------------------------------------------------------------
# Visibility


def visible_customer_ids(session: Session, actor: Actor) -> set[str] | None:
    """None: every customer of the tenant; else the ids this actor may see."""
    if actor.scope != DataScope.FOLLOWED_CUSTOMERS:
        return None
    user = session.get(User, actor.user_id)
    staff_userid = user.wecom_userid if user is not None else None
    if not staff_userid:
        return set()
    statement = (
        select(Contact.customer_id)
        .join(
            ContactFollow,
            and_(ContactFollow.tenant_id == Contact.tenant_id, ContactFollow.contact_id == Contact.id),
        )
        .where(
            Contact.tenant_id == actor.tenant_id,
            ContactFollow.staff_userid == staff_userid,
            ContactFollow.is_active.is_(True),
            Contact.customer_id.is_not(None),
        )
    )
    return {customer_id for customer_id in session.scalars(statement) if customer_id}


def get_customer(session: Session, actor: Actor, customer_id: str) -> Customer:
    """A customer this actor may see; another tenant's or an unfollowed one answers NotFound."""
    customer = repository.CustomerRepository(session, actor.tenant_id).get(customer_id)
    visible = visible_customer_ids(session, actor)
    if visible is not None and customer.id not in visible:
        raise NotFound(f"customer {customer_id} not found", code="not_found")
    return customer


# ---------------------------------------------------------------------------------------------
# Search


def search_customers(
    session: Session,
    actor: Actor,
    query: str = "",
    *,
    settings: Settings,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Customer], int]:
    """Customers by name (any name seen), phone (full: by keyed hash; masked 138****5678), platform
    id (buyer id, open uid, external_userid, unionid…) or customer id; newest activity first."""
    query = (query or "").strip()[:100]
    visible = visible_customer_ids(session, actor)
    customers = repository.CustomerRepository(session, actor.tenant_id)
    if not query:
        return customers.search(visible_ids=_listable(visible), limit=limit, offset=offset)
    nodes = repository.NodeRepository(session, actor.tenant_id)
    ids: set[str] = set()
    compact = query.replace(" ", "").replace("-", "")
    if PHONE_QUERY.match(compact):
        phone_hash = keyed_hash(compact, settings.hash_key)
        ids |= {
            node.customer_id for node in nodes.find([Kind.PHONE_HASH.value], [phone_hash]) if node.customer_id
        }
        compact = rules.masked_mobile(compact)
    if MASKED_QUERY.match(compact):
        ids |= {
            node.customer_id
            for node in nodes.find_prefix(Kind.PHONE_MASKED.value, compact + "|")
            if node.customer_id
        }
    ids |= {node.customer_id for node in nodes.find(ID_KINDS, [query]) if node.customer_id}
    if len(query) == 32:
        ids.add(query)
    text_query = query if not PHONE_QUERY.match(query.replace(" ", "")) else ""
    return customers.search(
        text_query=text_query, ids=sorted(ids), visible_ids=_listable(visible), limit=limit, offset=offset
    )


def _listable(visible: set[str] | None) -> list[str] | None:
    return sorted(visible) if visible is not None else None


# ---------------------------------------------------------------------------------------------
# Profile


@dataclass
class IdentityView:
    node_id: str
    kind: str
    platform: str
    display: str  # masked for PII, unless revealed
    label: str
    is_blocked: bool
    is_revealed: bool = False


@dataclass
class OrderView:
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
    receiver_phone: str  # masked
    address: str
    titles: list[str] = field(default_factory=list)
    coupon_ids: list[str] = field(default_factory=list)


@dataclass
class FollowView:
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
    # Who ended the relation: True the customer (del_follow_user), False the member
    # (del_external_contact, handovers included), None unknown.
    removed_by_customer: bool | None = None


@dataclass
class Stats:
    order_count: int = 0
    paid_order_count: int = 0
    lifetime_value_fen: int = 0
    refunded_fen: int = 0
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    platforms: list[str] = field(default_factory=list)


@dataclass
class Profile:
    customer: Customer
    identities: dict[str, list[IdentityView]]  # platform (or "common") → identities
    phones: list[IdentityView]
    follows: list[FollowView]
    orders: list[OrderView]
    refunds: list[Refund]
    coupons: list[Coupon]
    stats: Stats
    merges: list[CustomerMerge]
    reviews: list[IdentityReview]
    tags: list[str] = field(default_factory=list)  # the tag module fills these in


PAID = {"paid", "shipped", "completed", "partially_refunded", "refunded"}


def _identity_view(node: IdentityNode) -> IdentityView:
    return IdentityView(
        node_id=node.id,
        kind=node.kind,
        platform=node.platform
        or ("wecom" if node.kind in (Kind.WECOM_EXTERNAL_USERID, Kind.UNIONID) else ""),
        display=node.display or ("" if policy(node.kind).is_pii else node.value),
        label=node.label,
        is_blocked=node.is_blocked,
    )


def customer_orders(
    session: Session, tenant_id: str, customer_id: str, *, limit: int | None = None
) -> list[Order]:
    """The customer's orders, newest first: owned ones, and ones stored so recently that their
    resolution has not run yet but whose buyer account is known to be this customer's.

    Each step is a lookup by a tenant-led key (no join left to the planner), so the sidebar
    stays fast while a new tenant's statistics are still stale."""
    owned = select(OrderOwner.order_id).where(
        OrderOwner.tenant_id == tenant_id, OrderOwner.customer_id == customer_id
    )
    order_ids = set(session.scalars(owned))
    identity_ids = [
        repository.buyer_identity_id_for(tenant_id, platform, kind, node.value)
        for node in repository.NodeRepository(session, tenant_id).of_customers([customer_id])
        if rules.is_account_kind(node.kind) or node.kind == Kind.UNIONID
        for platform, kind in rules.buyer_identity_sources(node.kind, node.value)
    ]
    named: set[str] = set()
    for part in _chunks(identity_ids):
        named.update(
            session.scalars(
                select(OrderBuyer.order_id).where(
                    OrderBuyer.tenant_id == tenant_id, OrderBuyer.buyer_identity_id.in_(part)
                )
            )
        )
    unowned = sorted(named - order_ids)
    for part in _chunks(unowned):
        resolved = select(OrderOwner.order_id).where(
            OrderOwner.tenant_id == tenant_id, OrderOwner.order_id.in_(part)
        )
        order_ids.update(set(part) - set(session.scalars(resolved)))
    orders: list[Order] = []
    for part in _chunks(sorted(order_ids)):
        orders.extend(session.scalars(select(Order).where(Order.tenant_id == tenant_id, Order.id.in_(part))))
    ranked = sorted(orders, key=lambda order: (order.created_at, order.id), reverse=True)
    return ranked[:limit] if limit is not None else ranked


def _order_views(session: Session, tenant_id: str, orders: Sequence[Order]) -> list[OrderView]:
    titles: dict[str, list[str]] = {}
    ids = [order.id for order in orders]
    for part in _chunks(ids):
        lines = session.execute(
            select(OrderLine.order_id, OrderLine.title, OrderLine.quantity)
            .where(OrderLine.tenant_id == tenant_id, OrderLine.order_id.in_(part))
            .order_by(OrderLine.order_id, OrderLine.position)
        )
        for line in lines:
            titles.setdefault(line.order_id, []).append(
                line.title + (f" ×{line.quantity}" if line.quantity > 1 else "")
            )
    return [
        OrderView(
            id=order.id,
            platform=order.platform,
            shop_id=order.shop_id,
            external_id=order.external_id,
            status=order.status,
            total_fen=order.total_fen,
            paid_fen=order.paid_fen,
            created_at=order.created_at,
            paid_at=order.paid_at,
            receiver_name=order.receiver_name,
            receiver_phone=order.receiver_phone_masked,
            address=" ".join(
                part
                for part in (order.receiver_province, order.receiver_city, order.receiver_district)
                if part
            ),
            titles=titles.get(order.id, []),
            coupon_ids=list(order.coupon_ids or []),
        )
        for order in orders
    ]


def _chunks(values: list[str], size: int = 2000) -> list[list[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


def _follows(session: Session, tenant_id: str, customer_id: str) -> list[FollowView]:
    statement = (
        select(Contact, ContactFollow)
        .join(
            ContactFollow,
            and_(ContactFollow.tenant_id == Contact.tenant_id, ContactFollow.contact_id == Contact.id),
        )
        .where(Contact.tenant_id == tenant_id, Contact.customer_id == customer_id)
        .order_by(ContactFollow.is_active.desc(), ContactFollow.created_at)
    )
    return [
        FollowView(
            contact_id=contact.id,
            external_userid=contact.external_userid,
            contact_name=contact.name,
            staff_userid=follow.staff_userid,
            remark=follow.remark,
            description=follow.description,
            added_at=follow.created_at,
            is_active=follow.is_active,
            removed_at=follow.removed_at,
            tag_ids=list(follow.tag_ids or []),
            removed_by_customer=follow.removed_by_customer,
        )
        for contact, follow in session.execute(statement)
    ]


def _refunds(session: Session, tenant_id: str, orders: Sequence[Order]) -> list[Refund]:
    keys = {(order.platform, order.shop_id, order.external_id) for order in orders}
    if not keys:
        return []
    found: list[Refund] = []
    for part in _chunks(sorted({order.external_id for order in orders})):
        statement = select(Refund).where(Refund.tenant_id == tenant_id, Refund.order_external_id.in_(part))
        found.extend(
            refund
            for refund in session.scalars(statement)
            if (refund.platform, refund.shop_id, refund.order_external_id) in keys
        )
    return sorted(found, key=lambda refund: (refund.created_at, refund.id), reverse=True)


def _coupons(session: Session, tenant_id: str, orders: Sequence[Order]) -> list[Coupon]:
    wanted = {
        (order.platform, order.shop_id, coupon) for order in orders for coupon in (order.coupon_ids or [])
    }
    if not wanted:
        return []
    statement = select(Coupon).where(
        Coupon.tenant_id == tenant_id, Coupon.external_id.in_(sorted({key[2] for key in wanted}))
    )
    return [
        coupon
        for coupon in session.scalars(statement)
        if (coupon.platform, coupon.shop_id, coupon.external_id) in wanted
    ]


def _stats(orders: Sequence[Order], refunds: Sequence[Refund]) -> Stats:
    paid = [order for order in orders if order.status in PAID or order.paid_at is not None]
    platforms = Counter(order.platform for order in orders)
    return Stats(
        order_count=len(orders),
        paid_order_count=len(paid),
        lifetime_value_fen=sum(order.paid_fen for order in paid),
        refunded_fen=sum(refund.amount_fen for refund in refunds if refund.status in ("agreed", "completed")),
        first_order_at=min((order.created_at for order in orders), default=None),
        last_order_at=max((order.created_at for order in orders), default=None),
        platforms=[platform for platform, _ in platforms.most_common()],
    )


def get_profile(
    session: Session, actor: Actor, customer_id: str, *, settings: Settings, reveal: bool = False
) -> Profile:
    """Everything known about one customer; with `reveal` (and pii.read) phones in full, audited."""
    customer = get_customer(session, actor, customer_id)
    tenant_id = actor.tenant_id
    nodes = repository.NodeRepository(session, tenant_id).of_customers([customer.id])
    if customer.status == CustomerStatus.MERGED.value:
        nodes = []
    identities: dict[str, list[IdentityView]] = {}
    phones: list[IdentityView] = []
    revealed = reveal and actor.may_see_pii
    cipher = cipher_for(settings.encryption_keys) if revealed else None
    for node in sorted(nodes, key=lambda node: (policy(node.kind).anchor_rank, node.kind, node.id)):
        view = _identity_view(node)
        if node.kind in (Kind.PHONE_HASH, Kind.EMAIL_HASH, Kind.PHONE_MASKED):
            if cipher is not None and node.value_encrypted:
                try:
                    view.display = cipher.decrypt(node.value_encrypted, context=NODE_VALUE_CONTEXT)
                    view.is_revealed = True
                except DecryptionError:
                    pass
            phones.append(view)
            continue
        if policy(node.kind).is_weak or node.kind == Kind.ORDER_REF:
            continue
        identities.setdefault(view.platform or "common", []).append(view)
    if revealed and any(view.is_revealed for view in phones):
        audit.record(session, "pii.read", actor=actor, target_type="customer.phone", target_id=customer.id)
    orders = customer_orders(session, tenant_id, customer.id)
    refunds = _refunds(session, tenant_id, orders)
    merges = repository.MergeRepository(session, tenant_id).of_customer(customer.id)
    node_ids = [node.id for node in nodes]
    reviews = [
        review
        for review in repository.ReviewRepository(session, tenant_id).open_touching(node_ids)
        if review.status == ReviewStatus.OPEN.value
    ]
    return Profile(
        customer=customer,
        identities=identities,
        phones=phones,
        follows=_follows(session, tenant_id, customer.id),
        orders=_order_views(session, tenant_id, orders),
        refunds=refunds,
        coupons=_coupons(session, tenant_id, orders),
        stats=_stats(orders, refunds),
        merges=merges,
        reviews=reviews,
        tags=_tag_names(session, tenant_id, customer.id),
    )


# ---------------------------------------------------------------------------------------------
# Timeline


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    channel: str  # a platform, "wecom" or "system"
    kind: str  # order.created, order.paid, order.shipped, order.finished, refund.created, contact.added…
    title: str
    detail: dict[str, Any]


def timeline(
    session: Session, actor: Actor, customer_id: str, *, channel: str | None = None, limit: int = 200
) -> list[TimelineEntry]:
    """Every touch point across channels, newest first; `channel` keeps one (e.g. "youzan")."""
    customer = get_customer(session, actor, customer_id)
    tenant_id = actor.tenant_id
    entries: list[TimelineEntry] = []
    orders = customer_orders(session, tenant_id, customer.id)
    for order in orders:
        detail = {
            "order_id": order.id,
            "external_id": order.external_id,
            "shop_id": order.shop_id,
            "paid_fen": order.paid_fen,
            "total_fen": order.total_fen,
            "status": order.status,
        }
        entries.append(
            TimelineEntry(order.created_at, order.platform, "order.created", order.external_id, detail)
        )
        for kind, moment in (
            ("order.paid", order.paid_at),
            ("order.shipped", order.shipped_at),
            ("order.finished", order.finished_at),
        ):
            if moment is not None:
                entries.append(TimelineEntry(moment, order.platform, kind, order.external_id, detail))
    for refund in _refunds(session, tenant_id, orders):
        entries.append(
            TimelineEntry(
                refund.created_at,
                refund.platform,
                "refund.created",
                refund.order_external_id,
                {
                    "refund_id": refund.id,
                    "amount_fen": refund.amount_fen,
                    "status": refund.status,
                    "reason": refund.reason,
                },
            )
        )
    for follow in _follows(session, tenant_id, customer.id):
        detail = {
            "staff_userid": follow.staff_userid,
            "remark": follow.remark,
            "external_userid": follow.external_userid,
        }
        if follow.added_at is not None:
            entries.append(
                TimelineEntry(follow.added_at, "wecom", "contact.added", follow.staff_userid, detail)
            )
        if follow.removed_at is not None:
            # Say who ended it: the customer deleted the member, or the member the customer.
            ended_by = (
                ""
                if follow.removed_by_customer is None
                else "customer"
                if follow.removed_by_customer
                else "staff"
            )
            kind = f"contact.removed_by_{ended_by}" if ended_by else "contact.removed"
            entries.append(
                TimelineEntry(
                    follow.removed_at, "wecom", kind, follow.staff_userid, {**detail, "ended_by": ended_by}
                )
            )
    for merge in repository.MergeRepository(session, tenant_id).of_customer(customer.id):
        detail = {
            "merge_id": merge.id,
            "survivor_id": merge.survivor_id,
            "absorbed_id": merge.absorbed_id,
            "rule": merge.rule,
            "score": merge.score,
            "actor": merge.actor_name,
        }
        entries.append(TimelineEntry(merge.created_at, "system", "customer.merged", merge.rule, detail))
        if merge.undone_at is not None:
            entries.append(
                TimelineEntry(
                    merge.undone_at,
                    "system",
                    "customer.unmerged",
                    merge.rule,
                    {**detail, "actor": merge.undone_by_name},
                )
            )
    from haina.tags import service as tags

    for change in tags.timeline_entries(session, tenant_id, customer.id, limit=limit):
        entries.append(TimelineEntry(change["at"], "tags", change["kind"], change["title"], change["detail"]))
    if channel:
        entries = [entry for entry in entries if entry.channel == channel]
    entries.sort(key=lambda entry: (entry.at, entry.kind), reverse=True)
    return entries[:limit]


# ---------------------------------------------------------------------------------------------
# The WeCom sidebar


@dataclass
class SidebarView:
    external_userid: str
    contact: Contact | None
    customer: Customer | None
    phone: str
    latest_orders: list[OrderView]  # newest overall
    by_platform: dict[str, OrderView]  # the newest order on each platform
    stats: Stats
    follows: list[FollowView]
    tags: list[str] = field(default_factory=list)
    open_tickets: list[Any] = field(default_factory=list)  # the tickets module fills these in


def sidebar(session: Session, actor: Actor, external_userid: str, *, latest: int = 5) -> SidebarView:
    """What the sidebar beside a WeCom chat shows for one external contact; fast (a handful of
    indexed queries)."""
    tenant_id = actor.tenant_id
    node_id = rules.node_id(tenant_id, Kind.WECOM_EXTERNAL_USERID, external_userid)
    nodes = repository.NodeRepository(session, tenant_id).by_ids([node_id])
    contact = session.scalar(
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.external_userid == external_userid)
        .limit(1)
    )
    customer_id = nodes[0].customer_id if nodes else (contact.customer_id if contact is not None else None)
    if customer_id is None:
        if contact is None:
            raise NotFound(f"no WeCom contact {external_userid} here", code="not_found")
        visible = visible_customer_ids(session, actor)
        if visible is not None:
            raise NotFound(f"no WeCom contact {external_userid} here", code="not_found")
        return SidebarView(external_userid, contact, None, "", [], {}, Stats(), [])
    customer = get_customer(session, actor, customer_id)
    if customer.status == CustomerStatus.MERGED.value and customer.merged_into_id:
        customer = get_customer(session, actor, customer.merged_into_id)
    orders = customer_orders(session, tenant_id, customer.id)
    newest: dict[str, Order] = {}
    for order in orders:
        newest.setdefault(order.platform, order)
    shown = list(dict.fromkeys([*orders[:latest], *newest.values()]))
    views = {view.id: view for view in _order_views(session, tenant_id, shown)}
    by_platform = {platform: views[order.id] for platform, order in newest.items()}
    return SidebarView(
        external_userid=external_userid,
        contact=contact,
        customer=customer,
        phone=customer.phone_masked,
        latest_orders=[views[order.id] for order in orders[:latest]],
        by_platform=by_platform,
        stats=_stats(orders, []),
        follows=_follows(session, tenant_id, customer.id),
        tags=_tag_names(session, tenant_id, customer.id),
    )


__all__ = [
    "CHANNELS",
    "ReviewCompare",
    "compare_review",
    "list_reviews",
    "Profile",
    "SidebarView",
    "TimelineEntry",
    "customer_orders",
    "get_customer",
    "get_profile",
    "search_customers",
    "sidebar",
    "timeline",
    "visible_customer_ids",
]


# ---------------------------------------------------------------------------------------------
# The review queue


def list_reviews(
    session: Session, tenant_id: str, *, status: str | None = "open", limit: int = 50, offset: int = 0
) -> tuple[list[IdentityReview], int, dict[str, str | None]]:
    """Review items (highest score first) and the customer each of their nodes belongs to now."""
    reviews, total = repository.ReviewRepository(session, tenant_id).listing(status or None, limit, offset)
    node_ids = sorted({node for review in reviews for node in (review.node_a, review.node_b)})
    customers = {
        node.id: node.customer_id for node in repository.NodeRepository(session, tenant_id).by_ids(node_ids)
    }
    return reviews, total, customers


@dataclass
class ReviewSide:
    node: IdentityNode | None
    customer: Customer | None
    orders: list[OrderView]
    identities: list[IdentityView]
    follows: list[FollowView]
    stats: Stats


@dataclass
class ReviewCompare:
    review: IdentityReview
    left: ReviewSide
    right: ReviewSide


def compare_review(session: Session, actor: Actor, review_id: str) -> ReviewCompare:
    """The two sides of a review item, side by side."""
    tenant_id = actor.tenant_id
    review = repository.ReviewRepository(session, tenant_id).get(review_id)
    nodes = {
        node.id: node
        for node in repository.NodeRepository(session, tenant_id).by_ids([review.node_a, review.node_b])
    }
    customers = repository.CustomerRepository(session, tenant_id)

    def side(node_id: str) -> ReviewSide:
        node = nodes.get(node_id)
        customer = (
            customers.by_ids([node.customer_id]).get(node.customer_id) if node and node.customer_id else None
        )
        if customer is None:
            return ReviewSide(node, None, [], [], [], Stats())
        orders = customer_orders(session, tenant_id, customer.id)
        identities = [
            _identity_view(member)
            for member in repository.NodeRepository(session, tenant_id).of_customers([customer.id])
            if not policy(member.kind).is_weak
        ]
        return ReviewSide(
            node,
            customer,
            _order_views(session, tenant_id, orders[:5]),
            sorted(identities, key=lambda view: (policy(view.kind).anchor_rank, view.kind)),
            _follows(session, tenant_id, customer.id),
            _stats(orders, []),
        )

    return ReviewCompare(review, side(review.node_a), side(review.node_b))
