"""The windowed walk and cursor the JD, Pinduoduo and Douyin order streams rely on
(haina.platforms.windowed over haina.platforms.windows), against an in-memory list API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from haina.platforms.canonical import Order
from haina.platforms.windowed import Batch, Listing, WindowedStream
from haina.platforms.windows import BACKFILL, INCREMENT

START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class FakeShop:
    """A list API over (modified time, order id) pairs, paged by three, logging each call."""

    changes: list[tuple[datetime, str]]
    shop_id: str = "shop"
    calls: list[tuple[str, datetime, datetime, int]] = field(default_factory=list)

    def fetch(self, api: str, start: datetime, end: datetime, page: int) -> Batch:
        self.calls.append((api, start, end, page))
        inside = sorted(order_id for moment, order_id in self.changes if start <= moment < end)
        chunk = inside[(page - 1) * 3 : page * 3]
        orders = [
            Order("x", self.shop_id, order_id, "paid", "1", 0, 0, 0, 0, START, START) for order_id in chunk
        ]
        return Batch(list(orders), [], page * 3 < len(inside))


def stream(horizon: timedelta = timedelta(days=2)) -> WindowedStream:
    def backfill(client: Any, start: datetime, end: datetime, page: int) -> Batch:
        return client.fetch("list", start, end, page)

    def increment(client: Any, start: datetime, end: datetime, page: int) -> Batch:
        return client.fetch("increment", start, end, page)

    return WindowedStream(
        name="orders",
        backfill=Listing(backfill, timedelta(hours=24)),
        increment=Listing(increment, timedelta(hours=6)),
        horizon=horizon,
        first_page=1,
    )


def shop_with(count: int, every: timedelta = timedelta(hours=1)) -> FakeShop:
    return FakeShop([(START + every * number, f"o{number:03d}") for number in range(count)])


def test_first_run_backfills_every_order_once_with_rising_progress() -> None:
    shop = shop_with(40)
    until = START + timedelta(hours=40)
    pages = list(stream().pages(shop, None, until=until))
    ids = [order.external_id for page in pages for order in page.records]
    assert sorted(ids) == sorted(order_id for _, order_id in shop.changes) and len(set(ids)) == len(ids)
    assert [page.done for page in pages] == [False] * (len(pages) - 1) + [True]
    progress = [page.progress or 0.0 for page in pages]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert {api for api, *_ in shop.calls} == {"list"}
    assert all(end - start <= timedelta(hours=24) for _, start, end, _ in shop.calls)
    assert pages[-1].cursor["phase"] == INCREMENT and pages[-1].cursor["since"] == until.isoformat()


def test_later_runs_list_increments_from_where_the_backfill_stopped() -> None:
    shop = shop_with(10)
    first_until = START + timedelta(hours=12)
    cursor = list(stream().pages(shop, {"since": START.isoformat()}, until=first_until))[-1].cursor
    shop.calls.clear()
    shop.changes.append((START + timedelta(hours=13), "late"))
    pages = list(stream().pages(shop, cursor, until=START + timedelta(hours=20)))
    assert [order.external_id for page in pages for order in page.records] == ["late"]
    assert [(api, start) for api, start, _, _ in shop.calls] == [
        ("increment", first_until),
        ("increment", first_until + timedelta(hours=6)),
    ]


def test_a_resumed_run_continues_mid_window_without_gap_or_repeat() -> None:
    shop = shop_with(30, every=timedelta(minutes=30))
    until = START + timedelta(hours=16)
    everything = [
        order.external_id
        for page in stream().pages(shop, {"since": START.isoformat()}, until=until)
        for order in page.records
    ]
    seen: list[str] = []
    cursor: dict[str, Any] | None = {"since": START.isoformat()}
    for stop_after in (2, 1, 3, 100):  # interrupt the run after a few stored pages each time
        for number, page in enumerate(stream().pages(shop, cursor, until=until)):
            seen += [order.external_id for order in page.records]
            cursor = page.cursor
            if number + 1 == stop_after:
                break
    assert seen == everything and len(everything) == 30


def test_an_empty_range_answers_one_done_page_and_a_backfill_may_pause_early() -> None:
    shop = shop_with(5)
    done = stream().pages(
        shop,
        {"phase": INCREMENT, "since": START.isoformat(), "page": 1, "backfill_until": START.isoformat()},
        until=START,
    )
    [page] = list(done)
    assert page.done and page.records == [] and shop.calls == []
    cursor = {
        "phase": BACKFILL,
        "since": START.isoformat(),
        "page": 1,
        "backfill_until": (START + timedelta(days=1)).isoformat(),
    }
    early = list(stream().pages(shop, cursor, until=START + timedelta(hours=3)))
    assert early[-1].done and early[-1].cursor["phase"] == BACKFILL


@pytest.mark.parametrize(
    "cursor",
    [
        {"since": "yesterday"},
        {"since": "2025-01-01T00:00:00"},
        {"phase": "sideways", "since": START.isoformat()},
    ],
)
def test_a_cursor_from_elsewhere_is_refused(cursor: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        list(stream().pages(shop_with(1), cursor, until=START + timedelta(hours=1)))
