"""The archive's tables are vacuumed after a pull that wrote many postings (PostgreSQL), so a
search's index-only scans stay index-only even where autovacuum is off."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from haina.archive import upkeep
from tests.archive.test_search_paging import _archive


def _inserted_since_vacuum(database: Any) -> dict[str, int]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT relname, n_ins_since_vacuum FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
            {"tables": list(upkeep.TABLES)},
        )
        return {name: int(count) for name, count in rows}


def test_vacuum_when_due_and_only_then(database, tenant) -> None:  # type: ignore[no-untyped-def]
    _archive(database, tenant, ["退款到账了吗"] * 120)
    if database.engine.dialect.name != "postgresql":
        assert upkeep.vacuum_if_due(database, after_rows=1) == []  # SQLite: nothing to tune
        return
    assert upkeep.vacuum_if_due(database, after_rows=10**9) == []  # not due
    # A backend reports its counts when idle, at most once a second, and when it ends.
    database.engine.dispose()
    deadline = time.monotonic() + 15
    while _inserted_since_vacuum(database)["archive_tokens"] < 120:
        assert time.monotonic() < deadline, "the inserts never reached the statistics"
        time.sleep(0.2)
    assert upkeep.vacuum_if_due(database, after_rows=100) == ["archive_messages", "archive_tokens"]
    assert _inserted_since_vacuum(database) == {"archive_messages": 0, "archive_tokens": 0}
    assert upkeep.vacuum_if_due(database, after_rows=100) == []
