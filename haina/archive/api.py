"""REST: search, conversations and alerts (chats.read, scoped, every read audited); keys, tenant
words and keyword rules (chats.manage)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from haina.archive import service
from haina.archive.schemas import (
    AlertOut,
    ConversationDetailOut,
    ConversationOut,
    InsightsOut,
    KeyCreate,
    KeyOut,
    MessageOut,
    MessageSummary,
    RuleCreate,
    RuleOut,
    SearchHitOut,
    SearchOut,
    SnippetPart,
    StatusOut,
    WordCreate,
)
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.settings import Settings
from haina.web.database import SessionDep, get_settings
from haina.web.security import require

router = APIRouter(prefix="/api/v1/archive", tags=["archive"])

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ConversationId = Annotated[str, Path(max_length=32)]
RuleId = Annotated[str, Path(max_length=32)]
ShortQuery = Annotated[str | None, Query(max_length=64)]


@router.get("/search", response_model=SearchOut)
def search(
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=200)] = "",
    staff_userid: ShortQuery = None,
    customer_id: ShortQuery = None,
    conversation_id: ShortQuery = None,
    msgtype: ShortQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> SearchOut:
    """Words and "quoted phrases", newest first, with highlights. Audited."""
    filters = service.SearchFilters(staff_userid, customer_id, conversation_id, msgtype, since, until)
    result = service.search(session, actor, settings, q, filters, limit=limit, offset=offset)
    hits = [
        SearchHitOut(
            **MessageSummary.of(hit.message).model_dump(),
            snippet=[SnippetPart(text=text, highlight=mark) for text, mark in hit.parts],
        )
        for hit in result.hits
    ]
    return SearchOut(hits=hits, has_more=result.has_more)


@router.get("/conversations", response_model=list[ConversationOut])
def list_conversations(
    actor: ChatsReader, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ConversationOut]:
    return [ConversationOut.of(row) for row in service.list_conversations(session, actor, limit)]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
def open_conversation(
    conversation_id: ConversationId,
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> ConversationDetailOut:
    """A conversation's messages, decrypted. Audited; another member's conversation is 404 for an agent."""
    view = service.open_conversation(
        session, actor, settings, conversation_id, limit=limit, before_id=before_id
    )
    return ConversationDetailOut(
        **ConversationOut.of(view.conversation).model_dump(),
        messages=[
            MessageOut(
                **MessageSummary.of(row).model_dump(), text=service.searchable_text(content), content=content
            )
            for row, content in view.messages
        ],
    )


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(actor: ChatsReader, session: SessionDep) -> list[AlertOut]:
    return [AlertOut.of(row) for row in service.list_alerts(session, actor)]


@router.get("/status", response_model=StatusOut)
def archive_status(actor: ChatsManager, session: SessionDep) -> StatusOut:
    """Intake progress per corp, key versions held, and messages waiting for a key."""
    return StatusOut.of(service.status(session, actor.tenant_id))


@router.post("/keys", response_model=KeyOut, status_code=201)
def add_key(body: KeyCreate, actor: ChatsManager, session: SessionDep, settings: SettingsDep) -> KeyOut:
    """Add the RSA private key of one publickey_ver; stored encrypted, never shown again."""
    key = service.add_key(session, actor, settings, body.version, body.private_key_pem)
    return KeyOut(version=key.version)


@router.get("/words", response_model=list[str])
def list_words(actor: ChatsManager, session: SessionDep) -> list[str]:
    return service.list_words(session, actor.tenant_id)


@router.post("/words", response_model=list[str], status_code=201)
def add_word(body: WordCreate, actor: ChatsManager, session: SessionDep, settings: SettingsDep) -> list[str]:
    """Add a tenant word (e.g. a product name) that search keeps whole."""
    service.add_word(session, actor, settings, body.word)
    return service.list_words(session, actor.tenant_id)


@router.get("/rules", response_model=list[RuleOut])
def list_rules(actor: ChatsManager, session: SessionDep) -> list[RuleOut]:
    return [RuleOut.of(rule) for rule in service.list_rules(session, actor.tenant_id)]


@router.post("/rules", response_model=RuleOut, status_code=201)
def add_rule(body: RuleCreate, actor: ChatsManager, session: SessionDep) -> RuleOut:
    """Watch a word or phrase, or phone numbers sent by staff; alerts are raised on intake."""
    return RuleOut.of(service.add_rule(session, actor, body.kind, body.phrase))


@router.delete("/rules/{rule_id}", response_model=RuleOut)
def deactivate_rule(rule_id: RuleId, actor: ChatsManager, session: SessionDep) -> RuleOut:
    return RuleOut.of(service.deactivate_rule(session, actor, rule_id))


@router.get("/insights", response_model=InsightsOut)
def archive_insights(
    actor: ChatsReader,
    session: SessionDep,
    days: Annotated[int, Query(ge=1, le=366)] = 90,
    target_minutes: Annotated[int, Query(ge=1, le=1440)] = 5,
) -> InsightsOut:
    """Customer messages by weekday × hour and staff first-response times (metadata only)."""
    until = clock.now()
    value = service.insights(
        session, actor, since=until - timedelta(days=days), until=until, target_minutes=target_minutes
    )
    return InsightsOut.of(value)
