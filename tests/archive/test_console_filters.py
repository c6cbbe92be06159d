"""The archive search page filters by customer (from the customer's profile) and by group chat,
and pages through long results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from haina.archive import service
from haina.archive.models import ArchiveConversation, ArchiveMessage
from haina.core.crypto import cipher_for
from haina.core.database import new_id
from haina.customers.models import CustomerGroup
from tests.factories import console_sign_in
from tests.tags import builders

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _conversation(database: Any, tenant_id: str, key: str, **fields: Any) -> str:
    conversation_id = new_id()
    with database.unit_of_work() as session:
        session.execute(
            insert(ArchiveConversation.__table__),  # type: ignore[arg-type]
            [{"id": conversation_id, "tenant_id": tenant_id, "key": key, "staff_userid": "rocky",
              "peer_userid": "", "roomid": "", "message_count": 0, "kind": "single", **fields}],
        )  # fmt: skip
    return conversation_id


def _messages(database: Any, tenant_id: str, conversation_id: str, texts: list[str], **fields: Any) -> None:
    cipher = cipher_for(database.settings.encryption_keys)
    rows = []
    for index, body in enumerate(texts):
        content = json.dumps({"msgtype": "text", "text": {"content": body}}, ensure_ascii=False)
        rows.append(
            {"tenant_id": tenant_id, "corp_id": "wwfilters", "seq": index + 1, "msgid": f"{conversation_id[:8]}-{index:03d}",
             "status": "stored", "conversation_id": conversation_id, "action": "send", "msgtype": "text",
             "is_known_type": True, "sender": "wmSomeone", "is_from_staff": False, "staff_userid": "rocky",
             "sent_at": T0 + timedelta(minutes=index), "is_revoked": False, "publickey_ver": 1, "stored_at": T0,
             "content_encrypted": cipher.encrypt(content, context=service.CONTENT_CONTEXT), **fields}
        )  # fmt: skip
    with database.unit_of_work() as session:
        session.execute(insert(ArchiveMessage.__table__), rows)  # type: ignore[arg-type]
    after = 0
    while True:
        with database.unit_of_work() as session:
            after = service.reindex(session, tenant_id, database.settings, after_id=after, limit=200)
        if not after:
            break


def test_customer_group_and_pages(client, database, tenant) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        chen = builders.customer(session, tenant.id, "陈女士")
        wang = builders.customer(session, tenant.id, "王先生")
        builders.group(session, tenant.id, "wrRoom0001", [])
        group = session.query(CustomerGroup).filter_by(tenant_id=tenant.id, chat_id="wrRoom0001").one()
        group.name = "小棕瓶老客福利群"
    with_chen = _conversation(
        database, tenant.id, "single:rocky:wmChen", peer_userid="wmChen", customer_id=chen
    )
    with_wang = _conversation(
        database, tenant.id, "single:rocky:wmWang", peer_userid="wmWang", customer_id=wang
    )
    room = _conversation(database, tenant.id, "room:wrRoom0001", kind="room", roomid="wrRoom0001")
    _messages(database, tenant.id, with_chen, ["快递到哪了", "退款什么时候到"], customer_id=chen)
    _messages(database, tenant.id, with_wang, ["退款申请了吗"] * 60, customer_id=wang)
    _messages(database, tenant.id, room, ["群里问一下退款", "今晚直播间有满减"])

    console_sign_in(client, tenant.usernames["owner"], "/archive")
    profile = client.get(f"/customers/{chen}")
    assert f'href="/archive?customer={chen}"' in profile.text and "聊天记录" in profile.text

    page = client.get("/archive", params={"q": "退款", "customer": chen})
    assert "陈女士" in page.text and 'name="customer"' in page.text
    assert "退款什么时候到" in page.text.replace("<mark>", "").replace("</mark>", "")
    assert "退款申请了吗" not in page.text.replace("<mark>", "").replace("</mark>", "")

    page = client.get("/archive", params={"group": room})
    assert "小棕瓶老客福利群" in page.text
    shown = page.text.replace("<mark>", "").replace("</mark>", "")
    assert "群里问一下退款" in shown and "今晚直播间有满减" in shown and "快递到哪了" not in shown

    # 62 messages with 退款: a page of 50, then the rest; the filters stay on the links.
    first = client.get("/archive", params={"q": "退款"})
    assert first.text.count('data-message="') == 50 and 'rel="next"' in first.text
    assert "/archive?q=%E9%80%80%E6%AC%BE&amp;offset=50" in first.text
    second = client.get("/archive", params={"q": "退款", "offset": 50})
    assert second.text.count('data-message="') == 12 and 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text

    english = client.get(
        "/archive", params={"q": "退款", "customer": chen}, headers={"Accept-Language": "en"}
    )
    assert "Customer" in english.text and "archive.filter" not in english.text
