"""JD JOS gateway signature: MD5(app_secret + k1v1k2v2… + app_secret), uppercase hex.

All business parameters travel as one JSON string in `360buy_param_json`, which is signed like
any other parameter; `360buy_param_json` sorts first because it starts with a digit. Shared by the
connector and the sandbox emulator, so stdlib only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

BUSINESS_PARAMETER = "360buy_param_json"


def business_json(business: Mapping[str, object]) -> str:
    """`360buy_param_json` text: compact JSON with keys in alphabetical order, as the JOS doc asks
    ("标准json类型,而且是按照字母先后顺序排序的"). Non-ASCII is written as is [UNCONFIRMED]."""
    return json.dumps(business, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def sign(parameters: Mapping[str, object], app_secret: str) -> str:
    """Signature of the system parameters (`method`, `app_key`, `access_token`, `timestamp`, `v`,
    `360buy_param_json`…). `sign` itself and empty values are left out, as in the TOP-derived SDKs;
    the published vector sends neither `format` nor `sign_method`, so whether they are signed when
    sent is [UNCONFIRMED] — we sign every parameter that is sent."""
    text = "".join(
        key + str(value)
        for key, value in sorted(parameters.items())
        if key != "sign" and value is not None and value != ""
    )
    digest = hashlib.md5((app_secret + text + app_secret).encode("utf-8")).hexdigest()
    return digest.upper()


def verify(parameters: Mapping[str, object], app_secret: str) -> bool:
    """Whether `parameters["sign"]` is the right signature (case-insensitive, constant time)."""
    given = str(parameters.get("sign") or "").upper()
    return hmac.compare_digest(given, sign(parameters, app_secret))
