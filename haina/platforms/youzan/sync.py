"""Youzan orders stream: `youzan.trades.sold.get` by update time, in windows, pages from 1
(`page_no` ≤ 100, `page_size` ≤ 100), newest first (REFERENCE §2.3). Each trade brings its
refunds (`refund_order`), so this one stream yields Orders and Refunds.

The API's time ranges include both ends (whole seconds), so a half-open window [start, end) asks
for start … end − 1 s. A window holds at most 100 pages of 100: a shop that changes more than
10,000 trades in one window needs a narrower INCREMENT_WINDOW.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from haina.core.clock import SHANGHAI
from haina.platforms.http import PlatformError
from haina.platforms.reading import answer_count, answer_list
from haina.platforms.windowed import Batch, Listing, WindowedStream, inclusive_end
from haina.platforms.youzan.mapping import map_trades

if TYPE_CHECKING:
    from haina.platforms.youzan.client import YouzanClient

API, VERSION = "youzan.trades.sold.get", "4.0.2"
PAGE_SIZE = 100
LAST_PAGE = 100  # page_no ≤ 100
BACKFILL_WINDOW = timedelta(days=7)
INCREMENT_WINDOW = timedelta(days=1)
HORIZON = timedelta(days=90)  # the API looks back 3 months


def shanghai_text(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def fetch_updated(client: YouzanClient, start: datetime, end: datetime, page: int) -> Batch:
    """One page of the trades updated in [start, end), mapped."""
    if page > LAST_PAGE:
        raise PlatformError(
            "window_too_large", f"more than {LAST_PAGE * PAGE_SIZE} trades changed between {start} and {end}"
        )
    data = client.call(
        API,
        VERSION,
        {
            "start_update": shanghai_text(start),
            "end_update": shanghai_text(inclusive_end(end)),
            "page_no": page,
            "page_size": PAGE_SIZE,
        },
    )
    if not isinstance(data, dict):
        raise PlatformError("unexpected_answer", f"{API} answered no data object")
    records, bad = map_trades(answer_list(data, "full_order_info_list"), client.shop_id, client.decrypt)
    has_next = page * PAGE_SIZE < answer_count(data, "total_results")
    return Batch(records, bad, has_next)


ORDERS = WindowedStream(
    name="orders",
    backfill=Listing(fetch_updated, BACKFILL_WINDOW),
    increment=Listing(fetch_updated, INCREMENT_WINDOW),
    horizon=HORIZON,
)
