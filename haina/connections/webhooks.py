"""Webhooks in: GET and POST /webhooks/<platform>/<connection id>, public (the platform's signature
is the authentication). The raw body is verified by the connector, its items are written to the
inbox in the request's one transaction, committed before the answer leaves; then the event runner
is woken so the push is processed at once. See service.receive_webhook for the outcomes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Path, Request
from fastapi.responses import Response

from haina.connections import service
from haina.web.database import SessionDep
from haina.web.security import PUBLIC, client_ip

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

PlatformName = Annotated[str, Path(max_length=16)]
ConnectionId = Annotated[str, Path(max_length=64)]


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: signatures are computed over these bytes."""
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]


def _wake_runner(app: FastAPI) -> None:
    runner = getattr(app.state, "event_runner", None)
    if runner is not None:
        runner.wake()


def _answer(
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    platform: str,
    connection_id: str,
    body: bytes,
) -> Response:
    database = request.app.state.database
    service.bind_settings(database)
    outcome = service.receive_webhook(
        session,
        database,
        request.app.state.settings,
        platform,
        connection_id,
        request.method,
        dict(request.query_params),
        dict(request.headers),
        body,
        ip=client_ip(request),
    )
    if outcome.stored:
        background.add_task(_wake_runner, request.app)
    return Response(content=outcome.body, status_code=outcome.status, media_type=outcome.content_type)


@router.get("/{platform}/{connection_id}", dependencies=[PUBLIC])
def verify_url(
    platform: PlatformName,
    connection_id: ConnectionId,
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    body: RawBody,
) -> Response:
    """URL verification (WeCom answers the decrypted echostr) and platforms that push by GET."""
    return _answer(request, session, background, platform, connection_id, body)


@router.post("/{platform}/{connection_id}", dependencies=[PUBLIC])
def receive(
    platform: PlatformName,
    connection_id: ConnectionId,
    request: Request,
    session: SessionDep,
    background: BackgroundTasks,
    body: RawBody,
) -> Response:
    """A push: verified, stored once per dedupe key, answered in the platform's ack format."""
    return _answer(request, session, background, platform, connection_id, body)
