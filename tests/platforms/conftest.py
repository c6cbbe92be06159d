"""Shared fixtures of the connector tests: one generated world of ~300 customers served by the
sandbox on a loopback port for the whole session, and helpers that keep backoff instant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.platforms.live_sandbox import LiveSandbox, serve

SEED, CUSTOMERS = 11, 300


@pytest.fixture(scope="session")
def sandbox() -> Iterator[LiveSandbox]:
    """The shared sandbox. Tests that change the world add or move records and compare with the
    world as it is after the change; fault plans are cleared after every test."""
    with serve(SandboxState(generate_world(SEED, CUSTOMERS))) as live:
        yield live


@pytest.fixture(autouse=True)
def _no_lingering_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").state.faults.clear()


@dataclass
class ShortSleeps:
    """An injected sleep that records what was asked and really waits at most `cap` seconds, so a
    real-time fault storm in the sandbox passes while the backoff asked for is still visible."""

    cap: float = 0.0
    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        if self.cap:
            time.sleep(min(seconds, self.cap))


class PathCounter(httpx.HTTPTransport):
    """A real transport that counts requests by URL path (and by TOP `method` when present)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path
        body = request.content.decode("utf-8", "replace") if request.content else ""
        for part in body.split("&"):
            if part.startswith("method="):
                key = part.removeprefix("method=")
        self.counts[key] = self.counts.get(key, 0) + 1
        return super().handle_request(request)

    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, suffix: str) -> int:
        return sum(count for key, count in self.counts.items() if key.endswith(suffix))
