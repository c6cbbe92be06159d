"""The blob store on an S3-compatible service (AWS S3, MinIO, Alibaba OSS / Tencent COS S3
endpoints), spoken over httpx with AWS Signature Version 4 computed here.

Path-style URLs, `{endpoint}/{bucket}/{prefix}{aa}/{bb}/{address}`, so MinIO and a loopback
server work without DNS per bucket. Blobs arrive sealed (encrypted), so the service only ever
holds ciphertext. Server errors and dropped connections are retried a few times with backoff;
any other refusal raises S3StoreError naming the bucket and the status.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx

from haina.archive.media.store import BlobMissing

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
PIECE_BYTES = 256 * 1024
_ADDRESS = re.compile(r"[0-9a-f]{8,}")
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})  # 429: some S3 clones throttle so


class S3StoreError(RuntimeError):
    """The S3-compatible service refused a request (or stayed unreachable after the retries)."""

    def __init__(self, bucket: str, operation: str, status: int | None, detail: str) -> None:
        self.bucket = bucket
        self.operation = operation
        self.status = status
        self.detail = detail
        shown = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"S3 {operation} in bucket {bucket!r} failed: {shown}: {detail}")


# ── Signature Version 4 ──────────────────────────────────────────────────────────────────


def _encode(value: str, *, keep_slash: bool) -> str:
    # RFC 3986 unreserved characters stay as they are; everything else is %XX (upper case).
    return quote(value, safe="/~" if keep_slash else "~")


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
) -> tuple[str, str]:
    """The canonical request and its signed-header list. `path` is the raw (not yet encoded)
    object path; S3 encodes it once, slashes kept, with no dot-segment normalisation."""
    canonical_query = "&".join(
        f"{_encode(name, keep_slash=False)}={_encode(value, keep_slash=False)}"
        for name, value in sorted(query.items(), key=lambda item: _encode(item[0], keep_slash=False))
    )
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lowered[name.lower()] = " ".join(str(value).split())  # trimmed, inner runs of spaces folded
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed = ";".join(names)
    text = "\n".join(
        [
            method.upper(),
            _encode(path or "/", keep_slash=True),
            canonical_query,
            canonical_headers,
            signed,
            payload_sha256,
        ]
    )
    return text, signed


def sign(
    method: str,
    host: str,
    path: str,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    when: datetime,
    payload_sha256: str = EMPTY_SHA256,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    service: str = "s3",
) -> dict[str, str]:
    """The request's headers with `x-amz-date`, `x-amz-content-sha256` and `Authorization`
    added; every header given (and `host`) is signed."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    date = stamp[:8]
    all_headers = {"host": host, **(headers or {})}
    all_headers.setdefault("x-amz-date", stamp)
    all_headers.setdefault("x-amz-content-sha256", payload_sha256)
    request, signed = canonical_request(method, path, query or {}, all_headers, payload_sha256)
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
    signature = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    all_headers["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope},SignedHeaders={signed},Signature={signature}"
    )
    return all_headers


# ── the store ────────────────────────────────────────────────────────────────────────────


class S3BlobStore:
    """Blobs as objects `{prefix}{aa}/{bb}/{address}` in one bucket of an S3-compatible service."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        access_key: str,
        secret_key: str,
        prefix: str = "haina-media/",
        region: str = "us-east-1",
        retries: int = 3,
        backoff_seconds: float = 0.2,
        timeout_seconds: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"an S3 endpoint is an http(s) URL, not {endpoint!r}")
        self.endpoint = endpoint.rstrip("/")
        self.host = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.access_key = access_key
        self._secret_key = secret_key
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._client = httpx.Client(timeout=timeout_seconds, transport=transport)

    def __repr__(self) -> str:  # never the secret
        return f"S3BlobStore({self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        self._client.close()

    def key(self, address: str) -> str:
        if not _ADDRESS.fullmatch(address):
            raise ValueError("a blob address is a lowercase hex digest")
        return f"{self.prefix}{address[:2]}/{address[2:4]}/{address}"

    # The four calls of BlobStore.

    def put(self, address: str, sealed: bytes) -> None:
        response = self._request(
            "PUT",
            address,
            body=sealed,
            headers={"content-type": "application/octet-stream"},
        )
        self._check(response, "PUT", address)

    def open(self, address: str) -> Iterator[bytes]:
        response = self._request("GET", address, stream=True)
        if response.status_code == 404:
            response.close()
            raise BlobMissing(address)
        if response.status_code != 200:
            response.read()
            response.close()
            self._check(response, "GET", address)
        return _Pieces(response, self.bucket)

    def exists(self, address: str) -> bool:
        response = self._request("HEAD", address)
        if response.status_code == 404:
            return False
        self._check(response, "HEAD", address)
        return True

    def delete(self, address: str) -> bool:
        # S3 answers 204 whether or not the object was there: ask first. (Another process
        # deleting between the two calls makes both answer True; the object is gone either way.)
        if not self.exists(address):
            return False
        response = self._request("DELETE", address)
        if response.status_code == 404:
            return False
        self._check(response, "DELETE", address)
        return True

    # Plumbing.

    def _request(
        self,
        method: str,
        address: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        path = f"{self.base_path}/{self.bucket}/{self.key(address)}"
        url = self.endpoint[: len(self.endpoint) - len(self.base_path)] + _encode(path, keep_slash=True)
        payload_sha256 = hashlib.sha256(body).hexdigest()
        attempt = 0
        while True:
            signed = sign(
                method,
                self.host,
                path,
                access_key=self.access_key,
                secret_key=self._secret_key,
                region=self.region,
                when=datetime.now(UTC),
                payload_sha256=payload_sha256,
                headers=headers,
            )
            request = self._client.build_request(
                method, url, content=body if method == "PUT" else None, headers=signed
            )
            try:
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as error:
                if attempt >= self.retries:
                    raise S3StoreError(self.bucket, method, None, f"{type(error).__name__}: {error}")
            else:
                if response.status_code not in _RETRIED_STATUSES or attempt >= self.retries:
                    return response
                response.close()
            time.sleep(self.backoff_seconds * 2**attempt)
            attempt += 1

    def _check(self, response: httpx.Response, method: str, address: str) -> None:
        if 200 <= response.status_code < 300:
            return
        raise S3StoreError(
            self.bucket, f"{method} {self.key(address)}", response.status_code, _reason(response)
        )


def _reason(response: httpx.Response) -> str:
    """The error code and message of an S3 XML error body (a HEAD answer has none)."""
    text = response.text if response.content else ""
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    if code:
        return code.group(1) + (f": {message.group(1)}" if message else "")
    if response.status_code == 403:
        return "access denied (check the access key, the secret key and the bucket's policy)"
    return response.reason_phrase or "error"


class _Pieces:
    """The body of a GET, read in pieces; the connection goes back to the pool at the end, on
    close(), or when the reader is dropped half-way."""

    def __init__(self, response: httpx.Response, bucket: str) -> None:
        self._response = response
        self._bucket = bucket
        self._pieces = response.iter_bytes(PIECE_BYTES)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._pieces)
        except httpx.HTTPError as error:  # the connection broke half-way through the body
            self.close()
            raise S3StoreError(self._bucket, "GET", None, f"{type(error).__name__}: {error}") from error
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._response.close()

    def __del__(self) -> None:
        self._response.close()


# One store (and connection pool) per configuration, shared by the requests of a process.
_STORES: dict[tuple[str, ...], S3BlobStore] = {}
_LOCK = threading.Lock()


def shared_store(
    endpoint: str, bucket: str, prefix: str, region: str, access_key: str, secret_key: str
) -> S3BlobStore:
    key = (endpoint, bucket, prefix, region, access_key, hashlib.sha256(secret_key.encode()).hexdigest())
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = S3BlobStore(
                endpoint, bucket, access_key=access_key, secret_key=secret_key, prefix=prefix, region=region
            )
            _STORES[key] = store
        return store
