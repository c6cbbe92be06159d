"""Console: the platform connections page (/platforms). Connections with their status and the
circuit breaker's reason, per-stream progress bars that poll while a sync runs, "sync now", and
the add-connection form, whose secrets are write-only (never rendered back, even after an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from haina.connections import service, tasks
from haina.connections.models import Connection, SyncStatus
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.database import Database
from haina.core.errors import Conflict, InvalidInput
from haina.core.events import inbox
from haina.core.events.models import InboxStatus
from haina.core.i18n import gettext
from haina.core.settings import Settings
from haina.web.database import get_database
from haina.web.security import require
from haina.web.templating import language_of, local_time
from haina.web.views import ConsoleRoute, SessionDep, SettingsDep, error_message, is_htmx, render

router = APIRouter(
    route_class=ConsoleRoute,
    include_in_schema=False,
    default_response_class=HTMLResponse,
)

PlatformsManager = Annotated[Actor, require(Permission.PLATFORMS_MANAGE)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ConnectionId = Annotated[str, Path(max_length=32)]
StreamName = Annotated[str, Path(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")]
ShortText = Annotated[str, Form(max_length=200)]
UrlText = Annotated[str, Form(max_length=500)]
SecretText = Annotated[str, Form(max_length=4000)]
# Form fields shown back after an error: never the secrets.
PUBLIC_FIELDS = ("platform", "name", "shop_id", "base_url", "backup_url", "app_key", "extra_names")


@dataclass(frozen=True)
class StreamView:
    stream: str
    label: str
    status: str
    is_reconcile: bool
    percent: int
    has_progress: bool
    records: int
    figures: str
    error: str


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def stream_views(request: Request, progresses: list[service.SyncProgress]) -> list[StreamView]:
    language = language_of(request)
    views = []
    for progress in progresses:
        is_reconcile = progress.stream.startswith(service.RECONCILE_PREFIX)
        name = progress.stream.removeprefix(service.RECONCILE_PREFIX)
        label = gettext(language, f"connections.stream.{name}", default=name)
        if is_reconcile:
            label = gettext(language, "connections.reconcile_of", stream=label)
        rate = "—" if progress.rate is None else f"{progress.rate:,.1f}"
        records = f"{progress.records_done:,}"
        if progress.is_running:
            eta = _duration(progress.eta_seconds)
            figures = gettext(language, "connections.figures", records=records, rate=rate, eta=eta)
        elif progress.finished_at is not None:
            finished = local_time(progress.finished_at, "%m-%d %H:%M")
            figures = gettext(language, "connections.figures_done", records=records, rate=rate, time=finished)
        else:
            figures = "—"
        views.append(
            StreamView(
                stream=progress.stream,
                label=label,
                status=progress.status,
                is_reconcile=is_reconcile,
                percent=progress.percent or 0,
                has_progress=progress.progress is not None,
                records=progress.records_done,
                figures=figures,
                error=(progress.last_error or "").split("\n", 1)[0]
                if progress.status == SyncStatus.FAILED.value
                else "",
            )
        )
    return views


def _streams_context(
    request: Request, session: Session, actor: Actor, connection: Connection
) -> dict[str, Any]:
    streams = stream_views(request, service.stream_progress(session, actor.tenant_id, connection))
    return {
        "connection": connection,
        "streams": streams,
        "is_running": any(item.status == SyncStatus.RUNNING.value for item in streams),
    }


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    settings: Settings,
    *,
    form: dict[str, str] | None = None,
    form_error: str = "",
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    connections = service.list_connections(session, actor.tenant_id)
    dead = _dead_counts(session, actor.tenant_id)
    rows = []
    for connection in connections:
        rows.append(
            {
                **_streams_context(request, session, actor, connection),
                "is_paused": connection.is_paused(),
                "webhook_url": settings.base_url.rstrip("/") + service.webhook_path(connection),
                "extra_keys": service.extra_keys(connection, settings),
                "dead_letters": dead.get(connection.id, 0),
            }
        )
    context = {
        "rows": rows,
        "platforms": service.known_platforms(),
        "form": form or {},
        "form_error": form_error,
        "form_open": bool(form_error),
        "notice": notice,
    }
    return render(request, "connections/index.html", context, session=session, status_code=status_code)


def _dead_counts(session: Session, tenant_id: str) -> dict[str, int]:
    """Dead inbox items per connection (pushes, bad records, unreadable webhooks), newest 500."""
    counts: dict[str, int] = {}
    for item in inbox.list_items(session, tenant_id, status=InboxStatus.DEAD.value, limit=500):
        if item.connection_id:
            counts[item.connection_id] = counts.get(item.connection_id, 0) + 1
    return counts


@router.get("/platforms")
def connections_page(
    request: Request,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
    created: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    notice = gettext(language_of(request), "connections.created", name=created) if created else ""
    return _page(request, session, actor, settings, notice=notice)


def parse_extra(text: str) -> dict[str, str]:
    """'key=value' lines (blank lines and '#' comments skipped)."""
    extra: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            raise InvalidInput(
                f"line {number} of the platform settings is not key=value", code="invalid_extra"
            )
        extra[key.strip()] = value.strip()
    return extra


@router.post("/platforms")
def create_connection(
    request: Request,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
    platform: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    shop_id: Annotated[str, Form(max_length=64)] = "",
    base_url: UrlText = "",
    backup_url: UrlText = "",
    app_key: ShortText = "",
    app_secret: SecretText = "",
    access_token: SecretText = "",
    refresh_token: SecretText = "",
    extra: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    form = {
        "platform": platform,
        "name": name,
        "shop_id": shop_id,
        "base_url": base_url,
        "backup_url": backup_url,
        "app_key": app_key,
        # Only the names of the extra settings come back: their values may be secrets.
        "extra_names": ", ".join(
            line.partition("=")[0].strip() for line in extra.splitlines() if "=" in line
        ),
    }
    try:
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
            extra=parse_extra(extra),
        )
        connection = service.create_connection(session, actor.tenant_id, new, settings, actor=actor)
    except (InvalidInput, Conflict) as error:
        session.rollback()
        message = error_message(request, error.code, error.message)
        if message != error.message:
            message = f"{message}: {error.message}"
        return _page(
            request, session, actor, settings, form=form, form_error=message, status_code=error.status_code
        )
    return RedirectResponse(f"/platforms?created={quote(connection.name)}", status_code=303)


@router.get("/platforms/{connection_id}/progress")
def progress_partial(
    connection_id: ConnectionId, request: Request, actor: PlatformsManager, session: SessionDep
) -> HTMLResponse:
    """The streams of one connection; HTMX polls it while a sync runs."""
    connection = service.get_connection(session, actor.tenant_id, connection_id)
    return render(request, "connections/streams.html", _streams_context(request, session, actor, connection))


@router.post("/platforms/{connection_id}/sync/{stream}")
def sync_now(
    connection_id: ConnectionId,
    stream: StreamName,
    request: Request,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
) -> Response:
    run_id = service.start_sync(session, actor.tenant_id, connection_id, stream, actor=actor)
    # The claim must be committed before the run's thread looks for it.
    session.commit()
    tasks.run_in_background(database, settings, actor.tenant_id, connection_id, stream, run_id)
    if not is_htmx(request):
        return RedirectResponse("/platforms", status_code=303)
    connection = service.get_connection(session, actor.tenant_id, connection_id)
    return render(request, "connections/streams.html", _streams_context(request, session, actor, connection))


@router.post("/platforms/{connection_id}/resume")
def resume(
    connection_id: ConnectionId, actor: PlatformsManager, session: SessionDep, settings: SettingsDep
) -> Response:
    """Clear a circuit-breaker pause: the next scheduled sync runs again."""
    service.update_connection(
        session, actor.tenant_id, connection_id, service.ConnectionChanges(resume=True), settings, actor=actor
    )
    return RedirectResponse("/platforms", status_code=303)


@router.post("/platforms/{connection_id}/active")
def set_active(
    connection_id: ConnectionId,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
    is_active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Enable or disable a connection (a disabled one neither syncs nor accepts webhooks)."""
    if is_active not in ("true", "false"):
        raise InvalidInput("is_active must be 'true' or 'false'", code="invalid_input")
    changes = service.ConnectionChanges(is_active=is_active == "true")
    service.update_connection(session, actor.tenant_id, connection_id, changes, settings, actor=actor)
    return RedirectResponse("/platforms", status_code=303)
