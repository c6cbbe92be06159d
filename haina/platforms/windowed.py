"""Streams that list a time range window by window, for Taobao (orders, refunds) and Youzan (orders
with their refunds).

The same walk as haina.platforms.windows (whose cursor and `Position` it shares: a first run
backfills up to its `until`, later runs list by modified time from where the last stopped,
windows are half-open and a page is stored before the cursor moves past it), with two additions
those platforms need: a page may carry any canonical record (a Youzan trade carries its refunds),
and a `cut` ends a window early at a platform boundary (TOP wants both ends of an increment window
on the same day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from haina.core.clock import SHANGHAI
from haina.platforms.base import BadRecord, Page
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.windows import BACKFILL, INCREMENT, Position, read_time


@dataclass(slots=True)
class Batch:
    """One page of a list API, already mapped, and whether another page follows."""

    records: list[CanonicalRecord] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    has_next: bool = False


Fetch = Callable[[Any, datetime, datetime, int], Batch]  # (client, start, end, page), [start, end)
Cut = Callable[[datetime], datetime]  # the latest end a window starting at `start` may have


@dataclass(frozen=True, slots=True)
class Listing:
    """How to list one window: the API call, the widest window it takes, and where windows end."""

    fetch: Fetch
    width: timedelta
    cut: Cut | None = None


def next_shanghai_midnight(start: datetime) -> datetime:
    """The first midnight (GMT+8) after `start`: windows ending there stay within one day."""
    local = start.astimezone(SHANGHAI)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return midnight.astimezone(UTC)


def inclusive_end(end: datetime) -> datetime:
    """The last whole second of a half-open window, for APIs whose ranges include both ends."""
    return end - timedelta(seconds=1)


@dataclass(slots=True)
class WindowedStream:
    """An incremental stream (implements haina.platforms.base.Stream)."""

    name: str
    backfill: Listing
    increment: Listing
    horizon: timedelta  # how far back a first run reaches when no `since` is given
    first_page: int = 1

    def start(self, cursor: dict[str, Any] | None, until: datetime) -> Position:
        """The position a cursor names. `None` backfills from the horizon; `{"since": iso}`
        backfills from that time (how the spine asks for a chosen history)."""
        if not cursor:
            return Position(BACKFILL, until - self.horizon, self.first_page, until)
        since = read_time(cursor.get("since"), "since")
        if "phase" not in cursor:
            return Position(BACKFILL, since, self.first_page, max(until, since))
        phase = cursor["phase"]
        page = cursor.get("page", self.first_page)
        if phase not in (BACKFILL, INCREMENT) or not isinstance(page, int) or page < self.first_page:
            raise ValueError(f"not a cursor of the {self.name} stream: {cursor!r}")
        return Position(phase, since, page, read_time(cursor.get("backfill_until"), "backfill_until"))

    def reconcile_cursor(self, since: datetime) -> dict[str, Any]:
        """Where a reconciliation of the recent window starts: the increment listing (by
        modification time), so an old order changed in the window is listed again; the backfill
        listing of some platforms goes by creation or payment time and would miss it."""
        since = since.astimezone(UTC).replace(microsecond=0)
        return Position(INCREMENT, since, self.first_page, since).to_cursor()

    def settle(self, position: Position) -> Position:
        """A backfill that has reached its end continues as increments."""
        if position.phase == BACKFILL and position.since >= position.backfill_until:
            return Position(INCREMENT, position.backfill_until, self.first_page, position.backfill_until)
        return position

    def window_end(self, position: Position, until: datetime) -> datetime:
        listing = self.backfill if position.phase == BACKFILL else self.increment
        stop = min(until, position.backfill_until) if position.phase == BACKFILL else until
        end = min(position.since + listing.width, stop)
        if listing.cut is not None:
            end = min(end, listing.cut(position.since))
        return end

    def pages(self, client: Any, cursor: dict[str, Any] | None, *, until: datetime) -> Iterator[Page]:
        # Platforms take whole seconds; cutting here keeps consecutive windows edge to edge.
        until = until.astimezone(UTC).replace(microsecond=0)
        position = self.settle(self.start(cursor, until))
        total = position.remaining(until)
        while position.since < until:
            listing = self.backfill if position.phase == BACKFILL else self.increment
            end = self.window_end(position, until)
            batch = listing.fetch(client, position.since, end, position.page)
            if batch.has_next:
                position = Position(
                    position.phase, position.since, position.page + 1, position.backfill_until
                )
            else:
                position = self.settle(
                    Position(position.phase, end, self.first_page, position.backfill_until)
                )
            left = position.remaining(until)
            yield Page(
                records=batch.records,
                cursor=position.to_cursor(),
                done=position.since >= until,
                bad=batch.bad,
                progress=1.0 - left / total if total else 1.0,
            )
            if position.since >= until:
                return
        # Already caught up: say so once, with the cursor to keep.
        yield Page(records=[], cursor=position.to_cursor(), done=True, progress=1.0)
