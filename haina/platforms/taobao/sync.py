"""Taobao/Tmall streams (REFERENCE §3.4, §3.5).

* orders: a first run backfills with `taobao.trades.sold.get` by creation time in windows; later
  runs list `taobao.trades.sold.increment.get` by modified time in windows of at most one day that
  never cross midnight (GMT+8), as TOP requires. Pages with `use_has_next`.
* refunds: `taobao.refunds.receive.get` by modified time, in the same kind of windows.
* tmc: TMC messages polled with `taobao.tmc.messages.consume`. A trade message fetches the trade
  (`taobao.trade.fullinfo.get`); a refund message is a Refund. Messages are confirmed once their
  page is stored: when the stream is resumed after the page, or at the start of the next run
  (the cursor names the ones not yet confirmed). Unconfirmed messages come back, so a crash
  repeats a page instead of losing it.

TOP's ranges include both ends (whole seconds), so a half-open window [start, end) asks for
start … end − 1 s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from haina.core.clock import SHANGHAI
from haina.platforms.base import BadRecord, Page
from haina.platforms.canonical import CanonicalRecord
from haina.platforms.http import PlatformError
from haina.platforms.reading import RecordError, bad_record, mapping, text
from haina.platforms.taobao.mapping import (
    REFUND_FIELDS,
    TRADE_FIELDS,
    map_refund_message,
    map_refunds,
    map_trade,
    map_trades,
    message_content,
    wrapped_list,
)
from haina.platforms.windowed import Batch, Listing, WindowedStream, inclusive_end, next_shanghai_midnight

if TYPE_CHECKING:
    from haina.platforms.taobao.client import TaobaoClient

PAGE_SIZE = 100
BACKFILL_WINDOW = timedelta(days=30)  # trades.sold.get takes creation ranges up to 3 months
INCREMENT_WINDOW = timedelta(days=1)  # increment.get: at most one day, within one day
REFUND_BACKFILL_WINDOW = timedelta(days=7)  # UNCONFIRMED: refunds.receive.get's range limit
HORIZON = timedelta(days=90)  # trades.sold.get looks back 3 months
TMC_QUANTITY = 100
TMC_BATCHES_PER_RUN = 50  # a busy queue still ends a run; the next run goes on
TRADE_NOT_FOUND = "isv.trade-not-exist"


def shanghai_text(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _page(client: TaobaoClient, method: str, params: Mapping[str, object], page: int) -> dict[str, Any]:
    return client.call(method, {**params, "page_no": page, "page_size": PAGE_SIZE, "use_has_next": True})


def _has_next(answer: Mapping[str, Any]) -> bool:
    value = answer.get("has_next", False)
    if not isinstance(value, bool):
        raise PlatformError("unexpected_answer", f"has_next is not a boolean: {value!r}")
    return value


def _trades(client: TaobaoClient, answer: Mapping[str, Any]) -> Batch:
    try:
        raws: list[object] = list(wrapped_list(answer, "trades", "trade"))
    except RecordError as error:
        raise PlatformError("unexpected_answer", error.reason)
    orders, bad = map_trades(raws, client.shop_id, client.shop_platform)
    return Batch(list[CanonicalRecord](orders), bad, _has_next(answer))


def fetch_created(client: TaobaoClient, start: datetime, end: datetime, page: int) -> Batch:
    window = {"start_created": shanghai_text(start), "end_created": shanghai_text(inclusive_end(end))}
    return _trades(client, _page(client, "taobao.trades.sold.get", {"fields": TRADE_FIELDS, **window}, page))


def fetch_modified(client: TaobaoClient, start: datetime, end: datetime, page: int) -> Batch:
    window = {"start_modified": shanghai_text(start), "end_modified": shanghai_text(inclusive_end(end))}
    method = "taobao.trades.sold.increment.get"
    return _trades(client, _page(client, method, {"fields": TRADE_FIELDS, **window}, page))


def fetch_refunds(client: TaobaoClient, start: datetime, end: datetime, page: int) -> Batch:
    window = {"start_modified": shanghai_text(start), "end_modified": shanghai_text(inclusive_end(end))}
    answer = _page(client, "taobao.refunds.receive.get", {"fields": REFUND_FIELDS, **window}, page)
    try:
        raws: list[object] = list(wrapped_list(answer, "refunds", "refund"))
    except RecordError as error:
        raise PlatformError("unexpected_answer", error.reason)
    refunds, bad = map_refunds(raws, client.shop_id, client.shop_platform)
    return Batch(list[CanonicalRecord](refunds), bad, _has_next(answer))


ORDERS = WindowedStream(
    name="orders",
    backfill=Listing(fetch_created, BACKFILL_WINDOW),
    increment=Listing(fetch_modified, INCREMENT_WINDOW, cut=next_shanghai_midnight),
    horizon=HORIZON,
)
REFUNDS = WindowedStream(
    name="refunds",
    backfill=Listing(fetch_refunds, REFUND_BACKFILL_WINDOW, cut=next_shanghai_midnight),
    increment=Listing(fetch_refunds, INCREMENT_WINDOW, cut=next_shanghai_midnight),
    horizon=HORIZON,
)


@dataclass(slots=True)
class TmcStream:
    """TMC messages as records (implements haina.platforms.base.Stream; `until` is not used:
    a run drains the queue)."""

    name: str = "tmc"

    def pages(
        self, client: TaobaoClient, cursor: dict[str, Any] | None, *, until: datetime
    ) -> Iterator[Page]:
        stored = (cursor or {}).get("unconfirmed") or []
        if not isinstance(stored, list) or not all(isinstance(item, int) for item in stored):
            raise ValueError(f"not a cursor of the tmc stream: {cursor!r}")
        if stored:
            client.tmc_confirm(stored)  # their page was stored before this cursor was saved
        for _ in range(TMC_BATCHES_PER_RUN):
            messages = client.tmc_consume(TMC_QUANTITY)
            if not messages:
                yield Page([], {}, True, progress=1.0)
                return
            records, bad, message_ids = self.read(client, messages)
            yield Page(records, {"unconfirmed": message_ids}, False, bad)
            client.tmc_confirm(message_ids)  # resumed: the page is stored
        yield Page([], {}, False)

    def read(
        self, client: TaobaoClient, messages: list[object]
    ) -> tuple[list[CanonicalRecord], list[BadRecord], list[int]]:
        records: list[CanonicalRecord] = []
        bad: list[BadRecord] = []
        message_ids: list[int] = []
        trade_ids: dict[str, None] = {}
        for raw in messages:
            try:
                message = mapping(raw, "a TMC message")
                message_id = message.get("id")
                if isinstance(message_id, int) and not isinstance(message_id, bool):
                    message_ids.append(message_id)
                topic = text(message, "topic", required=True)
                if topic.startswith("taobao_refund_"):
                    records.append(map_refund_message(message, client.shop_id, client.shop_platform))
                elif topic.startswith("taobao_trade_"):
                    trade_ids[text(message_content(message), "tid", required=True)] = None
            except RecordError as error:
                bad.append(bad_record(raw, error.reason, "id"))
        for tid in trade_ids:  # one fetch per trade, however many messages it had
            try:
                answer = client.call("taobao.trade.fullinfo.get", {"tid": tid, "fields": TRADE_FIELDS})
            except PlatformError as error:
                if TRADE_NOT_FOUND in error.message:
                    continue
                raise
            try:
                records.append(map_trade(answer.get("trade"), client.shop_id, client.shop_platform))
            except RecordError as error:
                bad.append(bad_record(answer.get("trade"), error.reason, "tid"))
        return records, bad, message_ids


TMC = TmcStream()
