"""The webhook fast path: a push that verifies is stored and answered without the web framework.

Platforms push in bursts (双11: a thousand a second on one small box) and wait for the answer;
the route in haina.connections.webhooks runs each push through FastAPI's routing, the console's
middlewares and a thread of the pool, which costs more than verifying and storing the push. This
ASGI middleware, outermost in the app, takes `POST /webhooks/<platform>/<connection id>` when
the server runs its group-commit intake: it reads the body, lets the intake verify it and wait
for its commit on the event loop, and answers in the platform's ack format. Anything else —
another path or method, no intake, a connection not cached yet, a push that does not verify, a
body over the size limit, a commit that failed — goes on to the app with the body replayed, so
every outcome the route documents (401/403 with an audit entry, 404, 413, 503, the envelope kept
whole) stays exactly as it is.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haina.connections.webhooks import wake_runner

logger = logging.getLogger(__name__)

PREFIX = "/webhooks/"
PLATFORM_MAX = 16  # as the route's path parameters
CONNECTION_MAX = 64


class WebhookFastPath:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _target(scope)
        intake = _intake(scope) if target is not None else None
        if target is None or intake is None:
            await self.app(scope, receive, send)
            return
        chunks, ended, fits = await _read_body(receive, self.max_body_bytes)
        if fits:
            try:
                outcome = await intake.receive_async(
                    target[0], target[1], "POST", _query(scope), _headers(scope), b"".join(chunks)
                )
            except Exception:  # noqa: BLE001 - the route then answers, and says what failed
                logger.exception("the webhook fast path failed; the route takes the push")
                outcome = None
            if outcome is not None:
                if outcome.stored:
                    wake_runner(scope.get("app"))
                await _answer(send, outcome.status, outcome.body, outcome.content_type)
                return
        await self.app(scope, _replaying(chunks, ended, receive), send)


def _target(scope: Scope) -> tuple[str, str] | None:
    """(platform, connection id) of a webhook POST, else None."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    path: str = scope.get("path", "")
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    platform, connection_id = parts
    if len(platform) > PLATFORM_MAX or len(connection_id) > CONNECTION_MAX:
        return None
    return platform, connection_id


def _intake(scope: Scope) -> Any:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "webhook_intake", None)


def _query(scope: Scope) -> dict[str, str]:
    # As the route reads it (Starlette's query params): blanks kept, the last value wins.
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))


def _headers(scope: Scope) -> dict[str, str]:
    # As the route reads it (dict of Starlette's headers): lower-case names, the first value wins.
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))  # ASGI names are lower-case
    return found


async def _read_body(receive: Receive, limit: int) -> tuple[list[bytes], bool, bool]:
    """The body's chunks read so far, whether its last chunk was among them, and whether it
    fits `limit` (reading stops at the limit; the app then reads the rest, and refuses it)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        ended = not message.get("more_body", False)
        if size > limit or ended:
            return chunks, ended, size <= limit


def _replaying(chunks: list[bytes], ended: bool, receive: Receive) -> Receive:
    """A receive that gives the app the chunks already read, then whatever is left."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or not ended}
        return await receive()  # the rest of a long body, or the client's disconnect

    return replay


async def _answer(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
