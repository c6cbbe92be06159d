"""What a matching run compares, how it finds candidate pairs, and where it draws its lines."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from haina.customers.matching.comparisons import Comparison, SwapPair

LinkType = Literal["dedupe", "link_only"]


@dataclass(frozen=True)
class KeyPart:
    """One part of a blocking key: a feature of a comparison, optionally cut to its first characters."""

    comparison: str
    feature: str = "code"
    prefix: int | None = None

    @classmethod
    def parse(cls, text: str) -> KeyPart:
        """ "surname", "phone.visible_code", "surname.value[:3]"."""
        prefix = None
        if text.endswith("]") and "[:" in text:
            text, _, rest = text.partition("[:")
            prefix = int(rest[:-1])
        comparison, _, feature = text.partition(".")
        return cls(comparison, feature or ("value" if prefix else "code"), prefix)


@dataclass(frozen=True)
class BlockingRule:
    """Records whose key parts are all present and equal become candidate pairs.

    Several rules are unioned: a true pair needs to share only one key to be compared."""

    name: str
    parts: tuple[KeyPart, ...]

    @classmethod
    def on(cls, *parts: str, name: str | None = None) -> BlockingRule:
        return cls(name or "+".join(parts), tuple(KeyPart.parse(part) for part in parts))


def probability_to_weight(probability: float) -> float:
    return math.log2(probability / (1 - probability))


@dataclass(frozen=True)
class MatchSettings:
    """Settings of a matching run. Thresholds are fixed here, the same for every data set.

    auto_merge_probability: a pair at or above it is merged without a person looking.
    review_probability: a pair at or above it (and below auto-merge) is proposed for review.
    min_personal_weight: shared evidence (a household's device or address) counts towards an
    auto-merge only when the other comparisons add at least this many bits (2^8: the personal
    evidence alone is 256 times likelier for one person than for two).
    max_cluster_size: a merge that would make a cluster larger is sent to review instead.
    max_block_size: a blocking key shared by more records than this (a shop's kiosk device, a
    placeholder phone) makes no pairs: it says nothing about who is who and would cost n² pairs.
    unique_per_source: each source is already free of duplicates (link_only of two clean lists),
    so a cluster holds at most one record of each source.
    random_pairs: pairs drawn to count u; by default 5 per record, at least 100,000 and at most
    1,000,000 (a level never seen among them gets half a pair, which bounds its weight)."""

    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    swaps: tuple[SwapPair, ...] = ()
    link_type: LinkType = "dedupe"
    record_id_field: str = "record_id"
    source_field: str = "source"
    auto_merge_probability: float = 0.99
    review_probability: float = 0.5
    min_personal_weight: float = 8.0
    max_cluster_size: int = 100
    max_block_size: int = 1000
    unique_per_source: bool = False
    random_pairs: int | None = None
    em_max_iterations: int = 100
    em_tolerance: float = 1e-5
    seed: int = 20_241_111

    def __post_init__(self) -> None:
        names = [comparison.name for comparison in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError("comparison names must be unique")
        for rule in self.blocking_rules:
            for part in rule.parts:
                if part.comparison not in names:
                    raise ValueError(f"blocking rule {rule.name}: no comparison named {part.comparison}")
        for swap in self.swaps:
            if swap.first not in names or swap.second not in names:
                raise ValueError(f"swap {swap}: unknown comparison")
        if not 0 < self.review_probability <= self.auto_merge_probability < 1:
            raise ValueError("need 0 < review_probability <= auto_merge_probability < 1")

    @property
    def auto_merge_weight(self) -> float:
        return probability_to_weight(self.auto_merge_probability)

    @property
    def review_weight(self) -> float:
        return probability_to_weight(self.review_probability)

    def random_pair_count(self, records: int) -> int:
        if self.random_pairs is not None:
            return self.random_pairs
        return min(max(100_000, 5 * records), 1_000_000)

    def comparison(self, name: str) -> Comparison:
        for comparison in self.comparisons:
            if comparison.name == name:
                return comparison
        raise KeyError(name)

    def with_changes(self, **changes: object) -> MatchSettings:
        return replace(self, **changes)  # type: ignore[arg-type]
