"""Careful readers for raw platform records, shared by the JD, Pinduoduo and Douyin mappings.

Every reader either returns a clean value or raises `RecordError` naming the field and what was
wrong, so a malformed order becomes a `BadRecord` with a reason instead of an exception that stops
the pipeline. Money is read from the exact decimal text (never through float arithmetic).
"""

from __future__ import annotations

import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from haina.core import clock
from haina.core.money import yuan_to_fen
from haina.platforms.base import BadRecord
from haina.platforms.canonical import BuyerIdentity, IdentityKind
from haina.platforms.http import PlatformError

SHANGHAI_TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"
# Unix seconds outside this range are not order times (year 2000 to 2100).
EARLIEST_SECONDS, LATEST_SECONDS = 946_684_800, 4_102_444_800
# Larger amounts are not an order's (10 billion yuan); they would overflow storage too.
LARGEST_FEN = 10**12
_FULL_SHANGHAI_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.ASCII)
# Quoted-printable ("=XX") is URL escaping ("%XX") with another mark, and binascii decodes it in
# C. It reads "=" before a line end or at the very end as a soft line break and keeps a broken
# escape's "=", so a text with a line end, an "=" or a "%" that starts no escape takes urllib's way.
_NOT_FOR_QUOTED_PRINTABLE = re.compile(r"[=\r\n]|%(?![0-9A-Fa-f]{2})")


class RecordError(ValueError):
    """A raw record that cannot be mapped; `reason` is shown in the dead-letter list."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecordError(f"{what} is not an object but {type(value).__name__}")
    return value


def objects(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """A list of objects (empty when absent or null)."""
    value = record.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{name} is not a list")
    return [mapping(item, f"an entry of {name}") for item in value]


def text(record: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """A text or number field as text; '' when absent (an error when `required`)."""
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
        raise RecordError(f"{name} is not text: {value!r}")
    result = "" if value is None else str(value).strip()
    if required and not result:
        raise RecordError(f"{name} is missing")
    return result


def whole_number(record: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = record.get(name)
    if (value is None or value == "") and default is not None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise RecordError(f"{name} is not a whole number: {value!r}")


def fen_from_yuan(record: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    """A yuan amount ('199.90', 199.90 parsed as Decimal, or 199) as non-negative fen."""
    value = record.get(name)
    if (value is None or value == "") and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal, float)):
        raise RecordError(f"{name} is not an amount: {value!r}")
    # A float can only come from a caller that parsed JSON without Decimal; its repr is the
    # shortest text that reads back the same, which is the text the platform sent.
    exact = repr(value) if isinstance(value, float) else value
    try:
        fen = yuan_to_fen(exact)
    except (ValueError, ArithmeticError):  # Decimal signals huge exponents as ArithmeticError
        raise RecordError(f"{name} is not an amount: {value!r}")
    return plausible_fen(fen, name)


def fen(record: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    """An amount already in fen (a non-negative whole number)."""
    return plausible_fen(whole_number(record, name, default=default), name)


def plausible_fen(amount: int, name: str) -> int:
    if not 0 <= amount <= LARGEST_FEN:
        raise RecordError(f"{name} is not a plausible amount: {amount} fen")
    return amount


def shanghai_time(record: Mapping[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """'2024-05-07 09:00:00' in GMT+8 as aware UTC; None for '' (an error when `required`)."""
    value = text(record, name, required=required)
    if not value:
        return None
    try:
        if _FULL_SHANGHAI_TEXT.fullmatch(value):  # the usual form, read by C (strptime is slow)
            local = datetime.fromisoformat(value)
        else:  # strptime also takes single digits ('2024-5-7 9:00:00')
            local = datetime.strptime(value, SHANGHAI_TEXT_FORMAT)
    except ValueError:
        raise RecordError(f"{name} is not a 'yyyy-MM-dd HH:mm:ss' time: {value!r}")
    return local.replace(tzinfo=clock.SHANGHAI).astimezone(UTC)


def url_decoded(value: str) -> str:
    """`urllib.parse.unquote_plus` (UTF-8, undecodable bytes replaced), many times faster on a
    long, mostly escaped ASCII text such as a URL-encoded JSON message."""
    value = value.replace("+", " ")
    if "%" not in value:
        return value
    if not value.isascii() or _NOT_FOR_QUOTED_PRINTABLE.search(value):
        return urllib.parse.unquote(value)
    return binascii.a2b_qp(value.replace("%", "=").encode("ascii")).decode("utf-8", "replace")


def unix_time(record: Mapping[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """Unix seconds as aware UTC; None for 0 or absent (an error when `required`)."""
    seconds = whole_number(record, name, default=0)
    if seconds == 0:
        if required:
            raise RecordError(f"{name} is missing")
        return None
    if not EARLIEST_SECONDS <= seconds <= LATEST_SECONDS:
        raise RecordError(f"{name} is not a plausible unix time: {seconds}")
    return datetime.fromtimestamp(seconds, UTC)


def required_time(moment: datetime | None, name: str) -> datetime:
    if moment is None:
        raise RecordError(f"{name} is missing")
    return moment


def is_masked(value: str) -> bool:
    return "*" in value


def phone_identity(platform: str, phone: str, shop_id: str) -> list[BuyerIdentity]:
    """The receiver phone as an identity, flagged when masked (138****5678); none when empty."""
    if not phone:
        return []
    kind = IdentityKind.PHONE.value
    return [BuyerIdentity(platform, kind, phone, shop_id=shop_id, is_masked=is_masked(phone))]


def raw_bytes(raw: object) -> bytes:
    """A raw record as JSON bytes for the dead-letter list (Decimals written exactly)."""
    return json.dumps(raw, ensure_ascii=False, default=str, sort_keys=True).encode("utf-8")


def bad_record(raw: object, reason: str, id_field: str) -> BadRecord:
    object_id = ""
    if isinstance(raw, Mapping) and isinstance(raw.get(id_field), (str, int)):
        object_id = str(raw[id_field])
    return BadRecord(raw=raw_bytes(raw), reason=reason, object_id=object_id)


# ---- answer envelopes ----------------------------------------------------------------------
# A list API's envelope that is not the documented shape is the platform's error, not one bad
# record: it raises PlatformError, and the stream stops at the last stored page.


def answer_list(answer: Mapping[str, Any], name: str) -> list[object]:
    """The raw records of a list answer (an absent or null list is empty)."""
    value = answer.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlatformError("unexpected_answer", f"{name} in the answer is not a list")
    return value


def answer_count(answer: Mapping[str, Any], name: str) -> int:
    value = answer.get(name, 0)
    digits = str(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, str))
        or not (digits.isascii() and digits.isdigit())
    ):
        raise PlatformError("unexpected_answer", f"{name} in the answer is not a count: {value!r}")
    return int(value)


def answer_object(document: object, name: str) -> Mapping[str, Any]:
    """`document[name]`, which must be an object."""
    value = document.get(name) if isinstance(document, Mapping) else None
    if not isinstance(value, Mapping):
        raise PlatformError("unexpected_answer", f"the answer has no {name} object")
    return value


def read_json(body: bytes) -> Any:
    """An answer body as JSON, numbers with a fraction as Decimal (yuan stay exact)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise PlatformError("unexpected_answer", f"the answer is not JSON: {body[:80]!r}", retryable=True)


def line_id_by_sku(sku_id: str, seen: dict[str, int]) -> str:
    """For platforms whose order lines have no id: the SKU id names the line, suffixed `#2`, `#3`…
    when the same SKU repeats in one order (`seen` counts per order)."""
    seen[sku_id] = seen.get(sku_id, 0) + 1
    return sku_id if seen[sku_id] == 1 else f"{sku_id}#{seen[sku_id]}"
