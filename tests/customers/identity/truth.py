"""Comparing resolved customers with the sandbox generator's ground truth.

The records are the ground truth's identity records that Haina can see: a platform account
with at least one stored order (its customer: the owner of most of its orders) and a WeCom
contact (its customer: `contacts.customer_id`). Pairwise precision and recall: a pair of records
is predicted linked when they have the same customer, truly linked when they are one person.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import select
from sqlalchemy.orm import Session

from haina.customers.identity.models import OrderOwner
from haina.customers.models import Contact, record_id
from haina.sandbox.world import World


@dataclass(frozen=True)
class Scores:
    records: int
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (
            f"records={self.records} true_pairs={self.true_pairs} predicted_pairs={self.predicted_pairs} "
            f"precision={self.precision:.4f} recall={self.recall:.4f} f1={self.f1:.4f}"
        )


def resolved_records(session: Session, tenant_id: str, world: World) -> dict[str, tuple[str, str]]:
    """record key → (person id, customer id) for every ground-truth record Haina holds."""
    owners = {
        row.order_id: row.customer_id
        for row in session.execute(
            select(OrderOwner.order_id, OrderOwner.customer_id).where(OrderOwner.tenant_id == tenant_id)
        )
    }
    by_account: dict[str, Counter[str]] = defaultdict(Counter)
    for order in world.orders:
        stored = record_id("order", tenant_id, order.platform, order.shop_id, order.order_id)
        customer_id = owners.get(stored)
        if customer_id:
            by_account[order.account_id][customer_id] += 1
    found: dict[str, tuple[str, str]] = {}
    for account in world.accounts:
        counts = by_account.get(account.account_id)
        if counts:
            found[f"account:{account.account_id}"] = (account.person_id, counts.most_common(1)[0][0])
    contacts = {
        row.external_userid: row.customer_id
        for row in session.execute(
            select(Contact.external_userid, Contact.customer_id).where(Contact.tenant_id == tenant_id)
        )
    }
    for contact in world.contacts:
        customer_id = contacts.get(contact.external_userid)
        if customer_id:
            found[f"contact:{contact.external_userid}"] = (contact.person_id, customer_id)
    return found


def pairwise(records: dict[str, tuple[str, str]]) -> Scores:
    by_person: dict[str, list[str]] = defaultdict(list)
    by_customer: dict[str, list[str]] = defaultdict(list)
    for key, (person, customer) in records.items():
        by_person[person].append(key)
        by_customer[customer].append(key)
    true_pairs = {frozenset(pair) for keys in by_person.values() for pair in combinations(keys, 2)}
    predicted = {frozenset(pair) for keys in by_customer.values() for pair in combinations(keys, 2)}
    return Scores(len(records), len(true_pairs), len(predicted), len(true_pairs & predicted))
