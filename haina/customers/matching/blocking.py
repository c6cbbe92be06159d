"""Candidate pairs: the union of the pairs that share at least one blocking key.

Everything is numpy on integer codes: records are sorted by key, and pairs at distance 1, 2, …
inside a run of equal keys are taken until no run is that long, so the cost is the number of
pairs made, not the number of records squared.

The same keys as text (`key_texts`) mean the same in every run: an index of them finds a new
record's candidates among records matched earlier (`pairs_sharing_text` is that lookup in bulk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from haina.customers.matching.comparisons import NULL, Features, encode
from haina.customers.matching.settings import BlockingRule, KeyPart, MatchSettings


@dataclass(frozen=True)
class CandidatePairs:
    left: np.ndarray  # int64 record indexes, left < right
    right: np.ndarray
    pairs_per_rule: dict[str, int]
    skipped_blocks: dict[str, int]  # keys shared by more than max_block_size records


def _part_codes(features: Mapping[str, Features], part: KeyPart) -> np.ndarray:
    column = features[part.comparison][part.feature]
    if part.prefix is not None:
        return encode([str(value)[: part.prefix] if value else "" for value in column])[1]
    if column.dtype == object:
        return encode([str(value) for value in column])[1]
    return column.astype(np.int64)


def rule_keys(features: Mapping[str, Features], rule: BlockingRule) -> np.ndarray:
    """One integer key per record for this rule, -1 when any part of the key is empty."""
    columns = [_part_codes(features, part) for part in rule.parts]
    if len(columns) == 1:
        return columns[0]
    stacked = np.stack(columns, axis=1)
    missing = (stacked == NULL).any(axis=1)
    _, keys = np.unique(stacked, axis=0, return_inverse=True)
    keys = keys.reshape(-1).astype(np.int64)
    keys[missing] = NULL
    return keys


def pairs_sharing_key(keys: np.ndarray, max_block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All (i, j), i < j, with keys[i] == keys[j] != -1, skipping keys held by too many records."""
    present = np.flatnonzero(keys != NULL)
    if len(present) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0
    counts = np.bincount(keys[present])
    too_big = counts > max_block_size
    skipped = int(too_big.sum())
    if skipped:
        present = present[~too_big[keys[present]]]
    order = present[np.argsort(keys[present], kind="stable")]
    sorted_keys = keys[order]
    lefts, rights = [], []
    distance = 1
    while distance < len(order):
        same = np.flatnonzero(sorted_keys[:-distance] == sorted_keys[distance:])
        if not len(same):
            break
        lefts.append(order[same])
        rights.append(order[same + distance])
        distance += 1
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64), skipped
    left = np.concatenate(lefts)
    right = np.concatenate(rights)
    return np.minimum(left, right), np.maximum(left, right), skipped


KEY_SEPARATOR = "\x1f"


def _part_texts(features: Mapping[str, Features], part: KeyPart, words: Sequence[str]) -> list[str]:
    column = features[part.comparison][part.feature]
    if part.prefix is not None:
        return [str(value)[: part.prefix] if value else "" for value in column]
    if column.dtype == object:
        return [str(value) for value in column]
    if part.feature == "code" or part.feature.endswith("_code"):
        return [words[code] if code != NULL else "" for code in column.tolist()]
    return [str(number) if number != NULL else "" for number in column.tolist()]


def key_texts(
    features: Mapping[str, Features], vocabulary: Mapping[str, int], settings: MatchSettings
) -> list[list[str]]:
    """Per record, its blocking keys as text ("<rule>␟<part>␟…"), one per rule whose parts it all
    has. Two records of one run share a key text exactly when `rule_keys` gives them one key;
    unlike those integer keys, a text means the same in every run, so it can be stored."""
    words = [""] * max(len(vocabulary) - 1, 0)
    for word, code in vocabulary.items():
        if code != NULL:
            words[code] = word
    count = len(next(iter(features.values()))["code"]) if features else 0
    out: list[list[str]] = [[] for _ in range(count)]
    for rule in settings.blocking_rules:
        columns = [_part_texts(features, part, words) for part in rule.parts]
        for index, parts in enumerate(zip(*columns, strict=True)):
            if all(parts):
                out[index].append(KEY_SEPARATOR.join((rule.name, *parts)))
    return out


def pairs_sharing_text(keys: Sequence[Sequence[str]], max_block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Record pairs (i < j, sorted, each once) sharing at least one key text, skipping texts held
    by more than `max_block_size` records: the candidate pairs `candidate_pairs` would make."""
    owners = np.fromiter((index for index, texts in enumerate(keys) for _ in texts), dtype=np.int64)
    if len(owners) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    codes = encode([text for texts in keys for text in texts])[1]
    # A record holds at most one text per rule, so two entries sharing a text are two records.
    left, right, _ = pairs_sharing_key(codes, max_block_size)
    left, right = owners[left], owners[right]
    count = len(keys)
    unique = _sorted_unique(np.minimum(left, right) * count + np.maximum(left, right))
    return unique // count, unique % count


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # np.unique on integers hashes (numpy ≥ 2.3), several times slower here than sorting.
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def candidate_pairs(
    features: Mapping[str, Features], sources: np.ndarray, settings: MatchSettings
) -> CandidatePairs:
    """The union over all blocking rules, without duplicates, in a deterministic order."""
    count = len(sources)
    encoded = []
    per_rule: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for rule in settings.blocking_rules:
        left, right, skipped_blocks = pairs_sharing_key(rule_keys(features, rule), settings.max_block_size)
        if settings.link_type == "link_only":
            across = sources[left] != sources[right]
            left, right = left[across], right[across]
        per_rule[rule.name] = len(left)
        if skipped_blocks:
            skipped[rule.name] = skipped_blocks
        encoded.append(left * count + right)
    unique = _sorted_unique(np.concatenate(encoded)) if encoded else np.empty(0, np.int64)
    return CandidatePairs(unique // max(count, 1), unique % max(count, 1), per_rule, skipped)


def random_pairs(
    sources: np.ndarray, settings: MatchSettings, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs drawn uniformly from all pairs the run could compare (for u-probabilities)."""
    count = len(sources)
    if count < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    total = count * (count - 1) // 2
    if total <= size and settings.link_type == "dedupe":
        left, right = np.triu_indices(count, 1)
        return left.astype(np.int64), right.astype(np.int64)
    left = rng.integers(0, count, size=size * 2)
    right = rng.integers(0, count, size=size * 2)
    keep = left != right
    if settings.link_type == "link_only":
        keep &= sources[left] != sources[right]
    left, right = left[keep][:size], right[keep][:size]
    return np.minimum(left, right), np.maximum(left, right)
