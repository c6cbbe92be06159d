"""The resolver: decides links with guard rails and turns the result into customers. Pure (no SQL):
`repository` loads a scope of the graph, `service` writes what comes out.

Deciding is a union-find over the scope's nodes. Links are taken strongest first (rule
priority, then score, then how many records showed them), so a weak link never decides before
a strong one that contradicts it. A link joins two clusters only if every guard rail agrees:

* a person's cannot-link (an unmerge, a rejected review) between the two sides;
* exclusive kinds: one WeCom external_userid per corp, one unionid, one buyer id per shop;
* per-kind limits (at most 3 phone hashes…) and the cluster cap (`max_cluster_nodes`);
* blocked keys: a shared key (a phone, a masked phone + initial, a unionid) that ties more than
  `max_accounts_per_key` accounts together is blocked before anything is decided, so one bad
  key cannot snowball into a giant cluster; nor can the matcher's pairs get round it: a
  proposed link between two nodes that both name one blocked key (two buyers with a parcel
  locker's phone) is refused too, since that agreement carried the matcher's score;
* weak kinds (a device id) never join anything on their own.

Links scored below the auto-merge threshold go to review instead; a person's merge (`manual`)
is kept whatever the guard rails say. The outcome is the same whatever order the links were
stored in, so a batch rebuild and the incremental resolution of the same scope agree.

`assign_customers` then maps clusters onto existing customers: each customer belongs to the
cluster holding most of its nodes; the oldest customer of a cluster survives and the others
are merged into it; a cluster with no customer gets a new one if it anchors anything.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from haina.customers.identity.models import LinkStatus
from haina.customers.identity.rules import is_account_kind, policy, rule_priority


@dataclass(frozen=True)
class Thresholds:
    auto_merge: float = 0.9
    review: float = 0.6
    max_cluster_nodes: int = 40
    max_accounts_per_key: int = 8


@dataclass
class GraphNode:
    id: str
    kind: str
    scope: str = ""
    customer_id: str | None = None
    is_blocked: bool = False
    blocked_reason: str = ""


@dataclass
class GraphLink:
    id: str
    node_a: str
    node_b: str
    rule: str
    score: float
    status: str = LinkStatus.PENDING.value
    reason: str = ""
    evidence_count: int = 1
    decided_by: str = ""
    is_proposed: bool = False  # scored by the matcher, not shown by a record


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str = ""


@dataclass(frozen=True)
class Union:
    """Two clusters joined by a link, with the existing customers on each side."""

    link_id: str
    rule: str
    score: float
    left: frozenset[str]
    right: frozenset[str]


@dataclass
class _Cluster:
    members: list[str]
    counts: Counter[str]
    exclusive: dict[tuple[str, str], set[str]]
    customers: set[str]
    partners: set[str]  # nodes this cluster may never join (cannot-link)


@dataclass
class Outcome:
    decisions: dict[str, Decision] = field(default_factory=dict)
    clusters: list[list[str]] = field(default_factory=list)
    unions: list[Union] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # newly blocked node → reason


def _order(link: GraphLink) -> tuple[int, float, int, str]:
    return (rule_priority(link.rule), -link.score, -link.evidence_count, link.id)


def blocked_keys(nodes: dict[str, GraphNode], links: Iterable[GraphLink], limit: int) -> dict[str, str]:
    """Shared keys that tie more than `limit` accounts together, with the reason."""
    neighbours: dict[str, set[str]] = defaultdict(set)
    ignored = {LinkStatus.REJECTED.value, LinkStatus.CANNOT_LINK.value}
    for link in links:
        if link.status in ignored:
            continue
        a, b = nodes.get(link.node_a), nodes.get(link.node_b)
        if a is None or b is None:
            continue
        for key, other in ((a, b), (b, a)):
            if policy(key.kind).is_shared_key and is_account_kind(other.kind):
                neighbours[key.id].add(other.id)
    return {
        key: f"over_linking_key: ties {len(accounts)} accounts (limit {limit})"
        for key, accounts in neighbours.items()
        if len(accounts) > limit
    }


def _blocked_neighbours(
    nodes: dict[str, GraphNode], links: Iterable[GraphLink], blocked: set[str]
) -> dict[str, set[str]]:
    """Per node, the blocked keys a record showed it with (links of the rules, not the matcher)."""
    found: dict[str, set[str]] = defaultdict(set)
    for link in links:
        if link.is_proposed or link.node_a not in nodes or link.node_b not in nodes:
            continue
        if link.node_a in blocked:
            found[link.node_b].add(link.node_a)
        if link.node_b in blocked:
            found[link.node_a].add(link.node_b)
    return found


def decide(
    nodes: dict[str, GraphNode],
    links: list[GraphLink],
    thresholds: Thresholds,
    *,
    extra_blocked: dict[str, str] | None = None,
) -> Outcome:
    """Decide every link of a closed scope of the graph and cluster its nodes."""
    outcome = Outcome()
    newly = blocked_keys(nodes, links, thresholds.max_accounts_per_key)
    newly.update(extra_blocked or {})
    outcome.blocked = {key: reason for key, reason in newly.items() if not nodes[key].is_blocked}
    blocked = {node.id for node in nodes.values() if node.is_blocked} | set(newly)

    parent: dict[str, str] = {node_id: node_id for node_id in nodes}
    clusters: dict[str, _Cluster] = {}
    for node in nodes.values():
        exclusive: dict[tuple[str, str], set[str]] = {}
        if policy(node.kind).is_exclusive:
            exclusive[(node.kind, node.scope)] = {node.id}
        clusters[node.id] = _Cluster(
            members=[node.id],
            counts=Counter({node.kind: 1}),
            exclusive=exclusive,
            customers={node.customer_id} if node.customer_id else set(),
            partners=set(),
        )
    for link in links:
        if link.status == LinkStatus.CANNOT_LINK.value and link.node_a in nodes and link.node_b in nodes:
            clusters[link.node_a].partners.add(link.node_b)
            clusters[link.node_b].partners.add(link.node_a)
    blocked_named = _blocked_neighbours(nodes, links, blocked)

    def find(node_id: str) -> str:
        root = node_id
        while parent[root] != root:
            root = parent[root]
        while parent[node_id] != root:
            parent[node_id], node_id = root, parent[node_id]
        return root

    def refusal(left: str, right: str) -> str:
        one, two = clusters[left], clusters[right]
        if any(find(partner) == right for partner in one.partners):
            return "cannot_link"
        for key, held in one.exclusive.items():
            theirs = two.exclusive.get(key)
            if theirs and theirs != held:
                return f"exclusive:{key[0]}"
        for kind, count in one.counts.items():
            limit = policy(kind).limit
            if limit is not None and count + two.counts.get(kind, 0) > limit:
                return f"limit:{kind}"
        if len(one.members) + len(two.members) > thresholds.max_cluster_nodes:
            return "cluster_cap"
        return ""

    def join(left: str, right: str, link: GraphLink) -> None:
        one, two = clusters[left], clusters[right]
        outcome.unions.append(
            Union(link.id, link.rule, link.score, frozenset(one.customers), frozenset(two.customers))
        )
        if len(one.members) < len(two.members):
            left, right, one, two = right, left, two, one
        parent[right] = left
        one.members.extend(two.members)
        one.counts.update(two.counts)
        for key, held in two.exclusive.items():
            one.exclusive.setdefault(key, set()).update(held)
        one.customers |= two.customers
        one.partners |= two.partners
        del clusters[right]

    for link in sorted(links, key=_order):
        if link.node_a not in nodes or link.node_b not in nodes:
            continue
        if link.status in (LinkStatus.REJECTED.value, LinkStatus.CANNOT_LINK.value):
            continue
        left, right = find(link.node_a), find(link.node_b)
        if link.status == LinkStatus.MANUAL.value:
            # A person decided: only their own cannot-link (already lifted by a merge) may stop it.
            if left != right and not any(find(p) == right for p in clusters[left].partners):
                join(left, right, link)
            continue
        kinds = (nodes[link.node_a].kind, nodes[link.node_b].kind)
        if any(policy(kind).is_weak for kind in kinds):
            outcome.decisions[link.id] = Decision(LinkStatus.WEAK.value, "weak_key")
            continue
        if link.node_a in blocked or link.node_b in blocked:
            outcome.decisions[link.id] = Decision(LinkStatus.REFUSED.value, "over_linking_key")
            continue
        if link.is_proposed and blocked_named.get(link.node_a, set()) & blocked_named.get(link.node_b, set()):
            outcome.decisions[link.id] = Decision(LinkStatus.REFUSED.value, "over_linking_key")
            continue
        if left == right:
            outcome.decisions[link.id] = Decision(LinkStatus.MERGED.value)
            continue
        if link.score < thresholds.review:
            outcome.decisions[link.id] = Decision(LinkStatus.REFUSED.value, "below_threshold")
            continue
        if any(find(partner) == right for partner in clusters[left].partners):
            outcome.decisions[link.id] = Decision(LinkStatus.REFUSED.value, "cannot_link")
            continue
        if link.score < thresholds.auto_merge:
            # A person decides, so a kind's exclusivity does not stop the question being asked.
            outcome.decisions[link.id] = Decision(LinkStatus.REVIEW.value)
            continue
        reason = refusal(left, right)
        if reason:
            outcome.decisions[link.id] = Decision(LinkStatus.REFUSED.value, reason)
            continue
        join(left, right, link)
        outcome.decisions[link.id] = Decision(LinkStatus.MERGED.value)

    outcome.clusters = [sorted(cluster.members) for cluster in clusters.values()]
    outcome.clusters.sort(key=lambda members: members[0])
    return outcome


# ---------------------------------------------------------------------------------------------
# Clusters → customers


@dataclass
class Assignment:
    node_customer: dict[str, str | None] = field(default_factory=dict)  # every node of the scope
    new_customers: dict[str, list[str]] = field(default_factory=dict)  # placeholder → its nodes
    merges: list[tuple[str, str]] = field(default_factory=list)  # (absorbed, survivor)
    splits: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (from, to, nodes)


NEW_PREFIX = "new:"


def assign_customers(
    nodes: dict[str, GraphNode],
    clusters: list[list[str]],
    customer_age: dict[str, tuple[datetime, str]],
    anchors: set[str],
) -> Assignment:
    """Which customer each cluster is. `customer_age` holds the active customers of the scope
    ((created_at, id), oldest first wins); `anchors` the nodes something hangs off (an order, a
    contact, an account). A new customer is named `new:<its first node>` until it is created."""
    result = Assignment()
    cluster_of = {node_id: index for index, members in enumerate(clusters) for node_id in members}
    per_customer: dict[str, Counter[int]] = defaultdict(Counter)
    smallest: dict[tuple[str, int], str] = {}
    for node in nodes.values():
        if node.customer_id and node.customer_id in customer_age:
            index = cluster_of[node.id]
            per_customer[node.customer_id][index] += 1
            key = (node.customer_id, index)
            if key not in smallest or node.id < smallest[key]:
                smallest[key] = node.id
    home: dict[str, int] = {}
    for customer_id, counts in per_customer.items():
        home[customer_id] = min(counts, key=lambda index: (-counts[index], smallest[(customer_id, index)]))
    candidates: dict[int, list[str]] = defaultdict(list)
    for customer_id, index in home.items():
        candidates[index].append(customer_id)
    owner: dict[int, str] = {}
    for index, members in enumerate(clusters):
        found = sorted(candidates.get(index, []), key=lambda customer_id: customer_age[customer_id])
        if found:
            owner[index] = found[0]
            result.merges.extend((absorbed, found[0]) for absorbed in found[1:])
        elif any(
            node_id in anchors or is_account_kind(nodes[node_id].kind)
            for node_id in members
            if not policy(nodes[node_id].kind).is_weak
        ):
            placeholder = NEW_PREFIX + members[0]
            owner[index] = placeholder
            result.new_customers[placeholder] = list(members)
    merged_into = dict(result.merges)
    moved: dict[tuple[str, str], list[str]] = defaultdict(list)
    for index, members in enumerate(clusters):
        target = owner.get(index)
        for node_id in members:
            node = nodes[node_id]
            target_for_node = None if policy(node.kind).is_weak else target
            result.node_customer[node_id] = target_for_node
            previous = node.customer_id
            if (
                previous
                and previous in customer_age
                and target_for_node is not None
                and previous != target_for_node
                and merged_into.get(previous) != target_for_node
            ):
                moved[(previous, target_for_node)].append(node_id)
    result.splits = [(source, target, sorted(ids)) for (source, target), ids in sorted(moved.items())]
    return result


def attribute(unions: list[Union], absorbed: str) -> Union | None:
    """The union that first brought `absorbed` together with another customer."""
    for union in unions:
        for mine, theirs in ((union.left, union.right), (union.right, union.left)):
            if absorbed in mine and theirs - {absorbed}:
                return union
    return None
