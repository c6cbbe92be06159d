"""Search on Chinese words and phrases (word boundaries, traditional/simplified, tenant words,
filters, highlights), who may read what, the audit of every read, and keyword alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from haina.archive import service, tasks
from haina.archive.models import ArchiveConversation, KeywordAlert
from haina.core.audit.models import AuditEntry
from haina.core.errors import NotFound, PermissionDenied
from haina.core.events.models import OutboxEvent
from tests.archive.conftest import CORP_ID, ROCKY, START, TOMMY, Intake, actor_of, add_keys, set_wecom_userid


@pytest.fixture
def loaded(database, tenant, intake: Intake, key_pairs) -> Any:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    return tenant


def _search(database: Any, tenant: Any, query: str, role: str = "owner", **filters: Any) -> list[str]:
    with database.unit_of_work() as session:
        result = service.search(
            session, actor_of(tenant, role), database.settings, query, service.SearchFilters(**filters)
        )
        return [hit.message.msgid for hit in result.hits]


def test_words_phrases_and_boundaries(database, loaded) -> None:  # type: ignore[no-untyped-def]
    assert _search(database, loaded, "退款") == ["msg0001"]
    # Traditional and simplified find each other: the message says 過敏 and 精華.
    assert _search(database, loaded, "过敏") == ["msg0001"]
    assert _search(database, loaded, "過敏 精华") == ["msg0001"]
    # Word boundaries: 和服 (kimono) is not in "我们和服务员核实".
    assert _search(database, loaded, "和服") == []
    assert _search(database, loaded, "服务员") == ["msg0002"]
    # A quoted phrase must occur as written; bare words only all occur.
    assert _search(database, loaded, '"没有收到货"') == ["msg0012"]
    assert _search(database, loaded, '"收到没有"') == []
    assert _search(database, loaded, "收到 没有") == ["msg0012"]
    # Text inside files, links, chat records is searchable too.
    assert _search(database, loaded, "退货单") == ["msg0007"]
    assert _search(database, loaded, "差评") == ["msg0015"]
    assert _search(database, loaded, "快递") == ["msg0017", "msg0012"]  # newest first


def test_tenant_words_are_found_whole_also_in_old_messages(database, loaded) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        service.add_word(session, actor_of(loaded, "owner"), database.settings, "小棕瓶")
    # Indexed after intake: the message with 小棕瓶 (written 小棕瓶精華) gets the word's token.
    assert _search(database, loaded, "小棕瓶") == ["msg0001"]
    assert _search(database, loaded, '"小棕瓶精华"') == ["msg0001"]


def test_filters_and_highlights(database, loaded) -> None:  # type: ignore[no-untyped-def]
    assert _search(database, loaded, "快递", staff_userid=ROCKY) == []
    assert _search(database, loaded, "快递", msgtype="mixed") == ["msg0012"]
    assert _search(database, loaded, "快递", since=START + timedelta(minutes=13)) == ["msg0017"]
    assert _search(database, loaded, "快递", until=START + timedelta(minutes=13)) == ["msg0012"]
    assert _search(database, loaded, "", msgtype="file") == ["msg0007"]
    with database.unit_of_work() as session:
        result = service.search(session, actor_of(loaded, "owner"), database.settings, "退款 过敏")
        parts = result.hits[0].parts
    assert ("退款", True) in parts and ("過敏", True) in parts  # marked in the original text


def test_agent_sees_only_own_conversations_and_finance_none(database, loaded) -> None:  # type: ignore[no-untyped-def]
    agent = actor_of(loaded, "agent")
    # An agent who is no WeCom member yet sees nothing.
    assert _search(database, loaded, "快递", role="agent") == []
    set_wecom_userid(database, loaded.users["agent"], ROCKY)
    assert _search(database, loaded, "快递", role="agent") == []  # tommy's customers
    assert _search(database, loaded, "退款", role="agent") == ["msg0001"]
    # Asking for another staff member's chats by filter gives nothing either.
    assert _search(database, loaded, "快递", role="agent", staff_userid=TOMMY) == []
    with database.unit_of_work() as session:
        conversations = {
            c.staff_userid: c.id
            for c in session.scalars(
                select(ArchiveConversation).where(ArchiveConversation.peer_userid.like("wm%"))
            )
        }
        assert {c.staff_userid for c in service.list_conversations(session, agent)} == {ROCKY}
        with pytest.raises(NotFound):
            service.open_conversation(session, agent, database.settings, conversations[TOMMY])
        opened = service.open_conversation(session, agent, database.settings, conversations[ROCKY])
        assert opened.messages and all(row.staff_userid == ROCKY for row, _ in opened.messages)
    for role in ("finance", "operator", "technician"):
        with database.unit_of_work() as session, pytest.raises(PermissionDenied):
            service.search(session, actor_of(loaded, role), database.settings, "退款")
        with database.unit_of_work() as session, pytest.raises(PermissionDenied):
            service.open_conversation(
                session, actor_of(loaded, role), database.settings, conversations[ROCKY]
            )


def test_every_search_and_opened_conversation_is_audited(database, loaded) -> None:  # type: ignore[no-untyped-def]
    _search(database, loaded, "退款")
    _search(database, loaded, '"没有收到货"', role="admin")
    with database.unit_of_work() as session:
        conversation_id = session.scalars(select(ArchiveConversation.id)).first()
        assert conversation_id is not None
        service.open_conversation(session, actor_of(loaded, "owner"), database.settings, conversation_id)
    with database.unit_of_work() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.tenant_id == loaded.id, AuditEntry.action.like("archive.%"))
        ).all()
        searched = [e for e in entries if e.action == "archive.searched"]
        opened = [e for e in entries if e.action == "archive.conversation_opened"]
    assert [e.detail["query"] for e in searched] == ["退款", '"没有收到货"']
    assert {e.actor_id for e in searched} == {loaded.users["owner"], loaded.users["admin"]}
    assert [e.target_id for e in opened] == [conversation_id]


def test_keyword_alerts_fire_once_per_message(database, tenant, intake: Intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    owner = actor_of(tenant, "owner")
    with database.unit_of_work() as session:
        for phrase in ("投诉", "退款", "过敏"):
            service.add_rule(session, owner, "word", phrase)
        service.add_rule(session, owner, "phone_leak")
    add_keys(database, tenant, key_pairs)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=3)
    # The same items again (a re-delivered batch) raise nothing new.
    items = intake.source.get_chat_data(0, 100)
    with database.unit_of_work() as session:
        again = service.store_items(session, tenant.id, CORP_ID, items, intake.decryptor, database.settings)
    assert again.alerts == 0 and again.duplicates == len(items)
    with database.unit_of_work() as session:
        alerts = session.scalars(select(KeywordAlert).where(KeywordAlert.tenant_id == tenant.id)).all()
        found = sorted((alert.phrase, alert.staff_userid) for alert in alerts)
        events = session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "archive.keyword_matched")
        )
        # Agents see alerts of their own conversations only.
        set_agent = actor_of(tenant, "agent")
    # 退款 and 过敏 (written 過敏) in one customer message; 投诉 from another; a phone number sent by staff.
    assert found == sorted([("phone", ROCKY), ("投诉", TOMMY), ("退款", ROCKY), ("过敏", ROCKY)])
    assert events == 4
    set_wecom_userid(database, tenant.users["agent"], TOMMY)
    with database.unit_of_work() as session:
        assert [a.phrase for a in service.list_alerts(session, set_agent)] == ["投诉"]


def test_a_customer_sending_a_phone_number_is_no_leak(database, tenant, intake: Intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        service.add_rule(session, actor_of(tenant, "owner"), "phone_leak")
    add_keys(database, tenant, key_pairs)
    items = intake.source.get_chat_data(0, 100)
    with database.unit_of_work() as session:
        result = service.store_items(session, tenant.id, CORP_ID, items, intake.decryptor, database.settings)
    assert result.alerts == 1  # only msg0003, sent by rocky


def test_insights_heatmap_and_first_response_per_staff(database, loaded) -> None:  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    window = {"since": START - timedelta(days=1), "until": START + timedelta(days=1)}
    with database.unit_of_work() as session:
        everyone = service.insights(session, actor_of(loaded, "owner"), **window)
    local = (START + timedelta(minutes=1)).astimezone(ZoneInfo("Asia/Shanghai"))
    # Customer messages: A wrote 5 (agree is no message), B wrote 3 (disagree is none), all at 17:xx Beijing time.
    assert everyone.heatmap[local.weekday()][17] == 8 and sum(map(sum, everyone.heatmap)) == 8
    # rocky answered after 1 and 3 minutes, tommy after 1.
    assert [(r.staff_userid, r.replies, r.median_minutes, r.within_target) for r in everyone.responses] == [
        (ROCKY, 2, 2.0, 1.0),
        (TOMMY, 1, 1.0, 1.0),
    ]
    set_wecom_userid(database, loaded.users["agent"], ROCKY)
    with database.unit_of_work() as session:
        own = service.insights(session, actor_of(loaded, "agent"), **window, target_minutes=2)
    assert sum(map(sum, own.heatmap)) == 5
    assert [(r.staff_userid, r.within_target) for r in own.responses] == [(ROCKY, 0.5)]
