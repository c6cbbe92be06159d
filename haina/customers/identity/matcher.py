"""The probabilistic matcher (haina.customers.matching) as the resolver's `LinkProposer`.

Switched on by HAINA_ONEID_MATCHER=true (seam.link_proposer builds it then), or for this
process by `enable()` / `disable()`. Batch (a rebuild: records are their own candidates) runs the matcher's
`link` over every record; incremental resolution scores each new record against its candidates
with `score_candidates`. The matcher's decision is translated onto the tenant's thresholds: a
"merge" pair is proposed at the auto-merge threshold or its probability (whichever is higher),
a "review" pair at the review threshold or its probability (kept below auto-merge); the graph's
guard rails then decide, as for any link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from haina.customers.identity import seam
from haina.customers.identity.resolver import Thresholds

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

    def __call__(
        self, records: Sequence[seam.MatchRecord], candidates: Sequence[seam.MatchRecord]
    ) -> Iterable[seam.ProposedLink]:
        from haina.customers.matching import link, score_candidates

        links: list[seam.ProposedLink] = []
        if candidates is records or not candidates:
            result = link([_row(record) for record in records])
            for pair in result.pairs:
                score = _score(pair.decision, pair.probability, self.thresholds)
                if score is not None:
                    links.append(self._link(pair, score))
            return links
        rows = [_row(candidate) for candidate in candidates]
        for record in records:
            for pair in score_candidates(_row(record), rows):
                score = _score(pair.decision, pair.probability, self.thresholds)
                if score is not None:
                    links.append(self._link(pair, score))
        return links

    @staticmethod
    def _link(pair: Any, score: float) -> seam.ProposedLink:
        detail = {item.comparison: item.level for item in getattr(pair, "evidence", ())}
        return seam.ProposedLink(pair.left_id, pair.right_id, score, RULE, detail)


def enable(thresholds: Thresholds | None = None) -> None:
    """Let the probabilistic matcher propose links from now on (this process)."""
    seam.set_link_proposer(MatcherProposer(thresholds))


def disable() -> None:
    seam.set_link_proposer(None)
