"""The one ASGI app factory: `haina.web.app:create_app()`."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from haina import __version__
from haina.connections.fast_path import WebhookFastPath
from haina.core.database import Database
from haina.core.heap import freeze_startup_objects
from haina.core.settings import Settings, get_settings
from haina.web.errors import install_error_handlers
from haina.web.middleware import BodyLimitMiddleware, LanguageMiddleware, NulCharacterMiddleware
from haina.web.security import api_routes, declared_access

log = logging.getLogger("haina.web")

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Routers of the app, in order; each module path exposes `router`.
ROUTERS = (
    "haina.web.health",
    "haina.core.auth.api",
    "haina.core.audit.api",
    "haina.core.events.api",
    "haina.web.views",
    "haina.connections.api",
    "haina.connections.webhooks",
    "haina.connections.views",
    "haina.customers.api",
    "haina.customers.views",
    "haina.archive.api",
    "haina.archive.media.api",
    "haina.archive.views",
    "haina.archive.retention.api",
    "haina.archive.retention.views",
    "haina.archive.insights.api",
    "haina.archive.insights.views",
    "haina.archive.alerts.api",
    "haina.archive.alerts.views",
    "haina.tags.lifecycle_views",
    "haina.tags.api",
    "haina.tags.views",
    "haina.engage.views",
    "haina.engage.livecodes.api",
    "haina.engage.livecodes.views",
    "haina.engage.welcome.api",
    "haina.engage.welcome.views",
    "haina.engage.groupcodes.api",
    "haina.engage.groupcodes.views",
    "haina.engage.broadcasts.api",
    "haina.engage.broadcasts.views",
    "haina.engage.moments.api",
    "haina.engage.moments.views",
    "haina.engage.scripts.api",
    "haina.engage.scripts.views",
    "haina.engage.handover.api",
    "haina.engage.handover.views",
    "haina.engage.losses.api",
    "haina.engage.losses.views",
    "haina.engage.media.api",
)


class UndeclaredRouteError(RuntimeError):
    """A route without `require(...)` or `PUBLIC`: access must be declared on purpose."""


def check_route_declarations(app: FastAPI) -> None:
    missing = [
        f"{sorted(info.methods)} {info.path}" for info in api_routes(app) if declared_access(info) is None
    ]
    if missing:
        raise UndeclaredRouteError("routes without a declared permission: " + ", ".join(missing))


def create_app(
    settings: Settings | None = None, database: Database | None = None, *, start_workers: bool = True
) -> FastAPI:
    settings = settings or get_settings()
    database = database or Database(settings)

    sandbox = None
    if settings.sandbox_enabled:
        from haina.sandbox.runtime import build_embedded_sandbox

        sandbox = build_embedded_sandbox(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if start_workers:
            from haina.core.events import start_runner

            runner = start_runner(settings, database)
        app.state.event_runner = runner
        if sandbox is not None and start_workers:
            if settings.demo_mode:
                from haina.demo import connect_demo_tenant, first_sync, start_demo_archive

                connect_demo_tenant(database, settings, sandbox.state)
                # The first backfill now rather than at the scheduler's first tick, then OneID.
                threading.Thread(
                    target=first_sync, args=(database, settings), name="haina-demo-first-sync", daemon=True
                ).start()
                # The sandbox corp archives its chats; the scheduled intake pulls them.
                threading.Thread(
                    target=start_demo_archive,
                    args=(database, settings, sandbox.state),
                    name="haina-demo-archive",
                    daemon=True,
                ).start()
            sandbox.start()
        freeze_startup_objects()
        try:
            yield
        finally:
            if sandbox is not None:
                sandbox.stop()
            if runner is not None:
                runner.stop()

    app = FastAPI(
        title="Haina 海纳 SCRM",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    install_error_handlers(app)
    for module_name in ROUTERS:
        app.include_router(importlib.import_module(module_name).router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.sandbox = sandbox
    if sandbox is not None:
        # A mounted sub-application: the emulators check the platforms' own signatures and
        # tokens, not Haina's permissions, so they stay outside the route-declaration check.
        app.mount("/sandbox", sandbox.app, name="sandbox")
    check_route_declarations(app)
    # Added last runs first: language, then the size limit, then the NUL check (which buffers).
    app.add_middleware(NulCharacterMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        upload_limits={"/api/v1/engage/images": settings.max_upload_bytes},
    )
    app.add_middleware(LanguageMiddleware)
    # Outermost: a push that verifies is stored and answered before any of the above runs.
    app.add_middleware(WebhookFastPath, max_body_bytes=settings.max_body_bytes)
    return app
