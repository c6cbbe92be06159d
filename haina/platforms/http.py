"""The client machinery every platform shares: errors, retries with backoff, rate limits (in
process or through Redis), a circuit breaker, and `PlatformHttp`, which puts them around an
httpx.Client with failover to a backup URL.

Platforms signal most errors inside a 200 body (WeCom `errcode`, TOP `error_response`, Youzan
`gw_err_resp`), so each platform client hands `PlatformHttp` a `classify(response)` callback that
turns a response into `None` (fine) or a `PlatformError`. Sleeping and clocks are injectable so
tests never wait.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class PlatformError(Exception):
    """A call the platform refused or could not answer. `retryable` says whether the same call
    may succeed later (throttling, 5xx, connection trouble); everything else is final."""

    def __init__(self, code: str | int, message: str, retryable: bool = False) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = str(code)
        self.message = message
        self.retryable = retryable


class Throttled(PlatformError):
    """The platform asked us to slow down; `retry_after` seconds when it said how long."""

    def __init__(self, code: str | int, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message, retryable=True)
        self.retry_after = retry_after


class AuthExpired(PlatformError):
    """The access token or session expired: the platform client refreshes it and calls again."""

    def __init__(self, code: str | int, message: str) -> None:
        super().__init__(code, message, retryable=False)


class CircuitOpen(PlatformError):
    """Calls are paused after repeated failures; `reason` is the last failure, `until` when a
    trial call will be allowed (aware UTC)."""

    def __init__(self, reason: str, until: datetime) -> None:
        super().__init__("circuit_open", f"paused until {until.isoformat()}: {reason}", retryable=False)
        self.reason = reason
        self.until = until


# ---------------------------------------------------------------------------------------------
# Retries


@dataclass(slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(max_delay, base·2ⁿ)).
    Only retryable errors are retried (throttling, 5xx, connection errors)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # A wait the platform asks for (Retry-After, WeCom's one-minute block, TOP's "ban will last
    # for N seconds") is honoured up to this long, even beyond max_delay.
    longest_requested_wait: float = 300.0
    random: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: PlatformError | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        wait = self.random.uniform(0, ceiling)
        if isinstance(error, Throttled) and error.retry_after is not None:
            # The platform said how long; honour it, capped so a bad header cannot stall us.
            wait = max(wait, min(error.retry_after, self.longest_requested_wait))
        return wait

    def should_retry(self, error: PlatformError, attempt: int) -> bool:
        return error.retryable and attempt < self.max_attempts


# ---------------------------------------------------------------------------------------------
# Rate limits


class RateLimiter(Protocol):
    def acquire(self, tokens: float = 1.0) -> None:
        """Block (through the limiter's `sleep`) until `tokens` may be spent."""
        ...


class TokenBucket:
    """An in-process token bucket: `rate` tokens a second, bursts up to `capacity`. Thread-safe."""

    def __init__(
        self, rate: float, capacity: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._at = clock()
        self._lock = threading.Lock()

    def try_acquire(self, tokens: float = 1.0) -> float:
        """Take `tokens` and return 0, or take nothing and return the seconds to wait."""
        if tokens > self.capacity:
            raise ValueError(f"{tokens} tokens never fit a bucket of {self.capacity}")
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + max(now - self._at, 0.0) * self.rate)
            self._at = now
            if self._tokens >= tokens:
                self._tokens -= tokens
                return 0.0
            return (tokens - self._tokens) / self.rate

    def acquire(self, tokens: float = 1.0) -> None:
        while (wait := self.try_acquire(tokens)) > 0:
            self._sleep(wait)


# Refill by the server's clock (every worker sees the same time), take if enough, else say how
# long to wait. The answer is a string because Redis truncates Lua numbers to integers.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local requested = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(capacity, tokens + (now - at) * rate) end
local wait = 0
if tokens >= requested then tokens = tokens - requested else wait = (requested - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""


def bucket_key(platform: str, connection: str) -> str:
    """The Redis key of one connection's bucket: the platform's limits are per app/shop."""
    return f"haina:rate:{platform}:{connection}"


class RedisTokenBucket:
    """A token bucket shared by every worker through Redis (one Lua script, atomic)."""

    def __init__(
        self,
        redis: Any,
        key: str,
        rate: float,
        capacity: float,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.key = key
        self.rate = rate
        self.capacity = capacity
        self._sleep = sleep
        self._script = redis.register_script(_BUCKET_SCRIPT)

    @classmethod
    def for_connection(
        cls, redis: Any, platform: str, connection: str, rate: float, capacity: float, **options: Any
    ) -> RedisTokenBucket:
        return cls(redis, bucket_key(platform, connection), rate, capacity, **options)

    def try_acquire(self, tokens: float = 1.0) -> float:
        if tokens > self.capacity:
            raise ValueError(f"{tokens} tokens never fit a bucket of {self.capacity}")
        answer = self._script(keys=[self.key], args=[repr(self.rate), repr(self.capacity), repr(tokens)])
        return float(answer.decode() if isinstance(answer, bytes) else answer)

    def acquire(self, tokens: float = 1.0) -> None:
        while (wait := self.try_acquire(tokens)) > 0:
            self._sleep(wait)


# ---------------------------------------------------------------------------------------------
# Circuit breaker

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `cool_down` seconds one trial
    call is let through (half-open): success closes it, failure opens it again. `state` and
    `last_reason` are what the console shows for a paused connection."""

    def __init__(
        self, failure_threshold: int = 5, cool_down: float = 60.0, *, clock: Clock = time.time
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.last_reason = ""

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cool_down:
            return HALF_OPEN
        return OPEN

    @property
    def until(self) -> datetime | None:
        """When the next trial call is allowed, for an open breaker (aware UTC)."""
        if self._opened_at is None:
            return None
        return datetime.fromtimestamp(self._opened_at + self.cool_down, UTC)

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return
            assert self._opened_at is not None
            until = datetime.fromtimestamp(self._opened_at + self.cool_down, UTC)
        raise CircuitOpen(self.last_reason, until)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.last_reason = reason
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False

    def release(self) -> None:
        """A call ended in neither success nor failure (e.g. a business error): let the next
        trial through without changing the state."""
        with self._lock:
            self._trial_running = False


# ---------------------------------------------------------------------------------------------
# The HTTP client

Classify = Callable[[httpx.Response], PlatformError | None]


def no_body_errors(response: httpx.Response) -> PlatformError | None:
    return None


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


def status_error(response: httpx.Response) -> PlatformError | None:
    """What the HTTP status alone says: 429 is throttling, 5xx retryable."""
    if response.status_code == 429:
        return Throttled(429, "too many requests", retry_after_seconds(response))
    if response.status_code >= 500:
        return PlatformError(response.status_code, f"server error {response.status_code}", retryable=True)
    return None


class PlatformHttp:
    """An httpx.Client with the base URL, an optional backup URL, timeouts, a rate limiter, a
    retry policy and a circuit breaker. `request` returns a response the platform's `classify`
    found fine, or raises the PlatformError it found (after retrying the retryable ones).

    Failover: a connection error on the primary, or `failover_after` server errors in a row,
    switches every later call to the backup URL; `failover_reason` says why (and it is logged).
    """

    def __init__(
        self,
        base_url: str,
        backup_url: str = "",
        *,
        classify: Classify = no_body_errors,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        timeout: float | httpx.Timeout = 10.0,
        sleep: Sleep = time.sleep,
        failover_after: int = 2,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backup_url = backup_url.rstrip("/")
        self.classify = classify
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.sleep = sleep
        self.failover_after = failover_after
        self.failover_reason = ""
        self._server_errors = 0
        self._client = httpx.Client(timeout=timeout, transport=transport, headers=dict(headers or {}))

    @property
    def active_url(self) -> str:
        return self.backup_url if self.failover_reason else self.base_url

    @property
    def is_failed_over(self) -> bool:
        return bool(self.failover_reason)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PlatformHttp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        classify: Classify | None = None,
    ) -> httpx.Response:
        """One logical call: attempts until success, a final error, or the retry budget is spent.
        `path` is joined to the active base URL (an absolute URL is used as given)."""
        classify = classify or self.classify
        attempt = 0
        while True:
            attempt += 1
            self.breaker.before_call()
            if self.limiter is not None:
                self.limiter.acquire()
            error = self._attempt(method, path, params, data, json, content, headers, classify)
            if isinstance(error, httpx.Response):
                self.breaker.record_success()
                return error
            if not self.retry.should_retry(error, attempt):
                raise error
            self.sleep(self.retry.delay(attempt, error))

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        data: Mapping[str, Any] | None,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        classify: Classify,
    ) -> httpx.Response | PlatformError:
        """One attempt: the response when fine, else the error (breaker and failover updated)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.active_url}{path}"
        on_primary = not self.failover_reason
        try:
            response = self._client.request(
                method, url, params=params, data=data, json=json, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            reason = f"cannot reach {self.active_url}: {type(exc).__name__} {exc}".strip()
            self.breaker.record_failure(reason)
            if on_primary:
                self._fail_over(reason)
            return PlatformError("connection", reason, retryable=True)
        error = status_error(response) or classify(response)
        if error is None:
            self._server_errors = 0
            return response
        if error.retryable and not isinstance(error, Throttled):
            self.breaker.record_failure(str(error))
            self._server_errors += 1
            if on_primary and self._server_errors >= self.failover_after:
                self._fail_over(f"{self._server_errors} server errors in a row from {self.base_url}: {error}")
        else:
            # Throttling and business errors say the platform is up: they neither open the
            # breaker nor count towards failover.
            self._server_errors = 0
            self.breaker.release()
        return error

    def _fail_over(self, reason: str) -> None:
        if not self.backup_url:
            return
        self.failover_reason = reason
        self._server_errors = 0
        logger.warning("switching from %s to backup %s: %s", self.base_url, self.backup_url, reason)
