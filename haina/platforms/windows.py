"""Where a windowed stream stands: the cursor shared by every stream that walks a platform's list
API in time windows (the walk itself is haina.platforms.windowed.WindowedStream; each platform's
`sync.py` says which API, which window limit and which paging).

A run has two phases. The first run backfills from a horizon (or a `since` the caller gives) up
to the `until` of that first run, possibly with a different API (Pinduoduo lists by paid time in
24-hour windows, its update-time API only allows 30 minutes); every later run lists by modified
time from where the last one stopped. Windows are half-open, closed in the past, and a page is
stored before the cursor moves past it, so a resumed run neither skips nor repeats a window. An
order modified while its window is being read drops out of that window, but its new modified
time puts it in a later window or the next run, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BACKFILL, INCREMENT = "backfill", "increment"


@dataclass(frozen=True, slots=True)
class Position:
    """Where a stream resumes: the start of the first window not yet fully stored and the page
    within it; `backfill_until` is where the backfill ends and increments begin."""

    phase: str
    since: datetime
    page: int
    backfill_until: datetime

    def to_cursor(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "since": self.since.isoformat(),
            "page": self.page,
            "backfill_until": self.backfill_until.isoformat(),
        }

    def remaining(self, until: datetime) -> float:
        """Seconds of history still to list before `until` (for progress)."""
        seconds = max((until - self.since).total_seconds(), 0.0)
        if self.phase == BACKFILL:
            # Backfill windows up to backfill_until, then increments from there.
            seconds = max((self.backfill_until - self.since).total_seconds(), 0.0)
            seconds += max((until - self.backfill_until).total_seconds(), 0.0)
        return seconds


def read_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"cursor {name} is not an ISO time: {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"cursor {name} has no time zone: {value!r}")
    return moment.astimezone(UTC).replace(microsecond=0)
