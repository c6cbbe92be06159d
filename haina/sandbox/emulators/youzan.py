"""Youzan (有赞云) emulator: token grant, the new JSON gateway, encrypted PII and push messages.

Routes (mounted at `/sandbox/youzan`):
* `POST /auth/token` — silent grant (`client_id`/`client_secret` of a youzan Shop, `grant_id` =
  its kdt_id or shop_id) and `refresh_token`.
* `POST /api/{api}/{version}?access_token=` — `youzan.trades.sold.get` (4.0 shape),
  `youzan.trade.get`, `youzan.scrm.customer.search` / `.list` / `.get`, `youzan.ump.coupon.take`,
  `youzan.ump.coupons.unfinished.search`.
* `POST /api/auth_exempt/youzan.cloud.client.query.encryptconfig/{version}` — the per-shop keys
  that decrypt the `$base64$version$` PII fields (see haina.platforms.youzan.signing).

Pushes: when `state.notify("orders" | "refunds", record)` fires for a youzan shop, a message is
POSTed to `state.push_targets["youzan"]`. Options in `state.scratch["youzan"]`:
`push_style` ("body" | "header" | "both", default "body"), `msg_encoding` ("full" | "legacy"),
`push_mode` ("background" | "sync"), `encrypt_pii` (default True), `key_version` (default 1),
`throttle_status` / `throttle_body` (the throttling answer, whose real format is unknown).
"""

from __future__ import annotations

import functools
import hashlib
import json
import queue
import secrets
import threading
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse as _StarletteJSON

from haina.core import clock
from haina.core.clock import SHANGHAI
from haina.core.money import fen_to_yuan, split_fen
from haina.platforms.youzan import signing
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Account, Coupon, Order, Refund, Shop

PLATFORM = "youzan"

# ---------------------------------------------------------------------------------------------
# UNCONFIRMED — Youzan has not published these; each is a best guess kept here so that a live
# check changes one place (REFERENCE §2 and §7.3).
TOKEN_LIFETIME = timedelta(days=7)  # "about 7 days" for self-use apps
TOKEN_SCOPE = "trade user scrm ump item"
# Gateway-level errors use the `gw_err_resp` envelope seen once third-party (4201 is that sample).
TOKEN_INVALID = (4201, "非法的请求凭证")
TOKEN_EXPIRED = (4203, "access_token已过期")
API_NOT_FOUND = (4004, "API不存在")
SERVER_ERROR = (500, {"gw_err_resp": {"err_code": 5000, "err_msg": "系统繁忙，请稍后重试"}})
THROTTLED = (429, {"gw_err_resp": {"err_code": 4290, "err_msg": "调用频率超限，已被限流"}})
# Business errors use the 4.0 envelope with `success: false`; the codes are our own.
AUTH_FAILED = (40001, "client_id或client_secret错误")
GRANT_INVALID = (40002, "grant_id与应用不匹配")
PARAMETER_INVALID = 40010
NOT_FOUND = 40400
COUPON_UNAVAILABLE = 40020
# Fields served as `$base64$version$` ciphertext when `encrypt_pii` is on.
ENCRYPTED_FIELDS = frozenset({"buyer_phone", "receiver_name", "receiver_tel", "delivery_address", "mobile"})
MAX_WINDOW = timedelta(days=92)  # "span ≤ 3 months"; 92 days is the longest three months
KEY_LENGTH = 24  # the SDK's Salsa20 digest expects 24-character keys
# Order states → (status, status_str, refund_state, close_type); refund_state/close_type values
# beyond the captured close_type 2 ("refund, order closed!") are guesses.
ORDER_STATUS = {
    "pending_payment": ("WAIT_BUYER_PAY", "待支付", 0, 0),
    "paid": ("WAIT_SELLER_SEND_GOODS", "待发货", 0, 0),
    "shipped": ("WAIT_BUYER_CONFIRM_GOODS", "已发货", 0, 0),
    "completed": ("TRADE_SUCCESS", "已完成", 0, 0),
    "closed": ("TRADE_CLOSED", "已关闭", 0, 1),
    "refunded": ("TRADE_CLOSED", "已关闭", 12, 2),
    "partially_refunded": ("TRADE_SUCCESS", "已完成", 2, 0),
}
ORDER_MESSAGE_TYPES = {
    "pending_payment": "trade_TradeCreate",
    "paid": "trade_TradePaid",
    "shipped": "trade_TradeSellerShip",
    "completed": "trade_TradeSuccess",
    "closed": "trade_TradeClose",
    "refunded": "trade_TradeClose",
    "partially_refunded": "trade_TradeSuccess",
}
# Only the `trade_refund_` prefix is confirmed; the suffixes and statuses are guesses.
REFUND_MESSAGES = {
    "requested": ("trade_refund_BuyerCreated", "WAIT_SELLER_AGREE"),
    "agreed": ("trade_refund_SellerAgree", "WAIT_BUYER_RETURN_GOODS"),
    "refused": ("trade_refund_SellerRefuse", "SELLER_REFUSE_BUYER"),
    "completed": ("trade_refund_RefundSuccess", "SUCCESS"),
}
# Header-style pushes: the body is the envelope without `sign`, `msg` left as plain JSON text.
# Retries: Youzan spaces them out over time; here a failed push is retried at once, with
# `sendCount` 1, 2… and the same `msg_id`.
PUSH_ATTEMPTS = 3
# Time windows of trades.sold.get are inclusive at both ends (whole seconds), newest first.
# The key query answers camelCase keys (clientId, kdtId, secretKey, version), as the PHP SDK maps.
# youzan.scrm.customer.list takes page_no/page_size and created_at_start/created_at_end; the
# customer, coupon-group and promocard shapes follow REFERENCE §2.4 where it has them.
# ---------------------------------------------------------------------------------------------

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
WORKER_IDLE_SECONDS = 10.0
PUSH_LOG_SIZE = 1000  # the most recent delivery attempts, for tests and the console
_MESSAGE_NAMESPACE = uuid.UUID("6f1c3c52-4c1e-4f6e-9a55-2b7d1b0f0a11")


class YouzanError(Exception):
    """A request the gateway refuses; rendered in its envelope by `_error_response`."""

    def __init__(self, code: int, message: str, *, gateway: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.gateway = gateway


@dataclass
class Grant:
    shop_id: str
    access_token: str
    refresh_token: str
    expires_at: datetime


class JSONResponse(_StarletteJSON):
    """orjson rendering: the same UTF-8 JSON, several times faster on trade pages."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# --- small helpers -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 16)
def numeric_id(text: str) -> int:
    """Youzan ids are numbers; world ids may not be, so hash those to a stable 48-bit number."""
    if text.isdigit():
        return int(text)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:6], "big")


def kdt_id(shop: Shop) -> int:
    return numeric_id(shop.shop_id)


@functools.lru_cache(maxsize=1 << 16)
def format_time(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI).astimezone(UTC)


def field_key(shop: Shop, version: int) -> str:
    """The sandbox's key for one shop and key version, derived so it survives restarts."""
    material = f"{shop.app_secret}:{kdt_id(shop)}:{version}".encode()
    return hashlib.sha256(material).hexdigest()[:KEY_LENGTH]


def _config(state: SandboxState) -> dict[str, Any]:
    return state.scratch.setdefault(PLATFORM, {})


def _cached_index(state: SandboxState, name: str, records: list[Any], key: Callable[[Any], str]) -> dict:
    """An index of a world list, rebuilt only when the list grows (records are only appended), so
    a push per order change does not scan every account."""
    config = _config(state)
    cached = config.get(name)
    if cached is None or cached[0] != (id(records), len(records)):
        index: dict[str, list[Any]] = {}
        for record in records:
            index.setdefault(key(record), []).append(record)
        cached = ((id(records), len(records)), index)
        config[name] = cached
    return cached[1]


def _success(data: Any) -> dict[str, Any]:
    return {"success": True, "code": 200, "message": "successful", "data": data}


def _error_response(error: YouzanError) -> JSONResponse:
    if error.gateway:
        return JSONResponse({"gw_err_resp": {"err_code": error.code, "err_msg": error.message}})
    return JSONResponse({"success": False, "code": error.code, "message": error.message, "data": None})


def _fault_response(state: SandboxState) -> JSONResponse | None:
    outcome = state.faults.decide(PLATFORM)
    if outcome == "throttle":
        config = _config(state)
        status = int(config.get("throttle_status", THROTTLED[0]))
        return JSONResponse(config.get("throttle_body", THROTTLED[1]), status_code=status)
    if outcome == "error":
        return JSONResponse(SERVER_ERROR[1], status_code=SERVER_ERROR[0])
    return None


def _int_parameter(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise YouzanError(PARAMETER_INVALID, f"{name} 必须是整数")
    if not low <= value <= high:
        raise YouzanError(PARAMETER_INVALID, f"{name} 必须在 {low} 到 {high} 之间")
    return value


def _time_parameter(params: dict[str, Any], name: str) -> datetime | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_time(str(raw))
    except ValueError:
        raise YouzanError(PARAMETER_INVALID, f"{name} 格式应为 yyyy-MM-dd HH:mm:ss")


def _page(items: list[Any], page_no: int, page_size: int) -> list[Any]:
    start = (page_no - 1) * page_size
    return items[start : start + page_size]


# --- rendering -----------------------------------------------------------------------------


class Renderer:
    """Turns world records of one shop into Youzan's shapes, encrypting PII when asked."""

    def __init__(self, state: SandboxState, shop: Shop) -> None:
        self.state = state
        self.shop = shop
        config = _config(state)
        self.encrypt = bool(config.get("encrypt_pii", True))
        self.key_version = int(config.get("key_version", 1))
        self.key = field_key(shop, self.key_version)
        self.accounts = _cached_index(state, "_accounts", state.world.accounts, lambda a: a.account_id)
        self.refunds = _cached_index(state, "_refunds", state.world.refunds, lambda r: r.order_id)

    def protect(self, field: str, value: str) -> str:
        if self.encrypt and value and field in ENCRYPTED_FIELDS:
            return signing.encrypt_field(value, self.key, self.key_version)
        return value

    def trade(self, order: Order) -> dict[str, Any]:
        """One `full_order_info_list` item (also the `youzan.trade.get` data and push `msg`)."""
        status, status_text, refund_state, close_type = ORDER_STATUS[order.status]
        account = next(iter(self.accounts.get(order.account_id, [])), None)
        goods_fen = [line.price_fen * line.quantity for line in order.lines]
        # Line payments share what the buyer paid for goods (freight excluded) by line value, so
        # the lines add up to the trade exactly.
        goods_paid = max(order.paid_fen - order.freight_fen, 0)
        line_paid = split_fen(goods_paid, goods_fen) if sum(goods_fen) > 0 else [0] * len(goods_fen)
        lines = [
            {
                "oid": line.line_id,
                "item_id": numeric_id(line.sku_id),
                "sku_id": numeric_id(line.sku_id),
                "item_type": 0,
                "title": line.title,
                "num": line.quantity,
                "price": fen_to_yuan(line.price_fen),
                "total_fee": fen_to_yuan(line_total),
                "payment": fen_to_yuan(paid),
                "discount_price": fen_to_yuan(line.price_fen),
                "outer_item_id": line.outer_sku,
                "outer_sku_id": line.outer_sku or line.sku_id,
                "sku_properties_name": "[]",
                "pic_path": "",
                "goods_url": "",
                "alias": line.sku_id,
                "is_present": False,
            }
            for line, line_total, paid in zip(order.lines, goods_fen, line_paid, strict=True)
        ]
        promotions = []
        if order.discount_fen:
            promotions.append(
                {
                    "promotion_type": "coupon" if order.coupon_id else "discount",
                    "promotion_id": order.coupon_id,
                    "discount_fee": fen_to_yuan(order.discount_fen),
                }
            )
        return {
            "full_order_info": {
                "order_info": {
                    "tid": order.order_id,
                    "status": status,
                    "status_str": status_text,
                    "type": 0,
                    "created": format_time(order.created_at),
                    "update_time": format_time(order.modified_at),
                    "expired_time": format_time(order.created_at + timedelta(hours=1)),
                    "pay_time": format_time(order.paid_at),
                    "success_time": format_time(order.finished_at),
                    "consign_time": format_time(order.shipped_at),
                    "confirm_time": format_time(order.finished_at),
                    "pay_type": 1 if order.paid_at else 0,
                    "pay_type_str": "WEIXIN" if order.paid_at else "",
                    "refund_state": refund_state,
                    "close_type": close_type,
                    "express_type": 0,
                    "team_type": 0,
                    "is_retail_order": False,
                    "order_tags": {"is_secured_transactions": True},
                    "order_extra": {"is_from_cart": "false", "is_points_order": "0"},
                },
                "source_info": {
                    "is_offline_order": False,
                    "source": {"platform": "wx", "wx_entrance": "direct_buy"},
                },
                "buyer_info": {
                    "buyer_id": 0,
                    "yz_open_id": order.buyer_id,
                    "buyer_phone": self.protect("buyer_phone", account.phone if account else ""),
                    "fans_type": 1,
                    "fans_id": numeric_id(account.account_id) if account else 0,
                    "fans_nickname": account.nickname if account else "",
                    "outer_user_id": account.unionid if account else "",
                },
                "pay_info": {
                    "total_fee": fen_to_yuan(order.total_fen),
                    "post_fee": fen_to_yuan(order.freight_fen),
                    "payment": fen_to_yuan(order.paid_fen),
                    "transaction": [],
                    "outer_transactions": [],
                },
                "remark_info": {"buyer_message": order.buyer_message, "star": 0, "trade_memo": ""},
                "address_info": {
                    "receiver_name": self.protect("receiver_name", order.receiver_name),
                    "receiver_tel": self.protect("receiver_tel", order.receiver_phone),
                    "delivery_province": order.province,
                    "delivery_city": order.city,
                    "delivery_district": order.district,
                    "delivery_address": self.protect("delivery_address", order.address),
                    "delivery_postal_code": "",
                    "address_extra": "",
                    "self_fetch_info": "",
                },
                "orders": lines,
                "child_info": {},
            },
            "order_promotion": {"item": [], "adjust_fee": "0.00", "order": promotions},
            "refund_order": [self.refund(refund) for refund in self.refunds.get(order.order_id, [])],
            "delivery_order": [],
        }

    def refund(self, refund: Refund) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "oid": refund.line_id,
            "refund_fee": fen_to_yuan(refund.amount_fen),
            "refund_reason": refund.reason,
            "status": REFUND_MESSAGES.get(refund.status, ("", refund.status.upper()))[1],
            "created": format_time(refund.created_at),
            "modified": format_time(refund.modified_at),
        }

    def customer_item(self, account: Account) -> dict[str, Any]:
        return {
            "yz_open_id": account.buyer_id,
            "name": account.name,
            "fans_id": numeric_id(account.account_id),
            "fasn_type": 1,  # sic: the documented field name carries this typo
            "mobile": self.protect("mobile", account.phone),
            "wx_nickname": account.nickname,
            "created_at": format_time(account.created_at),
        }

    def customer_detail(self, account: Account, orders: list[Order]) -> dict[str, Any]:
        times = sorted(order.created_at for order in orders)
        return {
            "yz_open_id": account.buyer_id,
            "name": account.name,
            "gender": 0,
            "birthday": "",
            "area": {"province": account.province, "city": account.city, "county": account.district},
            "mobile": self.protect("mobile", account.phone),
            "source_type": 0,
            "tag_names": [],
            "remark": "",
            "current_points": 0,
            "trade_count": len(orders),
            "last_trade_time": format_time(times[-1]) if times else "",
            "first_time": format_time(account.created_at),
        }


# --- API handlers ---------------------------------------------------------------------------

Handler = Callable[[SandboxState, Shop, dict[str, Any]], Any]


def _window(params: dict[str, Any], field: str) -> tuple[datetime | None, datetime | None]:
    start = _time_parameter(params, f"start_{field}")
    end = _time_parameter(params, f"end_{field}")
    if start and end:
        if end < start:
            raise YouzanError(PARAMETER_INVALID, f"end_{field} 不能早于 start_{field}")
        if end - start > MAX_WINDOW:
            raise YouzanError(PARAMETER_INVALID, "查询时间跨度不能超过3个月")
    return start, end


def _order_time(order: Order, field: str) -> datetime | None:
    moment = {"created": order.created_at, "update": order.modified_at, "success": order.finished_at}[field]
    # The wire shows whole seconds, so windows compare whole seconds too.
    return None if moment is None else moment.replace(microsecond=0)


def trades_sold_get(state: SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    page_no = _int_parameter(params, "page_no", 1, 1, 100)
    page_size = _int_parameter(params, "page_size", 20, 1, 100)
    windows = {field: _window(params, field) for field in ("created", "update", "success")}
    sort_field = next((field for field, pair in windows.items() if pair != (None, None)), "created")
    status = params.get("status") or None
    tid = params.get("tid") or None
    selected = []
    for order in state.world.orders_of(shop.shop_id):
        if status and ORDER_STATUS[order.status][0] != status:
            continue
        if tid and order.order_id != tid:
            continue
        inside = True
        for field, (start, end) in windows.items():
            moment = _order_time(order, field)
            # Both ends inclusive [UNCONFIRMED]: a connector must dedupe by tid anyway.
            if (start or end) and (moment is None or (start and moment < start) or (end and moment > end)):
                inside = False
        if inside:
            selected.append(order)
    epoch = datetime.min.replace(tzinfo=UTC)
    selected.sort(key=lambda order: (_order_time(order, sort_field) or epoch, order.order_id), reverse=True)
    renderer = Renderer(state, shop)
    return {
        "total_results": len(selected),
        "full_order_info_list": [renderer.trade(order) for order in _page(selected, page_no, page_size)],
    }


def trade_get(state: SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    tid = str(params.get("tid") or "")
    if not tid:
        raise YouzanError(PARAMETER_INVALID, "tid 不能为空")
    for order in state.world.orders_of(shop.shop_id):
        if order.order_id == tid:
            return Renderer(state, shop).trade(order)
    raise YouzanError(NOT_FOUND, f"订单 {tid} 不存在")


def _shop_accounts(state: SandboxState, shop: Shop) -> list[Account]:
    accounts = [a for a in state.world.accounts if a.platform == PLATFORM and a.shop_id == shop.shop_id]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(accounts, key=lambda account: (account.created_at or epoch, account.account_id))


def customer_search(state: SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    # `page` is the documented name; `page_no` is accepted for youzan.scrm.customer.list.
    page = _int_parameter(params, "page", 0, 1, 10_000) or _int_parameter(params, "page_no", 1, 1, 10_000)
    page_size = _int_parameter(params, "page_size", 20, 1, 50)
    accounts = _shop_accounts(state, shop)
    if params.get("mobile"):
        accounts = [account for account in accounts if account.phone == params["mobile"]]
    start = _time_parameter(params, "created_at_start")
    end = _time_parameter(params, "created_at_end")
    if start or end:
        accounts = [
            account
            for account in accounts
            if account.created_at is not None
            and (start is None or account.created_at.replace(microsecond=0) >= start)
            and (end is None or account.created_at.replace(microsecond=0) <= end)
        ]
    renderer = Renderer(state, shop)
    return {
        "total": len(accounts),
        "page": page,
        "page_size": page_size,
        "items": [renderer.customer_item(account) for account in _page(accounts, page, page_size)],
    }


def customer_get(state: SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    account_type = str(params.get("account_type") or "YouZanAccount")
    account_id = str(params.get("account_id") or "")
    matches: dict[str, Callable[[Account], bool]] = {
        "Mobile": lambda account: account.phone == account_id,
        "YouZanAccount": lambda account: account.buyer_id == account_id,
        "FansID": lambda account: str(numeric_id(account.account_id)) == account_id,
    }
    if account_type not in matches or not account_id:
        raise YouzanError(PARAMETER_INVALID, "account_type 或 account_id 不合法")
    for account in _shop_accounts(state, shop):
        if matches[account_type](account):
            orders = [o for o in state.world.orders_of(shop.shop_id) if o.account_id == account.account_id]
            return Renderer(state, shop).customer_detail(account, orders)
    raise YouzanError(NOT_FOUND, "客户不存在")


def _coupon_group(coupon: Coupon) -> dict[str, Any]:
    return {
        "group_id": coupon.coupon_id,
        "title": coupon.title,
        "preferential_type": 2 if coupon.kind == "discount" else 1,
        "value": fen_to_yuan(coupon.value_fen),
        "discount": f"{coupon.discount_percent // 10}.{coupon.discount_percent % 10}"
        if coupon.discount_percent
        else "",
        "condition": fen_to_yuan(coupon.threshold_fen),
        "start_at": format_time(coupon.starts_at),
        "end_at": format_time(coupon.ends_at),
        "total": coupon.total,
        "stock": max(coupon.total - coupon.issued, 0),
    }


def _shop_coupons(state: SandboxState, shop: Shop) -> list[Coupon]:
    return [c for c in state.world.coupons if c.platform == PLATFORM and c.shop_id == shop.shop_id]


def coupons_unfinished_search(
    state: SandboxState, shop: Shop, params: dict[str, Any]
) -> list[dict[str, Any]]:
    now = clock.now()
    return [_coupon_group(c) for c in _shop_coupons(state, shop) if c.ends_at >= now]


def coupon_take(state: SandboxState, shop: Shop, params: dict[str, Any]) -> dict[str, Any]:
    group_id = str(params.get("coupon_group_id") or "")
    holder_keys = ("mobile", "weixin_openid", "fans_id", "open_user_id", "yz_open_id")
    holder = next(((key, str(params[key])) for key in holder_keys if params.get(key)), None)
    if not group_id or holder is None:
        raise YouzanError(PARAMETER_INVALID, "coupon_group_id 和领取人标识不能为空")
    coupon = next((c for c in _shop_coupons(state, shop) if c.coupon_id == group_id), None)
    if coupon is None:
        raise YouzanError(NOT_FOUND, f"优惠券活动 {group_id} 不存在")
    now = clock.now()
    with state.lock:
        if now < coupon.starts_at or now > coupon.ends_at:
            raise YouzanError(COUPON_UNAVAILABLE, "优惠券不在有效期内")
        if coupon.issued >= coupon.total:
            raise YouzanError(COUPON_UNAVAILABLE, "优惠券已领完")
        coupon.issued += 1
        issued = _config(state).setdefault("issued_coupons", [])
        promocard_id = numeric_id(f"{coupon.coupon_id}:{len(issued) + 1}")
        issued.append({"coupon_id": coupon.coupon_id, "holder": holder, "promocard_id": promocard_id})
    return {
        "coupon_type": "PROMOCARD",
        "promocard": {
            "promocard_id": promocard_id,
            "title": coupon.title,
            "value": fen_to_yuan(coupon.value_fen),
            "condition": fen_to_yuan(coupon.threshold_fen),
            "start_at": format_time(coupon.starts_at),
            "end_at": format_time(coupon.ends_at),
            "is_used": 0,
            "is_invalid": 0,
            "is_expired": 0,
            "background_color": "#55bd47",
            "detail_url": "",
            "verify_code": f"{promocard_id % 10**12:012d}",
        },
    }


APIS: dict[str, Handler] = {
    "youzan.trades.sold.get": trades_sold_get,
    "youzan.trade.get": trade_get,
    "youzan.scrm.customer.search": customer_search,
    "youzan.scrm.customer.list": customer_search,
    "youzan.scrm.customer.get": customer_get,
    "youzan.ump.coupon.take": coupon_take,
    "youzan.ump.coupons.unfinished.search": coupons_unfinished_search,
}


# --- token and keys ---------------------------------------------------------------------------


def _grants(state: SandboxState) -> dict[str, Grant]:
    return _config(state).setdefault("tokens", {})


def _issue_grant(state: SandboxState, shop: Shop, *, renew: bool) -> Grant:
    now = clock.now()
    with state.lock:
        grants = _grants(state)
        if not renew:
            # Silent grants hand back the live token until `refresh: true` forces a new one.
            for grant in grants.values():
                if grant.shop_id == shop.shop_id and grant.expires_at > now:
                    return grant
        grant = Grant(shop.shop_id, secrets.token_hex(16), secrets.token_hex(16), now + TOKEN_LIFETIME)
        grants[grant.access_token] = grant
        return grant


def _token(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    client_id = str(body.get("client_id") or "")
    client_secret = str(body.get("client_secret") or "")
    shops = [
        shop
        for shop in state.world.shops_of(PLATFORM)
        if shop.app_key == client_id and secrets.compare_digest(shop.app_secret, client_secret)
    ]
    if not client_id or not shops:
        raise YouzanError(*AUTH_FAILED)
    authorize_type = body.get("authorize_type") or "silent"
    if authorize_type == "refresh_token":
        token = str(body.get("refresh_token") or "")
        old = next((g for g in _grants(state).values() if g.refresh_token == token), None)
        if old is None or old.shop_id not in {shop.shop_id for shop in shops}:
            raise YouzanError(GRANT_INVALID[0], "refresh_token 无效")
        grant = _issue_grant(state, state.world.shop(old.shop_id), renew=True)
    elif authorize_type == "silent":
        grant_id = str(body.get("grant_id") or "")
        shop = next((s for s in shops if grant_id in (str(kdt_id(s)), s.shop_id)), None)
        if shop is None:
            raise YouzanError(*GRANT_INVALID)
        grant = _issue_grant(state, shop, renew=bool(body.get("refresh")))
    else:
        raise YouzanError(PARAMETER_INVALID, f"authorize_type {authorize_type} 不支持")
    shop = state.world.shop(grant.shop_id)
    return {
        "access_token": grant.access_token,
        "expires": int(grant.expires_at.timestamp() * 1000),
        "scope": TOKEN_SCOPE,
        "authority_id": str(kdt_id(shop)),
        "refresh_token": grant.refresh_token,
    }


def _authorised_shop(state: SandboxState, access_token: str) -> Shop:
    grant = _grants(state).get(access_token) if access_token else None
    if grant is None:
        raise YouzanError(*TOKEN_INVALID, gateway=True)
    if grant.expires_at <= clock.now():
        raise YouzanError(*TOKEN_EXPIRED, gateway=True)
    return state.world.shop(grant.shop_id)


def _encrypt_config(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    client_id = str(body.get("client_id") or "")
    shops = [shop for shop in state.world.shops_of(PLATFORM) if shop.app_key == client_id]
    if not shops:
        raise YouzanError(*AUTH_FAILED)
    wanted = body.get("kdt_id")
    expected = signing.encrypt_config_sign(
        client_id, wanted, str(body.get("timestamp") or ""), shops[0].app_secret
    )
    if not secrets.compare_digest(str(body.get("sign") or "").lower(), expected):
        raise YouzanError(AUTH_FAILED[0], "签名错误")
    if wanted not in (None, ""):
        shops = [shop for shop in shops if str(kdt_id(shop)) == str(wanted) or shop.shop_id == str(wanted)]
    current = int(_config(state).get("key_version", 1))
    return {
        "clientId": client_id,
        "encryptType": 1,  # per-shop keys (the SDK's SecretType::$kdt)
        "whiteList": [],
        "secretKeyInfoList": [
            {
                "clientId": client_id,
                "kdtId": kdt_id(shop),
                "secretKey": field_key(shop, version),
                "version": version,
            }
            for shop in shops
            for version in range(1, current + 1)
        ],
    }


# --- pushes -----------------------------------------------------------------------------------


@dataclass
class PushMessage:
    shop: Shop
    type: str
    business_id: str
    status: str
    msg: dict[str, Any]
    version: int


class Pusher:
    """Builds Youzan push messages from world changes and POSTs them, in a background thread or
    (with `push_mode: "sync"`) in the caller's thread."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.queue: queue.Queue[PushMessage] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    # building

    def on_change(self, kind: str, record: Any) -> None:
        if not self.state.push_targets.get(PLATFORM):
            return  # nobody listens: skip rendering (a seeded history can be large)
        message = None
        if kind == "orders" and isinstance(record, Order):
            message = self.order_message(record)
        elif kind == "refunds" and isinstance(record, Refund):
            message = self.refund_message(record)
        if message is not None:
            self.submit(message)

    def _youzan_shop(self, shop_id: str) -> Shop | None:
        try:
            shop = self.state.world.shop(shop_id)
        except KeyError:
            return None
        return shop if shop.platform == PLATFORM else None

    def order_message(self, order: Order) -> PushMessage | None:
        shop = self._youzan_shop(order.shop_id)
        if shop is None:
            return None
        status = ORDER_STATUS[order.status]
        message_type = ORDER_MESSAGE_TYPES[order.status]
        if message_type == "trade_TradeClose":
            reason = "refund, order closed!" if status[3] == 2 else "timeout, order closed!"
            msg: dict[str, Any] = {
                "update_time": format_time(order.modified_at),
                "close_reason": reason,
                "tid": order.order_id,
                "close_type": status[3],
            }
        else:
            msg = Renderer(self.state, shop).trade(order)
        version = int(order.modified_at.timestamp())
        return PushMessage(shop, message_type, order.order_id, status[0], msg, version)

    def refund_message(self, refund: Refund) -> PushMessage | None:
        shop = self._youzan_shop(refund.shop_id)
        if shop is None or refund.status not in REFUND_MESSAGES:
            return None
        message_type, status = REFUND_MESSAGES[refund.status]
        msg = {
            "tid": refund.order_id,
            "oid": refund.line_id,
            "refund_id": refund.refund_id,
            "refund_fee": fen_to_yuan(refund.amount_fen),
            "refund_reason": refund.reason,
            "update_time": format_time(refund.modified_at),
        }
        return PushMessage(
            shop, message_type, refund.refund_id, status, msg, int(refund.modified_at.timestamp())
        )

    def request(self, message: PushMessage, send_count: int) -> tuple[bytes, dict[str, str]]:
        """Body and headers of one delivery attempt, in the configured signature style."""
        config = _config(self.state)
        style = config.get("push_style", "body")
        shop = message.shop
        text = json.dumps(message.msg, ensure_ascii=False, separators=(",", ":"))
        if config.get("msg_encoding") == "legacy":
            encoded = urllib.parse.quote(text, safe=":,")  # the 2018 captures leave ':' and ',' raw
        else:
            encoded = urllib.parse.quote_plus(text)
        envelope: dict[str, Any] = {
            "client_id": shop.app_key,
            "id": message.business_id,
            "kdt_id": kdt_id(shop),
            "kdt_name": shop.name,
            "mode": 1,
            "msg": encoded if style != "header" else text,
            "msg_id": str(
                uuid.uuid5(
                    _MESSAGE_NAMESPACE,
                    f"{shop.app_key}/{message.type}/{message.business_id}/{message.version}",
                )
            ),
            "root_kdt_id": kdt_id(shop),
            "sendCount": send_count,
            "status": message.status,
            "test": False,
            "type": message.type,
            "version": message.version,
        }
        if style != "header":
            envelope["sign"] = signing.push_sign(shop.app_key, encoded, shop.app_secret)
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if style in ("header", "both"):
            headers["Event-Sign"] = signing.event_sign(shop.app_key, body, shop.app_secret)
            headers["Event-Type"] = message.type
            headers["Client-Id"] = shop.app_key
        return body, headers

    # delivering

    def submit(self, message: PushMessage) -> None:
        if self.state.faults.drop_push(PLATFORM):
            self._log(message, 0, None, "dropped")
            return
        if _config(self.state).get("push_mode") == "sync":
            self.deliver(message)
            return
        self.queue.put(message)
        # Checked after the put and under the lock the worker exits under, so no message is stranded.
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="youzan-push", daemon=True)
                self._thread.start()

    def deliver(self, message: PushMessage) -> bool:
        """POST the message, retrying with a growing `sendCount`; True once acknowledged."""
        url = self.state.push_targets.get(PLATFORM)
        if not url:
            self._log(message, 0, None, "no_target")
            return False
        for send_count in range(PUSH_ATTEMPTS):
            body, headers = self.request(message, send_count)
            try:
                response = httpx.post(url, content=body, headers=headers, timeout=5.0, trust_env=False)
            except httpx.HTTPError:
                self._log(message, send_count, None, "failed")
                continue
            if 200 <= response.status_code < 300:
                self._log(message, send_count, response.status_code, "delivered")
                return True
            self._log(message, send_count, response.status_code, "failed")
        return False

    def _work(self) -> None:
        while True:
            try:
                message = self.queue.get(timeout=WORKER_IDLE_SECONDS)
            except queue.Empty:
                with self._thread_lock:
                    if self.queue.empty():
                        self._thread = None  # idle: let the thread end; submit() starts another
                        return
                continue
            try:
                self.deliver(message)
            finally:
                self.queue.task_done()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued message was handled (for tests); False on timeout."""
        condition = self.queue.all_tasks_done
        with condition:
            return condition.wait_for(lambda: self.queue.unfinished_tasks == 0, timeout)

    def _log(self, message: PushMessage, send_count: int, status_code: int | None, outcome: str) -> None:
        entry = {
            "type": message.type,
            "id": message.business_id,
            "send_count": send_count,
            "status_code": status_code,
            "outcome": outcome,
        }
        with self.state.lock:
            _config(self.state).setdefault("push_log", deque(maxlen=PUSH_LOG_SIZE)).append(entry)


def pusher_of(state: SandboxState) -> Pusher:
    """The state's one pusher, subscribed to world changes on first use."""
    with state.lock:
        config = _config(state)
        pusher = config.get("pusher")
        if pusher is None:
            pusher = Pusher(state)
            config["pusher"] = pusher
            state.subscribe(pusher.on_change)
        return pusher


# --- router -----------------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise YouzanError(PARAMETER_INVALID, "请求体不是合法的 JSON")
    if not isinstance(body, dict):
        raise YouzanError(PARAMETER_INVALID, "请求体必须是 JSON 对象")
    return body


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["sandbox youzan"])
    pusher_of(state)

    @router.post("/auth/token")
    async def token(request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
        except YouzanError as error:
            return _error_response(error)

        def answer() -> JSONResponse:
            fault = _fault_response(state)
            if fault is not None:
                return fault
            try:
                return JSONResponse(
                    {"success": True, "code": 200, "message": None, "data": _token(state, body)}
                )
            except YouzanError as error:
                return _error_response(error)

        return await run_in_threadpool(answer)

    @router.post("/api/auth_exempt/{api}/{version}")
    async def auth_exempt(api: str, version: str, request: Request) -> JSONResponse:
        try:
            body = await _json_body(request)
        except YouzanError as error:
            return _error_response(error)
        if api != "youzan.cloud.client.query.encryptconfig":
            return _error_response(YouzanError(*API_NOT_FOUND, gateway=True))

        def answer() -> JSONResponse:
            fault = _fault_response(state)
            if fault is not None:
                return fault
            try:
                return JSONResponse(_success(_encrypt_config(state, body)))
            except YouzanError as error:
                return _error_response(error)

        return await run_in_threadpool(answer)

    @router.post("/api/{api}/{version}")
    async def gateway(api: str, version: str, request: Request) -> JSONResponse:
        params: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "access_token"}
        try:
            params.update(await _json_body(request))
        except YouzanError as error:
            return _error_response(error)
        access_token = request.query_params.get("access_token", "")

        def answer() -> JSONResponse:
            fault = _fault_response(state)
            if fault is not None:
                return fault
            try:
                shop = _authorised_shop(state, access_token)
                handler = APIS.get(api)
                if handler is None:
                    raise YouzanError(*API_NOT_FOUND, gateway=True)
                return JSONResponse(_success(handler(state, shop, params)))
            except YouzanError as error:
                return _error_response(error)

        return await run_in_threadpool(answer)

    return router
