"""Rate limits of outbound platform calls: one token bucket per connection, shared by every sync
of the process, or by every process and machine through Redis when `HAINA_REDIS_URL` is set.

The defaults stay below what each platform documents or is known to enforce (see
shared/platforms/REFERENCE.md: WeCom allows 10,000 calls a minute per corp and API; Taobao bans
an app for seconds when it goes over; the others publish no number and answer a throttle code).
Throttle answers are still handled by the clients' retry policy; the bucket keeps a busy tenant
from provoking them. Override per platform with `HAINA_PLATFORM_RATE_LIMITS`, a JSON object of
requests per second, e.g. `{"youzan": 5, "jd": 8}`.
"""

from __future__ import annotations

import threading
from typing import Any

from haina.core.settings import Settings
from haina.platforms.http import RateLimiter, RedisTokenBucket, TokenBucket

DEFAULT_RATES: dict[str, float] = {
    "wecom": 100.0,
    "taobao": 40.0,
    "tmall": 40.0,
    "youzan": 20.0,
    "jd": 20.0,
    "pdd": 20.0,
    "douyin": 20.0,
}
FALLBACK_RATE = 10.0
BURST_SECONDS = 2.0  # a bucket holds this many seconds' worth of calls

_local: dict[tuple[str, str], TokenBucket] = {}
_redis_clients: dict[str, Any] = {}
_lock = threading.Lock()


def rate_for(platform: str, settings: Settings) -> float:
    """Requests per second allowed for one connection of `platform`."""
    configured = settings.platform_rate_limits.get(platform)
    if configured is not None and configured > 0:
        return float(configured)
    return DEFAULT_RATES.get(platform, FALLBACK_RATE)


def limiter_for(platform: str, connection_id: str, settings: Settings) -> RateLimiter:
    """The bucket of one connection: in Redis when configured, else this process's own."""
    rate = rate_for(platform, settings)
    capacity = max(1.0, rate * BURST_SECONDS)
    if settings.redis_url:
        return RedisTokenBucket.for_connection(
            _redis(settings.redis_url), platform, connection_id, rate, capacity
        )
    with _lock:
        bucket = _local.get((platform, connection_id))
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket(rate, capacity)
            _local[(platform, connection_id)] = bucket
        return bucket


def _redis(url: str) -> Any:
    with _lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url)
            _redis_clients[url] = client
        return client
