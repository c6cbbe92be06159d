"""Unsupervised training of the Fellegi-Sunter model: u by random pairs, m and λ by EM sessions.

Why sessions. Candidate pairs are pairs that agree on some blocking key, so among them many
non-matches agree on that key (two strangers called 张伟). EM run over all candidates at once
then finds "pairs that share a name" instead of "pairs that are one person", and learns that a
different phone is normal for a match. So, as Splink does, EM runs once per blocking rule, on
the pairs agreeing on that rule's key, with that rule's own comparisons left out: among pairs
that share a name, the other comparisons of non-matches behave like those of random pairs, so u
can stay fixed at the random-pair values and EM only has m and the match share to find. The
sessions' expected counts are pooled into one m per comparison.

λ (the prior: the share of all pairs that are matches) follows from the rules on one
comparison's exact value: the session on "same phone" finds how many matches share a phone; m
says which share of all matches share a phone (both phones present, at the levels where they are
equal); dividing gives the number of matches among all pairs. The median over such rules is used.

u is then corrected for the true matches among the random pairs (model.u_from_random_pairs) and
the sessions run a second time with the corrected u.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from haina.customers.matching.blocking import random_pairs, rule_keys
from haina.customers.matching.comparisons import NULL, Comparison, Features
from haina.customers.matching.model import (
    DEFAULT_PRIOR,
    PRIOR_STRENGTH,
    ComparisonModel,
    MatchModel,
    Session,
    TrainingReport,
    expectation_maximisation,
    level_counts,
    term_frequency_table,
    u_from_random_pairs,
)
from haina.customers.matching.settings import BlockingRule, MatchSettings

MIN_SESSION_PAIRS = 30
MAX_SESSION_PAIRS = 300_000
ROUNDS = 2
# Below this many values a value's frequency says nothing (two records of 张伟 among four).
MIN_TERM_FREQUENCY_VALUES = 200


@dataclass(frozen=True)
class _Population:
    rule: BlockingRule
    masked: frozenset[str]
    members: np.ndarray  # candidate pair indexes (every k-th when there are too many)
    size: int  # all candidate pairs agreeing on the rule's key


def _populations(
    features: dict[str, Features], settings: MatchSettings, left: np.ndarray, right: np.ndarray
) -> list[_Population]:
    out = []
    for rule in settings.blocking_rules:
        keys = rule_keys(features, rule)
        inside = np.flatnonzero((keys[left] == keys[right]) & (keys[left] != NULL))
        if len(inside) < MIN_SESSION_PAIRS:
            continue
        members = inside[:: int(np.ceil(len(inside) / MAX_SESSION_PAIRS))]
        masked = frozenset(part.comparison for part in rule.parts)
        out.append(_Population(rule, masked, members, len(inside)))
    return out


def _code_agreement(
    comparisons: tuple[Comparison, ...],
    features: dict[str, Features],
    levels: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
) -> list[np.ndarray]:
    """Per comparison and level: the share of candidate pairs at that level whose codes are equal
    (1 for "exact", about 1 for identical masked values, 0 for fuzzy levels)."""
    out = []
    for index, comparison in enumerate(comparisons):
        codes = features[comparison.name]["code"]
        equal = (codes[left] == codes[right]) & (codes[left] != NULL)
        row = levels[index]
        shares = np.zeros(comparison.level_count)
        for level in range(comparison.level_count):
            at_level = row == level
            if at_level.any():
                shares[level] = float(equal[at_level].mean())
        out.append(shares)
    return out


def train(
    features: dict[str, Features],
    sources: np.ndarray,
    settings: MatchSettings,
    left: np.ndarray,
    right: np.ndarray,
    levels: np.ndarray,
    total_pairs: int,
    compare: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> MatchModel:
    """A model for these records: u from random pairs, m and λ from EM sessions (see above).

    `levels` are the candidate pairs' levels; `compare(left, right)` gives levels of other pairs."""
    comparisons = settings.comparisons
    names = [comparison.name for comparison in comparisons]
    rng = np.random.default_rng(settings.seed)
    size = settings.random_pair_count(len(sources))
    sample_left, sample_right = random_pairs(sources, settings, size, rng)
    report = TrainingReport(random_pairs=len(sample_left))
    prior_m = [np.asarray(comparison.prior_m, dtype=float) for comparison in comparisons]
    counts: list[np.ndarray] = []
    present_share = np.ones(len(comparisons))
    if len(sample_left) >= 1000:
        random_levels = compare(sample_left, sample_right)
        counts = [level_counts(random_levels[index], c.level_count) for index, c in enumerate(comparisons)]
        u = [
            u_from_random_pairs(count) if count.sum() else np.asarray(comparison.prior_u, dtype=float)
            for count, comparison in zip(counts, comparisons, strict=True)
        ]
        present_share = (random_levels != NULL).mean(axis=1)
    else:
        u = [np.asarray(comparison.prior_u, dtype=float) for comparison in comparisons]

    populations = _populations(features, settings, left, right)
    code_agreement = _code_agreement(comparisons, features, levels, left, right)
    m = prior_m
    prior = DEFAULT_PRIOR
    for _ in range(ROUNDS if populations else 0):
        report.sessions = []
        matched = [np.zeros(c.level_count) for c in comparisons]
        for population in populations:
            session_levels = levels[:, population.members].copy()
            for name in population.masked:
                session_levels[names.index(name)] = NULL
            _, _, share, _, posterior, iterations, converged = expectation_maximisation(
                session_levels, m, u, settings.em_max_iterations, settings.em_tolerance, fix_u=True
            )
            for index, comparison in enumerate(comparisons):
                row = session_levels[index]
                present = row != NULL
                matched[index] += np.bincount(
                    row[present].astype(np.int64),
                    weights=posterior[present],
                    minlength=comparison.level_count,
                )
            scale = population.size / len(population.members)
            report.sessions.append(
                Session(
                    population.rule.name,
                    population.size,
                    share,
                    float(posterior.sum() * scale),
                    iterations,
                    converged,
                )
            )
        # Pooled expected counts, pulled a little towards the hand-set priors.
        m = [
            (counted + PRIOR_STRENGTH * start) / (counted.sum() + PRIOR_STRENGTH)
            for counted, start in zip(matched, prior_m, strict=True)
        ]
        prior = _estimate_prior(report, settings, names, m, code_agreement, present_share, total_pairs)
        if counts:
            u = [
                u_from_random_pairs(count, m[index], prior) if count.sum() else u[index]
                for index, count in enumerate(counts)
            ]
    report.used_priors = not populations
    report.expected_matches = prior * total_pairs
    models = []
    for index, comparison in enumerate(comparisons):
        model = ComparisonModel(
            name=comparison.name,
            level_names=comparison.level_names,
            m=m[index],
            u=u[index],
            max_weight=comparison.max_weight,
            role=comparison.role,
        )
        present = int((features[comparison.name]["code"] != NULL).sum())
        if comparison.term_frequency and present >= MIN_TERM_FREQUENCY_VALUES:
            _, table, default = term_frequency_table(comparison, features[comparison.name])
            model.term_frequencies, model.term_frequency_default = table, default
        models.append(model)
    return MatchModel(prior=prior, comparisons=models, report=report)


def _estimate_prior(
    report: TrainingReport,
    settings: MatchSettings,
    names: list[str],
    m: list[np.ndarray],
    code_agreement: list[np.ndarray],
    present_share: np.ndarray,
    total_pairs: int,
) -> float:
    """λ from the rules on one comparison's exact value (see the module docstring)."""
    rules = {rule.name: rule for rule in settings.blocking_rules}
    estimates = []
    for session in report.sessions:
        rule = rules[session.rule]
        part = rule.parts[0]
        if len(rule.parts) != 1 or part.feature != "code" or part.prefix is not None:
            continue
        index = names.index(part.comparison)
        recall = float(present_share[index] * (m[index] * code_agreement[index]).sum())
        if recall > 1e-3 and session.expected_matches > 0:
            session.matches_in_all_pairs = session.expected_matches / recall
            estimates.append(session.matches_in_all_pairs)
    if not estimates:
        return DEFAULT_PRIOR
    return float(min(max(float(np.median(estimates)), 1.0) / max(total_pairs, 1), 0.5))
