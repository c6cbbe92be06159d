"""Rule tags follow the customer as events arrive; tags follow customers through merges.

Each handler finds the customers an event concerns and re-evaluates every rule tag for them
(`evaluation.evaluate_customers`, the same compile as the batch runs), in the dispatcher's
transaction. Batch forms take every due event of a kind at once: one evaluation per tenant.

* customer.resolved: an order or contact now belongs to its customer (OneID ran first, so the
  order's owner is known; this is why the tags do not follow order.paid).
* refund.created / refund.updated: the customer of the refunded order.
* contact.updated / contact.deleted_by_customer / contact.deleted_by_staff: the contact's customer.
* group.created / group.updated: the customers among the members, and the carriers of rule tags
  that test group membership (someone who left is no longer a member).
* archive.messages_stored: the customers who spoke (chat_keyword rules).
* tag.added / tag.removed by a person or WeCom: rules that test `has_tag`. Changes made by rules
  are not followed, so two rules testing each other cannot flip each other forever; the daily
  batch settles chains of rule tags.
* customer.merged: the absorbed customer's manual and WeCom tags move to the survivor, remembering
  their origin; customer.unmerged / customer.split give them back. Both sides are re-evaluated.
* customer.stage_changed: rules that test the lifecycle stage or RFM scores, for those
  customers (scores are recomputed together with stages; a score that moves without a stage
  change is caught by the daily batch).
* tag.evaluation_requested: a batch run, started on its own thread.

Handler names are stored on deliveries: keep them stable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.core.events.models import OutboxEvent
from haina.core.events.registry import Registry
from haina.core.events.registry import registry as default_registry
from haina.customers.identity.repository import OrderOwnerRepository
from haina.customers.models import Contact, CustomerGroupMember, record_id
from haina.customers.repository import group_member_customers
from haina.tags import changes, conditions, evaluation
from haina.tags.models import CustomerTag, TagSource

PERSONAL_SOURCES = (TagSource.MANUAL, TagSource.WECOM)
CUSTOMER_EVENTS = ("customer.resolved", "archive.messages_stored")
REFUND_EVENTS = ("refund.created", "refund.updated")
CONTACT_EVENTS = ("contact.updated", "contact.deleted_by_customer", "contact.deleted_by_staff")
GROUP_EVENTS = ("group.created", "group.updated")
TAG_EVENTS = (changes.TAG_ADDED, changes.TAG_REMOVED)
IDENTITY_EVENTS = ("customer.merged", "customer.unmerged", "customer.split")
STAGE_EVENTS = ("customer.stage_changed",)  # emitted by lifecycle.record after a recompute
SCORE_FIELDS = ("lifecycle_stage", "recency_score", "frequency_score", "monetary_score")


def handler_name(event_type: str) -> str:
    return "tags.realtime." + event_type.replace(".", "_")


# ── Who an event concerns ────────────────────────────────────────────────────────────────────


def _ids(values: Iterable[Any]) -> list[str]:
    return sorted({str(value) for value in values if value})


def _customers_of_refunds(session: Session, tenant_id: str, payloads: Sequence[dict[str, Any]]) -> set[str]:
    """The owners of the refunded orders: order ids follow from their natural keys, so this is
    one probe of the owners' key per order (a join on the keys was planned per tenant and, with
    a new tenant's stale statistics, scanned all its orders for every refund)."""
    order_ids = sorted(
        {
            record_id("order", tenant_id, str(p.get("platform", "")), str(p.get("shop_id", "")), str(key))
            for p in payloads
            if (key := p.get("order_external_id"))
        }
    )
    owners = OrderOwnerRepository(session, tenant_id).for_orders(order_ids)
    return {row.customer_id for row in owners.values() if row.customer_id}


def _customers_of_contacts(session: Session, tenant_id: str, contact_ids: list[str]) -> set[str]:
    if not contact_ids:
        return set()
    return {
        customer_id
        for customer_id in session.scalars(
            select(Contact.customer_id).where(Contact.tenant_id == tenant_id, Contact.id.in_(contact_ids))
        )
        if customer_id
    }


def _rule_tags_using(session: Session, tenant_id: str, field: str) -> list[str]:
    found = []
    for tag in evaluation.rule_tags(session, tenant_id):
        try:
            if field in conditions.fields_of(conditions.validate(tag.rule)):
                found.append(tag.id)
        except conditions.InvalidCondition:
            continue
    return found


def _customers_of_groups(session: Session, tenant_id: str, group_ids: list[str]) -> set[str]:
    if not group_ids:
        return set()
    members = {
        customer_id
        for customer_id in session.scalars(
            group_member_customers().where(
                CustomerGroupMember.tenant_id == tenant_id, CustomerGroupMember.group_id.in_(group_ids)
            )
        )
        if customer_id
    }
    group_tags = _rule_tags_using(session, tenant_id, "in_group")
    if group_tags:
        members.update(
            session.scalars(
                select(CustomerTag.customer_id).where(
                    CustomerTag.tenant_id == tenant_id, CustomerTag.tag_id.in_(group_tags)
                )
            )
        )
    return members


# ── Tags through merges ──────────────────────────────────────────────────────────────────────


def move_personal_tags(
    session: Session, tenant_id: str, source_id: str, target_id: str, *, only_origin: str | None, reason: str
) -> changes.Applied:
    """Move `source_id`'s manual and WeCom tags (those that came from `only_origin`, if given) to
    `target_id`, except those `target_id` has already. Merges remember the origin on the moved
    rows; give-backs clear it."""
    statement = select(CustomerTag).where(
        CustomerTag.tenant_id == tenant_id,
        CustomerTag.customer_id == source_id,
        CustomerTag.source.in_(PERSONAL_SOURCES),
    )
    if only_origin is not None:
        statement = statement.where(CustomerTag.origin_customer_id == only_origin)
    rows = list(session.scalars(statement))
    if rows:
        # A tag the target carries already stays where it is too: moving it would lose whose it
        # was, and an unmerge could not give it back. The absorbed customer is out of every list.
        held = set(
            session.scalars(
                select(CustomerTag.tag_id).where(
                    CustomerTag.tenant_id == tenant_id,
                    CustomerTag.customer_id == target_id,
                    CustomerTag.tag_id.in_([row.tag_id for row in rows]),
                )
            )
        )
        rows = [row for row in rows if row.tag_id not in held]
    if not rows:
        return changes.Applied(added=[], removed=[])
    names = _tag_names(session, tenant_id, [row.tag_id for row in rows])
    add = [
        changes.Change(target_id, row.tag_id, names.get(row.tag_id, ""), row.source, reason) for row in rows
    ]
    remove = [
        changes.Change(source_id, row.tag_id, names.get(row.tag_id, ""), row.source, reason) for row in rows
    ]
    origin = {(target_id, row.tag_id): source_id for row in rows} if only_origin is None else {}
    return changes.apply(session, tenant_id, add=add, remove=remove, origin=origin)


def _tag_names(session: Session, tenant_id: str, tag_ids: list[str]) -> dict[str, str]:
    from haina.tags.models import Tag

    rows = session.execute(select(Tag.id, Tag.name).where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids)))
    return {tag_id: name for tag_id, name in rows}


def _follow_identity(session: Session, event: OutboxEvent) -> set[str]:
    """Move tags for a merge / unmerge / split; the customers to re-evaluate."""
    payload = event.payload or {}
    tenant_id = event.tenant_id
    if event.type == "customer.merged":
        survivor, absorbed = str(payload.get("survivor_id") or ""), str(payload.get("absorbed_id") or "")
        if survivor and absorbed:
            move_personal_tags(
                session, tenant_id, absorbed, survivor, only_origin=None, reason=f"merged from {absorbed}"
            )
        return {survivor, absorbed}
    if event.type == "customer.unmerged":
        back, home = str(payload.get("customer_id") or ""), str(payload.get("from_customer_id") or "")
    else:  # customer.split: nodes left `customer_id` for `to_customer_id`
        home, back = str(payload.get("customer_id") or ""), str(payload.get("to_customer_id") or "")
    if back and home:
        move_personal_tags(session, tenant_id, home, back, only_origin=back, reason=f"given back by {home}")
    return {back, home}


# ── Handlers ─────────────────────────────────────────────────────────────────────────────────


def evaluate_events(session: Session, events: Sequence[OutboxEvent]) -> None:
    """Every event's customers, re-evaluated once per tenant (merges moved first, in order)."""
    customers: dict[str, set[str]] = defaultdict(set)
    only_has_tag: dict[str, set[str]] = defaultdict(set)
    only_scores: dict[str, set[str]] = defaultdict(set)
    refunds: dict[str, list[dict[str, Any]]] = defaultdict(list)
    contacts: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, list[str]] = defaultdict(list)
    for event in events:
        payload = event.payload or {}
        tenant = event.tenant_id
        if event.type == "customer.resolved":
            customers[tenant].update(_ids([payload.get("customer_id")]))
        elif event.type == "archive.messages_stored":
            customers[tenant].update(_ids(payload.get("customer_ids") or ()))
        elif event.type in REFUND_EVENTS:
            refunds[tenant].append(payload)
        elif event.type in CONTACT_EVENTS:
            contacts[tenant].extend(_ids([payload.get("contact_id")]))
        elif event.type in GROUP_EVENTS:
            groups[tenant].extend(_ids([payload.get("group_id")]))
        elif event.type in TAG_EVENTS:
            if payload.get("source") != TagSource.RULE:
                only_has_tag[tenant].update(changes.customers_of(payload))
        elif event.type in IDENTITY_EVENTS:
            customers[tenant].update(_ids(_follow_identity(session, event)))
        elif event.type in STAGE_EVENTS:
            only_scores[tenant].update(_ids([payload.get("customer_id")]))
    for tenant in sorted(set(customers) | set(refunds) | set(contacts) | set(groups)):
        ids = set(customers.get(tenant, ()))
        ids |= _customers_of_refunds(session, tenant, refunds.get(tenant, []))
        ids |= _customers_of_contacts(session, tenant, contacts.get(tenant, []))
        ids |= _customers_of_groups(session, tenant, groups.get(tenant, []))
        evaluation.evaluate_customers(session, tenant, ids)
    for tenant, ids in sorted(only_has_tag.items()):
        tag_ids = _rule_tags_using(session, tenant, "has_tag")
        if tag_ids:
            evaluation.evaluate_customers(
                session, tenant, ids - customers.get(tenant, set()), tag_ids=tag_ids
            )
    for tenant, ids in sorted(only_scores.items()):
        tag_ids = sorted(
            {tag_id for field in SCORE_FIELDS for tag_id in _rule_tags_using(session, tenant, field)}
        )
        if tag_ids:
            evaluation.evaluate_customers(
                session, tenant, ids - customers.get(tenant, set()), tag_ids=tag_ids
            )


def evaluate_event(session: Session, event: OutboxEvent) -> None:
    evaluate_events(session, [event])


def run_requested(session: Session, event: OutboxEvent) -> None:
    """Start a requested batch on its own thread (it claims the run; a second start finds it
    claimed and does nothing)."""
    from haina.connections.service import database_for
    from haina.core.database import get_database

    evaluation_id = str((event.payload or {}).get("evaluation_id") or "")
    if evaluation_id:
        database = database_for(session) or get_database()
        evaluation.start_in_background(database, event.tenant_id, evaluation_id)


def subscribe(registry: Registry | None = None) -> None:
    registry = registry if registry is not None else default_registry
    for event_type in (
        *CUSTOMER_EVENTS,
        *REFUND_EVENTS,
        *CONTACT_EVENTS,
        *GROUP_EVENTS,
        *TAG_EVENTS,
        *IDENTITY_EVENTS,
        *STAGE_EVENTS,
    ):
        registry.add(event_type, handler_name(event_type), evaluate_event, batch_handler=evaluate_events)
    registry.add(evaluation.EVALUATION_REQUESTED, "tags.evaluation.run_requested", run_requested)


subscribe()
