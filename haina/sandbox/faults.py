"""Fault injection shared by every emulator: throttling, 5xx, slow answers and dropped pushes.

A test (or `POST /sandbox/_control/faults`) sets a plan per platform; each emulator asks
`decide()` before answering and renders a throttle or server error in its own platform's format.
Decisions are drawn from a seeded RNG, so a fault storm is reproducible.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field


@dataclass
class FaultPlan:
    throttle_rate: float = 0.0  # share of requests answered with the platform's throttle error
    # Every request throttled for this long from the first request the plan sees (a storm that
    # began when the plan was set could pass unseen while a slow caller was still setting up).
    throttle_for_seconds: float = 0.0
    error_rate: float = 0.0  # share answered with HTTP 5xx
    slow_ms: int = 0  # added latency on every request
    drop_push_rate: float = 0.0  # share of outgoing pushes silently dropped
    seed: int = 0
    set_at: float = field(default_factory=time.monotonic)
    storm_started_at: float | None = None  # the first request under throttle_for_seconds

    def storm_left(self, now: float) -> float:
        """Seconds of the throttling storm still to come (0 when over or none)."""
        if not self.throttle_for_seconds:
            return 0.0
        started = self.storm_started_at if self.storm_started_at is not None else now
        return max(0.0, self.throttle_for_seconds - (now - started))


class Faults:
    """Current fault plans by platform; thread-safe."""

    def __init__(self) -> None:
        self._plans: dict[str, FaultPlan] = {}
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = {}

    def set(self, platform: str, plan: FaultPlan) -> None:
        with self._lock:
            plan.set_at = time.monotonic()
            self._plans[platform] = plan
            self._rngs[platform] = random.Random(plan.seed)

    def clear(self, platform: str | None = None) -> None:
        with self._lock:
            if platform is None:
                self._plans.clear()
                self._rngs.clear()
            else:
                self._plans.pop(platform, None)
                self._rngs.pop(platform, None)

    def plan(self, platform: str) -> FaultPlan | None:
        return self._plans.get(platform)

    def decide(self, platform: str) -> str | None:
        """'throttle', 'error' or None for a request; sleeps first when the plan says slow."""
        plan = self._plans.get(platform)
        if plan is None:
            return None
        if plan.slow_ms:
            time.sleep(plan.slow_ms / 1000)
        with self._lock:
            # The plan may have been replaced or cleared during the sleep: decide by the current one.
            plan, rng = self._plans.get(platform), self._rngs.get(platform)
            if plan is None or rng is None:
                return None
            now = time.monotonic()
            if plan.throttle_for_seconds and plan.storm_started_at is None:
                plan.storm_started_at = now
            if plan.storm_left(now) > 0:
                outcome: str | None = "throttle"
            elif plan.throttle_rate and rng.random() < plan.throttle_rate:
                outcome = "throttle"
            elif plan.error_rate and rng.random() < plan.error_rate:
                outcome = "error"
            else:
                outcome = None
            if outcome:
                counts = self.counts.setdefault(platform, {})
                counts[outcome] = counts.get(outcome, 0) + 1
            return outcome

    def drop_push(self, platform: str) -> bool:
        plan = self._plans.get(platform)
        if plan is None or not plan.drop_push_rate:
            return False
        with self._lock:
            rng = self._rngs.get(platform)
            if rng is None:  # cleared meanwhile
                return False
            dropped = rng.random() < plan.drop_push_rate
            if dropped:
                counts = self.counts.setdefault(platform, {})
                counts["dropped_push"] = counts.get("dropped_push", 0) + 1
            return dropped
