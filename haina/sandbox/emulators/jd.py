"""JD JOS emulator (`https://api.jd.com/routerjson`) and its OAuth pages (open-oauth.jd.com).

Speaks the gateway's wire format: system parameters in the query or a form body, every business
parameter inside one JSON string `360buy_param_json`, `MD5(secret + sorted kv + secret)`
signatures, answers under `<method with _>_responce` (JD's own spelling) or `error_response`.
Served: `jingdong.pop.order.search`, by modified or created time. Money is yuan text, times are
'yyyy-MM-dd HH:mm:ss' in GMT+8. JD pushes were not researched, so none are sent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from haina.core.money import fen_to_yuan
from haina.platforms.jd.signing import BUSINESS_PARAMETER, verify
from haina.sandbox.emulators.gateway_common import (
    Grant,
    Refusal,
    answer_off_the_loop,
    in_window,
    is_expired,
    json_response,
    mask_address,
    mask_name,
    mask_phone,
    opaque_id,
    orders_of_shop,
    page_of,
    parse_shanghai_text,
    read_gateway_input,
    read_number,
    refunds_by_order,
    server_error,
    shanghai_text,
    shops_with_key,
    stable_order,
    throttle_body,
    token_book,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Refund, Shop

PLATFORM = "jd"

# ---- Wire details that are assumptions or UNCONFIRMED (REFERENCE §5, §7.6) -----------------
# Gateway codes as seen in third-party captures ("12" 无效签名, "15" 不存在的方法名,
# "19" 无效access_token, "21" Invalid app_key); the texts and "19" for an expired token are
# assumptions. JD's throttle code is unknown: the body below is a placeholder that a test or the
# demo may replace through `state.scratch["jd"]["throttle_body"]`.
SIGNATURE_INVALID = ("12", "无效签名", "Invalid Signature")
METHOD_UNKNOWN = ("15", "不存在的方法名", "Invalid Method")
TOKEN_INVALID = ("19", "无效access_token", "Invalid access_token")
APP_KEY_INVALID = ("21", "app_key 信息无效", "Invalid app_key")
PARAMETER_INVALID = "10"  # assumption
THROTTLE_BODY: dict[str, Any] = {
    "error_response": {"code": "67", "zh_desc": "调用次数超过限制", "en_desc": "API call limit exceeded"}
}  # assumption: code and texts invented for the sandbox
ACCESS_TOKEN_LIFETIME = timedelta(days=365)  # UNCONFIRMED
REFRESH_TOKEN_LIFETIME = timedelta(days=365)  # UNCONFIRMED
MAX_PAGE_SIZE = 100  # UNCONFIRMED (the signing example asks for 200)
# dateType: 0 (or any other number) = modified time, 1 = created time; sortType: 1 = newest
# first (default), other numbers = oldest first. Both UNCONFIRMED.
DATE_TYPE_CREATED = 1
SORT_NEWEST_FIRST = 1


def consignee(order: Order) -> dict[str, Any]:
    """Consignee PII, the one place its format lives: masked for most apps, full text only
    through JD's TDE decryption (format UNCONFIRMED, not emulated)."""
    masked_street = mask_address(order.address)
    return {
        "fullname": mask_name(order.receiver_name),
        "mobile": mask_phone(order.receiver_phone),
        "telephone": mask_phone(order.receiver_phone),
        "province": order.province,
        "city": order.city,
        "county": order.district,
        "fullAddress": f"{order.province}{order.city}{order.district}{masked_street}",
    }


# States per the SDK enum. An unpaid order is not listed (assumption); a closed or fully
# refunded order that never shipped is cancelled.
STATE_REMARKS = {
    "WAIT_SELLER_STOCK_OUT": "等待出库",
    "WAIT_GOODS_RECEIVE_CONFIRM": "等待确认收货",
    "FINISHED_L": "完成",
    "TRADE_CANCELED": "取消",
}


def order_state(order: Order) -> str:
    if order.status in ("closed", "refunded") and order.finished_at is None:
        return "TRADE_CANCELED"
    if order.finished_at is not None or order.status == "completed":
        return "FINISHED_L"
    if order.shipped_at is not None or order.status == "shipped":
        return "WAIT_GOODS_RECEIVE_CONFIRM"
    return "WAIT_SELLER_STOCK_OUT"


def render_order(shop: Shop, order: Order, refunds: list[Refund]) -> dict[str, Any]:
    goods_fen = sum(line.price_fen * line.quantity for line in order.lines)
    state_name = order_state(order)
    buyer = opaque_id(shop.app_key, order.buyer_id)
    return {
        "orderId": order.order_id,
        "venderId": shop.shop_id,
        "orderType": "22",
        "payType": "4-在线支付",
        "orderTotalPrice": fen_to_yuan(goods_fen),
        "orderSellerPrice": fen_to_yuan(goods_fen - order.discount_fen),
        "orderPayment": fen_to_yuan(order.paid_fen),
        "freightPrice": fen_to_yuan(order.freight_fen),
        "sellerDiscount": fen_to_yuan(order.discount_fen),
        "orderState": state_name,
        "orderStateRemark": STATE_REMARKS[state_name],
        "orderStartTime": shanghai_text(order.created_at),
        "orderEndTime": shanghai_text(order.finished_at),
        "modified": shanghai_text(order.modified_at),
        "paymentConfirmTime": shanghai_text(order.paid_at),
        "orderRemark": order.buyer_message,
        "returnOrder": "1" if refunds else "0",
        "consigneeInfo": consignee(order),
        "itemInfoList": [
            {
                "skuId": line.sku_id,
                "skuName": line.title,
                "outerSkuId": line.outer_sku,
                "jdPrice": fen_to_yuan(line.price_fen),
                "itemTotal": str(line.quantity),
                "wareId": line.sku_id,
            }
            for line in order.lines
        ],
        "open_id_buyer": buyer,
        "xid_buyer": f"o*{buyer[:24]}" if buyer else "",
    }


def wanted_fields(text: str) -> set[str]:
    """`optional_fields` names, compared without case or underscores: older docs list them in
    snake_case ("order_id"), the answers use camelCase ("orderId")."""
    return {name.strip().replace("_", "").lower() for name in text.split(",") if name.strip()}


def only_fields(order: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    if not fields:
        return order
    return {key: value for key, value in order.items() if key == "orderId" or key.lower() in fields}


# ---- APIs --------------------------------------------------------------------------------


def bad_parameter(message: str) -> Refusal:
    return Refusal(PARAMETER_INVALID, message, "Invalid Parameter")


def window_bound(business: dict[str, Any], name: str) -> datetime | None:
    text = business.get(name)
    if text in (None, ""):
        return None
    try:
        return parse_shanghai_text(str(text))
    except ValueError:
        raise bad_parameter(f"{name} 须为 yyyy-MM-dd HH:mm:ss")


def order_search(state: SandboxState, shop: Shop, business: dict[str, Any]) -> dict[str, Any]:
    start, end = window_bound(business, "start_date"), window_bound(business, "end_date")
    code = PARAMETER_INVALID
    page = read_number(business, "page", 1, code)
    page_size = read_number(business, "page_size", 10, code)
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise bad_parameter(f"page 从 1 开始, page_size 取 1 到 {MAX_PAGE_SIZE}")
    by_created = read_number(business, "dateType", 0, code) == DATE_TYPE_CREATED
    newest_first = read_number(business, "sortType", SORT_NEWEST_FIRST, code) == SORT_NEWEST_FIRST
    states = {name.strip() for name in str(business.get("order_state") or "").split(",") if name.strip()}
    attribute = "created_at" if by_created else "modified_at"
    refunds = refunds_by_order(state, PLATFORM)
    matching = [
        order
        for order in stable_order(orders_of_shop(state, shop.shop_id), attribute)
        if order.paid_at is not None
        and in_window(getattr(order, attribute), start, end)
        and (not states or order_state(order) in states)
    ]
    if newest_first:
        matching.reverse()
    fields = wanted_fields(str(business.get("optional_fields") or ""))
    listed = [
        only_fields(render_order(shop, order, refunds.get(order.order_id, [])), fields)
        for order in page_of(matching, page, page_size)
    ]
    return {
        "jingdong_pop_order_search_responce": {
            "code": "0",
            "searchorderinfo_result": {
                "apiResult": {"success": True, "englishErrCode": "", "chineseErrCode": "", "numberCode": 0},
                "orderTotal": len(matching),
                "orderInfoList": listed,
            },
        }
    }


SHOP_APIS = {"jingdong.pop.order.search": order_search}


# ---- gateway and OAuth -------------------------------------------------------------------


def error_body(code: str, chinese: str, english: str = "") -> dict[str, Any]:
    return {"error_response": {"code": code, "zh_desc": chinese, "en_desc": english}}


def business_parameters(parameters: dict[str, str]) -> dict[str, Any]:
    text = parameters.get(BUSINESS_PARAMETER) or "{}"
    try:
        business = json.loads(text)
    except ValueError:
        raise bad_parameter(f"{BUSINESS_PARAMETER} 不是合法的 JSON")
    if not isinstance(business, dict):
        raise bad_parameter(f"{BUSINESS_PARAMETER} 须为 JSON 对象")
    return business


def answer(state: SandboxState, parameters: dict[str, str]) -> Response:
    """One gateway call: fault plan, app key, signature, method, token, then the API itself."""
    fault = state.faults.decide(PLATFORM)
    if fault == "throttle":
        return json_response(throttle_body(state, PLATFORM, THROTTLE_BODY))
    if fault == "error":
        return server_error()
    try:
        app_shops = shops_with_key(state, PLATFORM, parameters.get("app_key", ""))
        if not app_shops:
            raise Refusal(*APP_KEY_INVALID)
        if not verify(parameters, app_shops[0].app_secret):
            raise Refusal(*SIGNATURE_INVALID)
        api = SHOP_APIS.get(parameters.get("method", ""))
        if api is None:
            raise Refusal(*METHOD_UNKNOWN)
        grant = token_book(state, PLATFORM).find(parameters.get("access_token", ""))
        shop = next((shop for shop in app_shops if grant and shop.shop_id == grant.shop_id), None)
        if grant is None or shop is None or is_expired(grant):
            raise Refusal(*TOKEN_INVALID)
        return json_response(api(state, shop, business_parameters(parameters)))
    except Refusal as refusal:
        english = refusal.detail or "Invalid Parameter"  # read_number gives no English text
        return json_response(error_body(str(refusal.code), refusal.message, english))


def token_body(grant: Grant, shop: Shop) -> dict[str, Any]:
    """OAuth token answer; every key is from memory of JD's docs and UNCONFIRMED."""
    return {
        "code": 0,
        "access_token": grant.access_token,
        "expires_in": grant.expires_in(),
        "refresh_token": grant.refresh_token,
        "scope": "snsapi_base",
        "open_id": opaque_id(shop.app_key, shop.shop_id),
        "uid": shop.shop_id,
        "time": int(grant.issued_at.timestamp() * 1000),
        "token_type": "bearer",
    }


def oauth_failure(message: str) -> Response:
    return json_response({"code": 402, "msg": message}, status_code=400)  # shape UNCONFIRMED


def exchange(state: SandboxState, parameters: dict[str, str], *, is_refresh: bool) -> Response:
    """OAuth: an authorization code (or a refresh token) for a token; a new code revokes the
    shop's earlier tokens."""
    app_shops = shops_with_key(state, PLATFORM, parameters.get("app_key", ""))
    if not app_shops or parameters.get("app_secret") != app_shops[0].app_secret:
        return oauth_failure("app_key 或 app_secret 无效")
    book = token_book(state, PLATFORM)
    grant: Grant | None
    if is_refresh:
        grant = book.refresh(
            parameters.get("refresh_token", ""), ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME
        )
    else:
        shop_id = book.redeem_code(parameters.get("code", ""))
        is_ours = shop_id in {shop.shop_id for shop in app_shops}
        grant = (
            book.issue(shop_id, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME, revoke_previous=True)
            if shop_id and is_ours
            else None
        )
    shop = next((shop for shop in app_shops if grant and shop.shop_id == grant.shop_id), None)
    if grant is None or shop is None:
        return oauth_failure("code 或 refresh_token 无效")
    return json_response(token_body(grant, shop))


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["sandbox jd"])

    @router.api_route("/routerjson", methods=["GET", "POST"])
    async def gateway(request: Request) -> Response:
        parameters, _ = await read_gateway_input(request)
        return await answer_off_the_loop(state, PLATFORM, answer, state, parameters)

    @router.get("/oauth2/to_login")
    def authorize(
        app_key: str,
        redirect_uri: str,
        state_text: str = Query("", alias="state"),
        shop_id: str = "",
    ) -> Response:
        """Stand-in for the merchant login and consent page: consents at once and sends the browser
        back with a code. `shop_id` (sandbox only) picks the shop when several share an app key."""
        shop = next(
            (
                shop
                for shop in shops_with_key(state, PLATFORM, app_key)
                if shop.shop_id == shop_id or not shop_id
            ),
            None,
        )
        if shop is None:
            return oauth_failure("app_key 无效")
        code = token_book(state, PLATFORM).issue_code(shop.shop_id)
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode({'code': code, 'state': state_text})}")

    @router.api_route("/oauth2/access_token", methods=["GET", "POST"])
    async def access_token(request: Request) -> Response:
        parameters, _ = await read_gateway_input(request)
        return exchange(state, parameters, is_refresh=parameters.get("grant_type") == "refresh_token")

    @router.api_route("/oauth2/refresh_token", methods=["GET", "POST"])
    async def refresh_token(request: Request) -> Response:
        parameters, _ = await read_gateway_input(request)
        return exchange(state, parameters, is_refresh=True)

    return router
