"""The sandbox served by uvicorn on a loopback port, so connectors are tested over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import uvicorn

from haina.platforms.base import BadRecord, Page, Stream
from haina.sandbox.app import create_sandbox_app
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order


@dataclass
class LiveSandbox:
    state: SandboxState
    url: str  # e.g. http://127.0.0.1:53117/sandbox

    def base_url(self, platform: str) -> str:
        return f"{self.url}/{platform}"


@contextmanager
def serve(state: SandboxState) -> Iterator[LiveSandbox]:
    """Serve `state` until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(create_sandbox_app(state), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    for _ in range(500):  # readiness is an event, not a timing assertion
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("the sandbox server did not start")
    try:
        yield LiveSandbox(state, f"http://127.0.0.1:{port}/sandbox")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


# ---- helpers for the connector tests -----------------------------------------------------


def world_span(orders: list[Order]) -> tuple[datetime, datetime]:
    """Whole seconds just before the first order and just after the last change."""
    start = min(order.created_at for order in orders).replace(microsecond=0) - timedelta(seconds=1)
    end = max(order.modified_at for order in orders).replace(microsecond=0) + timedelta(seconds=1)
    return start, end


@dataclass
class Run:
    records: list[Any]
    bad: list[BadRecord]
    pages: list[Page]
    resumes: int = 0

    @property
    def ids(self) -> list[str]:
        return [record.external_id for record in self.records]


def run_stream(
    stream: Stream,
    client: Any,
    cursor: dict[str, Any] | None,
    until: datetime,
    *,
    resume_on: tuple[type[Exception], ...] = (),
) -> Run:
    """Every page up to `until`, the way the spine runs a stream: each page is stored with its
    cursor, and a run stopped by one of `resume_on` starts again from the last stored cursor."""
    run = Run([], [], [])
    while True:
        try:
            for page in stream.pages(client, cursor, until=until):
                run.records += page.records
                run.bad += page.bad
                run.pages.append(page)
                cursor = page.cursor
            return run
        except resume_on:
            run.resumes += 1
