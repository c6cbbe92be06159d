"""API shapes of the archive. Message content leaves the server only in these, after a scoped,
audited read."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from haina.archive import service
from haina.archive.models import ArchiveConversation, ArchiveMessage, KeywordAlert, KeywordRule


class SnippetPart(BaseModel):
    text: str
    highlight: bool


class MessageSummary(BaseModel):
    id: int
    msgid: str
    conversation_id: str | None
    sent_at: datetime
    sender: str
    is_from_staff: bool
    staff_userid: str
    customer_id: str | None
    msgtype: str
    is_known_type: bool
    is_revoked: bool

    @classmethod
    def of(cls, row: ArchiveMessage) -> MessageSummary:
        return cls(
            id=row.id,
            msgid=row.msgid,
            conversation_id=row.conversation_id,
            sent_at=row.sent_at,
            sender=row.sender,
            is_from_staff=row.is_from_staff,
            staff_userid=row.staff_userid,
            customer_id=row.customer_id,
            msgtype=row.msgtype,
            is_known_type=row.is_known_type,
            is_revoked=row.is_revoked,
        )


class SearchHitOut(MessageSummary):
    snippet: list[SnippetPart]


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
    has_more: bool


class MessageOut(MessageSummary):
    text: str
    content: dict[str, Any]  # the decrypted message JSON as WeCom sent it


class ConversationOut(BaseModel):
    id: str
    kind: str
    staff_userid: str
    peer_userid: str
    roomid: str
    contact_id: str | None
    customer_id: str | None
    message_count: int
    last_message_at: datetime | None

    @classmethod
    def of(cls, row: ArchiveConversation) -> ConversationOut:
        return cls(
            id=row.id,
            kind=row.kind,
            staff_userid=row.staff_userid,
            peer_userid=row.peer_userid,
            roomid=row.roomid,
            contact_id=row.contact_id,
            customer_id=row.customer_id,
            message_count=row.message_count,
            last_message_at=row.last_message_at,
        )


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]


class AlertOut(BaseModel):
    id: str
    rule_id: str
    message_id: int
    conversation_id: str
    staff_userid: str
    phrase: str
    created_at: datetime

    @classmethod
    def of(cls, row: KeywordAlert) -> AlertOut:
        return cls(
            id=row.id,
            rule_id=row.rule_id,
            message_id=row.message_id,
            conversation_id=row.conversation_id,
            staff_userid=row.staff_userid,
            phrase=row.phrase,
            created_at=row.created_at,
        )


class RuleCreate(BaseModel):
    kind: Literal["word", "phone_leak"] = "word"
    phrase: str = Field(default="", max_length=64)


class RuleOut(BaseModel):
    id: str
    kind: str
    phrase: str
    is_active: bool

    @classmethod
    def of(cls, row: KeywordRule) -> RuleOut:
        return cls(id=row.id, kind=row.kind, phrase=row.phrase, is_active=row.is_active)


class WordCreate(BaseModel):
    word: str = Field(min_length=1, max_length=64)


class KeyCreate(BaseModel):
    version: int = Field(ge=1, le=1_000_000)
    private_key_pem: str = Field(min_length=1, max_length=20_000)


class KeyOut(BaseModel):
    version: int


class CorpStatusOut(BaseModel):
    corp_id: str
    seq: int
    messages: int
    last_error: str | None


class StatusOut(BaseModel):
    corps: list[CorpStatusOut]
    key_versions: list[int]
    undecrypted: int

    @classmethod
    def of(cls, status: service.Status) -> StatusOut:
        return cls(
            corps=[CorpStatusOut(corp_id=c, seq=s, messages=m, last_error=e) for c, s, m, e in status.corps],
            key_versions=status.key_versions,
            undecrypted=status.undecrypted,
        )


class StaffResponseOut(BaseModel):
    staff_userid: str
    replies: int
    median_minutes: float
    within_target: float


class InsightsOut(BaseModel):
    heatmap: list[list[int]]  # [weekday, Monday first][hour], Beijing time
    responses: list[StaffResponseOut]
    target_minutes: int

    @classmethod
    def of(cls, value: service.Insights) -> InsightsOut:
        return cls(
            heatmap=value.heatmap,
            responses=[StaffResponseOut(**vars(item)) for item in value.responses],
            target_minutes=value.target_minutes,
        )
