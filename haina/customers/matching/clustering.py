"""Clusters from auto-merge links: connected components, built strongest link first, with guards.

A plain connected-components pass lets one wrong link glue two people together, and a chain
of such links snowball into a giant cluster. So links are applied from the strongest down and
two clusters are joined only if:

- the result stays within `max_cluster_size`;
- with `unique_per_source`, the two clusters hold no record of the same source;
- their strong identifiers (full phone, id number…) do not conflict — no value on one side fits
  any value on the other, between records that are not auto-merge links themselves (a direct
  link already weighed its own disagreement) — unless the clusters are tied by at least two
  auto-merge links that cover half of the record pairs between them: a single link through
  other records is not enough to join two phones.

A link refused by a guard is reported with the reason, for a person to review.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from haina.customers.matching.normalize import is_masked


@dataclass(frozen=True)
class Refusal:
    left: int
    right: int
    reason: str


@dataclass(frozen=True)
class IdentifierValues:
    """The values of one conflict-checked identifier, per record ("" = none), and how to compare two."""

    name: str
    values: Sequence[str]
    agrees: Callable[[str, str], bool]


class _Clusters:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))
        self.members: dict[int, list[int]] = {index: [index] for index in range(size)}

    def find(self, index: int) -> int:
        root = index
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[index] != root:
            self.parent[index], index = root, self.parent[index]
        return root

    def union(self, left: int, right: int) -> int:
        if len(self.members[left]) < len(self.members[right]):
            left, right = right, left
        self.parent[right] = left
        self.members[left].extend(self.members.pop(right))
        return left


def _conflict(
    first: Sequence[int],
    second: Sequence[int],
    identifiers: Sequence[IdentifierValues],
    neighbours: dict[int, set[int]],
) -> str | None:
    """The first identifier on which no value of one cluster fits a value of the other.

    When both clusters hold full values, only those count: a masked 138****5678 fits many
    people and cannot reconcile two different full phones. Records linked to each other
    directly are no conflict (their own link already weighed the disagreement)."""
    for identifier in identifiers:
        left = [(index, identifier.values[index]) for index in first if identifier.values[index]]
        right = [(index, identifier.values[index]) for index in second if identifier.values[index]]
        if not left or not right:
            continue
        left_full = [(index, value) for index, value in left if not is_masked(value)]
        right_full = [(index, value) for index, value in right if not is_masked(value)]
        if left_full and right_full:
            left, right = left_full, right_full
        if any(identifier.agrees(a, b) for _, a in left for _, b in right):
            continue
        if any(other not in neighbours[index] for index, _ in left for other, _ in right):
            return identifier.name
    return None


def cluster(
    size: int,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    mergeable: np.ndarray,
    *,
    identifiers: Sequence[IdentifierValues] = (),
    sources: Sequence[str] | None = None,
    max_cluster_size: int = 100,
) -> tuple[np.ndarray, list[Refusal]]:
    """Cluster label (the smallest record index of its cluster) per record, and refused links.

    Only pairs with `mergeable` set are links; they are applied by descending weight."""
    clusters = _Clusters(size)
    refused: list[Refusal] = []
    links = np.flatnonzero(mergeable)
    # Strongest first; ties broken by record order so the result does not depend on input order of pairs.
    order = links[np.lexsort((right[links], left[links], -weight[links]))]
    neighbours: dict[int, set[int]] = defaultdict(set)
    for index in links:
        neighbours[int(left[index])].add(int(right[index]))
        neighbours[int(right[index])].add(int(left[index]))
    for index in order:
        a, b = int(left[index]), int(right[index])
        root_a, root_b = clusters.find(a), clusters.find(b)
        if root_a == root_b:
            continue
        members_a, members_b = clusters.members[root_a], clusters.members[root_b]
        if len(members_a) + len(members_b) > max_cluster_size:
            refused.append(Refusal(a, b, "cluster_size"))
            continue
        if sources is not None:
            sources_a = {sources[member] for member in members_a}
            if any(sources[member] in sources_a for member in members_b):
                refused.append(Refusal(a, b, "same_source"))
                continue
        conflicting = _conflict(members_a, members_b, identifiers, neighbours)
        if conflicting is not None:
            set_b = set(members_b)
            ties = sum(len(neighbours[member] & set_b) for member in members_a)
            if ties < 2 or ties * 2 < len(members_a) * len(members_b):
                refused.append(Refusal(a, b, f"conflicting_{conflicting}"))
                continue
        clusters.union(root_a, root_b)
    labels = np.empty(size, dtype=np.int64)
    for members in clusters.members.values():
        labels[members] = min(members)
    return labels, refused
