"""Row ids: `new_id()` in Python, `new_id_in_sql()` made by PostgreSQL for set-based inserts."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from haina.core.database import Database, new_id, new_id_in_sql


def test_python_ids_are_32_random_hex_digits() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_server_ids_look_like_python_ids_and_follow_each_other_in_a_statement(database: Database) -> None:
    before = int(time.time() * 1000)
    with database.unit_of_work() as session:
        ids = list(session.scalars(select(new_id_in_sql()).select_from(func.generate_series(1, 5000))))
    after = int(time.time() * 1000)
    assert len(set(ids)) == 5000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)
    stamps = [int(value[:12], 16) for value in ids]
    assert stamps == sorted(stamps)  # the time comes first: one statement's ids ascend
    assert before - 1000 <= stamps[0] <= stamps[-1] <= after + 1000
