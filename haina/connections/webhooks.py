"""Webhooks in: GET and POST /webhooks/<platform>/<connection id>, public (the platform's signature
is the authentication). The raw body is verified by the connector and its items are written to
the inbox, committed before the answer leaves; then the event runner is woken so the push is
processed at once. See service.receive_webhook for the outcomes.

When the server runs its background work, pushes go through the group-commit intake
(haina.connections.intake), which shares one commit among the pushes that arrive together;
otherwise each request writes in its own transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from haina.connections import service
from haina.connections.intake import WebhookIntake
from haina.web.security import PUBLIC, client_ip


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    intake = None
    # The app's lifespan ran first: a runner means this server does background work.
    if getattr(app.state, "event_runner", None) is not None:
        intake = WebhookIntake(app.state.database, app.state.settings)
        intake.start()
    app.state.webhook_intake = intake
    try:
        yield
    finally:
        app.state.webhook_intake = None
        if intake is not None:
            await run_in_threadpool(intake.stop)


router = APIRouter(prefix="/webhooks", tags=["webhooks"], lifespan=lifespan)

PlatformName = Annotated[str, Path(max_length=16)]
ConnectionId = Annotated[str, Path(max_length=64)]


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: signatures are computed over these bytes."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def wake_runner(app: Any) -> None:
    """Poll the event runner now, so a stored push is processed at once."""
    runner = getattr(app.state, "event_runner", None)
    if runner is not None:
        runner.wake()


def _answer(
    request: Request, background: BackgroundTasks, platform: str, connection_id: str, body: bytes
) -> Response:
    database = request.app.state.database
    settings = request.app.state.settings
    service.bind_settings(database)
    intake: WebhookIntake | None = getattr(request.app.state, "webhook_intake", None)
    method, query, headers = request.method, dict(request.query_params), dict(request.headers)
    if intake is not None:
        outcome = intake.receive(platform, connection_id, method, query, headers, body, ip=client_ip(request))
    else:
        with database.unit_of_work() as session:
            outcome = service.receive_webhook(
                session,
                database,
                settings,
                platform,
                connection_id,
                method,
                query,
                headers,
                body,
                ip=client_ip(request),
            )
    if outcome.stored:
        background.add_task(wake_runner, request.app)
    return Response(content=outcome.body, status_code=outcome.status, media_type=outcome.content_type)


@router.get("/{platform}/{connection_id}", dependencies=[PUBLIC])
def verify_url(
    platform: PlatformName,
    connection_id: ConnectionId,
    request: Request,
    background: BackgroundTasks,
    body: RawBody,
) -> Response:
    """URL verification (WeCom answers the decrypted echostr) and platforms that push by GET."""
    return _answer(request, background, platform, connection_id, body)


@router.post("/{platform}/{connection_id}", dependencies=[PUBLIC])
def receive(
    platform: PlatformName,
    connection_id: ConnectionId,
    request: Request,
    background: BackgroundTasks,
    body: RawBody,
) -> Response:
    """A push: verified, stored once per dedupe key, answered in the platform's ack format."""
    return _answer(request, background, platform, connection_id, body)
