"""Link the customer records of a CSV file: the work behind `haina oneid link`."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from haina.customers.matching.linker import LinkResult, link
from haina.customers.matching.presets import RECORD_FIELDS, chinese_customer_settings


class CsvInputError(ValueError):
    """The input file cannot be linked as it is; the message says what to change."""


@dataclass(frozen=True)
class CsvLinkSummary:
    records: int
    clusters: int
    merged_records: int
    review_pairs: int
    largest_cluster: int
    seconds: float


def read_records(input_path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV file with a header; known columns kept, absent ones empty, others ignored.

    A missing or empty record_id becomes the row number (1-based, header not counted)."""
    with open(input_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise CsvInputError(
                f"{input_path}: the file is empty; expected a header line such as {','.join(RECORD_FIELDS)}"
            )
        header = [name.strip() for name in reader.fieldnames]
        if not set(header) & set(RECORD_FIELDS):
            raise CsvInputError(
                f"{input_path}: none of the columns {', '.join(header)} is known; "
                f"use some of {', '.join(RECORD_FIELDS)}"
            )
        reader.fieldnames = header
        records = []
        for number, row in enumerate(reader, start=1):
            record = {field: (row.get(field) or "").strip() for field in RECORD_FIELDS}
            record["record_id"] = record["record_id"] or str(number)
            records.append(record)
    seen: set[str] = set()
    for record in records:
        if record["record_id"] in seen:
            raise CsvInputError(
                f"{input_path}: record_id {record['record_id']!r} occurs twice; ids must be unique"
            )
        seen.add(record["record_id"])
    return records


def write_clusters(output_path: str | Path, result: LinkResult) -> None:
    with open(output_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("record_id", "cluster_id"))
        writer.writerows(zip(result.record_ids, result.cluster_ids, strict=True))


def link_csv(
    input_path: str | Path,
    output_path: str | Path,
    threshold: float = 0.99,
    review_threshold: float | None = None,
) -> CsvLinkSummary:
    """Read records from `input_path`, link them, write `record_id,cluster_id` to `output_path`.

    Input header: any of record_id, source, name, phone, email, province, city, address,
    birth_date, device_id, platform_uid (absent columns count as empty). `threshold` is the
    match probability from which two records are merged; pairs between `review_threshold`
    (default: the settings' review line, or the threshold if that is higher) and it are counted
    as to review. The cluster id is the record_id of the cluster's first record."""
    if not 0 < threshold < 1:
        raise CsvInputError(f"threshold must be a probability between 0 and 1, not {threshold}")
    settings = chinese_customer_settings()
    review = settings.review_probability if review_threshold is None else review_threshold
    settings = settings.with_changes(
        auto_merge_probability=threshold, review_probability=min(review, threshold)
    )
    result = link(read_records(input_path), settings)
    write_clusters(output_path, result)
    sizes: dict[str, int] = {}
    for cluster_id in result.cluster_ids:
        sizes[cluster_id] = sizes.get(cluster_id, 0) + 1
    return CsvLinkSummary(
        records=result.stats.records,
        clusters=result.stats.clusters,
        merged_records=sum(size for size in sizes.values() if size > 1),
        review_pairs=result.stats.review_pairs,
        largest_cluster=result.stats.largest_cluster,
        seconds=result.stats.seconds.get("total", 0.0),
    )
