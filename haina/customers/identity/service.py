"""Identity resolution: incremental (`resolve_records`, as orders and contacts stream in) and batch
(`rebuild`), both idempotent, both ending in the same `_resolve_scope`.

The steps: read the records' facts → derive nodes and links (rules.derive) → store them (new
ones inserted, nothing duplicated) → ask the matcher for scored pairs (proposals.py: the same
pairs, by blocking key, in a batch as in a rebuild) →
decide a closed scope of the graph (resolver.decide) → map clusters onto customers
(resolver.assign_customers) → write what changed: node → customer, order owners, the
`customer_id` mirrors on buyer identities and contacts, new customers, merges (with both sides'
nodes, for unmerge), link decisions, blocked keys, review items, and the events
(customer.created / customer.merged / customer.split / customer.resolved) through the outbox in
the caller's transaction.

Incremental resolution of a batch decides the scope around it from scratch (the clusters its
nodes touch, one hop along undecided links), so it reaches the same answer as a rebuild of that
scope whatever order the records arrived in. Services flush, never commit.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.crypto import DecryptionError, FieldCipher, cipher_for
from haina.core.database import new_id
from haina.core.settings import Settings
from haina.customers import repository as records_repository
from haina.customers.identity import proposals, repository, rules, seam
from haina.customers.identity.models import (
    Customer,
    CustomerMerge,
    CustomerStatus,
    IdentityNode,
    IdentitySettings,
    LinkStatus,
    OrderOwner,
    ReviewStatus,
)
from haina.customers.identity.resolver import (
    NEW_PREFIX,
    GraphLink,
    GraphNode,
    Thresholds,
    assign_customers,
    attribute,
    decide,
)
from haina.customers.identity.rules import Kind, policy
from haina.customers.models import BuyerIdentity, Contact

logger = logging.getLogger(__name__)

NODE_VALUE_CONTEXT = "identity_nodes.value"
RECEIVER_PHONE_CONTEXT = "orders.receiver_phone"
IDENTITY_VALUE_CONTEXT = "buyer_identities.value"
REMARK_MOBILES_CONTEXT = "contact_follows.remark_mobiles"
SYSTEM = "system"


@dataclass
class ResolveResult:
    """What one resolution did."""

    orders: int = 0
    contacts: int = 0
    nodes_created: int = 0
    links_created: int = 0
    customers_created: int = 0
    merges: int = 0
    splits: int = 0
    refused: int = 0
    reviews: int = 0
    blocked: int = 0
    events: int = 0
    customer_ids: set[str] = field(default_factory=set)
    merge_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in vars(self).items() if key not in ("customer_ids", "merge_ids")}
        data["customers_touched"] = len(self.customer_ids)
        return data


# ---------------------------------------------------------------------------------------------
# Settings


DEFAULT_THRESHOLDS = Thresholds()


def thresholds_for(session: Session, tenant_id: str) -> Thresholds:
    row = repository.get_settings_row(session, tenant_id)
    if row is None:
        return DEFAULT_THRESHOLDS
    return Thresholds(
        auto_merge=row.auto_merge_threshold,
        review=row.review_threshold,
        max_cluster_nodes=row.max_cluster_nodes,
        max_accounts_per_key=row.max_accounts_per_key,
    )


def set_thresholds(session: Session, tenant_id: str, thresholds: Thresholds) -> Thresholds:
    """Store a tenant's thresholds; they apply from the next resolution (run a rebuild to
    re-decide what is already decided)."""
    from haina.core.errors import InvalidInput

    if not 0.0 < thresholds.review <= thresholds.auto_merge <= 1.0:
        raise InvalidInput("thresholds must satisfy 0 < review ≤ auto-merge ≤ 1", code="invalid_thresholds")
    if thresholds.max_cluster_nodes < 2 or thresholds.max_accounts_per_key < 1:
        raise InvalidInput("the cluster cap must be ≥ 2 and the key limit ≥ 1", code="invalid_thresholds")
    row = repository.get_settings_row(session, tenant_id)
    if row is None:
        row = IdentitySettings(tenant_id=tenant_id)
        session.add(row)
    row.auto_merge_threshold = thresholds.auto_merge
    row.review_threshold = thresholds.review
    row.max_cluster_nodes = thresholds.max_cluster_nodes
    row.max_accounts_per_key = thresholds.max_accounts_per_key
    row.updated_at = clock.now()
    session.flush()
    return thresholds


# ---------------------------------------------------------------------------------------------
# Facts


def _decrypt(cipher: FieldCipher | None, stored: str | None, context: str) -> str | None:
    if cipher is None or not stored:
        return None
    try:
        return cipher.decrypt(stored, context=context)
    except DecryptionError:
        logger.warning("could not decrypt a %s value; resolving without its plaintext", context)
        return None


def load_facts(
    session: Session,
    tenant_id: str,
    *,
    order_ids: Sequence[str] | None,
    contact_ids: Sequence[str] | None,
    cipher: FieldCipher | None,
) -> tuple[list[rules.OrderFacts], list[rules.ContactFacts]]:
    """Orders and contacts as facts (None: every one of the tenant's)."""
    orders: dict[str, rules.OrderFacts] = {}
    if order_ids is None or order_ids:
        for row in repository.order_rows(session, tenant_id, order_ids):
            orders[row.id] = rules.OrderFacts(
                order_id=row.id,
                platform=row.platform,
                shop_id=row.shop_id,
                receiver_name=row.receiver_name,
                receiver_phone_hash=row.receiver_phone_hash,
                receiver_phone_masked=row.receiver_phone_masked,
                receiver_phone_plain=_decrypt(cipher, row.receiver_phone_encrypted, RECEIVER_PHONE_CONTEXT),
                buyer_nick=row.buyer_nick,
            )
        for row in repository.order_buyer_rows(session, tenant_id, order_ids):
            found = orders.get(row.order_id)
            if found is None:
                continue
            found.buyers.append(
                rules.BuyerFact(
                    identity_id=row.id,
                    platform=row.platform,
                    kind=row.kind,
                    value=row.value,
                    is_masked=row.is_masked,
                    shop_id=row.shop_id,
                    plaintext=_decrypt(cipher, row.value_encrypted, IDENTITY_VALUE_CONTEXT),
                )
            )
    contacts: dict[str, rules.ContactFacts] = {}
    if contact_ids is None or contact_ids:
        for row in repository.contact_rows(session, tenant_id, contact_ids):
            contacts[row.id] = rules.ContactFacts(
                contact_id=row.id,
                corp_id=row.corp_id,
                external_userid=row.external_userid,
                name=row.name,
                unionid=row.unionid,
            )
        for row in repository.follow_rows(session, tenant_id, contact_ids):
            contact = contacts.get(row.contact_id)
            if contact is None:
                continue
            plain = _decrypt(cipher, row.remark_mobiles_encrypted, REMARK_MOBILES_CONTEXT)
            contact.follows.append(
                rules.FollowFacts(
                    staff_userid=row.staff_userid,
                    remark=row.remark,
                    mobile_hashes=list(row.remark_mobile_hashes or []),
                    mobiles=json.loads(plain) if plain else None,
                )
            )
    return list(orders.values()), list(contacts.values())


# ---------------------------------------------------------------------------------------------
# Storing what was derived


@dataclass
class _Stored:
    nodes_created: int = 0
    links_created: int = 0
    link_ids: set[str] = field(default_factory=set)


def _store_derived(
    session: Session,
    tenant_id: str,
    derived: rules.Derived,
    cipher: FieldCipher | None,
    *,
    is_rebuild: bool,
) -> _Stored:
    now = clock.now()
    stored = _Stored()
    nodes = repository.NodeRepository(session, tenant_id)
    existing = nodes.rows_by_id(
        ("label", "display", "value_encrypted"), list(derived.nodes), probe_each=False
    )
    new_rows: list[dict[str, Any]] = []
    refreshed: list[dict[str, Any]] = []
    for spec in derived.nodes.values():
        encrypted = None
        held = existing.get(spec.id)
        if spec.plaintext and cipher is not None and (held is None or held.value_encrypted is None):
            encrypted = cipher.encrypt(spec.plaintext, context=NODE_VALUE_CONTEXT)
        if held is None:
            new_rows.append(
                {
                    "id": spec.id,
                    "tenant_id": tenant_id,
                    "kind": spec.kind,
                    "value": spec.value,
                    "scope": spec.scope,
                    "platform": spec.platform,
                    "display": spec.display[:128],
                    "label": spec.label[:100],
                    "value_encrypted": encrypted,
                    "customer_id": None,
                    "is_blocked": False,
                    "blocked_reason": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            continue
        probe = rules.NodeSpec(id=spec.id, kind=spec.kind, value=spec.value, label=held.label)
        probe.offer_label(spec.label)
        label = probe.label
        display = held.display or spec.display
        if label != held.label or display != held.display or encrypted is not None:
            refreshed.append(
                {
                    "t_id": tenant_id,
                    "n_id": spec.id,
                    "new_label": label[:100],
                    "new_display": display[:128],
                    "new_encrypted": encrypted or held.value_encrypted,
                }
            )
    stored.nodes_created = len(nodes.insert_ignoring(new_rows, returning=True))
    nodes.refresh_details(refreshed)

    links = repository.LinkRepository(session, tenant_id)
    held_links = links.rows_by_id(("evidence_count", "status"), list(derived.links))
    new_links: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for link_spec in derived.links.values():
        stored.link_ids.add(link_spec.id)
        held_link = held_links.get(link_spec.id)
        if held_link is None:
            new_links.append(
                {
                    "id": link_spec.id,
                    "tenant_id": tenant_id,
                    "node_a": link_spec.node_a,
                    "node_b": link_spec.node_b,
                    "rule": link_spec.rule,
                    "score": link_spec.score,
                    "status": LinkStatus.PENDING.value,
                    "reason": "",
                    "evidence_type": link_spec.evidence_type,
                    "evidence_id": link_spec.evidence_id,
                    "evidence_count": link_spec.evidence_count,
                    "decided_by": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif is_rebuild and held_link.evidence_count != link_spec.evidence_count:
            counts[link_spec.id] = link_spec.evidence_count
    stored.links_created = len(links.insert_ignoring(new_links, returning=True))
    links.set_counts(counts)
    return stored


# ---------------------------------------------------------------------------------------------
# Resolving


def resolve_records(
    session: Session,
    tenant_id: str,
    *,
    order_ids: Sequence[str] = (),
    contact_ids: Sequence[str] = (),
    settings: Settings | None = None,
) -> ResolveResult:
    """Resolve the identities of these orders and contacts (incremental; idempotent); flushes."""
    result = ResolveResult()
    order_ids = sorted(set(order_ids))
    contact_ids = sorted(set(contact_ids))
    if not order_ids and not contact_ids:
        return result
    session.flush()
    repository.lock_tenant(session, tenant_id)
    cipher = cipher_for(settings.encryption_keys) if settings is not None else None
    orders, contacts = load_facts(
        session, tenant_id, order_ids=order_ids, contact_ids=contact_ids, cipher=cipher
    )
    result.orders, result.contacts = len(orders), len(contacts)
    derived = rules.derive(tenant_id, orders, contacts)
    stored = _store_derived(session, tenant_id, derived, cipher, is_rebuild=False)
    result.nodes_created, result.links_created = stored.nodes_created, stored.links_created
    thresholds = thresholds_for(session, tenant_id)
    seeds = set(derived.nodes)
    proposer = seam.link_proposer()
    if proposer is not None:
        seeds |= _propose_for_batch(session, tenant_id, proposer, derived, thresholds)
    _resolve_scope(session, tenant_id, seeds, thresholds, result, derived=derived, emit_resolved=True)
    return result


def _propose_for_batch(
    session: Session,
    tenant_id: str,
    proposer: seam.LinkProposer,
    derived: rules.Derived,
    thresholds: Thresholds,
) -> set[str]:
    """The matcher's links for the records this batch changed (see proposals.py); returns the
    nodes whose links were added, changed or dropped, to decide with the batch."""
    changed = set(derived.order_anchor.values()) | set(derived.contact_anchor.values())
    # An order that now anchors elsewhere leaves its old anchor's record changed (or gone).
    owners = repository.OrderOwnerRepository(session, tenant_id).for_orders(sorted(derived.order_anchor))
    changed |= {
        row.node_id for order_id, row in owners.items() if row.node_id != derived.order_anchor[order_id]
    }
    proposed = proposals.propose_changed(session, tenant_id, proposer, changed, derived.order_anchor)
    link_ids, touched = proposals.store(session, tenant_id, proposed.links, thresholds)
    touched |= {node_id for link in proposed.links for node_id in (link.left, link.right)}
    if proposed.is_complete:
        touched |= proposals.replace_links(session, tenant_id, proposed.scored, link_ids)
    return touched


def rebuild(session: Session, tenant_id: str, *, settings: Settings | None = None) -> ResolveResult:
    """Re-derive every node and link from the stored records and decide the whole graph again.
    Idempotent: a second run changes nothing. A person's merges, unmerges and review decisions
    are kept; links no record shows any more are dropped."""
    result = ResolveResult()
    session.flush()
    repository.lock_tenant(session, tenant_id)
    cipher = cipher_for(settings.encryption_keys) if settings is not None else None
    orders, contacts = load_facts(session, tenant_id, order_ids=None, contact_ids=None, cipher=cipher)
    result.orders, result.contacts = len(orders), len(contacts)
    derived = rules.derive(tenant_id, orders, contacts)
    stored = _store_derived(session, tenant_id, derived, cipher, is_rebuild=True)
    result.nodes_created, result.links_created = stored.nodes_created, stored.links_created
    thresholds = thresholds_for(session, tenant_id)
    keep = set(stored.link_ids)
    proposer = seam.link_proposer()
    if proposer is not None:
        # Every record against every other, with the pairs incremental resolution would score;
        # pairs the matcher no longer proposes are dropped with the other stale links.
        proposed = proposals.propose_all(session, tenant_id, proposer, derived.order_anchor)
        keep |= proposals.store(session, tenant_id, proposed.links, thresholds)[0]
    repository.delete_stale_links(session, tenant_id, keep)
    _resolve_scope(session, tenant_id, None, thresholds, result, derived=derived, emit_resolved=False)
    return result


def _expand_scope(session: Session, tenant_id: str, seeds: set[str]) -> tuple[list[IdentityNode], list[Any]]:
    """The closed scope around some nodes: their customers' nodes, one hop along links not yet
    decided for good, and those nodes' customers' nodes; with every link inside it."""
    nodes_repo = repository.NodeRepository(session, tenant_id)
    links_repo = repository.LinkRepository(session, tenant_id)
    found: dict[str, IdentityNode] = {node.id: node for node in nodes_repo.by_ids(sorted(seeds))}

    def add_customers_of(batch: Iterable[IdentityNode]) -> None:
        customers = {node.customer_id for node in batch if node.customer_id}
        for node in nodes_repo.of_customers(sorted(customers)):
            found.setdefault(node.id, node)

    add_customers_of(list(found.values()))
    links = links_repo.touching(sorted(found))
    hop = {
        endpoint
        for link in links
        if link.status in (LinkStatus.PENDING.value, LinkStatus.MANUAL.value, LinkStatus.MERGED.value)
        for endpoint in (link.node_a, link.node_b)
        if endpoint not in found
    }
    if hop:
        added = nodes_repo.by_ids(sorted(hop))
        for node in added:
            found.setdefault(node.id, node)
        add_customers_of(added)
        links = links_repo.touching(sorted(found))
    # The blocked keys the scope's nodes name (they belong to no customer): the matcher's links
    # between two nodes naming one are refused, in a batch as in a rebuild.
    named = {
        endpoint
        for link in links
        if link.reason == "over_linking_key"
        for endpoint in (link.node_a, link.node_b)
        if endpoint not in found
    }
    for node in nodes_repo.by_ids(sorted(named)) if named else []:
        if node.is_blocked:
            found.setdefault(node.id, node)
    inside = [link for link in links if link.node_a in found and link.node_b in found]
    return list(found.values()), inside


def _resolve_scope(
    session: Session,
    tenant_id: str,
    seeds: set[str] | None,
    thresholds: Thresholds,
    result: ResolveResult,
    *,
    derived: rules.Derived | None = None,
    emit_resolved: bool = False,
    actor_id: str | None = None,
    actor_name: str = SYSTEM,
    extra_blocked: dict[str, str] | None = None,
) -> None:
    """Decide a scope (None: the whole tenant) and write the outcome."""
    now = clock.now()
    nodes_repo = repository.NodeRepository(session, tenant_id)
    links_repo = repository.LinkRepository(session, tenant_id)
    owners_repo = repository.OrderOwnerRepository(session, tenant_id)
    if seeds is None:
        node_rows = nodes_repo.all()
        link_rows = links_repo.all()
        anchored = owners_repo.all_node_ids()
    else:
        node_rows, link_rows = _expand_scope(session, tenant_id, seeds)
        anchored = owners_repo.anchored([node.id for node in node_rows])
    if derived is not None:
        anchored |= set(derived.order_anchor.values())
    graph = {
        node.id: GraphNode(
            node.id, node.kind, node.scope, node.customer_id, node.is_blocked, node.blocked_reason
        )
        for node in node_rows
    }
    graph_links = [
        GraphLink(
            link.id,
            link.node_a,
            link.node_b,
            link.rule,
            link.score,
            link.status,
            link.reason,
            link.evidence_count,
            link.decided_by,
            is_proposed=link.evidence_type == proposals.MATCHER_EVIDENCE,
        )
        for link in link_rows
    ]
    outcome = decide(graph, graph_links, thresholds, extra_blocked=extra_blocked)
    customers_repo = repository.CustomerRepository(session, tenant_id)
    present = {node.customer_id for node in node_rows if node.customer_id}
    customers = customers_repo.by_ids(present)
    active = {
        customer_id: (customer.created_at, customer.id)
        for customer_id, customer in customers.items()
        if customer.status == CustomerStatus.ACTIVE.value
    }
    assignment = assign_customers(graph, outcome.clusters, active, anchored)
    events: list[tuple[str, dict[str, Any]]] = []

    # New customers.
    created: dict[str, str] = {}
    for placeholder in sorted(assignment.new_customers):
        customer = Customer(id=new_id(), tenant_id=tenant_id, created_at=now, updated_at=now)
        session.add(customer)
        customers[customer.id] = customer
        created[placeholder] = customer.id
        events.append(("customer.created", {"customer_id": customer.id}))
    result.customers_created += len(created)

    def real(customer_id: str | None) -> str | None:
        if customer_id is not None and customer_id.startswith(NEW_PREFIX):
            return created[customer_id]
        return customer_id

    final = {node_id: real(customer_id) for node_id, customer_id in assignment.node_customer.items()}
    changed = {
        node_id: customer for node_id, customer in final.items() if graph[node_id].customer_id != customer
    }

    # Merges: the absorbed customer stays, marked; both sides' nodes are kept for unmerge.
    nodes_of: dict[str, list[str]] = defaultdict(list)
    for node in node_rows:
        if node.customer_id:
            nodes_of[node.customer_id].append(node.id)
    link_by_id = {link.id: link for link in graph_links}
    for absorbed_id, survivor_id in assignment.merges:
        union = attribute(outcome.unions, absorbed_id)
        link = link_by_id.get(union.link_id) if union is not None else None
        is_human = link is not None and link.status == LinkStatus.MANUAL.value
        merge = CustomerMerge(
            id=new_id(),
            tenant_id=tenant_id,
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            rule=union.rule if union is not None else "rebuild",
            score=union.score if union is not None else 1.0,
            link_id=union.link_id if union is not None else None,
            actor_id=actor_id if is_human else None,
            actor_name=(link.decided_by or actor_name) if is_human and link is not None else SYSTEM,
            survivor_node_ids=sorted(nodes_of.get(survivor_id, [])),
            absorbed_node_ids=sorted(nodes_of.get(absorbed_id, [])),
            created_at=now,
        )
        session.add(merge)
        result.merge_ids.append(merge.id)
        absorbed = customers[absorbed_id]
        absorbed.status = CustomerStatus.MERGED.value
        absorbed.merged_into_id = survivor_id
        absorbed.updated_at = now
        events.append(
            (
                "customer.merged",
                {
                    "merge_id": merge.id,
                    "survivor_id": survivor_id,
                    "absorbed_id": absorbed_id,
                    "rule": merge.rule,
                    "score": merge.score,
                    "actor": merge.actor_name,
                },
            )
        )
    result.merges += len(assignment.merges)
    for source, target, node_ids in assignment.splits:
        events.append(
            ("customer.split", {"customer_id": source, "to_customer_id": real(target), "node_ids": node_ids})
        )
    result.splits += len(assignment.splits)

    # Node assignments and everything that follows them.
    nodes_repo.set_customers(changed, now)
    nodes_repo.block(outcome.blocked, now)
    result.blocked += len(outcome.blocked)
    owners_repo.move(changed)
    if derived is not None:
        _write_order_owners(session, tenant_id, derived, final, graph)
    _write_mirrors(session, tenant_id, final, changed, derived)

    # Link decisions.
    status_rows = []
    for link in graph_links:
        decision = outcome.decisions.get(link.id)
        if decision is None:
            continue
        if decision.status == LinkStatus.REFUSED.value:
            result.refused += 1
        if decision.status != link.status or decision.reason != link.reason:
            status_rows.append(
                {
                    "l_id": link.id,
                    "new_status": decision.status,
                    "new_reason": decision.reason,
                    "new_by": SYSTEM,
                }
            )
    links_repo.set_statuses(status_rows, now)
    result.reviews += _write_reviews(session, tenant_id, graph_links, outcome.decisions, final, now)

    touched = {customer for customer in final.values() if customer} | {
        absorbed for absorbed, _ in assignment.merges
    }
    touched |= {source for source, _, _ in assignment.splits}
    session.flush()
    refresh_customers(session, tenant_id, touched)
    result.customer_ids |= {customer for customer in final.values() if customer}
    if emit_resolved and derived is not None:
        events.extend(_resolved_events(derived, final))
    records_repository.insert_events(session, tenant_id, events)
    result.events += len(events)
    session.flush()


def _resolved_events(
    derived: rules.Derived, final: dict[str, str | None]
) -> list[tuple[str, dict[str, Any]]]:
    """customer.resolved per customer: which of the batch's orders and contacts are now theirs
    (reactions that need the customer subscribe to this, not to order.paid)."""
    orders: dict[str, list[str]] = defaultdict(list)
    contacts: dict[str, list[str]] = defaultdict(list)
    for order_id, node_id in derived.order_anchor.items():
        customer_id = final.get(node_id)
        if customer_id:
            orders[customer_id].append(order_id)
    for contact_id, node_id in derived.contact_anchor.items():
        customer_id = final.get(node_id)
        if customer_id:
            contacts[customer_id].append(contact_id)
    return [
        (
            "customer.resolved",
            {
                "customer_id": customer_id,
                "order_ids": sorted(orders[customer_id]),
                "contact_ids": sorted(contacts[customer_id]),
            },
        )
        for customer_id in sorted(set(orders) | set(contacts))
    ]


def _write_order_owners(
    session: Session,
    tenant_id: str,
    derived: rules.Derived,
    final: dict[str, str | None],
    graph: dict[str, GraphNode],
) -> None:
    owners_repo = repository.OrderOwnerRepository(session, tenant_id)
    held = owners_repo.for_orders(sorted(derived.order_anchor))
    rows = []
    for order_id, node_id in derived.order_anchor.items():
        customer_id = final.get(node_id, graph[node_id].customer_id if node_id in graph else None)
        existing = held.get(order_id)
        if existing is None or existing.node_id != node_id or existing.customer_id != customer_id:
            rows.append(
                {"tenant_id": tenant_id, "order_id": order_id, "node_id": node_id, "customer_id": customer_id}
            )
    owners_repo.upsert(rows)
    repository.expire_loaded(session, OrderOwner)


def _write_mirrors(
    session: Session,
    tenant_id: str,
    final: dict[str, str | None],
    changed: dict[str, str | None],
    derived: rules.Derived | None,
) -> None:
    """buyer_identities.customer_id and contacts.customer_id follow their nodes: for the nodes
    just derived, the identities that named them; for other nodes that changed customer, every
    identity the node's value may be stored as."""
    wanted_identities: dict[str, str | None] = {}
    wanted_contacts: dict[str, str | None] = {}
    derived_nodes = derived.nodes if derived is not None else {}
    for spec in derived_nodes.values():
        if spec.id in final:
            for identity_id in spec.identity_ids:
                wanted_identities[identity_id] = final[spec.id]
            if spec.kind == Kind.WECOM_EXTERNAL_USERID and spec.scope:
                wanted_contacts[repository.contact_id_for(tenant_id, spec.scope, spec.value)] = final[spec.id]
    others = sorted(node_id for node_id in changed if node_id not in derived_nodes)
    for node in repository.NodeRepository(session, tenant_id).by_ids(others) if others else []:
        customer_id = changed[node.id]
        for platform, kind in rules.buyer_identity_sources(node.kind, node.value):
            wanted_identities[repository.buyer_identity_id_for(tenant_id, platform, kind, node.value)] = (
                customer_id
            )
        if node.kind == Kind.WECOM_EXTERNAL_USERID and node.scope:
            wanted_contacts[repository.contact_id_for(tenant_id, node.scope, node.value)] = customer_id
    if wanted_identities:
        identities = records_repository.BuyerIdentityRepository(session, tenant_id)
        held = identities.rows_by_id(("customer_id",), sorted(wanted_identities))
        repository.mirror_buyer_identities(
            session,
            tenant_id,
            [
                (key, value)
                for key, value in wanted_identities.items()
                if key in held and held[key].customer_id != value
            ],
        )
    if wanted_contacts:
        contacts = records_repository.ContactRepository(session, tenant_id)
        held = contacts.rows_by_id(("customer_id",), sorted(wanted_contacts))
        repository.mirror_contacts(
            session,
            tenant_id,
            [
                (key, value)
                for key, value in wanted_contacts.items()
                if key in held and held[key].customer_id != value
            ],
        )


def _write_reviews(
    session: Session,
    tenant_id: str,
    links: list[GraphLink],
    decisions: dict[str, Any],
    final: dict[str, str | None],
    now: Any,
) -> int:
    reviews_repo = repository.ReviewRepository(session, tenant_id)
    rows = []
    for link in links:
        decision = decisions.get(link.id)
        if decision is None or decision.status != LinkStatus.REVIEW.value:
            continue
        if final.get(link.node_a) and final.get(link.node_a) == final.get(link.node_b):
            continue
        rows.append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "node_a": link.node_a,
                "node_b": link.node_b,
                "link_id": link.id,
                "rule": link.rule,
                "score": link.score,
                "detail": {},
                "status": ReviewStatus.OPEN.value,
                "decided_by_id": None,
                "decided_by_name": "",
                "decided_at": None,
                "created_at": now,
            }
        )
    inserted = reviews_repo.insert_ignoring(rows, returning=True) if rows else set()
    # Open reviews whose two sides are one customer now are moot.
    touched = [node_id for node_id, customer in final.items() if customer]
    for review in reviews_repo.open_touching(touched):
        left, right = final.get(review.node_a), final.get(review.node_b)
        if left is not None and left == right:
            review.status = ReviewStatus.OBSOLETE.value
            review.decided_at = now
    return len(inserted)


# ---------------------------------------------------------------------------------------------
# Customers' derived fields


def refresh_customers(session: Session, tenant_id: str, customer_ids: Iterable[str]) -> None:
    """Recompute display name, masked phone, search text and node count from the nodes."""
    wanted = sorted({customer_id for customer_id in customer_ids if customer_id})
    if not wanted:
        return
    customers = repository.CustomerRepository(session, tenant_id).by_ids(wanted)
    nodes_by_customer: dict[str, list[IdentityNode]] = defaultdict(list)
    for node in repository.NodeRepository(session, tenant_id).of_customers(wanted):
        if node.customer_id:
            nodes_by_customer[node.customer_id].append(node)
    now = clock.now()
    for customer_id, customer in customers.items():
        nodes = nodes_by_customer.get(customer_id, [])
        display_name, phone, search = describe(nodes)
        if customer.status != CustomerStatus.ACTIVE.value and not nodes:
            continue
        if (
            customer.display_name != display_name
            or customer.phone_masked != phone
            or customer.search_text != search
            or customer.node_count != len(nodes)
        ):
            customer.display_name = display_name
            customer.phone_masked = phone
            customer.search_text = search
            customer.node_count = len(nodes)
            customer.updated_at = now


def describe(nodes: Sequence[IdentityNode]) -> tuple[str, str, str]:
    """(display name, masked phone, search text) of a customer from its nodes."""
    full = Counter(node.label for node in nodes if rules.is_full_name(node.label))
    masked = [node.label for node in nodes if node.label and not rules.is_full_name(node.label)]
    ranked = sorted(nodes, key=lambda node: (policy(node.kind).anchor_rank, node.id))
    if full:
        best = max(full.items(), key=lambda item: (item[1], len(item[0]), item[0]))[0]
    elif masked:
        best = masked[0]
    else:
        best = next((node.display for node in ranked if node.display and not policy(node.kind).is_pii), "")
    phones = [node.display for node in ranked if node.kind == Kind.PHONE_HASH and node.display]
    if not phones:
        phones = [
            node.display.split(" ")[0] for node in ranked if node.kind == Kind.PHONE_MASKED and node.display
        ]
    words = dict.fromkeys(
        [best]
        + sorted(label for label in {node.label for node in nodes} if label)
        + sorted({node.display for node in nodes if node.display})
    )
    return best[:100], (phones[0] if phones else "")[:32], " ".join(word for word in words if word)[:4000]


# ---------------------------------------------------------------------------------------------
# Lookups used by the other parts of the module


def customer_of_contact(session: Session, tenant_id: str, external_userid: str) -> str | None:
    node_id = rules.node_id(tenant_id, Kind.WECOM_EXTERNAL_USERID, external_userid)
    nodes = repository.NodeRepository(session, tenant_id).by_ids([node_id])
    return nodes[0].customer_id if nodes else None


def unresolved_contact(session: Session, tenant_id: str, external_userid: str) -> Contact | None:
    from sqlalchemy import select

    return session.scalar(
        select(Contact)
        .where(Contact.tenant_id == tenant_id, Contact.external_userid == external_userid)
        .limit(1)
    )


def customer_ids_of_buyer_identities(
    session: Session, tenant_id: str, identity_ids: Sequence[str]
) -> set[str]:
    identities = records_repository.BuyerIdentityRepository(session, tenant_id)
    return {
        row.customer_id
        for row in identities.rows_by_id(("customer_id",), list(identity_ids)).values()
        if row.customer_id
    }


__all__ = [
    "BuyerIdentity",
    "ResolveResult",
    "customer_of_contact",
    "load_facts",
    "rebuild",
    "refresh_customers",
    "resolve_records",
    "set_thresholds",
    "thresholds_for",
]
