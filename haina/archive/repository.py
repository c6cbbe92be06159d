"""Every query of the archive. Tenant scoping happens in `scoped()` (TenantRepository) or, for
the index table without an id, in the one `token_filter` below."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    Table,
    and_,
    delete,
    false,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, aliased

from haina.archive.models import (
    ArchiveConversation,
    ArchiveCursor,
    ArchiveKey,
    ArchiveMessage,
    ArchiveToken,
    ArchiveWord,
    KeywordAlert,
    KeywordRule,
    MessageStatus,
)
from haina.core.repository import TenantRepository


class KeyRepository(TenantRepository[ArchiveKey]):
    model = ArchiveKey
    label = "archive key"

    def by_version(self) -> dict[int, ArchiveKey]:
        return {key.version: key for key in self.session.scalars(self.scoped())}


class CursorRepository(TenantRepository[ArchiveCursor]):
    model = ArchiveCursor
    label = "archive cursor"

    def for_corp(self, corp_id: str, *, lock: bool = False) -> ArchiveCursor:
        statement = self.scoped().where(ArchiveCursor.corp_id == corp_id)
        if lock:
            statement = statement.with_for_update()
        cursor = self.session.scalar(statement)
        if cursor is None:
            cursor = self.add(ArchiveCursor(corp_id=corp_id, seq=0, messages_total=0))
        return cursor

    def list(self) -> list[ArchiveCursor]:
        return list(self.session.scalars(self.scoped().order_by(ArchiveCursor.corp_id)))


class ConversationRepository(TenantRepository[ArchiveConversation]):
    model = ArchiveConversation
    label = "conversation"

    def by_keys(self, keys: Iterable[str]) -> dict[str, ArchiveConversation]:
        wanted = list(set(keys))
        if not wanted:
            return {}
        rows = self.session.scalars(self.scoped().where(ArchiveConversation.key.in_(wanted)))
        return {row.key: row for row in rows}

    def visible(self, staff_userid: str | None) -> Select[Any]:
        statement = self.scoped()
        if staff_userid is not None:
            statement = statement.where(
                ArchiveConversation.staff_userid == staff_userid if staff_userid else false()
            )
        return statement

    def get_visible(self, conversation_id: str, staff_userid: str | None) -> ArchiveConversation:
        found = self.session.scalar(
            self.visible(staff_userid).where(ArchiveConversation.id == conversation_id)
        )
        if found is None:
            from haina.core.errors import NotFound

            raise NotFound(f"conversation {conversation_id} not found", code="not_found")
        return found

    def list_visible(self, staff_userid: str | None, limit: int = 50) -> list[ArchiveConversation]:
        statement = self.visible(staff_userid).order_by(
            ArchiveConversation.last_message_at.desc(), ArchiveConversation.id
        )
        return list(self.session.scalars(statement.limit(limit)))

    def group_chats(self, staff_userid: str | None, limit: int = 200) -> list[tuple[str, str]]:
        """(conversation id, group name — the room id where the group is not synced) of the
        visible group chats, most recently active first. [Stopgap] reads the customers module's
        group table directly, as `contacts_by_external_userid` does its contacts."""
        from haina.customers.models import CustomerGroup

        named = (
            self.visible(staff_userid)
            .with_only_columns(ArchiveConversation.id, ArchiveConversation.roomid, CustomerGroup.name)
            .outerjoin(
                CustomerGroup,
                and_(
                    CustomerGroup.tenant_id == ArchiveConversation.tenant_id,
                    CustomerGroup.chat_id == ArchiveConversation.roomid,
                ),
            )
            .where(ArchiveConversation.kind == "room")
            .order_by(ArchiveConversation.last_message_at.desc(), ArchiveConversation.id)
            .limit(limit)
        )
        found: dict[str, str] = {}
        for conversation_id, roomid, name in self.session.execute(named):
            found.setdefault(conversation_id, name or roomid)
        return list(found.items())

    def unlinked(self, ids: Iterable[str]) -> list[ArchiveConversation]:
        wanted = list(ids)
        if not wanted:
            return []
        statement = self.scoped().where(
            ArchiveConversation.id.in_(wanted),
            ArchiveConversation.contact_id.is_(None),
            ArchiveConversation.peer_userid != "",
        )
        return list(self.session.scalars(statement))


class MessageRepository(TenantRepository[ArchiveMessage]):
    model = ArchiveMessage
    label = "message"

    def existing_msgids(self, msgids: Sequence[str]) -> set[str]:
        if not msgids:
            return set()
        statement = self.scoped(select(ArchiveMessage.msgid)).where(ArchiveMessage.msgid.in_(list(msgids)))
        return set(self.session.scalars(statement))

    def by_msgid(self, msgid: str) -> ArchiveMessage | None:
        return self.session.scalar(self.scoped().where(ArchiveMessage.msgid == msgid))

    def undecrypted(self, limit: int = 1000) -> list[ArchiveMessage]:
        statement = self.scoped().where(ArchiveMessage.status == MessageStatus.UNDECRYPTED)
        return list(self.session.scalars(statement.order_by(ArchiveMessage.seq).limit(limit)))

    def count_undecrypted(self) -> int:
        return self.count(select(ArchiveMessage).where(ArchiveMessage.status == MessageStatus.UNDECRYPTED))

    def of_conversation(
        self, conversation_id: str, limit: int, before_id: int | None = None
    ) -> list[ArchiveMessage]:
        statement = self.scoped().where(
            ArchiveMessage.conversation_id == conversation_id,
            ArchiveMessage.status == MessageStatus.STORED,
        )
        if before_id is not None:
            statement = statement.where(ArchiveMessage.id < before_id)
        statement = statement.order_by(ArchiveMessage.sent_at.desc(), ArchiveMessage.id.desc()).limit(limit)
        return list(reversed(list(self.session.scalars(statement))))

    def by_ids(self, ids: Sequence[int]) -> dict[int, ArchiveMessage]:
        if not ids:
            return {}
        return {
            row.id: row for row in self.session.scalars(self.scoped().where(ArchiveMessage.id.in_(list(ids))))
        }

    def mark_revoked(self, msgids: Iterable[str]) -> None:
        wanted = list(set(msgids))
        if wanted:
            self.session.execute(
                update(ArchiveMessage)
                .where(ArchiveMessage.tenant_id == self.tenant_id, ArchiveMessage.msgid.in_(wanted))
                .values(is_revoked=True)
            )

    def search_ids(
        self,
        token_sets: Sequence[Sequence[int]],
        *,
        staff_userid: str | None,
        customer_id: str | None,
        conversation_id: str | None,
        msgtype: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        before: tuple[datetime, int] | None = None,
    ) -> list[tuple[int, datetime]]:
        """(id, sent_at) of stored messages having every token, newest first, after the filters;
        `before` continues after the last pair of a page (keyset paging: no OFFSET re-reading the
        pages before).

        With words, "newest" is archive order: message ids follow WeCom's `seq`, the order the
        messages were archived in. The words' postings are then merged in one shared order, each
        read backwards from its (tenant, token, message_id) key without touching the table, so a
        page stops the walk however common the words are, and the planner estimates a join on
        one column well (joined on message id and time as well, it expected nothing to match
        and hashed every posting). Without words, the tenant's messages by time."""
        words = list(dict.fromkeys(token for tokens in token_sets for token in tokens))
        statement = self.scoped(select(ArchiveMessage.id, ArchiveMessage.sent_at)).where(  # type: ignore[arg-type]
            ArchiveMessage.status == MessageStatus.STORED
        )
        order: list[Any] = [ArchiveMessage.sent_at.desc(), ArchiveMessage.id.desc()]
        after: Any = (
            tuple_(ArchiveMessage.sent_at, ArchiveMessage.id) < tuple_(*before)
            if before is not None
            else None
        )
        # Word hashes are written into the SQL as numbers (ints: no injection), so each query is
        # planned with that word's statistics, not a generic plan.
        if words:
            first = aliased(ArchiveToken)
            statement = statement.join(first, first.message_id == ArchiveMessage.id).where(
                first.tenant_id == self.tenant_id,
                first.token == literal_column(str(int(words[0])), BigInteger()),
            )
            others = []
            for token in words[1:]:
                other = aliased(ArchiveToken)
                others.append(other)
                statement = statement.join(
                    other,
                    and_(
                        other.tenant_id == self.tenant_id,
                        other.token == literal_column(str(int(token)), BigInteger()),
                        other.message_id == first.message_id,
                    ),
                )
            if (since is not None or until is not None) and self._window_share(since, until) < 0.2:
                # A narrow window: read from the postings' (tenant, token, sent_at) index. Put on a
                # wide one, those conditions make the planner hash every posting in the window.
                for posting in (first, *others):
                    if since is not None:
                        statement = statement.where(posting.sent_at >= since)
                    if until is not None:
                        statement = statement.where(posting.sent_at < until)
            order = [first.message_id.desc()]
            after = first.message_id < before[1] if before is not None else None
        if staff_userid is not None:  # "" matches nothing (see service.staff_scope)
            statement = statement.where(
                ArchiveMessage.staff_userid == staff_userid if staff_userid else false()
            )
        if customer_id:
            statement = statement.where(ArchiveMessage.customer_id == customer_id)
        if conversation_id:
            statement = statement.where(ArchiveMessage.conversation_id == conversation_id)
        if msgtype:
            statement = statement.where(ArchiveMessage.msgtype == msgtype)
        if since is not None:
            statement = statement.where(ArchiveMessage.sent_at >= since)
        if until is not None:
            statement = statement.where(ArchiveMessage.sent_at < until)
        if after is not None:
            statement = statement.where(after)
        statement = statement.order_by(*order).limit(limit)
        return [(row[0], row[1]) for row in self.session.execute(statement)]

    def _window_share(self, since: datetime | None, until: datetime | None) -> float:
        """About which share of the tenant's archive lies in [since, until), by time alone (two
        index probes, no counting): it only chooses a query plan."""
        bounds = self.scoped(select(ArchiveMessage.sent_at)).where(
            ArchiveMessage.status == MessageStatus.STORED
        )
        oldest = self.session.scalar(bounds.order_by(ArchiveMessage.sent_at).limit(1))
        newest = self.session.scalar(bounds.order_by(ArchiveMessage.sent_at.desc()).limit(1))
        if oldest is None or newest is None or newest <= oldest:
            return 1.0
        start = max(oldest, since) if since is not None else oldest
        end = min(newest, until) if until is not None else newest
        return max(0.0, (end - start) / (newest - oldest))

    def token_filter(self, token: int) -> Select[Any]:
        return select(ArchiveToken.message_id).where(
            ArchiveToken.tenant_id == self.tenant_id, ArchiveToken.token == token
        )

    def add_tokens(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            table: Table = ArchiveToken.__table__  # type: ignore[assignment]
            self.session.execute(insert(table), rows)

    def delete_tokens(self, message_ids: Sequence[int]) -> int:
        """Drop the index rows of the tenant's messages among `message_ids`; how many went.
        The tenant is checked on the messages (their primary key), not on the tokens: a
        `tenant_id = …` test on the tokens let the planner AND in a scan of the tenant's whole
        primary key, once per call (a 1M-message reindex went quadratic)."""
        if not message_ids:
            return 0
        owned = select(ArchiveMessage.id).where(
            ArchiveMessage.tenant_id == self.tenant_id, ArchiveMessage.id.in_(list(message_ids))
        )
        deleted = self.session.execute(delete(ArchiveToken).where(ArchiveToken.message_id.in_(owned)))
        return int(deleted.rowcount or 0)  # type: ignore[attr-defined]

    def existing_tokens(self, token: int, message_ids: Sequence[int]) -> set[int]:
        statement = self.token_filter(token).where(ArchiveToken.message_id.in_(list(message_ids)))
        return set(self.session.scalars(statement))

    def stored_ids(self, after_id: int, limit: int) -> list[int]:
        statement = (
            self.scoped(select(ArchiveMessage.id))
            .where(ArchiveMessage.status == MessageStatus.STORED, ArchiveMessage.id > after_id)
            .order_by(ArchiveMessage.id)
            .limit(limit)
        )
        return list(self.session.scalars(statement))


def activity_rows(
    session: Session, tenant_id: str, staff_userid: str | None, since: datetime, until: datetime, limit: int
) -> list[tuple[str, datetime, bool, str]]:
    """(conversation id, sent at, is from staff, staff userid) of 1:1 chat messages in a window,
    in conversation and time order — metadata only, nothing decrypted."""
    statement = (
        select(
            ArchiveMessage.conversation_id,
            ArchiveMessage.sent_at,
            ArchiveMessage.is_from_staff,
            ArchiveMessage.staff_userid,
        )
        .join(ArchiveConversation, ArchiveConversation.id == ArchiveMessage.conversation_id)
        .where(
            ArchiveMessage.tenant_id == tenant_id,
            ArchiveMessage.status == MessageStatus.STORED,
            ArchiveMessage.msgtype.not_in(("revoke", "switch", "agree", "disagree")),
            ArchiveMessage.sent_at >= since,
            ArchiveMessage.sent_at < until,
            ArchiveConversation.kind == "single",
        )
        .order_by(ArchiveMessage.conversation_id, ArchiveMessage.sent_at, ArchiveMessage.id)
        .limit(limit)
    )
    if staff_userid is not None:
        statement = statement.where(ArchiveMessage.staff_userid == staff_userid if staff_userid else false())
    return [(row[0] or "", row[1], bool(row[2]), row[3]) for row in session.execute(statement)]


class WordRepository(TenantRepository[ArchiveWord]):
    model = ArchiveWord
    label = "word"

    def words(self) -> list[str]:
        return list(self.session.scalars(self.scoped(select(ArchiveWord.word)).order_by(ArchiveWord.word)))

    def find(self, word: str) -> ArchiveWord | None:
        return self.session.scalar(self.scoped().where(ArchiveWord.word == word))


class RuleRepository(TenantRepository[KeywordRule]):
    model = KeywordRule
    label = "keyword rule"

    def active(self) -> list[KeywordRule]:
        return list(self.session.scalars(self.scoped().where(KeywordRule.is_active.is_(True))))

    def list(self) -> list[KeywordRule]:
        return list(self.session.scalars(self.scoped().order_by(KeywordRule.created_at, KeywordRule.id)))

    def find(self, kind: str, phrase: str) -> KeywordRule | None:
        return self.session.scalar(
            self.scoped().where(KeywordRule.kind == kind, KeywordRule.phrase == phrase)
        )


class AlertRepository(TenantRepository[KeywordAlert]):
    model = KeywordAlert
    label = "keyword alert"

    def list_visible(self, staff_userid: str | None, limit: int = 100) -> list[KeywordAlert]:
        statement = self.scoped()
        if staff_userid is not None:
            statement = statement.where(
                KeywordAlert.staff_userid == staff_userid if staff_userid else false()
            )
        return list(self.session.scalars(statement.order_by(KeywordAlert.created_at.desc()).limit(limit)))

    def count_for_message(self, message_id: int) -> int:
        return self.count(select(KeywordAlert).where(KeywordAlert.message_id == message_id))


def contacts_by_external_userid(
    session: Session, tenant_id: str, external_userids: Iterable[str]
) -> dict[str, tuple[str, str | None]]:
    """external_userid → (contact id, customer id), read-only from the customers module's table.

    [Stopgap] haina.customers has no service function for this lookup yet; replace with one.
    """
    from haina.customers.models import Contact

    wanted = list(set(external_userids))
    if not wanted:
        return {}
    rows = session.execute(
        select(Contact.external_userid, Contact.id, Contact.customer_id).where(
            Contact.tenant_id == tenant_id, Contact.external_userid.in_(wanted)
        )
    )
    return {external: (contact_id, customer_id) for external, contact_id, customer_id in rows}


def count_messages(session: Session, tenant_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(ArchiveMessage).where(ArchiveMessage.tenant_id == tenant_id)
        )
        or 0
    )
