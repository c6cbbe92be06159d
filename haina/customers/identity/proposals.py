"""Which pairs the matcher scores, and how its proposals become links.

With an `IndexedProposer` (the probabilistic matcher) a pair is scored when its two records share
a blocking key not held by more than `max_block_size` records, whether they arrive together,
one after the other, or meet in a rebuild:

* rebuild (`propose_all`): every record's keys are grouped in memory and the index
  (`identity_block_keys`) is rewritten;
* incremental (`propose_changed`): the records whose own data changed get their keys replaced in
  the index; their candidates are the other holders of those keys (an index probe per key, never
  a scan of the tenant's orders); when a key's holders cross `max_block_size` either way, every
  holder is scored again, since the pairs made through that key appear or go.

A pair's score depends on its two records only, and a record is scored again whenever it changes,
so the matcher's links touching a record scored again are replaced by its new proposals
(`replace_links`): after any arrival order they are the links a rebuild makes.

Keys are stored as digests: the text of a key holds a name, a masked phone or an address.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from haina.core import clock
from haina.customers.identity import repository, rules, seam
from haina.customers.identity.match_records import match_records
from haina.customers.identity.models import LinkStatus
from haina.customers.identity.resolver import Thresholds

MATCHER_EVIDENCE = "matcher"


def key_digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass
class Proposed:
    """Proposals for the records scored, and which records those were. `is_complete`: every
    candidate of those records was scored, so a link of theirs not proposed again is stale."""

    links: list[seam.ProposedLink] = field(default_factory=list)
    scored: set[str] = field(default_factory=set)
    is_complete: bool = True


def propose_all(
    session: Session, tenant_id: str, proposer: seam.LinkProposer, order_anchor: Mapping[str, str]
) -> Proposed:
    """Every record of the tenant against every other (a rebuild); rewrites the key index."""
    # The matching package (pinyin tables and all) is loaded only where a matcher runs.
    from haina.customers.matching.blocking import pairs_sharing_text

    records = match_records(session, tenant_id, None, order_anchor)
    scored = {record.record_id for record in records}
    if not isinstance(proposer, seam.IndexedProposer):
        return Proposed(seam.propose_links(records, records, proposer=proposer), scored)
    texts = proposer.blocking_keys(records)
    repository.BlockKeyRepository(session, tenant_id).replace_all(
        {
            record.record_id: {key_digest(text) for text in keys}
            for record, keys in zip(records, texts, strict=True)
        }
    )
    left, right = pairs_sharing_text(texts, proposer.max_block_size)
    pairs = list(zip(left.tolist(), right.tolist(), strict=True))
    return Proposed(seam.unique_links(proposer.score_pairs(records, pairs)), scored)


def propose_changed(
    session: Session,
    tenant_id: str,
    proposer: seam.LinkProposer,
    changed: Iterable[str],
    order_anchor: Mapping[str, str],
) -> Proposed:
    """The records of these anchor nodes (their data just changed) against their candidates."""
    changed = sorted(set(changed))
    records = {
        record.record_id: record for record in match_records(session, tenant_id, changed, order_anchor)
    }
    if not isinstance(proposer, seam.IndexedProposer):
        ordered = list(records.values())
        return Proposed(seam.propose_links(ordered, ordered, proposer=proposer), set(records), False)
    index = repository.BlockKeyRepository(session, tenant_id)
    limit = proposer.max_block_size
    keys = _keys_of(proposer, list(records.values()))
    holders, rescored = _reindex(index, changed, keys, limit)
    if rescored:
        keys.update(index.of_nodes(sorted(rescored)))
        more = {key for node_id in rescored for key in keys.get(node_id, ())} - set(holders)
        holders.update(index.holders(sorted(more), limit + 1))
    scored = set(records) | rescored
    candidates: dict[str, set[str]] = {}
    for node_id in sorted(scored):
        usable = (holders[key] for key in keys.get(node_id, ()) if len(holders[key]) <= limit)
        candidates[node_id] = {other for found in usable for other in found if other != node_id}
    missing = sorted(({node for found in candidates.values() for node in found} | rescored) - set(records))
    if missing:
        records.update(
            (record.record_id, record) for record in match_records(session, tenant_id, missing, order_anchor)
        )
    ordered = list(records.values())
    at = {record.record_id: position for position, record in enumerate(ordered)}
    pairs = sorted(
        {
            (min(at[a], at[b]), max(at[a], at[b]))
            for a, found in candidates.items()
            if a in at
            for b in found
            if b in at
        }
    )
    links = seam.unique_links(proposer.score_pairs(ordered, pairs))
    return Proposed(links, {node_id for node_id in scored if node_id in records} | set(changed))


def _reindex(
    index: repository.BlockKeyRepository, changed: Sequence[str], keys: dict[str, set[str]], limit: int
) -> tuple[dict[str, list[str]], set[str]]:
    """Replace the keys of the changed nodes; returns the holders of their keys and of the keys
    they dropped, and the other nodes to score again: the holders of a key whose count crossed
    `limit` either way (the pairs made through it appear or go)."""
    before = index.of_nodes(changed)
    removed = [
        (node_id, key) for node_id in changed for key in before.get(node_id, set()) - keys.get(node_id, set())
    ]
    added = [
        (node_id, key) for node_id in changed for key in keys.get(node_id, set()) - before.get(node_id, set())
    ]
    index.apply(removed, added)
    delta: Counter[str] = Counter(key for _, key in added)
    delta.subtract(key for _, key in removed)
    moved = {key for key, step in delta.items() if step}
    # Enough holders to tell whether a key crossed the limit in this batch (all of them if it did).
    cap = limit + 1 + len(changed)
    holders = index.holders(sorted({key for node_keys in keys.values() for key in node_keys} | moved), cap)
    crossed = {
        key for key in moved if (len(holders[key]) > limit) != (len(holders[key]) - delta[key] > limit)
    }
    return holders, {node_id for key in crossed for node_id in holders[key]} - set(changed)


def _keys_of(proposer: seam.IndexedProposer, records: Sequence[seam.MatchRecord]) -> dict[str, set[str]]:
    texts = proposer.blocking_keys(records)
    return {
        record.record_id: {key_digest(text) for text in keys}
        for record, keys in zip(records, texts, strict=True)
    }


def store(
    session: Session, tenant_id: str, proposals: Sequence[seam.ProposedLink], thresholds: Thresholds
) -> tuple[set[str], set[str]]:
    """Proposals at or above the review threshold, as links: new ones inserted, the score of
    others brought up to date (unless a person decided them). Returns (the link ids proposed,
    the nodes of links added or changed)."""
    now = clock.now()
    wanted: dict[str, tuple[str, str, seam.ProposedLink]] = {}
    for proposal in proposals:
        if proposal.score < thresholds.review:
            continue
        first, second = sorted((proposal.left, proposal.right))
        wanted[rules.link_id(tenant_id, first, second, proposal.rule)] = (first, second, proposal)
    links = repository.LinkRepository(session, tenant_id)
    held = links.rows_by_id(("score", "status"), sorted(wanted))
    rows = []
    scores: dict[str, float] = {}
    touched: set[str] = set()
    for link_id, (first, second, proposal) in wanted.items():
        found = held.get(link_id)
        if found is None:
            rows.append(
                {
                    "id": link_id,
                    "tenant_id": tenant_id,
                    "node_a": first,
                    "node_b": second,
                    "rule": proposal.rule,
                    "score": float(proposal.score),
                    "status": LinkStatus.PENDING.value,
                    "reason": "",
                    "evidence_type": MATCHER_EVIDENCE,
                    "evidence_id": "",
                    "evidence_count": 1,
                    "decided_by": "",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif found.status not in repository.HUMAN_STATUSES and found.score != float(proposal.score):
            scores[link_id] = float(proposal.score)
        else:
            continue
        touched.update((first, second))
    links.insert_ignoring(rows)
    links.set_scores(scores)
    return set(wanted), touched


def replace_links(session: Session, tenant_id: str, scored: Iterable[str], proposed: set[str]) -> set[str]:
    """Drop the matcher's links touching records just scored that it no longer proposes (a
    person's decisions stay); returns the nodes of the links dropped."""
    links = repository.LinkRepository(session, tenant_id)
    stale = [
        link
        for link in links.touching(sorted(set(scored)))
        if link.evidence_type == MATCHER_EVIDENCE
        and link.status not in repository.HUMAN_STATUSES
        and link.id not in proposed
    ]
    dropped = {node_id for link in stale for node_id in (link.node_a, link.node_b)}
    links.delete_ids([link.id for link in stale])
    for link in stale:
        session.expunge(link)
    return dropped
