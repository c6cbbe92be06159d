"""Pinduoduo gateway signature: MD5(client_secret + k1v1k2v2… + client_secret), uppercase hex.

Every parameter except `sign` takes part (common and business alike, sorted by key in ASCII
order). Shared by the connector and the sandbox emulator, so stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping


def sign_value(value: object) -> str:
    """The text a parameter contributes to the signature (and is sent as).

    How arrays and objects are serialised before signing is not stated in the official doc
    [UNCONFIRMED]; the Java SDK sends them as compact JSON strings, which is what we do.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def sign(parameters: Mapping[str, object], client_secret: str) -> str:
    """Signature of `parameters` (a `sign` entry among them is ignored; `None` values are left out)."""
    text = "".join(
        key + sign_value(value)
        for key, value in sorted(parameters.items())
        if key != "sign" and value is not None
    )
    digest = hashlib.md5((client_secret + text + client_secret).encode("utf-8")).hexdigest()
    return digest.upper()


def verify(parameters: Mapping[str, object], client_secret: str) -> bool:
    """Whether `parameters["sign"]` is the right signature (case-insensitive, constant time)."""
    given = str(parameters.get("sign") or "").upper()
    return hmac.compare_digest(given, sign(parameters, client_secret))
