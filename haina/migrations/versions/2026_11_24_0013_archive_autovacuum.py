"""archive search stays index-only: vacuum the chat archive's tables after 1% new rows, not 20%

A search reads a word's postings from the (tenant, token, sent_at, message_id) index without
touching the table only where PostgreSQL's visibility map says the pages are all-visible, and that
map is set by (auto)vacuum. By default an insert-only table is vacuumed after 20% new rows: on a
1M-message archive, 200k messages' postings would cost a table read each (a 1M search bench: p95
226 ms just after loading, 11 ms once vacuumed). PostgreSQL only; SQLite has nothing to tune.

Revision ID: 20261124_0013
Revises: 20261124_0012
Create Date: 2026-11-24 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261124_0013"
down_revision: str | None = "20261124_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("archive_tokens", "archive_messages")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_vacuum_insert_scale_factor = 0.01, "
            "autovacuum_analyze_scale_factor = 0.02)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} RESET (autovacuum_vacuum_insert_scale_factor, autovacuum_analyze_scale_factor)"
        )
