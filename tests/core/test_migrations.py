"""Migrations: upgrade on empty SQLite and PostgreSQL (the `database` fixture does it), the models
match the migrations, and downgrade to base works."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from haina.core.migrate import downgrade, upgrade
from haina.models import load_all_models


def test_models_match_migrations(database) -> None:  # type: ignore[no-untyped-def]
    metadata = load_all_models().metadata
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, metadata)
    assert differences == [], f"models and migrations differ; write a migration: {differences}"


def test_downgrade_and_upgrade_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from haina.core.database import make_engine
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    upgrade(url)
    downgrade(url, "base")
    engine = make_engine(make_settings(tmp_path, database_url=url))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(url)
    assert "users" in inspect(engine).get_table_names()
    engine.dispose()
