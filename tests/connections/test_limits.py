"""Outbound rate limits: one bucket per connection, shared by the process (or through Redis),
defaults per platform, overridable by settings; the sync hands it to the client."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from haina.connections import limits
from haina.platforms.http import RedisTokenBucket, TokenBucket
from tests.conftest import make_settings
from tests.connections.fakes import PLATFORM


def test_each_connection_has_one_shared_bucket_at_the_platforms_rate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = limits.limiter_for("youzan", "conn-a", settings)
    assert isinstance(first, TokenBucket) and first.rate == limits.DEFAULT_RATES["youzan"]
    assert limits.limiter_for("youzan", "conn-a", settings) is first
    assert limits.limiter_for("youzan", "conn-b", settings) is not first


def test_settings_override_a_platforms_rate(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, platform_rate_limits={"jd": 3})
    bucket = limits.limiter_for("jd", f"conn-{uuid.uuid4().hex}", settings)
    assert isinstance(bucket, TokenBucket) and bucket.rate == 3 and bucket.capacity == 6
    assert limits.rate_for("unknown", settings) == limits.FALLBACK_RATE


def test_with_redis_the_bucket_is_shared_across_processes(tmp_path: Path) -> None:
    url = os.environ.get("HAINA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(url).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("Redis is not running")
    settings = make_settings(tmp_path, redis_url=url, platform_rate_limits={"pdd": 1})
    connection = f"conn-{uuid.uuid4().hex}"
    bucket = limits.limiter_for("pdd", connection, settings)
    assert isinstance(bucket, RedisTokenBucket)
    other_worker = RedisTokenBucket.for_connection(redis.Redis.from_url(url), "pdd", connection, 1, 2)
    assert bucket.try_acquire() == 0 and other_worker.try_acquire() == 0  # the burst of two, shared
    assert other_worker.try_acquire() > 0 and bucket.try_acquire() > 0


def test_a_sync_hands_the_connections_limiter_to_its_client(
    database,
    settings,
    connection_id,
    fake,  # type: ignore[no-untyped-def]
) -> None:
    from haina.connections import service

    seen: list[object] = []
    original = fake.make_client

    def recording(credentials, endpoint, *, limiter=None):  # type: ignore[no-untyped-def]
        seen.append(limiter)
        return original(credentials, endpoint, limiter=limiter)

    fake.make_client = recording
    service.run_sync(database, settings, connection_id, "orders")
    assert seen and isinstance(seen[0], TokenBucket)
    assert seen[0] is limits.limiter_for(PLATFORM, connection_id, settings)
