"""Intake from the sandbox's archive emulator over HTTP: two key versions, every message type,
a missing key version kept visibly and decrypted later, and an interrupted pull resumed by seq
with no gap and no duplicate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from haina.archive import service, tasks
from haina.archive.models import (
    ArchiveConversation,
    ArchiveCursor,
    ArchiveMessage,
    ArchiveToken,
    MessageStatus,
)
from haina.platforms.wecom.errors import ArchiveSdkError
from tests.archive.conftest import (
    CORP_ID,
    CUSTOMER_A,
    ROCKY,
    SCRIPT,
    Intake,
    add_keys,
    script_messages,
)

TOTAL = len(script_messages())


def _messages(database: Any, tenant_id: str) -> list[ArchiveMessage]:
    with database.unit_of_work() as session:
        return list(
            session.scalars(
                select(ArchiveMessage)
                .where(ArchiveMessage.tenant_id == tenant_id)
                .order_by(ArchiveMessage.seq)
            )
        )


def test_intake_stores_every_type_across_key_versions(database, tenant, intake: Intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    result = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=4)

    assert (result.stored, result.undecrypted, result.last_seq) == (TOTAL, 0, TOTAL)
    rows = _messages(database, tenant.id)
    assert [row.seq for row in rows] == list(range(1, TOTAL + 1))
    assert {row.publickey_ver for row in rows} == {1, 2}
    types = [row.msgtype for row in rows]
    assert types == [msgtype for msgtype, *_ in SCRIPT] + ["revoke", "switch"]
    unknown = [row.msgtype for row in rows if not row.is_known_type]
    assert unknown == ["hologram"]  # kept raw, shown as unknown
    # Content is encrypted at rest; the decrypted JSON round-trips.
    first = rows[0]
    assert first.content_encrypted and "小棕瓶" not in first.content_encrypted
    assert service.decrypt_content(first, database.settings)["text"]["content"].startswith("您好")
    # The revoke marks the message it recalls.
    assert [row.msgid for row in rows if row.is_revoked] == ["msg0003"]
    # 1:1 conversations keyed by staff and customer; the staff side is known for each message.
    with database.unit_of_work() as session:
        conversations = session.scalars(
            select(ArchiveConversation).where(ArchiveConversation.tenant_id == tenant.id)
        ).all()
        pairs = {(c.staff_userid, c.peer_userid) for c in conversations}
        assert (ROCKY, CUSTOMER_A) in pairs
        assert session.scalar(select(func.count()).select_from(ArchiveToken)) > 0
    assert rows[1].is_from_staff and not rows[0].is_from_staff
    assert rows[0].staff_userid == ROCKY


def test_pull_again_takes_only_newer_messages(database, tenant, intake: Intake, key_pairs, sandbox) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    again = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    assert (again.batches, again.stored) == (0, 0)
    assert len(_messages(database, tenant.id)) == TOTAL


def test_missing_key_version_is_kept_and_decrypted_after_the_key_is_added(
    database, tenant, intake: Intake, key_pairs
) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs, versions=(1,))
    result = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    assert result.stored == 9 and result.undecrypted == TOTAL - 9
    with database.unit_of_work() as session:
        cursor = session.scalar(select(ArchiveCursor).where(ArchiveCursor.tenant_id == tenant.id))
        assert cursor is not None and cursor.seq == TOTAL  # the pull went on past the problem
        assert "10007" in (cursor.last_error or "")
        state = service.status(session, tenant.id)
        assert state.undecrypted == TOTAL - 9 and state.key_versions == [1]
    pending = [row for row in _messages(database, tenant.id) if row.status == MessageStatus.UNDECRYPTED]
    assert pending and all("publickey_ver 2" in (row.error or "") for row in pending)

    add_keys(database, tenant, key_pairs, versions=(2,))
    with database.unit_of_work() as session:
        retried = service.retry_undecrypted(session, tenant.id, intake.decryptor, database.settings)
    assert (retried.stored, retried.undecrypted) == (TOTAL - 9, 0)
    rows = _messages(database, tenant.id)
    assert all(row.status == MessageStatus.STORED for row in rows)
    assert [row.msgid for row in rows if row.is_revoked] == ["msg0003"]


class CrashingDecryptor:
    """Fails on the n-th message it opens, like a process dying in the middle of a batch."""

    def __init__(self, inner: Any, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def decrypt_data(self, encrypt_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("worker killed mid-batch")
        return self.inner.decrypt_data(encrypt_key, encrypt_chat_msg)


def test_interrupted_pull_resumes_from_the_right_seq(database, tenant, intake: Intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    crashing = CrashingDecryptor(intake.decryptor, fail_at=7)  # the 3rd message of the 2nd batch of 5
    with pytest.raises(RuntimeError, match="mid-batch"):
        tasks.run_intake(database, tenant.id, CORP_ID, intake.source, crashing, limit=5)
    rows = _messages(database, tenant.id)
    assert [row.seq for row in rows] == [1, 2, 3, 4, 5]  # the first batch only, whole
    with database.unit_of_work() as session:
        assert session.scalar(select(ArchiveCursor.seq).where(ArchiveCursor.tenant_id == tenant.id)) == 5

    resumed = tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor, limit=5)
    assert resumed.stored == TOTAL - 5 and resumed.duplicates == 0
    seqs = [row.seq for row in _messages(database, tenant.id)]
    assert seqs == list(range(1, TOTAL + 1))  # no gap, no duplicate


def test_a_source_answering_old_items_again_stores_no_duplicate(
    database, tenant, intake: Intake, key_pairs
) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    items = intake.source.get_chat_data(0, 6)
    with database.unit_of_work() as session:
        first = service.store_items(
            session, tenant.id, CORP_ID, items[:4], intake.decryptor, database.settings
        )
    with database.unit_of_work() as session:
        second = service.store_items(session, tenant.id, CORP_ID, items, intake.decryptor, database.settings)
    assert (first.stored, second.stored, second.duplicates) == (4, 2, 4)
    assert len(_messages(database, tenant.id)) == 6


def test_a_tampered_item_is_kept_with_the_reason(database, tenant, intake: Intake, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    item = dict(intake.source.get_chat_data(0, 1)[0], encrypt_chat_msg="bm90IHNlYWxlZA==")
    with database.unit_of_work() as session:
        result = service.store_items(session, tenant.id, CORP_ID, [item], intake.decryptor, database.settings)
    assert result.undecrypted == 1 and "10006" in result.errors[0]


def test_finance_sdk_without_a_library_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from haina.archive.finance_sdk import FinanceSdk, FinanceSdkMissing

    with pytest.raises(FinanceSdkMissing, match="not configured"):
        FinanceSdk(CORP_ID, "secret", path="")
    with pytest.raises(FinanceSdkMissing, match="does not exist"):
        FinanceSdk(CORP_ID, "secret", path=str(tmp_path / "libWeWorkFinanceSdk_C.so"))
    not_a_library = tmp_path / "fake.so"
    not_a_library.write_bytes(b"\x7fELF nonsense")
    with pytest.raises(FinanceSdkMissing, match="cannot load"):
        FinanceSdk(CORP_ID, "secret", path=str(not_a_library))


def test_archive_sdk_error_codes_read_as_the_sdk_says() -> None:
    error = ArchiveSdkError(10007, "publickey_ver 3")
    assert "找不到消息加密版本的私钥" in str(error)
