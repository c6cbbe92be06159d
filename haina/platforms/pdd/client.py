"""Pinduoduo client: signed `POST /api/router` calls, token create/refresh, and `classify`, which
turns Pinduoduo's `error_response` into PlatformError / Throttled / AuthExpired (REFERENCE §4).

Common and business parameters travel side by side in a form body, every value as the text it
is signed with (haina.platforms.pdd.signing). Retries, rate limits, failover and the circuit
breaker are haina.platforms.http's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import httpx

from haina.core import clock
from haina.platforms.base import Credentials, Endpoint
from haina.platforms.http import (
    AuthExpired,
    PlatformError,
    PlatformHttp,
    RateLimiter,
    RetryPolicy,
    Sleep,
    Throttled,
)
from haina.platforms.pdd.signing import sign, sign_value
from haina.platforms.reading import answer_object, read_json

PRODUCTION = Endpoint("https://gw-api.pinduoduo.com")
GATEWAY_PATH = "/api/router"

# ---- Pinduoduo's error codes (REFERENCE §4.4, a third-party summary of the official table) ----
THROTTLE_CODES = frozenset({52101, 70031})  # 接口被限流 / 调用过于频繁
TOKEN_EXPIRED = 10019
# Internal errors, degradation and maintenance: the same call may work later. 50001 and 50002
# are left out: the doc's example of 50001 is a bad time span, which no retry fixes.
RETRYABLE_CODES = frozenset({50000, 52001, 52002, 52102, 52103, 70033})
HINTS = {
    20004: "check the client id and client secret",
    20005: "add this server's IP to the app's whitelist",
    20031: "the app lacks the permission package for this API",
}


def classify(response: httpx.Response) -> PlatformError | None:
    """Pinduoduo's in-body errors: `{"error_response": {"error_code", "error_msg", "sub_msg"}}`."""
    try:
        document = read_json(response.content)
    except PlatformError as error:
        return error
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    refusal = document.get("error_response")
    if refusal is None:
        return None
    details: Mapping[str, Any] = refusal if isinstance(refusal, Mapping) else {}
    raw_code = details.get("error_code", "")
    code = int(raw_code) if str(raw_code).isascii() and str(raw_code).isdigit() else -1
    message = str(details.get("error_msg") or details.get("sub_msg") or "Pinduoduo refused the call")
    if code in THROTTLE_CODES:
        return Throttled(code, message)
    if code == TOKEN_EXPIRED:
        return AuthExpired(code, message)
    hint = HINTS.get(code)
    return PlatformError(
        raw_code or "unknown", f"{message}: {hint}" if hint else message, retryable=code in RETRYABLE_CODES
    )


class PddClient:
    """One shop's Pinduoduo connection. `credentials` holds the current tokens: after a refresh
    the caller stores them again."""

    def __init__(
        self,
        credentials: Credentials,
        endpoint: Endpoint = PRODUCTION,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.shop_id = credentials.shop_id
        self.http = PlatformHttp(
            endpoint.base_url,
            endpoint.backup_url,
            classify=classify,
            limiter=limiter,
            retry=retry,
            sleep=sleep,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def signed(self, api: str, business: Mapping[str, Any], *, with_token: bool) -> dict[str, str]:
        parameters: dict[str, Any] = {
            **business,
            "type": api,
            "client_id": self.credentials.app_key,
            "timestamp": int(clock.now().timestamp()),
            "data_type": "JSON",
        }
        if with_token:
            parameters["access_token"] = self.credentials.access_token
        texts = {key: sign_value(value) for key, value in parameters.items() if value is not None}
        texts["sign"] = sign(texts, self.credentials.app_secret)
        return texts

    def call(self, api: str, business: Mapping[str, Any], *, root: str) -> Mapping[str, Any]:
        """The `root` object of one shop API call; an expired token is refreshed once."""
        try:
            response = self.http.request(
                "POST", GATEWAY_PATH, data=self.signed(api, business, with_token=True)
            )
        except AuthExpired:
            if not self.credentials.refresh_token:
                raise
            self.refresh()
            response = self.http.request(
                "POST", GATEWAY_PATH, data=self.signed(api, business, with_token=True)
            )
        return answer_object(read_json(response.content), root)

    def create_token(self, code: str) -> Credentials:
        """Trade an authorization code from the consent redirect for tokens."""
        return self._grant("pdd.pop.auth.token.create", {"code": code}, "pop_auth_token_create_response")

    def refresh(self) -> Credentials:
        """New tokens from the refresh token; the old access token stops working."""
        business = {"refresh_token": self.credentials.refresh_token}
        return self._grant("pdd.pop.auth.token.refresh", business, "pop_auth_token_refresh_response")

    def _grant(self, api: str, business: Mapping[str, str], root: str) -> Credentials:
        response = self.http.request("POST", GATEWAY_PATH, data=self.signed(api, business, with_token=False))
        grant = answer_object(read_json(response.content), root)
        token = grant.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError("unexpected_answer", f"{root} has no access_token")
        self.credentials = dataclasses.replace(
            self.credentials,
            access_token=token,
            refresh_token=str(grant.get("refresh_token") or self.credentials.refresh_token),
            shop_id=self.credentials.shop_id or str(grant.get("owner_id") or ""),
        )
        self.shop_id = self.credentials.shop_id
        return self.credentials
