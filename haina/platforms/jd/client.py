"""JD JOS client: signed `routerjson` calls, OAuth token refresh, and `classify`, which turns JD's
in-body errors into PlatformError / Throttled / AuthExpired (REFERENCE §5).

System parameters go as a form body with every business parameter inside `360buy_param_json`,
signed by haina.platforms.jd.signing. Retries, rate limits, failover and the circuit breaker are
haina.platforms.http's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime
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
from haina.platforms.jd.signing import BUSINESS_PARAMETER, business_json, sign
from haina.platforms.reading import answer_object, read_json

PRODUCTION = Endpoint("https://api.jd.com")
PRODUCTION_OAUTH_URL = "https://open-oauth.jd.com"
GATEWAY_PATH = "/routerjson"
VERSION = "2.0"

# ---- JD's error codes: third-party captures and assumptions (REFERENCE §5, §7.6) ------------
SIGNATURE_INVALID = "12"
TOKEN_INVALID = "19"  # 无效access_token: JD answers an expired token with it too (assumption)
# JD's throttle code is UNCONFIRMED; "67" is what the sandbox sends by default. Texts that talk
# of a call limit count as throttling too, so a corrected code still backs off.
THROTTLE_CODES = frozenset({"67"})
THROTTLE_WORDS = ("limit", "频繁", "限流", "超过限制", "超限")
RETRYABLE_CODES = frozenset({"1", "66"})  # 服务不可用 / 平台连接后端服务失败 (assumption)
HINTS = {SIGNATURE_INVALID: "check the app key and app secret", "21": "check the app key"}


def shanghai_text(moment: datetime) -> str:
    """'2024-05-07 09:00:00' in GMT+8, the form of JD's time parameters."""
    return moment.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def timestamp_text(moment: datetime) -> str:
    """The `timestamp` system parameter: 'yyyy-MM-dd HH:mm:ss.SSS+0800'."""
    local = moment.astimezone(clock.SHANGHAI)
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}+0800"


def classify(response: httpx.Response) -> PlatformError | None:
    """JD's in-body errors: `error_response{code, zh_desc, en_desc}` on the gateway, and
    `{"code": non-zero, "msg"}` on the OAuth endpoints."""
    try:
        document = read_json(response.content)
    except PlatformError as error:
        return error
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    if "error_response" in document:
        refusal = document["error_response"]
        details: Mapping[str, Any] = refusal if isinstance(refusal, Mapping) else {}
        code = str(details.get("code", ""))
        message = " / ".join(str(details[key]) for key in ("zh_desc", "en_desc") if details.get(key))
        return error_for(code, message or "JD refused the call")
    if "access_token" not in document and str(document.get("code", "0")) not in ("0", ""):
        return error_for(str(document["code"]), str(document.get("msg") or "JD OAuth refused the call"))
    return None


def error_for(code: str, message: str) -> PlatformError:
    if code in THROTTLE_CODES or any(word in message.lower() for word in THROTTLE_WORDS):
        return Throttled(code, message)
    if code == TOKEN_INVALID:
        return AuthExpired(code, message)
    hint = HINTS.get(code)
    return PlatformError(code, f"{message}: {hint}" if hint else message, retryable=code in RETRYABLE_CODES)


class JdClient:
    """One shop's JOS connection. `credentials` holds the current tokens: after a refresh the
    caller stores them again."""

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
        self.oauth_url = credentials.extra.get("oauth_url") or (
            PRODUCTION_OAUTH_URL if endpoint.base_url == PRODUCTION.base_url else endpoint.base_url
        )

    def close(self) -> None:
        self.http.close()

    def signed(self, method: str, business: Mapping[str, Any]) -> dict[str, str]:
        parameters = {
            "method": method,
            "app_key": self.credentials.app_key,
            "access_token": self.credentials.access_token,
            "timestamp": timestamp_text(clock.now()),
            "v": VERSION,
            BUSINESS_PARAMETER: business_json(business),
        }
        parameters["sign"] = sign(parameters, self.credentials.app_secret)
        return parameters

    def call(self, method: str, business: Mapping[str, Any]) -> Mapping[str, Any]:
        """The `<method>_responce` object of one API call; an expired token is refreshed once."""
        try:
            response = self.http.request("POST", GATEWAY_PATH, data=self.signed(method, business))
        except AuthExpired:
            if not self.credentials.refresh_token:
                raise
            self.refresh()
            response = self.http.request("POST", GATEWAY_PATH, data=self.signed(method, business))
        return answer_object(read_json(response.content), method.replace(".", "_") + "_responce")

    def result(self, answer: Mapping[str, Any], name: str) -> Mapping[str, Any]:
        """An API's result object, whose `apiResult` may report a business error."""
        result = answer_object(answer, name)
        outcome = result.get("apiResult")
        if isinstance(outcome, Mapping) and outcome.get("success") is False:
            code = str(outcome.get("numberCode") or outcome.get("englishErrCode") or "api_result")
            raise error_for(code, str(outcome.get("chineseErrCode") or outcome.get("englishErrCode") or code))
        return result

    def exchange_code(self, code: str) -> Credentials:
        """Trade an authorization code from the consent redirect for tokens."""
        return self._grant({"grant_type": "authorization_code", "code": code}, "/oauth2/access_token")

    def refresh(self) -> Credentials:
        """New tokens from the refresh token; the old access token stops working."""
        return self._grant({"refresh_token": self.credentials.refresh_token}, "/oauth2/refresh_token")

    def _grant(self, parameters: Mapping[str, str], path: str) -> Credentials:
        credentials = {"app_key": self.credentials.app_key, "app_secret": self.credentials.app_secret}
        response = self.http.request(
            "POST", self.oauth_url.rstrip("/") + path, data={**credentials, **parameters}
        )
        document = read_json(response.content)
        token = document.get("access_token") if isinstance(document, Mapping) else None
        if not isinstance(token, str) or not token:
            raise PlatformError("unexpected_answer", "the OAuth answer has no access_token")
        self.credentials = dataclasses.replace(
            self.credentials,
            access_token=token,
            refresh_token=str(document.get("refresh_token") or self.credentials.refresh_token),
        )
        return self.credentials
