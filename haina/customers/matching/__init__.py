"""OneID probabilistic record matcher: which customer records are the same person.

Pure domain logic — no database, no web framework. The identity graph (haina.customers.identity)
calls it; it never calls back.

Records
    Mappings (or dataclasses) with any of the fields in ``RECORD_FIELDS``: record_id, source,
    name, phone, email, province, city, address, birth_date, device_id, platform_uid. Any field
    may be empty. Values are normalised here: traditional → simplified characters, pinyin for
    names, full-width → half-width, ``+86`` dropped, masked phones (``138****5678``) kept as masks
    that fit full phones with the same visible digits, addresses cut into province / city /
    district / street without 省/市/区/县. Optional ``phone_hash`` / ``email_hash`` (keyed
    hashes of full values) are compared for equality. Other field sets (e.g. Latin-alphabet
    person records) work through other settings, see ``latin_person_settings``.

Batch linking
    ``link(records, settings=None, model=None) -> LinkResult``
        Blocking (several keys, unioned) → comparisons with agreement levels → Fellegi-Sunter
        model (u from random pairs; m and the match prior λ by EM, one session per blocking
        rule, no labels — see training.py; or the `model` given) → match weight and probability
        per candidate pair → clusters built strongest link first with guard rails (no cluster
        above ``max_cluster_size``; two clusters whose full phones / id numbers / birth years
        conflict are not joined through a single link; with ``unique_per_source`` at most one
        record per source). Deterministic for a given input.

    ``LinkResult``
        ``record_ids``, ``cluster_ids`` (aligned; a cluster id is the record_id of its first
        record), ``clusters`` (lists of ≥ 2 record ids), ``pairs`` (every pair at or above the
        review line: ``ScoredPair(left_id, right_id, weight, probability, decision, reason,
        evidence)`` with decision ``"merge"`` or ``"review"`` and, for review, why it was not
        merged), ``review_pairs``, ``model`` (a ``MatchModel``; ``as_dict()`` / ``from_dict()``
        to store it) and ``stats`` (counts, timings).

Incremental scoring
    ``score_candidates(record, candidates, model=None, settings=None) -> list[ScoredPair]``
        One new record against candidate records the caller found (e.g. sharing a phone or a
        device), best first, decision ``"merge"`` / ``"review"`` / ``"distinct"``. Uses a stored
        model from an earlier ``link`` or, without one, the comparisons' hand-set priors. Cluster
        guards are the caller's business here.

    ``blocking_keys(records, settings=None) -> list[list[str]]``
        Per record, its blocking keys as text (``"<rule>␟<value>"``): records sharing a key are
        the pairs ``link`` compares. With ``chinese_customer_settings(record_local=True)`` a
        record's keys and its comparisons depend on that record alone, so an index of the keys
        finds a new record's candidates among earlier ones, the same pairs a batch would make.

    ``score_pairs(records, left, right, model=None, settings=None) -> list[ScoredPair]``
        The given pairs (indexes into ``records``) at or above the review line, decided one by
        one (no clustering): what a graph that owns the clusters needs, in batch or one by one.

Decisions
    ``MatchSettings.auto_merge_probability`` (0.99) and ``review_probability`` (0.5) are fixed,
    the same for every data set. Shared evidence (a household's device, its address) is capped
    (3 and 6 bits) and counts towards a merge only next to ``min_personal_weight`` (8 bits) of
    other evidence, so a shared tablet or address never merges two people.

CSV
    ``link_csv(input_path, output_path, threshold=0.99) -> CsvLinkSummary`` (in csvlink.py)
    reads a CSV with the header above (absent columns are empty, unknown ones ignored) and
    writes ``record_id,cluster_id``; bad input raises ``CsvInputError`` with what to change.

Other data
    ``latin_person_settings(given_name=…, surname=…, …)`` maps Latin-alphabet person records
    (e.g. FEBRL) onto the same comparison layer: names by Jaro-Winkler and edit distance with
    given name / surname swaps, dates, numbers, free text, an id number possibly masked.
    ``MatchSettings(comparisons=…, blocking_rules=…)`` builds any other field set from the
    comparison classes exported here.

Example::

    from haina.customers import matching

    result = matching.link(records)
    for pair in result.review_pairs:
        ...  # propose to an operator
    model = matching.MatchModel.from_dict(stored) if stored else result.model
    best = matching.score_candidates(new_record, candidates, model)[0]
"""

from haina.customers.matching.comparisons import (
    ChineseAddressComparison,
    Comparison,
    DateComparison,
    EmailComparison,
    ExactComparison,
    IdentifierComparison,
    NameComparison,
    PlatformIdComparison,
    SwapPair,
    TextComparison,
    device_comparison,
)
from haina.customers.matching.csvlink import link_csv
from haina.customers.matching.linker import (
    Evidence,
    LinkResult,
    LinkStats,
    ScoredPair,
    blocking_keys,
    link,
    score_candidates,
    score_pairs,
)
from haina.customers.matching.model import MatchModel
from haina.customers.matching.presets import RECORD_FIELDS, chinese_customer_settings, latin_person_settings
from haina.customers.matching.settings import BlockingRule, MatchSettings

__all__ = [
    "RECORD_FIELDS",
    "BlockingRule",
    "ChineseAddressComparison",
    "Comparison",
    "DateComparison",
    "EmailComparison",
    "Evidence",
    "ExactComparison",
    "IdentifierComparison",
    "LinkResult",
    "LinkStats",
    "MatchModel",
    "MatchSettings",
    "NameComparison",
    "PlatformIdComparison",
    "ScoredPair",
    "SwapPair",
    "TextComparison",
    "blocking_keys",
    "chinese_customer_settings",
    "device_comparison",
    "latin_person_settings",
    "link",
    "link_csv",
    "score_candidates",
    "score_pairs",
]
