"""Youzan (有赞云) client: the silent-grant token (cached until it expires, fetched again when the
gateway refuses it), JSON gateway calls `POST /api/{api}/{version}?access_token=`, the per-shop
keys that decrypt `$…$version$` PII fields, and `classify` for Youzan's error envelopes
(REFERENCE §2.1, §2.2).

Youzan's throttling answer is UNCONFIRMED (REFERENCE §7.3): HTTP 429, a gateway code in
THROTTLE_CODES, or a message that talks of 限流 all count as throttling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
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
from haina.platforms.reading import read_json
from haina.platforms.youzan import signing

PRODUCTION = Endpoint("https://open.youzanyun.com")
TOKEN_MARGIN = timedelta(minutes=10)
KEY_QUERY = "/api/auth_exempt/youzan.cloud.client.query.encryptconfig/1.0.0"
# ---- UNCONFIRMED (REFERENCE §2.2, §7.3): gateway codes seen third-party or guessed -----------
TOKEN_CODES = frozenset({"4201", "4202", "4203"})  # 非法的请求凭证 / token expired
THROTTLE_CODES = frozenset({"4290", "429"})
RETRYABLE_CODES = frozenset({"5000", "500"})
THROTTLE_WORDS = ("限流", "频率", "too many")
CREDENTIAL_CODES = frozenset({"40001", "40002"})  # the sandbox's codes for a wrong secret / grant
CREDENTIAL_HINT = "check the client_id, client_secret and the shop's grant id (kdt_id)"


def error_for(code: str, message: str) -> PlatformError:
    if code in TOKEN_CODES:
        return AuthExpired(code, message)
    if code in THROTTLE_CODES or any(word in message.lower() for word in THROTTLE_WORDS):
        return Throttled(code, message)
    if code in RETRYABLE_CODES:
        return PlatformError(code, message, retryable=True)
    return PlatformError(code, message)


def classify(response: httpx.Response) -> PlatformError | None:
    """Youzan's envelopes: `{"success": false, "code", "message"}` (4.0 APIs and /auth/token),
    `{"gw_err_resp": {"err_code", "err_msg"}}` (the gateway) and the 3.0 `error_response`."""
    try:
        document = read_json(response.content)
    except PlatformError as unreadable:
        return unreadable
    if not isinstance(document, Mapping):
        return PlatformError("unexpected_answer", "the answer is not a JSON object")
    for name, code_key, message_key in (
        ("gw_err_resp", "err_code", "err_msg"),
        ("error_response", "code", "msg"),
    ):
        error = document.get(name)
        if isinstance(error, Mapping):
            return error_for(
                str(error.get(code_key, "")), str(error.get(message_key) or "Youzan refused the call")
            )
    if document.get("success") is False:
        code = str(document.get("code", ""))
        message = str(document.get("message") or "Youzan refused the call")
        if code in CREDENTIAL_CODES:
            return PlatformError(code, f"{message}: {CREDENTIAL_HINT}")
        return error_for(code, message)
    return None


class YouzanClient:
    """Calls for one shop (kdt_id), with a self-use app's silent grant."""

    platform = "youzan"

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
        self.client_id = credentials.app_key
        self.shop_id = credentials.shop_id
        self._secret = credentials.app_secret
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
        self._token = credentials.access_token
        self._token_expires_at: datetime | None = None
        self._lock = threading.Lock()
        self._field_keys: dict[int, str] = {}

    def close(self) -> None:
        self.http.close()

    # -- token -----------------------------------------------------------------------------

    def access_token(self, *, renew: bool = False) -> str:
        with self._lock:
            fresh = self._token and (self._token_expires_at is None or clock.now() < self._token_expires_at)
            if renew or not fresh:
                self._fetch_token(renew)
            return self._token

    def _fetch_token(self, renew: bool) -> None:
        body = {
            "client_id": self.client_id,
            "client_secret": self._secret,
            "authorize_type": "silent",
            "grant_id": self.shop_id,
            "refresh": renew,
        }
        data = _data(self.http.request("POST", "/auth/token", json=body), "/auth/token")
        token, expires = data.get("access_token"), data.get("expires")
        if not isinstance(token, str) or not token or not isinstance(expires, int):
            raise PlatformError("unexpected_answer", "/auth/token answered without access_token and expires")
        self._token = token
        self._token_expires_at = datetime.fromtimestamp(expires / 1000, UTC) - TOKEN_MARGIN

    # -- calls -----------------------------------------------------------------------------

    def call(self, api: str, version: str, params: Mapping[str, Any]) -> Any:
        """The `data` of one gateway call."""
        path = f"/api/{api}/{version}"
        try:
            response = self.http.request(
                "POST", path, params={"access_token": self.access_token()}, json=params
            )
        except AuthExpired:
            response = self.http.request(
                "POST", path, params={"access_token": self.access_token(renew=True)}, json=params
            )
        return _data(response, api)

    # -- PII fields ------------------------------------------------------------------------

    def decrypt(self, value: str) -> str:
        """The plaintext of a `$…$version$` field (other values as they are). Raises ValueError
        when the field cannot be decrypted."""
        if not signing.is_encrypted(value):
            return value
        version = signing.field_key_version(value)
        if version not in self._field_keys:
            self._fetch_field_keys()
        key = self._field_keys.get(version)
        if key is None:
            raise ValueError(f"Youzan served no key of version {version} for this shop")
        return signing.decrypt_field(value, key)

    def _fetch_field_keys(self) -> None:
        timestamp = str(int(time.time() * 1000))
        body = {
            "client_id": self.client_id,
            "kdt_id": self.shop_id,
            "timestamp": timestamp,
            "sign": signing.encrypt_config_sign(self.client_id, self.shop_id, timestamp, self._secret),
        }
        data = _data(self.http.request("POST", KEY_QUERY, json=body), "encryptconfig")
        keys = data.get("secretKeyInfoList") if isinstance(data, Mapping) else None
        for entry in keys if isinstance(keys, list) else []:
            if isinstance(entry, Mapping) and isinstance(entry.get("version"), int):
                self._field_keys[entry["version"]] = str(entry.get("secretKey") or "")


def _data(response: httpx.Response, what: str) -> Any:
    document = read_json(response.content)
    if not isinstance(document, Mapping) or "data" not in document:
        raise PlatformError("unexpected_answer", f"{what} answered without data")
    return document["data"]
