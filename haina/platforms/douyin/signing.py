"""Douyin 抖店 signatures: the gateway request sign and the push `event-sign` header.

Request: S = app_secret + "app_key"…"method"…"param_json"…"timestamp"…"v"… + app_secret, then
`md5(S)` or `HMAC-SHA256(key=app_secret, S)` (the wrapped string is what gets HMACed), lowercase
hex. `access_token` and `sign_method` do not take part. Shared by the connector and the sandbox
emulator, so stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json

SIGN_METHODS = ("md5", "hmac-sha256")
VERSION = "2"


def canonical_param_json(business: object) -> str:
    """`param_json` as the SDKs build it: keys sorted at every depth, compact separators, no
    unicode or HTML escaping, `"{}"` when there are no business parameters. Some third-party
    SDKs also drop nulls and normalise floats [UNCONFIRMED]; we keep nulls as `null`."""
    if business is None or business == {}:
        return "{}"
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def method_path(method: str) -> str:
    """Gateway path of an API method: "order.searchList" → "/order/searchList"."""
    return "/" + method.replace(".", "/")


def sign(
    *,
    app_key: str,
    app_secret: str,
    method: str,
    param_json: str,
    timestamp: str,
    version: str = VERSION,
    sign_method: str = "md5",
) -> str:
    """Request signature, lowercase hex. `timestamp` is signed exactly as sent
    ("2020-09-15 14:48:13" in GMT+8 or unix seconds; both are in use)."""
    pattern = f"app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{version}"
    wrapped = (app_secret + pattern + app_secret).encode("utf-8")
    if sign_method == "md5":
        return hashlib.md5(wrapped).hexdigest()
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode("utf-8"), wrapped, hashlib.sha256).hexdigest()
    raise ValueError(f"unknown sign_method {sign_method!r}; use one of {SIGN_METHODS}")


def event_sign(app_key: str, body: bytes | str, app_secret: str) -> str:
    """`event-sign` header of a push: md5(app_key + raw body + app_secret), lowercase hex."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return hashlib.md5(app_key.encode("utf-8") + raw + app_secret.encode("utf-8")).hexdigest()


def verify_event(app_key: str, body: bytes | str, app_secret: str, given: str) -> bool:
    """Whether a push's `event-sign` header matches its raw body (constant time)."""
    # Compared as bytes: a header with non-ASCII text is simply a mismatch, not a TypeError.
    return hmac.compare_digest(given.lower().encode("utf-8"), event_sign(app_key, body, app_secret).encode())
