"""A segment's customers as a CSV or Excel file; every export is written to the audit log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.spreadsheets import XLSX, write_csv, write_xlsx


@dataclass(frozen=True)
class ExportFile:
    filename: str
    media_type: str
    content: bytes
    rows: int


HEADER = ("customer_id", "name", "phone", "created_at")
HEADER_ZH = ("客户编号", "姓名", "手机（脱敏）", "创建时间")


def export_segment(
    session: Session, actor: Actor, segment_id: str, format: str, language: str = "zh-CN"
) -> ExportFile:
    """The segment's customers (within the actor's data scope) as a file, masked phones only;
    audited as export.segment in the caller's transaction."""
    from haina.customers.identity import profile as profiles
    from haina.tags import segments

    segment = segments.get(session, actor.tenant_id, segment_id)
    visible = profiles.visible_customer_ids(session, actor)
    rows = [
        (
            row.customer_id,
            row.display_name,
            row.phone_masked,
            row.created_at.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        )
        for row in segments.export_rows(session, actor.tenant_id, segment.id)
        if visible is None or row.customer_id in visible
    ]
    header = HEADER if language == "en" else HEADER_ZH
    stamp = clock.now().astimezone(clock.SHANGHAI).strftime("%Y%m%d-%H%M")
    if format == "xlsx":
        content, media_type = write_xlsx(header, rows, sheet_name="customers"), XLSX
    else:
        content, media_type = write_csv(header, rows), "text/csv; charset=utf-8"
    audit.record(
        session,
        "export.segment",
        actor=actor,
        target_type="segment",
        target_id=segment.id,
        detail={"name": segment.name, "format": format, "rows": len(rows)},
    )
    return ExportFile(f"segment-{segment.id[:8]}-{stamp}.{format}", media_type, content, len(rows))
