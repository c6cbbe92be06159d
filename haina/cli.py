"""`haina …` commands: serve, worker, demo, db upgrade, user create, keys, sandbox."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from haina.archive.cli import register as register_archive_commands
from haina.connections.cli import register as register_connection_commands
from haina.core.settings import SettingsError, get_settings
from haina.customers.cli import register as register_oneid_commands

app = typer.Typer(help="海纳 Haina SCRM", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database migrations", no_args_is_help=True)
user_app = typer.Typer(help="Console and API users", no_args_is_help=True)
keys_app = typer.Typer(help="Field-encryption keys", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
register_connection_commands(app)  # connect, sync, platform
register_oneid_commands(app)  # oneid rebuild, oneid link
register_archive_commands(app)  # archive pull, archive add-key

try:  # the sandbox commands come with the sandbox package
    from haina.sandbox.cli import sandbox_app

    app.add_typer(sandbox_app, name="sandbox")
except ImportError:  # pragma: no cover - during development of the sandbox
    pass


def _settings():
    try:
        return get_settings()
    except SettingsError as error:
        typer.secho(f"configuration error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from haina.core.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {settings.database_url.split('@')[-1]} is at {revision}")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="owner, admin, operator, agent, finance or technician")] = "owner",
    tenant: Annotated[str, typer.Option(help="tenant slug; created if missing")] = "default",
    tenant_name: Annotated[str | None, typer.Option(help="display name of a new tenant")] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
    password: Annotated[str | None, typer.Option(help="prompted for when absent")] = None,
    phone: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a user (and the tenant, if new)."""
    from haina.core.auth.service import NewUser, create_user
    from haina.core.database import Database
    from haina.core.errors import DomainError
    from haina.core.tenancy.service import get_or_create_tenant

    settings = _settings()
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            tenant_row = get_or_create_tenant(session, tenant, tenant_name or tenant)
            create_user(
                session,
                tenant_row.id,
                NewUser(username, display_name or username, role, password, phone),
                settings,
            )
    except DomainError as error:
        typer.secho(f"cannot create user: {error.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"created {role} '{username}' in tenant '{tenant}'")


@keys_app.command("generate")
def keys_generate(version: int = 1) -> None:
    """Print a new encryption key entry for HAINA_ENCRYPTION_KEYS (prepend it to rotate)."""
    from haina.core.crypto import generate_key_spec

    typer.echo(generate_key_spec(version))


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """Re-encrypt stored PII with the current (first) key after a rotation."""
    from haina.core.auth.service import reencrypt_user_phones
    from haina.core.database import Database

    settings = _settings()
    from haina.connections.service import reencrypt_credentials

    with Database(settings).unit_of_work() as session:
        count = reencrypt_user_phones(session, settings) + reencrypt_credentials(session, settings)
    typer.echo(f"re-encrypted {count} values with key version {settings.encryption_keys.split(':', 1)[0]}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    reload: bool = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the console, API and webhooks."""
    import uvicorn

    _settings()
    uvicorn.run(
        "haina.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_level="info",
    )


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="worker processes")] = 2,
    queues: Annotated[
        str,
        typer.Option(
            help="comma-separated queue names (default: haina.records,haina.events — records "
            "first; a worker of its own on haina.records keeps pushes from waiting behind reactions)"
        ),
    ] = "",
    loglevel: str = "info",
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="lower CPU priority (Unix nice) for the workers, so a server on the same machine "
            "answers pushes first while the workers catch up",
        ),
    ] = 0,
    pool: Annotated[
        str,
        typer.Option(
            help="Celery pool: prefork (worker processes) or solo (tasks run in the worker's own "
            "process, one at a time, without handing each to a child: the lower latency for a "
            "records worker of concurrency 1)"
        ),
    ] = "prefork",
) -> None:
    """Run Celery workers for the event dispatcher (HAINA_TASK_MODE=celery)."""
    if pool not in ("prefork", "solo"):
        raise typer.BadParameter("--pool is prefork or solo")
    settings = _settings()
    if nice:
        os.nice(nice)  # inherited by the pool's processes
    if settings.task_mode != "celery":
        typer.secho(
            "HAINA_TASK_MODE is not 'celery': the server runs events on its own threads",
            fg=typer.colors.YELLOW,
            err=True,
        )
    from haina.core.events.celery_app import EVENTS_QUEUE, RECORDS_QUEUE, celery_app

    argv = [
        "worker",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        f"--loglevel={loglevel}",
        f"--queues={queues or f'{RECORDS_QUEUE},{EVENTS_QUEUE}'}",
    ]
    celery_app.worker_main(argv)


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    seed: Annotated[int, typer.Option(help="seed of the generated demo merchant")] = 7,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Migrate, seed a demo merchant with logins for every role, and serve it."""
    os.environ.setdefault("HAINA_DEMO_MODE", "true")
    os.environ.setdefault("HAINA_SANDBOX_ENABLED", "true")
    os.environ.setdefault("HAINA_SANDBOX_SEED", str(seed))
    # The sandbox pushes to this server's webhooks, so it must know where the server listens.
    os.environ.setdefault("HAINA_BASE_URL", f"http://{host}:{port}")
    from haina.core.settings import reset_settings
    from haina.demo import DEMO_PASSWORD, seed_demo

    reset_settings()
    settings = _settings()
    logins = seed_demo(settings, seed=seed)
    typer.secho("\n海纳 Haina demo is ready", fg=typer.colors.GREEN, bold=True)
    typer.echo(f"  console: http://{host}:{port}/   API docs: http://{host}:{port}/api/docs")
    for username, role in logins:
        typer.echo(f"  login: {username:<12} password: {DEMO_PASSWORD}   ({role})")
    sys.stdout.flush()
    if serve_after:
        serve(host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    app()
