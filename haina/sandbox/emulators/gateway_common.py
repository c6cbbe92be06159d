"""What the JD, Pinduoduo and Douyin emulators share: reading gateway input, JSON with exact yuan
numbers, issued tokens and authorization codes, time windows and pages, Shanghai time text, and
masked or sealed (encrypted-looking) PII.

Each emulator keeps its platform's own wire details (names, codes, envelopes) to itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from haina.core import clock
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Order, Refund, Shop

Item = TypeVar("Item")

TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"


# ---- gateway input and output ------------------------------------------------------------


async def read_gateway_input(request: Request) -> tuple[dict[str, str], bytes]:
    """Query parameters merged with a form-encoded body, and the raw body (a JSON body is the
    emulator's to read: each platform turns its values into text its own way)."""
    parameters = dict(request.query_params)
    body = await request.body()
    if body and "application/x-www-form-urlencoded" in request.headers.get("content-type", ""):
        parameters.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return parameters, body


def dumps_exact(value: Any) -> str:
    """JSON text in which a `Decimal` is written as the exact number it holds (199.90 stays
    199.90). Floats are refused: money leaves the sandbox only as fen, yuan text or Decimal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{dumps_exact(str(key))}:{dumps_exact(item)}" for key, item in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps_exact(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to exact JSON")


class Refusal(Exception):
    """A request the gateway turns down; each emulator writes it in its platform's error body."""

    def __init__(self, code: int | str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail  # the platform's second text: a sub code, an English description…


def json_response(payload: Any, status_code: int = 200) -> Response:
    return Response(
        dumps_exact(payload), status_code=status_code, media_type="application/json; charset=utf-8"
    )


async def answer_off_the_loop(
    state: SandboxState, platform: str, answer: Callable[..., Response], *args: Any
) -> Response:
    """`answer(*args)`, on a worker thread when the platform's fault plan adds latency: the plan's
    sleep (in `Faults.decide`) must delay this one answer, not stall the sandbox's event loop and
    with it every platform's requests."""
    plan = state.faults.plan(platform)
    if plan is not None and plan.slow_ms:
        return await run_in_threadpool(answer, *args)
    return answer(*args)


def server_error() -> Response:
    """The injected 'error' fault: a bare 5xx, as a gateway's proxy answers when a backend is down."""
    return PlainTextResponse("502 Bad Gateway (sandbox fault injection)", status_code=502)


def throttle_body(state: SandboxState, platform: str, default: dict[str, Any]) -> dict[str, Any]:
    """The throttle error body: `default`, unless a test or the demo has set its own in
    `state.scratch[platform]["throttle_body"]` (for platforms whose format is unconfirmed)."""
    return state.scratch[platform].get("throttle_body", default)


def next_request_id(state: SandboxState, platform: str) -> str:
    """A request id that is unique within the sandbox and the same from run to run."""
    with state.lock:
        counter = state.scratch[platform].setdefault("request_counter", itertools.count(1))
        number = next(counter)
    return f"{state.world.seed:x}{number:012d}"


# ---- money and time ----------------------------------------------------------------------


def yuan_number(fen: int) -> Decimal:
    """19990 → Decimal('199.90'), written to JSON as the number 199.90."""
    return Decimal(fen).scaleb(-2)


def unix_seconds(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment is not None else 0


def from_unix_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def shanghai_text(moment: datetime | None) -> str:
    """'2024-05-07 09:00:00' in GMT+8; '' for no time."""
    return moment.astimezone(clock.SHANGHAI).strftime(TEXT_FORMAT) if moment is not None else ""


def parse_shanghai_text(text: str) -> datetime:
    """'2024-05-07 09:00:00' (GMT+8) → aware UTC datetime. Raises ValueError for other text."""
    return datetime.strptime(text.strip(), TEXT_FORMAT).replace(tzinfo=clock.SHANGHAI).astimezone(UTC)


def in_window(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    """Whether `moment`, cut to whole seconds, lies in [start, end) (`None`: unbounded). Half-open,
    so consecutive windows never both return the same change (the platforms do not say which
    ends are inclusive; connectors dedupe anyway)."""
    second = moment.replace(microsecond=0)
    return (start is None or start <= second) and (end is None or second < end)


def page_of(items: Sequence[Item], page: int, size: int, *, first_page: int = 1) -> list[Item]:
    start = (page - first_page) * size
    return list(items[start : start + size]) if start >= 0 else []


def read_number(parameters: Mapping[str, Any], name: str, default: int | None, error_code: int | str) -> int:
    """A whole-number parameter ('2' or 2); `default` when absent, or the platform's parameter
    error (`error_code`) when required and absent or not a whole number."""
    value = parameters.get(name)
    if value is None or value == "":
        if default is None:
            raise Refusal(error_code, f"缺少参数 {name}")
        return default
    if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
        raise Refusal(error_code, f"参数 {name} 须为整数, 收到 {value!r}")
    return int(value)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object; ValueError otherwise."""
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the body is not a JSON object")
    return document


# ---- world lookups -----------------------------------------------------------------------


def shops_with_key(state: SandboxState, platform: str, app_key: str) -> list[Shop]:
    return [shop for shop in state.world.shops_of(platform) if app_key and shop.app_key == app_key]


def orders_of_shop(state: SandboxState, shop_id: str) -> list[Order]:
    with state.lock:
        return [order for order in state.world.orders if order.shop_id == shop_id]


def refunds_by_order(state: SandboxState, platform: str) -> dict[str, list[Refund]]:
    grouped: dict[str, list[Refund]] = defaultdict(list)
    with state.lock:
        refunds = list(state.world.refunds)
    for refund in refunds:
        if refund.platform == platform:
            grouped[refund.order_id].append(refund)
    return grouped


def stable_order(orders: Iterable[Order], key: str) -> list[Order]:
    """Orders sorted by a time attribute, then id, so pages never overlap or skip."""
    return sorted(
        orders, key=lambda order: (getattr(order, key) or datetime.min.replace(tzinfo=UTC), order.order_id)
    )


# ---- tokens and authorization codes ------------------------------------------------------


@dataclass
class Grant:
    shop_id: str
    access_token: str
    refresh_token: str
    issued_at: datetime
    expires_at: datetime
    refresh_expires_at: datetime

    def expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def refresh_expires_in(self) -> int:
        return int((self.refresh_expires_at - self.issued_at).total_seconds())


@dataclass
class TokenBook:
    """Tokens and one-time authorization codes one platform emulator has issued."""

    platform: str
    seed: int
    grants: dict[str, Grant] = field(default_factory=dict)  # by access token
    codes: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # code → (shop, expires)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _secret_text(self, kind: str) -> str:
        material = f"{self.seed}:{self.platform}:{kind}:{next(self.counter)}".encode()
        return hashlib.sha256(material).hexdigest()[:32]

    def issue(
        self, shop_id: str, lifetime: timedelta, refresh_lifetime: timedelta, *, revoke_previous: bool
    ) -> Grant:
        now = clock.now()
        if revoke_previous:
            for token in [token for token, grant in self.grants.items() if grant.shop_id == shop_id]:
                del self.grants[token]
        grant = Grant(
            shop_id=shop_id,
            access_token=self._secret_text("access"),
            refresh_token=self._secret_text("refresh"),
            issued_at=now,
            expires_at=now + lifetime,
            refresh_expires_at=now + refresh_lifetime,
        )
        self.grants[grant.access_token] = grant
        return grant

    def find(self, access_token: str) -> Grant | None:
        return self.grants.get(access_token)

    def refresh(self, refresh_token: str, lifetime: timedelta, refresh_lifetime: timedelta) -> Grant | None:
        """A new grant for a live refresh token; the grant it came from stops working."""
        for grant in list(self.grants.values()):
            if grant.refresh_token == refresh_token and clock.now() < grant.refresh_expires_at:
                del self.grants[grant.access_token]
                return self.issue(grant.shop_id, lifetime, refresh_lifetime, revoke_previous=False)
        return None

    def issue_code(self, shop_id: str, lifetime: timedelta = timedelta(minutes=10)) -> str:
        code = self._secret_text("code")
        self.codes[code] = (shop_id, clock.now() + lifetime)
        return code

    def redeem_code(self, code: str) -> str | None:
        """The shop a live, unused code was issued for; a code works once."""
        shop_id, expires_at = self.codes.pop(code, ("", clock.now()))
        return shop_id if shop_id and clock.now() < expires_at else None


def token_book(state: SandboxState, platform: str) -> TokenBook:
    with state.lock:
        return state.scratch[platform].setdefault("tokens", TokenBook(platform, state.world.seed))


def is_expired(grant: Grant) -> bool:
    return clock.now() >= grant.expires_at


# ---- PII ---------------------------------------------------------------------------------


def mask_phone(phone: str) -> str:
    """'13812345678' → '138****5678'; already masked or short numbers are kept as they are."""
    if "*" in phone or len(phone) < 7:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """'王小明' → '王**'."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_address(address: str) -> str:
    """Keep the first two characters of the street part: '中山路100号' → '中山****'."""
    return address[:2] + "****" if address else ""


def opaque_id(app_key: str, buyer_id: str) -> str:
    """A buyer id as one app sees it (open ids differ per app, so apps cannot join buyers)."""
    return hmac.new(app_key.encode(), buyer_id.encode(), hashlib.sha256).hexdigest()[:32] if buyer_id else ""


def seal(state: SandboxState, platform: str, plaintext: str) -> str:
    """An opaque, deterministic stand-in for a platform's ciphertext of `plaintext`. The sandbox
    remembers it, so a decrypt API can be added without changing what the lists return."""
    if not plaintext:
        return ""
    key = f"{state.world.seed}:{platform}:pii".encode()
    digest = hmac.new(key, plaintext.encode("utf-8"), hashlib.sha256).digest()
    token = base64.b64encode(digest[:18]).decode("ascii")
    with state.lock:
        state.scratch[platform].setdefault("sealed", {})[token] = plaintext
    return token


def unseal(state: SandboxState, platform: str, token: str) -> str | None:
    return state.scratch[platform].get("sealed", {}).get(token)
