"""The probabilistic matcher (haina.customers.matching) as the resolver's `IndexedProposer`.

On unless HAINA_ONEID_MATCHER=false (seam.link_proposer builds it then), or for this process by
`enable()` / `disable()`.

Candidates: records sharing one of the matcher's blocking keys (`blocking_keys`, the rules of
`chinese_customer_settings`), computed record-locally so that the resolver can keep them in an
index: incremental resolution looks a new record's keys up there, a rebuild groups every record's
keys, and both reach the same pairs.

Weights: the comparisons' hand-set priors (m, u and the prior λ of `MatchModel.from_priors`), in
batch and incremental alike. Not weights trained by EM: those depend on which records a run is
given, so a rebuild would re-weigh what incremental resolution decided, and the two would
disagree; the priors are fixed, reviewed with the comparisons, and give each pair a score that
depends on its two records only. (`haina oneid link` on a CSV still trains its own model.)

Decisions per pair (no clustering here; the identity graph owns the clusters and its guard rails
apply): a "merge" pair is proposed at the auto-merge threshold or its probability (whichever is
higher), a "review" pair at the review threshold or its probability (kept below auto-merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from haina.customers import matching
from haina.customers.identity import seam
from haina.customers.identity.resolver import Thresholds
from haina.customers.matching.blocking import pairs_sharing_text

RULE = "probabilistic"


def _row(record: seam.MatchRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "source": record.source,
        "name": record.name,
        "phone": record.phone,
        "phone_hash": record.phone_hash,
        "email_hash": record.email_hash,
        "province": record.province,
        "city": record.city,
        "address": " ".join(part for part in (record.district, record.address) if part),
        "birth_date": record.birth_date,
        "device_id": record.device_ids[0] if record.device_ids else "",
        "platform_uid": record.platform_uid,
    }


def _score(decision: str, probability: float, thresholds: Thresholds) -> float | None:
    if decision == "merge":
        return max(probability, thresholds.auto_merge)
    if decision == "review":
        return min(max(probability, thresholds.review), thresholds.auto_merge - 1e-6)
    return None


class MatcherProposer:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self.settings = matching.chinese_customer_settings(record_local=True)
        self.model = matching.MatchModel.from_priors(self.settings.comparisons)
        self.max_block_size = self.settings.max_block_size

    def blocking_keys(self, records: Sequence[seam.MatchRecord]) -> list[list[str]]:
        if not records:
            return []
        return matching.blocking_keys([_row(record) for record in records], self.settings)

    def score_pairs(
        self, records: Sequence[seam.MatchRecord], pairs: Sequence[tuple[int, int]]
    ) -> list[seam.ProposedLink]:
        if not pairs:
            return []
        left = [pair[0] for pair in pairs]
        right = [pair[1] for pair in pairs]
        rows = [_row(record) for record in records]
        links = []
        for pair in matching.score_pairs(rows, left, right, self.model, self.settings):
            score = _score(pair.decision, pair.probability, self.thresholds)
            if score is not None:
                links.append(self._link(pair, score))
        return links

    def __call__(
        self, records: Sequence[seam.MatchRecord], candidates: Sequence[seam.MatchRecord]
    ) -> Iterable[seam.ProposedLink]:
        """Pairs sharing a blocking key among `records`, or between `records` and `candidates`
        (blocks counted among the records given)."""
        known = {record.record_id for record in records}
        everything = [*records, *(record for record in candidates if record.record_id not in known)]
        left, right = pairs_sharing_text(self.blocking_keys(everything), self.max_block_size)
        pairs = [(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a < len(records)]
        return self.score_pairs(everything, pairs)

    @staticmethod
    def _link(pair: Any, score: float) -> seam.ProposedLink:
        detail = {item.comparison: item.level for item in getattr(pair, "evidence", ())}
        return seam.ProposedLink(pair.left_id, pair.right_id, score, RULE, detail)


def enable(thresholds: Thresholds | None = None) -> None:
    """Let the probabilistic matcher propose links from now on (this process)."""
    seam.set_link_proposer(MatcherProposer(thresholds))


def disable() -> None:
    seam.set_link_proposer(None)
