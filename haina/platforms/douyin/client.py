"""Douyin 抖店 client: signed gateway calls, tokens (self-use `token.create`, `token.refresh`), and
`classify`, which turns the `{"code": …, "sub_code": …}` envelope's errors into PlatformError /
Throttled / AuthExpired (REFERENCE §6).

Common parameters go in the query, business parameters as the canonical `param_json` body, signed
with hmac-sha256 by haina.platforms.douyin.signing. Retries, rate limits, failover and the circuit
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
from haina.platforms.douyin.signing import VERSION, canonical_param_json, method_path, sign
from haina.platforms.http import (
    AuthExpired,
    PlatformError,
    PlatformHttp,
    RateLimiter,
    RetryPolicy,
    Sleep,
    Throttled,
)
from haina.platforms.reading import answer_object, read_json

PRODUCTION = Endpoint("https://openapi-fxg.jinritemai.com")
SIGN_METHOD = "hmac-sha256"

# ---- Douyin's error codes: only 10000 = success is confirmed (REFERENCE §6.2, §7.7) ----------
SUCCESS = 10000
# Throttling is UNCONFIRMED: 50002 / isp.over-flow-limit is what the sandbox sends by default;
# a sub code that speaks of a limit or flow control, or a message of 频率/限流, counts too.
THROTTLE_CODES = frozenset({50002})
THROTTLE_SUB_CODE_WORDS = ("limit", "flow")
THROTTLE_MESSAGE_WORDS = ("频率", "限流", "频繁")
TOKEN_CODES = frozenset({30002})  # isv.access-token-expired / -no-exist (assumption)
HINTS = {40002: "check the app key and app secret", 30001: "check the app key"}


def classify(response: httpx.Response) -> PlatformError | None:
    """Douyin's in-body errors: `code` other than 10000 (or old-style `err_no` other than 0)."""
    try:
        document = read_json(response.content)
    except PlatformError as error:
        return error
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    if document.get("err_no") == 0 or document.get("code") == SUCCESS:
        return None
    raw_code = document.get("code", document.get("err_no", ""))
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else -1
    sub_code = str(document.get("sub_code") or "")
    message = (
        " / ".join(str(document[key]) for key in ("msg", "sub_msg", "message") if document.get(key))
        or "Douyin refused the call"
    )
    if (
        code in THROTTLE_CODES
        or any(word in sub_code.lower() for word in THROTTLE_SUB_CODE_WORDS)
        or any(word in message for word in THROTTLE_MESSAGE_WORDS)
    ):
        return Throttled(raw_code, f"{message} ({sub_code})")
    if code in TOKEN_CODES or "access-token" in sub_code:
        return AuthExpired(raw_code, f"{message} ({sub_code})")
    hint = HINTS.get(code)
    text = f"{message} ({sub_code}): {hint}" if hint else f"{message} ({sub_code})"
    # isp.* errors are the platform's own trouble; isv.* ones are ours and final.
    return PlatformError(raw_code, text, retryable=sub_code.startswith("isp."))


class DouyinClient:
    """One shop's Doudian connection. A self-use app without a token creates one for its shop;
    `credentials` holds the current tokens, which the caller stores again after a run."""

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

    def request(self, method: str, business: Mapping[str, Any], *, with_token: bool) -> Mapping[str, Any]:
        """One signed call; the envelope's `data` object."""
        param_json = canonical_param_json(dict(business))
        timestamp = str(int(clock.now().timestamp()))
        query = {
            "app_key": self.credentials.app_key,
            "method": method,
            "timestamp": timestamp,
            "v": VERSION,
            "sign_method": SIGN_METHOD,
            "sign": sign(
                app_key=self.credentials.app_key,
                app_secret=self.credentials.app_secret,
                method=method,
                param_json=param_json,
                timestamp=timestamp,
                sign_method=SIGN_METHOD,
            ),
        }
        if with_token:
            query["access_token"] = self.credentials.access_token
        response = self.http.request(
            "POST",
            method_path(method),
            params=query,
            content=param_json.encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        return answer_object(read_json(response.content), "data")

    def call(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """A shop API call; a missing or expired token is created or refreshed once."""
        if not self.credentials.access_token:
            self.renew()
        try:
            return self.request(method, business, with_token=True)
        except AuthExpired:
            self.renew()
            return self.request(method, business, with_token=True)

    def renew(self) -> Credentials:
        """Refresh the token, or (self-use apps, or a dead refresh token) create a new one."""
        if self.credentials.refresh_token:
            try:
                return self.refresh()
            except PlatformError as error:
                if error.retryable or not self.shop_id:
                    raise
        return self.create_token()

    def create_token(self, code: str = "") -> Credentials:
        """A token for a self-use app's shop, or from a tool app's authorization `code`."""
        business = (
            {"code": code, "grant_type": "authorization_code"}
            if code
            else {"code": "", "grant_type": "authorization_self", "shop_id": self.shop_id}
        )
        return self._grant("token.create", business)

    def refresh(self) -> Credentials:
        business = {"grant_type": "refresh_token", "refresh_token": self.credentials.refresh_token}
        return self._grant("token.refresh", business)

    def _grant(self, method: str, business: Mapping[str, str]) -> Credentials:
        data = self.request(method, business, with_token=False)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise PlatformError("unexpected_answer", f"{method} answered no access_token")
        self.credentials = dataclasses.replace(
            self.credentials,
            access_token=token,
            refresh_token=str(data.get("refresh_token") or ""),
            shop_id=self.credentials.shop_id or str(data.get("shop_id") or ""),
        )
        self.shop_id = self.credentials.shop_id
        return self.credentials
