"""Taobao/Tmall TOP gateway signature (REFERENCE §3.2, the official SDK's `signTopRequest`).

1. every request parameter except `sign` and those with an empty value, sorted by key (ASCII);
2. `s` = key1 + value1 + key2 + value2 … with no separators (+ the raw body for the few APIs
   that send one);
3. `md5`: MD5(secret + s + secret); `hmac`: HMAC-MD5(key=secret, s);
   `hmac-sha256`: HMAC-SHA256(key=secret, s); always uppercase hex over UTF-8.

Shared by the connector and the sandbox emulator, so stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
DEFAULT_SIGN_METHOD = "md5"  # what the gateway assumes when `sign_method` is absent


def parameter_text(value: object) -> str:
    """The text a parameter contributes to the signature, which is also how it is sent."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # The SDKs send Java/JSON booleans, so `True` must sign as "true", not "True".
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def string_to_sign(parameters: Mapping[str, object], body: str | None = None) -> str:
    """The concatenation `key1value1key2value2…` (+ body) that gets hashed."""
    pieces = []
    for key in sorted(parameters):
        value = parameters[key]
        if key == "sign" or value is None:
            continue
        text = parameter_text(value)
        if text:  # the SDK skips empty values, so the gateway must too
            pieces.append(key + text)
    if body:
        pieces.append(body)
    return "".join(pieces)


def sign(
    parameters: Mapping[str, object],
    secret: str,
    sign_method: str | None = None,
    body: str | None = None,
) -> str:
    """Signature of `parameters` with `sign_method` (default: the `sign_method` parameter, else md5)."""
    method = sign_method or parameter_text(parameters.get("sign_method") or DEFAULT_SIGN_METHOD)
    text = string_to_sign(parameters, body).encode("utf-8")
    key = secret.encode("utf-8")
    if method == "md5":
        digest = hashlib.md5(key + text + key).hexdigest()
    elif method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown TOP sign_method {method!r}; expected one of {SIGN_METHODS}")
    return digest.upper()


def verify(parameters: Mapping[str, object], secret: str, body: str | None = None) -> bool:
    """Whether `parameters["sign"]` matches, using the request's own `sign_method` (constant time)."""
    given = parameter_text(parameters.get("sign") or "").upper()
    method = parameter_text(parameters.get("sign_method") or DEFAULT_SIGN_METHOD)
    if not given or method not in SIGN_METHODS:
        return False
    return hmac.compare_digest(given, sign(parameters, secret, method, body))


def signed(parameters: Mapping[str, object], secret: str, sign_method: str | None = None) -> dict[str, str]:
    """The parameters as strings with `sign_method` and `sign` filled in, ready to send."""
    method = sign_method or parameter_text(parameters.get("sign_method") or DEFAULT_SIGN_METHOD)
    ready = {
        key: parameter_text(value)
        for key, value in parameters.items()
        if key != "sign" and value is not None and parameter_text(value) != ""
    }
    ready["sign_method"] = method
    ready["sign"] = sign(ready, secret, method)
    return ready
