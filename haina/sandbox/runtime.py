"""The sandbox inside the Haina server (demo): a generated merchant served under /sandbox, with a
live ticker that keeps producing orders, contacts and chats."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI

from haina.core import clock
from haina.core.settings import Settings
from haina.sandbox.app import create_sandbox_app
from haina.sandbox.generator import generate_world
from haina.sandbox.live import LiveTicker
from haina.sandbox.state import SandboxState

log = logging.getLogger("haina.sandbox")


@dataclass
class EmbeddedSandbox:
    state: SandboxState
    app: FastAPI
    ticker: LiveTicker

    def start(self) -> None:
        self.ticker.start()

    def stop(self) -> None:
        self.ticker.stop()


def build_embedded_sandbox(settings: Settings) -> EmbeddedSandbox:
    # History up to today (midnight UTC, so a restart the same day serves the same merchant).
    today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    world = generate_world(settings.sandbox_seed, settings.sandbox_customers, start=today)
    state = SandboxState(world)
    ticker = LiveTicker(state, settings.sandbox_seed, orders_per_minute=settings.sandbox_orders_per_minute)
    log.info(
        "sandbox merchant %s: %d customers, %d orders, %d contacts",
        world.merchant_name,
        len(world.people),
        len(world.orders),
        len(world.contacts),
    )
    return EmbeddedSandbox(state=state, app=create_sandbox_app(state, prefix=""), ticker=ticker)
