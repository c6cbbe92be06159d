"""Taobao/Tmall TOP client: signed `/router/rest` calls (REFERENCE §3.1, §3.2), the seller's
session (refreshed with `taobao.top.auth.token.refresh` when TOP calls it invalid, and the call
made again once), TMC polling, and `classify`, which turns TOP's `error_response` into
PlatformError / Throttled / AuthExpired (§3.6).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from haina.core import clock
from haina.core.clock import SHANGHAI
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
from haina.platforms.reading import read_json
from haina.platforms.taobao import signing

PRODUCTION = Endpoint("https://eco.taobao.com", backup_url="https://gw.api.taobao.com")
GATEWAY_PATH = "/router/rest"
DEFAULT_SIGN_METHOD = "hmac-sha256"
# TOP's call-limit codes (4 user, 5 session, 6 partner, 7 app, 8 frequency) and sub-codes.
THROTTLE_CODES = frozenset({"4", "5", "6", "7", "8"})
THROTTLE_SUB_CODE_PREFIX = "accesscontrol.limited"
SESSION_CODES = frozenset({"26", "27"})
RETRYABLE_CODES = frozenset({"10"})
STALE_TIMESTAMP = "31"  # Invalid Timestamp: more than 10 minutes from TOP's clock
HINTS = {
    "25": "check the app secret",
    "29": "check the app key",
    "11": "the app lacks permission for this API",
    "12": "the seller has not granted this API",
}
_BAN_SECONDS = re.compile(r"last for (\d+) more seconds")


def classify(response: httpx.Response) -> PlatformError | None:
    try:
        document = read_json(response.content)
    except PlatformError as unreadable:
        return unreadable
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    error = document.get("error_response")
    if error is None:
        return None
    if not isinstance(error, Mapping):
        return PlatformError("unexpected_answer", "error_response is not an object")
    code = str(error.get("code", ""))
    sub_code = str(error.get("sub_code") or "")
    sub_message = str(error.get("sub_msg") or "")
    message = " / ".join(part for part in (str(error.get("msg") or ""), sub_code, sub_message) if part)
    if code in THROTTLE_CODES or sub_code.startswith(THROTTLE_SUB_CODE_PREFIX):
        ban = _BAN_SECONDS.search(sub_message)
        return Throttled(code, message, float(ban.group(1)) if ban else None)
    if code in RETRYABLE_CODES or sub_code.startswith("isp."):
        return PlatformError(code, message, retryable=True)
    if code in SESSION_CODES:
        return AuthExpired(code, message)
    hint = HINTS.get(code)
    return PlatformError(code, f"{message}: {hint}" if hint else message)


def response_name(method: str) -> str:
    """`taobao.trades.sold.get` → `trades_sold_get_response`."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


class TaobaoClient:
    """Calls for one seller (a Taobao or Tmall shop) of one app."""

    platform = "taobao"

    def __init__(
        self,
        credentials: Credentials,
        endpoint: Endpoint = PRODUCTION,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        self.app_key = credentials.app_key
        self._secret = credentials.app_secret
        self.shop_id = credentials.shop_id
        # Tmall shops speak TOP too; their records say "tmall".
        self.shop_platform = credentials.extra.get("platform", "taobao")
        self.sign_method = credentials.extra.get("sign_method", DEFAULT_SIGN_METHOD)
        self.tmc_group = credentials.extra.get("tmc_group", "default")
        self.session = credentials.access_token
        self.refresh_token = credentials.refresh_token
        self._session_lock = threading.Lock()
        self.http = PlatformHttp(
            endpoint.base_url,
            endpoint.backup_url,
            classify=classify,
            limiter=limiter,
            retry=retry,
            sleep=sleep,
            transport=transport,
            **options,
        )

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, params: Mapping[str, object], *, with_session: bool = True) -> dict[str, Any]:
        """The `<method>_response` object of one signed call."""
        session = self.session
        try:
            return self._call(method, params, session if with_session else "")
        except AuthExpired:
            if not with_session or not self.refresh_token:
                raise
            self.refresh_session(session)
            return self._call(method, params, self.session)

    def _call(self, method: str, params: Mapping[str, object], session: str) -> dict[str, Any]:
        try:
            return self._signed_call(method, params, session)
        except PlatformError as error:
            if error.code != STALE_TIMESTAMP:
                raise
            # Retries resend the signed request; after long backoff its timestamp may fall outside
            # TOP's ±10 minutes. Sign it afresh, once.
            return self._signed_call(method, params, session)

    def _signed_call(self, method: str, params: Mapping[str, object], session: str) -> dict[str, Any]:
        common: dict[str, object] = {
            "method": method,
            "app_key": self.app_key,
            "timestamp": clock.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "v": "2.0",
            "format": "json",
            "session": session or None,
        }
        data = signing.signed({**params, **common}, self._secret, self.sign_method)
        document = read_json(self.http.request("POST", GATEWAY_PATH, data=data).content)
        body = document.get(response_name(method)) if isinstance(document, Mapping) else None
        if not isinstance(body, dict):
            raise PlatformError("unexpected_answer", f"{method} answered without {response_name(method)}")
        return body

    def refresh_session(self, refused: str) -> None:
        """A new session from the refresh token (once, however many threads saw `refused` fail)."""
        with self._session_lock:
            if self.session != refused:
                return
            answer = self._call("taobao.top.auth.token.refresh", {"refresh_token": self.refresh_token}, "")
            try:
                token = json.loads(str(answer.get("token_result") or ""))
                session, refresh_token = (
                    token["access_token"],
                    token.get("refresh_token") or self.refresh_token,
                )
            except (ValueError, KeyError, TypeError):
                raise PlatformError("unexpected_answer", "token refresh answered no access_token")
            self.session, self.refresh_token = str(session), str(refresh_token)

    # -- TMC (REFERENCE §3.5) --------------------------------------------------------------

    def tmc_consume(self, quantity: int) -> list[object]:
        answer = self.call(
            "taobao.tmc.messages.consume",
            {"group_name": self.tmc_group, "quantity": quantity},
            with_session=False,
        )
        messages = answer.get("messages")
        if not messages:
            return []
        listed = messages.get("tmc_message") if isinstance(messages, Mapping) else None
        if not isinstance(listed, list):
            raise PlatformError("unexpected_answer", "messages.tmc_message is not a list")
        return listed

    def tmc_confirm(self, message_ids: list[int]) -> None:
        for start in range(0, len(message_ids), 200):  # at most 200 ids a call
            chunk = ",".join(str(message_id) for message_id in message_ids[start : start + 200])
            self.call(
                "taobao.tmc.messages.confirm",
                {"group_name": self.tmc_group, "s_message_ids": chunk},
                with_session=False,
            )
