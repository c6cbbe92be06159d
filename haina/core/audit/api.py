"""REST: read the audit log, and export it to Excel (the export itself is audited)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from pydantic import BaseModel

from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

AuditReader = Annotated[Actor, require(Permission.AUDIT_READ)]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AuditEntryOut(BaseModel):
    id: int
    action: str
    actor_name: str
    target_type: str
    target_id: str
    outcome: str
    detail: dict[str, Any]
    ip: str
    created_at: datetime


@router.get("", response_model=list[AuditEntryOut])
def list_audit(
    actor: AuditReader,
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[AuditEntryOut]:
    entries = audit.list_entries(session, actor.tenant_id, action=action, limit=limit, before_id=before_id)
    return [AuditEntryOut.model_validate(entry, from_attributes=True) for entry in entries]


@router.get("/export.xlsx", response_class=StreamingResponse, responses={200: {"content": {XLSX: {}}}})
def export_audit(
    actor: AuditReader, session: SessionDep, limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000
) -> StreamingResponse:
    """The audit log as an Excel workbook."""
    entries = audit.list_entries(session, actor.tenant_id, limit=limit)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "审计日志"
    sheet.append(["编号", "时间 (UTC)", "操作", "操作人", "对象类型", "对象", "结果", "IP", "详情"])
    for entry in entries:
        sheet.append(
            [
                entry.id,
                entry.created_at.replace(tzinfo=None),
                entry.action,
                entry.actor_name,
                entry.target_type,
                entry.target_id,
                entry.outcome,
                entry.ip,
                str(entry.detail),
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    audit.record(session, "export.audit_log", actor=actor, detail={"rows": len(entries)})
    buffer.seek(0)
    return StreamingResponse(
        buffer, media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="audit-log.xlsx"'}
    )
