"""Shared set-up of the broadcast tests: a WeCom-connected tenant whose crawled customers get a
Haina tag, a segment on that tag, and an owner actor."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from haina.core.auth.actor import Actor
from haina.core.database import Database
from haina.customers import service as customers
from haina.customers.identity.models import Customer
from haina.engage.broadcasts import service
from haina.tags import service as tags
from tests.factories import TenantFixture
from tests.wecom_corp import Corp


def owner(tenant: TenantFixture) -> Actor:
    return Actor(tenant.users["owner"], tenant.id, tenant.usernames["owner"], "店主", "owner")


@dataclass
class Audience:
    tag_id: str
    segment_id: str
    customer_ids: list[str]  # the segment's customers, in id order


def wecom_customers(database: Database, corp: Corp) -> list[str]:
    """Customers with an active follow relation in the corp, in id order."""
    with database.session_factory() as session:
        ids = list(
            session.scalars(
                select(Customer.id).where(Customer.tenant_id == corp.tenant_id).order_by(Customer.id)
            )
        )
        follows = customers.wecom_follows_of(session, corp.tenant_id, customer_ids=ids)
    return sorted({f.customer_id for f in follows if f.customer_id and f.corp_id == corp.world.corp_id})


def tagged_segment(
    database: Database, tenant: TenantFixture, customer_ids: list[str], name: str = "双11老客"
) -> Audience:
    actor = owner(tenant)
    with database.unit_of_work() as session:
        group = tags.create_group(session, actor, f"{name}组")
        tag = tags.create_tag(session, actor, tags.TagInput(name, group.id))
        if customer_ids:
            tags.tag_customers(session, actor, customer_ids, [tag.id])
        segment = tags.create_segment(
            session, actor, name=f"{name}人群", definition={"field": "has_tag", "op": "in", "value": [tag.id]}
        )
        return Audience(tag.id, segment.id, sorted(customer_ids))


def follows_by_customer(
    database: Database, tenant_id: str, customer_ids: list[str]
) -> dict[str, set[tuple[str, str]]]:
    """customer → {(external_userid, staff_userid)} of their active relations."""
    with database.session_factory() as session:
        found: dict[str, set[tuple[str, str]]] = {}
        for follow in customers.wecom_follows_of(session, tenant_id, customer_ids=customer_ids):
            if follow.customer_id:
                found.setdefault(follow.customer_id, set()).add((follow.external_userid, follow.staff_userid))
        return found


def draft(database: Database, tenant: TenantFixture, audience: Audience, title: str = "双11返场") -> str:
    with database.unit_of_work() as session:
        broadcast = service.create_broadcast(
            session,
            owner(tenant),
            service.BroadcastInput(
                title=title,
                text="亲，双11返场福利已到账，回复「1」领取专属优惠券～",
                attachments=[{"kind": "link", "title": "返场会场", "url": "https://shop.example.com/sale"}],
                segment_id=audience.segment_id,
            ),
        )
        return broadcast.id
