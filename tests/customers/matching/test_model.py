"""Fellegi-Sunter parameters: EM recovers known m/u, u from random pairs, model round trip."""

from __future__ import annotations

import numpy as np

from haina.customers.matching import MatchModel, chinese_customer_settings
from haina.customers.matching.model import (
    expectation_maximisation,
    score,
    u_from_random_pairs,
)

TRUE_M = [np.array([0.9, 0.07, 0.03]), np.array([0.8, 0.2]), np.array([0.85, 0.1, 0.05])]
TRUE_U = [np.array([0.01, 0.04, 0.95]), np.array([0.1, 0.9]), np.array([0.02, 0.08, 0.9])]


def synthetic_levels(pairs: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Levels drawn from known m (matches) and u (non-matches), some of them null."""
    rng = np.random.default_rng(seed)
    is_match = rng.random(pairs) < share
    levels = np.empty((len(TRUE_M), pairs), dtype=np.int8)
    for index, (m, u) in enumerate(zip(TRUE_M, TRUE_U, strict=True)):
        from_m = rng.choice(len(m), size=pairs, p=m)
        from_u = rng.choice(len(u), size=pairs, p=u)
        levels[index] = np.where(is_match, from_m, from_u)
        levels[index][rng.random(pairs) < 0.1] = -1
    return levels, is_match


def test_em_recovers_the_parameters_it_was_generated_with() -> None:
    levels, is_match = synthetic_levels(20_000, 0.2, seed=1)
    # Vague starting points: agreement likelier for matches, disagreement for non-matches.
    start_m = [np.linspace(0.7, 0.1, len(m)) / np.linspace(0.7, 0.1, len(m)).sum() for m in TRUE_M]
    start_u = [np.linspace(0.1, 0.8, len(u)) / np.linspace(0.1, 0.8, len(u)).sum() for u in TRUE_U]
    m, u, share, _, posterior, iterations, converged = expectation_maximisation(
        levels, start_m, start_u, max_iterations=200, tolerance=1e-6
    )
    assert converged
    assert iterations < 200
    assert abs(share - is_match.mean()) < 0.02
    for found, expected in zip(m, TRUE_M, strict=True):
        assert np.abs(found - expected).max() < 0.03
    for found, expected in zip(u, TRUE_U, strict=True):
        assert np.abs(found - expected).max() < 0.03
    # The posterior separates the two classes it was drawn from.
    assert ((posterior > 0.5) == is_match).mean() > 0.95


def test_em_is_deterministic() -> None:
    levels, _ = synthetic_levels(2_000, 0.3, seed=2)
    start_m = [np.array([0.6, 0.3, 0.1]), np.array([0.7, 0.3]), np.array([0.6, 0.3, 0.1])]
    start_u = [np.array([0.1, 0.3, 0.6]), np.array([0.3, 0.7]), np.array([0.1, 0.3, 0.6])]
    first = expectation_maximisation(levels, start_m, start_u, 50, 1e-6)
    second = expectation_maximisation(levels, start_m, start_u, 50, 1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(first[0], second[0], strict=True))


def test_u_from_random_pairs_takes_the_expected_matches_out() -> None:
    counts = np.array([60.0, 40.0, 99_900.0])  # 100,000 random pairs
    plain = u_from_random_pairs(counts)
    corrected = u_from_random_pairs(counts, m=np.array([0.9, 0.05, 0.05]), prior=5e-4)
    assert plain[0] == 60 / 100_000
    # 5e-4 × 100,000 = 50 expected matches, 45 of them agreeing exactly.
    assert abs(corrected[0] - 15 / (100_000 - 50)) < 1e-6
    assert corrected[2] > plain[2]
    # A level emptied by the correction keeps half a pair.
    emptied = u_from_random_pairs(np.array([10.0, 99_990.0]), m=np.array([1.0, 0.0]), prior=1e-3)
    assert emptied[0] > 0


def test_model_survives_a_round_trip_through_a_dict() -> None:
    settings = chinese_customer_settings()
    model = MatchModel.from_priors(settings.comparisons, prior=1e-4)
    model.comparisons[0].term_frequencies = {"张伟": 0.01}
    model.comparisons[0].term_frequency_default = 1e-4
    restored = MatchModel.from_dict(model.as_dict())
    levels, _ = synthetic_levels(100, 0.5, seed=3)
    levels = np.vstack([levels, np.zeros((len(settings.comparisons) - 3, 100), dtype=np.int8)])
    frequencies = {0: np.full(100, 0.01)}
    assert np.allclose(score(model, levels, frequencies).weight, score(restored, levels, frequencies).weight)
    assert restored.prior == model.prior


def test_household_evidence_is_capped() -> None:
    settings = chinese_customer_settings()
    model = MatchModel.from_priors(settings.comparisons, prior=1e-4)
    names = [comparison.name for comparison in settings.comparisons]
    levels = np.full((len(names), 1), -1, dtype=np.int8)
    levels[names.index("device_id"), 0] = 0
    levels[names.index("address"), 0] = 0
    scores = score(model, levels, {})
    by_name = dict(zip(names, scores.per_comparison[:, 0], strict=True))
    assert by_name["device_id"] == 3.0
    assert by_name["address"] == 6.0
    # Nothing speaks for the person besides the household's evidence.
    assert scores.shared_weight[0] == 9.0
    assert scores.personal_weight[0] == 0.0
