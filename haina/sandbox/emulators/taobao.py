"""Taobao/Tmall TOP emulator: the signed `/router/rest` gateway, OAuth sessions, trades with masked
receivers and OAID, refunds, and TMC messages over HTTP polling. Tmall shops (platform "tmall")
are served by the same gateway, exactly as on the real platform.

Routes (mounted at `/sandbox/taobao`):
* `GET|POST /router/rest` — common params and signature per REFERENCE §3.1-3.2; methods in
  `METHODS` below; errors in TOP's `error_response` format (§3.6).
* `GET /oauth/authorize` (auto-approves; `shop_id` picks the seller when an app serves several
  shops) and `POST /oauth/token` (authorization_code, refresh_token). `issue_session()` does the
  same in-process for tests and benchmarks.

Options in `state.scratch["taobao"]`: `mask_style` ("tail" | "middle" | "empty" | "plain"),
`increment_same_day` (bool). TMC queues, sessions and codes live there too. Only `format=json` is
served (TOP's default is xml, which answers code 23 here). Trades older than 3 months are not
hidden, so a seeded history stays reachable whatever the clock says.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import operator
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse as _StarletteJSON
from fastapi.responses import RedirectResponse, Response

from haina.core import clock
from haina.core.clock import SHANGHAI
from haina.core.money import fen_to_yuan as _fen_to_yuan
from haina.core.money import split_fen
from haina.platforms.taobao import signing
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Account, Order, Refund, Shop

PLATFORM = "taobao"  # the fault and push-target key for both taobao and tmall shops
SHOP_PLATFORMS = ("taobao", "tmall")

# ---------------------------------------------------------------------------------------------
# UNCONFIRMED — not in any official source we could read (REFERENCE §3 and §7.4); one place to fix.
SESSION_LIFETIME = timedelta(days=1)
REFRESH_LIFETIME = timedelta(days=30)
# Masking of receiver/buyer fields: "tail" → *******1234, "middle" → 138****1234, "empty" → "",
# "plain" → unmasked (an app with the plaintext permission).
DEFAULT_MASK_STYLE = "tail"
# TMC: how long a consumed but unconfirmed message stays invisible before it comes back.
REDELIVERY_AFTER = timedelta(minutes=5)
TMC_RETENTION = timedelta(days=3)  # unread messages are dropped after this long
TMC_PUBLISHER_APP_KEY = "12497914"  # the pub_app_key of the sample message
TMC_QUANTITY = (10, 200)
TMC_CONFIRM_MAX = 200
SESSION_SUB_CODE = "invalid-sessionkey"
# Windows are inclusive at both ends, at whole seconds; the doc does not say.
# `simplify=true` drops the `<method>_response` root and the one-key list wrappers.
# List fields wrap their items in the singular element name, e.g. {"receiver_list": {"receiver": [...]}}.
# The OAuth token endpoint answers errors in the OAuth 2 shape {"error", "error_description"}.
# Sub-codes of our own making: isv.trade-not-exist is documented; isv.oaid-not-match,
# isv.invalid-code and isv.invalid-refresh-token are guesses. A 5xx fault answers HTTP 503 with
# code 10 in the error envelope (a real outage may well send an HTML page instead).
# TMC refund message content: refund_id, tid, oid, refund_fee, refund_phase, modified, seller_nick.
# Trades are of type "fixed" (一口价), which the default `type` group guarantee_trade includes.
# ---------------------------------------------------------------------------------------------

TIMESTAMP_TOLERANCE = timedelta(minutes=10)  # official: the server allows ±10 minutes
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
INCREMENT_MAX_SPAN = timedelta(days=1)

ERROR_MESSAGES = {
    7: "App Call Limited",
    10: "Service Currently Unavailable",
    15: "Remote service error",
    21: "Missing Method",
    22: "Invalid Method",
    23: "Invalid Format",
    24: "Missing Signature",
    25: "Invalid Signature",
    26: "Missing Session",
    27: "Invalid Session",
    28: "Missing App Key",
    29: "Invalid App Key",
    30: "Missing Timestamp",
    31: "Invalid Timestamp",
    32: "Missing Version",
    33: "Invalid Version",
    34: "Unsupported Version",
    40: "Missing Required Arguments",
    41: "Invalid Arguments",
}

TRADE_STATUS = {
    "pending_payment": "WAIT_BUYER_PAY",
    "paid": "WAIT_SELLER_SEND_GOODS",
    "shipped": "WAIT_BUYER_CONFIRM_GOODS",
    "completed": "TRADE_FINISHED",
    "closed": "TRADE_CLOSED",  # TRADE_CLOSED_BY_TAOBAO when closed before payment
    "refunded": "TRADE_CLOSED",
    "partially_refunded": "TRADE_FINISHED",
}
STATUS_GROUPS = {
    "ALL_WAIT_PAY": {"WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY"},
    "ALL_CLOSED": {"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"},
}
TRADE_TOPICS = {
    "pending_payment": "taobao_trade_TradeCreate",
    "paid": "taobao_trade_TradeBuyerPay",
    "shipped": "taobao_trade_TradeSellerShip",
    "completed": "taobao_trade_TradeSuccess",
    "closed": "taobao_trade_TradeClose",
    "refunded": "taobao_trade_TradeClose",
    "partially_refunded": "taobao_trade_TradePartlyRefund",
}
REFUND_STATUS = {
    "requested": "WAIT_SELLER_AGREE",
    "agreed": "WAIT_BUYER_RETURN_GOODS",
    "refused": "SELLER_REFUSE_BUYER",
    "completed": "SUCCESS",
    "closed": "CLOSED",
}
REFUND_TOPICS = {
    "requested": "taobao_refund_RefundCreated",
    "agreed": "taobao_refund_RefundSellerAgreeAgreement",
    "refused": "taobao_refund_RefundSellerRefuseAgreement",
    "completed": "taobao_refund_RefundSuccess",
    "closed": "taobao_refund_RefundClosed",
}
TRADE_TYPE = "fixed"


class TopError(Exception):
    def __init__(self, code: int, sub_code: str = "", sub_msg: str = "", *, status_code: int = 200) -> None:
        super().__init__(sub_msg or ERROR_MESSAGES.get(code, ""))
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        self.status_code = status_code


def invalid(name: str, reason: str) -> TopError:
    return TopError(41, f"isv.invalid-parameter:{name}", reason)


def missing(name: str) -> TopError:
    return TopError(40, f"isv.missing-parameter:{name}", f"缺少必选参数 {name}")


@dataclass
class Session:
    shop_id: str
    app_key: str
    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_expires_at: datetime


@dataclass
class TmcEntry:
    message: dict[str, Any]
    published_at: datetime
    delivered_at: datetime | None = None


@dataclass
class Call:
    """One gateway request after the common checks."""

    state: SandboxState
    params: dict[str, str]
    app_key: str
    shop: Shop | None = None
    session: Session | None = None


class JSONResponse(_StarletteJSON):
    """orjson rendering: the same UTF-8 JSON, several times faster on trade pages."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# --- small helpers -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def numeric_id(text: str) -> int:
    """TOP ids are int64; hash non-numeric world ids to a stable number below 2**53 (JSON-safe)."""
    if text.isdigit() and int(text) < 2**63:
        return int(text)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:6], "big")


@functools.lru_cache(maxsize=1 << 16)
def format_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI).astimezone(UTC)


# Pure conversions repeat across pages and requests; caching them roughly halves a page's cost.
fen_to_yuan = functools.lru_cache(maxsize=1 << 16)(_fen_to_yuan)


def _config(state: SandboxState) -> dict[str, Any]:
    return state.scratch.setdefault(PLATFORM, {})


def _shops(state: SandboxState) -> list[Shop]:
    return [shop for shop in state.world.shops if shop.platform in SHOP_PLATFORMS]


def _cached_index(state: SandboxState, name: str, records: list[Any], key: Callable[[Any], str]) -> dict:
    """An index of a world list, rebuilt when the list grows (records are only ever appended)."""
    config = _config(state)
    cached = config.get(name)
    if cached is None or cached[0] != (id(records), len(records)):
        index: dict[str, Any] = {}
        for record in records:
            index.setdefault(key(record), []).append(record)
        cached = ((id(records), len(records)), index)
        config[name] = cached
    return cached[1]


def _account(state: SandboxState, account_id: str) -> Account | None:
    found = _cached_index(state, "_accounts", state.world.accounts, lambda a: a.account_id).get(account_id)
    return found[0] if found else None


def _refunds_of(state: SandboxState, order_id: str) -> list[Refund]:
    return _cached_index(state, "_refunds", state.world.refunds, lambda r: r.order_id).get(order_id, [])


@functools.lru_cache(maxsize=1 << 16)
def mask(value: str, kind: str, style: str) -> str:
    """Masked receiver/buyer text in the configured style (see the UNCONFIRMED block)."""
    if style == "plain" or not value:
        return value
    if style == "empty":
        return ""
    if kind == "nick":
        return value[0] + "**" + value[-1] if len(value) > 1 else value + "**"
    if kind == "mobile":
        if style == "middle" and len(value) >= 7:
            return value[:3] + "*" * (len(value) - 7) + value[-4:]
        return "*" * max(len(value) - 4, 0) + value[-4:]
    if kind == "name":
        return value[0] + "*" * max(len(value) - 1, 1)
    return "*" * min(len(value), 10)  # street address: nothing of it stays


def oaid_of(order: Order, shop: Shop) -> str:
    """The world's OAID, or one derived from the 4 fields the platform uses, scoped to shop and app."""
    if order.oaid:
        return order.oaid
    return _derived_oaid(
        "|".join(
            (
                shop.app_key,
                shop.shop_id,
                order.receiver_name,
                order.receiver_phone,
                order.address,
                order.order_id,
            )
        )
    )


@functools.lru_cache(maxsize=1 << 16)
def _derived_oaid(material: str) -> str:
    return "1" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:31]


def trade_status(order: Order) -> str:
    if order.status == "closed" and order.paid_at is None:
        return "TRADE_CLOSED_BY_TAOBAO"
    return TRADE_STATUS[order.status]


def _int_parameter(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(name, f"{name} 必须是整数")
    if not low <= value <= high:
        raise invalid(name, f"{name} 必须在 {low} 到 {high} 之间")
    return value


def _time_parameter(params: dict[str, str], name: str, *, required: bool = False) -> datetime | None:
    raw = params.get(name)
    if not raw:
        if required:
            raise missing(name)
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise invalid(name, f"{name} 格式应为 yyyy-MM-dd HH:mm:ss")


def _whole_second(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(microsecond=0)


def _inside(moment: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    if start is None and end is None:
        return True
    moment = _whole_second(moment)
    if moment is None:
        return False
    return (start is None or moment >= start) and (end is None or moment <= end)


def _fields(params: dict[str, str]) -> set[str]:
    raw = params.get("fields", "")
    if not raw:
        raise missing("fields")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _select(record: dict[str, Any], fields: set[str], list_name: str = "orders", item: str = "order") -> dict:
    """Keep the requested top-level fields (and `orders.x` sub-fields); absent values stay absent."""
    chosen = {key: value for key, value in record.items() if key in fields and value is not None}
    if "buyer_nick" in fields and record.get("buyer_open_uid"):
        chosen["buyer_open_uid"] = record["buyer_open_uid"]  # only served alongside buyer_nick
    sub_fields = {name.split(".", 1)[1] for name in fields if name.startswith(f"{list_name}.")}
    if sub_fields and list_name not in fields and list_name in record:
        chosen[list_name] = {
            item: [{k: v for k, v in line.items() if k in sub_fields} for line in record[list_name][item]]
        }
    return chosen


def _page_of(
    records: list[Any], params: dict[str, str], default_size: int
) -> tuple[list[Any], dict[str, Any]]:
    page_no = _int_parameter(params, "page_no", 1, 1, 10**6)
    page_size = _int_parameter(params, "page_size", default_size, 1, 100)
    start = (page_no - 1) * page_size
    page = records[start : start + page_size]
    if params.get("use_has_next") == "true":
        return page, {"has_next": start + page_size < len(records)}
    return page, {"total_results": len(records)}


# --- rendering -----------------------------------------------------------------------------


def render_trade(state: SandboxState, shop: Shop, order: Order) -> dict[str, Any]:
    """Every Trade field the emulator knows; `_select` trims it to the request's `fields`."""
    style = _config(state).get("mask_style", DEFAULT_MASK_STYLE)
    account = _account(state, order.account_id)
    status = trade_status(order)
    refunds = {refund.line_id: refund for refund in _refunds_of(state, order.order_id) if refund.line_id}
    line_totals = [line.price_fen * line.quantity for line in order.lines]
    goods_fen = sum(line_totals)
    # Sub-order payments share the goods payment by line value, so they add up exactly.
    goods_paid = max(order.paid_fen - order.freight_fen, 0)
    line_paid = split_fen(goods_paid, line_totals) if goods_fen > 0 else [0] * len(line_totals)
    lines = []
    for line, line_total, paid in zip(order.lines, line_totals, line_paid, strict=True):
        refund = refunds.get(line.line_id)
        refund_status = REFUND_STATUS[refund.status] if refund else "NO_REFUND"
        oid = numeric_id(line.line_id)
        sub_order = {
            "oid": oid,
            "oid_str": str(oid),
            "num_iid": numeric_id(line.sku_id),
            "sku_id": str(numeric_id(line.sku_id)),
            "title": line.title,
            "price": fen_to_yuan(line.price_fen),
            "num": line.quantity,
            "total_fee": fen_to_yuan(line_total),
            "payment": fen_to_yuan(paid),
            "discount_fee": fen_to_yuan(line_total - paid),
            "status": "TRADE_CLOSED" if refund_status == "SUCCESS" else status,
            "refund_status": refund_status,
            "outer_iid": line.outer_sku or line.sku_id,
            "outer_sku_id": line.outer_sku,
            "pic_path": "",
        }
        if refund:
            sub_order["refund_id"] = numeric_id(refund.refund_id)
        lines.append(sub_order)
    tid = numeric_id(order.order_id)
    nickname = account.nickname if account else ""
    return {
        "tid": tid,
        "tid_str": str(tid),
        "status": status,
        "type": TRADE_TYPE,
        "buyer_nick": mask(nickname, "nick", style),
        "buyer_open_uid": order.buyer_id,
        "buyer_message": order.buyer_message,
        "buyer_rate": False,
        "seller_nick": shop.name,
        "seller_flag": 0,
        "payment": fen_to_yuan(order.paid_fen),
        "total_fee": fen_to_yuan(goods_fen),
        "discount_fee": fen_to_yuan(order.discount_fen),
        "adjust_fee": "0.00",
        "post_fee": fen_to_yuan(order.freight_fen),
        "received_payment": fen_to_yuan(order.paid_fen if order.finished_at else 0),
        "created": format_time(order.created_at),
        "modified": format_time(order.modified_at),
        "pay_time": format_time(order.paid_at),
        "consign_time": format_time(order.shipped_at),
        "end_time": format_time(order.finished_at),
        "receiver_name": mask(order.receiver_name, "name", style),
        "receiver_state": order.province,
        "receiver_city": order.city,
        "receiver_district": order.district,
        "receiver_town": "",
        "receiver_address": mask(order.address, "address", style),
        "receiver_zip": "",
        "receiver_mobile": mask(order.receiver_phone, "mobile", style),
        "receiver_phone": "",
        "oaid": oaid_of(order, shop),
        "num": sum(line.quantity for line in order.lines),
        "num_iid": numeric_id(order.lines[0].sku_id) if order.lines else None,
        "shipping_type": "express",
        "trade_from": "WAP",
        "alipay_no": f"{tid:016d}" if order.paid_at else None,
        "orders": {"order": lines},
    }


def render_refund(state: SandboxState, shop: Shop, refund: Refund, order: Order | None) -> dict[str, Any]:
    style = _config(state).get("mask_style", DEFAULT_MASK_STYLE)
    account = _account(state, order.account_id) if order else None
    return {
        "refund_id": numeric_id(refund.refund_id),
        "tid": numeric_id(refund.order_id),
        "oid": numeric_id(refund.line_id) if refund.line_id else None,
        "total_fee": fen_to_yuan(order.paid_fen) if order else None,
        "refund_fee": fen_to_yuan(refund.amount_fen),
        "status": REFUND_STATUS.get(refund.status, refund.status.upper()),
        "reason": refund.reason,
        "desc": "",
        "created": format_time(refund.created_at),
        "modified": format_time(refund.modified_at),
        "buyer_nick": mask(account.nickname if account else "", "nick", style),
        "buyer_open_uid": order.buyer_id if order else None,
        "seller_nick": shop.name,
        "has_good_return": False,
        "good_status": "BUYER_NOT_RECEIVED",
        "order_status": trade_status(order) if order else None,
        "refund_phase": "aftersale" if order and order.finished_at else "onsale",
    }


# --- sessions ---------------------------------------------------------------------------------


def _sessions(state: SandboxState) -> dict[str, Session]:
    return _config(state).setdefault("sessions", {})


def issue_session(state: SandboxState, shop_id: str) -> str:
    """A fresh session (access_token) for `shop_id`, as if its seller had authorised the app."""
    return _new_session(state, state.world.shop(shop_id)).access_token


def _new_session(state: SandboxState, shop: Shop) -> Session:
    now = clock.now()
    session = Session(
        shop.shop_id,
        shop.app_key,
        f"6{secrets.token_hex(20)}",
        secrets.token_hex(20),
        now + SESSION_LIFETIME,
        now + REFRESH_LIFETIME,
    )
    with state.lock:
        _sessions(state)[session.access_token] = session
    return session


def _token_json(session: Session, shop: Shop) -> dict[str, Any]:
    now = clock.now()
    expires_in = max(int((session.expires_at - now).total_seconds()), 0)
    re_expires_in = max(int((session.refresh_expires_at - now).total_seconds()), 0)
    return {
        "access_token": session.access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": session.refresh_token,
        "re_expires_in": re_expires_in,
        "r1_expires_in": expires_in,
        "r2_expires_in": expires_in,
        "w1_expires_in": expires_in,
        "w2_expires_in": expires_in,
        "taobao_user_nick": urllib.parse.quote(shop.name),
        "taobao_user_id": str(numeric_id(shop.shop_id)),
        "sub_taobao_user_id": "",
        "sub_taobao_user_nick": "",
    }


def _exchange(state: SandboxState, app_key: str, grant_type: str, value: str) -> dict[str, Any]:
    """Trade an authorization code or refresh token for a session; raises KeyError when invalid."""
    now = clock.now()
    with state.lock:
        if grant_type == "authorization_code":
            codes = _config(state).setdefault("codes", {})
            shop_id, code_app_key = codes.pop(value)
            if code_app_key != app_key:
                raise KeyError(value)
        elif grant_type == "refresh_token":
            old = next(s for s in _sessions(state).values() if s.refresh_token == value)
            if old.app_key != app_key or old.refresh_expires_at <= now:
                raise KeyError(value)
            shop_id = old.shop_id
        else:
            raise KeyError(grant_type)
    shop = state.world.shop(shop_id)
    return _token_json(_new_session(state, shop), shop)


# --- TMC ----------------------------------------------------------------------------------------


def _tmc_queue(state: SandboxState, app_key: str) -> dict[int, TmcEntry]:
    queues = _config(state).setdefault("tmc", {})
    return queues.setdefault(app_key, {})


def _publish(state: SandboxState, shop: Shop, topic: str, content: dict[str, Any]) -> None:
    if state.faults.drop_push(PLATFORM):
        return
    now = clock.now()
    with state.lock:
        config = _config(state)
        message_id = config.setdefault("tmc_next_id", 6_151_282_437_412_000_000)
        config["tmc_next_id"] = message_id + 1
        queue = _tmc_queue(state, shop.app_key)
        # Messages nobody fetched expire, as on TMC, so an unread queue does not grow forever.
        while queue:
            oldest = next(iter(queue))
            if now - queue[oldest].published_at <= TMC_RETENTION:
                break
            del queue[oldest]
        queue[message_id] = TmcEntry(
            {
                "id": message_id,
                "topic": topic,
                "pub_app_key": TMC_PUBLISHER_APP_KEY,
                "pub_time": format_time(now),
                "user_id": numeric_id(shop.shop_id),
                "user_nick": shop.name,
                "content": json.dumps(content, ensure_ascii=False, separators=(",", ":")),
            },
            published_at=now,
        )


def _on_change(state: SandboxState, kind: str, record: Any) -> None:
    """Queue the TMC message a trade or refund change produces for the shop's app."""
    if kind not in ("orders", "refunds"):
        return
    try:
        shop = state.world.shop(record.shop_id)
    except (KeyError, AttributeError):
        return
    if shop.platform not in SHOP_PLATFORMS:
        return
    style = _config(state).get("mask_style", DEFAULT_MASK_STYLE)
    if kind == "orders" and isinstance(record, Order):
        account = _account(state, record.account_id)
        content = {
            "buyer_nick": mask(account.nickname if account else "", "nick", style),
            "buyer_open_uid": record.buyer_id,
            "payment": fen_to_yuan(record.paid_fen),
            "status": trade_status(record),
            "oid": numeric_id(record.lines[0].line_id) if record.lines else numeric_id(record.order_id),
            "tid": numeric_id(record.order_id),
            "type": TRADE_TYPE,
            "seller_nick": shop.name,
        }
        _publish(state, shop, TRADE_TOPICS[record.status], content)
    elif kind == "refunds" and isinstance(record, Refund) and record.status in REFUND_TOPICS:
        content = {
            "refund_id": numeric_id(record.refund_id),
            "tid": numeric_id(record.order_id),
            "oid": numeric_id(record.line_id) if record.line_id else numeric_id(record.order_id),
            "refund_fee": fen_to_yuan(record.amount_fen),
            "refund_phase": "onsale",
            "modified": format_time(record.modified_at),
            "seller_nick": shop.name,
        }
        _publish(state, shop, REFUND_TOPICS[record.status], content)


def tmc_consume(call: Call) -> dict[str, Any]:
    quantity = _int_parameter(call.params, "quantity", 100, *TMC_QUANTITY)
    if call.params.get("group_name", "default") != "default":
        return {}  # messages are routed to the default group only
    now = clock.now()
    picked: list[dict[str, Any]] = []
    with call.state.lock:
        for entry in _tmc_queue(call.state, call.app_key).values():
            if len(picked) >= quantity:
                break
            if entry.delivered_at is None or now - entry.delivered_at >= REDELIVERY_AFTER:
                entry.delivered_at = now
                picked.append(entry.message)
    return {"messages": {"tmc_message": picked}} if picked else {}


def _id_list(params: dict[str, str], name: str) -> list[int]:
    raw = params.get(name, "")
    try:
        ids = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise invalid(name, f"{name} 应为逗号分隔的消息 id")
    if len(ids) > TMC_CONFIRM_MAX:
        raise invalid(name, f"一次最多确认 {TMC_CONFIRM_MAX} 条消息")
    return ids


def tmc_confirm(call: Call) -> dict[str, Any]:
    confirmed = _id_list(call.params, "s_message_ids")
    failed = _id_list(call.params, "f_message_ids")
    if not confirmed and not failed:
        raise missing("s_message_ids")
    with call.state.lock:
        queue = _tmc_queue(call.state, call.app_key)
        for message_id in confirmed:
            queue.pop(message_id, None)
        for message_id in failed:
            if message_id in queue:
                queue[message_id].delivered_at = None  # failed ones come back at once
    return {"is_success": True}


def tmc_user_permit(call: Call) -> dict[str, Any]:
    # Every authorised seller is treated as permitted; the call is recorded for inspection.
    assert call.shop is not None
    with call.state.lock:
        _config(call.state).setdefault("permits", {})[call.shop.shop_id] = call.params.get("topics", "")
    return {"is_success": True}


# --- trade and refund methods -------------------------------------------------------------------


def _status_filter(params: dict[str, str]) -> set[str] | None:
    status = params.get("status")
    if not status:
        return None
    return STATUS_GROUPS.get(status, {status})


def _type_matches(params: dict[str, str]) -> bool:
    types = {t.strip() for t in params.get("type", "").split(",") if t.strip()}
    return not types or bool(types & {TRADE_TYPE, "guarantee_trade"})


def _trade_response(call: Call, orders: list[Order], time_name: str) -> dict[str, Any]:
    """Newest first by `time_name`, ties by order id; two stable sorts avoid a tuple key per order."""
    assert call.shop is not None
    fields = _fields(call.params)
    orders.sort(key=operator.attrgetter("order_id"), reverse=True)
    orders.sort(key=operator.attrgetter(time_name), reverse=True)
    page, counts = _page_of(orders, call.params, 40)
    body: dict[str, Any] = dict(counts)
    if page:
        body["trades"] = {"trade": [_select(render_trade(call.state, call.shop, o), fields) for o in page]}
    return body


def _filtered_orders(call: Call, time_name: str, start: datetime | None, end: datetime | None) -> list[Order]:
    """The shop's orders that pass every filter the request gives (each applied only when given)."""
    assert call.shop is not None
    if not _type_matches(call.params):
        return []
    orders = call.state.world.orders_of(call.shop.shop_id)
    statuses = _status_filter(call.params)
    if statuses:
        orders = [order for order in orders if trade_status(order) in statuses]
    open_id = call.params.get("buyer_open_id")
    if open_id:
        orders = [order for order in orders if order.buyer_id == open_id]
    nick = call.params.get("buyer_nick")
    if nick:
        accounts = [_account(call.state, order.account_id) for order in orders]
        orders = [
            order
            for order, account in zip(orders, accounts, strict=True)
            if account and account.nickname == nick
        ]
    if start is not None or end is not None:
        orders = [order for order in orders if _inside(getattr(order, time_name), start, end)]
    return orders


def trades_sold_get(call: Call) -> dict[str, Any]:
    _fields(call.params)
    start = _time_parameter(call.params, "start_created")
    end = _time_parameter(call.params, "end_created")
    return _trade_response(call, _filtered_orders(call, "created_at", start, end), "created_at")


def trades_sold_increment_get(call: Call) -> dict[str, Any]:
    _fields(call.params)
    start = _time_parameter(call.params, "start_modified", required=True)
    end = _time_parameter(call.params, "end_modified", required=True)
    assert start is not None and end is not None
    if end < start:
        raise invalid("end_modified", "end_modified 必须晚于 start_modified")
    if end - start > INCREMENT_MAX_SPAN:
        raise invalid("end_modified", "start_modified 和 end_modified 的时间跨度不能大于一天")
    same_day = start.astimezone(SHANGHAI).date() == end.astimezone(SHANGHAI).date()
    if _config(call.state).get("increment_same_day") and not same_day:
        raise invalid("end_modified", "start_modified 和 end_modified 必须在同一天")
    return _trade_response(call, _filtered_orders(call, "modified_at", start, end), "modified_at")


def trade_fullinfo_get(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    fields = _fields(call.params)
    tid = _int_parameter(call.params, "tid", 0, 1, 2**63 - 1)
    if not tid:
        raise missing("tid")
    for order in call.state.world.orders_of(call.shop.shop_id):
        if numeric_id(order.order_id) == tid:
            return {"trade": _select(render_trade(call.state, call.shop, order), fields)}
    raise TopError(15, "isv.trade-not-exist", f"交易 {tid} 不存在")


def refunds_receive_get(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    fields = _fields(call.params)
    start = _time_parameter(call.params, "start_modified")
    end = _time_parameter(call.params, "end_modified")
    wanted = call.params.get("status")
    orders = {order.order_id: order for order in call.state.world.orders_of(call.shop.shop_id)}
    refunds = [
        refund
        for refund in call.state.world.refunds
        if refund.shop_id == call.shop.shop_id
        and _inside(refund.modified_at, start, end)
        and (not wanted or REFUND_STATUS.get(refund.status) == wanted)
    ]
    refunds.sort(key=lambda r: (_whole_second(r.modified_at), numeric_id(r.refund_id)), reverse=True)
    page, counts = _page_of(refunds, call.params, 40)
    body: dict[str, Any] = dict(counts)
    if page:
        rendered = [render_refund(call.state, call.shop, r, orders.get(r.order_id)) for r in page]
        body["refunds"] = {"refund": [_select(refund, fields) for refund in rendered]}
    return body


def oaid_decrypt(call: Call) -> dict[str, Any]:
    assert call.shop is not None
    try:
        queries = json.loads(call.params.get("query_list") or "")
    except ValueError:
        raise missing("query_list")
    if not isinstance(queries, list) or not queries:
        raise missing("query_list")
    orders = {numeric_id(order.order_id): order for order in call.state.world.orders_of(call.shop.shop_id)}
    receivers = []
    for query in queries:
        order = orders.get(int(str(query.get("tid") or 0))) if str(query.get("tid", "")).isdigit() else None
        if order is None or oaid_of(order, call.shop) != query.get("oaid"):
            raise TopError(15, "isv.oaid-not-match", f"oaid 与交易不匹配: {query.get('tid')}")
        receivers.append(
            {
                "name": order.receiver_name,
                "mobile": order.receiver_phone,
                "phone": "",
                "address_detail": order.address,
                "town": "",
                "district": order.district,
                "city": order.city,
                "state": order.province,
                "country": "中国",
                "oaid": query.get("oaid"),
                "tid": str(numeric_id(order.order_id)),
            }
        )
    return {"receiver_list": {"receiver": receivers}}


def auth_token_create(call: Call) -> dict[str, Any]:
    code = call.params.get("code")
    if not code:
        raise missing("code")
    try:
        token = _exchange(call.state, call.app_key, "authorization_code", code)
    except (KeyError, StopIteration):
        raise TopError(15, "isv.invalid-code", "code 无效或已使用")
    return {"token_result": json.dumps(token, ensure_ascii=False)}


def auth_token_refresh(call: Call) -> dict[str, Any]:
    refresh_token = call.params.get("refresh_token")
    if not refresh_token:
        raise missing("refresh_token")
    try:
        token = _exchange(call.state, call.app_key, "refresh_token", refresh_token)
    except (KeyError, StopIteration):
        raise TopError(15, "isv.invalid-refresh-token", "refresh_token 无效或已过期")
    return {"token_result": json.dumps(token, ensure_ascii=False)}


# name → (handler, needs a session)
METHODS: dict[str, tuple[Callable[[Call], dict[str, Any]], bool]] = {
    "taobao.trades.sold.get": (trades_sold_get, True),
    "taobao.trades.sold.increment.get": (trades_sold_increment_get, True),
    "taobao.trade.fullinfo.get": (trade_fullinfo_get, True),
    "taobao.refunds.receive.get": (refunds_receive_get, True),
    "taobao.top.oaid.decrypt": (oaid_decrypt, True),
    "taobao.tmc.user.permit": (tmc_user_permit, True),
    "taobao.tmc.messages.consume": (tmc_consume, False),
    "taobao.tmc.messages.confirm": (tmc_confirm, False),
    "taobao.top.auth.token.create": (auth_token_create, False),
    "taobao.top.auth.token.refresh": (auth_token_refresh, False),
}


# --- the gateway --------------------------------------------------------------------------------

_request_ids = itertools.count(1)


def response_name(method: str) -> str:
    """`taobao.trades.sold.get` → `trades_sold_get_response`."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def _simplified(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(next(iter(value.values())), list):
            return [_simplified(item) for item in next(iter(value.values()))]
        return {key: _simplified(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_simplified(item) for item in value]
    return value


def _request_id() -> str:
    return f"sbx{next(_request_ids):x}"


def error_body(error: TopError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "msg": ERROR_MESSAGES.get(error.code, "")}
    if error.sub_code:
        body["sub_code"] = error.sub_code
    if error.sub_msg:
        body["sub_msg"] = error.sub_msg
    body["request_id"] = _request_id()
    return {"error_response": body}


def _throttle_error(state: SandboxState) -> TopError:
    plan = state.faults.plan(PLATFORM)
    seconds = 1
    if plan is not None and plan.throttle_for_seconds:
        seconds = max(math.ceil(plan.storm_left(time.monotonic())), 1)
    return TopError(
        7, "accesscontrol.limited-by-app-access-count", f"This ban will last for {seconds} more seconds"
    )


def _check_common(state: SandboxState, params: dict[str, str]) -> Call:
    """The gateway's own checks, in roughly the order TOP applies them."""
    method = params.get("method")
    if not method:
        raise TopError(21)
    app_key = params.get("app_key")
    if not app_key:
        raise TopError(28)
    shops = [shop for shop in _shops(state) if shop.app_key == app_key]
    if not shops:
        raise TopError(29, "isv.appkey-not-exists", f"app_key {app_key} 不存在")
    outcome = state.faults.decide(PLATFORM)
    if outcome == "throttle":
        raise _throttle_error(state)
    if outcome == "error":
        raise TopError(10, "isp.service-unavailable", "服务暂时不可用", status_code=503)
    timestamp = params.get("timestamp")
    if not timestamp:
        raise TopError(30)
    try:
        sent_at = parse_time(timestamp)
    except ValueError:
        raise TopError(31, "", "timestamp 格式应为 yyyy-MM-dd HH:mm:ss (GMT+8)")
    if abs(sent_at - clock.now()) > TIMESTAMP_TOLERANCE:
        raise TopError(31, "", "timestamp 与服务器时间相差超过10分钟")
    version = params.get("v")
    if not version:
        raise TopError(32)
    if version != "2.0":
        raise TopError(34 if version == "1.0" else 33)
    if params.get("format") != "json":
        raise TopError(23, "", "sandbox answers json only; send format=json")
    if not params.get("sign"):
        raise TopError(24)
    sign_method = params.get("sign_method") or signing.DEFAULT_SIGN_METHOD
    if sign_method not in signing.SIGN_METHODS:
        raise TopError(25, "", f"sign_method {sign_method} 不支持")
    if not signing.verify(params, shops[0].app_secret):
        raise TopError(25)
    if method not in METHODS:
        raise TopError(22)
    call = Call(state, params, app_key)
    if METHODS[method][1]:
        token = params.get("session")
        if not token:
            raise TopError(26)
        session = _sessions(state).get(token)
        if session is None or session.app_key != app_key or session.expires_at <= clock.now():
            raise TopError(27, SESSION_SUB_CODE, "SessionKey非法或已过期，请重新授权")
        call.session = session
        call.shop = state.world.shop(session.shop_id)
    return call


def handle(state: SandboxState, params: dict[str, str]) -> JSONResponse:
    """Answer one gateway request (after the form or query was parsed)."""
    try:
        call = _check_common(state, params)
        method = params["method"]
        body = METHODS[method][0](call)
    except TopError as error:
        return JSONResponse(error_body(error), status_code=error.status_code)
    body["request_id"] = _request_id()
    if params.get("simplify") == "true":
        return JSONResponse(_simplified(body))
    return JSONResponse({response_name(method): body})


def _oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status_code)


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["sandbox taobao"])
    with state.lock:
        if not _config(state).get("_subscribed"):
            _config(state)["_subscribed"] = True
            state.subscribe(lambda kind, record: _on_change(state, kind, record))

    async def rest(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST":
            if request.headers.get("content-type", "").startswith("multipart/form-data"):
                form = await request.form()
                params.update({key: value for key, value in form.items() if isinstance(value, str)})
            else:
                raw = (await request.body()).decode("utf-8")
                params.update(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        plan = state.faults.plan(PLATFORM)
        if plan is not None and plan.slow_ms:
            return await run_in_threadpool(handle, state, params)  # a slow plan sleeps
        return handle(state, params)

    router.add_api_route("/router/rest", rest, methods=["GET", "POST"])

    @router.get("/oauth/authorize")
    def authorize(request: Request) -> Response:
        query = request.query_params
        return _authorize(
            state,
            query.get("client_id", ""),
            query.get("redirect_uri", ""),
            query.get("shop_id", ""),
            query.get("state", ""),
        )

    @router.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        form.update(request.query_params)
        client_id = form.get("client_id", "")
        shops = [shop for shop in _shops(state) if shop.app_key == client_id]
        if not shops or not secrets.compare_digest(shops[0].app_secret, form.get("client_secret", "")):
            return _oauth_error("invalid_client", "client_id 或 client_secret 错误", 401)
        grant_type = form.get("grant_type", "")
        value = form.get("code" if grant_type == "authorization_code" else "refresh_token", "")
        try:
            return JSONResponse(_exchange(state, client_id, grant_type, value))
        except (KeyError, StopIteration):
            return _oauth_error("invalid_grant", "code 或 refresh_token 无效")

    return router


def _authorize(
    state: SandboxState, client_id: str, redirect_uri: str, shop_id: str, client_state: str
) -> Response:
    """Auto-approve the seller's consent and send the browser back with a one-time code."""
    shops = [shop for shop in _shops(state) if shop.app_key == client_id]
    if shop_id:
        shops = [shop for shop in shops if shop.shop_id == shop_id]
    if not shops:
        return _oauth_error("invalid_client", "client_id 不存在或店铺未授权该应用")
    if not redirect_uri:
        return _oauth_error("invalid_request", "缺少 redirect_uri")
    code = secrets.token_urlsafe(16)
    with state.lock:
        _config(state).setdefault("codes", {})[code] = (shops[0].shop_id, client_id)
    query = {"code": code, **({"state": client_state} if client_state else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urllib.parse.urlencode(query), status_code=302)
