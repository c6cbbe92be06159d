"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


def insert_ignoring_conflicts(session: Session, table: Table, conflict_columns: list[str]) -> Insert:
    """INSERT … ON CONFLICT (columns) DO NOTHING, race-free on both backends."""
    name = dialect_name(session)
    statement: Any
    if name == "postgresql":
        statement = postgresql.insert(table)
    elif name == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise NotImplementedError(f"the event core does not support the {name} database")
    return statement.on_conflict_do_nothing(index_elements=conflict_columns)


def take_write_lock(session: Session) -> None:
    """On SQLite, make the transaction a writer before it reads anything.

    The sqlite3 driver opens a transaction only at the first write, so reads before it are not
    protected: two workers could both see a delivery pending and both run it. Taking the write
    lock first serialises them on the busy timeout (SQLite has one writer anyway). PostgreSQL
    needs nothing here: row locks do the job there.
    """
    if dialect_name(session) == "sqlite":
        session.execute(text("UPDATE event_deliveries SET id = id WHERE 0"))
