"""Search over more messages than a page: phrase candidates fetched in growing pages, pages of
results that neither repeat nor skip, and date windows (narrow ones read from the postings' time
index, wide ones filtered on the messages) that give exactly the messages inside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from haina.archive import service
from haina.archive.models import ArchiveConversation, ArchiveMessage
from haina.core.crypto import cipher_for
from haina.core.database import new_id
from tests.archive.conftest import actor_of

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
STAFF, CUSTOMER = "rocky", "wmPaging0000000000000001"


def _archive(database: Any, tenant: Any, texts: list[str]) -> list[str]:
    """`texts` as stored messages a minute apart, oldest first, indexed; their msgids."""
    cipher = cipher_for(database.settings.encryption_keys)
    conversation = new_id()
    rows = []
    for index, body in enumerate(texts):
        content = json.dumps({"msgtype": "text", "text": {"content": body}}, ensure_ascii=False)
        rows.append(
            {"tenant_id": tenant.id, "corp_id": "wwpaging", "seq": index + 1, "msgid": f"page{index:04d}",
             "status": "stored", "conversation_id": conversation, "action": "send", "msgtype": "text",
             "is_known_type": True, "sender": CUSTOMER, "is_from_staff": False, "staff_userid": STAFF,
             "sent_at": T0 + timedelta(minutes=index), "is_revoked": False, "publickey_ver": 1,
             "stored_at": T0, "content_encrypted": cipher.encrypt(content, context=service.CONTENT_CONTEXT)}
        )  # fmt: skip
    with database.unit_of_work() as session:
        session.execute(
            insert(ArchiveConversation.__table__),  # type: ignore[arg-type]
            [{"id": conversation, "tenant_id": tenant.id, "key": f"single:{STAFF}:{CUSTOMER}", "kind": "single",
              "staff_userid": STAFF, "peer_userid": CUSTOMER, "roomid": "", "message_count": len(texts)}],
        )  # fmt: skip
        session.execute(insert(ArchiveMessage.__table__), rows)  # type: ignore[arg-type]
    after = 0
    while True:
        with database.unit_of_work() as session:
            after = service.reindex(session, tenant.id, database.settings, after_id=after, limit=100)
        if not after:
            break
    return [row["msgid"] for row in rows]


def _search(database: Any, tenant: Any, query: str, *, limit: int = 20, offset: int = 0, **filters: Any):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        return service.search(
            session,
            actor_of(tenant, "owner"),
            database.settings,
            query,
            service.SearchFilters(**filters),
            limit=limit,
            offset=offset,
        )


def test_a_phrase_is_found_behind_many_candidates_that_only_have_its_words(database, tenant) -> None:  # type: ignore[no-untyped-def]
    # The oldest message has the phrase; the 300 newer ones have both words, never side by side.
    msgids = _archive(database, tenant, ["亲什么时候发货呀", *(["亲，请问什么时候到"] * 300)])
    result = _search(database, tenant, '"亲什么"')
    assert [hit.message.msgid for hit in result.hits] == [msgids[0]]
    assert result.scanned == 301  # every candidate checked once, none twice
    assert [hit.message.msgid for hit in _search(database, tenant, "亲 什么", limit=3).hits] == msgids[:-4:-1]


def test_pages_neither_repeat_nor_skip(database, tenant) -> None:  # type: ignore[no-untyped-def]
    texts = [f"第{index}单退款{'，快递已签收' if index % 3 == 0 else ''}" for index in range(95)]
    msgids = _archive(database, tenant, texts)
    for query, expected in (
        ("退款", msgids[::-1]),
        ("退款 快递", [msgid for index, msgid in enumerate(msgids) if index % 3 == 0][::-1]),
    ):
        seen: list[str] = []
        offset = 0
        while True:
            result = _search(database, tenant, query, limit=20, offset=offset)
            seen += [hit.message.msgid for hit in result.hits]
            if not result.has_more:
                break
            offset += 20
        assert seen == expected, query


def test_date_windows_narrow_and_wide(database, tenant) -> None:  # type: ignore[no-untyped-def]
    msgids = _archive(database, tenant, [f"退款进度{index}，快递" for index in range(200)])
    for query in ("退款", "退款 快递"):
        # Narrow (a tenth of the archive, far from its newest end) and wide (most of it).
        for first, last in ((20, 40), (10, 190)):
            since, until = T0 + timedelta(minutes=first), T0 + timedelta(minutes=last)
            result = _search(database, tenant, query, limit=500, since=since, until=until)
            assert [hit.message.msgid for hit in result.hits] == msgids[first:last][::-1], (query, first)
        result = _search(database, tenant, query, limit=5, since=T0 + timedelta(minutes=150))
        assert [hit.message.msgid for hit in result.hits] == msgids[:-6:-1]
