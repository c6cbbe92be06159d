"""The S3-compatible media store: its Signature Version 4 against AWS's published examples, and
the store against a real S3 server on loopback (moto's, run as a subprocess with IAM
authentication on, so every request's signature is checked by an independent implementation):
round trip of a multi-piece blob, missing blobs, delete semantics, a wrong secret, retries, and
the archive's media pipeline end to end with the store configured."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from haina.archive import tasks
from haina.archive.media import service as media
from haina.archive.media.s3 import S3BlobStore, S3StoreError, sign
from haina.archive.media.store import BlobMissing, media_store, store_of
from haina.archive.models import ArchiveMessage
from haina.core.settings import Settings, SettingsError
from haina.sandbox.emulators.wecom_archive_media import media_bytes
from tests.archive.conftest import CORP_ID, SCRIPT, Intake, actor_of, add_keys
from tests.conftest import make_settings
from tests.factories import bearer, token_for

BUCKET = "haina-archive"
REGION = "us-east-1"

# ── Signature Version 4: AWS's worked examples for S3 ("Signature Calculations for the
# Authorization Header: Transferring Payload in a Single Chunk"), all signed by the example keys.

AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_HOST = "examplebucket.s3.amazonaws.com"
AWS_WHEN = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)


def _aws_sign(method: str, path: str, **options: Any) -> dict[str, str]:
    return sign(
        method,
        AWS_HOST,
        path,
        access_key=AWS_ACCESS_KEY,
        secret_key=AWS_SECRET_KEY,
        region=REGION,
        when=AWS_WHEN,
        **options,
    )


def test_sigv4_get_object_example() -> None:
    headers = _aws_sign("GET", "/test.txt", headers={"Range": "bytes=0-9"})
    assert headers["x-amz-date"] == "20130524T000000Z"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_sigv4_put_object_example_encodes_the_key() -> None:
    body = b"Welcome to Amazon S3."
    headers = _aws_sign(
        "PUT",
        "/test$file.text",
        payload_sha256=hashlib.sha256(body).hexdigest(),
        headers={"Date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
    )
    assert headers["Authorization"].endswith(
        ",SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    )


def test_sigv4_query_string_examples() -> None:
    lifecycle = _aws_sign("GET", "/", query={"lifecycle": ""})
    assert lifecycle["Authorization"].endswith(
        "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )
    listing = _aws_sign("GET", "/", query={"prefix": "J", "max-keys": "2"})  # sorted when signed
    assert listing["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )


# ── a real S3-compatible server on loopback ──────────────────────────────────────────────


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def store(self, prefix: str | None = None, **options: Any) -> S3BlobStore:
        return S3BlobStore(
            self.endpoint,
            BUCKET,
            access_key=options.pop("access_key", self.access_key),
            secret_key=options.pop("secret_key", self.secret_key),
            prefix=prefix if prefix is not None else f"t-{uuid.uuid4().hex[:8]}/",
            region=REGION,
            **options,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        try:
            httpx.get(url + "/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {seconds} s")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    boto3 = pytest.importorskip("boto3", reason="moto[server] (the test extra) is not installed")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    environment = {**os.environ, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    try:
        _wait_for(endpoint, process)
        # Set-up while the server checks nothing yet: a bucket, and a user with a key that may
        # use S3. Then authentication goes on, so every later request needs a valid signature.
        options = {
            "endpoint_url": endpoint,
            "region_name": REGION,
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        boto3.client("s3", **options).create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", **options)
        iam.create_user(UserName="haina")
        iam.put_user_policy(
            UserName="haina",
            PolicyName="media",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="haina")["AccessKey"]
        httpx.post(endpoint + "/moto-api/reset-auth", content=b"0").raise_for_status()
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _address(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_round_trip_of_a_blob_in_pieces(s3_server: S3Server) -> None:
    store = s3_server.store(prefix="round-trip/")
    data = os.urandom(3 * 1024 * 1024 + 17)
    address = _address(data)
    assert not store.exists(address)
    store.put(address, data)
    store.put(address, data)  # the same content again: still one object
    assert store.exists(address)
    pieces = list(store.open(address))
    assert len(pieces) > 1 and max(len(piece) for piece in pieces) <= 256 * 1024
    assert b"".join(pieces) == data
    # Laid out like the disk store, under the prefix, path-style in the bucket.
    assert store.key(address) == f"round-trip/{address[:2]}/{address[2:4]}/{address}"
    listed = _list_keys(s3_server, "round-trip/")
    assert listed == [store.key(address)]
    # A reader dropped half-way gives its connection back; the store keeps working.
    half = store.open(address)
    next(iter(half))
    del half
    assert store.exists(address)
    assert store.delete(address)
    assert not store.exists(address)
    store.close()


def _list_keys(server: S3Server, prefix: str) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )
    answer = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in answer.get("Contents", [])]


def test_missing_blob_and_delete_twice(s3_server: S3Server) -> None:
    store = s3_server.store()
    address = _address(b"never stored")
    with pytest.raises(BlobMissing):
        store.open(address)
    assert not store.exists(address)
    assert store.delete(address) is False
    store.put(address, b"sealed bytes")
    assert store.delete(address) is True
    assert store.delete(address) is False
    with pytest.raises(BlobMissing):
        store.open(address)
    with pytest.raises(ValueError):
        store.put("../../etc/passwd", b"x")
    store.close()


def test_a_wrong_secret_is_a_clear_error(s3_server: S3Server) -> None:
    wrong = s3_server.store(secret_key="not-the-secret")
    address = _address(b"refused")
    with pytest.raises(S3StoreError) as refused:
        wrong.put(address, b"refused")
    message = str(refused.value)
    assert refused.value.status == 403 and refused.value.bucket == BUCKET
    assert BUCKET in message and "403" in message and "SignatureDoesNotMatch" in message
    assert "not-the-secret" not in message and "not-the-secret" not in repr(wrong)
    for call in (wrong.exists, wrong.open, wrong.delete):
        with pytest.raises(S3StoreError) as also:
            call(address)
        assert also.value.status == 403
    wrong.close()
    # An unknown access key is refused the same way.
    unknown = s3_server.store(access_key="AKIAUNKNOWN000000000")
    with pytest.raises(S3StoreError) as unknown_key:
        unknown.exists(address)
    assert unknown_key.value.status == 403
    unknown.close()


def test_server_errors_are_retried_then_reported(s3_server: S3Server) -> None:
    # A flaky front (a proxy answering 503 twice) in front of the real server.
    answered: list[int] = []
    upstream = httpx.HTTPTransport()

    def flaky(request: httpx.Request) -> httpx.Response:
        if len(answered) < 2:
            answered.append(503)
            return httpx.Response(503, text="<Error><Code>SlowDown</Code></Error>")
        response = upstream.handle_request(request)
        response.read()
        answered.append(response.status_code)
        return response

    store = s3_server.store(transport=httpx.MockTransport(flaky), backoff_seconds=0.01)
    address = _address(b"after two 503s")
    store.put(address, b"after two 503s")
    assert answered == [503, 503, 200]
    assert b"".join(store.open(address)) == b"after two 503s"
    store.close()

    always = s3_server.store(
        transport=httpx.MockTransport(
            lambda request: httpx.Response(500, text="<Error><Code>InternalError</Code></Error>")
        ),
        backoff_seconds=0.01,
        retries=2,
    )
    with pytest.raises(S3StoreError) as failed:
        always.exists(address)
    assert failed.value.status == 500 and BUCKET in str(failed.value)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = s3_server.store(transport=httpx.MockTransport(unreachable), backoff_seconds=0.01, retries=1)
    with pytest.raises(S3StoreError) as no_answer:
        down.put(address, b"x")
    assert no_answer.value.status is None and "ConnectError" in str(no_answer.value)


# ── settings ─────────────────────────────────────────────────────────────────────────────


def test_settings_choose_the_store(tmp_path: Path) -> None:
    disk = make_settings(tmp_path)
    assert type(media_store(disk)).__name__ == "DiskBlobStore"
    configured = make_settings(
        tmp_path,
        archive_media_s3_endpoint="http://127.0.0.1:9000",
        archive_media_s3_bucket="media",
        archive_media_s3_access_key="minio",
        archive_media_s3_secret_key="minio-secret",
    )
    store = media_store(configured)
    assert isinstance(store, S3BlobStore) and store.prefix == "haina-media/" and store.region == "us-east-1"
    assert media_store(configured) is store  # one connection pool per configuration
    assert "minio-secret" not in repr(configured) and "minio-secret" not in repr(store)
    with pytest.raises(SettingsError) as incomplete:
        make_settings(
            tmp_path, archive_media_s3_endpoint="http://127.0.0.1:9000", archive_media_s3_bucket="media"
        )
    assert "HAINA_ARCHIVE_MEDIA_S3_ACCESS_KEY" in str(incomplete.value)
    assert "HAINA_ARCHIVE_MEDIA_S3_SECRET_KEY" in str(incomplete.value)
    with pytest.raises(SettingsError):
        make_settings(
            tmp_path,
            archive_media_s3_endpoint="127.0.0.1:9000",
            archive_media_s3_bucket="media",
            archive_media_s3_access_key="minio",
            archive_media_s3_secret_key="minio-secret",
        )


# ── the media pipeline with the S3 store configured ──────────────────────────────────────


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3_server: S3Server) -> Settings:
    """The database settings of this module: media in the loopback S3 server."""
    return make_settings(
        tmp_path,
        database_url=database_url,
        archive_media_s3_endpoint=s3_server.endpoint,
        archive_media_s3_bucket=BUCKET,
        archive_media_s3_prefix=f"pipeline-{uuid.uuid4().hex[:8]}/",
        archive_media_s3_access_key=s3_server.access_key,
        archive_media_s3_secret_key=s3_server.secret_key,
    )


def test_media_pipeline_end_to_end_on_s3(  # type: ignore[no-untyped-def]
    database, tenant, intake: Intake, key_pairs, sandbox, client, s3_server: S3Server
) -> None:
    store = media_store(database.settings)
    assert isinstance(store, S3BlobStore)
    add_keys(database, tenant, key_pairs)
    result = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=5)
    assert result.media_stored == 5 and result.media_failed == 0
    image_seq = next(index for index, row in enumerate(SCRIPT, start=1) if row[0] == "image")
    expected = media_bytes("image", SCRIPT[image_seq - 1][1])
    assert expected is not None and expected.startswith(b"\x89PNG")
    with database.unit_of_work() as session:
        message_id = session.scalar(
            select(ArchiveMessage.id).where(ArchiveMessage.msgid == f"msg{image_seq:04d}")
        )
        assert message_id is not None
        assert store_of(session) is store
        opened = media.open_media(session, actor_of(tenant, "owner"), database.settings, message_id)
        assert opened.mime == "image/png"
        assert b"".join(opened.chunks) == expected
    # Through the API, which picks its store from the settings.
    owner = bearer(token_for(client, tenant.usernames["owner"]))
    served = client.get(f"/api/v1/archive/messages/{message_id}/media", headers=owner)
    assert served.status_code == 200 and served.content == expected
    # The objects are in the bucket under the configured prefix, sealed; nothing on disk.
    keys = _list_keys(s3_server, database.settings.archive_media_s3_prefix)
    assert len(keys) == 5
    for key in keys:
        raw = b"".join(store.open(key.rsplit("/", 1)[1]))
        assert raw.startswith(b"HNM1") and expected not in raw and b"\x89PNG\r\n" not in raw
    assert not (Path(database.settings.var_dir) / "media").exists()
