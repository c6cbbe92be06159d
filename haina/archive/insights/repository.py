"""Queries of archive insights (the archive's own repository is another module's; the activity
rows of reply times come from there)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from haina.archive.insights.models import ReplySettings
from haina.archive.models import ArchiveMessage, MessageStatus
from haina.core.repository import TenantRepository

QUESTION_TYPES = ("text", "markdown", "voiptext")


class ReplySettingsRepository(TenantRepository[ReplySettings]):
    model = ReplySettings
    label = "reply settings"

    def find(self) -> ReplySettings | None:
        return self.session.scalar(self.scoped())


def customer_texts(
    session: Session, tenant_id: str, staff_userid: str | None, since: datetime, until: datetime, limit: int
) -> list[tuple[int, str, str, datetime, str]]:
    """(id, conversation id, sender, sent at, encrypted content) of the customers' (not staff)
    stored text messages in a window, newest first; `staff_userid` "" matches nothing."""
    statement = (
        select(
            ArchiveMessage.id,
            ArchiveMessage.conversation_id,
            ArchiveMessage.sender,
            ArchiveMessage.sent_at,
            ArchiveMessage.content_encrypted,
        )
        .where(
            ArchiveMessage.tenant_id == tenant_id,
            ArchiveMessage.status == MessageStatus.STORED,
            ArchiveMessage.is_from_staff.is_(False),
            ArchiveMessage.is_revoked.is_(False),
            ArchiveMessage.msgtype.in_(QUESTION_TYPES),
            ArchiveMessage.sent_at >= since,
            ArchiveMessage.sent_at < until,
        )
        .order_by(ArchiveMessage.sent_at.desc(), ArchiveMessage.id.desc())
        .limit(limit)
    )
    if staff_userid is not None:
        statement = statement.where(ArchiveMessage.staff_userid == staff_userid if staff_userid else false())
    return [(row[0], row[1] or "", row[2], row[3], row[4] or "") for row in session.execute(statement)]
