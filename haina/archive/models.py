"""Tables of the message archive (会话存档).

* ArchiveKey: the tenant's RSA private keys by `publickey_ver`, encrypted with the field keys.
* ArchiveCursor: the last `seq` stored per corp; it moves in the transaction that stores the
  batch it points past, so an interrupted pull resumes with no gap and no duplicate.
* ArchiveConversation / ArchiveMessage: content only as FieldCipher text; a message whose key
  version is missing is kept (still encrypted by WeCom) with the reason, to decrypt later.
* ArchiveToken: the search index, one row per (word hash, message); no readable words.
* ArchiveWord: the tenant's own words (product names) that segmentation must keep whole.
* KeywordRule / KeywordAlert: watched words; an alert is unique per (rule, message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from haina.core import clock
from haina.core.database import Base, TenantMixin, new_id

MESSAGE_ID = BigInteger().with_variant(Integer, "sqlite")


class MessageStatus:
    STORED = "stored"
    UNDECRYPTED = "undecrypted"  # kept as WeCom sent it, with the reason; decrypt again later


class ArchiveKey(TenantMixin, Base):
    __tablename__ = "archive_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    version: Mapped[int]
    # FieldCipher text (context "archive.private_key") of the PEM.
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchiveCursor(TenantMixin, Base):
    __tablename__ = "archive_cursors"
    __table_args__ = (UniqueConstraint("tenant_id", "corp_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    corp_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(default=0)
    messages_total: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchiveConversation(TenantMixin, Base):
    """A 1:1 chat between a staff member and a peer, or a group chat (roomid)."""

    __tablename__ = "archive_conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        Index("ix_archive_conversations_tenant_id_staff_userid", "tenant_id", "staff_userid"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))  # single / room
    staff_userid: Mapped[str] = mapped_column(String(64), default="")
    peer_userid: Mapped[str] = mapped_column(String(64), default="")
    roomid: Mapped[str] = mapped_column(String(64), default="")
    contact_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    message_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime | None]


class ArchiveMessage(TenantMixin, Base):
    __tablename__ = "archive_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "msgid"),
        Index("ix_archive_messages_tenant_id_sent_at", "tenant_id", "sent_at"),
        Index("ix_archive_messages_conversation_id_sent_at", "conversation_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(MESSAGE_ID, primary_key=True, autoincrement=True)
    corp_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    msgid: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.STORED)
    conversation_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("archive_conversations.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(16), default="")
    msgtype: Mapped[str] = mapped_column(String(32), default="")
    is_known_type: Mapped[bool] = mapped_column(default=True)
    sender: Mapped[str] = mapped_column(String(64), default="")
    is_from_staff: Mapped[bool] = mapped_column(default=False)
    staff_userid: Mapped[str] = mapped_column(String(64), default="")
    customer_id: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime]
    is_revoked: Mapped[bool] = mapped_column(default=False)
    publickey_ver: Mapped[int] = mapped_column(default=0)
    # FieldCipher text (context "archive.message") of the decrypted message JSON.
    content_encrypted: Mapped[str | None] = mapped_column(Text)
    # UNDECRYPTED only: the chatdata item as pulled (WeCom's ciphertext) and why it failed.
    pending_item: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    stored_at: Mapped[datetime] = mapped_column(default=clock.now)


class ArchiveToken(Base):
    __tablename__ = "archive_tokens"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "token", "message_id"),
        Index("ix_archive_tokens_message_id", "message_id"),
        # A word's messages newest first, straight from the index: a search stops after a page.
        Index("ix_archive_tokens_tenant_id_token_sent_at", "tenant_id", "token", "sent_at", "message_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    token: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(MESSAGE_ID, ForeignKey("archive_messages.id", ondelete="CASCADE"))
    sent_at: Mapped[datetime]  # the message's, copied so that index is ordered by time


class ArchiveWord(TenantMixin, Base):
    __tablename__ = "archive_words"
    __table_args__ = (UniqueConstraint("tenant_id", "word"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    word: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class KeywordRule(TenantMixin, Base):
    __tablename__ = "archive_keyword_rules"
    __table_args__ = (UniqueConstraint("tenant_id", "kind", "phrase"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default="word")  # word / phone_leak
    phrase: Mapped[str] = mapped_column(String(64), default="")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class KeywordAlert(TenantMixin, Base):
    __tablename__ = "archive_keyword_alerts"
    __table_args__ = (UniqueConstraint("tenant_id", "rule_id", "message_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    rule_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("archive_keyword_rules.id", ondelete="CASCADE")
    )
    message_id: Mapped[int] = mapped_column(MESSAGE_ID, ForeignKey("archive_messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(String(32))
    staff_userid: Mapped[str] = mapped_column(String(64), default="")
    phrase: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
