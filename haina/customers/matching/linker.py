"""The matching run: prepare → block → compare → train (u by sampling, m by EM) → score → cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from haina.customers.matching import training
from haina.customers.matching.blocking import candidate_pairs
from haina.customers.matching.clustering import IdentifierValues, cluster
from haina.customers.matching.comparisons import (
    NULL,
    Comparison,
    Features,
    PairSide,
    encode,
    jaro_winkler,
    shared_vocabulary,
)
from haina.customers.matching.model import MatchModel, Scores, score
from haina.customers.matching.settings import MatchSettings

Decision = Literal["merge", "review", "distinct"]
RecordLike = Mapping[str, Any] | Any


class Evidence(NamedTuple):
    """What one comparison said about a pair: its level and the weight (bits) it added."""

    comparison: str
    level: str
    weight: float


@dataclass(frozen=True)
class ScoredPair:
    """A compared pair. decision: merge (in one cluster), review (for a person), distinct.

    reason tells why a pair above the review line is not merged: below_auto_merge,
    shared_evidence_only (device/address carry it), or a cluster guard: cluster_size,
    same_source, conflicting_<identifier>, cluster_guard (another guard refused the link
    that would have joined the two)."""

    left_id: str
    right_id: str
    weight: float
    probability: float
    decision: Decision
    reason: str = ""
    evidence: tuple[Evidence, ...] = ()


@dataclass
class LinkStats:
    records: int = 0
    candidate_pairs: int = 0
    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    auto_merge_pairs: int = 0
    review_pairs: int = 0
    refused_links: int = 0
    clusters: int = 0
    largest_cluster: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class LinkResult:
    """Outcome of `link`: a cluster id per record (the id of the cluster's first record), the pairs
    at or above the review line, the trained model (reusable by `score_candidates`) and counts."""

    record_ids: list[str]
    cluster_ids: list[str]
    model: MatchModel
    stats: LinkStats
    # The pairs are built on first use: a big run has hundreds of thousands.
    build_pairs: Callable[[], list[ScoredPair]] = field(default=list, repr=False, compare=False)
    _pairs: list[ScoredPair] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def pairs(self) -> list[ScoredPair]:
        """Every compared pair at or above the review line (or merged), strongest first."""
        if self._pairs is None:
            self._pairs = self.build_pairs()
        return self._pairs

    @property
    def clusters(self) -> list[list[str]]:
        """Clusters of two or more records, each a list of record ids in input order."""
        groups: dict[str, list[str]] = {}
        for record_id, cluster_id in zip(self.record_ids, self.cluster_ids, strict=True):
            groups.setdefault(cluster_id, []).append(record_id)
        return [members for members in groups.values() if len(members) > 1]

    def cluster_of(self, record_id: str) -> str:
        return self.cluster_ids[self.record_ids.index(record_id)]

    @property
    def review_pairs(self) -> list[ScoredPair]:
        return [pair for pair in self.pairs if pair.decision == "review"]


@dataclass
class Prepared:
    rows: list[Mapping[str, Any]]
    record_ids: list[str]
    sources: np.ndarray  # integer codes
    source_names: list[str]
    features: dict[str, Features]
    vocabulary: dict[str, int] = field(default_factory=dict)  # string → code, for every feature


def _as_mapping(record: RecordLike) -> Mapping[str, Any]:
    if isinstance(record, Mapping):
        return record
    if is_dataclass(record) and not isinstance(record, type):
        return asdict(record)
    raise TypeError(f"a record must be a mapping or a dataclass, not {type(record).__name__}")


def prepare(records: Iterable[RecordLike], settings: MatchSettings) -> Prepared:
    """Normalise every record once into the comparisons' feature arrays."""
    rows = [_as_mapping(record) for record in records]
    record_ids = []
    for index, row in enumerate(rows):
        value = row.get(settings.record_id_field)
        record_ids.append(str(value) if value not in (None, "") else str(index))
    if len(set(record_ids)) != len(record_ids):
        raise ValueError(f"record ids ({settings.record_id_field}) must be unique")
    source_names = [str(row.get(settings.source_field) or "") for row in rows]
    _, source_codes = encode(source_names)
    with shared_vocabulary() as vocabulary:
        features = {comparison.name: comparison.features(rows) for comparison in settings.comparisons}
    return Prepared(rows, record_ids, source_codes, source_names, features, vocabulary)


def _swap_mask(
    first: tuple[PairSide, PairSide], second: tuple[PairSide, PairSide], margin: float
) -> np.ndarray:
    """Pairs whose right record carries the two values crossed (given name in the surname field).

    Only pairs where at least one crossed value is equal are looked at closer: a swap that also
    garbled both values is not worth comparing every pair crossed."""
    (left_1, right_1), (left_2, right_2) = first, second
    crossed_equal = ((left_1["code"] != NULL) & (left_1["code"] == right_2["code"])) | (
        (left_2["code"] != NULL) & (left_2["code"] == right_1["code"])
    )
    straight_equal = (left_1["code"] == right_1["code"]) & (left_2["code"] == right_2["code"])
    mask = crossed_equal & ~straight_equal
    selected = np.flatnonzero(mask)
    if not len(selected):
        return mask

    def similarity(a: PairSide, b: PairSide) -> np.ndarray:
        value = jaro_winkler(a["value"][selected], b["value"][selected])
        missing = (a["code"][selected] == NULL) | (b["code"][selected] == NULL)
        return np.where(missing, 0.0, value)

    straight = similarity(left_1, right_1) + similarity(left_2, right_2)
    crossed = similarity(left_1, right_2) + similarity(left_2, right_1)
    mask[selected] = crossed > straight + margin
    return mask


COMPARE_CHUNK = 500_000


def compare_pairs(
    prepared: Prepared, settings: MatchSettings, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Levels of each pair on each comparison, shape (comparisons, pairs), in chunks of pairs."""
    levels = np.empty((len(settings.comparisons), len(left)), dtype=np.int8)
    for start in range(0, len(left), COMPARE_CHUNK):
        stop = start + COMPARE_CHUNK
        levels[:, start:stop] = _compare_chunk(prepared, settings, left[start:stop], right[start:stop])
    return levels


def _compare_chunk(
    prepared: Prepared, settings: MatchSettings, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    features = prepared.features
    left_sides = {name: PairSide(columns, left) for name, columns in features.items()}
    right_sides = {name: PairSide(columns, right) for name, columns in features.items()}
    count = len(prepared.rows)
    for swap in settings.swaps:
        mask = _swap_mask(
            (left_sides[swap.first], right_sides[swap.first]),
            (left_sides[swap.second], right_sides[swap.second]),
            swap.margin,
        )
        if mask.any():
            # Both comparisons read from the two columns put end to end; a crossed pair's right
            # record is read from the other half.
            first, second = features[swap.first], features[swap.second]
            joined = {key: np.concatenate([first[key], second[key]]) for key in first}
            right_sides[swap.first] = PairSide(joined, right + count * mask)
            right_sides[swap.second] = PairSide(joined, right + count * ~mask)
    levels = np.empty((len(settings.comparisons), len(left)), dtype=np.int8)
    for index, comparison in enumerate(settings.comparisons):
        levels[index] = comparison.compare(left_sides[comparison.name], right_sides[comparison.name])
    return levels


def _total_pairs(prepared: Prepared, settings: MatchSettings) -> int:
    count = len(prepared.rows)
    if settings.link_type == "dedupe":
        return count * (count - 1) // 2
    sizes = np.bincount(prepared.sources).astype(np.int64)
    return int((sizes.sum() ** 2 - (sizes**2).sum()) // 2)


def train(
    prepared: Prepared, settings: MatchSettings, left: np.ndarray, right: np.ndarray, levels: np.ndarray
) -> MatchModel:
    """A model for these records: u from random pairs, m and λ by EM (see training.py)."""
    return training.train(
        prepared.features,
        prepared.sources,
        settings,
        left,
        right,
        levels,
        _total_pairs(prepared, settings),
        lambda sample_left, sample_right: compare_pairs(prepared, settings, sample_left, sample_right),
    )


def _term_frequencies(
    prepared: Prepared, settings: MatchSettings, model: MatchModel, left: np.ndarray
) -> dict[int, np.ndarray]:
    out = {}
    for index, comparison in enumerate(settings.comparisons):
        parameters = model.comparisons[index]
        if not comparison.term_frequency or not (
            parameters.term_frequencies or parameters.term_frequency_default
        ):
            continue
        values = prepared.features[comparison.name]["value"]
        table, default = parameters.term_frequencies, parameters.term_frequency_default
        per_record = np.asarray([table.get(str(value), default) for value in values], dtype=float)
        out[index] = per_record[left]
    return out


def _check_model(model: MatchModel, settings: MatchSettings) -> None:
    expected = [(c.name, len(c.level_names)) for c in settings.comparisons]
    found = [(c.name, len(c.level_names)) for c in model.comparisons]
    if expected != found:
        raise ValueError(f"the model was trained for other comparisons: {found} != {expected}")


def _evidence(
    comparisons: Sequence[Comparison], levels: np.ndarray, scores: Scores, pairs: np.ndarray
) -> list[tuple[Evidence, ...]]:
    """Per selected pair, what each comparison said (comparisons with an empty side left out)."""
    level_rows = levels[:, pairs].T.tolist()
    weight_rows = np.round(scores.per_comparison[:, pairs].T, 3).tolist()
    names = [(comparison.name, comparison.level_names) for comparison in comparisons]
    return [
        tuple(
            Evidence(name, level_names[level], weight)
            for (name, level_names), level, weight in zip(names, level_row, weight_row, strict=True)
            if level != NULL
        )
        for level_row, weight_row in zip(level_rows, weight_rows, strict=True)
    ]


def _decide(scores: Scores, settings: MatchSettings) -> tuple[np.ndarray, np.ndarray]:
    above_review = scores.weight >= settings.review_weight
    # Household evidence counts towards a merge only next to enough evidence of the person.
    supported = (scores.shared_weight <= 0) | (scores.personal_weight >= settings.min_personal_weight)
    mergeable = (scores.weight >= settings.auto_merge_weight) & supported
    return mergeable, above_review


def link(
    records: Iterable[RecordLike],
    settings: MatchSettings | None = None,
    model: MatchModel | None = None,
) -> LinkResult:
    """Find the records that are the same person and group them into clusters.

    Trains a model on the records unless one is given. Deterministic for a given input order."""
    from haina.customers.matching.presets import chinese_customer_settings

    settings = settings or chinese_customer_settings()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    prepared = prepare(records, settings)
    seconds["prepare"] = time.perf_counter() - started

    mark = time.perf_counter()
    candidates = candidate_pairs(prepared.features, prepared.sources, settings)
    left, right = candidates.left, candidates.right
    seconds["block"] = time.perf_counter() - mark

    mark = time.perf_counter()
    levels = compare_pairs(prepared, settings, left, right)
    seconds["compare"] = time.perf_counter() - mark

    mark = time.perf_counter()
    if model is None:
        model = train(prepared, settings, left, right, levels)
    else:
        _check_model(model, settings)
    seconds["train"] = time.perf_counter() - mark

    mark = time.perf_counter()
    scores = score(model, levels, _term_frequencies(prepared, settings, model, left))
    mergeable, above_review = _decide(scores, settings)
    seconds["score"] = time.perf_counter() - mark

    mark = time.perf_counter()
    identifiers = [
        IdentifierValues(c.name, [str(v) for v in prepared.features[c.name]["value"]], c.agrees)
        for c in settings.comparisons
        if c.conflicts
    ]
    labels, refused = cluster(
        len(prepared.rows),
        left,
        right,
        scores.weight,
        mergeable,
        identifiers=identifiers,
        sources=prepared.source_names if settings.unique_per_source else None,
        max_cluster_size=settings.max_cluster_size,
    )
    seconds["cluster"] = time.perf_counter() - mark

    selected = np.flatnonzero(above_review | mergeable)
    reported = _ReportedPairs(
        record_ids=prepared.record_ids,
        comparisons=settings.comparisons,
        auto_merge_weight=settings.auto_merge_weight,
        left=left[selected],
        right=right[selected],
        levels=levels[:, selected],
        weight=scores.weight[selected],
        per_comparison=scores.per_comparison[:, selected],
        mergeable=mergeable[selected],
        labels=labels,
        refused={(item.left, item.right): item.reason for item in refused},
    )
    cluster_ids = [prepared.record_ids[label] for label in labels]
    sizes = np.bincount(labels, minlength=len(labels)) if len(labels) else np.zeros(0, dtype=np.int64)
    stats = LinkStats(
        records=len(prepared.rows),
        candidate_pairs=len(left),
        pairs_per_rule=candidates.pairs_per_rule,
        skipped_blocks=candidates.skipped_blocks,
        auto_merge_pairs=int(mergeable.sum()),
        review_pairs=int((labels[reported.left] != labels[reported.right]).sum()),
        refused_links=len(refused),
        clusters=int((sizes > 0).sum()),
        largest_cluster=int(sizes.max()) if len(sizes) else 0,
        seconds={name: round(value, 4) for name, value in seconds.items()},
    )
    stats.seconds["total"] = round(time.perf_counter() - started, 4)
    return LinkResult(prepared.record_ids, cluster_ids, model, stats, build_pairs=reported.build)


@dataclass
class _ReportedPairs:
    """What `LinkResult.pairs` is built from, cut down to the reported pairs."""

    record_ids: list[str]
    comparisons: tuple[Comparison, ...]
    auto_merge_weight: float
    left: np.ndarray
    right: np.ndarray
    levels: np.ndarray
    weight: np.ndarray
    per_comparison: np.ndarray
    mergeable: np.ndarray
    labels: np.ndarray
    refused: dict[tuple[int, int], str]

    def build(self) -> list[ScoredPair]:
        scores = Scores(self.weight, np.zeros(0), np.zeros(0), self.per_comparison)
        evidence = _evidence(self.comparisons, self.levels, scores, np.arange(len(self.left)))
        probability = scores.probability
        out = []
        for pair in range(len(self.left)):
            a, b = int(self.left[pair]), int(self.right[pair])
            decision: Decision = "merge"
            reason = ""
            if self.labels[a] != self.labels[b]:
                decision = "review"
                if (a, b) in self.refused:
                    reason = self.refused[(a, b)]
                elif self.mergeable[pair]:
                    reason = "cluster_guard"
                elif self.weight[pair] >= self.auto_merge_weight:
                    reason = "shared_evidence_only"
                else:
                    reason = "below_auto_merge"
            out.append(
                ScoredPair(
                    self.record_ids[a],
                    self.record_ids[b],
                    round(float(self.weight[pair]), 4),
                    float(probability[pair]),
                    decision,
                    reason,
                    evidence[pair],
                )
            )
        out.sort(key=lambda item: (-item.weight, item.left_id, item.right_id))
        return out


def score_candidates(
    record: RecordLike,
    candidates: Sequence[RecordLike],
    model: MatchModel | None = None,
    settings: MatchSettings | None = None,
) -> list[ScoredPair]:
    """Score one new record against candidate records (e.g. those sharing an identifier with it).

    Uses a model from an earlier `link` run, or the comparisons' hand-set priors. Returns every
    candidate, best first, with decision merge / review / distinct by the settings' thresholds.
    Cluster guards do not apply here; the identity graph owns the clusters."""
    from haina.customers.matching.presets import chinese_customer_settings

    settings = settings or chinese_customer_settings()
    model = model or MatchModel.from_priors(settings.comparisons)
    _check_model(model, settings)
    if not candidates:
        return []
    prepared = prepare([record, *candidates], settings)
    right = np.arange(1, len(prepared.rows), dtype=np.int64)
    left = np.zeros(len(right), dtype=np.int64)
    out = _scored_pairs(prepared, settings, model, left, right, keep_distinct=True)
    out.sort(key=lambda item: (-item.weight, item.right_id))
    return out


def score_pairs(
    records: Sequence[RecordLike],
    left: Sequence[int] | np.ndarray,
    right: Sequence[int] | np.ndarray,
    model: MatchModel | None = None,
    settings: MatchSettings | None = None,
) -> list[ScoredPair]:
    """Score the given pairs of records (indexes into `records`) and keep those at or above the
    review line, decision merge / review; no clustering (the caller owns the clusters).

    A pair's score depends only on its two records and the model, as long as the settings'
    features are record-local: the same pair scores the same in a batch of 10 or of 10,000."""
    from haina.customers.matching.presets import chinese_customer_settings

    settings = settings or chinese_customer_settings()
    model = model or MatchModel.from_priors(settings.comparisons)
    _check_model(model, settings)
    left_index = np.asarray(left, dtype=np.int64)
    right_index = np.asarray(right, dtype=np.int64)
    if not len(left_index):
        return []
    prepared = prepare(records, settings)
    return _scored_pairs(prepared, settings, model, left_index, right_index, keep_distinct=False)


def blocking_keys(records: Iterable[RecordLike], settings: MatchSettings | None = None) -> list[list[str]]:
    """Per record, its blocking keys as text: records sharing one are the pairs `link` compares.

    With record-local settings (`chinese_customer_settings(record_local=True)`) a record's keys
    do not depend on the records it is given with, so they can be kept in an index and a new
    record's candidates looked up there."""
    from haina.customers.matching.blocking import key_texts
    from haina.customers.matching.presets import chinese_customer_settings

    settings = settings or chinese_customer_settings()
    prepared = prepare(records, settings)
    return key_texts(prepared.features, prepared.vocabulary, settings)


def _scored_pairs(
    prepared: Prepared,
    settings: MatchSettings,
    model: MatchModel,
    left: np.ndarray,
    right: np.ndarray,
    *,
    keep_distinct: bool,
) -> list[ScoredPair]:
    """Compare, score and decide pairs one by one (no clustering)."""
    levels = compare_pairs(prepared, settings, left, right)
    scores = score(model, levels, _term_frequencies(prepared, settings, model, left))
    mergeable, above_review = _decide(scores, settings)
    kept = np.arange(len(left)) if keep_distinct else np.flatnonzero(mergeable | above_review)
    probability = scores.probability
    evidence = _evidence(settings.comparisons, levels, scores, kept)
    out = []
    for position, pair in enumerate(kept.tolist()):
        if mergeable[pair]:
            decision: Decision = "merge"
            reason = ""
        elif above_review[pair]:
            decision = "review"
            reason = (
                "shared_evidence_only"
                if scores.weight[pair] >= settings.auto_merge_weight
                else "below_auto_merge"
            )
        else:
            decision, reason = "distinct", ""
        out.append(
            ScoredPair(
                prepared.record_ids[int(left[pair])],
                prepared.record_ids[int(right[pair])],
                round(float(scores.weight[pair]), 4),
                float(probability[pair]),
                decision,
                reason,
                evidence[position],
            )
        )
    return out
