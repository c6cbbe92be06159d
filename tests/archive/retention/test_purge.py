"""Retention: the preview and the purge agree, a purge removes exactly the messages older than
the cutoff with their search tokens and alerts (and conversations left empty), keeps the rest,
is audited and recorded, deletes nothing more the second time, and touches no other tenant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from haina.archive.models import ArchiveConversation, ArchiveMessage, ArchiveToken, KeywordAlert
from haina.archive.retention import service
from haina.archive.retention import tasks as _tasks  # noqa: F401 - registers the daily job
from haina.archive.retention.models import ArchivePurge
from haina.core import clock
from haina.core.audit.models import AuditEntry
from haina.core.errors import InvalidInput
from haina.engage import schedule as engage_schedule
from tests.archive.conftest import CUSTOMER_A, ROCKY, actor_of
from tests.archive.retention.conftest import NOW, script
from tests.archive.retention.helpers import load
from tests.factories import make_tenant


def _ids(database: Any, tenant_id: str) -> dict[str, int]:
    with database.unit_of_work() as session:
        rows = session.execute(
            select(ArchiveMessage.msgid, ArchiveMessage.id).where(ArchiveMessage.tenant_id == tenant_id)
        )
        return {msgid: message_id for msgid, message_id in rows}


def _count(database: Any, model: Any, *conditions: Any) -> int:
    with database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def test_purge_removes_exactly_the_old_messages_and_what_hangs_on_them(database, archived) -> None:  # type: ignore[no-untyped-def]
    tenant = archived
    owner = actor_of(tenant, "owner")
    ids = _ids(database, tenant.id)
    old = [ids[msgid] for msgid in ("m00001", "m00002", "m00005", "m00006")]
    kept = [ids[msgid] for msgid in ("m00003", "m00004")]
    assert _count(database, ArchiveToken, ArchiveToken.message_id.in_(old)) > 0
    assert _count(database, KeywordAlert, KeywordAlert.tenant_id == tenant.id) == 2
    kept_tokens = _count(database, ArchiveToken, ArchiveToken.message_id.in_(kept))

    with database.unit_of_work() as session:
        service.set_policy(session, owner, 90, None)
    with database.unit_of_work() as session:
        preview = service.preview(session, tenant.id, NOW)
    assert (preview.messages, preview.conversations) == (4, 1)
    assert preview.oldest == NOW - timedelta(days=200)
    assert preview.cutoff == NOW - timedelta(days=90)

    with database.unit_of_work() as session:
        record = service.purge(session, tenant.id, NOW, actor=owner, chunk=2)  # several chunks
        purge_id = record.id
    assert (record.messages, record.conversations, record.alerts) == (
        preview.messages,
        preview.conversations,
        1,
    )
    assert record.tokens > 0 and record.by == owner.username

    assert sorted(_ids(database, tenant.id).values()) == sorted(kept)
    assert _count(database, ArchiveToken, ArchiveToken.message_id.in_(old)) == 0
    assert _count(database, ArchiveToken, ArchiveToken.message_id.in_(kept)) == kept_tokens
    with database.unit_of_work() as session:
        alerts = session.scalars(select(KeywordAlert).where(KeywordAlert.tenant_id == tenant.id)).all()
        assert [alert.message_id for alert in alerts] == [ids["m00003"]]
        conversations = session.scalars(
            select(ArchiveConversation).where(ArchiveConversation.tenant_id == tenant.id)
        ).all()
        assert [(c.staff_userid, c.peer_userid, c.message_count) for c in conversations] == [
            (ROCKY, CUSTOMER_A, 2)
        ]
        assert conversations[0].last_message_at == NOW - timedelta(days=10)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "archive.purged"))
        assert entry is not None and entry.target_id == purge_id and entry.actor_id == owner.user_id
        assert entry.detail["messages"] == 4 and entry.detail["conversations"] == 1
        assert entry.detail["policy"] == {"keep_days": 90, "media_keep_days": None}
        assert entry.detail["cutoff"] == (NOW - timedelta(days=90)).isoformat()

    # Idempotent: the same purge again deletes nothing, and says so in its own record.
    with database.unit_of_work() as session:
        again = service.purge(session, tenant.id, NOW, actor=owner)
        assert (again.messages, again.conversations, again.tokens, again.alerts) == (0, 0, 0, 0)
        assert service.preview(session, tenant.id, NOW).messages == 0
        assert len(service.history(session, tenant.id)) == 2
    assert sorted(_ids(database, tenant.id).values()) == sorted(kept)


def test_purge_touches_no_other_tenant(database, settings, archived, sandbox, intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    other = make_tenant(database, settings)
    load(database, other, sandbox, intake, key_pairs, script())
    before = sorted(_ids(database, other.id))
    with database.unit_of_work() as session:
        service.set_policy(session, actor_of(archived, "owner"), 30, None)
        service.set_policy(session, actor_of(other, "owner"), 3650, None)
    with database.unit_of_work() as session:
        assert service.purge(session, archived.id, NOW).messages == 5  # all but 10 days ago
        assert service.preview(session, other.id, NOW).messages == 0
    assert (
        sorted(_ids(database, other.id))
        == before
        == ["m00001", "m00002", "m00003", "m00004", "m00005", "m00006"]
    )
    assert _count(database, KeywordAlert, KeywordAlert.tenant_id == other.id) == 0  # no rule there
    assert _count(database, ArchiveToken, ArchiveToken.tenant_id == other.id) > 0
    assert _count(database, ArchiveToken, ArchiveToken.tenant_id == archived.id) < _count(
        database, ArchiveToken, ArchiveToken.tenant_id == other.id
    )
    with database.unit_of_work() as session:
        assert service.history(session, other.id) == []


def test_media_only_policy_keeps_the_messages(database, archived) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as session:
        service.set_policy(session, actor_of(archived, "owner"), None, 100)
    with database.unit_of_work() as session:
        preview = service.preview(session, archived.id, NOW)
        assert (preview.messages, preview.media_messages) == (0, 1)  # the image 149 days ago
        record = service.purge(session, archived.id, NOW)
        assert (record.messages, record.media_messages, record.by) == (0, 1, "system")
    with database.unit_of_work() as session:
        # Already forgotten: the next run starts from this run's media cutoff.
        assert service.preview(session, archived.id, NOW).media_messages == 0
        assert service.purge(session, archived.id, NOW + timedelta(days=1)).media_messages == 0
    assert len(_ids(database, archived.id)) == 6


def test_policy_bounds_and_forever(database, archived) -> None:  # type: ignore[no-untyped-def]
    owner = actor_of(archived, "owner")
    for keep, media in ((29, None), (3651, None), (None, 10), (60, 90)):
        with pytest.raises(InvalidInput) as raised, database.unit_of_work() as session:
            service.set_policy(session, owner, keep, media)
        assert raised.value.details["zh"]
    with database.unit_of_work() as session:
        assert service.get_policy(session, archived.id).is_forever
        with pytest.raises(InvalidInput):
            service.purge(session, archived.id, NOW)
    assert service.is_shorter(service.Policy(90), service.Policy()) is True
    assert service.is_shorter(service.Policy(), service.Policy(90)) is False
    assert service.is_shorter(service.Policy(90, 30), service.Policy(90)) is True
    assert service.is_shorter(service.Policy(120), service.Policy(90)) is False


def test_daily_job_purges_tenants_with_a_policy(database, archived) -> None:  # type: ignore[no-untyped-def]
    clock.freeze(NOW)
    assert engage_schedule.run_job(database, "archive.retention_purge", archived.id)  # no policy: nothing
    assert _count(database, ArchivePurge, ArchivePurge.tenant_id == archived.id) == 0
    with database.unit_of_work() as session:
        service.set_policy(session, actor_of(archived, "owner"), 90, None)
    assert engage_schedule.run_job(database, "archive.retention_purge", archived.id)
    with database.unit_of_work() as session:
        (record,) = service.history(session, archived.id)
        assert (record.by, record.messages) == ("system", 4)
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "archive.purged"))
        assert entry is not None and entry.actor_id is None and entry.detail["by"] == "system"
