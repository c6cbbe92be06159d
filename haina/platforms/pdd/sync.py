"""Pinduoduo order stream. The first run backfills with `pdd.order.list.get` by paid (confirm) time
in 24-hour windows; later runs follow `pdd.order.number.list.increment.get` by update time in
30-minute windows (REFERENCE §4.3). Pages from 1, `page_size` ≤ 100, `has_next` says when to stop
(the list API has no has_next; its `total_count` does).

Pinduoduo only lists paid orders, so paid time is a complete backfill key: every order the
platform will ever show was paid before the backfill's end or changes after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from haina.platforms.canonical import CanonicalRecord
from haina.platforms.pdd.client import PddClient
from haina.platforms.pdd.mapping import map_orders
from haina.platforms.reading import answer_count, answer_list
from haina.platforms.windowed import Batch, Listing, WindowedStream

LIST_WINDOW = timedelta(hours=24)
INCREMENT_WINDOW = timedelta(minutes=30)
PAGE_SIZE = 100
HORIZON = timedelta(days=365)  # how far a first run reaches back when the spine gives no start
ALL_ORDER_STATUSES = 5  # order_status 5 = 全部
ALL_REFUND_STATUSES = 5  # refund_status 5 = 全部


def mapped(client: PddClient, answer: Mapping[str, Any], name: str, has_next: bool) -> Batch:
    orders, bad = map_orders(answer_list(answer, name), client.shop_id)
    records: list[CanonicalRecord] = list(orders)
    return Batch(records, bad, has_next)


def fetch_paid(client: PddClient, start: datetime, end: datetime, page: int) -> Batch:
    """One page of the orders paid in [start, end) (the backfill), mapped."""
    answer = client.call(
        "pdd.order.list.get",
        {
            "start_confirm_at": int(start.timestamp()),
            "end_confirm_at": int(end.timestamp()),
            "order_status": ALL_ORDER_STATUSES,
            "refund_status": ALL_REFUND_STATUSES,
            "page": page,
            "page_size": PAGE_SIZE,
        },
        root="order_list_get_response",
    )
    return mapped(client, answer, "order_list", page * PAGE_SIZE < answer_count(answer, "total_count"))


def fetch_changed(client: PddClient, start: datetime, end: datetime, page: int) -> Batch:
    """One page of the orders updated in [start, end) (the increments), mapped."""
    answer = client.call(
        "pdd.order.number.list.increment.get",
        {
            "start_updated_at": int(start.timestamp()),
            "end_updated_at": int(end.timestamp()),
            "is_lucky_flag": 0,
            "order_status": ALL_ORDER_STATUSES,
            "refund_status": ALL_REFUND_STATUSES,
            "page": page,
            "page_size": PAGE_SIZE,
            "use_has_next": True,
        },
        root="order_sn_increment_get_response",
    )
    return mapped(client, answer, "order_sn_list", answer.get("has_next") is True)


ORDERS = WindowedStream(
    name="orders",
    backfill=Listing(fetch_paid, LIST_WINDOW),
    increment=Listing(fetch_changed, INCREMENT_WINDOW),
    horizon=HORIZON,
    first_page=1,
)
