"""Fellegi-Sunter model: m and u probabilities per comparison level, learned without labels.

- u (how often two *different* people agree at a level by chance) is counted on pairs drawn at
  random from all pairs: nearly all of them are non-matches.
- m (how often the *same* person agrees at a level) is learned by expectation-maximisation on
  the candidate pairs. Inside EM the non-match side gets its own u, because candidate pairs
  were chosen for agreeing on something and are not random pairs; that u is used only inside EM.
- λ, the probability that two random records are the same person, is the expected number of
  matches EM finds among the candidates divided by the number of all pairs.

A pair's match weight is log2(λ/(1-λ)) + Σ log2(m/u) over its comparisons, and its match
probability is 1 / (1 + 2^-weight). For comparisons with term frequencies, agreeing on a value
held by few records uses that value's frequency as u, so "Zhang Wei" weighs less than "Ouyang Xiu".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from haina.customers.matching.comparisons import NULL, Comparison, Features

_FLOOR = 1e-9
# EM's pull towards the starting m/u, in pairs: nothing next to thousands of pairs, but it keeps
# a level that a small data set never shows among its matches from weighing minus infinity.
PRIOR_STRENGTH = 5.0
# λ when the data cannot tell: one pair in 10,000 is the same person.
DEFAULT_PRIOR = 1e-4


@dataclass
class ComparisonModel:
    """Learned parameters of one comparison."""

    name: str
    level_names: tuple[str, ...]
    m: np.ndarray
    u: np.ndarray
    term_frequencies: dict[str, float] = field(default_factory=dict)
    term_frequency_default: float = 0.0
    max_weight: float | None = None
    role: str = "evidence"

    def weights(self) -> np.ndarray:
        weights = np.log2(np.maximum(self.m, _FLOOR) / np.maximum(self.u, _FLOOR))
        if self.max_weight is not None:
            weights = np.minimum(weights, self.max_weight)
        return weights

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level_names": list(self.level_names),
            "m": [float(value) for value in self.m],
            "u": [float(value) for value in self.u],
            "term_frequencies": dict(self.term_frequencies),
            "term_frequency_default": self.term_frequency_default,
            "max_weight": self.max_weight,
            "role": self.role,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComparisonModel:
        return cls(
            name=data["name"],
            level_names=tuple(data["level_names"]),
            m=np.asarray(data["m"], dtype=float),
            u=np.asarray(data["u"], dtype=float),
            term_frequencies=dict(data.get("term_frequencies", {})),
            term_frequency_default=float(data.get("term_frequency_default", 0.0)),
            max_weight=data.get("max_weight"),
            role=data.get("role", "evidence"),
        )


@dataclass
class Session:
    """One EM run on the candidate pairs agreeing on one blocking rule's key (see training.py)."""

    rule: str
    pairs: int
    match_share: float
    expected_matches: float
    iterations: int
    converged: bool
    matches_in_all_pairs: float | None = None


@dataclass
class TrainingReport:
    random_pairs: int = 0
    sessions: list[Session] = field(default_factory=list)
    expected_matches: float = 0.0
    used_priors: bool = False

    @property
    def em_converged(self) -> bool:
        return all(session.converged for session in self.sessions)


@dataclass
class MatchModel:
    """λ plus the m/u of every comparison. Serialisable (as_dict / from_dict) so that a model
    trained on a batch can score new records one by one later."""

    prior: float
    comparisons: list[ComparisonModel]
    report: TrainingReport = field(default_factory=TrainingReport)

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    @classmethod
    def from_priors(cls, comparisons: Sequence[Comparison], prior: float = DEFAULT_PRIOR) -> MatchModel:
        """A model from the hand-set priors of the comparisons, for scoring without training."""
        return cls(
            prior=prior,
            comparisons=[
                ComparisonModel(
                    name=comparison.name,
                    level_names=comparison.level_names,
                    m=np.asarray(comparison.prior_m, dtype=float),
                    u=np.asarray(comparison.prior_u, dtype=float),
                    max_weight=comparison.max_weight,
                    role=comparison.role,
                )
                for comparison in comparisons
            ],
        )

    def as_dict(self) -> dict[str, Any]:
        return {"prior": self.prior, "comparisons": [model.as_dict() for model in self.comparisons]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MatchModel:
        return cls(
            prior=float(data["prior"]),
            comparisons=[ComparisonModel.from_dict(item) for item in data["comparisons"]],
        )


def level_counts(levels: np.ndarray, level_count: int) -> np.ndarray:
    return np.bincount(levels[levels != NULL].astype(np.int64), minlength=level_count).astype(float)


def u_from_random_pairs(counts: np.ndarray, m: np.ndarray | None = None, prior: float = 0.0) -> np.ndarray:
    """u of each level from its count among random pairs, less the true matches expected there.

    A random pair is the same person with probability λ (prior); in a small or duplicate-rich
    data set those pairs make up most of the agreement on a phone, so they are taken out:
    u ∝ count − λ·m·total. A level never seen (or emptied) keeps half a pair, so no weight is
    infinite."""
    corrected = counts.astype(float).copy()
    if m is not None and prior > 0:
        corrected -= prior * m * counts.sum()
    corrected = np.maximum(corrected, 0.5)
    return corrected / corrected.sum()


def term_frequency_table(
    comparison: Comparison, features: Features
) -> tuple[np.ndarray, dict[str, float], float]:
    """Per record: the share of records holding its value; also a value → share table."""
    codes = features["code"]
    present = codes != NULL
    total = int(present.sum())
    per_record = np.zeros(len(codes), dtype=float)
    if not total:
        return per_record, {}, 1.0
    counts = np.bincount(codes[present])
    per_record[present] = counts[codes[present]] / total
    table: dict[str, float] = {}
    values = features["value"]
    first_index = np.full(len(counts), -1, dtype=np.int64)
    first_index[codes[present][::-1]] = np.flatnonzero(present)[::-1]
    for code in np.flatnonzero(counts >= 2):
        table[str(values[first_index[code]])] = float(counts[code] / total)
    return per_record, table, 1.0 / total


def _pattern_log_likelihood(patterns: np.ndarray, log_tables: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(patterns.shape[0])
    for index, table in enumerate(log_tables):
        levels = patterns[:, index]
        present = levels != NULL
        total[present] += table[levels[present]]
    return total


def expectation_maximisation(
    levels: np.ndarray,
    m_start: list[np.ndarray],
    u_start: list[np.ndarray],
    max_iterations: int,
    tolerance: float,
    share_start: float = 0.05,
    fix_u: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], float, np.ndarray, np.ndarray, int, bool]:
    """EM over the distinct agreement patterns of the pairs (levels: comparisons × pairs).

    With fix_u, u stays as given (u of random pairs) and only m and the match share move.
    Returns m, u, the match share, the patterns, each pair's posterior match probability,
    iterations used and whether it converged."""
    if levels.shape[1] == 0:
        return m_start, u_start, 0.0, np.empty((0, levels.shape[0]), np.int8), np.empty(0), 0, True
    # One integer per pair (4 bits per comparison) makes finding the distinct patterns a 1-d unique.
    if levels.shape[0] <= 15 and int(levels.max(initial=0)) < 15:
        keys = np.zeros(levels.shape[1], dtype=np.int64)
        for row in levels.astype(np.int64) + 1:
            keys = (keys << 4) | row
        _, first, inverse, counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        patterns = levels.T[first]
    else:
        patterns, inverse, counts = np.unique(levels.T, axis=0, return_inverse=True, return_counts=True)
    counts = counts.astype(float)
    m = [np.asarray(values, dtype=float) for values in m_start]
    u = [np.asarray(values, dtype=float) for values in u_start]
    share = share_start
    converged = False
    iteration = 0
    posterior = np.zeros(len(counts))
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        log_m = _pattern_log_likelihood(patterns, [np.log(np.maximum(table, _FLOOR)) for table in m])
        log_u = _pattern_log_likelihood(patterns, [np.log(np.maximum(table, _FLOOR)) for table in u])
        log_odds = math.log(share) - math.log(1 - share) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        matched = counts * posterior
        unmatched = counts - matched
        new_m, new_u = [], []
        for index, old in enumerate(m):
            column = patterns[:, index]
            present = column != NULL
            level_count = len(old)
            m_counts = np.bincount(
                column[present].astype(np.int64), weights=matched[present], minlength=level_count
            )
            u_counts = np.bincount(
                column[present].astype(np.int64), weights=unmatched[present], minlength=level_count
            )
            # A small pull towards the prior keeps rare levels from collapsing to 0 or 1.
            new_m.append((m_counts + PRIOR_STRENGTH * m_start[index]) / (m_counts.sum() + PRIOR_STRENGTH))
            if fix_u:
                new_u.append(u[index])
            else:
                new_u.append((u_counts + PRIOR_STRENGTH * u_start[index]) / (u_counts.sum() + PRIOR_STRENGTH))
        new_share = float(min(max(matched.sum() / counts.sum(), 1e-9), 1 - 1e-9))
        change = max(
            max(float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)),
            max(float(np.abs(a - b).max()) for a, b in zip(new_u, u, strict=True)),
            abs(new_share - share),
        )
        m, u, share = new_m, new_u, new_share
        if change < tolerance:
            converged = True
            break
    return m, u, share, patterns, posterior[inverse.reshape(-1)], iteration, converged


@dataclass(frozen=True)
class Scores:
    """Per pair: the total match weight (bits, prior included); the positive evidence of shared
    comparisons (household device, address); the evidence of all other comparisons."""

    weight: np.ndarray
    shared_weight: np.ndarray
    personal_weight: np.ndarray
    per_comparison: np.ndarray  # (comparisons, pairs)

    @property
    def probability(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-np.clip(self.weight, -1000, 1000)))


def score(
    model: MatchModel,
    levels: np.ndarray,
    term_frequency_left: Mapping[int, np.ndarray],
) -> Scores:
    """Match weight of every pair. term_frequency_left[k]: per pair, the share of records holding
    the left record's value of comparison k (used where the pair agrees exactly)."""
    pairs = levels.shape[1]
    per_comparison = np.zeros((len(model.comparisons), pairs))
    shared_positive = np.zeros(pairs)
    personal = np.zeros(pairs)
    for index, parameters in enumerate(model.comparisons):
        row = levels[index]
        present = row != NULL
        weights = parameters.weights()
        contribution = np.zeros(pairs)
        contribution[present] = weights[row[present]]
        frequencies = term_frequency_left.get(index)
        if frequencies is not None:
            exact = row == 0
            u_value = np.maximum(frequencies[exact], max(parameters.term_frequency_default, _FLOOR))
            adjusted = np.log2(max(float(parameters.m[0]), _FLOOR) / u_value)
            if parameters.max_weight is not None:
                adjusted = np.minimum(adjusted, parameters.max_weight)
            contribution[exact] = adjusted
        per_comparison[index] = contribution
        if parameters.role == "shared":
            shared_positive += np.maximum(contribution, 0.0)
        else:
            personal += contribution
    weight = model.prior_weight + per_comparison.sum(axis=0)
    return Scores(weight, shared_positive, personal, per_comparison)
