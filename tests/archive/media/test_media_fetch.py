"""GetMediaData through the sandbox's archive emulator over HTTP: chunks of at most 512 KB that
reassemble byte for byte, md5 and size fields that match the bytes, 10005 for an unknown fileid,
and fetch_media's checks (md5, size, cap)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from haina.archive.media.service import MediaFetchError, fetch_media
from haina.archive.sources import MediaChunk, SandboxDecryptor, WeComHttpSource, open_item
from haina.platforms.base import Credentials, Endpoint
from haina.platforms.wecom.client import WeComClient
from haina.platforms.wecom.errors import ArchiveSdkError
from haina.sandbox.emulators.wecom import generate_archive_key_pair, set_archive_public_key
from haina.sandbox.emulators.wecom_archive_media import (
    CHUNK_BYTES,
    drop_media,
    media_bytes,
    replace_media,
)
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ChatMessage, Staff, World
from tests.platforms.live_sandbox import LiveSandbox, serve

CORP_ID, SECRET = "wwmedia0001", "msgaudit-secret"
BIG = "big-file-0001"
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _message(seq: int, msgtype: str, content: dict) -> ChatMessage:
    return ChatMessage(
        seq,
        f"m{seq}",
        "send",
        "rocky",
        ["wmCustomer01"],
        "",
        START + timedelta(minutes=seq),
        msgtype,
        content,
    )


MESSAGES = [
    _message(1, "image", {"md5sum": "x", "filesize": 70961, "sdkfileid": "img-0001"}),
    _message(2, "file", {"md5sum": "y", "filename": "报价单.pdf", "fileext": "pdf", "filesize": 1_300_000, "sdkfileid": BIG}),
    _message(3, "voice", {"md5sum": "z", "voice_size": 5000, "play_length": 3, "sdkfileid": "voice-0001"}),
    _message(4, "video", {"md5sum": "w", "filesize": 90_000, "play_length": 9, "sdkfileid": "video-0001"}),
]  # fmt: skip


@dataclass
class Served:
    live: LiveSandbox
    source: WeComHttpSource
    private_pem: str


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    world = World(
        seed=1,
        merchant_name="海纳美妆",
        corp_id=CORP_ID,
        corp_secret=SECRET,
        callback_token="callbacktoken",
        callback_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        staff=[Staff("rocky", "罗琪", "13900000001")],
    )
    world.messages = list(MESSAGES)
    state = SandboxState(world)
    private_pem, public_pem = generate_archive_key_pair()
    set_archive_public_key(state, 1, public_pem)
    with serve(state) as live:
        client = WeComClient(Credentials(CORP_ID, SECRET), Endpoint(live.base_url("wecom")))
        yield Served(live, WeComHttpSource(client), private_pem)
        client.close()


class Counting:
    """Counts GetMediaData calls on their way to the sandbox (the sandbox itself is real)."""

    def __init__(self, source: WeComHttpSource) -> None:
        self.source = source
        self.calls: list[MediaChunk] = []

    def get_media_data(self, sdkfileid: str, indexbuf: str) -> MediaChunk:
        chunk = self.source.get_media_data(sdkfileid, indexbuf)
        self.calls.append(chunk)
        return chunk


def _served_messages(served: Served) -> dict[str, dict]:
    items = served.source.get_chat_data(0, 100)
    opened = [open_item(item, {1: served.private_pem}, SandboxDecryptor()) for item in items]
    return {message["msgid"]: message for message in opened}


def test_served_messages_describe_the_bytes(served: Served) -> None:
    messages = _served_messages(served)
    for original in MESSAGES:
        payload = messages[original.msgid][original.msgtype]
        data = media_bytes(original.msgtype, original.content)
        assert data is not None
        assert payload["md5sum"] == hashlib.md5(data).hexdigest()
        size_field = "voice_size" if original.msgtype == "voice" else "filesize"
        assert payload[size_field] == len(data)
        assert payload["sdkfileid"] == original.content["sdkfileid"]
    image = media_bytes("image", MESSAGES[0].content)
    assert image is not None and image.startswith(b"\x89PNG\r\n\x1a\n")
    voice = media_bytes("voice", MESSAGES[2].content)
    assert voice is not None and voice.startswith(b"#!AMR")
    # Deterministic: the same fileid gives the same bytes, another fileid other bytes.
    assert media_bytes("image", {"sdkfileid": "img-0001"}) == image
    assert media_bytes("image", {"sdkfileid": "img-0002"}) != image


def test_a_file_over_512_kb_takes_several_chunks_and_reassembles(served: Served) -> None:
    expected = media_bytes("file", MESSAGES[1].content)
    assert expected is not None and len(expected) == 1_300_000
    counting = Counting(served.source)
    data = fetch_media(
        counting, BIG, len(expected), hashlib.md5(expected).hexdigest(), max_bytes=10 * 1024 * 1024
    )
    assert data == expected
    assert len(counting.calls) == 3  # 512 KB + 512 KB + the rest
    assert [len(chunk.data) for chunk in counting.calls] == [
        CHUNK_BYTES,
        CHUNK_BYTES,
        1_300_000 - 2 * CHUNK_BYTES,
    ]
    assert [chunk.is_finish for chunk in counting.calls] == [False, False, True]
    # A small file comes in one call.
    counting.calls.clear()
    small = media_bytes("image", MESSAGES[0].content)
    assert fetch_media(counting, "img-0001", 0, "", max_bytes=10**6) == small
    assert len(counting.calls) == 1


def test_the_route_speaks_the_sdk_shape(served: Served) -> None:
    answer = served.source.client.post(
        "/msgaudit/get_media_data", {"sdkfileid": "voice-0001", "indexbuf": ""}
    )
    assert answer["errcode"] == 0 and answer["is_finish"] is True
    assert base64.b64decode(answer["data"]) == media_bytes("voice", MESSAGES[2].content)
    assert isinstance(answer["outindexbuf"], str) and answer["outindexbuf"]
    with pytest.raises(ArchiveSdkError) as bad_index:
        served.source.get_media_data("voice-0001", "not-an-index")
    assert bad_index.value.code == 10000


def test_unknown_fileid_is_10005_and_final(served: Served) -> None:
    with pytest.raises(ArchiveSdkError) as unknown:
        served.source.get_media_data("no-such-file", "")
    assert unknown.value.code == 10005
    with pytest.raises(MediaFetchError) as failed:
        fetch_media(served.source, "no-such-file", 10, "", max_bytes=10**6)
    assert failed.value.is_final and failed.value.reason.startswith("10005")


def test_md5_and_size_mismatch_and_the_cap(served: Served) -> None:
    original = media_bytes("video", MESSAGES[3].content)
    assert original is not None
    md5 = hashlib.md5(original).hexdigest()
    replace_media(served.live.state, "video-0001", original[:-1] + b"\x00")
    try:
        with pytest.raises(MediaFetchError) as mismatch:
            fetch_media(served.source, "video-0001", len(original), md5, max_bytes=10**7)
        assert "md5" in mismatch.value.reason and not mismatch.value.is_final
    finally:
        replace_media(served.live.state, "video-0001", original)
    with pytest.raises(MediaFetchError) as size:
        fetch_media(served.source, "video-0001", len(original) + 1, md5, max_bytes=10**7)
    assert "大小不符" in size.value.reason
    with pytest.raises(MediaFetchError) as declared_too_big:
        fetch_media(served.source, "video-0001", 10**8, md5, max_bytes=10**7)
    assert declared_too_big.value.is_final
    with pytest.raises(MediaFetchError) as too_big:  # the size is not declared: caught while fetching
        fetch_media(served.source, "video-0001", 0, "", max_bytes=1000)
    assert too_big.value.is_final and "上限" in too_big.value.reason
    assert fetch_media(served.source, "video-0001", len(original), md5, max_bytes=10**7) == original


def test_dropped_media_answers_10005(served: Served) -> None:
    state: SandboxState = served.live.state
    drop_media(state, "gone-0001")
    with pytest.raises(ArchiveSdkError) as gone:
        served.source.get_media_data("gone-0001", "")
    assert gone.value.code == 10005
