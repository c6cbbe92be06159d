"""REST: connections (secrets write-only), starting a sync in the background, and its progress.

The router's lifespan also starts the embedded sync scheduler (haina.connections.tasks), when the
server runs its event workers: it runs after the app's own lifespan has started them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Path
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from haina.connections import service, tasks
from haina.connections.models import Connection
from haina.connections.schemas import (
    ConnectionCreate,
    ConnectionOut,
    ConnectionUpdate,
    StreamProgressOut,
    SyncStartedOut,
)
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.database import Database
from haina.core.settings import Settings
from haina.web.database import SessionDep, get_database, get_settings
from haina.web.security import require


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler = None
    # The app's lifespan ran first: a runner means this server does background work.
    if getattr(app.state, "event_runner", None) is not None:
        scheduler = tasks.SyncScheduler(app.state.database, app.state.settings)
        scheduler.start()
    app.state.sync_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            await run_in_threadpool(scheduler.stop)


router = APIRouter(prefix="/api/v1/connections", tags=["connections"], lifespan=lifespan)

PlatformsManager = Annotated[Actor, require(Permission.PLATFORMS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ConnectionId = Annotated[str, Path(max_length=32)]
StreamName = Annotated[str, Path(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")]


def connection_out(
    session: Session, settings: Settings, tenant_id: str, connection: Connection
) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        platform=connection.platform,
        name=connection.name,
        shop_id=connection.shop_id,
        base_url=connection.base_url,
        backup_url=connection.backup_url,
        is_active=connection.is_active,
        is_paused=connection.is_paused(),
        paused_reason=connection.paused_reason,
        paused_until=connection.paused_until,
        secret_hint=connection.secret_hint,
        extra_keys=service.extra_keys(connection, settings),
        webhook_url=settings.base_url.rstrip("/") + service.webhook_path(connection),
        created_at=connection.created_at,
        updated_at=connection.updated_at,
        streams=[
            StreamProgressOut.of(progress)
            for progress in service.stream_progress(session, tenant_id, connection)
        ],
    )


@router.get("", response_model=list[ConnectionOut])
def list_connections(
    actor: PlatformsManager, session: SessionDep, settings: SettingsDep
) -> list[ConnectionOut]:
    """The tenant's connections with the progress of each stream; no secrets."""
    return [
        connection_out(session, settings, actor.tenant_id, connection)
        for connection in service.list_connections(session, actor.tenant_id)
    ]


@router.post("", response_model=ConnectionOut, status_code=201)
def create_connection(
    body: ConnectionCreate, actor: PlatformsManager, session: SessionDep, settings: SettingsDep
) -> ConnectionOut:
    """Add a shop or corp. The secrets are encrypted at once and never shown again."""
    connection = service.create_connection(
        session, actor.tenant_id, service.NewConnection(**body.model_dump()), settings, actor=actor
    )
    return connection_out(session, settings, actor.tenant_id, connection)


@router.get("/{connection_id}", response_model=ConnectionOut)
def get_connection(
    connection_id: ConnectionId, actor: PlatformsManager, session: SessionDep, settings: SettingsDep
) -> ConnectionOut:
    connection = service.get_connection(session, actor.tenant_id, connection_id)
    return connection_out(session, settings, actor.tenant_id, connection)


@router.patch("/{connection_id}", response_model=ConnectionOut)
def update_connection(
    connection_id: ConnectionId,
    body: ConnectionUpdate,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
) -> ConnectionOut:
    """Change settings or replace secrets; `resume: true` clears a circuit-breaker pause."""
    changes = service.ConnectionChanges(**body.model_dump())
    connection = service.update_connection(
        session, actor.tenant_id, connection_id, changes, settings, actor=actor
    )
    return connection_out(session, settings, actor.tenant_id, connection)


@router.post("/{connection_id}/sync/{stream}", response_model=SyncStartedOut, status_code=202)
def start_sync(
    connection_id: ConnectionId,
    stream: StreamName,
    actor: PlatformsManager,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
    background: BackgroundTasks,
) -> SyncStartedOut:
    """Start a sync of one stream in the background (it overrides a pause); 409 while one runs.
    Follow it at GET /api/v1/connections/{id}/sync."""
    run_id = service.start_sync(session, actor.tenant_id, connection_id, stream, actor=actor)
    # Background tasks run after the response, so after this request's claim is committed.
    background.add_task(
        tasks.run_in_background, database, settings, actor.tenant_id, connection_id, stream, run_id
    )
    return SyncStartedOut(
        connection_id=connection_id,
        stream=stream,
        run_id=run_id,
        status="running",
        progress_url=f"/api/v1/connections/{connection_id}/sync",
    )


@router.get("/{connection_id}/sync", response_model=list[StreamProgressOut])
def sync_progress(
    connection_id: ConnectionId, actor: PlatformsManager, session: SessionDep
) -> list[StreamProgressOut]:
    """Progress of every stream: records, rate (records/s), ETA, last error."""
    connection = service.get_connection(session, actor.tenant_id, connection_id)
    return [
        StreamProgressOut.of(progress)
        for progress in service.stream_progress(session, actor.tenant_id, connection)
    ]
