"""Pinduoduo open-platform emulator (`POST https://gw-api.pinduoduo.com/api/router`).

Speaks the gateway's wire format: common and business parameters side by side (form or JSON
body), `type` naming the API, `MD5(secret + sorted kv + secret)` signatures, answers under a
per-API root key or `error_response`. Served: OAuth token create/refresh, `pdd.order.list.get`
(by paid time) and `pdd.order.number.list.increment.get` (by update time). Money is yuan numbers,
times in answers are GMT+8 text, times in requests are unix seconds.

Pushes are left out: Pinduoduo delivers messages only through its Java SDK's WebSocket client
(REFERENCE §4.5), so the connector polls the increment API and so does the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from haina.platforms.pdd.signing import sign_value, verify
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
    orders_of_shop,
    page_of,
    read_gateway_input,
    read_number,
    refunds_by_order,
    seal,
    server_error,
    shanghai_text,
    shops_with_key,
    stable_order,
    throttle_body,
    token_book,
    yuan_number,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Refund, Shop

PLATFORM = "pdd"

# ---- Wire details that are assumptions or UNCONFIRMED (REFERENCE §4, §7.5) -----------------
# Codes from the common error table; the message texts and the codes for an unknown token,
# client_id or API are assumptions.
SIGNATURE_INVALID = (20004, "签名验证失败")
TOKEN_EXPIRED = (10019, "access_token已过期")
TOKEN_UNKNOWN = (10019, "access_token不存在或已失效")  # assumption: same code as expired
PARAMETER_INVALID = 10000  # 参数错误; also used for an unknown client_id or type (assumption)
SPAN_TOO_LONG = 50001  # the doc's example: 50001 "时间跨度不能超过24小时"
# Throttled: error_code 70031 per the code table; the full body is UNCONFIRMED.
THROTTLE_BODY: dict[str, Any] = {
    "error_response": {
        "error_code": 70031,
        "error_msg": "调用过于频繁,请调整调用频率",
        "sub_code": "70031",
        "sub_msg": "接口被限流",
    }
}
ACCESS_TOKEN_LIFETIME = timedelta(days=1)  # UNCONFIRMED
REFRESH_TOKEN_LIFETIME = timedelta(days=30)  # UNCONFIRMED
MAX_PAGE_SIZE = 100
SHIP_DEADLINE = timedelta(hours=48)  # last_ship_time = paid + 48 h (assumption)


def receiver_fields(state: SandboxState, order: Order) -> dict[str, Any]:
    """Receiver PII, the one place its format lives. Since about 2020–21 the receiver name, phone
    and address come encrypted (to be opened with `pdd.open.decrypt.batch`, not emulated) with
    masked copies beside them. The ciphertext shape `~…~~` and the `*_mask` field names are
    UNCONFIRMED."""
    return {
        "receiver_name": f"~{seal(state, PLATFORM, order.receiver_name)}~~",
        "receiver_phone": f"~{seal(state, PLATFORM, order.receiver_phone)}~~",
        "address": f"~{seal(state, PLATFORM, order.address)}~~",
        "receiver_name_mask": mask_name(order.receiver_name),
        "receiver_phone_mask": mask_phone(order.receiver_phone),
        "receiver_address_mask": mask_address(order.address),
    }


# Pinduoduo shows an order only once it is paid (成团); an unpaid order does not exist for the API.
ORDER_STATUS_WAITING_SHIPMENT, ORDER_STATUS_SHIPPED, ORDER_STATUS_RECEIVED, ORDER_STATUS_ALL = 1, 2, 3, 5
REFUND_NONE, REFUND_IN_PROGRESS, REFUND_REFUNDING, REFUND_SUCCEEDED, REFUND_ALL = 1, 2, 3, 4, 5


def order_status(order: Order) -> int:
    if order.finished_at is not None or order.status == "completed":
        return ORDER_STATUS_RECEIVED
    if order.shipped_at is not None or order.status == "shipped":
        return ORDER_STATUS_SHIPPED
    return ORDER_STATUS_WAITING_SHIPMENT


def refund_status(order: Order, refunds: list[Refund]) -> int:
    if any(refund.status == "requested" for refund in refunds):
        return REFUND_IN_PROGRESS
    if any(refund.status == "agreed" for refund in refunds):
        return REFUND_REFUNDING
    if any(refund.status == "completed" for refund in refunds) or order.status in (
        "refunded",
        "partially_refunded",
        "closed",
    ):
        return REFUND_SUCCEEDED
    return REFUND_NONE


def number_or_text(identifier: str) -> int | str:
    """Pinduoduo ids are numbers; world ids that are not stay text."""
    return int(identifier) if identifier.isdigit() else identifier


def render_order(state: SandboxState, order: Order, refunds: list[Refund]) -> dict[str, Any]:
    goods_fen = sum(line.price_fen * line.quantity for line in order.lines)
    return {
        "order_sn": order.order_id,
        "order_status": order_status(order),
        "refund_status": refund_status(order, refunds),
        "confirm_status": 1,
        "group_status": 1,
        "trade_type": 0,
        "after_sales_status": 0,
        "created_time": shanghai_text(order.created_at),
        "confirm_time": shanghai_text(order.paid_at),
        "updated_at": shanghai_text(order.modified_at),
        "pay_time": shanghai_text(order.paid_at),
        "shipping_time": shanghai_text(order.shipped_at),
        "receive_time": shanghai_text(order.finished_at),
        "last_ship_time": shanghai_text(order.paid_at + SHIP_DEADLINE if order.paid_at else None),
        **receiver_fields(state, order),
        "province": order.province,
        "city": order.city,
        "town": order.district,
        "pay_amount": yuan_number(order.paid_fen),
        "goods_amount": yuan_number(goods_fen),
        "discount_amount": yuan_number(order.discount_fen),
        "postage": yuan_number(order.freight_fen),
        "platform_discount": yuan_number(0),
        "seller_discount": yuan_number(order.discount_fen),
        "buyer_memo": order.buyer_message,
        "remark": "",
        "item_list": [
            {
                "goods_id": number_or_text(line.sku_id),
                "sku_id": number_or_text(line.sku_id),
                "outer_id": line.outer_sku,
                "outer_goods_id": line.outer_sku,
                "goods_name": line.title,
                "goods_price": yuan_number(line.price_fen),
                "goods_spec": "",
                "goods_count": line.quantity,
                "goods_img": "",
            }
            for line in order.lines
        ],
        "logistics_id": 0,
        "tracking_number": f"YT{order.order_id[-12:]}" if order.shipped_at else "",
    }


# ---- APIs --------------------------------------------------------------------------------


def parameter(parameters: dict[str, str], name: str, default: int | None = None) -> int:
    return read_number(parameters, name, default, PARAMETER_INVALID)


def paging(parameters: dict[str, str]) -> tuple[int, int]:
    page = parameter(parameters, "page", 1)
    page_size = parameter(parameters, "page_size", 100)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise Refusal(PARAMETER_INVALID, f"page 从 1 开始, page_size 取 1 到 {MAX_PAGE_SIZE}")
    return page, page_size


@dataclass(frozen=True)
class WindowRule:
    """Which order time a list API filters on, its parameter names and its longest span."""

    attribute: str
    start_name: str
    end_name: str
    longest: timedelta
    longest_text: str


INCREMENT_WINDOW = WindowRule(
    "modified_at", "start_updated_at", "end_updated_at", timedelta(minutes=30), "30分钟"
)
LIST_WINDOW = WindowRule("paid_at", "start_confirm_at", "end_confirm_at", timedelta(hours=24), "24小时")


def visible_orders(
    state: SandboxState, shop: Shop, parameters: dict[str, str], rule: WindowRule
) -> tuple[list[dict[str, Any]], int, bool]:
    """Orders of `shop` whose `rule.attribute` time lies in the requested window and that pass
    the status filters, as (this page rendered, total, has next page)."""
    start = from_unix_seconds(parameter(parameters, rule.start_name))
    end = from_unix_seconds(parameter(parameters, rule.end_name))
    if end < start:
        raise Refusal(PARAMETER_INVALID, f"{rule.end_name} 不能早于 {rule.start_name}")
    if end - start > rule.longest:
        raise Refusal(SPAN_TOO_LONG, f"时间跨度不能超过{rule.longest_text}")
    wanted_status = parameter(parameters, "order_status", ORDER_STATUS_ALL)
    wanted_refund = parameter(parameters, "refund_status", REFUND_ALL)
    page, page_size = paging(parameters)
    refunds = refunds_by_order(state, PLATFORM)
    matching = []
    for order in stable_order(orders_of_shop(state, shop.shop_id), rule.attribute):
        moment = getattr(order, rule.attribute)
        if order.paid_at is None or moment is None or not in_window(moment, start, end):
            continue
        order_refunds = refunds.get(order.order_id, [])
        if wanted_status != ORDER_STATUS_ALL and order_status(order) != wanted_status:
            continue
        if wanted_refund != REFUND_ALL and refund_status(order, order_refunds) != wanted_refund:
            continue
        matching.append((order, order_refunds))
    chosen = page_of(matching, page, page_size)
    rendered = [render_order(state, order, order_refunds) for order, order_refunds in chosen]
    return rendered, len(matching), page * page_size < len(matching)


def order_increment(state: SandboxState, shop: Shop, parameters: dict[str, str]) -> dict[str, Any]:
    orders, total, has_next = visible_orders(state, shop, parameters, INCREMENT_WINDOW)
    return {
        "order_sn_increment_get_response": {
            "total_count": total,
            "has_next": has_next,
            "order_sn_list": orders,
        }
    }


def order_list(state: SandboxState, shop: Shop, parameters: dict[str, str]) -> dict[str, Any]:
    orders, total, _ = visible_orders(state, shop, parameters, LIST_WINDOW)
    return {"order_list_get_response": {"total_count": total, "order_list": orders}}


def grant_body(state: SandboxState, shop: Shop, grant: Grant) -> dict[str, Any]:
    return {
        "access_token": grant.access_token,
        "refresh_token": grant.refresh_token,
        "expires_in": grant.expires_in(),
        "expires_at": int(grant.expires_at.timestamp()),
        "refresh_token_expires_in": grant.refresh_expires_in(),
        "refresh_token_expires_at": int(grant.refresh_expires_at.timestamp()),
        "owner_id": shop.shop_id,
        "owner_name": shop.name,
        "scope": ["pdd.order.list.get", "pdd.order.number.list.increment.get"],
        "request_id": next_request_id(state, PLATFORM),
    }


def token_create(state: SandboxState, app_shops: list[Shop], parameters: dict[str, str]) -> dict[str, Any]:
    shop_id = token_book(state, PLATFORM).redeem_code(parameters.get("code", ""))
    shop = next((shop for shop in app_shops if shop.shop_id == shop_id), None)
    if shop is None:
        raise Refusal(PARAMETER_INVALID, "code 无效或已过期")
    grant = token_book(state, PLATFORM).issue(
        shop.shop_id, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME, revoke_previous=True
    )
    return {"pop_auth_token_create_response": grant_body(state, shop, grant)}


def token_refresh(state: SandboxState, app_shops: list[Shop], parameters: dict[str, str]) -> dict[str, Any]:
    grant = token_book(state, PLATFORM).refresh(
        parameters.get("refresh_token", ""), ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME
    )
    shop = next((shop for shop in app_shops if grant and shop.shop_id == grant.shop_id), None)
    if grant is None or shop is None:
        raise Refusal(PARAMETER_INVALID, "refresh_token 无效或已过期")
    return {"pop_auth_token_refresh_response": grant_body(state, shop, grant)}


SHOP_APIS = {
    "pdd.order.number.list.increment.get": order_increment,
    "pdd.order.list.get": order_list,
}
APP_APIS = {
    "pdd.pop.auth.token.create": token_create,
    "pdd.pop.auth.token.refresh": token_refresh,
}


# ---- gateway -----------------------------------------------------------------------------


def error_body(state: SandboxState, code: int, message: str) -> dict[str, Any]:
    return {
        "error_response": {
            "error_msg": message,
            "sub_msg": message,
            "sub_code": str(code),
            "error_code": code,
            "request_id": next_request_id(state, PLATFORM),
        }
    }


def authorised_shop(state: SandboxState, app_shops: list[Shop], parameters: dict[str, str]) -> Shop:
    grant = token_book(state, PLATFORM).find(parameters.get("access_token", ""))
    if grant is None:
        raise Refusal(*TOKEN_UNKNOWN)
    if is_expired(grant):
        raise Refusal(*TOKEN_EXPIRED)
    shop = next((shop for shop in app_shops if shop.shop_id == grant.shop_id), None)
    if shop is None:
        raise Refusal(*TOKEN_UNKNOWN)
    return shop


def answer(state: SandboxState, parameters: dict[str, str]) -> Response:
    """One gateway call: fault plan, client, signature, token, then the API itself."""
    fault = state.faults.decide(PLATFORM)
    if fault == "throttle":
        return json_response(throttle_body(state, PLATFORM, THROTTLE_BODY))
    if fault == "error":
        return server_error()
    try:
        app_shops = shops_with_key(state, PLATFORM, parameters.get("client_id", ""))
        if not app_shops:
            raise Refusal(PARAMETER_INVALID, "client_id 不存在")
        if not verify(parameters, app_shops[0].app_secret):
            raise Refusal(*SIGNATURE_INVALID)
        api = parameters.get("type", "")
        if api in APP_APIS:
            return json_response(APP_APIS[api](state, app_shops, parameters))
        if api in SHOP_APIS:
            shop = authorised_shop(state, app_shops, parameters)
            return json_response(SHOP_APIS[api](state, shop, parameters))
        raise Refusal(PARAMETER_INVALID, f"接口 {api or '(type 为空)'} 不存在")
    except Refusal as refusal:
        return json_response(error_body(state, int(refusal.code), refusal.message))


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["sandbox pdd"])

    @router.post("/api/router")
    async def gateway(request: Request) -> Response:
        parameters, body = await read_gateway_input(request)
        if body and "json" in request.headers.get("content-type", ""):
            try:
                document = json_object(body)
            except ValueError:
                return json_response(error_body(state, PARAMETER_INVALID, "请求体不是合法的 JSON"))
            parameters.update(
                {key: sign_value(value) for key, value in document.items() if value is not None}
            )
        return await answer_off_the_loop(state, PLATFORM, answer, state, parameters)

    @router.get("/authorize")
    def authorize(
        client_id: str,
        redirect_uri: str,
        state_text: str = Query("", alias="state"),
        shop_id: str = "",
    ) -> Response:
        """Stand-in for the merchant consent page (fuwu.pinduoduo.com/service-market/auth): consents
        at once and sends the browser back with a code. `shop_id` (sandbox only) picks the shop
        when several share one client_id."""
        app_shops = shops_with_key(state, PLATFORM, client_id)
        shop = next((shop for shop in app_shops if shop.shop_id == shop_id or not shop_id), None)
        if shop is None:
            return json_response(error_body(state, PARAMETER_INVALID, "client_id 不存在"), status_code=400)
        code = token_book(state, PLATFORM).issue_code(shop.shop_id)
        separator = "&" if "?" in redirect_uri else "?"
        query = urlencode({"code": code, "state": state_text})
        return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)

    return router
