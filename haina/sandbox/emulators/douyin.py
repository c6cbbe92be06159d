"""Douyin 抖店 emulator (`POST https://openapi-fxg.jinritemai.com/<method path>`) and its pushes.

Speaks the gateway's wire format: common parameters in the query, business parameters as the
`param_json` body (or query parameter), signed over the canonical `param_json` with md5 or
hmac-sha256, answers in the `{"code":10000,"msg":"success",…,"data":…}` envelope. Served:
`token.create` (self-use apps), `token.refresh` and `order.searchList` (by create or update
time, pages from 0). Money is integer fen, times are unix seconds.

Pushes: when the world reports a changed order or refund of a Douyin shop, a message is POSTed
to `state.push_targets["douyin"]` with `app-id` and `event-sign` headers, from a background
worker (in order), or at once when `state.scratch["douyin"]["push_synchronously"]` is true.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from haina.core.money import split_fen
from haina.platforms.douyin.signing import SIGN_METHODS, canonical_param_json, event_sign, method_path, sign
from haina.sandbox.emulators.gateway_common import (
    Grant,
    Refusal,
    answer_off_the_loop,
    from_unix_seconds,
    in_window,
    is_expired,
    json_object,
    json_response,
    mask_address,
    mask_name,
    mask_phone,
    next_request_id,
    opaque_id,
    orders_of_shop,
    page_of,
    read_gateway_input,
    read_number,
    seal,
    server_error,
    shops_with_key,
    stable_order,
    throttle_body,
    token_book,
    unix_seconds,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Shop

PLATFORM = "douyin"
logger = logging.getLogger(__name__)

# ---- Wire details that are assumptions or UNCONFIRMED (REFERENCE §6, §7.7) -----------------
# Only `code` 10000 = success and `sub_code` in the isv./isp. style are known; every error code
# and text below is an assumption. Douyin's throttle format is unknown: the body below is a
# placeholder that a test or the demo may replace through `state.scratch["douyin"]["throttle_body"]`.
SUCCESS = 10000
SIGNATURE_INVALID = (40002, "isv.signature-invalid", "签名校验失败")
TOKEN_EXPIRED = (30002, "isv.access-token-expired", "access_token已过期")
TOKEN_UNKNOWN = (30002, "isv.access-token-no-exist", "access_token不存在")
APP_KEY_INVALID = (30001, "isv.app-key-invalid", "app_key不存在")
METHOD_UNKNOWN = (40001, "isv.method-not-exist", "method不存在或与路径不符")
PARAMETER_INVALID = 40004
PARAMETER_INVALID_SUB_CODE = "isv.parameter-invalid"
THROTTLE_BODY: dict[str, Any] = {
    "code": 50002,
    "msg": "调用频率超限",
    "sub_code": "isp.over-flow-limit",
    "sub_msg": "接口调用频率超过限制",
    "log_id": "",
    "data": None,
}
ACCESS_TOKEN_LIFETIME = timedelta(days=7)  # UNCONFIRMED
REFRESH_TOKEN_LIFETIME = timedelta(days=14)  # UNCONFIRMED
MAX_PAGE_SIZE = 100
# Push tags: 100 = 订单创建 is in the SDK notes; the others and every data key are UNCONFIRMED.
# A status without a tag (refunded orders: their refunds are pushed instead) sends nothing.
ORDER_TAGS = {"pending_payment": "100", "paid": "101", "shipped": "102", "completed": "103", "closed": "106"}
REFUND_TAGS = {"requested": "200", "agreed": "201", "refused": "204", "completed": "206"}


def receiver_fields(state: SandboxState, order: Order) -> dict[str, Any]:
    """Receiver PII, the one place its format lives: ciphertext (`encrypt_*`, to be opened with
    `order.batchDecrypt`, not emulated) plus masked copies. The ciphertext framing ($phone$,
    ~name~, #address#) is UNCONFIRMED."""
    region = {
        "province": {"name": order.province, "id": ""},
        "city": {"name": order.city, "id": ""},
        "town": {"name": order.district, "id": ""},
        "street": {"name": "", "id": ""},
    }
    return {
        "encrypt_post_receiver": f"~{seal(state, PLATFORM, order.receiver_name)}~",
        "encrypt_post_tel": f"${seal(state, PLATFORM, order.receiver_phone)}$",
        "mask_post_receiver": mask_name(order.receiver_name),
        "mask_post_tel": mask_phone(order.receiver_phone),
        "post_addr": {**region, "encrypt_detail": f"#{seal(state, PLATFORM, order.address)}#"},
        "mask_post_addr": {**region, "detail": mask_address(order.address)},
    }


STATUS_TEXT = {
    1: "待支付",
    105: "已支付",
    2: "备货中",
    101: "部分发货",
    3: "已发货",
    4: "已取消",
    5: "已完成",
}


def order_status(order: Order) -> int:
    # Cancelled and fully refunded orders are 4 (已取消) even when they had finished first.
    if order.status in ("closed", "refunded"):
        return 4
    if order.finished_at is not None or order.status == "completed":
        return 5
    if order.shipped_at is not None or order.status == "shipped":
        return 3
    if order.paid_at is not None:
        return 2
    return 1


def number_or_text(identifier: str) -> int | str:
    return int(identifier) if identifier.isdigit() else identifier


def render_order(state: SandboxState, shop: Shop, order: Order) -> dict[str, Any]:
    status = order_status(order)
    line_totals = [line.price_fen * line.quantity for line in order.lines]
    line_payments = paid_per_line(line_totals, order.paid_fen - order.freight_fen)
    return {
        "shop_id": number_or_text(shop.shop_id),
        "order_id": order.order_id,
        "order_level": 2,
        "order_status": status,
        "order_status_desc": STATUS_TEXT[status],
        "create_time": unix_seconds(order.created_at),
        "update_time": unix_seconds(order.modified_at),
        "pay_time": unix_seconds(order.paid_at),
        "ship_time": unix_seconds(order.shipped_at),
        "finish_time": unix_seconds(order.finished_at),
        "order_amount": order.total_fen,
        "pay_amount": order.paid_fen,
        "post_amount": order.freight_fen,
        "promotion_amount": order.discount_fen,
        "promotion_shop_amount": order.discount_fen,
        "promotion_platform_amount": 0,
        "buyer_words": order.buyer_message,
        "seller_words": "",
        "doudian_open_id": opaque_id(shop.app_key, order.buyer_id),
        **receiver_fields(state, order),
        "sku_order_list": [
            {
                "order_id": line.line_id,
                "parent_order_id": order.order_id,
                "order_status": status,
                "order_status_desc": STATUS_TEXT[status],
                "product_id": number_or_text(line.sku_id),
                "product_name": line.title,
                "sku_id": number_or_text(line.sku_id),
                "code": line.outer_sku,
                "item_num": line.quantity,
                "origin_amount": total,
                "pay_amount": payment,
            }
            for line, total, payment in zip(order.lines, line_totals, line_payments, strict=True)
        ],
    }


def paid_per_line(line_totals: list[int], goods_paid: int) -> list[int]:
    """Split what was paid for goods across the lines by their totals; the parts add up exactly."""
    if not line_totals:
        return []
    if sum(line_totals) <= 0:
        return [0] * (len(line_totals) - 1) + [goods_paid]
    return split_fen(goods_paid, line_totals)


# ---- APIs --------------------------------------------------------------------------------


def order_search(state: SandboxState, shop: Shop, business: dict[str, Any]) -> dict[str, Any]:
    page = read_number(business, "page", 0, PARAMETER_INVALID)
    size = read_number(business, "size", 10, PARAMETER_INVALID)
    if page < 0 or not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_parameter(f"page 从 0 开始, size 取 1 到 {MAX_PAGE_SIZE}")
    bounds: dict[str, datetime | None] = {}
    for name in ("create_time_start", "create_time_end", "update_time_start", "update_time_end"):
        seconds = read_number(business, name, -1, PARAMETER_INVALID)
        bounds[name] = from_unix_seconds(seconds) if seconds >= 0 else None
    order_by = str(business.get("order_by") or "create_time")
    if order_by not in ("create_time", "update_time"):
        raise bad_parameter("order_by 只能是 create_time 或 update_time")
    sort_attribute = "created_at" if order_by == "create_time" else "modified_at"
    matching = [
        order
        for order in stable_order(orders_of_shop(state, shop.shop_id), sort_attribute)
        if in_window(order.created_at, bounds["create_time_start"], bounds["create_time_end"])
        and in_window(order.modified_at, bounds["update_time_start"], bounds["update_time_end"])
    ]
    if str(business.get("order_asc", "false")).lower() not in ("true", "1"):
        matching.reverse()
    listed = [render_order(state, shop, order) for order in page_of(matching, page, size, first_page=0)]
    return {"shop_order_list": listed, "page": page, "size": size, "total": len(matching)}


def grant_data(grant: Grant, shop: Shop) -> dict[str, Any]:
    # access_token, expires_in, refresh_token are confirmed; the rest is from memory.
    return {
        "access_token": grant.access_token,
        "expires_in": grant.expires_in(),
        "refresh_token": grant.refresh_token,
        "scope": "SCOPE",
        "shop_id": number_or_text(shop.shop_id),
        "shop_name": shop.name,
    }


def token_create(state: SandboxState, app_shops: list[Shop], business: dict[str, Any]) -> dict[str, Any]:
    """Self-use apps only (`grant_type=authorization_self` with `shop_id`, or `test_shop=1` for the
    app's first shop); the tool-app code flow is not emulated."""
    if business.get("grant_type") != "authorization_self":
        raise bad_parameter("grant_type 只支持 authorization_self")
    wanted = str(business.get("shop_id") or "")
    is_test_shop = str(business.get("test_shop") or "") == "1"
    shop = next((shop for shop in app_shops if shop.shop_id == wanted or (is_test_shop and not wanted)), None)
    if shop is None:
        raise bad_parameter("shop_id 未授权给该应用")
    grant = token_book(state, PLATFORM).issue(
        shop.shop_id, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME, revoke_previous=False
    )
    return grant_data(grant, shop)


def token_refresh(state: SandboxState, app_shops: list[Shop], business: dict[str, Any]) -> dict[str, Any]:
    grant = token_book(state, PLATFORM).refresh(
        str(business.get("refresh_token") or ""), ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME
    )
    shop = next((shop for shop in app_shops if grant and shop.shop_id == grant.shop_id), None)
    if grant is None or shop is None:
        raise bad_parameter("refresh_token 无效或已过期")
    return grant_data(grant, shop)


APP_APIS = {"token.create": token_create, "token.refresh": token_refresh}
SHOP_APIS = {"order.searchList": order_search}


# ---- gateway -----------------------------------------------------------------------------


def envelope(
    state: SandboxState, data: Any, code: int = SUCCESS, sub_code: str = "", message: str = ""
) -> Any:
    return {
        "code": code,
        "msg": "success" if code == SUCCESS else message,
        "sub_code": sub_code,
        "sub_msg": "" if code == SUCCESS else message,
        "log_id": next_request_id(state, PLATFORM),
        "data": data,
    }


def refuse(code: int, sub_code: str, message: str) -> Refusal:
    return Refusal(code, message, sub_code)


def bad_parameter(message: str) -> Refusal:
    return Refusal(PARAMETER_INVALID, message, PARAMETER_INVALID_SUB_CODE)


def business_parameters(parameters: dict[str, str], body: bytes) -> dict[str, Any]:
    try:
        if body.strip():
            return json_object(body)
        return json_object((parameters.get("param_json") or "{}").encode("utf-8"))
    except ValueError:
        raise bad_parameter("param_json 须为 JSON 对象")


def answer(state: SandboxState, path: str, parameters: dict[str, str], body: bytes) -> Response:
    """One gateway call: fault plan, app key, method and path, signature, token, then the API."""
    fault = state.faults.decide(PLATFORM)
    if fault == "throttle":
        return json_response(throttle_body(state, PLATFORM, THROTTLE_BODY))
    if fault == "error":
        return server_error()
    try:
        app_shops = shops_with_key(state, PLATFORM, parameters.get("app_key", ""))
        if not app_shops:
            raise refuse(*APP_KEY_INVALID)
        method = parameters.get("method", "")
        if (method not in APP_APIS and method not in SHOP_APIS) or method_path(method) != path:
            raise refuse(*METHOD_UNKNOWN)
        business = business_parameters(parameters, body)
        sign_method = parameters.get("sign_method") or "md5"
        if sign_method not in SIGN_METHODS:
            raise bad_parameter(f"sign_method 只能是 {SIGN_METHODS}")
        expected = sign(
            app_key=app_shops[0].app_key,
            app_secret=app_shops[0].app_secret,
            method=method,
            param_json=canonical_param_json(business),
            timestamp=parameters.get("timestamp", ""),
            version=parameters.get("v", ""),
            sign_method=sign_method,
        )
        if (parameters.get("sign") or "").lower() != expected:
            raise refuse(*SIGNATURE_INVALID)
        if method in APP_APIS:
            return json_response(envelope(state, APP_APIS[method](state, app_shops, business)))
        grant = token_book(state, PLATFORM).find(parameters.get("access_token", ""))
        shop = next((shop for shop in app_shops if grant and shop.shop_id == grant.shop_id), None)
        if grant is None or shop is None:
            raise refuse(*TOKEN_UNKNOWN)
        if is_expired(grant):
            raise refuse(*TOKEN_EXPIRED)
        return json_response(envelope(state, SHOP_APIS[method](state, shop, business)))
    except Refusal as refusal:
        sub_code = refusal.detail or PARAMETER_INVALID_SUB_CODE  # read_number gives no sub code
        return json_response(envelope(state, None, int(refusal.code), sub_code, refusal.message))


# ---- pushes ------------------------------------------------------------------------------


def push_message(state: SandboxState, kind: str, record: Any) -> tuple[Shop, bytes] | None:
    """The push for a changed order or refund of a Douyin shop, or None when there is none."""
    if getattr(record, "platform", None) != PLATFORM or kind not in ("orders", "refunds"):
        return None
    try:
        shop = state.world.shop(record.shop_id)
    except KeyError:
        return None
    if kind == "orders":
        tag = ORDER_TAGS.get(record.status)
        data: dict[str, Any] = {
            "p_id": record.order_id,
            "s_ids": [line.line_id for line in record.lines],
            "shop_id": number_or_text(shop.shop_id),
            "order_status": order_status(record),
            "order_type": 0,
            "biz": 2,
            "create_time": unix_seconds(record.created_at),
            "update_time": unix_seconds(record.modified_at),
        }
        message_id = f"{record.order_id}:{record.version}:{tag}"
    else:
        tag = REFUND_TAGS.get(record.status)
        data = {
            "aftersale_id": record.refund_id,
            "p_id": record.order_id,
            "s_id": record.line_id or record.order_id,
            "shop_id": number_or_text(shop.shop_id),
            "refund_amount": record.amount_fen,
            "reason": record.reason,
            "apply_time": unix_seconds(record.created_at),
            "update_time": unix_seconds(record.modified_at),
        }
        message_id = f"{record.refund_id}:{unix_seconds(record.modified_at)}:{tag}"
    if tag is None:
        return None
    messages = [
        {
            "tag": tag,
            "msg_id": message_id,
            "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        }
    ]
    return shop, json.dumps(messages, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Pusher:
    """Sends Douyin pushes for world changes, one at a time and in order."""

    state: SandboxState
    outbox: queue.Queue[tuple[str, Shop, bytes]] = field(default_factory=queue.Queue)
    worker: threading.Thread | None = None
    delivered: list[dict[str, Any]] = field(default_factory=list)  # outcome of each attempt
    # Pushes go to Haina on loopback; a proxy from the environment must not catch them.
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5, trust_env=False))

    def on_change(self, kind: str, record: Any) -> None:
        try:
            self.send(kind, record)
        except Exception:  # a listener must not break the world's other listeners
            logger.exception("douyin push for %s could not be prepared", kind)

    def send(self, kind: str, record: Any) -> None:
        message = push_message(self.state, kind, record)
        url = self.state.push_targets.get(PLATFORM)
        if message is None or not url or self.state.faults.drop_push(PLATFORM):
            return
        shop, body = message
        if self.state.scratch[PLATFORM].get("push_synchronously"):
            self.deliver(url, shop, body)
            return
        self.outbox.put((url, shop, body))
        with self.state.lock:
            if self.worker is None or not self.worker.is_alive():
                self.worker = threading.Thread(target=self.work, name="douyin-push", daemon=True)
                self.worker.start()

    def work(self) -> None:
        while True:
            url, shop, body = self.outbox.get()
            try:
                self.deliver(url, shop, body)
            finally:
                self.outbox.task_done()

    def deliver(self, url: str, shop: Shop, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "app-id": shop.app_key,
            "event-sign": event_sign(shop.app_key, body, shop.app_secret),
        }
        try:
            response = self.http.post(url, content=body, headers=headers)
            outcome: dict[str, Any] = {"url": url, "status": response.status_code}
        except httpx.HTTPError as error:
            logger.warning("douyin push to %s failed: %s", url, error)
            outcome = {"url": url, "error": str(error)}
        with self.state.lock:
            self.delivered.append(outcome)


def pusher_of(state: SandboxState) -> Pusher:
    """The state's one pusher, subscribed to world changes the first time it is asked for."""
    with state.lock:
        pusher = state.scratch[PLATFORM].get("pusher")
        if pusher is None:
            pusher = state.scratch[PLATFORM]["pusher"] = Pusher(state)
            state.subscribe(pusher.on_change)
    return pusher


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["sandbox douyin"])
    pusher_of(state)

    @router.api_route("/{path:path}", methods=["GET", "POST"])
    async def gateway(path: str, request: Request) -> Response:
        parameters, body = await read_gateway_input(request)
        if "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
            body = b""  # a form body was read as parameters, param_json among them
        return await answer_off_the_loop(state, PLATFORM, answer, state, "/" + path, parameters, body)

    return router
