"""Shared by the ingest acceptance tests: a connector whose clients retry on a test-sized budget,
and the comparison of stored orders against the sandbox's.

The connection/sync helpers of test_acceptance.py (connect_all, listed, SENSIBLE…) are reused
from there; what lives here is what the newer tests add.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from haina.platforms.base import Connector, Credentials, Endpoint
from haina.platforms.http import RetryPolicy
from haina.sandbox.world import Order
from tests.ingest.test_acceptance import SENSIBLE


@dataclass
class PatientConnector:
    """A real connector whose clients back off on a short, seeded budget (many quick attempts
    instead of five up to 30 s), and which records every backoff sleep. `run_sync(connector=…)`
    takes it in place of the registry's; everything but `make_client` is the real connector's."""

    connector: Connector
    seed: int = 0
    max_attempts: int = 60
    base_delay: float = 0.05
    max_delay: float = 0.2
    longest_requested_wait: float = 300.0
    sleeps: list[float] = field(default_factory=list)

    @property
    def platform(self) -> str:
        return str(getattr(self.connector, "platform", ""))

    @property
    def streams(self) -> Mapping[str, Any]:
        return self.connector.streams

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def make_client(self, credentials: Credentials, endpoint: Endpoint, *, limiter: Any = None) -> Any:
        retry = RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            longest_requested_wait=self.longest_requested_wait,
            random=random.Random(self.seed + len(self.sleeps)),
        )
        return self.connector.make_client(
            credentials, endpoint, limiter=limiter, retry=retry, sleep=self.sleep
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connector, name)


def order_key(platform: str, order: Order) -> str:
    return f"{platform}/{order.shop_id}/{order.order_id}"


def order_differences(
    stored: Mapping[str, Mapping[str, Any]], expected: Iterable[tuple[str, Order]]
) -> dict[str, tuple[Any, ...]]:
    """Every way the stored orders differ from the sandbox's `(platform, order)` pairs: missing,
    extra (stored but not listed), or a wrong amount or status. Empty when they are equal."""
    wanted = {order_key(platform, order): order for platform, order in expected}
    found: dict[str, tuple[Any, ...]] = {}
    for key, order in wanted.items():
        row = stored.get(key)
        if row is None:
            found[key] = ("missing",)
        elif (
            row["paid_fen"] != order.paid_fen
            or row["total_fen"] != order.total_fen
            or row["status"] not in SENSIBLE[order.status]
        ):
            found[key] = (order.status, row["status"], order.paid_fen, row["paid_fen"], order.total_fen)
    found.update({key: ("extra",) for key in set(stored) - set(wanted)})
    return found
