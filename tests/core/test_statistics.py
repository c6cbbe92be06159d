"""Planner statistics follow a table that changed faster than autovacuum looked at it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from haina.core import statistics
from haina.core.database import Database

pytestmark = pytest.mark.postgres


def analysed_rows(database: Database, table: str) -> float:
    with database.engine.connect() as connection:
        return float(
            connection.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}) or 0
        )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_table_that_changed_much_is_analysed_once_and_others_are_left_alone(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("CREATE TABLE stats_probe (id INTEGER PRIMARY KEY, note TEXT)"))
        connection.execute(text("CREATE TABLE stats_quiet (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO stats_quiet SELECT g FROM generate_series(1, 10) g"))
        connection.execute(text("INSERT INTO stats_probe SELECT g, 'n' || g FROM generate_series(1, 5000) g"))
        connection.commit()
        # A backend reports its changes to the statistics at most every second; now, please.
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
        connection.commit()

    analysed = statistics.refresh(database.engine, force=True)
    assert "stats_probe" in analysed and "stats_quiet" not in analysed
    assert analysed_rows(database, "stats_probe") == 5000

    assert "stats_probe" not in statistics.refresh(database.engine, force=True)  # nothing new since
    assert statistics.refresh(database.engine) == []  # checked a moment ago: not again so soon


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_caller_that_wrote_a_big_share_can_have_it_vacuumed_too(database: Database) -> None:
    with database.engine.connect() as connection:
        connection.execute(text("CREATE TABLE stats_written (id INTEGER PRIMARY KEY)"))
        connection.execute(text("INSERT INTO stats_written SELECT g FROM generate_series(1, 3000) g"))
        connection.commit()
        connection.execute(text("SELECT pg_stat_force_next_flush()"))
        connection.commit()

    assert statistics.refresh(database.engine, ("stats_written",), force=True, vacuum=True) == [
        "stats_written"
    ]
    with database.engine.connect() as connection:
        vacuumed = connection.execute(
            text(
                "SELECT vacuum_count, analyze_count FROM pg_stat_user_tables WHERE relname = 'stats_written'"
            )
        ).one()
    assert (vacuumed.vacuum_count, vacuumed.analyze_count) == (1, 1)
    assert analysed_rows(database, "stats_written") == 3000
