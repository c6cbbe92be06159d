"""Where the probabilistic matcher plugs into identity resolution.

The deterministic rules (haina.customers.identity.rules) settle what they can. For the rest the
resolver asks a `LinkProposer`: given the records being resolved and candidate records from the
rest of the tenant, it returns scored pairs. The resolver stores each pair as an `IdentityLink`
(rule "probabilistic" unless the proposer names another) and decides it like any other link:

* score ≥ the tenant's auto-merge threshold → merged, subject to every guard rail (exclusive
  kinds, per-kind limits, the cluster cap, blocked keys, human cannot-links);
* review threshold ≤ score < auto-merge threshold → the review queue (side-by-side compare);
* below → dropped.

The matcher (haina.customers.matching, pure functions) is adapted to this protocol by one small
function and registered with `set_link_proposer(...)`; nothing else changes. With no proposer
registered, resolution is deterministic only.

A proposer that also says which pairs it would score (`IndexedProposer`: blocking keys per record,
and a pair scorer) lets incremental resolution agree with a rebuild: the resolver keeps every
record's keys in an index and scores exactly the pairs that share a key, in a batch of new records
as in a rebuild of everything. A plain `LinkProposer` sees only the records being resolved (their
own candidates) incrementally, and every record in a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class MatchRecord:
    """One record as the matcher sees it: the columns of `haina oneid link`'s CSV, plus where it
    sits in the graph. `record_id` is the id of the record's anchor node.

    PII: `phone` is never a full number: it is the masked form a platform showed (138****5678 or
    *******5678); `phone_hash` is the keyed hash of a full number when one is known.
    """

    record_id: str
    source: str  # platform: youzan, taobao, wecom…
    customer_id: str | None = None
    name: str = ""
    phone: str = ""
    phone_hash: str = ""
    email_hash: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    address: str = ""
    birth_date: str = ""
    device_ids: tuple[str, ...] = ()
    platform_uid: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. categories bought, order count


@dataclass(frozen=True)
class ProposedLink:
    """A pair the matcher thinks may be one person; `score` is a match probability in [0, 1]."""

    left: str  # MatchRecord.record_id
    right: str
    score: float
    rule: str = "probabilistic"
    detail: dict[str, Any] = field(default_factory=dict)  # per-field comparison, shown in review


class LinkProposer(Protocol):
    def __call__(
        self, records: Sequence[MatchRecord], candidates: Sequence[MatchRecord]
    ) -> Iterable[ProposedLink]:
        """Scored pairs between `records` (being resolved) and `candidates` (or among `records`)."""
        ...


@runtime_checkable
class IndexedProposer(LinkProposer, Protocol):
    """A proposer whose candidate pairs are the records sharing a blocking key, with a score that
    depends on the two records only; keys held by more than `max_block_size` records pair nothing."""

    max_block_size: int

    def blocking_keys(self, records: Sequence[MatchRecord]) -> list[list[str]]:
        """Per record, its blocking keys as text, the same whichever records come with it."""
        ...

    def score_pairs(
        self, records: Sequence[MatchRecord], pairs: Sequence[tuple[int, int]]
    ) -> Iterable[ProposedLink]:
        """The given pairs (indexes into `records`) the proposer thinks may be one person."""
        ...


_UNSET: Any = object()
_proposer: Any = _UNSET


def set_link_proposer(proposer: LinkProposer | None) -> None:
    """Register the matcher (None: deterministic rules only)."""
    global _proposer
    _proposer = proposer


def reset_link_proposer() -> None:
    """Back to the default (the settings decide at the next use)."""
    global _proposer
    _proposer = _UNSET


def link_proposer() -> LinkProposer | None:
    """The registered proposer; unregistered, the probabilistic matcher when the settings turn
    it on (HAINA_ONEID_MATCHER, on by default), else none (deterministic rules only)."""
    global _proposer
    if _proposer is _UNSET:
        from haina.core.settings import get_settings
        from haina.customers.identity.matcher import MatcherProposer

        _proposer = MatcherProposer() if get_settings().oneid_matcher else None
    return _proposer  # type: ignore[no-any-return]


def propose_links(
    records: Sequence[MatchRecord],
    candidates: Sequence[MatchRecord],
    *,
    proposer: LinkProposer | None = None,
) -> list[ProposedLink]:
    """The registered (or given) proposer's pairs, each once, without self-pairs."""
    chosen = proposer if proposer is not None else link_proposer()
    if chosen is None or not records:
        return []
    return unique_links(chosen(records, candidates))


def unique_links(links: Iterable[ProposedLink]) -> list[ProposedLink]:
    """Each pair once (its best score), without self-pairs."""
    seen: dict[tuple[str, str], ProposedLink] = {}
    for link in links:
        if link.left == link.right:
            continue
        key = (min(link.left, link.right), max(link.left, link.right))
        held = seen.get(key)
        if held is None or link.score > held.score:
            seen[key] = link
    return list(seen.values())


ProposerFactory = Callable[[], LinkProposer]
