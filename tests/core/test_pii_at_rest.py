"""No plaintext phone of the seeded users in a dump of the database: SQLite file bytes and
`pg_dump` output. The keyed hash still finds the user by phone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from haina.core.auth.models import User
from haina.core.crypto import keyed_hash
from haina.demo import DEMO_USERS, seed_demo
from tests.conftest import make_settings


def _assert_no_phone(blob: bytes, phones: list[str]) -> None:
    for phone in phones:
        assert phone.encode() not in blob, f"plaintext phone {phone} found in the dump"
        assert phone.encode("utf-16-le") not in blob


def test_sqlite_file_has_no_plaintext_phone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'demo.db'}")
    seed_demo(settings)
    phones = [phone for *_, phone in DEMO_USERS]
    blob = b"".join(path.read_bytes() for path in tmp_path.glob("demo.db*"))
    assert b"demo" in blob  # the dump is real: usernames are there
    _assert_no_phone(blob, phones)


@pytest.mark.postgres
def test_pg_dump_has_no_plaintext_phone(tmp_path: Path, postgres_url: str) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is not installed (Debian package postgresql-client)")
    settings = make_settings(tmp_path, database_url=postgres_url)
    seed_demo(settings)
    try:
        dump = subprocess.run(
            [pg_dump, postgres_url.replace("+psycopg", "")], check=True, capture_output=True, timeout=120
        ).stdout
        assert b"COPY public.users" in dump
        _assert_no_phone(dump, [phone for *_, phone in DEMO_USERS])
        from haina.core.database import Database

        database = Database(settings)
        with database.unit_of_work() as session:
            found = session.scalar(
                select(User.username).where(
                    User.phone_hash == keyed_hash(DEMO_USERS[0][3], settings.hash_key)
                )
            )
        database.dispose()
        assert found == DEMO_USERS[0][0]
    finally:
        from haina.core.database import Database
        from tests.conftest import _empty_tables

        cleanup = Database(settings)
        _empty_tables(cleanup)
        cleanup.dispose()
