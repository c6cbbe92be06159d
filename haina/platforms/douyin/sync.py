"""Douyin 抖店 order stream: `order.searchList` by update time, oldest first, pages from 0, `size`
≤ 100 (REFERENCE §6.3). Douyin only lists orders created in the last 90 days, so a first run
reaches back 90 days unless the spine gives a start. The window limit is UNCONFIRMED: one day
keeps every window small.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from haina.platforms.canonical import CanonicalRecord
from haina.platforms.douyin.client import DouyinClient
from haina.platforms.douyin.mapping import map_orders
from haina.platforms.reading import answer_count, answer_list
from haina.platforms.windowed import Batch, Listing, WindowedStream

WINDOW = timedelta(days=1)
PAGE_SIZE = 100
HORIZON = timedelta(days=90)


def fetch_changed(client: DouyinClient, start: datetime, end: datetime, page: int) -> Batch:
    """One page of the orders updated in [start, end), mapped."""
    data = client.call(
        "order.searchList",
        {
            "update_time_start": int(start.timestamp()),
            "update_time_end": int(end.timestamp()),
            "order_by": "update_time",
            "order_asc": True,
            "page": page,
            "size": PAGE_SIZE,
        },
    )
    orders, bad = map_orders(answer_list(data, "shop_order_list"), client.shop_id)
    records: list[CanonicalRecord] = list(orders)
    return Batch(records, bad, has_next=(page + 1) * PAGE_SIZE < answer_count(data, "total"))


ORDERS = WindowedStream(
    name="orders",
    backfill=Listing(fetch_changed, WINDOW),
    increment=Listing(fetch_changed, WINDOW),
    horizon=HORIZON,
    first_page=0,
)
