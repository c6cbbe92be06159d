"""Planner statistics that follow the tables' size where autovacuum does not (yet).

A bulk load into a new tenant's empty tables runs on statistics that say "empty", and the
planner then picks plans that scan a tenant's every row per probed key (seen: 79 ms instead of
1 ms for 200 ids), and a new tenant's rows in a big table are missing from its statistics
altogether (a refund's lookup of its order took seconds). Autovacuum analyses a table after
10% of it changed, but only after its next nap, and some servers run with it off. So Haina
applies the same rule itself — a table is analysed once more than a tenth of its rows changed
since its last analysis (and at least a thousand) — at most every few seconds per process and
database, outside any caller's transaction. Where autovacuum keeps up, this finds nothing to
do; where it does not, each ANALYZE reads a fixed-size sample, so a big table costs little.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy import Engine, text

CHECK_SECONDS = 5.0
# Below this many changed rows a table is left to autovacuum: the planner's guesses for small
# tables are cheap to get wrong.
MIN_CHANGED_ROWS = 1000
CHANGED_SHARE = 0.1  # autovacuum's default analyze scale factor

_checked: dict[tuple[str, tuple[str, ...]], float] = {}
_lock = threading.Lock()

_STALE = text(
    "SELECT c.relname FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid"
    " WHERE c.relnamespace = to_regnamespace(current_schema())"
    " AND s.n_mod_since_analyze > GREATEST(:least, :share * c.reltuples)"
    " AND (cardinality(CAST(:tables AS text[])) = 0 OR c.relname = ANY(:tables))"
    " ORDER BY c.relname"
)


def refresh(
    engine: Engine, tables: Sequence[str] = (), *, force: bool = False, vacuum: bool = False
) -> list[str]:
    """ANALYZE each table (of `tables`, or of the whole schema when empty) in which more than a
    tenth of the rows (and at least a thousand) changed since its last analysis; PostgreSQL
    only. Checked at most every `CHECK_SECONDS` per engine and table list unless `force`;
    returns the tables analysed. `vacuum`: VACUUM (ANALYZE) them instead, for a caller that
    has just written a big share of a table that will be read whole again: the first read
    after a bulk write otherwise sets every row's hint bits (and writes every page) itself."""
    if engine.dialect.name != "postgresql":
        return []
    key = (str(engine.url), tuple(tables))
    now = time.monotonic()
    with _lock:
        if not force and now - _checked.get(key, -CHECK_SECONDS) < CHECK_SECONDS:
            return []
        _checked[key] = now
    analysed: list[str] = []
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        stale = connection.scalars(
            _STALE, {"least": MIN_CHANGED_ROWS, "share": CHANGED_SHARE, "tables": list(tables)}
        ).all()
        for table in stale:
            # The name comes from pg_class, quoted as an identifier; never from input.
            quoted = '"' + str(table).replace('"', '""') + '"'
            command = "VACUUM (ANALYZE, SKIP_LOCKED)" if vacuum else "ANALYZE (SKIP_LOCKED)"
            connection.execute(text(f"{command} {quoted}"))
            analysed.append(str(table))
    return analysed
