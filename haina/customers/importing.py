"""Import customers from a spreadsheet: read a CSV or XLSX file into matcher records and preview
what the OneID matcher would merge — the console's "import customers (Excel/CSV)" and its API.

No web framework here. The file is read in memory (capped by ``MAX_BYTES`` and ``MAX_ROWS``);
bad input raises ``ImportFileError`` (HTTP 422) whose message says which column or row to fix,
with a locale key and parameters the console translates.

Columns are the matcher's ``RECORD_FIELDS`` (record_id, source, name, phone, email, province,
city, address, birth_date, device_id, platform_uid) or their Chinese names (编号, 来源, 姓名,
手机, 邮箱, 省, 市, 地址, 生日, 设备号, 平台ID); any may be absent or empty, unknown columns are
ignored. CSV may be UTF-8 (with or without a BOM) or GB18030 (what Chinese Excel saves).
The linking is the one of ``haina oneid link`` (``matching.link_csv``), so the result CSV is the
same file the command writes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.crypto import mask_phone
from haina.core.errors import InvalidInput
from haina.customers.matching import RECORD_FIELDS, LinkResult, ScoredPair, chinese_customer_settings, link

MAX_ROWS = 20_000
MAX_BYTES = 20 * 1024 * 1024
MAX_CELL = 500
PREVIEW_CLUSTERS = 200
PREVIEW_REVIEWS = 100
MERGE_PROBABILITY = 0.99  # as `haina oneid link` without --threshold

# Header name (lower-cased, spaces removed) → record field.
HEADER_ALIASES: dict[str, str] = {
    **{name: name for name in RECORD_FIELDS},
    "编号": "record_id",
    "来源": "source",
    "姓名": "name",
    "手机": "phone",
    "手机号": "phone",
    "邮箱": "email",
    "省": "province",
    "省份": "province",
    "市": "city",
    "城市": "city",
    "地址": "address",
    "生日": "birth_date",
    "出生日期": "birth_date",
    "设备号": "device_id",
    "平台id": "platform_uid",
}
CHINESE_HEADERS: dict[str, str] = {
    "record_id": "编号",
    "source": "来源",
    "name": "姓名",
    "phone": "手机",
    "email": "邮箱",
    "province": "省",
    "city": "市",
    "address": "地址",
    "birth_date": "生日",
    "device_id": "设备号",
    "platform_uid": "平台ID",
}


class ImportFileError(InvalidInput):
    """The file cannot be imported as it is. `key` and `params` are the console's translation."""

    code = "import_file_invalid"

    def __init__(self, message: str, key: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.key = f"customers.import.error.{key}"
        self.params = params


# ── Reading ──────────────────────────────────────────────────────────────────────────────────


def read_upload(filename: str, content: bytes) -> list[dict[str, str]]:
    """The records of an uploaded .csv or .xlsx file (by its name, else by its content)."""
    if not content.strip():
        raise ImportFileError("the file is empty; upload a .csv or .xlsx file with a header row", "empty")
    if len(content) > MAX_BYTES:
        raise ImportFileError(
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller files",
            "too_large",
            megabytes=MAX_BYTES // (1024 * 1024),
        )
    name = filename.lower().strip()
    if name.endswith((".xls", ".et")) or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(
            "old Excel files (.xls) cannot be read; save the sheet as .xlsx or CSV", "old_excel"
        )
    if name.endswith((".xlsx", ".xlsm")) or content.startswith(b"PK\x03\x04"):
        return records_from_rows(_xlsx_rows(content))
    if name.endswith((".csv", ".txt")) or not name or "." not in name:
        return records_from_rows(_csv_rows(content))
    raise ImportFileError(
        f"{filename}: unknown file type; upload a .csv or .xlsx file", "file_type", filename=filename
    )


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", errors="replace")  # Excel's "Unicode text" (tab-separated)
    for encoding in ("utf-8", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(
        "the file's text encoding is not UTF-8 or GB18030; save it as 'CSV UTF-8' in Excel", "encoding"
    )


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    try:
        yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    except csv.Error as error:
        raise ImportFileError(
            f"the CSV file cannot be read ({error}); check its quotes", "csv", problem=str(error)
        ) from error


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phones and ids Excel stored as numbers
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _xlsx_rows(content: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise ImportFileError(
            "the file is not a readable .xlsx workbook; save it again from Excel as .xlsx or CSV", "xlsx"
        ) from error
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return
        for values in sheet.iter_rows(values_only=True):
            yield [_cell_text(value) for value in values]
    finally:
        workbook.close()


def _column_name(index: int) -> str:
    """0 → A, 26 → AA (as a spreadsheet names its columns)."""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


def records_from_rows(rows: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    """Records from a header row and data rows; a missing record_id becomes the data row's
    number (1-based, blank rows not counted — as ``haina oneid link``)."""
    iterator = iter(rows)
    header: list[str] | None = None
    header_line = 0
    for header_line, row in enumerate(iterator, start=1):  # noqa: B007
        if any(cell.strip() for cell in row):
            header = [cell.strip().lstrip("\ufeff") for cell in row]
            break
    if header is None:
        raise ImportFileError("the file is empty; upload a .csv or .xlsx file with a header row", "empty")
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        field_name = HEADER_ALIASES.get(title.lower().replace(" ", ""))
        if field_name is None:
            continue
        if field_name in columns:
            raise ImportFileError(
                f"columns {_column_name(columns[field_name])} and {_column_name(index)} are both "
                f"'{field_name}'; keep one",
                "duplicate_column",
                column=field_name,
                first=_column_name(columns[field_name]),
                second=_column_name(index),
            )
        columns[field_name] = index
    if not columns:
        shown = ", ".join(title for title in header if title)[:200]
        raise ImportFileError(
            f"none of the columns ({shown}) is known; name them {', '.join(RECORD_FIELDS)} "
            f"or {', '.join(CHINESE_HEADERS.values())}",
            "no_known_column",
            columns=shown,
        )
    records: list[dict[str, str]] = []
    lines: dict[str, int] = {}
    for line, row in enumerate(iterator, start=header_line + 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(records) >= MAX_ROWS:
            raise ImportFileError(
                f"the file has more than {MAX_ROWS} rows; split it into files of at most {MAX_ROWS}",
                "too_many_rows",
                limit=MAX_ROWS,
            )
        record: dict[str, str] = {}
        for field_name in RECORD_FIELDS:
            position = columns.get(field_name)
            value = row[position].strip() if position is not None and position < len(row) else ""
            if len(value) > MAX_CELL:
                raise ImportFileError(
                    f"row {line}, column {field_name}: the value is longer than {MAX_CELL} characters",
                    "too_long",
                    row=line,
                    column=field_name,
                    limit=MAX_CELL,
                )
            record[field_name] = value
        record["record_id"] = record["record_id"] or str(len(records) + 1)
        if record["record_id"] in lines:
            raise ImportFileError(
                f"row {line}, column record_id: {record['record_id']!r} is also on row "
                f"{lines[record['record_id']]}; ids must be unique",
                "duplicate_id",
                row=line,
                other_row=lines[record["record_id"]],
                record_id=record["record_id"],
            )
        lines[record["record_id"]] = line
        records.append(record)
    if not records:
        raise ImportFileError("the file has a header but no rows", "no_rows")
    return records


# ── Linking and the preview ──────────────────────────────────────────────────────────────────


def link_records(records: list[dict[str, str]]) -> LinkResult:
    """Link as ``haina oneid link`` does with its default threshold."""
    settings = chinese_customer_settings()
    settings = settings.with_changes(
        auto_merge_probability=MERGE_PROBABILITY,
        review_probability=min(settings.review_probability, MERGE_PROBABILITY),
    )
    return link(records, settings)


def link_upload(
    session: Session, actor: Actor, records: list[dict[str, str]], filename: str, format: str
) -> LinkResult:
    """Link an uploaded list for download (API and console alike), recorded in the audit log."""
    result = link_records(records)
    audit.record(
        session,
        "customers.import_linked",
        actor=actor,
        target_type="customer_import",
        target_id=filename[:64],
        detail={"rows": len(records), "format": format},
    )
    return result


def result_rows(result: LinkResult) -> list[tuple[str, str]]:
    return list(zip(result.record_ids, result.cluster_ids, strict=True))


def result_csv(result: LinkResult) -> bytes:
    """``record_id,cluster_id`` — byte for byte what ``haina oneid link`` writes."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(("record_id", "cluster_id"))
    writer.writerows(result_rows(result))
    return buffer.getvalue().encode("utf-8")


def result_xlsx(result: LinkResult) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("clusters")
    sheet.append(["record_id", "cluster_id"])
    for row in result_rows(result):
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class PreviewEvidence:
    comparison: str
    level: str
    weight: float


@dataclass(frozen=True)
class PreviewPair:
    left_id: str
    right_id: str
    probability: float
    weight: float
    decision: str
    reason: str
    evidence: list[PreviewEvidence]


@dataclass(frozen=True)
class PreviewCluster:
    cluster_id: str
    rows: list[dict[str, str]]
    pairs: list[PreviewPair]


@dataclass(frozen=True)
class ReviewPreview:
    pair: PreviewPair
    left: dict[str, str]
    right: dict[str, str]


@dataclass
class ImportPreview:
    rows: int
    clusters: int
    merged_rows: int
    multi_clusters: int
    review_pairs: int
    largest_cluster: int
    phones_masked: bool
    merge_clusters: list[PreviewCluster] = field(default_factory=list)
    reviews: list[ReviewPreview] = field(default_factory=list)

    @property
    def clusters_truncated(self) -> bool:
        return len(self.merge_clusters) < self.multi_clusters

    @property
    def reviews_truncated(self) -> bool:
        return len(self.reviews) < self.review_pairs


def _pair(pair: ScoredPair) -> PreviewPair:
    return PreviewPair(
        left_id=pair.left_id,
        right_id=pair.right_id,
        probability=round(float(pair.probability), 4),
        weight=round(float(pair.weight), 2),
        decision=pair.decision,
        reason=pair.reason,
        evidence=[
            PreviewEvidence(item.comparison, item.level, round(float(item.weight), 2))
            for item in pair.evidence
        ],
    )


def preview(
    records: list[dict[str, str]],
    result: LinkResult,
    *,
    reveal_phones: bool = False,
    cluster_limit: int = PREVIEW_CLUSTERS,
    review_limit: int = PREVIEW_REVIEWS,
) -> ImportPreview:
    """What would merge: counts, the multi-record clusters (largest first, then in file order)
    with their rows and the pairs between them, and the pairs left for a person to review.
    Phones are masked unless `reveal_phones`."""

    def shown(record: dict[str, str]) -> dict[str, str]:
        if reveal_phones or not record.get("phone"):
            return dict(record)
        return {**record, "phone": mask_phone(record["phone"])}

    by_id = {record["record_id"]: record for record in records}
    members: dict[str, list[str]] = {}
    for record_id, cluster_id in zip(result.record_ids, result.cluster_ids, strict=True):
        members.setdefault(cluster_id, []).append(record_id)
    multi = [(cluster_id, ids) for cluster_id, ids in members.items() if len(ids) > 1]
    order = {cluster_id: position for position, cluster_id in enumerate(members)}
    multi.sort(key=lambda item: (-len(item[1]), order[item[0]]))
    kept = {cluster_id for cluster_id, _ in multi[:cluster_limit]}
    cluster_of = dict(zip(result.record_ids, result.cluster_ids, strict=True))
    pairs_of: dict[str, list[PreviewPair]] = {}
    reviews: list[ReviewPreview] = []
    review_count = 0
    for pair in result.pairs:
        same = cluster_of[pair.left_id] == cluster_of[pair.right_id]
        if same and cluster_of[pair.left_id] in kept:
            pairs_of.setdefault(cluster_of[pair.left_id], []).append(_pair(pair))
        elif pair.decision == "review" and not same:
            review_count += 1
            if len(reviews) < review_limit:
                reviews.append(
                    ReviewPreview(_pair(pair), shown(by_id[pair.left_id]), shown(by_id[pair.right_id]))
                )
    reviews.sort(key=lambda item: -item.pair.probability)
    clusters = [
        PreviewCluster(
            cluster_id=cluster_id,
            rows=[shown(by_id[record_id]) for record_id in ids],
            pairs=sorted(pairs_of.get(cluster_id, []), key=lambda pair: -pair.probability),
        )
        for cluster_id, ids in multi[:cluster_limit]
    ]
    return ImportPreview(
        rows=len(records),
        clusters=len(members),
        merged_rows=sum(len(ids) for _, ids in multi),
        multi_clusters=len(multi),
        review_pairs=review_count,
        largest_cluster=max((len(ids) for ids in members.values()), default=0),
        phones_masked=not reveal_phones,
        merge_clusters=clusters,
        reviews=reviews,
    )
