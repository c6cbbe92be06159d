"""engage: live codes, welcome messages, group codes, mass messages, moments, scripts, handover, loss alerts

Revision ID: 20261124_0007
Revises: 20261124_0006
Create Date: 2026-11-24 05:26:40.255933
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import haina.core.database

revision: str = "20261124_0007"
down_revision: str | None = "20261124_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "engage_broadcast_recipients",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("broadcast_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("sender_userid", sa.String(length=64), nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivered_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "broadcast_id", "customer_id", name=op.f("pk_engage_broadcast_recipients")
        ),
    )
    with op.batch_alter_table("engage_broadcast_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_broadcast_recipients_customer_created",
            ["tenant_id", "customer_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_engage_broadcast_recipients_tenant_id_msgid", ["tenant_id", "msgid"], unique=False
        )

    op.create_table(
        "engage_broadcast_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("monthly_cap", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_engage_broadcast_settings")),
    )
    op.create_table(
        "engage_broadcast_tasks",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("broadcast_id", sa.String(length=32), nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=False),
        sa.Column("sender_userid", sa.String(length=64), nullable=False),
        sa.Column("recipient_count", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("confirmed_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "broadcast_id", "msgid", name=op.f("pk_engage_broadcast_tasks")),
    )
    with op.batch_alter_table("engage_broadcast_tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_broadcast_tasks_tenant_id_msgid", ["tenant_id", "msgid"], unique=False
        )

    op.create_table(
        "engage_broadcasts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("segment_id", sa.String(length=32), nullable=True),
        sa.Column("tag_filter", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("connection_id", sa.String(length=32), nullable=True),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("polled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_broadcasts")),
    )
    with op.batch_alter_table("engage_broadcasts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_broadcasts_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_engage_broadcasts_tenant_id_status_scheduled_at",
            ["tenant_id", "status", "scheduled_at"],
            unique=False,
        )

    op.create_table(
        "engage_group_code_joins",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("code_id", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("joined_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "code_id", "chat_id", "external_userid", name=op.f("pk_engage_group_code_joins")
        ),
    )
    with op.batch_alter_table("engage_group_code_joins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_group_code_joins_tenant_id_code_id_day", ["tenant_id", "code_id", "day"], unique=False
        )

    op.create_table(
        "engage_group_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("member_limit", sa.BigInteger(), nullable=False),
        sa.Column("chat_ids", sa.JSON(), nullable=False),
        sa.Column("listed_chat_ids", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("is_auto_create", sa.Boolean(), nullable=False),
        sa.Column("room_base_name", sa.String(length=40), nullable=False),
        sa.Column("room_base_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("config_id", sa.String(length=64), nullable=False),
        sa.Column("qr_code", sa.String(length=500), nullable=False),
        sa.Column("is_pool_exhausted", sa.Boolean(), nullable=False),
        sa.Column("sync_error", sa.String(length=300), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("synced_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pool_read_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_group_codes")),
    )
    with op.batch_alter_table("engage_group_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_group_codes_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "engage_handover_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("handover_userid", sa.String(length=64), nullable=False),
        sa.Column("takeover_userid", sa.String(length=64), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("batch", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("errcode", sa.BigInteger(), nullable=False),
        sa.Column("requested_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_handover_items")),
    )
    with op.batch_alter_table("engage_handover_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_handover_items_tenant_id_external_userid_requested_at",
            ["tenant_id", "external_userid", "requested_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_engage_handover_items_tenant_id_job_id", ["tenant_id", "job_id"], unique=False
        )

    op.create_table(
        "engage_handover_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("handover_userid", sa.String(length=64), nullable=False),
        sa.Column("takeover_userid", sa.String(length=64), nullable=False),
        sa.Column("transfer_message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("polled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_handover_jobs")),
    )
    with op.batch_alter_table("engage_handover_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_handover_jobs_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "engage_live_code_adds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("live_code_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("added_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("remark", sa.String(length=64), nullable=False),
        sa.Column("remark_error", sa.String(length=200), nullable=False),
        sa.Column("tags_applied", sa.Boolean(), nullable=False),
        sa.Column("lost_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lost_by", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_live_code_adds")),
        sa.UniqueConstraint(
            "tenant_id",
            "live_code_id",
            "contact_id",
            "staff_userid",
            name=op.f("uq_engage_live_code_adds_tenant_id_live_code_id_contact_id_staff_userid"),
        ),
    )
    with op.batch_alter_table("engage_live_code_adds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_live_code_adds_tenant_id_contact_id", ["tenant_id", "contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_engage_live_code_adds_tenant_id_live_code_id_added_at",
            ["tenant_id", "live_code_id", "added_at"],
            unique=False,
        )

    op.create_table(
        "engage_live_code_brands",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=40), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_engage_live_code_brands")),
    )
    op.create_table(
        "engage_live_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("config_id", sa.String(length=64), nullable=False),
        sa.Column("qr_code", sa.String(length=500), nullable=False),
        sa.Column("skip_verify", sa.Boolean(), nullable=False),
        sa.Column("pool", sa.JSON(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("remark_template", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("duty_userids", sa.JSON(), nullable=False),
        sa.Column("duty_reason", sa.String(length=16), nullable=False),
        sa.Column("duty_checked_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_live_codes")),
        sa.UniqueConstraint("tenant_id", "state", name=op.f("uq_engage_live_codes_tenant_id_state")),
    )
    with op.batch_alter_table("engage_live_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_live_codes_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )

    op.create_table(
        "engage_loss_alert_settings",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("supervisor_userids", sa.JSON(), nullable=False),
        sa.Column("notify_customer_deleted", sa.Boolean(), nullable=False),
        sa.Column("notify_staff_deleted", sa.Boolean(), nullable=False),
        sa.Column("agentid", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_engage_loss_alert_settings")),
    )
    op.create_table(
        "engage_loss_alerts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("ended_by", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_count", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("notified_userids", sa.JSON(), nullable=False),
        sa.Column("notify_error", sa.String(length=200), nullable=False),
        sa.Column("is_handled", sa.Boolean(), nullable=False),
        sa.Column("handled_by", sa.String(length=100), nullable=False),
        sa.Column("handled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_loss_alerts")),
        sa.UniqueConstraint(
            "tenant_id",
            "contact_id",
            "staff_userid",
            "occurred_at",
            name=op.f("uq_engage_loss_alerts_tenant_id_contact_id_staff_userid_occurred_at"),
        ),
    )
    with op.batch_alter_table("engage_loss_alerts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_loss_alerts_tenant_id_occurred_at", ["tenant_id", "occurred_at"], unique=False
        )

    op.create_table(
        "engage_moment_staff",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("moment_id", sa.String(length=32), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("is_published", sa.Boolean(), nullable=False),
        sa.Column("published_seen_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("customer_count", sa.BigInteger(), nullable=True),
        sa.Column("checked_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "moment_id", "userid", name=op.f("pk_engage_moment_staff")),
    )
    op.create_table(
        "engage_moments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("sender_mode", sa.String(length=8), nullable=False),
        sa.Column("sender_userids", sa.JSON(), nullable=False),
        sa.Column("tag_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=True),
        sa.Column("corp_tag_ids", sa.JSON(), nullable=False),
        sa.Column("jobid", sa.String(length=128), nullable=False),
        sa.Column("moment_id", sa.String(length=128), nullable=False),
        sa.Column("invalid_userids", sa.JSON(), nullable=False),
        sa.Column("invalid_tag_ids", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("polled_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_moments")),
    )
    with op.batch_alter_table("engage_moments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_moments_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_engage_moments_tenant_id_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "engage_script_scenes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("order", sa.BigInteger(), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_script_scenes")),
    )
    op.create_table(
        "engage_script_words",
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("word", sa.String(length=64), nullable=False),
        sa.Column("script_id", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "word", "script_id", name=op.f("pk_engage_script_words")),
    )
    with op.batch_alter_table("engage_script_words", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_script_words_tenant_id_script_id", ["tenant_id", "script_id"], unique=False
        )

    op.create_table(
        "engage_scripts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("scene_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("link_url", sa.String(length=2000), nullable=False),
        sa.Column("link_description", sa.String(length=200), nullable=False),
        sa.Column("image_url", sa.String(length=2000), nullable=False),
        sa.Column("miniprogram_appid", sa.String(length=64), nullable=False),
        sa.Column("miniprogram_page", sa.String(length=500), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("use_count", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", haina.core.database.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_scripts")),
    )
    with op.batch_alter_table("engage_scripts", schema=None) as batch_op:
        batch_op.create_index("ix_engage_scripts_tenant_id_scene_id", ["tenant_id", "scene_id"], unique=False)

    op.create_table(
        "engage_welcome_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("staff_userids", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_welcome_messages")),
    )
    with op.batch_alter_table("engage_welcome_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_engage_welcome_messages_tenant_id_scope_state", ["tenant_id", "scope", "state"], unique=False
        )

    op.create_table(
        "engage_welcome_sends",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=32), nullable=False),
        sa.Column("welcome_code", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=32), nullable=True),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=64), nullable=False),
        sa.Column("staff_userid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("errcode", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", haina.core.database.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_engage_welcome_sends")),
        sa.UniqueConstraint(
            "tenant_id", "welcome_code", name=op.f("uq_engage_welcome_sends_tenant_id_welcome_code")
        ),
    )
    with op.batch_alter_table("engage_welcome_sends", schema=None) as batch_op:
        batch_op.create_index("ix_engage_welcome_sends_tenant_id_at", ["tenant_id", "at"], unique=False)
        batch_op.create_index(
            "ix_engage_welcome_sends_tenant_id_external_userid",
            ["tenant_id", "external_userid"],
            unique=False,
        )
        batch_op.create_index(
            "ix_engage_welcome_sends_tenant_id_message_id_at", ["tenant_id", "message_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("engage_welcome_sends", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_welcome_sends_tenant_id_message_id_at")
        batch_op.drop_index("ix_engage_welcome_sends_tenant_id_external_userid")
        batch_op.drop_index("ix_engage_welcome_sends_tenant_id_at")

    op.drop_table("engage_welcome_sends")
    with op.batch_alter_table("engage_welcome_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_welcome_messages_tenant_id_scope_state")

    op.drop_table("engage_welcome_messages")
    with op.batch_alter_table("engage_scripts", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_scripts_tenant_id_scene_id")

    op.drop_table("engage_scripts")
    with op.batch_alter_table("engage_script_words", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_script_words_tenant_id_script_id")

    op.drop_table("engage_script_words")
    op.drop_table("engage_script_scenes")
    with op.batch_alter_table("engage_moments", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_moments_tenant_id_status")
        batch_op.drop_index("ix_engage_moments_tenant_id_created_at")

    op.drop_table("engage_moments")
    op.drop_table("engage_moment_staff")
    with op.batch_alter_table("engage_loss_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_loss_alerts_tenant_id_occurred_at")

    op.drop_table("engage_loss_alerts")
    op.drop_table("engage_loss_alert_settings")
    with op.batch_alter_table("engage_live_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_live_codes_tenant_id_created_at")

    op.drop_table("engage_live_codes")
    op.drop_table("engage_live_code_brands")
    with op.batch_alter_table("engage_live_code_adds", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_live_code_adds_tenant_id_live_code_id_added_at")
        batch_op.drop_index("ix_engage_live_code_adds_tenant_id_contact_id")

    op.drop_table("engage_live_code_adds")
    with op.batch_alter_table("engage_handover_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_handover_jobs_tenant_id_created_at")

    op.drop_table("engage_handover_jobs")
    with op.batch_alter_table("engage_handover_items", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_handover_items_tenant_id_job_id")
        batch_op.drop_index("ix_engage_handover_items_tenant_id_external_userid_requested_at")

    op.drop_table("engage_handover_items")
    with op.batch_alter_table("engage_group_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_group_codes_tenant_id_created_at")

    op.drop_table("engage_group_codes")
    with op.batch_alter_table("engage_group_code_joins", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_group_code_joins_tenant_id_code_id_day")

    op.drop_table("engage_group_code_joins")
    with op.batch_alter_table("engage_broadcasts", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_broadcasts_tenant_id_status_scheduled_at")
        batch_op.drop_index("ix_engage_broadcasts_tenant_id_created_at")

    op.drop_table("engage_broadcasts")
    with op.batch_alter_table("engage_broadcast_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_broadcast_tasks_tenant_id_msgid")

    op.drop_table("engage_broadcast_tasks")
    op.drop_table("engage_broadcast_settings")
    with op.batch_alter_table("engage_broadcast_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_engage_broadcast_recipients_tenant_id_msgid")
        batch_op.drop_index("ix_engage_broadcast_recipients_customer_created")

    op.drop_table("engage_broadcast_recipients")
