"""Comparisons: how two records agree on one aspect, as a small number of agreement levels.

A comparison turns records into per-record features once (`features`), then, for many pairs at
a time, tells the level each pair reaches (`compare`): level 0 is the strongest agreement, the last
level is plain disagreement, -1 means "one side is empty" and carries no evidence. The levels'
meaning is fixed here; how much each level weighs is learned (m/u, see model.py).

Features are numpy arrays, one entry per record, so that a comparison of 100,000 pairs is a
handful of vectorised operations (rapidfuzz's `cpdist` computes Jaro-Winkler and edit distances
pair by pair in C).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA, Indel, JaroWinkler

from haina.customers.matching import normalize as nz

Features = dict[str, np.ndarray]
# Features of the left or right records of many pairs (a PairSide, or plain gathered arrays).
PairFeatures = Mapping[str, Any]
# Strings one edit apart (4+ characters) have a Jaro-Winkler similarity well above this, so the
# costlier edit distance is only computed where the similarity reaches it (or a string is short).
_EDIT_GATE = 0.7
# Mask shapes (digits shown before / after the mask) compared as codes; rarer ones one by one.
MAX_MASK_SHAPES = 8
Role = Literal["evidence", "identifier", "shared"]
NULL = -1


_VOCABULARY: ContextVar[dict[str, int] | None] = ContextVar("matching_vocabulary", default=None)


@contextmanager
def shared_vocabulary() -> Iterator[dict[str, int]]:
    """Within the block, every `encode` draws from one vocabulary: equal strings get equal codes
    in every feature of every comparison, so a value can be checked against another field's.
    Yields the vocabulary (string → code), from which a code can be read back as its string."""
    vocabulary = {"": NULL}
    token = _VOCABULARY.set(vocabulary)
    try:
        yield vocabulary
    finally:
        _VOCABULARY.reset(token)


def encode(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(object array of the values, integer codes with -1 for ""), codes equal iff values equal."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    index = _VOCABULARY.get()
    if index is None:
        index = {"": NULL}
    for value in dict.fromkeys(values):
        if value not in index:
            index[value] = len(index) - 1
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return array, codes


def encode_together(*columns: Sequence[str]) -> list[np.ndarray]:
    """Codes for several columns drawn from one shared vocabulary (so codes compare across them)."""
    joined: list[str] = [value for column in columns for value in column]
    _, codes = encode(joined)
    out = []
    start = 0
    for column in columns:
        out.append(codes[start : start + len(column)])
        start += len(column)
    return out


def _where(
    mask: np.ndarray | None,
    compute: Callable[[np.ndarray, np.ndarray], np.ndarray],
    left: np.ndarray,
    right: np.ndarray,
    default: float,
) -> np.ndarray:
    """compute(left, right) pair by pair, only where mask is set (default elsewhere)."""
    if mask is None:
        return compute(np.asarray(left), np.asarray(right)) if len(left) else np.zeros(0)
    out = np.full(len(left), default, dtype=np.float64)
    selected = np.flatnonzero(mask)
    if len(selected):
        out[selected] = compute(left[selected], right[selected])
    return out


def jaro_winkler(left: np.ndarray, right: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Jaro-Winkler similarity pair by pair (0 where mask is unset)."""

    def compute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=1))

    return _where(mask, compute, left, right, 0.0)


def edit_distance(
    left: np.ndarray, right: np.ndarray, cutoff: int = 3, mask: np.ndarray | None = None
) -> np.ndarray:
    """Optimal-string-alignment distance (a transposition is one edit), capped at cutoff + 1."""

    def compute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(process.cpdist(a, b, scorer=OSA.distance, score_cutoff=cutoff, workers=1))

    return _where(mask, compute, left, right, cutoff + 1)


def indel_similarity(left: np.ndarray, right: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    def compute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(process.cpdist(a, b, scorer=Indel.normalized_similarity, workers=1))

    return _where(mask, compute, left, right, 0.0)


def _fuzzy_mask(left: PairFeatures, right: PairFeatures) -> np.ndarray:
    """Pairs worth a string distance: both present and not already equal."""
    return (left["code"] != NULL) & (right["code"] != NULL) & (left["code"] != right["code"])


class LazyColumn:
    """A per-pair view of a per-record string column: only the pairs read are gathered."""

    __slots__ = ("base", "index")

    def __init__(self, base: np.ndarray, index: np.ndarray) -> None:
        self.base, self.index = base, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, positions: Any) -> Any:
        return self.base[self.index[positions]]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        gathered = self.base[self.index]
        return gathered if dtype is None else gathered.astype(dtype)


class PairSide(Mapping[str, Any]):
    """One side (left or right records) of many pairs: features by pair, not by record.

    Numeric features are gathered on first use; string features stay lazy (LazyColumn), since
    a comparison usually reads them only for the few pairs that are neither equal nor empty."""

    def __init__(self, features: Features, index: np.ndarray) -> None:
        self.features, self.index = features, index
        self._gathered: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> Any:
        column = self.features[key]
        if column.dtype == object:
            return LazyColumn(column, self.index)
        if key not in self._gathered:
            self._gathered[key] = column[self.index]
        return self._gathered[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)


def _levels(size: int, conditions: Sequence[np.ndarray], null: np.ndarray) -> np.ndarray:
    """Level = index of the first true condition, else the last level; -1 where null."""
    levels = np.full(size, len(conditions), dtype=np.int8)
    for level in range(len(conditions) - 1, -1, -1):
        levels[conditions[level]] = level
    levels[null] = NULL
    return levels


def _field_values(records: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return [record.get(name) for record in records]


@dataclass(kw_only=True)
class Comparison(ABC):
    """One aspect two records can agree on. Subclasses define features() and compare().

    role: "identifier" values belong to one person (phone, id number): disagreement is a conflict
    that clustering respects when `conflicts` is set. "shared" values may belong to a household
    (device, address): their positive weight is capped at `max_weight` and never merges a pair
    on its own. term_frequency: agreement on a rare value weighs more than on a common one."""

    name: str
    fields: tuple[str, ...] = ()
    role: Role = "evidence"
    conflicts: bool = False
    term_frequency: bool = False
    max_weight: float | None = None
    level_names: tuple[str, ...] = ("exact", "different")
    prior_m: tuple[float, ...] = (0.9, 0.1)
    prior_u: tuple[float, ...] = (0.01, 0.99)

    def __post_init__(self) -> None:
        if not self.fields:
            self.fields = (self.name,)
        if not (len(self.level_names) == len(self.prior_m) == len(self.prior_u)):
            raise ValueError(f"comparison {self.name}: level names and priors differ in length")

    @property
    def level_count(self) -> int:
        return len(self.level_names)

    def normalise(self, value: Any) -> str:
        return nz.clean_text(value)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        values = [self.normalise(value) for value in _field_values(records, self.fields[0])]
        array, codes = encode(values)
        return {"value": array, "code": codes}

    @abstractmethod
    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        """The agreement level (index into level_names) of each pair."""

    def agrees(self, left: str, right: str) -> bool:
        """Scalar check used by clustering: do two (non-empty) values not contradict each other?"""
        return left == right


@dataclass(kw_only=True)
class ExactComparison(Comparison):
    """Equal or not, after normalisation (a state, a gender, a device id)."""

    normaliser: Callable[[Any], str] = nz.clean_text

    def normalise(self, value: Any) -> str:
        return self.normaliser(value)

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        return _levels(len(null), [left["code"] == right["code"]], null)


@dataclass(kw_only=True)
class TextComparison(Comparison):
    """Free text or codes: exact, one edit apart (optional), Jaro-Winkler above each threshold.

    With `ignore_spaces`, "lubuma place" and "lubumaplace" are equal."""

    normaliser: Callable[[Any], str] = nz.clean_text
    typo_level: bool = True
    thresholds: tuple[float, ...] = (0.92, 0.85)
    ignore_spaces: bool = False

    def __post_init__(self) -> None:
        names = ["exact"]
        if self.typo_level:
            names.append("one_edit")
        names += [f"jaro_winkler_{threshold:g}" for threshold in self.thresholds]
        names.append("different")
        if self.level_names == ("exact", "different"):
            self.level_names = tuple(names)
            self.prior_m = _default_prior_m(len(names))
            self.prior_u = _default_prior_u(len(names))
        super().__post_init__()

    def normalise(self, value: Any) -> str:
        text = self.normaliser(value)
        return text.replace(" ", "") if self.ignore_spaces else text

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        conditions = [left["code"] == right["code"]]
        fuzzy = _fuzzy_mask(left, right)
        similarity = jaro_winkler(left["value"], right["value"], fuzzy) if self.thresholds else None
        if self.typo_level:
            candidates = fuzzy
            if similarity is not None:
                candidates = fuzzy & (
                    (similarity >= _EDIT_GATE) | (np.minimum(left["length"], right["length"]) <= 3)
                )
            conditions.append(edit_distance(left["value"], right["value"], 1, candidates) <= 1)
        if similarity is not None:
            conditions += [similarity >= threshold for threshold in self.thresholds]
        return _levels(len(null), conditions, null)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        features = super().features(records)
        features["length"] = np.fromiter((len(value) for value in features["value"]), np.int32, len(records))
        return features


def _normalised(values: Iterable[float]) -> tuple[float, ...]:
    kept = tuple(values)
    return tuple(value / sum(kept) for value in kept)


def _default_prior_m(levels: int) -> tuple[float, ...]:
    # Agreement levels of true matches: mostly exact, then fewer and fewer.
    raw = [0.85] + [0.1 / (2**index) for index in range(levels - 2)] + [0.05]
    total = sum(raw)
    return tuple(value / total for value in raw)


def _default_prior_u(levels: int) -> tuple[float, ...]:
    raw = [0.01] + [0.005 * (2**index) for index in range(levels - 2)]
    return (*raw, 1 - sum(raw))


@dataclass(kw_only=True)
class NameComparison(Comparison):
    """A person's name, Chinese or Latin.

    Levels: exact (after traditional → simplified), same pronunciation (pinyin: 张伟 / 張偉 / 张玮 /
    "Zhang Wei" / "Wei Zhang"), one edit apart (for Chinese only names of 3+ characters: 张伟明 /
    张伟民; 张伟 / 张强 are two people, often of one household), Jaro-Winkler ≥ 0.92 / ≥ 0.8 on Latin
    spellings, surname with a title (张先生 / 张伟: the shop only knew the surname), different."""

    level_names: tuple[str, ...] = (
        "exact",
        "same_pronunciation",
        "one_edit",
        "jaro_winkler_0.92",
        "jaro_winkler_0.8",
        "title_with_surname",
        "different",
    )
    prior_m: tuple[float, ...] = (0.8, 0.05, 0.06, 0.03, 0.02, 0.02, 0.02)
    prior_u: tuple[float, ...] = (0.002, 0.001, 0.002, 0.005, 0.03, 0.01, 0.95)

    def normalise(self, value: Any) -> str:
        return nz.normalize_name(value)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        values = [self.normalise(value) for value in _field_values(records, self.fields[0])]
        pronunciations = [nz.name_pronunciation(value) for value in values]
        reversed_ = [nz.name_pronunciation_reversed(value) for value in values]
        array, codes = encode(values)
        pronunciation_codes, reversed_codes = encode_together(pronunciations, reversed_)
        return {
            "value": array,
            "code": codes,
            "pronunciation": np.asarray(pronunciations, dtype=object),
            "pronunciation_code": pronunciation_codes,
            "reversed_code": reversed_codes,
            "han": np.asarray([nz.has_han(value) for value in values], dtype=bool),
            "length": np.asarray([len(value) for value in values], dtype=np.int32),
            "titled": np.asarray([bool(nz.title_surname(value)) for value in values], dtype=bool),
            "surname_code": encode(
                [nz.title_surname(value) or nz.split_chinese_name(value)[0] for value in values]
            )[1],
        }

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        exact = left["code"] == right["code"]
        valid_left = left["pronunciation_code"] != NULL
        valid_right = right["pronunciation_code"] != NULL
        same_sound = valid_left & valid_right & (left["pronunciation_code"] == right["pronunciation_code"])
        same_sound |= valid_left & (left["pronunciation_code"] == right["reversed_code"])
        same_sound |= valid_right & (left["reversed_code"] == right["pronunciation_code"])
        any_han = left["han"] | right["han"]
        both_han = left["han"] & right["han"]
        long_enough = np.minimum(left["length"], right["length"]) >= 3
        fuzzy = _fuzzy_mask(left, right) & ~same_sound
        latin = ~both_han
        similarity = jaro_winkler(left["pronunciation"], right["pronunciation"], fuzzy & latin)
        short = np.minimum(left["length"], right["length"]) <= 3
        edit_candidates = fuzzy & (
            (~any_han & ((similarity >= _EDIT_GATE) | short)) | (both_han & long_enough)
        )
        one_edit = edit_distance(left["value"], right["value"], 1, edit_candidates) <= 1
        titled = (left["titled"] | right["titled"]) & (left["surname_code"] != NULL)
        title_with_surname = titled & (left["surname_code"] == right["surname_code"])
        return _levels(
            len(null),
            [
                exact,
                same_sound,
                one_edit,
                latin & (similarity >= 0.92),
                latin & (similarity >= 0.8),
                title_with_surname,
            ],
            null,
        )


@dataclass(kw_only=True)
class DateComparison(Comparison):
    """A date (birth date): exact, one digit typo, day and month swapped, same year, different."""

    level_names: tuple[str, ...] = ("exact", "one_edit", "day_month_swapped", "same_year", "different")
    prior_m: tuple[float, ...] = (0.85, 0.08, 0.01, 0.03, 0.03)
    prior_u: tuple[float, ...] = (0.0001, 0.002, 0.00002, 0.01, 0.98788)

    def normalise(self, value: Any) -> str:
        return nz.normalize_date(value)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        values = [self.normalise(value) for value in _field_values(records, self.fields[0])]
        array, codes = encode(values)
        swapped = [value[:4] + value[6:8] + value[4:6] if len(value) == 8 else "" for value in values]
        years = [value[:4] if len(value) >= 4 else "" for value in values]
        swapped_codes, plain_codes = encode_together(swapped, values)
        year_codes = encode(years)[1]
        return {
            "value": array,
            "code": codes,
            "swapped_code": swapped_codes,
            "plain_code": plain_codes,
            "year_code": year_codes,
        }

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        exact = left["code"] == right["code"]
        one_edit = edit_distance(left["value"], right["value"], 1, _fuzzy_mask(left, right)) <= 1
        swapped = (left["swapped_code"] != NULL) & (left["swapped_code"] == right["plain_code"])
        same_year = (left["year_code"] != NULL) & (left["year_code"] == right["year_code"])
        return _levels(len(null), [exact, one_edit, swapped, same_year], null)

    def agrees(self, left: str, right: str) -> bool:
        # Only another year, beyond a typo, contradicts: a lunar birthday moves month and day.
        if left[:4] == right[:4]:
            return True
        return len(left) == len(right) and OSA.distance(left, right, score_cutoff=1) <= 1


@dataclass(kw_only=True)
class IdentifierComparison(Comparison):
    """An identifier of one person (phone, id number, platform uid), possibly masked.

    Levels: exact; one edit apart (two full values); one full and one masked value that fits it
    (13812345678 / 138****5678); two masked values showing the same digits (weak: many people share
    138****5678); different. `kind="phone"` normalises +86, spaces and dashes.

    The blocking feature `pattern_code` cuts full values the way the data's most common mask
    shows them; `pattern_shape` fixes that cut instead (e.g. (3, 4)), so that a record's key does
    not depend on which other records it is blocked with."""

    kind: Literal["phone", "generic"] = "generic"
    role: Role = "identifier"
    conflicts: bool = True
    typo_level: bool = True
    pattern_shape: tuple[int, int] | None = None
    level_names: tuple[str, ...] = ("exact", "one_edit", "masked_fits_full", "same_masked", "different")
    prior_m: tuple[float, ...] = (0.85, 0.04, 0.04, 0.03, 0.04)
    prior_u: tuple[float, ...] = (0.000001, 0.00001, 0.00001, 0.0005, 0.999479)

    def __post_init__(self) -> None:
        if not self.typo_level and "one_edit" in self.level_names:
            keep = [index for index, name in enumerate(self.level_names) if name != "one_edit"]
            self.level_names = tuple(self.level_names[index] for index in keep)
            self.prior_m = _normalised(self.prior_m[index] for index in keep)
            self.prior_u = _normalised(self.prior_u[index] for index in keep)
        super().__post_init__()

    def normalise(self, value: Any) -> str:
        if self.kind == "phone":
            return nz.normalize_phone(value)
        return nz.normalize_identifier(value)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        values = [self.normalise(value) for value in _field_values(records, self.fields[0])]
        array, codes = encode(values)
        parts = [nz.masked_parts(value) if nz.is_masked(value) else None for value in values]
        # The mask shapes of this data, most common first (138****5678 shows 3 + 4 digits).
        counted = Counter((len(part.prefix), len(part.suffix)) for part in parts if part is not None)
        shapes = [shape for shape, _ in counted.most_common(MAX_MASK_SHAPES)] or [(3, 4)]
        shape_ids = {shape: index for index, shape in enumerate(shapes)}
        features: Features = {
            "value": array,
            "code": codes,
            "masked": np.asarray([part is not None for part in parts], dtype=bool),
            "shape": np.asarray(
                [
                    NULL if part is None else shape_ids.get((len(part.prefix), len(part.suffix)), len(shapes))
                    for part in parts
                ],
                dtype=np.int64,
            ),
            "visible_code": encode([f"{part.prefix}|{part.suffix}" if part else "" for part in parts])[1],
        }
        # Per shape: every full value cut that way, so "masked fits full" is a comparison of codes
        # and a blocking key on "pattern_code" puts 13812345678 next to 138****5678.
        for index, (prefix, suffix) in enumerate(shapes):
            cut = [
                (nz.visible_key(value, prefix, suffix) if part is None else f"{part.prefix}|{part.suffix}")
                if value
                else ""
                for value, part in zip(values, parts, strict=True)
            ]
            features[f"pattern_code_{index}"] = encode(cut)[1]
        features["pattern_code"] = features["pattern_code_0"]
        if self.pattern_shape is not None and self.pattern_shape != shapes[0]:
            prefix, suffix = self.pattern_shape
            features["pattern_code"] = encode(
                [
                    (
                        nz.visible_key(value, prefix, suffix)
                        if part is None
                        else f"{part.prefix}|{part.suffix}"
                    )
                    if value
                    else ""
                    for value, part in zip(values, parts, strict=True)
                ]
            )[1]
        features["shape_count"] = np.full(len(values), len(shapes), dtype=np.int64)
        return features

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        both_full = ~left["masked"] & ~right["masked"]
        exact = both_full & (left["code"] == right["code"])
        conditions = [exact]
        if self.typo_level:
            typo_candidates = both_full & _fuzzy_mask(left, right)
            conditions.append(edit_distance(left["value"], right["value"], 1, typo_candidates) <= 1)
        one_masked = (left["masked"] ^ right["masked"]) & ~null
        fits = np.zeros(len(null), dtype=bool)
        shape_count = int(left["shape_count"][0]) if len(null) else 0
        for shape in range(shape_count):
            key = f"pattern_code_{shape}"
            fits |= one_masked & (left["shape"] == shape) & (left["visible_code"] == right[key])
            fits |= one_masked & (right["shape"] == shape) & (right["visible_code"] == left[key])
        # Masks of a rare shape, one by one.
        rare = one_masked & ((left["shape"] >= shape_count) | (right["shape"] >= shape_count))
        for pair in np.flatnonzero(rare):
            a, b = left["value"][pair], right["value"][pair]
            fits[pair] = nz.masked_compatible(a, b) if nz.is_masked(a) else nz.masked_compatible(b, a)
        both_masked = left["masked"] & right["masked"]
        same_masked = both_masked & (
            (left["code"] == right["code"])
            | ((left["visible_code"] != NULL) & (left["visible_code"] == right["visible_code"]))
        )
        return _levels(len(null), [*conditions, fits, same_masked], null)

    def agrees(self, left: str, right: str) -> bool:
        left_masked, right_masked = nz.is_masked(left), nz.is_masked(right)
        if left_masked and right_masked:
            return nz.visible_key(left) == nz.visible_key(right)
        if left_masked:
            return nz.masked_compatible(left, right)
        if right_masked:
            return nz.masked_compatible(right, left)
        return left == right or (len(left) == len(right) and OSA.distance(left, right, score_cutoff=1) <= 1)


@dataclass(kw_only=True)
class EmailComparison(Comparison):
    """Email: exact; same mailbox name at another domain (x@qq.com / x@163.com); close spelling."""

    role: Role = "identifier"
    level_names: tuple[str, ...] = ("exact", "same_local_part", "jaro_winkler_0.92", "different")
    prior_m: tuple[float, ...] = (0.85, 0.05, 0.04, 0.06)
    prior_u: tuple[float, ...] = (0.00001, 0.0001, 0.001, 0.99889)

    def normalise(self, value: Any) -> str:
        return nz.normalize_email(value)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        values = [self.normalise(value) for value in _field_values(records, self.fields[0])]
        array, codes = encode(values)
        local = [value.rpartition("@")[0] for value in values]
        local_array, local_codes = encode(local)
        return {"value": array, "code": codes, "local": local_array, "local_code": local_codes}

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["code"] == NULL) | (right["code"] == NULL)
        exact = left["code"] == right["code"]
        same_local = left["local_code"] == right["local_code"]
        similar = jaro_winkler(left["value"], right["value"], _fuzzy_mask(left, right)) >= 0.92
        return _levels(len(null), [exact, same_local, similar], null)

    def agrees(self, left: str, right: str) -> bool:
        return left == right or left.rpartition("@")[0] == right.rpartition("@")[0]


@dataclass(kw_only=True)
class ChineseAddressComparison(Comparison):
    """A Chinese address from province, city and free text, compared level by level.

    Levels: same address (after folding 省/市/区/县, traditional characters, full-width digits);
    nearly the same (Indel similarity ≥ 0.85 on city + district + street, same city); same district;
    same city; same province; different. A household shares an address, so the role is "shared".

    A free-text address without a city is read with the help of the cities other records of the
    run spell out, unless `infer_cities` is off (then a record reads the same in any company)."""

    role: Role = "shared"
    infer_cities: bool = True
    max_weight: float | None = 6.0
    fields: tuple[str, ...] = ("province", "city", "address")
    level_names: tuple[str, ...] = (
        "same_address",
        "similar_address",
        "same_district",
        "same_city",
        "same_province",
        "different",
    )
    prior_m: tuple[float, ...] = (0.6, 0.15, 0.08, 0.08, 0.04, 0.05)
    prior_u: tuple[float, ...] = (0.00005, 0.0002, 0.005, 0.03, 0.06, 0.90475)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        province_field, city_field, address_field = self.fields
        raw = [
            (
                nz.clean_text(record.get(province_field)),
                nz.clean_text(record.get(city_field)),
                nz.clean_text(record.get(address_field)),
            )
            for record in records
        ]
        parsed = [nz.parse_chinese_address(*parts) for parts in raw]
        if self.infer_cities:
            # Cities other records spell out (深圳市) help read the ones that do not (广东深圳南山区…).
            known = frozenset(address.city for address in parsed if len(address.city) >= 2)
            parsed = [
                nz.parse_chinese_address(*parts, known_cities=known)
                if not address.city and parts[2]
                else address
                for parts, address in zip(raw, parsed, strict=True)
            ]
        keys = [
            (address.city + address.district + nz.address_detail_key(address)) if address.detail else ""
            for address in parsed
        ]
        present = ["1" if not address.is_empty else "" for address in parsed]
        array, codes = encode(keys)
        return {
            "value": array,
            "code": codes,
            "present_code": encode(present)[1],
            "province_code": encode([address.province for address in parsed])[1],
            "city_code": encode([address.city for address in parsed])[1],
            "district_code": encode(
                [address.city + "|" + address.district if address.district else "" for address in parsed]
            )[1],
        }

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        null = (left["present_code"] == NULL) | (right["present_code"] == NULL)

        def same(key: str) -> np.ndarray:
            return (left[key] != NULL) & (left[key] == right[key])

        has_detail = (left["code"] != NULL) & (right["code"] != NULL)
        exact = has_detail & (left["code"] == right["code"])
        city_compatible = same("city_code") | (left["city_code"] == NULL) | (right["city_code"] == NULL)
        fuzzy = has_detail & city_compatible & (left["code"] != right["code"])
        similar = indel_similarity(left["value"], right["value"], fuzzy) >= 0.85
        return _levels(
            len(null),
            [exact, similar, same("district_code"), same("city_code"), same("province_code")],
            null,
        )


def device_comparison(name: str = "device_id", field_name: str = "device_id") -> ExactComparison:
    """A device id: a shared household tablet or a shop's POS pad must never merge people alone."""
    return ExactComparison(
        name=name,
        fields=(field_name,),
        normaliser=nz.normalize_identifier,
        role="shared",
        max_weight=3.0,
        prior_m=(0.5, 0.5),
        prior_u=(0.0005, 0.9995),
    )


@dataclass(frozen=True)
class SwapPair:
    """Two comparisons whose values a record may carry the wrong way round (given name ↔ surname,
    address line 1 ↔ line 2). When the crossed values agree clearly better than the straight ones,
    the pair is compared crossed."""

    first: str
    second: str
    margin: float = 0.2


@dataclass(kw_only=True)
class PlatformIdComparison(IdentifierComparison):
    """A platform's own user id (Taobao open uid, Youzan fans id): comparable only between records
    of the same source, since ids of two platforms live in different spaces. A person may hold two
    accounts on one platform, so a different id is no conflict."""

    fields: tuple[str, ...] = ("platform_uid", "source")
    conflicts: bool = False
    # Ids are issued by machines, not typed: ids one character apart are neighbours, not typos.
    typo_level: bool = False
    level_names: tuple[str, ...] = ("exact", "masked_fits_full", "same_masked", "different")
    prior_m: tuple[float, ...] = (0.6, 0.02, 0.02, 0.36)
    prior_u: tuple[float, ...] = (0.000001, 0.00001, 0.0005, 0.999489)

    def features(self, records: Sequence[Mapping[str, Any]]) -> Features:
        features = super().features(records)
        sources = [nz.clean_text(value) for value in _field_values(records, self.fields[1])]
        features["source_code"] = encode(sources)[1]
        return features

    def compare(self, left: PairFeatures, right: PairFeatures) -> np.ndarray:
        levels = super().compare(left, right)
        levels[left["source_code"] != right["source_code"]] = NULL
        return levels
