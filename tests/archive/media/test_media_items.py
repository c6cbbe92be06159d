"""Media items of mixed (图文混排) and chatrecord (会话记录) messages end to end: intake through the
sandbox emulator queues one fetch per media item (item N + 1 for item N), the media job fetches
each, the API serves each with `?item=` within the conversation's scope (audited), the
conversation page shows the items in order with their states, and forgetting (directly or by
a retention purge) removes them."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from haina.archive import tasks
from haina.archive.media import service as media
from haina.archive.media.models import ArchiveMedia, ArchiveMediaFetch, FetchStatus
from haina.archive.media.queue import media_refs
from haina.archive.media.store import media_store
from haina.archive.models import ArchiveMessage
from haina.archive.retention import service as retention
from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.sandbox.emulators.wecom_archive_media import drop_media, media_bytes, with_media_fields
from tests.archive.conftest import (
    CORP_ID,
    CUSTOMER_A,
    ROCKY,
    START,
    TOMMY,
    Intake,
    actor_of,
    add_keys,
    message_ids,
    more_messages,
    script_messages,
    set_wecom_userid,
)
from tests.factories import bearer, token_for

NOW = START + timedelta(days=2)
FIRST = len(script_messages()) + 1
MIXED_MSG, RECORD_MSG = f"msg{FIRST:04d}", f"msg{FIRST + 1:04d}"
IMAGE_1 = {"md5sum": "0", "filesize": 1, "sdkfileid": "mixed-image-0001"}
IMAGE_2 = {"md5sum": "0", "filesize": 1, "sdkfileid": "mixed-image-0002"}
SHEET = {"md5sum": "0", "filename": "十一月对账单.xlsx", "fileext": "xlsx", "filesize": 3000, "sdkfileid": "record-file-0001"}  # fmt: skip
LOST = {"md5sum": "0", "filesize": 10, "sdkfileid": "record-image-lost"}


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


# As REFERENCE §1.7 writes them: each item's content is a JSON string.
MIXED = {
    "item": [
        {"type": "text", "content": _json({"content": "收到的货包装破了，看图"})},
        {"type": "image", "content": _json(IMAGE_1)},
        {"type": "image", "content": _json(IMAGE_2)},
    ]
}
RECORD = {
    "title": "罗琪和客户的聊天记录",
    "item": [
        {"type": "ChatRecordText", "msgtime": 1, "content": _json({"content": "请看对账单"}), "from_chatroom": False},
        {"type": "ChatRecordFile", "msgtime": 2, "content": _json(SHEET), "from_chatroom": False},
        {"type": "ChatRecordImage", "msgtime": 3, "content": _json(LOST), "from_chatroom": False},
    ],
}  # fmt: skip


EXTRA = [("mixed", MIXED, CUSTOMER_A, ROCKY), ("chatrecord", RECORD, ROCKY, CUSTOMER_A)]


def _fetches(database: Any) -> dict[tuple[int, int], ArchiveMediaFetch]:
    with database.unit_of_work() as session:
        return {(row.message_id, row.item): row for row in session.scalars(select(ArchiveMediaFetch))}


def _media(database: Any) -> list[ArchiveMedia]:
    with database.unit_of_work() as session:
        return list(session.scalars(select(ArchiveMedia)))


def _bytes(msgtype: str, content: dict[str, Any]) -> bytes:
    data = media_bytes(msgtype, content)
    assert data is not None
    return data


@pytest.fixture
def pulled(database, tenant, intake: Intake, key_pairs, sandbox) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    sandbox.state.world.messages.extend(more_messages(EXTRA, FIRST))
    drop_media(sandbox.state, LOST["sdkfileid"])
    add_keys(database, tenant, key_pairs)
    result = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=5)
    return {"result": result, "ids": message_ids(database), "tenant": tenant}


def test_item_numbering_and_served_fields() -> None:
    served = with_media_fields("mixed", MIXED)
    contents = [item["content"] for item in served["item"]]
    assert all(isinstance(content, str) for content in contents)  # still JSON strings
    image = _bytes("image", IMAGE_1)
    assert json.loads(contents[1]) == IMAGE_1 | {
        "md5sum": hashlib.md5(image).hexdigest(),
        "filesize": len(image),
    }
    assert contents[0] == MIXED["item"][0]["content"]

    refs = media_refs({"msgtype": "mixed", "mixed": served})
    assert [(ref.item, ref.msgtype, ref.sdkfileid) for ref in refs] == [
        (2, "image", IMAGE_1["sdkfileid"]),
        (3, "image", IMAGE_2["sdkfileid"]),
    ]
    assert refs[0].size == len(image) and refs[0].md5sum == hashlib.md5(image).hexdigest()
    record = media_refs({"msgtype": "chatrecord", "chatrecord": RECORD})
    assert [(ref.item, ref.msgtype) for ref in record] == [(2, "file"), (3, "image")]
    # A plain media message is item 0; unreadable items and items without a file are skipped.
    assert [ref.item for ref in media_refs({"msgtype": "image", "image": IMAGE_1})] == [0]
    broken = {"item": [{"type": "image", "content": "{not json"}, {"type": "image", "content": "{}"}, "x"]}
    assert media_refs({"msgtype": "mixed", "mixed": broken}) == []


def test_intake_fetches_every_media_item(database, pulled) -> None:  # type: ignore[no-untyped-def]
    ids = pulled["ids"]
    mixed, record = ids[MIXED_MSG], ids[RECORD_MSG]
    fetches = _fetches(database)
    # The script's own media messages are item 0; its mixed message's image item has no file.
    assert {item for (message_id, item) in fetches if message_id not in (mixed, record)} == {0}
    assert ids["msg0012"] not in {message_id for message_id, _ in fetches}
    assert sorted(key for key in fetches if key[0] in (mixed, record)) == [
        (mixed, 2), (mixed, 3), (record, 2), (record, 3),
    ]  # fmt: skip
    image_1, image_2, sheet = _bytes("image", IMAGE_1), _bytes("image", IMAGE_2), _bytes("file", SHEET)
    assert image_1 != image_2
    for key, msgtype, data in (((mixed, 2), "image", image_1), ((mixed, 3), "image", image_2), ((record, 2), "file", sheet)):  # fmt: skip
        fetch = fetches[key]
        assert (fetch.status, fetch.msgtype) == (FetchStatus.STORED, msgtype)
        # The sizes and md5s the sandbox wrote into the items were checked against the bytes.
        assert (fetch.expected_size, fetch.md5sum) == (len(data), hashlib.md5(data).hexdigest())
    lost = fetches[(record, 3)]
    assert lost.status == FetchStatus.FAILED and lost.reason and lost.reason.startswith("10005")
    assert pulled["result"].media_failed == 1
    media_ids = {fetches[key].media_id for key in ((mixed, 2), (mixed, 3), (record, 2))}
    assert len(media_ids) == 3 and None not in media_ids


def _audits(database: Any, message_id: int) -> list[dict[str, Any]]:
    with database.unit_of_work() as session:
        return [
            dict(entry.detail or {})
            for entry in session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "archive.media_opened", AuditEntry.target_id == str(message_id)
                )
            )
        ]


def test_api_serves_each_item_within_the_conversation_scope(client, database, pulled) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = pulled["tenant"], pulled["ids"]
    mixed, record = ids[MIXED_MSG], ids[RECORD_MSG]
    owner = bearer(token_for(client, tenant.usernames["owner"]))
    agent = bearer(token_for(client, tenant.usernames["agent"]))
    url = "/api/v1/archive/messages/{}/media".format

    first = client.get(url(mixed), params={"item": 2}, headers=owner)
    assert first.status_code == 200 and first.content == _bytes("image", IMAGE_1)
    assert first.headers["content-type"] == "image/png"
    assert first.headers["content-disposition"].startswith("inline")
    assert first.headers["cache-control"] == "private, no-store"
    assert first.headers["x-content-type-options"] == "nosniff"
    second = client.get(url(mixed), params={"item": 3}, headers=owner)
    assert second.status_code == 200 and second.content == _bytes("image", IMAGE_2)
    assert [detail["item"] for detail in _audits(database, mixed)] == [2, 3]

    sheet = client.get(url(record), params={"item": 2}, headers=owner)
    assert sheet.status_code == 200 and sheet.content == _bytes("file", SHEET)
    assert sheet.headers["content-disposition"].startswith("attachment;")
    assert f"filename*=UTF-8''{quote('十一月对账单.xlsx')}" in sheet.headers["content-disposition"]

    # The text item, the message itself (item 0) and a missing item have no media; the lost one failed.
    for message_id, item in ((mixed, 1), (mixed, 0), (mixed, 9)):
        missing = client.get(url(message_id), params={"item": item}, headers=owner)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "media_not_found"
    assert client.get(url(mixed), headers=owner).json()["error"]["code"] == "media_not_found"
    lost = client.get(url(record), params={"item": 3}, headers=owner)
    assert lost.status_code == 404 and lost.json()["error"]["code"] == "media_not_stored"
    assert client.get(url(mixed), params={"item": -1}, headers=owner).status_code == 422
    # A plain media message is still item 0, with or without the parameter.
    image = client.get(url(ids["msg0004"]), params={"item": 0}, headers=owner)
    assert (
        image.status_code == 200 and image.content == client.get(url(ids["msg0004"]), headers=owner).content
    )

    # An agent of another conversation gets 404, like a missing message, and nothing is audited.
    set_wecom_userid(database, tenant.users["agent"], TOMMY)
    assert client.get(url(mixed), params={"item": 2}, headers=agent).status_code == 404
    assert client.get(url(record), params={"item": 2}, headers=agent).status_code == 404
    assert len(_audits(database, mixed)) == 2
    set_wecom_userid(database, tenant.users["agent"], ROCKY)
    mine = client.get(url(mixed), params={"item": 3}, headers=agent)
    assert mine.status_code == 200 and mine.content == second.content
    assert len(_audits(database, mixed)) == 3


def test_conversation_page_shows_the_items_in_order(client, database, pulled) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_console import sign_in

    tenant, ids = pulled["tenant"], pulled["ids"]
    mixed, record = ids[MIXED_MSG], ids[RECORD_MSG]
    with database.unit_of_work() as session:
        conversation_id = session.scalar(
            select(ArchiveMessage.conversation_id).where(ArchiveMessage.id == mixed)
        )
    sign_in(client, tenant.usernames["owner"])
    page = client.get(f"/archive/conversations/{conversation_id}")
    assert page.status_code == 200
    text = page.text
    image = '<img class="archive-media-image" src="/api/v1/archive/messages/{}/media?item={}"'.format
    said, first, second = (
        text.index("收到的货包装破了，看图"),
        text.index(image(mixed, 2)),
        text.index(image(mixed, 3)),
    )
    assert said < first < second
    # The chatrecord: its title, its text, the file as a download link, the lost picture's failure.
    title, record_text = text.index("罗琪和客户的聊天记录"), text.index("请看对账单")
    link = text.index(
        f'<a href="/api/v1/archive/messages/{record}/media?item=2" download="十一月对账单.xlsx">'
    )
    failed = text.index("媒体获取失败：10005", link)
    assert second < title < record_text < link < failed
    # Plain media messages are drawn as before.
    assert f'src="/api/v1/archive/messages/{ids["msg0004"]}/media"' in text


def test_forgetting_removes_the_item_media(database, pulled) -> None:  # type: ignore[no-untyped-def]
    tenant, ids = pulled["tenant"], pulled["ids"]
    mixed, record = ids[MIXED_MSG], ids[RECORD_MSG]
    store = media_store(database.settings)
    fetches = _fetches(database)
    by_id = {row.id: row.digest for row in _media(database)}
    mixed_digests = [by_id[str(fetches[(mixed, item)].media_id)] for item in (2, 3)]
    sheet_digest = by_id[str(fetches[(record, 2)].media_id)]
    assert all(store.exists(digest) for digest in [*mixed_digests, sheet_digest])

    with database.unit_of_work() as session:
        assert media.forget_messages(session, tenant.id, [mixed]) == 2
    left = _fetches(database)
    assert not any(message_id == mixed for message_id, _ in left)
    assert {(record, 2), (record, 3)} <= set(left)
    assert not any(store.exists(digest) for digest in mixed_digests) and store.exists(sheet_digest)

    # The retention purge deletes the chatrecord with its items' media (and everything else: all old).
    with database.unit_of_work() as session:
        retention.set_policy(session, actor_of(tenant, "owner"), 30, None)
    with database.unit_of_work() as session:
        record_run = retention.purge(session, tenant.id, NOW + timedelta(days=31))
        assert record_run.messages == len(ids)
    assert _fetches(database) == {} and _media(database) == []
    assert not store.exists(sheet_digest)
    assert [path for path in Path(store.root).rglob("*") if path.is_file()] == []
