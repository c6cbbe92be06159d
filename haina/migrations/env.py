"""Alembic environment: one metadata (every module's tables), URL from the config or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from haina.models import load_all_models

config = context.config
target_metadata = load_all_models().metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from haina.core.settings import get_settings

        url = get_settings().database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def run_migrations_online() -> None:
    url = _url()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
