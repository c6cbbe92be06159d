"""A person's decisions: merge two customers, undo a merge, accept or reject a review item.

Each is recorded three ways: as a link the resolver keeps honouring (a `manual` link joins, a
`cannot_link` keeps apart, so a rebuild reproduces the decision), as a domain event
(customer.merged / customer.unmerged) and in the audit log (who, which rule, what score).

Unmerge gives back exactly what the absorbed customer had when it was merged: its row was never
deleted, and the merge kept its node list. Nodes that joined the merged customer afterwards go
to the side their own links lead to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.errors import Conflict, InvalidInput
from haina.customers import repository as records_repository
from haina.customers.identity import repository, rules
from haina.customers.identity.models import (
    Customer,
    CustomerMerge,
    CustomerStatus,
    IdentityNode,
    IdentityReview,
    LinkStatus,
    ReviewStatus,
)
from haina.customers.identity.service import (
    ResolveResult,
    _resolve_scope,
    _write_mirrors,
    refresh_customers,
    thresholds_for,
)


class AlreadyOneCustomer(Conflict):
    code = "already_merged"


class NotMergeable(Conflict):
    code = "not_mergeable"


class AlreadyUndone(Conflict):
    code = "merge_already_undone"


class AlreadyDecided(Conflict):
    code = "review_already_decided"


def _representative(nodes: Sequence[IdentityNode]) -> IdentityNode:
    found = rules.best_anchor([(node.kind, node.id) for node in nodes])
    return next(node for node in nodes if node.id == found)


def _link_row(
    tenant_id: str, a: str, b: str, rule: str, score: float, status: str, by: str
) -> dict[str, object]:
    now = clock.now()
    first, second = sorted((a, b))
    return {
        "id": rules.link_id(tenant_id, first, second, rule),
        "tenant_id": tenant_id,
        "node_a": first,
        "node_b": second,
        "rule": rule,
        "score": score,
        "status": status,
        "reason": "",
        "evidence_type": "person",
        "evidence_id": "",
        "evidence_count": 1,
        "decided_by": by,
        "created_at": now,
        "updated_at": now,
    }


def _active(session: Session, tenant_id: str, customer_id: str) -> Customer:
    customer = repository.CustomerRepository(session, tenant_id).get(customer_id)
    if customer.status != CustomerStatus.ACTIVE.value:
        raise NotMergeable(
            f"customer {customer_id} was merged into {customer.merged_into_id}; use that customer instead",
            customer_id=customer_id,
        )
    return customer


def _human_merge(
    session: Session, actor: Actor, first: Customer, second: Customer, *, rule: str, score: float
) -> CustomerMerge:
    tenant_id = actor.tenant_id
    nodes_repo = repository.NodeRepository(session, tenant_id)
    left = nodes_repo.of_customers([first.id])
    right = nodes_repo.of_customers([second.id])
    if not left or not right:
        raise NotMergeable("a customer without identities cannot be merged", code="not_mergeable")
    links_repo = repository.LinkRepository(session, tenant_id)
    left_ids, right_ids = {node.id for node in left}, {node.id for node in right}
    # The person overrides an earlier "keep apart" between these two.
    lifted = [
        link.id
        for link in links_repo.touching(sorted(left_ids))
        if link.status == LinkStatus.CANNOT_LINK.value
        and ({link.node_a, link.node_b} & right_ids)
        and ({link.node_a, link.node_b} & left_ids)
    ]
    links_repo.delete_ids(lifted)
    a, b = _representative(left), _representative(right)
    row = _link_row(tenant_id, a.id, b.id, rule, score, LinkStatus.MANUAL.value, actor.username)
    links_repo.upsert_manual(row)
    result = ResolveResult()
    _resolve_scope(
        session,
        tenant_id,
        left_ids | right_ids,
        thresholds_for(session, tenant_id),
        result,
        actor_id=actor.user_id,
        actor_name=actor.username,
    )
    merges = repository.MergeRepository(session, tenant_id)
    found = [merges.get(merge_id) for merge_id in result.merge_ids]
    mine = [merge for merge in found if {merge.survivor_id, merge.absorbed_id} == {first.id, second.id}]
    if not mine:
        raise NotMergeable("the two customers could not be merged", code="not_mergeable")
    merge = mine[0]
    audit.record(
        session,
        "customer.merged",
        actor=actor,
        target_type="customer",
        target_id=merge.survivor_id,
        detail={"merge_id": merge.id, "absorbed_id": merge.absorbed_id, "rule": rule, "score": score},
    )
    return merge


def merge_customers(session: Session, actor: Actor, customer_id: str, other_id: str) -> CustomerMerge:
    """Merge two customers (the older one survives); the guard rails do not stop a person."""
    if customer_id == other_id:
        raise InvalidInput("a customer cannot be merged with itself", code="same_customer")
    first = _active(session, actor.tenant_id, customer_id)
    second = _active(session, actor.tenant_id, other_id)
    return _human_merge(session, actor, first, second, rule="manual", score=1.0)


def unmerge(session: Session, actor: Actor, merge_id: str) -> CustomerMerge:
    """Undo a merge: the absorbed customer comes back with the nodes it had (and with them its
    orders, contacts and identities); the two are kept apart from now on."""
    tenant_id = actor.tenant_id
    merge = repository.MergeRepository(session, tenant_id).get(merge_id)
    if merge.undone_at is not None:
        raise AlreadyUndone(f"merge {merge_id} was undone already", merge_id=merge_id)
    customers = repository.CustomerRepository(session, tenant_id)
    absorbed = customers.get(merge.absorbed_id)
    if absorbed.status != CustomerStatus.MERGED.value:
        raise AlreadyUndone(f"customer {absorbed.id} is not merged any more", merge_id=merge_id)
    nodes_repo = repository.NodeRepository(session, tenant_id)
    theirs = nodes_repo.by_ids(merge.absorbed_node_ids)
    homes = Counter(node.customer_id for node in theirs if node.customer_id)
    if not homes:
        raise NotMergeable(
            "the merged customer's identities are gone; nothing to give back", code="not_mergeable"
        )
    home = min(homes, key=lambda customer_id: (-homes[customer_id], customer_id))
    back = [node for node in theirs if node.customer_id == home]
    back_ids = {node.id for node in back}
    rest = [node for node in nodes_repo.of_customers([home]) if node.id not in back_ids]
    now = clock.now()
    links_repo = repository.LinkRepository(session, tenant_id)
    rest_ids = {node.id for node in rest}
    crossing = [
        {
            "l_id": link.id,
            "new_status": LinkStatus.REJECTED.value,
            "new_reason": "unmerged",
            "new_by": actor.username,
        }
        for link in links_repo.touching(sorted(back_ids))
        if link.status in (LinkStatus.MERGED.value, LinkStatus.MANUAL.value, LinkStatus.PENDING.value)
        and ({link.node_a, link.node_b} & rest_ids)
    ]
    links_repo.set_statuses(crossing, now)
    if rest:
        row = _link_row(
            tenant_id,
            _representative(back).id,
            _representative(rest).id,
            "unmerge",
            1.0,
            LinkStatus.CANNOT_LINK.value,
            actor.username,
        )
        links_repo.upsert_manual(row)
    absorbed.status = CustomerStatus.ACTIVE.value
    absorbed.merged_into_id = None
    absorbed.updated_at = now
    moved = {node.id: absorbed.id for node in back}
    nodes_repo.set_customers(moved, now)
    repository.OrderOwnerRepository(session, tenant_id).move(moved)
    session.flush()
    _write_mirrors(session, tenant_id, dict(moved), dict(moved), None)
    merge.undone_at = now
    merge.undone_by_id = actor.user_id
    merge.undone_by_name = actor.username
    session.flush()
    result = ResolveResult()
    _resolve_scope(
        session,
        tenant_id,
        back_ids | rest_ids,
        thresholds_for(session, tenant_id),
        result,
        actor_id=actor.user_id,
        actor_name=actor.username,
    )
    refresh_customers(session, tenant_id, [home, absorbed.id])
    records_repository.insert_events(
        session,
        tenant_id,
        [
            (
                "customer.unmerged",
                {
                    "merge_id": merge.id,
                    "customer_id": absorbed.id,
                    "from_customer_id": home,
                    "node_ids": sorted(back_ids),
                    "actor": actor.username,
                },
            )
        ],
    )
    audit.record(
        session,
        "customer.unmerged",
        actor=actor,
        target_type="customer",
        target_id=absorbed.id,
        detail={"merge_id": merge.id, "from_customer_id": home, "rule": merge.rule, "score": merge.score},
    )
    session.flush()
    return merge


def _review(session: Session, tenant_id: str, review_id: str) -> IdentityReview:
    review = repository.ReviewRepository(session, tenant_id).get(review_id)
    if review.status != ReviewStatus.OPEN.value:
        raise AlreadyDecided(f"review {review_id} is {review.status} already", review_id=review_id)
    return review


def _sides(session: Session, tenant_id: str, review: IdentityReview) -> tuple[str | None, str | None]:
    nodes = {
        node.id: node
        for node in repository.NodeRepository(session, tenant_id).by_ids([review.node_a, review.node_b])
    }
    left, right = nodes.get(review.node_a), nodes.get(review.node_b)
    return (left.customer_id if left else None, right.customer_id if right else None)


def accept_review(session: Session, actor: Actor, review_id: str) -> IdentityReview:
    """They are one person: merge the two customers (rule `review_accepted`, the pair's score)."""
    tenant_id = actor.tenant_id
    review = _review(session, tenant_id, review_id)
    left, right = _sides(session, tenant_id, review)
    now = clock.now()
    if left is not None and left == right:
        review.status = ReviewStatus.OBSOLETE.value
        review.decided_at = now
        session.flush()
        raise AlreadyOneCustomer("the two sides are one customer already", review_id=review_id)
    if left is None or right is None:
        raise NotMergeable("a side of this pair belongs to no customer", code="not_mergeable")
    first = _active(session, tenant_id, left)
    second = _active(session, tenant_id, right)
    _human_merge(session, actor, first, second, rule="review_accepted", score=review.score)
    review.status = ReviewStatus.ACCEPTED.value
    review.decided_by_id = actor.user_id
    review.decided_by_name = actor.username
    review.decided_at = now
    session.flush()
    return review


def reject_review(session: Session, actor: Actor, review_id: str) -> IdentityReview:
    """Not one person: the pair is kept apart from now on (rebuilds included)."""
    tenant_id = actor.tenant_id
    review = _review(session, tenant_id, review_id)
    now = clock.now()
    links_repo = repository.LinkRepository(session, tenant_id)
    links_repo.set_statuses(
        [
            {
                "l_id": review.link_id,
                "new_status": LinkStatus.REJECTED.value,
                "new_reason": "review_rejected",
                "new_by": actor.username,
            }
        ],
        now,
    )
    links_repo.upsert_manual(
        _link_row(
            tenant_id,
            review.node_a,
            review.node_b,
            "review_rejected",
            review.score,
            LinkStatus.CANNOT_LINK.value,
            actor.username,
        )
    )
    review.status = ReviewStatus.REJECTED.value
    review.decided_by_id = actor.user_id
    review.decided_by_name = actor.username
    review.decided_at = now
    audit.record(
        session,
        "customer.review_rejected",
        actor=actor,
        target_type="identity_review",
        target_id=review.id,
        detail={"rule": review.rule, "score": review.score},
    )
    session.flush()
    return review


def decide_review(session: Session, actor: Actor, review_id: str, *, accept: bool) -> IdentityReview:
    return accept_review(session, actor, review_id) if accept else reject_review(session, actor, review_id)


__all__ = [
    "AlreadyDecided",
    "AlreadyOneCustomer",
    "AlreadyUndone",
    "NotMergeable",
    "accept_review",
    "decide_review",
    "merge_customers",
    "reject_review",
    "unmerge",
]
