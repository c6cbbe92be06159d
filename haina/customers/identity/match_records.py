"""Records as the probabilistic matcher sees them: one per anchor node (the node an order or a
WeCom contact hangs off), read from the stored records only.

A record depends on its own data and nothing the resolver decided: an order anchor is its latest
order's receiver (name, masked phone, phone hash, address), a contact is the best name seen for it
and the first of the mobiles staff wrote in its remarks. (Reading, say, the phone of the
contact's current customer would make a record change whenever a merge elsewhere does, and
incremental resolution, which rescores a record only when its own data changes, would then
disagree with a rebuild.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.customers import repository as records_repository
from haina.customers.identity import repository, rules, seam
from haina.customers.identity.models import IdentityNode
from haina.customers.identity.rules import Kind
from haina.customers.models import Order

ORDER_COLUMNS = (
    Order.id,
    Order.platform,
    Order.receiver_name,
    Order.receiver_phone_masked,
    Order.receiver_phone_hash,
    Order.receiver_province,
    Order.receiver_city,
    Order.receiver_district,
    Order.receiver_street,
    Order.created_at,
)


def match_records(
    session: Session,
    tenant_id: str,
    node_ids: Sequence[str] | None,
    order_anchor: Mapping[str, str],
) -> list[seam.MatchRecord]:
    """The records of these anchor nodes (None: of every anchor; `order_anchor` must then name
    every order's anchor). `order_anchor` (order id → node id, the batch just derived) overrides
    the stored order owners, which are written only after the batch is decided."""
    owners = _order_nodes(session, tenant_id, node_ids, order_anchor)
    latest: dict[str, Any] = {}
    for row in _order_rows(session, tenant_id, None if node_ids is None else sorted(owners)):
        node_id = owners.get(row.id)
        if node_id is None:
            continue
        held = latest.get(node_id)
        if held is None or (row.created_at, row.id) > (held.created_at, held.id):
            latest[node_id] = row
    nodes = _node_rows(session, tenant_id, node_ids, sorted(latest))
    records = [
        seam.MatchRecord(
            record_id=node_id,
            source=row.platform,
            customer_id=nodes[node_id].customer_id if node_id in nodes else None,
            name=row.receiver_name,
            phone=row.receiver_phone_masked,
            phone_hash=row.receiver_phone_hash or "",
            province=row.receiver_province,
            city=row.receiver_city,
            district=row.receiver_district,
            address=row.receiver_street,
            platform_uid=nodes[node_id].value
            if node_id in nodes and rules.is_account_kind(nodes[node_id].kind)
            else "",
        )
        for node_id, row in sorted(latest.items())
    ]
    # A contact that anchors orders too (an order naming its external_userid) is its order record.
    contacts = [
        node for node in nodes.values() if node.kind == Kind.WECOM_EXTERNAL_USERID and node.id not in latest
    ]
    return records + _contact_records(session, tenant_id, contacts)


NODE_COLUMNS = ("kind", "value", "scope", "label", "customer_id")


def _node_rows(
    session: Session, tenant_id: str, node_ids: Sequence[str] | None, anchors: Sequence[str]
) -> dict[str, Any]:
    """The nodes' columns a record needs (plain rows: thousands of ORM objects cost more than the
    query): of these nodes, or of the order anchors and every contact when node_ids is None."""
    nodes = repository.NodeRepository(session, tenant_id)
    if node_ids is not None:
        return nodes.rows_by_id(NODE_COLUMNS, list(node_ids), probe_each=False)
    found = nodes.rows_by_id(NODE_COLUMNS, list(anchors), probe_each=False)
    columns = [IdentityNode.id, *(getattr(IdentityNode, name) for name in NODE_COLUMNS)]
    contacts = nodes.scoped(select(*columns)).where(IdentityNode.kind == Kind.WECOM_EXTERNAL_USERID)
    found.update((row.id, row) for row in session.execute(contacts))
    return found


def _order_nodes(
    session: Session, tenant_id: str, node_ids: Sequence[str] | None, order_anchor: Mapping[str, str]
) -> dict[str, str]:
    """order id → anchor node, for the orders anchored on these nodes."""
    if node_ids is None:
        return dict(order_anchor)
    wanted = set(node_ids)
    owners = repository.OrderOwnerRepository(session, tenant_id)
    found = {
        row.order_id: row.node_id
        for row in owners.rows_where_in("node_id", sorted(wanted))
        if row.order_id not in order_anchor
    }
    found.update({order_id: node_id for order_id, node_id in order_anchor.items() if node_id in wanted})
    return found


def _order_rows(session: Session, tenant_id: str, order_ids: Sequence[str] | None) -> list[Any]:
    base = select(*ORDER_COLUMNS).where(Order.tenant_id == tenant_id)
    if order_ids is None:
        return list(session.execute(base).yield_per(5000))
    rows: list[Any] = []
    for part in records_repository.chunks(list(order_ids)):
        rows.extend(session.execute(base.where(Order.id.in_(part))))
    return rows


def _contact_records(session: Session, tenant_id: str, contacts: Sequence[Any]) -> list[seam.MatchRecord]:
    """WeCom contacts: the name a guide wrote (the node's best label), the first remark mobile."""
    if not contacts:
        return []
    by_contact = {repository.contact_id_for(tenant_id, node.scope, node.value): node for node in contacts}
    mobiles: dict[str, str] = {}
    for row in repository.follow_rows(session, tenant_id, sorted(by_contact)):
        for mobile_hash in row.remark_mobile_hashes or []:
            held = mobiles.get(row.contact_id)
            if held is None or mobile_hash < held:
                mobiles[row.contact_id] = mobile_hash
    phone_ids = {
        contact_id: rules.node_id(tenant_id, Kind.PHONE_HASH, mobile_hash)
        for contact_id, mobile_hash in mobiles.items()
    }
    phones = repository.NodeRepository(session, tenant_id).rows_by_id(
        ("value", "display"), sorted(set(phone_ids.values())), probe_each=False
    )
    records = []
    for contact_id, node in sorted(by_contact.items(), key=lambda item: item[1].id):
        phone = phones.get(phone_ids.get(contact_id, ""))
        records.append(
            seam.MatchRecord(
                record_id=node.id,
                source="wecom",
                customer_id=node.customer_id,
                name=node.label,
                phone=phone.display if phone is not None else "",
                phone_hash=phone.value if phone is not None else "",
                platform_uid=node.value,
            )
        )
    return records
