"""`haina connect`, `haina sync` and `haina platform sign | wecom-decrypt`.

Registered on the main app by `register(app)`; heavy imports happen inside the commands so
`haina --help` stays quick.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from haina.connections.service import SyncProgress
    from haina.core.settings import Settings

platform_app = typer.Typer(
    help="Platform signatures and callback crypto, for debugging", no_args_is_help=True
)

# A non-terminal (a log file, CI) gets a progress line at most this often.
PLAIN_PROGRESS_SECONDS = 5.0


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _settings() -> Settings:
    from haina.core.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as error:
        raise _fail(f"configuration error: {error}", 2)


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise _fail(f"--extra {pair!r}: use key=value", 2)
        extra[key.strip()] = value
    return extra


def connect(
    platform: Annotated[str, typer.Argument(help="wecom, youzan, taobao, tmall, jd, pdd or douyin")],
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    name: Annotated[str, typer.Option(help="a name for this shop or corp")],
    app_key: Annotated[str, typer.Option(help="app key (the corp id for WeCom, client id for Youzan)")],
    app_secret: Annotated[str, typer.Option(help="app secret; stored encrypted, never shown again")],
    shop_id: Annotated[str, typer.Option(help="shop id (the corp id for WeCom)")] = "",
    base_url: Annotated[
        str, typer.Option(help="API base URL; empty: the platform's production gateway")
    ] = "",
    backup_url: Annotated[str, typer.Option(help="backup API base URL")] = "",
    access_token: Annotated[str, typer.Option(help="access token, when the shop already granted one")] = "",
    refresh_token: Annotated[str, typer.Option(help="refresh token")] = "",
    extra: Annotated[
        list[str] | None,
        typer.Option(help="platform setting key=value, repeatable (WeCom: callback_token, encoding_aes_key)"),
    ] = None,
) -> None:
    """Add a connection to a shop or corp; prints its id and webhook URL."""
    from haina.connections import service
    from haina.core.database import Database
    from haina.core.errors import DomainError
    from haina.core.tenancy.service import get_tenant_by_slug

    settings = _settings()
    new = service.NewConnection(
        platform=platform,
        name=name,
        app_key=app_key,
        app_secret=app_secret,
        shop_id=shop_id,
        base_url=base_url,
        backup_url=backup_url,
        access_token=access_token,
        refresh_token=refresh_token,
        extra=parse_pairs(extra or []),
    )
    database = Database(settings)
    try:
        with database.unit_of_work() as session:
            tenant_row = get_tenant_by_slug(session, tenant)
            connection = service.create_connection(session, tenant_row.id, new, settings)
    except DomainError as error:
        raise _fail(f"cannot connect: {error.message}")
    finally:
        database.dispose()
    typer.echo(f"connected {connection.platform} '{connection.name}' in tenant '{tenant}'")
    typer.echo(f"  id:          {connection.id}")
    typer.echo(f"  webhook URL: {settings.base_url.rstrip('/')}{service.webhook_path(connection)}")
    typer.echo(f"  secret:      {connection.secret_hint}")


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return "--:--"
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def progress_line(progress: SyncProgress) -> str:
    """'orders   1,234 records · 56.7/s · ETA 0:01:23 · 45%'"""
    rate = "-" if progress.rate is None else f"{progress.rate:,.1f}/s"
    percent = "" if progress.progress is None else f" · {progress.progress * 100:.0f}%"
    if progress.is_running:
        tail = f"ETA {format_duration(progress.eta_seconds)}{percent}"
    else:
        tail = f"{progress.status}{percent}"
    bad = f" ({progress.bad_records:,} bad)" if progress.bad_records else ""
    return f"{progress.stream:<10} {progress.records_done:>9,} records{bad} · {rate} · {tail}"


class ProgressPrinter:
    """Rewrites one terminal line per update; elsewhere prints a line now and then."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.is_terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_plain = 0.0
        self.width = 0

    def __call__(self, progress: SyncProgress) -> None:
        line = progress_line(progress)
        if self.is_terminal:
            padding = " " * max(self.width - len(line), 0)
            self.width = len(line)
            self.stream.write("\r" + line + padding + ("\n" if not progress.is_running else ""))
            self.stream.flush()
            return
        now = time.monotonic()
        if not progress.is_running or now - self.last_plain >= PLAIN_PROGRESS_SECONDS:
            self.last_plain = now
            self.stream.write(line + "\n")
            self.stream.flush()


def sync(
    connection_id: Annotated[str, typer.Argument(help="the connection's id (see `haina connect`)")] = "",
    stream: Annotated[
        str | None, typer.Option(help="one stream (orders, refunds, contacts…); default: all")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="run even while the circuit breaker has paused the connection")
    ] = False,
    reconcile: Annotated[
        bool, typer.Option(help="re-pull the recent window instead, without moving cursors")
    ] = False,
    due: Annotated[
        bool, typer.Option(help="run every due sync and reconciliation of every connection once")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="first sync only: backfill from this time (ISO; Beijing time if no zone)"),
    ] = None,
) -> None:
    """Sync a connection's streams from their saved cursors, with a live progress line."""
    from haina.connections import service
    from haina.core.database import Database
    from haina.core.errors import DomainError

    settings = _settings()
    database = Database(settings)
    try:
        if due:
            from haina.connections.tasks import run_scheduled

            done = run_scheduled(database, settings)
            typer.echo(
                f"synced {len(done.synced)}, reconciled {len(done.reconciled)}, failed {len(done.failed)}"
            )
            if done.failed:
                raise typer.Exit(1)
            return
        if not connection_id:
            raise _fail("give a connection id, or --due", 2)
        printer = ProgressPrinter()
        if reconcile:
            results = service.reconcile(
                database, settings, connection_id, streams=[stream] if stream else None, progress=printer
            )
            if any(result.status == "failed" for result in results):
                raise typer.Exit(1)
            return
        try:
            with database.unit_of_work() as session:
                connection = service.load_connection(session, connection_id)
                names = [stream] if stream else list(service.connector_for(connection.platform).streams)
        except DomainError as error:
            raise _fail(f"cannot sync: {error.message}")
        start = parse_since(since) if since else None
        failed = False
        for name in names:
            try:
                service.run_sync(
                    database, settings, connection_id, name, progress=printer, force=force, since=start
                )
            except DomainError as error:
                typer.secho(f"{name}: {error.message}", fg=typer.colors.RED, err=True)
                failed = True
        if failed:
            raise typer.Exit(1)
    finally:
        database.dispose()


def parse_since(text: str) -> datetime:
    from haina.core.clock import SHANGHAI

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"--since {text!r} is not an ISO time like 2025-01-01 or 2025-01-01T08:00+08:00", 2)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)


@platform_app.command("sign")
def sign(
    platform: Annotated[str, typer.Argument(help="taobao, tmall, jd, pdd, douyin or youzan")],
    secret: Annotated[str, typer.Option(help="the app secret")],
    params_json: Annotated[str, typer.Option(help="the request parameters as a JSON object")],
    method: Annotated[
        str | None, typer.Option(help="md5, hmac or hmac-sha256 (as the platform allows)")
    ] = None,
) -> None:
    """Print the signature the platform would expect for these parameters."""
    try:
        parameters = json.loads(params_json)
    except ValueError as error:
        raise _fail(f"--params-json is not JSON: {error}", 2)
    if not isinstance(parameters, dict):
        raise _fail("--params-json must be a JSON object", 2)
    try:
        typer.echo(signature_for(platform, secret, parameters, method))
    except ValueError as error:
        raise _fail(str(error), 2)


def signature_for(platform: str, secret: str, parameters: dict[str, Any], method: str | None) -> str:
    """The gateway signature of `platform` (REFERENCE §3.2, §4.1, §5.1, §6.1; Youzan's legacy
    gateway, or its push `sign` when the parameters are `client_id` and `msg`)."""
    if platform in ("taobao", "tmall"):
        from haina.platforms.taobao import signing as taobao

        return taobao.sign(parameters, secret, method)
    if platform in ("jd", "pdd", "youzan") and method not in (None, "md5"):
        raise ValueError(f"{platform} signs with md5 only")
    if platform == "jd":
        from haina.platforms.jd import signing as jd

        return jd.sign(parameters, secret)
    if platform == "pdd":
        from haina.platforms.pdd import signing as pdd

        return pdd.sign(parameters, secret)
    if platform == "youzan":
        from haina.platforms.youzan import signing as youzan

        if "client_id" in parameters and "msg" in parameters:  # a push message's body-style sign
            return youzan.push_sign(str(parameters["client_id"]), str(parameters["msg"]), secret)
        return youzan.legacy_sign(parameters, secret)
    if platform == "douyin":
        from haina.platforms.douyin import signing as douyin

        missing = [key for key in ("app_key", "method", "timestamp") if key not in parameters]
        if missing:
            raise ValueError(f"douyin parameters need {', '.join(missing)}")
        param_json = parameters.get("param_json", {})
        if not isinstance(param_json, str):
            param_json = douyin.canonical_param_json(param_json)
        return douyin.sign(
            app_key=str(parameters["app_key"]),
            app_secret=secret,
            method=str(parameters["method"]),
            param_json=param_json,
            timestamp=str(parameters["timestamp"]),
            version=str(parameters.get("v", douyin.VERSION)),
            sign_method=method or str(parameters.get("sign_method") or "md5"),
        )
    raise ValueError(
        f"no request signature for platform {platform!r}; use taobao, tmall, jd, pdd, douyin or youzan"
    )


@platform_app.command("wecom-decrypt")
def wecom_decrypt(
    token: Annotated[str, typer.Option(help="the callback Token")],
    aes_key: Annotated[str, typer.Option(help="the EncodingAESKey (43 characters)")],
    receive_id: Annotated[str, typer.Option(help="the corp id (or suite id) the message is for")],
    msg_signature: Annotated[str, typer.Option(help="msg_signature from the callback URL")],
    timestamp: Annotated[str, typer.Option(help="timestamp from the callback URL")],
    nonce: Annotated[str, typer.Option(help="nonce from the callback URL")],
    encrypt: Annotated[str, typer.Option(help="the Encrypt value (or echostr, or the whole XML body)")],
) -> None:
    """Check msg_signature and print the decrypted plaintext of a WeCom callback."""
    from haina.platforms.wecom.crypto import WeComCryptoError, WXBizMsgCrypt

    try:
        crypt = WXBizMsgCrypt(token, aes_key, receive_id)
        if encrypt.lstrip().startswith("<"):
            plaintext = crypt.decrypt_message(encrypt, msg_signature, timestamp, nonce)
        else:
            plaintext = crypt.verify_url(msg_signature, timestamp, nonce, encrypt)
    except WeComCryptoError as error:
        raise _fail(f"cannot decrypt: {error}")
    typer.echo(plaintext)


def register(app: typer.Typer) -> None:
    """Add `connect`, `sync` and `platform …` to the main `haina` app."""
    app.command("connect")(connect)
    app.command("sync")(sync)
    app.add_typer(platform_app, name="platform")
