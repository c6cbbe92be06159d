"""Archived media end to end: intake from the sandbox emulator queues a fetch per media message,
the media job fetches them (several chunks for a big file), stores each content once, encrypted;
failures keep their reason and retry with backoff; the API serves the bytes only within the
conversation's scope, audited; forget_messages deletes a blob with its last reference."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from haina.archive import tasks
from haina.archive.media import service as media
from haina.archive.media.models import ArchiveMedia, ArchiveMediaFetch, FetchStatus
from haina.archive.media.store import (
    BlobCorrupt,
    DiskBlobStore,
    blob_cipher,
    media_digest,
    media_store,
    seal,
    unseal,
)
from haina.archive.media.tasks import fetch_pending_media
from haina.archive.models import ArchiveMessage
from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.sandbox.emulators.wecom_archive_media import drop_media, media_bytes, replace_media
from tests.archive.conftest import (
    CORP_ID,
    CUSTOMER_A,
    ROCKY,
    START,
    TOMMY,
    Intake,
    add_keys,
    message_ids,
    more_messages,
    script_messages,
    set_wecom_userid,
)
from tests.factories import bearer, token_for

NOW = START + timedelta(days=2)
BIG = {
    "md5sum": "0",
    "filename": "门店陈列手册.pdf",
    "fileext": "pdf",
    "filesize": 1_300_000,
    "sdkfileid": "big-0001",
}
LOST = {"md5sum": "0", "filesize": 100, "sdkfileid": "lost-0001"}
BENT = {"md5sum": "0", "filesize": 100, "sdkfileid": "bent-0001"}
# The script's image (opaque-1) sent again: the same bytes, stored once.
AGAIN = {"md5sum": "50de", "filesize": 70961, "sdkfileid": "opaque-1"}
FIRST = len(script_messages()) + 1
AGAIN_MSG, BIG_MSG, LOST_MSG, BENT_MSG = (f"msg{seq:04d}" for seq in range(FIRST, FIRST + 4))


EXTRA = [("image", AGAIN, CUSTOMER_A, ROCKY), ("file", BIG, ROCKY, CUSTOMER_A),
         ("image", LOST, CUSTOMER_A, ROCKY), ("image", BENT, CUSTOMER_A, ROCKY)]  # fmt: skip


def _fetches(database: Any) -> dict[int, ArchiveMediaFetch]:
    with database.unit_of_work() as session:
        return {row.message_id: row for row in session.scalars(select(ArchiveMediaFetch))}


def _media(database: Any) -> list[ArchiveMedia]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(ArchiveMedia).order_by(ArchiveMedia.digest)))


@pytest.fixture
def pulled(database, tenant, intake: Intake, key_pairs, sandbox) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    sandbox.state.world.messages.extend(more_messages(EXTRA, FIRST))
    drop_media(sandbox.state, LOST["sdkfileid"])
    bent = media_bytes("image", BENT)
    assert bent is not None
    replace_media(sandbox.state, BENT["sdkfileid"], bent[::-1])  # not what the message's md5 says
    add_keys(database, tenant, key_pairs)
    result = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=5)
    return {
        "result": result,
        "ids": message_ids(database),
        "tenant": tenant,
        "state": sandbox.state,
        "bent": bent,
    }


def test_intake_fetches_media_and_keeps_failures(database, pulled) -> None:  # type: ignore[no-untyped-def]
    result, ids = pulled["result"], pulled["ids"]
    assert (result.media_stored, result.media_failed) == (7, 1)
    fetches = _fetches(database)
    # msg0004 image, 0005 voice, 0006 video, 0007 file, 0009 emotion, then the four extra ones.
    media_messages = ["msg0004", "msg0005", "msg0006", "msg0007", "msg0009", AGAIN_MSG, BIG_MSG, LOST_MSG, BENT_MSG]  # fmt: skip
    assert sorted(fetches) == sorted(ids[msgid] for msgid in media_messages)
    status = {msgid: fetches[ids[msgid]].status for msgid in media_messages}
    assert [m for m, s in status.items() if s == FetchStatus.STORED] == media_messages[:7]
    lost, bent = fetches[ids[LOST_MSG]], fetches[ids[BENT_MSG]]
    assert lost.status == FetchStatus.FAILED and lost.reason and lost.reason.startswith("10005")
    assert lost.attempts == 1  # a wrong fileid is not retried
    assert bent.status == FetchStatus.PENDING and bent.attempts == 1
    assert bent.reason and "md5" in bent.reason
    assert bent.next_attempt_at == NOW + media.RETRY_BASE

    # Same bytes twice (msg0004 and AGAIN_MSG) are stored once, with two references.
    stored = _media(database)
    assert len(stored) == 6
    assert fetches[ids["msg0004"]].media_id == fetches[ids[AGAIN_MSG]].media_id
    shared = next(row for row in stored if row.id == fetches[ids["msg0004"]].media_id)
    assert shared.refs == 2 and shared.mime == "image/png"
    assert {row.mime for row in stored} == {"image/png", "audio/amr", "video/mp4", "application/octet-stream"}

    # On disk: one file per content, at <aa>/<bb>/<digest>, none holding the plaintext.
    store = media_store(database.settings)
    files = sorted(path for path in Path(store.root).rglob("*") if path.is_file())
    assert [path.name for path in files] == [row.digest for row in stored]
    assert all(
        path.parent.name == path.name[2:4] and path.parent.parent.name == path.name[:2] for path in files
    )
    big = media_bytes("file", BIG)
    assert big is not None
    big_digest = media_digest(database.settings.hash_key, pulled["tenant"].id, big)
    on_disk = (Path(store.root) / big_digest[:2] / big_digest[2:4] / big_digest).read_bytes()
    assert big[:64] not in on_disk and big[700_000:700_064] not in on_disk
    image = media_bytes("image", AGAIN)
    assert image is not None
    for path in files:
        raw = path.read_bytes()
        assert b"\x89PNG\r\n" not in raw and b"#!AMR\n" not in raw and image not in raw


def test_md5_mismatch_retries_with_backoff_then_fails_and_can_be_replayed(
    database, pulled, intake: Intake
) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = pulled["tenant"], pulled["ids"]
    bent_id = ids[BENT_MSG]
    # Not due before its backoff is over.
    assert fetch_pending_media(database, tenant.id, intake.source, max_attempts=2).retrying == 0
    clock.freeze(NOW + media.RETRY_BASE + timedelta(seconds=1))
    second = fetch_pending_media(database, tenant.id, intake.source, max_attempts=2)
    assert (second.stored, second.failed, second.retrying) == (0, 1, 0)
    bent = _fetches(database)[bent_id]
    assert (bent.status, bent.attempts, bent.next_attempt_at) == (FetchStatus.FAILED, 2, None)
    assert bent.reason and "md5" in bent.reason

    # After the cause is fixed, a failed fetch is replayed.
    replace_media(pulled["state"], BENT["sdkfileid"], pulled["bent"])
    with database.unit_of_work() as session:
        assert media.retry_failed(session, tenant.id, [bent_id]) == 1
    again = fetch_pending_media(database, tenant.id, intake.source)
    assert again.stored == 1
    assert _fetches(database)[bent_id].status == FetchStatus.STORED


def _audits(database: Any, message_id: int) -> int:
    with database.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    AuditEntry.action == "archive.media_opened", AuditEntry.target_id == str(message_id)
                )
            )
            or 0
        )


def test_media_api_serves_bytes_within_the_conversation_scope(client, database, pulled) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = pulled["tenant"], pulled["ids"]
    owner = bearer(token_for(client, tenant.usernames["owner"]))
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    finance = bearer(token_for(client, tenant.usernames["finance"]))
    url = "/api/v1/archive/messages/{}/media".format

    image = client.get(url(ids["msg0004"]), headers=owner)
    assert image.status_code == 200
    assert image.content == media_bytes("image", AGAIN)
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert _audits(database, ids["msg0004"]) == 1

    big = client.get(url(ids[BIG_MSG]), headers=owner)
    expected = media_bytes("file", BIG)
    assert expected is not None
    assert (
        big.status_code == 200 and hashlib.sha256(big.content).digest() == hashlib.sha256(expected).digest()
    )
    assert big.headers["content-type"] == "application/octet-stream"
    assert big.headers["content-disposition"].startswith("attachment;")
    assert f"filename*=UTF-8''{quote('门店陈列手册.pdf')}" in big.headers["content-disposition"]
    voice = client.get(url(ids["msg0005"]), headers=owner)
    assert voice.headers["content-type"] == "audio/amr"
    assert client.get(url(ids["msg0006"]), headers=owner).headers["content-type"] == "video/mp4"

    # An agent only within their own conversations; other conversations are 404, like a missing one.
    set_wecom_userid(database, tenant.users["agent"], TOMMY)
    assert client.get(url(ids["msg0004"]), headers=agent).status_code == 404
    assert _audits(database, ids["msg0004"]) == 1
    set_wecom_userid(database, tenant.users["agent"], ROCKY)
    mine = client.get(url(ids["msg0004"]), headers=agent)
    assert mine.status_code == 200 and mine.content == image.content
    assert _audits(database, ids["msg0004"]) == 2
    # Finance may not read chats at all.
    assert client.get(url(ids["msg0004"]), headers=finance).status_code == 403
    # Failed, text and unknown messages have nothing to serve.
    failed = client.get(url(ids[LOST_MSG]), headers=owner)
    assert failed.status_code == 404 and failed.json()["error"]["code"] == "media_not_stored"
    assert client.get(url(ids["msg0001"]), headers=owner).json()["error"]["code"] == "media_not_found"
    assert client.get(url(987654321), headers=owner).status_code == 404


def test_conversation_page_shows_media(client, database, pulled) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_console import sign_in

    tenant, ids = pulled["tenant"], pulled["ids"]
    with database.unit_of_work() as session:
        conversation_id = session.scalar(
            select(ArchiveMessage.conversation_id).where(ArchiveMessage.id == ids["msg0004"])
        )
    sign_in(client, tenant.usernames["owner"])
    page = client.get(f"/archive/conversations/{conversation_id}")
    assert page.status_code == 200
    assert (
        f'<img class="archive-media-image" src="/api/v1/archive/messages/{ids["msg0004"]}/media"' in page.text
    )
    assert (
        f'<audio controls preload="none" src="/api/v1/archive/messages/{ids["msg0005"]}/media"' in page.text
    )
    assert (
        f'<video class="archive-media-video" controls preload="none" src="/api/v1/archive/messages/{ids["msg0006"]}/media"'
        in page.text
    )
    assert "门店陈列手册.pdf" in page.text
    assert "媒体获取失败：10005" in page.text
    assert "获取中" in page.text  # the md5 mismatch waits for its retry


def test_forget_messages_deletes_a_blob_with_its_last_reference(database, pulled) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = pulled["tenant"], pulled["ids"]
    store = media_store(database.settings)
    fetches = _fetches(database)
    shared = fetches[ids["msg0004"]].media_id
    digest = next(row.digest for row in _media(database) if row.id == shared)
    assert store.exists(digest)

    # A rollback keeps both the rows and the file.
    with pytest.raises(RuntimeError), database.unit_of_work() as session:
        assert media.forget_messages(session, tenant.id, [ids["msg0004"], ids[AGAIN_MSG]]) == 1
        raise RuntimeError("the purge failed")
    assert store.exists(digest) and len(_media(database)) == 6

    with database.unit_of_work() as session:
        assert media.forget_messages(session, tenant.id, [ids["msg0004"]]) == 0
    assert store.exists(digest)
    assert next(row.refs for row in _media(database) if row.id == shared) == 1
    with database.unit_of_work() as session:
        assert media.forget_messages(session, tenant.id, [ids[AGAIN_MSG], ids["msg0001"]]) == 1
    assert not store.exists(digest)
    assert shared not in {row.id for row in _media(database)}
    assert len(_media(database)) == 5
    # Another tenant's call touches nothing of this one.
    with database.unit_of_work() as session:
        assert media.forget_messages(session, "0" * 32, [ids["msg0005"]]) == 0
    assert len(_media(database)) == 5


def test_blob_format_detects_tampering_and_dedupes(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    cipher = blob_cipher(settings)
    data = bytes(range(256)) * 5000  # 1.28 MB: three segments of 512 KB
    digest = media_digest(settings.hash_key, "t1", data)
    sealed = seal(cipher, digest, data, segment_bytes=512 * 1024)
    assert data[:4096] not in sealed
    assert b"".join(unseal(cipher, digest, iter([sealed]))) == data
    assert (
        b"".join(unseal(cipher, digest, iter([sealed[i : i + 1000] for i in range(0, len(sealed), 1000)])))
        == data
    )
    for broken in (
        sealed[:-20],
        sealed[: len(sealed) - (len(data) - 2 * 512 * 1024) - 28],
        sealed[:-1] + b"\x00",
    ):
        with pytest.raises(BlobCorrupt):
            b"".join(unseal(cipher, digest, iter([broken])))
    with pytest.raises(BlobCorrupt):  # a blob moved to another address
        b"".join(unseal(cipher, "f" * 64, iter([sealed])))
    # The address is keyed: another tenant or another key gives another address.
    assert media_digest(settings.hash_key, "t2", data) != digest
    assert media_digest("other-key", "t1", data) != digest
    store = DiskBlobStore(tmp_path / "blobs")
    store.put(digest, sealed)
    store.put(digest, sealed)
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [digest]
    assert store.delete(digest) and not store.delete(digest)
    assert not (tmp_path / "blobs" / digest[:2]).exists()


def test_key_rotation_rewraps_blob_keys(database, pulled) -> None:  # type: ignore[no-untyped-def]
    import base64

    from haina.archive.media.models import ArchiveMedia as Media
    from tests.archive.conftest import actor_of
    from tests.conftest import TEST_ENCRYPTION_KEY, make_settings

    tenant, ids = pulled["tenant"], pulled["ids"]
    store = media_store(database.settings)
    new_key = base64.b64encode(b"n" * 32).decode()
    var_dir = database.settings.var_dir
    both = make_settings(var_dir, encryption_keys=f"2:{new_key},1:{TEST_ENCRYPTION_KEY}")
    only_new = make_settings(var_dir, encryption_keys=f"2:{new_key}")
    with database.unit_of_work() as session:
        digest = session.scalar(
            select(Media.digest).where(Media.id == _fetches(database)[ids["msg0004"]].media_id)
        )
        assert digest is not None
        before = (Path(store.root) / digest[:2] / digest[2:4] / digest).read_bytes()
        with pytest.raises(BlobCorrupt):  # the old key is needed until the blobs are rewrapped
            b"".join(unseal(blob_cipher(only_new), digest, store.open(digest)))
        assert media.rewrap_blobs(session, both, store) == 6
        assert media.rewrap_blobs(session, both, store) == 0  # already under the current key
    after = (Path(store.root) / digest[:2] / digest[2:4] / digest).read_bytes()
    image = media_bytes("image", AGAIN)
    assert image is not None
    segment = 12 + len(image) + 16  # nonce, ciphertext, tag: the one segment, kept as it was
    assert after != before and after[-segment:] == before[-segment:]
    with database.unit_of_work() as session:
        opened = media.open_media(session, actor_of(tenant, "owner"), only_new, ids["msg0004"], store=store)
        assert b"".join(opened.chunks) == media_bytes("image", AGAIN)
