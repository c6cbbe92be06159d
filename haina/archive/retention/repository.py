"""Every query of archive retention. Tenant scoping: `scoped()` for the tables with an id, an
explicit tenant condition on the archive's tables (messages, tokens, alerts, conversations)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, delete, func, select, update

from haina.archive.models import ArchiveConversation, ArchiveMessage, KeywordAlert
from haina.archive.repository import MessageRepository
from haina.archive.retention.models import ArchivePurge, RetentionPolicy
from haina.core.repository import TenantRepository

# Message types whose payload is a file the media module may hold (image, voice, video…).
MEDIA_TYPES = (
    "image",
    "voice",
    "video",
    "file",
    "emotion",
    "mixed",
    "chatrecord",
    "meeting_voice_call",
    "voip_doc_share",
)


class PolicyRepository(TenantRepository[RetentionPolicy]):
    model = RetentionPolicy
    label = "retention policy"

    def find(self, *, lock: bool = False) -> RetentionPolicy | None:
        statement = self.scoped()
        if lock:
            statement = statement.with_for_update()
        return self.session.scalar(statement)


class PurgeRepository(TenantRepository[ArchivePurge]):
    model = ArchivePurge
    label = "archive purge"

    def history(self, limit: int = 50) -> list[ArchivePurge]:
        statement = self.scoped().order_by(ArchivePurge.started_at.desc(), ArchivePurge.id.desc())
        return list(self.session.scalars(statement.limit(limit)))

    def last_media_cutoff(self) -> datetime | None:
        return self.session.scalar(
            self.scoped(select(func.max(ArchivePurge.media_cutoff))).where(
                ArchivePurge.finished_at.is_not(None)
            )
        )


class ArchiveRows:
    """The archive's rows of one tenant, as retention reads and deletes them."""

    def __init__(self, session: Any, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _old(self, cutoff: datetime) -> Any:
        return (ArchiveMessage.tenant_id == self.tenant_id) & (ArchiveMessage.sent_at < cutoff)

    def count_older(self, cutoff: datetime) -> int:
        statement = select(func.count()).select_from(ArchiveMessage).where(self._old(cutoff))
        return int(self.session.scalar(statement) or 0)

    def oldest(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(ArchiveMessage.sent_at)).where(ArchiveMessage.tenant_id == self.tenant_id)
        )

    def count_emptied_conversations(self, cutoff: datetime) -> int:
        """Conversations with messages before `cutoff` and none at or after it."""
        old = select(ArchiveMessage.conversation_id).where(
            self._old(cutoff), ArchiveMessage.conversation_id.is_not(None)
        )
        kept = select(ArchiveMessage.conversation_id).where(
            ArchiveMessage.tenant_id == self.tenant_id,
            ArchiveMessage.sent_at >= cutoff,
            ArchiveMessage.conversation_id.is_not(None),
        )
        statement = (
            select(func.count())
            .select_from(ArchiveConversation)
            .where(
                ArchiveConversation.tenant_id == self.tenant_id,
                ArchiveConversation.id.in_(old),
                ArchiveConversation.id.not_in(kept),
            )
        )
        return int(self.session.scalar(statement) or 0)

    def older_chunk(self, cutoff: datetime, limit: int) -> list[tuple[int, str | None]]:
        statement = (
            select(ArchiveMessage.id, ArchiveMessage.conversation_id)
            .where(self._old(cutoff))
            .order_by(ArchiveMessage.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in self.session.execute(statement)]

    def media_ids(self, since: datetime | None, before: datetime, after_id: int, limit: int) -> list[int]:
        statement = select(ArchiveMessage.id).where(
            self._old(before), ArchiveMessage.msgtype.in_(MEDIA_TYPES), ArchiveMessage.id > after_id
        )
        if since is not None:
            statement = statement.where(ArchiveMessage.sent_at >= since)
        return list(self.session.scalars(statement.order_by(ArchiveMessage.id).limit(limit)))

    def count_media(self, since: datetime | None, before: datetime) -> int:
        statement = (
            select(func.count())
            .select_from(ArchiveMessage)
            .where(self._old(before), ArchiveMessage.msgtype.in_(MEDIA_TYPES))
        )
        if since is not None:
            statement = statement.where(ArchiveMessage.sent_at >= since)
        return int(self.session.scalar(statement) or 0)

    def _deleted(self, statement: Any) -> int:
        result: CursorResult[Any] = self.session.execute(statement)
        return int(result.rowcount or 0)

    def delete_tokens(self, message_ids: Sequence[int]) -> int:
        return MessageRepository(self.session, self.tenant_id).delete_tokens(message_ids)

    def delete_alerts(self, message_ids: Sequence[int]) -> int:
        return self._deleted(
            delete(KeywordAlert).where(
                KeywordAlert.tenant_id == self.tenant_id, KeywordAlert.message_id.in_(list(message_ids))
            )
        )

    def delete_messages(self, message_ids: Sequence[int]) -> int:
        return self._deleted(
            delete(ArchiveMessage).where(
                ArchiveMessage.tenant_id == self.tenant_id, ArchiveMessage.id.in_(list(message_ids))
            )
        )

    def recount_conversations(self, conversation_ids: Sequence[str]) -> int:
        """Set the message count and last time of these conversations again; delete those left
        empty. Returns how many were deleted."""
        deleted = 0
        wanted = sorted(set(conversation_ids))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            figures = {
                row[0]: (int(row[1]), row[2])
                for row in self.session.execute(
                    select(ArchiveMessage.conversation_id, func.count(), func.max(ArchiveMessage.sent_at))
                    .where(
                        ArchiveMessage.tenant_id == self.tenant_id, ArchiveMessage.conversation_id.in_(part)
                    )
                    .group_by(ArchiveMessage.conversation_id)
                )
            }
            empty = [conversation_id for conversation_id in part if conversation_id not in figures]
            if empty:
                deleted += self._deleted(
                    delete(ArchiveConversation).where(
                        ArchiveConversation.tenant_id == self.tenant_id, ArchiveConversation.id.in_(empty)
                    )
                )
            for conversation_id, (count, last) in figures.items():
                self.session.execute(
                    update(ArchiveConversation)
                    .where(
                        ArchiveConversation.tenant_id == self.tenant_id,
                        ArchiveConversation.id == conversation_id,
                    )
                    .values(message_count=count, last_message_at=last)
                )
        return deleted
