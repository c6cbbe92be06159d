"""The webhook fast path: a verified push on a cached connection is stored and answered without
the app; everything else reaches the app with its body intact (so the route's outcomes stay)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from haina.connections.fast_path import WebhookFastPath
from haina.connections.intake import WebhookIntake
from haina.core.database import Database
from haina.core.events.models import InboxItem
from haina.core.settings import Settings
from tests.connections.fakes import ACK, PLATFORM, SECRET, SIGN_HEADER, push_signature

LIMIT = 2000


class Downstream:
    """Stands in for the app: notes each request it is handed and the body it could read."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append((scope["method"], scope["path"], body))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})


class Runner:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def intake(database: Database, settings: Settings) -> Iterator[WebhookIntake]:
    running = WebhookIntake(database, settings)
    running.start()
    yield running
    running.stop()


def push(order: str, size: int = 0) -> bytes:
    return json.dumps({"messages": [{"id": f"m-{order}", "order": order}], "pad": "x" * size}).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {SIGN_HEADER: push_signature(secret, body), "content-type": "application/json"}


def send_all(
    intake: WebhookIntake | None, requests: list[tuple[str, str, bytes, dict[str, str]]]
) -> tuple[list[httpx.Response], Downstream, Runner]:
    downstream, runner = Downstream(), Runner()
    fast = WebhookFastPath(downstream, max_body_bytes=LIMIT)
    state = SimpleNamespace(webhook_intake=intake, event_runner=runner)
    holder = SimpleNamespace(state=state)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = holder  # as Starlette sets it before its middlewares run
        await fast(scope, receive, send)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://haina.test") as client:
            return [
                await client.request(method, path, content=body, headers=headers)
                for method, path, body, headers in requests
            ]

    return asyncio.run(run()), downstream, runner


def inbox_count(database: Database) -> int:
    with database.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(InboxItem)) or 0)


def test_a_push_on_a_known_connection_is_stored_and_answered_here(
    intake: WebhookIntake, database: Database, connection_id: str
) -> None:
    intake.receive(PLATFORM, connection_id, "POST", {}, signed(push("o-0")), push("o-0"))  # cached now
    path = f"/webhooks/{PLATFORM}/{connection_id}"
    first, again = push("o-1"), push("o-1")
    responses, downstream, runner = send_all(
        intake, [("POST", path, first, signed(first)), ("POST", path, again, signed(again))]
    )
    assert [(r.status_code, r.content) for r in responses] == [(200, ACK), (200, ACK)]
    assert downstream.seen == []
    assert inbox_count(database) == 2  # o-0 and o-1 once: the repeat was a duplicate
    assert runner.wakes == 1


def test_everything_else_reaches_the_app_with_its_body(
    intake: WebhookIntake, database: Database, connection_id: str
) -> None:
    path = f"/webhooks/{PLATFORM}/{connection_id}"
    body, large = push("o-2"), push("o-3", size=3 * LIMIT)
    responses, downstream, _ = send_all(intake, [("POST", path, body, signed(body))])
    assert responses[0].status_code == 299 and downstream.seen == [("POST", path, body)]  # not cached

    intake.receive(PLATFORM, connection_id, "POST", {}, signed(push("o-0")), push("o-0"))  # cached now
    responses, downstream, _ = send_all(
        intake,
        [
            ("POST", path, body, signed(body, "not-the-secret")),
            ("POST", path, large, signed(large)),  # over the limit: the app refuses it
            ("GET", path, b"", {}),
            ("POST", f"{path}/extra", body, signed(body)),
            ("POST", "/api/v1/customers", body, {}),
        ],
    )
    assert [r.status_code for r in responses] == [299] * 5
    assert [(method, seen) for method, _, seen in downstream.seen] == [
        ("POST", body),
        ("POST", large),
        ("GET", b""),
        ("POST", body),
        ("POST", body),
    ]
    assert inbox_count(database) == 1  # only the push that cached the connection


def test_without_an_intake_the_app_answers(database: Database, connection_id: str) -> None:
    body = push("o-4")
    responses, downstream, _ = send_all(
        None, [("POST", f"/webhooks/{PLATFORM}/{connection_id}", body, signed(body))]
    )
    assert responses[0].status_code == 299 and downstream.seen[0][2] == body
