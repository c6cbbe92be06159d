"""JD order stream: `jingdong.pop.order.search` by modified time, in windows of at most one month,
pages from 1 (`page`/`page_size`), oldest first.

The window limit and page size are third-party figures ("不得相差超过1个月", "最大 page_size 50")
and the `dateType`/`sortType` values are UNCONFIRMED (REFERENCE §5.2): each lives in one constant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from haina.platforms.canonical import CanonicalRecord
from haina.platforms.jd.client import JdClient, shanghai_text
from haina.platforms.jd.mapping import ORDER_STATUSES, map_orders
from haina.platforms.reading import answer_count, answer_list
from haina.platforms.windowed import Batch, Listing, WindowedStream

WINDOW = timedelta(days=30)
PAGE_SIZE = 50
HORIZON = timedelta(days=365)  # how far a first run reaches back when the spine gives no start
DATE_TYPE_MODIFIED = 0
SORT_OLDEST_FIRST = 0
# optional_fields is required by JOS: exactly the fields the mapping reads.
OPTIONAL_FIELDS = (
    "orderId,venderId,orderTotalPrice,orderSellerPrice,orderPayment,freightPrice,sellerDiscount,"
    "orderState,orderStateRemark,orderStartTime,orderEndTime,modified,paymentConfirmTime,"
    "consigneeInfo,itemInfoList,open_id_buyer,xid_buyer"
)


def fetch_changed(client: JdClient, start: datetime, end: datetime, page: int) -> Batch:
    """One page of the orders modified in [start, end), mapped."""
    answer = client.call(
        "jingdong.pop.order.search",
        {
            "start_date": shanghai_text(start),
            "end_date": shanghai_text(end),
            "order_state": ",".join(ORDER_STATUSES),  # every state we can map
            "optional_fields": OPTIONAL_FIELDS,
            "page": str(page),
            "page_size": str(PAGE_SIZE),
            "dateType": DATE_TYPE_MODIFIED,
            "sortType": SORT_OLDEST_FIRST,
        },
    )
    result = client.result(answer, "searchorderinfo_result")
    orders, bad = map_orders(answer_list(result, "orderInfoList"), client.shop_id)
    records: list[CanonicalRecord] = list(orders)
    return Batch(records, bad, has_next=page * PAGE_SIZE < answer_count(result, "orderTotal"))


ORDERS = WindowedStream(
    name="orders",
    backfill=Listing(fetch_changed, WINDOW),
    increment=Listing(fetch_changed, WINDOW),
    horizon=HORIZON,
    first_page=1,
)
