"""The message archive's rules: keys, intake by seq, encrypted storage, the word index, keyword
alerts, scoped and audited reading and search. Services flush; the caller commits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from haina.archive import text as archive_text
from haina.archive.media.queue import queue_fetches
from haina.archive.models import (
    ArchiveConversation,
    ArchiveKey,
    ArchiveMessage,
    ArchiveToken,
    ArchiveWord,
    KeywordAlert,
    KeywordRule,
    MessageStatus,
)
from haina.archive.repository import (
    AlertRepository,
    ConversationRepository,
    CursorRepository,
    KeyRepository,
    MessageRepository,
    RuleRepository,
    WordRepository,
    activity_rows,
    contacts_by_external_userid,
)
from haina.archive.sources import ChatSource, Decryptor, open_item
from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.permissions import DataScope, Permission
from haina.core.crypto import FieldCipher, cipher_for
from haina.core.errors import Conflict, InvalidInput, PermissionDenied
from haina.core.events import emit
from haina.core.settings import Settings
from haina.platforms.wecom.errors import ArchiveSdkError

KEY_CONTEXT = "archive.private_key"
CONTENT_CONTEXT = "archive.message"
EVENT_KEYWORD_MATCHED = "archive.keyword_matched"
# Customers who just said something (the tag engine re-evaluates chat_keyword rules for them).
EVENT_MESSAGES_STORED = "archive.messages_stored"
RULE_KINDS = ("word", "phone_leak")
# Every message type of REFERENCE §1.7; anything else is stored raw and shown as unknown.
KNOWN_TYPES = frozenset(
    {
        "text", "image", "voice", "video", "file", "link", "emotion", "revoke", "agree",
        "disagree", "mixed", "location", "card", "chatrecord", "weapp", "redpacket",
        "external_redpacket", "docmsg", "markdown", "news", "collect", "meeting", "calendar",
        "meeting_voice_call", "voip_doc_share", "voiptext", "sphfeed", "todo", "vote", "switch",
    }
)  # fmt: skip
PAYLOAD_KEYS = {"docmsg": "doc", "markdown": "info", "news": "info", "external_redpacket": "redpacket"}
# external_userid prefixes: wm/wo customers, wb robots (everything else is a staff userid).
EXTERNAL_PREFIXES = ("wm", "wo", "wb")
MAX_SCAN = 5000  # candidates a phrase search verifies at most, to bound a query's time


class MissingKeyVersion(Conflict):
    code = "archive_key_missing"


def is_external(userid: str) -> bool:
    return userid.startswith(EXTERNAL_PREFIXES)


def _cipher(settings: Settings) -> FieldCipher:
    return cipher_for(settings.encryption_keys)


# ── keys ─────────────────────────────────────────────────────────────────────────────────


def add_key(
    session: Session, actor: Actor, settings: Settings, version: int, private_key_pem: str
) -> ArchiveKey:
    """Store the RSA private key of `publickey_ver` = version, encrypted; a version is never replaced."""
    if version < 1:
        raise InvalidInput("the key version must be 1 or more", code="invalid_input")
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise InvalidInput(f"not a PEM private key without password: {error}", code="invalid_input")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput("the archive key must be an RSA private key", code="invalid_input")
    keys = KeyRepository(session, actor.tenant_id)
    if version in keys.by_version():
        raise Conflict(f"key version {version} already exists", code="conflict")
    stored = keys.add(
        ArchiveKey(
            version=version,
            private_key_encrypted=_cipher(settings).encrypt(private_key_pem, context=KEY_CONTEXT),
        )
    )
    audit.record(session, "archive.key_added", actor=actor, target_type="archive_key", target_id=str(version))
    return stored


def private_keys(session: Session, tenant_id: str, settings: Settings) -> dict[int, str]:
    cipher = _cipher(settings)
    return {
        version: cipher.decrypt(key.private_key_encrypted, context=KEY_CONTEXT)
        for version, key in KeyRepository(session, tenant_id).by_version().items()
    }


def key_versions(session: Session, tenant_id: str) -> list[int]:
    return sorted(KeyRepository(session, tenant_id).by_version())


# ── reading a decrypted message ──────────────────────────────────────────────────────────


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    msgtype = str(message.get("msgtype") or "")
    payload = message.get(PAYLOAD_KEYS.get(msgtype, msgtype))
    return payload if isinstance(payload, dict) else {}


def _strings(*values: object) -> list[str]:
    return [value for value in values if isinstance(value, str) and value]


def _embedded(content: object) -> str:
    """mixed / chatrecord items carry their content as a JSON string."""
    if isinstance(content, str):
        try:
            decoded = json.loads(content)
        except ValueError:
            return content
        if isinstance(decoded, dict):
            return " ".join(_strings(decoded.get("content"), decoded.get("title"), decoded.get("filename")))
        return content
    if isinstance(content, dict):
        return " ".join(_strings(content.get("content"), content.get("title")))
    return ""


def searchable_text(message: dict[str, Any]) -> str:
    """The words of a message a person would search for, by type."""
    msgtype = message.get("msgtype")
    payload = payload_of(message)
    if msgtype in ("text", "markdown", "voiptext"):
        return " ".join(_strings(payload.get("content")))
    if msgtype in ("mixed", "chatrecord"):
        items = payload.get("item") or []
        parts = _strings(payload.get("title"))
        parts += [_embedded(item.get("content")) for item in items if isinstance(item, dict)]
        return " ".join(part for part in parts if part)
    if msgtype == "link":
        return " ".join(_strings(payload.get("title"), payload.get("description")))
    if msgtype == "file":
        return " ".join(_strings(payload.get("filename")))
    if msgtype == "location":
        return " ".join(_strings(payload.get("title"), payload.get("address")))
    if msgtype == "card":
        return " ".join(_strings(payload.get("corpname")))
    if msgtype in ("weapp", "docmsg", "news", "calendar", "vote", "todo", "meeting", "collect"):
        return " ".join(_strings(payload.get("title"), payload.get("description"), payload.get("topic")))
    return ""


def _sent_at(message: dict[str, Any]) -> datetime:
    milliseconds = message.get("msgtime") or message.get("time") or 0
    if not isinstance(milliseconds, int) or milliseconds <= 0:
        return clock.now()
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


@dataclass(frozen=True, slots=True)
class Parties:
    key: str
    kind: str
    staff_userid: str
    peer_userid: str
    roomid: str


def parties_of(message: dict[str, Any]) -> Parties:
    sender = str(message.get("from") or message.get("user") or "")
    tolist = [str(user) for user in message.get("tolist") or [] if isinstance(user, str)]
    roomid = str(message.get("roomid") or "")
    everyone = [sender, *tolist]
    staff = next((user for user in everyone if user and not is_external(user)), "")
    if roomid:
        return Parties(f"room:{roomid}", "room", staff, "", roomid)
    others = [user for user in everyone if user and user != staff]
    peer = others[0] if others else ""
    if peer and not is_external(peer) and peer < staff:  # two staff members: one key either way
        staff, peer = peer, staff
    return Parties(f"single:{staff}:{peer}", "single", staff, peer, "")


# ── intake ───────────────────────────────────────────────────────────────────────────────


@dataclass
class BatchResult:
    pulled: int = 0
    stored: int = 0
    duplicates: int = 0
    undecrypted: int = 0
    alerts: int = 0
    last_seq: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class _Opened:
    item: dict[str, Any]
    message: dict[str, Any] | None
    error: str = ""


class Indexer:
    """Tokens and alert rules of one tenant, loaded once per batch."""

    def __init__(self, session: Session, tenant_id: str, settings: Settings) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.hash_key = settings.hash_key
        self.words = WordRepository(session, tenant_id).words()
        self.rules = RuleRepository(session, tenant_id).active()
        self.messages = MessageRepository(session, tenant_id)

    def token_rows(self, message_id: int, sent_at: datetime, body: str) -> list[dict[str, Any]]:
        keys = {
            archive_text.token_key(self.hash_key, self.tenant_id, word)
            for word in archive_text.index_words(body, self.words)
        }
        return [
            {"tenant_id": self.tenant_id, "token": key, "message_id": message_id, "sent_at": sent_at}
            for key in keys
        ]

    def alerts_for(self, row: ArchiveMessage, body: str) -> list[KeywordAlert]:
        if not body or not self.rules:
            return []
        normal = archive_text.normalise(body)
        alerts = []
        for rule in self.rules:
            if rule.kind == "word":
                matched = bool(rule.phrase) and archive_text.normalise(rule.phrase) in normal
            else:  # phone_leak: a phone number sent by staff
                matched = row.is_from_staff and archive_text.PHONE.search(normal) is not None
            if matched:
                alerts.append(
                    KeywordAlert(
                        tenant_id=self.tenant_id,
                        rule_id=rule.id,
                        message_id=row.id,
                        conversation_id=row.conversation_id or "",
                        staff_userid=row.staff_userid,
                        phrase=rule.phrase if rule.kind == "word" else "phone",
                    )
                )
        return alerts


def _open_all(items: Sequence[dict[str, Any]], keys: dict[int, str], decryptor: Decryptor) -> list[_Opened]:
    opened = []
    for item in items:
        try:
            opened.append(_Opened(item, open_item(item, keys, decryptor)))
        except ArchiveSdkError as error:
            # Kept with the reason and decrypted later (e.g. once key version N is added).
            opened.append(_Opened(item, None, f"{error.code}: {error.message}"))
    return opened


def _conversations(
    session: Session, tenant_id: str, parties: Iterable[Parties]
) -> dict[str, ArchiveConversation]:
    repository = ConversationRepository(session, tenant_id)
    wanted = {party.key: party for party in parties}
    found = repository.by_keys(wanted)
    for key, party in wanted.items():
        if key not in found:
            found[key] = repository.add(
                ArchiveConversation(
                    key=key,
                    kind=party.kind,
                    staff_userid=party.staff_userid,
                    peer_userid=party.peer_userid,
                    roomid=party.roomid,
                    message_count=0,
                )
            )
        elif not found[key].staff_userid and party.staff_userid:
            found[key].staff_userid = party.staff_userid
    _link_contacts(session, tenant_id, [conversation.id for conversation in found.values()])
    return found


def _link_contacts(session: Session, tenant_id: str, conversation_ids: list[str]) -> None:
    unlinked = ConversationRepository(session, tenant_id).unlinked(conversation_ids)
    externals = [c.peer_userid for c in unlinked if is_external(c.peer_userid)]
    contacts = contacts_by_external_userid(session, tenant_id, externals)
    for conversation in unlinked:
        match = contacts.get(conversation.peer_userid)
        if match is not None:
            conversation.contact_id, conversation.customer_id = match


def _fill_message(
    row: ArchiveMessage, message: dict[str, Any], conversation: ArchiveConversation, settings: Settings
) -> None:
    action = str(message.get("action") or "send")
    msgtype = "switch" if action == "switch" else str(message.get("msgtype") or "")
    sender = str(message.get("from") or message.get("user") or "")
    row.status = MessageStatus.STORED
    row.action = action
    row.msgtype = msgtype[:32]
    row.is_known_type = msgtype in KNOWN_TYPES
    row.sender = sender[:64]
    row.is_from_staff = bool(sender) and not is_external(sender)
    row.conversation_id = conversation.id
    row.staff_userid = conversation.staff_userid
    row.customer_id = conversation.customer_id
    row.sent_at = _sent_at(message)
    row.content_encrypted = _cipher(settings).encrypt(
        json.dumps(message, ensure_ascii=False, separators=(",", ":")), context=CONTENT_CONTEXT
    )
    row.pending_item = None
    row.error = None
    conversation.message_count += 1
    if conversation.last_message_at is None or row.sent_at > conversation.last_message_at:
        conversation.last_message_at = row.sent_at


def _finish_stored(
    session: Session, tenant_id: str, settings: Settings, stored: list[tuple[ArchiveMessage, dict[str, Any]]]
) -> int:
    """Index, revoke and alert for rows just stored (their ids are known after the flush)."""
    indexer = Indexer(session, tenant_id, settings)
    rows: list[dict[str, Any]] = []
    alerts: list[KeywordAlert] = []
    revoked: list[str] = []
    for row, message in stored:
        body = searchable_text(message)
        if body:
            rows.extend(indexer.token_rows(row.id, row.sent_at, body))
            alerts.extend(indexer.alerts_for(row, body))
        if row.msgtype == "revoke":
            pre = payload_of(message).get("pre_msgid")
            if isinstance(pre, str):
                revoked.append(pre)
    indexer.messages.add_tokens(rows)
    indexer.messages.mark_revoked(revoked)
    for alert in alerts:
        session.add(alert)
    queue_fetches(session, tenant_id, stored)  # media are fetched after commit, by their own job
    session.flush()
    speakers = sorted({row.customer_id for row, _ in stored if row.customer_id and not row.is_from_staff})
    if speakers:
        emit(session, tenant_id, EVENT_MESSAGES_STORED, {"customer_ids": speakers})
    for alert in alerts:
        emit(
            session,
            tenant_id,
            EVENT_KEYWORD_MATCHED,
            {
                "alert_id": alert.id,
                "rule_id": alert.rule_id,
                "message_id": alert.message_id,
                "conversation_id": alert.conversation_id,
                "staff_userid": alert.staff_userid,
                "phrase": alert.phrase,
            },
        )
    return len(alerts)


def store_items(
    session: Session,
    tenant_id: str,
    corp_id: str,
    items: Sequence[dict[str, Any]],
    decryptor: Decryptor,
    settings: Settings,
    keys: dict[int, str] | None = None,
) -> BatchResult:
    """Decrypt, store, index and alert a batch of chatdata items; a msgid already stored is skipped."""
    result = BatchResult(pulled=len(items), last_seq=max((int(item["seq"]) for item in items), default=0))
    messages = MessageRepository(session, tenant_id)
    seen = messages.existing_msgids([str(item["msgid"]) for item in items])
    fresh = []
    for item in items:
        msgid = str(item["msgid"])
        if msgid in seen:
            result.duplicates += 1
            continue
        seen.add(msgid)
        fresh.append(item)
    opened = _open_all(
        fresh, keys if keys is not None else private_keys(session, tenant_id, settings), decryptor
    )
    conversations = _conversations(
        session, tenant_id, [parties_of(o.message) for o in opened if o.message is not None]
    )
    stored: list[tuple[ArchiveMessage, dict[str, Any]]] = []
    for entry in opened:
        item = entry.item
        row = ArchiveMessage(
            tenant_id=tenant_id,
            corp_id=corp_id,
            seq=int(item["seq"]),
            msgid=str(item["msgid"])[:128],
            publickey_ver=int(item["publickey_ver"]) if isinstance(item.get("publickey_ver"), int) else 0,
        )
        if entry.message is None:
            row.status = MessageStatus.UNDECRYPTED
            row.sent_at = clock.now()
            row.pending_item = {
                name: item.get(name)
                for name in ("seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg")
            }
            row.error = entry.error
            result.undecrypted += 1
            result.errors.append(f"seq {item['seq']}: {entry.error}")
        else:
            _fill_message(row, entry.message, conversations[parties_of(entry.message).key], settings)
            stored.append((row, entry.message))
        session.add(row)
    session.flush()
    result.stored = len(stored)
    result.alerts = _finish_stored(session, tenant_id, settings, stored)
    return result


def pull_batch(
    session: Session,
    tenant_id: str,
    corp_id: str,
    source: ChatSource,
    decryptor: Decryptor,
    settings: Settings,
    *,
    limit: int = 1000,
) -> BatchResult:
    """One GetChatData call from the saved seq, stored with the cursor moved past it in the same
    transaction: if anything fails, the transaction rolls back and the next pull asks again."""
    cursor = CursorRepository(session, tenant_id).for_corp(corp_id, lock=True)
    items = source.get_chat_data(cursor.seq, limit)
    items = [item for item in items if int(item["seq"]) > cursor.seq]
    result = store_items(session, tenant_id, corp_id, items, decryptor, settings)
    if items:  # an empty answer leaves the last batch's problems on show
        cursor.seq = result.last_seq
        cursor.messages_total += result.stored
        cursor.last_error = "\n".join(result.errors[:20]) or None
    cursor.updated_at = clock.now()
    session.flush()
    return result


def retry_undecrypted(
    session: Session, tenant_id: str, decryptor: Decryptor, settings: Settings
) -> BatchResult:
    """Decrypt messages kept for a missing key version again (after the key was added)."""
    messages = MessageRepository(session, tenant_id)
    pending = messages.undecrypted()
    keys = private_keys(session, tenant_id, settings)
    opened = _open_all([row.pending_item or {} for row in pending], keys, decryptor)
    result = BatchResult(pulled=len(pending))
    conversations = _conversations(
        session, tenant_id, [parties_of(o.message) for o in opened if o.message is not None]
    )
    stored = []
    for row, entry in zip(pending, opened, strict=True):
        if entry.message is None:
            row.error = entry.error
            result.undecrypted += 1
            continue
        _fill_message(row, entry.message, conversations[parties_of(entry.message).key], settings)
        stored.append((row, entry.message))
    session.flush()
    result.stored = len(stored)
    result.alerts = _finish_stored(session, tenant_id, settings, stored)
    return result


def customers_saying(
    tenant_id: str,
    settings: Settings,
    word: str,
    since: datetime | None = None,
    *,
    tenant_words: Iterable[str] = (),
) -> Select[Any]:
    """Ids of customers who sent a stored message having every word of `word` (by the token index,
    so approximate: the words need not be adjacent), since `since`; may repeat an id."""
    words = archive_text.query_words(word, tenant_words)
    statement = select(ArchiveMessage.customer_id).where(
        ArchiveMessage.tenant_id == tenant_id,
        ArchiveMessage.status == MessageStatus.STORED,
        ArchiveMessage.customer_id.is_not(None),
        ArchiveMessage.is_from_staff.is_(False),
    )
    if not words:
        return statement.where(false())
    if since is not None:
        statement = statement.where(ArchiveMessage.sent_at >= since)
    for each in words:
        postings = select(ArchiveToken.message_id).where(
            ArchiveToken.tenant_id == tenant_id,
            ArchiveToken.token == archive_text.token_key(settings.hash_key, tenant_id, each),
        )
        if since is not None:
            postings = postings.where(ArchiveToken.sent_at >= since)
        statement = statement.where(ArchiveMessage.id.in_(postings))
    return statement


def customers_who_wrote(
    session: Session, tenant_id: str, customer_ids: Sequence[str], since: datetime
) -> set[str]:
    """Which of these customers sent a stored message (not a staff member's) at or after `since`
    (mass-message reply statistics)."""
    found: set[str] = set()
    wanted = sorted(set(customer_ids))
    for start in range(0, len(wanted), 500):
        found.update(
            customer_id
            for customer_id in session.scalars(
                select(ArchiveMessage.customer_id)
                .where(
                    ArchiveMessage.tenant_id == tenant_id,
                    ArchiveMessage.status == MessageStatus.STORED,
                    ArchiveMessage.is_from_staff.is_(False),
                    ArchiveMessage.customer_id.in_(wanted[start : start + 500]),
                    ArchiveMessage.sent_at >= since,
                )
                .distinct()
            )
            if customer_id
        )
    return found


def decrypt_content(row: ArchiveMessage, settings: Settings) -> dict[str, Any]:
    if not row.content_encrypted:
        return {}
    decoded = json.loads(_cipher(settings).decrypt(row.content_encrypted, context=CONTENT_CONTEXT))
    return decoded if isinstance(decoded, dict) else {}


# ── words and rules ──────────────────────────────────────────────────────────────────────


def add_word(session: Session, actor: Actor, settings: Settings, word: str) -> ArchiveWord:
    """Add a tenant word (a product name) and index the messages that already contain it."""
    normal = archive_text.normalise(word).strip()
    if not normal or len(normal) > 64 or not archive_text.is_word(normal):
        raise InvalidInput(
            "a word is 1 to 64 characters with at least one letter or digit", code="invalid_input"
        )
    words = WordRepository(session, actor.tenant_id)
    if words.find(normal) is not None:
        raise Conflict(f"the word {normal} is already in the list", code="conflict")
    added = words.add(ArchiveWord(word=normal))
    _index_new_word(session, actor.tenant_id, settings, normal)
    audit.record(session, "archive.word_added", actor=actor, target_type="archive_word", target_id=added.id)
    return added


def _index_new_word(session: Session, tenant_id: str, settings: Settings, word: str) -> None:
    """Give the word's token to every stored message containing it. Every message is read: the
    index cannot narrow the candidates, since jieba splits an unknown word by its neighbours.
    [Weak] synchronous; on a large archive this belongs in a background job."""
    messages = MessageRepository(session, tenant_id)
    new_key = archive_text.token_key(settings.hash_key, tenant_id, word)
    after = 0
    while True:
        ids = messages.stored_ids(after, 1000)
        if not ids:
            return
        after = ids[-1]
        rows = messages.by_ids(ids)
        has = messages.existing_tokens(new_key, ids)
        messages.add_tokens(
            [
                {"tenant_id": tenant_id, "token": new_key, "message_id": message_id, "sent_at": row.sent_at}
                for message_id, row in rows.items()
                if message_id not in has
                and word in archive_text.normalise(searchable_text(decrypt_content(row, settings)))
            ]
        )


def reindex(
    session: Session, tenant_id: str, settings: Settings, *, after_id: int = 0, limit: int = 1000
) -> int:
    """Rebuild the index of up to `limit` stored messages after `after_id` (after a change of the
    dictionary or of the hash key); the last id done, or 0 when there are none left."""
    messages = MessageRepository(session, tenant_id)
    ids = messages.stored_ids(after_id, limit)
    if not ids:
        return 0
    rows = messages.by_ids(ids)
    messages.delete_tokens(ids)
    indexer = Indexer(session, tenant_id, settings)
    tokens: list[dict[str, Any]] = []
    for message_id in ids:
        body = searchable_text(decrypt_content(rows[message_id], settings))
        if body:
            tokens.extend(indexer.token_rows(message_id, rows[message_id].sent_at, body))
    messages.add_tokens(tokens)
    return ids[-1]


def list_words(session: Session, tenant_id: str) -> list[str]:
    return WordRepository(session, tenant_id).words()


def add_rule(session: Session, actor: Actor, kind: str, phrase: str = "") -> KeywordRule:
    """Watch a word or phrase (kind "word") or phone numbers sent by staff ("phone_leak")."""
    if kind not in RULE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(RULE_KINDS)}", code="invalid_input")
    phrase = archive_text.normalise(phrase).strip() if kind == "word" else ""
    if kind == "word" and not (0 < len(phrase) <= 64):
        raise InvalidInput("a watched phrase is 1 to 64 characters", code="invalid_input")
    rules = RuleRepository(session, actor.tenant_id)
    existing = rules.find(kind, phrase)
    if existing is not None:
        if existing.is_active:
            raise Conflict("this rule already exists", code="conflict")
        existing.is_active = True
        rule = existing
    else:
        rule = rules.add(KeywordRule(kind=kind, phrase=phrase, is_active=True))
    audit.record(session, "archive.rule_added", actor=actor, target_type="keyword_rule", target_id=rule.id)
    return rule


def deactivate_rule(session: Session, actor: Actor, rule_id: str) -> KeywordRule:
    rule = RuleRepository(session, actor.tenant_id).get(rule_id)
    rule.is_active = False
    session.flush()
    audit.record(session, "archive.rule_removed", actor=actor, target_type="keyword_rule", target_id=rule.id)
    return rule


def list_rules(session: Session, tenant_id: str) -> list[KeywordRule]:
    return RuleRepository(session, tenant_id).list()


# ── reading: scope, search, conversations, alerts ────────────────────────────────────────


def staff_scope(session: Session, actor: Actor) -> str | None:
    """None: every conversation of the tenant; otherwise only this staff userid's ("" = none:
    the repositories match nothing for an empty staff userid)."""
    if not actor.can(Permission.CHATS_READ):
        raise PermissionDenied("your role may not read chats", code="permission_denied")
    if actor.scope == DataScope.ALL:
        return None
    user = session.get(User, actor.user_id)
    return (user.wecom_userid or "") if user is not None else ""


@dataclass(frozen=True)
class SearchFilters:
    staff_userid: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None
    msgtype: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class SearchHit:
    message: ArchiveMessage
    text: str
    parts: list[tuple[str, bool]]


@dataclass
class SearchResult:
    hits: list[SearchHit]
    has_more: bool
    scanned: int


def search(
    session: Session,
    actor: Actor,
    settings: Settings,
    query: str,
    filters: SearchFilters = SearchFilters(),
    *,
    limit: int = 20,
    offset: int = 0,
) -> SearchResult:
    """Messages matching every term of `query` (quoted = exact phrase), newest first, with
    highlights; agents see only their own conversations. Every search is audited."""
    scope = staff_scope(session, actor)
    staff = filters.staff_userid or None
    if scope is not None:  # "" matches nothing: another member's chats, or no WeCom userid
        staff = scope if staff in (None, "", scope) else ""
    words = list_words(session, actor.tenant_id)
    terms = archive_text.parse_query(query, words)
    # Longest word first: likely the rarest, and the one whose index orders the results.
    all_words = sorted({w for term in terms for w in term.words}, key=len, reverse=True)
    token_sets = [[archive_text.token_key(settings.hash_key, actor.tenant_id, w) for w in all_words]]
    phrases = [term.text for term in terms if term.is_phrase]
    messages = MessageRepository(session, actor.tenant_id)
    hits: list[SearchHit] = []
    wanted = offset + limit + 1
    # A phrase is checked on the decrypted text, so its pages of candidates grow as they fail.
    page = max(50, wanted * 2) if phrases else wanted
    scanned = 0
    before: tuple[datetime, int] | None = None
    needles = [*phrases, *(word for term in terms if not term.is_phrase for word in term.words)]
    while len(hits) < wanted and scanned < MAX_SCAN:
        found = messages.search_ids(
            token_sets,
            staff_userid=staff,
            customer_id=filters.customer_id,
            conversation_id=filters.conversation_id,
            msgtype=filters.msgtype,
            since=filters.since,
            until=filters.until,
            limit=min(page, MAX_SCAN - scanned),
            before=before,
        )
        if not found:
            break
        scanned += len(found)
        before = (found[-1][1], found[-1][0])
        rows = messages.by_ids([message_id for message_id, _ in found])
        for message_id, _ in found:
            row = rows[message_id]
            body = searchable_text(decrypt_content(row, settings))
            if phrases:
                compact = "".join(archive_text.normalise(body).split())
                if not all(phrase in compact for phrase in phrases):
                    continue
            spans = archive_text.highlight_spans(body, needles)
            hits.append(SearchHit(row, body, archive_text.snippet(body, spans)))
            if len(hits) >= wanted:
                break
        if len(found) < page:
            break
        page = min(page * 2, 1000)
    audit.record(
        session,
        "archive.searched",
        actor=actor,
        target_type="archive",
        detail={
            "query": query[:200],
            "filters": {k: str(v) for k, v in vars(filters).items() if v is not None},
            "results": min(len(hits), limit),
        },
    )
    return SearchResult(hits[offset : offset + limit], len(hits) > offset + limit, scanned)


@dataclass
class ConversationView:
    conversation: ArchiveConversation
    messages: list[tuple[ArchiveMessage, dict[str, Any]]]


def list_conversations(session: Session, actor: Actor, limit: int = 50) -> list[ArchiveConversation]:
    return ConversationRepository(session, actor.tenant_id).list_visible(staff_scope(session, actor), limit)


def list_group_chats(session: Session, actor: Actor, limit: int = 200) -> list[tuple[str, str]]:
    """The group chats the actor may read, to search in one: (conversation id, group name)."""
    return ConversationRepository(session, actor.tenant_id).group_chats(staff_scope(session, actor), limit)


def open_conversation(
    session: Session,
    actor: Actor,
    settings: Settings,
    conversation_id: str,
    *,
    limit: int = 200,
    before_id: int | None = None,
) -> ConversationView:
    """A conversation's messages, decrypted; out of the actor's scope it is 404. Audited."""
    scope = staff_scope(session, actor)
    conversation = ConversationRepository(session, actor.tenant_id).get_visible(conversation_id, scope)
    rows = MessageRepository(session, actor.tenant_id).of_conversation(conversation.id, limit, before_id)
    audit.record(
        session,
        "archive.conversation_opened",
        actor=actor,
        target_type="archive_conversation",
        target_id=conversation.id,
        detail={"messages": len(rows)},
    )
    return ConversationView(conversation, [(row, decrypt_content(row, settings)) for row in rows])


def list_alerts(session: Session, actor: Actor, limit: int = 100) -> list[KeywordAlert]:
    return AlertRepository(session, actor.tenant_id).list_visible(staff_scope(session, actor), limit)


@dataclass(frozen=True)
class Status:
    corps: list[tuple[str, int, int, str | None]]  # corp id, seq, messages, last error
    key_versions: list[int]
    undecrypted: int


def status(session: Session, tenant_id: str) -> Status:
    cursors = CursorRepository(session, tenant_id).list()
    return Status(
        corps=[(c.corp_id, c.seq, c.messages_total, c.last_error) for c in cursors],
        key_versions=key_versions(session, tenant_id),
        undecrypted=MessageRepository(session, tenant_id).count_undecrypted(),
    )


# ── insights ─────────────────────────────────────────────────────────────────────────────

MERCHANT_TIME = ZoneInfo("Asia/Shanghai")
INSIGHT_ROW_LIMIT = 500_000


@dataclass(frozen=True)
class StaffResponse:
    staff_userid: str
    replies: int
    median_minutes: float
    within_target: float  # share of first responses within the target


@dataclass(frozen=True)
class Insights:
    heatmap: list[list[int]]  # [weekday 0=Monday][hour 0..23]: customer messages, Beijing time
    responses: list[StaffResponse]
    target_minutes: int


def insights(
    session: Session,
    actor: Actor,
    *,
    since: datetime,
    until: datetime,
    target_minutes: int = 5,
) -> Insights:
    """When customers write (weekday × hour) and how fast staff answer: the time from a
    customer's first unanswered message to the next staff message, per staff member. Reads
    metadata only (no content), within the actor's scope."""
    scope = staff_scope(session, actor)
    rows = activity_rows(session, actor.tenant_id, scope, since, until, INSIGHT_ROW_LIMIT)
    heatmap = [[0] * 24 for _ in range(7)]
    delays: dict[str, list[float]] = {}
    conversation = ""
    waiting_since: datetime | None = None
    for conversation_id, sent_at, is_from_staff, staff_userid in rows:
        if conversation_id != conversation:
            conversation, waiting_since = conversation_id, None
        if not is_from_staff:
            local = sent_at.astimezone(MERCHANT_TIME)
            heatmap[local.weekday()][local.hour] += 1
            if waiting_since is None:
                waiting_since = sent_at
        elif waiting_since is not None:
            delays.setdefault(staff_userid, []).append((sent_at - waiting_since).total_seconds() / 60)
            waiting_since = None
    target = timedelta(minutes=target_minutes).total_seconds() / 60
    responses = [
        StaffResponse(
            staff_userid=staff,
            replies=len(values),
            median_minutes=round(median(values), 1),
            within_target=round(sum(1 for value in values if value <= target) / len(values), 3),
        )
        for staff, values in sorted(delays.items())
    ]
    return Insights(heatmap, responses, target_minutes)
