"""`haina archive pull | add-key`: intake of a tenant's WeCom message archive.

The chats come through the WeCom Finance SDK (`--sdk-path` or $HAINA_WECOM_FINANCE_SDK); a
WeCom connection whose base URL points at the sandbox uses the sandbox's archive instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from haina.archive.sources import ChatSource, Decryptor
    from haina.core.settings import Settings

archive_app = typer.Typer(help="Message archive (会话存档): intake, keys", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _owner_actor(session: Any, tenant_id: str) -> Any:
    from sqlalchemy import select

    from haina.core.auth.actor import Actor
    from haina.core.auth.models import User

    user = session.scalar(select(User).where(User.tenant_id == tenant_id, User.role == "owner").limit(1))
    if user is None:
        raise _fail("this tenant has no owner to act as; create one with `haina user create`")
    return Actor(user.id, tenant_id, user.username, user.display_name, user.role, via="cli")


def _source(connection: Any, settings: Settings, sdk_path: str) -> tuple[ChatSource, Decryptor, Any]:
    from haina.archive.finance_sdk import ENV_PATH, FinanceSdk, FinanceSdkMissing
    from haina.archive.sources import SandboxDecryptor, WeComHttpSource
    from haina.connections.service import credentials_of
    from haina.platforms.base import Endpoint
    from haina.platforms.wecom.client import WeComClient

    credentials = credentials_of(connection, settings)
    if "/sandbox/" in (connection.base_url or "") and not sdk_path:
        client = WeComClient(credentials, Endpoint(connection.base_url))
        return WeComHttpSource(client), SandboxDecryptor(), client
    secret = credentials.extra.get("msgaudit_secret") or credentials.app_secret
    try:
        sdk = FinanceSdk(credentials.app_key, secret, path=sdk_path or None)
    except FinanceSdkMissing as error:
        raise _fail(f"{error} (or set {ENV_PATH})")
    return sdk, sdk, sdk


@archive_app.command("pull")
def pull(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    connection: Annotated[str, typer.Option(help="id of the tenant's WeCom connection")],
    sdk_path: Annotated[
        str, typer.Option(envvar="HAINA_WECOM_FINANCE_SDK", help="libWeWorkFinanceSdk_C.so")
    ] = "",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
) -> None:
    """Pull new archived chats from the saved seq until there are none."""
    from haina.archive import tasks
    from haina.connections.service import get_connection
    from haina.core.database import Database
    from haina.core.settings import get_settings
    from haina.core.tenancy.service import get_tenant_by_slug

    settings = get_settings()
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant_id = get_tenant_by_slug(session, tenant).id
        found = get_connection(session, tenant_id, connection)
        if found.platform != "wecom":
            raise _fail("the archive comes from a WeCom connection")
        corp_id = found.shop_id
        source, decryptor, handle = _source(found, settings, sdk_path)
    try:
        result = tasks.run_intake(database, tenant_id, corp_id, source, decryptor, limit=limit)
    finally:
        handle.close()
    typer.echo(
        f"stored {result.stored} messages in {result.batches} batches up to seq {result.last_seq}; "
        f"{result.undecrypted} wait for a key, {result.alerts} alerts, {result.duplicates} duplicates"
    )


@archive_app.command("add-key")
def add_key(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    version: Annotated[int, typer.Option(help="publickey_ver of this key in the WeCom console")],
    private_key: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="PEM file of the RSA private key")
    ],
) -> None:
    """Store the RSA private key of one key version (encrypted), then decrypt what waited for it."""
    from haina.archive import service
    from haina.archive.sources import SandboxDecryptor
    from haina.core.database import Database
    from haina.core.settings import get_settings
    from haina.core.tenancy.service import get_tenant_by_slug

    settings = get_settings()
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant_id = get_tenant_by_slug(session, tenant).id
        service.add_key(session, _owner_actor(session, tenant_id), settings, version, private_key.read_text())
    typer.echo(f"key version {version} stored")
    if settings.sandbox_enabled:
        with database.unit_of_work() as session:
            result = service.retry_undecrypted(session, tenant_id, SandboxDecryptor(), settings)
        typer.echo(f"decrypted {result.stored} waiting messages")


def register(app: typer.Typer) -> None:
    app.add_typer(archive_app, name="archive")
