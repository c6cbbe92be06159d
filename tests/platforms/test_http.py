"""The shared platform client machinery: retries, limits, breaker, failover."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable

import httpx
import pytest

from haina.platforms.http import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    AuthExpired,
    CircuitBreaker,
    CircuitOpen,
    PlatformError,
    PlatformHttp,
    RedisTokenBucket,
    RetryPolicy,
    Throttled,
    TokenBucket,
    bucket_key,
)


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(
    answers: list[Callable[[httpx.Request], httpx.Response]],
) -> tuple[httpx.MockTransport, list[str]]:
    """A transport answering each request with the next scripted answer; records the URLs."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return answers[min(len(seen), len(answers)) - 1](request)

    return httpx.MockTransport(handle), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"errcode": 0})


def server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="busy")


def too_many(request: httpx.Request) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": "2"})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def body_code(code: int) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json={"errcode": code, "errmsg": "x"})


def classify_body(response: httpx.Response) -> PlatformError | None:
    code = response.json().get("errcode", 0)
    if code == 45009:
        return Throttled(code, "api freq out of limit")
    if code == 42001:
        return AuthExpired(code, "access_token expired")
    if code:
        return PlatformError(code, "invalid credential")
    return None


def client(transport: httpx.MockTransport, fake: FakeTime, **options: object) -> PlatformHttp:
    options.setdefault("retry", RetryPolicy(max_attempts=4, random=random.Random(1)))
    options.setdefault("breaker", CircuitBreaker(failure_threshold=50, clock=fake.clock))
    return PlatformHttp(
        "http://primary.test",
        transport=transport,
        classify=classify_body,
        sleep=fake.sleep,
        **options,  # type: ignore[arg-type]
    )


def test_retries_server_errors_then_succeeds() -> None:
    fake = FakeTime()
    transport, seen = scripted([server_error, server_error, ok])
    response = client(transport, fake).request("GET", "/x")
    assert response.json() == {"errcode": 0}
    assert len(seen) == 3
    assert len(fake.sleeps) == 2


def test_throttling_in_body_is_retried_and_retry_after_honoured() -> None:
    fake = FakeTime()
    transport, seen = scripted([too_many, body_code(45009), ok])
    client(transport, fake).request("GET", "/x")
    assert len(seen) == 3
    assert fake.sleeps[0] >= 2.0  # the Retry-After header


def test_business_error_is_not_retried() -> None:
    fake = FakeTime()
    transport, seen = scripted([body_code(40001), ok])
    with pytest.raises(PlatformError) as caught:
        client(transport, fake).request("GET", "/x")
    assert caught.value.code == "40001"
    assert not caught.value.retryable
    assert len(seen) == 1
    assert fake.sleeps == []


def test_auth_expired_is_raised_for_the_platform_client_to_refresh() -> None:
    fake = FakeTime()
    transport, seen = scripted([body_code(42001)])
    with pytest.raises(AuthExpired):
        client(transport, fake).request("GET", "/x")
    assert len(seen) == 1


def test_gives_up_after_max_attempts() -> None:
    fake = FakeTime()
    transport, seen = scripted([server_error])
    with pytest.raises(PlatformError) as caught:
        client(transport, fake).request("GET", "/x")
    assert caught.value.retryable
    assert caught.value.code == "503"
    assert len(seen) == 4


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, random=random.Random(7))
    for attempt in range(1, 10):
        ceiling = min(8.0, 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(50)]
        assert all(0 <= delay <= ceiling for delay in delays)
    assert max(policy.delay(9) for _ in range(200)) > 4.0  # really reaches towards the cap


def test_connection_error_fails_over_to_backup_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    transport, seen = scripted([refused, ok])
    http = client(transport, fake, backup_url="http://backup.test")
    http.request("GET", "/x")
    assert seen[0].startswith("http://primary.test/x")
    assert seen[1].startswith("http://backup.test/x")
    assert http.is_failed_over
    assert "primary.test" in http.failover_reason
    assert "backup" in caplog.text
    http.request("GET", "/y")
    assert seen[2].startswith("http://backup.test/y")


def test_repeated_server_errors_fail_over() -> None:
    fake = FakeTime()
    transport, seen = scripted([server_error, server_error, ok])
    http = client(transport, fake, backup_url="http://backup.test", failover_after=2)
    http.request("GET", "/x")
    assert [url.split("/")[2] for url in seen] == ["primary.test", "primary.test", "backup.test"]
    assert "server errors" in http.failover_reason


def test_no_backup_keeps_the_primary() -> None:
    fake = FakeTime()
    transport, seen = scripted([refused, ok])
    http = client(transport, fake)
    http.request("GET", "/x")
    assert all("primary.test" in url for url in seen)
    assert not http.is_failed_over


def test_breaker_opens_after_consecutive_failures_and_half_opens() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(failure_threshold=3, cool_down=30, clock=fake.clock)
    transport, seen = scripted([server_error, server_error, server_error, ok])
    http = client(transport, fake, breaker=breaker, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(PlatformError):
        http.request("GET", "/x")
    assert breaker.state == OPEN
    assert "503" in breaker.last_reason
    with pytest.raises(CircuitOpen) as caught:
        http.request("GET", "/x")
    assert "503" in caught.value.reason
    assert caught.value.until == breaker.until
    assert len(seen) == 3  # the open breaker sent nothing
    fake.now += 31
    assert breaker.state == HALF_OPEN
    http.request("GET", "/x")
    assert breaker.state == CLOSED


def test_half_open_lets_one_trial_and_reopens_on_failure() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(failure_threshold=1, cool_down=10, clock=fake.clock)
    breaker.record_failure("down")
    fake.now += 11
    breaker.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller waits for the trial
    breaker.record_failure("still down")
    assert breaker.state == OPEN
    assert breaker.last_reason == "still down"


def test_throttling_does_not_open_the_breaker() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(failure_threshold=2, clock=fake.clock)
    transport, _ = scripted([body_code(45009)] * 5 + [ok])
    client(transport, fake, breaker=breaker, retry=RetryPolicy(max_attempts=10)).request("GET", "/x")
    assert breaker.state == CLOSED


def test_token_bucket_spaces_calls_at_the_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(rate=2, capacity=2, clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        bucket.acquire()
    # Two from the burst, then one every half second.
    assert sum(fake.sleeps) == pytest.approx(2.0)


def test_token_bucket_is_thread_safe() -> None:
    bucket = TokenBucket(rate=0.001, capacity=100)
    taken: list[float] = []

    def worker() -> None:
        for _ in range(50):
            taken.append(bucket.try_acquire())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for wait in taken if wait == 0) == 100


def test_limiter_is_used_before_each_attempt() -> None:
    fake = FakeTime()
    bucket = TokenBucket(rate=1, capacity=1, clock=fake.clock, sleep=fake.sleep)
    transport, seen = scripted([ok])
    http = client(transport, fake, limiter=bucket)
    for _ in range(3):
        http.request("GET", "/x")
    assert len(seen) == 3
    assert sum(fake.sleeps) == pytest.approx(2.0)


@pytest.fixture
def redis_client():
    import redis

    connection = redis.Redis(host="127.0.0.1", port=6379)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    yield connection
    connection.close()


def test_redis_bucket_is_shared_between_workers(redis_client) -> None:
    key = bucket_key("test", uuid.uuid4().hex)
    sleeps: list[float] = []
    first = RedisTokenBucket(redis_client, key, rate=0.01, capacity=3, sleep=sleeps.append)
    second = RedisTokenBucket(redis_client, key, rate=0.01, capacity=3)
    try:
        assert first.try_acquire() == 0
        assert second.try_acquire() == 0
        assert first.try_acquire() == 0
        wait = second.try_acquire()  # the shared burst is spent
        assert 90 <= wait <= 100.5
        assert redis_client.ttl(key) > 0  # idle buckets expire
    finally:
        redis_client.delete(key)


def test_redis_bucket_refills(redis_client) -> None:
    key = bucket_key("test", uuid.uuid4().hex)
    bucket = RedisTokenBucket.for_connection(
        redis_client, "test", key.rsplit(":", 1)[1], rate=1000, capacity=1
    )
    slept: list[float] = []
    bucket._sleep = slept.append  # the real sleep would also do; this keeps the test instant
    try:
        bucket.acquire()
        wait = bucket.try_acquire()
        assert 0 <= wait <= 0.0011
    finally:
        redis_client.delete(key)


def test_requested_wait_is_honoured_beyond_max_delay_but_capped() -> None:
    policy = RetryPolicy(max_delay=1, longest_requested_wait=90, random=random.Random(3))
    assert policy.delay(1, Throttled(45009, "api freq out of limit", 60)) == 60
    assert policy.delay(1, Throttled(45009, "api freq out of limit", 10_000)) == 90
    assert policy.delay(1, Throttled(45009, "api freq out of limit")) <= 1


def test_real_connection_refused_fails_over_to_a_live_backup() -> None:
    import socket
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens here any more: connection refused

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode": 0}')

        def log_message(self, *args: object) -> None:
            pass

    backup = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=backup.serve_forever, daemon=True)
    thread.start()
    fake = FakeTime()
    try:
        http = PlatformHttp(
            f"http://127.0.0.1:{dead_port}",
            f"http://127.0.0.1:{backup.server_address[1]}",
            classify=classify_body,
            sleep=fake.sleep,
            timeout=5,
        )
        assert http.request("GET", "/cgi-bin/x").json() == {"errcode": 0}
        assert http.is_failed_over and "ConnectError" in http.failover_reason
        assert len(fake.sleeps) == 1
    finally:
        backup.shutdown()
        backup.server_close()
