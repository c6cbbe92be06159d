"""Pooled PostgreSQL connections are tested only after sitting idle, and a dead one is replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from haina.core.database import PING_AFTER_IDLE_SECONDS, ping_when_idle

pytestmark = pytest.mark.postgres


def test_busy_connection_is_not_pinged_and_idle_dead_one_is_replaced(postgres_url: str) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counting_ping(dbapi_connection) -> bool:  # type: ignore[no-untyped-def]
        pings.append(1)
        return original(dbapi_connection)

    engine.dialect.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        with engine.connect() as connection:
            first_pid = connection.scalar(text("SELECT pg_backend_pid()"))
        for _ in range(5):  # used moments ago: handed out without a round trip
            with engine.connect() as connection:
                assert connection.scalar(text("SELECT pg_backend_pid()")) == first_pid
        assert pings == []

        with admin.connect() as connection:  # the server drops the pooled connection
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        record = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
        record.info["checked_in"] -= PING_AFTER_IDLE_SECONDS + 1  # as if idle since
        with engine.connect() as connection:
            new_pid = connection.scalar(text("SELECT pg_backend_pid()"))
        assert pings == [1]
        assert new_pid != first_pid
    finally:
        engine.dispose()
        admin.dispose()
