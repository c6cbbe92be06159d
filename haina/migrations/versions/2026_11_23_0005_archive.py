"""archive: message archive keys, cursors, conversations, encrypted messages, the word index,
tenant words, keyword rules and alerts

Revision ID: 20261123_0005
Revises: 20261123_0004
Create Date: 2026-11-23 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261123_0005"
down_revision: str | None = "20261123_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("peer_userid", sa.String(length=64), nullable=False),
        sa.Column("roomid", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("message_count", sa.BigInteger(), nullable=False),
        sa.Column("last_message_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_conversations")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_archive_conversations_tenant_id_key")),
    )
    with op.batch_alter_table("archive_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_conversations_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_archive_conversations_tenant_id_staff_userid", ["tenant_id", "staff_userid"], unique=False
        )

    op.create_table(
        "archive_cursors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("messages_total", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_cursors")),
        sa.UniqueConstraint("tenant_id", "corp_id", name=op.f("uq_archive_cursors_tenant_id_corp_id")),
    )
    with op.batch_alter_table("archive_cursors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_cursors_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "archive_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_keys")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_archive_keys_tenant_id_version")),
    )
    with op.batch_alter_table("archive_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_keys_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "archive_keyword_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("phrase", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_keyword_rules")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "phrase", name=op.f("uq_archive_keyword_rules_tenant_id_kind_phrase")
        ),
    )
    with op.batch_alter_table("archive_keyword_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_keyword_rules_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "archive_words",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_words")),
        sa.UniqueConstraint("tenant_id", "word", name=op.f("uq_archive_words_tenant_id_word")),
    )
    with op.batch_alter_table("archive_words", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_words_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "archive_messages",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("msgtype", sa.String(length=32), nullable=False),
        sa.Column("is_known_type", sa.Boolean(), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("is_from_staff", sa.Boolean(), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("sent_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_revoked", sa.Boolean(), nullable=False),
        sa.Column("publickey_ver", sa.BigInteger(), nullable=False),
        sa.Column("content_encrypted", sa.Text(), nullable=True),
        sa.Column("pending_item", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("stored_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["archive_conversations.id"],
            name=op.f("fk_archive_messages_conversation_id_archive_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_messages")),
        sa.UniqueConstraint("tenant_id", "msgid", name=op.f("uq_archive_messages_tenant_id_msgid")),
    )
    with op.batch_alter_table("archive_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_archive_messages_conversation_id_sent_at", ["conversation_id", "sent_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_archive_messages_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index("ix_archive_messages_tenant_id_sent_at", ["tenant_id", "sent_at"], unique=False)

    op.create_table(
        "archive_keyword_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rule_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("phrase", sa.String(length=64), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["archive_messages.id"],
            name=op.f("fk_archive_keyword_alerts_message_id_archive_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["archive_keyword_rules.id"],
            name=op.f("fk_archive_keyword_alerts_rule_id_archive_keyword_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_keyword_alerts")),
        sa.UniqueConstraint(
            "tenant_id",
            "rule_id",
            "message_id",
            name=op.f("uq_archive_keyword_alerts_tenant_id_rule_id_message_id"),
        ),
    )
    with op.batch_alter_table("archive_keyword_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_archive_keyword_alerts_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_archive_keyword_alerts_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "archive_tokens",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sent_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["archive_messages.id"],
            name=op.f("fk_archive_tokens_message_id_archive_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "token", "message_id", name=op.f("pk_archive_tokens")),
    )
    with op.batch_alter_table("archive_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_archive_tokens_message_id", ["message_id"], unique=False)
        batch_op.create_index(
            "ix_archive_tokens_tenant_id_token_sent_at",
            ["tenant_id", "token", "sent_at", "message_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("archive_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_tokens_tenant_id_token_sent_at")
        batch_op.drop_index("ix_archive_tokens_message_id")

    op.drop_table("archive_tokens")
    with op.batch_alter_table("archive_keyword_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_keyword_alerts_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_archive_keyword_alerts_created_at"))

    op.drop_table("archive_keyword_alerts")
    with op.batch_alter_table("archive_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_messages_tenant_id_sent_at")
        batch_op.drop_index(batch_op.f("ix_archive_messages_tenant_id"))
        batch_op.drop_index("ix_archive_messages_conversation_id_sent_at")

    op.drop_table("archive_messages")
    with op.batch_alter_table("archive_words", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_words_tenant_id"))

    op.drop_table("archive_words")
    with op.batch_alter_table("archive_keyword_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_keyword_rules_tenant_id"))

    op.drop_table("archive_keyword_rules")
    with op.batch_alter_table("archive_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_keys_tenant_id"))

    op.drop_table("archive_keys")
    with op.batch_alter_table("archive_cursors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_cursors_tenant_id"))

    op.drop_table("archive_cursors")
    with op.batch_alter_table("archive_conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_archive_conversations_tenant_id_staff_userid")
        batch_op.drop_index(batch_op.f("ix_archive_conversations_tenant_id"))

    op.drop_table("archive_conversations")
