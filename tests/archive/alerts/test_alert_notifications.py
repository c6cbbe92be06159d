"""Keyword alerts reach the right people: archive intake from the sandbox raises the alerts, the
real event dispatch runs the handler, and the WeCom emulator records the app messages sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

import haina.archive.tasks  # noqa: F401 - registers archive.alerts' handler, as workers do
from haina.archive import service as archive
from haina.archive import tasks
from haina.archive.alerts import service
from haina.archive.alerts.models import ArchiveAlertNotification, NotificationStatus
from haina.archive.models import ArchiveConversation, KeywordAlert
from haina.connections import wecom_corps, wecom_staff
from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.losses import service as losses
from haina.platforms.http import PlatformError
from haina.platforms.wecom import app_messages as app_messages_api
from haina.sandbox.emulators.wecom_app_messages import app_messages
from haina.sandbox.faults import FaultPlan
from tests.archive.alerts.conftest import (
    BOSS,
    CUSTOMER_A,
    CUSTOMER_C,
    LEAD,
    NOW,
    ROCKY,
    TOMMY,
    chat,
)
from tests.archive.conftest import CORP_ID, Intake, actor_of, add_keys
from tests.factories import TenantFixture
from tests.platforms.live_sandbox import LiveSandbox
from tests.wecom_corp import Corp, connected_corp, drain

AGENTID = 1000007


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox, key_pairs: Any
) -> Iterator[Corp]:
    add_keys(database, tenant, key_pairs, versions=(1,))
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def rules(database: Database, tenant: TenantFixture, *phrases: str) -> dict[str, str]:
    """Adds watched words (and the phone-leak rule for "phone"); phrase → rule id."""
    found = {}
    with database.unit_of_work() as session:
        for phrase in phrases:
            kind = "phone_leak" if phrase == "phone" else "word"
            rule = archive.add_rule(
                session, actor_of(tenant, "owner"), kind, "" if kind == "phone_leak" else phrase
            )
            found[phrase] = rule.id
    return found


def configure(database: Database, tenant_id: str, **changes: Any) -> None:
    values: dict[str, Any] = {
        "is_enabled": True,
        "agentid": AGENTID,
        "supervisor_userids": [BOSS, LEAD],
        "notify_member": True,
    }
    values.update(changes)
    with database.unit_of_work() as session:
        service.save_settings(session, tenant_id, **values)


def pull(database: Database, tenant_id: str, intake: Intake) -> None:
    tasks.run_intake(database, tenant_id, CORP_ID, intake.source, intake.decryptor)
    drain(database)


def notifications(database: Database, tenant_id: str) -> list[ArchiveAlertNotification]:
    with database.session_factory() as session:
        return list(
            session.scalars(
                select(ArchiveAlertNotification)
                .where(ArchiveAlertNotification.tenant_id == tenant_id)
                .join(KeywordAlert, KeywordAlert.id == ArchiveAlertNotification.alert_id)
                .order_by(KeywordAlert.message_id)
            )
        )


def conversation_of(database: Database, tenant_id: str, peer: str) -> str:
    with database.session_factory() as session:
        found = session.scalar(
            select(ArchiveConversation.id).where(
                ArchiveConversation.tenant_id == tenant_id, ArchiveConversation.peer_userid == peer
            )
        )
    assert found is not None
    return found


def test_complaint_reaches_member_and_supervisors_with_context(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    rules(database, tenant, "投诉")
    configure(database, tenant.id)
    pull(database, tenant.id, intake)

    [message] = app_messages(corp.sandbox.state)
    assert message["touser"] == [ROCKY, BOSS, LEAD] and message["agentid"] == AGENTID
    text = message["content"]["content"]
    conversation_id = conversation_of(database, tenant.id, CUSTOMER_A)
    assert "「投诉」" in text
    assert "我要投诉，你们太慢了" in text  # the matched message
    assert "上周买的面霜到现在还没发货" in text and "您好，请问有什么可以帮您" in text  # two before it
    assert "张女士" in text and "罗琪 (rocky)" in text  # the customer and the member, by name
    assert "2026-11-01 17:03" in text  # sent 09:03 UTC, shown in Asia/Shanghai
    assert text.endswith(f"{database.settings.base_url}/archive/conversations/{conversation_id}")
    [row] = notifications(database, tenant.id)
    assert (row.status, row.userids, row.sent_at) == (
        NotificationStatus.SENT,
        [ROCKY, BOSS, LEAD],
        clock.now(),
    )

    # A re-delivered event sends nothing twice.
    with database.unit_of_work() as session:
        again = service.notify(session, tenant.id, {"alert_id": row.alert_id}, database.settings)
    assert again is None and len(app_messages(corp.sandbox.state)) == 1

    # Retention deletes alerts with their messages; their notification rows go with them.
    with database.unit_of_work() as session:
        session.execute(delete(KeywordAlert).where(KeywordAlert.tenant_id == tenant.id))
    with database.session_factory() as session:
        left = session.scalar(
            select(func.count())
            .select_from(ArchiveAlertNotification)
            .where(ArchiveAlertNotification.tenant_id == tenant.id)
        )
    assert left == 0


def test_phone_number_sent_by_staff_tells_supervisors_only(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    rules(database, tenant, "phone")
    # Even listed among the supervisors, the member who leaked is not the one told.
    configure(database, tenant.id, supervisor_userids=[BOSS, TOMMY])
    pull(database, tenant.id, intake)

    [message] = app_messages(corp.sandbox.state)
    assert message["touser"] == [BOSS]
    assert "汤米 (tommy) 向客户「陈先生」发送了手机号" in message["content"]["content"]
    [row] = notifications(database, tenant.id)
    assert row.status == NotificationStatus.SENT and row.userids == [BOSS]


def test_a_burst_is_one_message_and_counted_in_the_next(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, sandbox: LiveSandbox
) -> None:
    rule_ids = rules(database, tenant, "差评")
    configure(database, tenant.id, supervisor_userids=[BOSS])
    pull(database, tenant.id, intake)

    [first] = app_messages(corp.sandbox.state)
    assert first["touser"] == [TOMMY, BOSS]
    assert "差评！东西是坏的 #1" in first["content"]["content"]
    assert "另有" not in first["content"]["content"]
    rows = notifications(database, tenant.id)
    assert [row.status for row in rows] == [NotificationStatus.SENT] + [NotificationStatus.DEDUPLICATED] * 4
    assert {row.rule_id for row in rows} == {rule_ids["差评"]}

    # Still inside the ten minutes: one more hit is folded away too.
    clock.advance(timedelta(minutes=5))
    sandbox.state.world.messages.append(chat(10, "还是差评", CUSTOMER_C, TOMMY, NOW + timedelta(minutes=5)))
    pull(database, tenant.id, intake)
    assert len(app_messages(corp.sandbox.state)) == 1

    # After the window the next hit is sent, with the five it stood for.
    clock.advance(timedelta(minutes=6))
    sandbox.state.world.messages.append(chat(11, "差评差评", CUSTOMER_C, TOMMY, NOW + timedelta(minutes=11)))
    pull(database, tenant.id, intake)
    messages = app_messages(corp.sandbox.state)
    assert len(messages) == 2
    assert "另有 5 次命中" in messages[1]["content"]["content"]
    assert "差评差评" in messages[1]["content"]["content"]
    last = notifications(database, tenant.id)[-1]
    assert (last.status, last.hit_count) == (NotificationStatus.SENT, 6)


def test_notifications_off_sends_nothing_and_says_so(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    rules(database, tenant, "投诉", "phone")
    configure(database, tenant.id, is_enabled=False)
    pull(database, tenant.id, intake)
    assert app_messages(corp.sandbox.state) == []
    rows = notifications(database, tenant.id)
    assert [(row.status, row.reason) for row in rows] == [("skipped", "disabled")] * 2


def test_missing_agentid_is_recorded_and_the_loss_alert_agentid_is_the_default(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, sandbox: LiveSandbox
) -> None:
    rules(database, tenant, "投诉")
    configure(database, tenant.id, agentid=None)
    pull(database, tenant.id, intake)
    assert app_messages(corp.sandbox.state) == []
    [row] = notifications(database, tenant.id)
    assert (row.status, row.reason, row.userids) == ("skipped", "no_agentid", [])

    # The loss-alert settings' application is used when ours is empty.
    with database.unit_of_work() as session:
        losses.save_settings(
            session,
            tenant.id,
            supervisor_userids=[],
            notify_customer_deleted=True,
            notify_staff_deleted=True,
            agentid=1000002,
        )
    sandbox.state.world.messages.append(chat(10, "再不处理我就投诉", CUSTOMER_A, ROCKY, NOW))
    pull(database, tenant.id, intake)
    [message] = app_messages(corp.sandbox.state)
    assert message["agentid"] == 1000002 and message["touser"] == [ROCKY, BOSS, LEAD]


def _resend(database: Database, tenant_id: str) -> int:
    with database.unit_of_work() as session:
        return service.resend_due(session, tenant_id, database.settings)


def test_wecom_trouble_is_retried_and_hits_meanwhile_are_grouped(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, sandbox: LiveSandbox
) -> None:
    rules(database, tenant, "投诉", "phone")
    configure(database, tenant.id)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    sandbox.state.faults.set("wecom", FaultPlan(error_rate=1.0))
    try:
        drain(database)  # the handler records the trouble; the delivery does not fail
    finally:
        sandbox.state.faults.clear()
    # The client's circuit breaker opened on the 5xx storm; a fresh client stands for the
    # cool-down having passed (the breaker runs on wall-clock time, not the test clock).
    wecom_corps.forget_clients()
    wecom_staff.forget()
    assert app_messages(corp.sandbox.state) == []
    rows = notifications(database, tenant.id)
    assert [row.status for row in rows] == [NotificationStatus.RETRYING] * 2
    assert [row.attempts for row in rows] == [1, 1]
    due = max(row.next_attempt_at for row in rows if row.next_attempt_at is not None)
    assert due - clock.now() <= service.RETRY_DELAYS[0]
    assert all(row.error_code and row.reason.startswith("wecom_error") for row in rows)
    assert rows[0].userids == [ROCKY, BOSS, LEAD]  # who it is meant for stays visible

    # Another complaint in the conversation while its message waits: grouped, not sent twice.
    sandbox.state.world.messages.append(chat(10, "我还是要投诉", CUSTOMER_A, ROCKY, NOW))
    pull(database, tenant.id, intake)
    assert notifications(database, tenant.id)[-1].status == NotificationStatus.DEDUPLICATED
    assert _resend(database, tenant.id) == 0  # not due yet
    assert app_messages(corp.sandbox.state) == []

    clock.freeze(due)
    assert _resend(database, tenant.id) == 2
    sent = app_messages(corp.sandbox.state)
    assert len(sent) == 2 and any("投诉" in message["content"]["content"] for message in sent)
    rows = notifications(database, tenant.id)
    assert [row.status for row in rows] == [NotificationStatus.SENT] * 2 + [NotificationStatus.DEDUPLICATED]
    assert [row.attempts for row in rows[:2]] == [2, 2] and rows[0].next_attempt_at is None
    assert _resend(database, tenant.id) == 0  # nothing left


def test_a_notification_wecom_never_takes_fails_after_the_last_retry(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, sandbox: LiveSandbox
) -> None:
    rules(database, tenant, "投诉")
    configure(database, tenant.id)
    tasks.run_intake(database, tenant.id, CORP_ID, intake.source, intake.decryptor)
    sandbox.state.faults.set("wecom", FaultPlan(error_rate=1.0))
    try:
        drain(database)
        for _ in service.RETRY_DELAYS:
            [row] = notifications(database, tenant.id)
            assert row.status == NotificationStatus.RETRYING and row.next_attempt_at is not None
            clock.freeze(row.next_attempt_at)
            assert _resend(database, tenant.id) == 1
    finally:
        sandbox.state.faults.clear()
    [row] = notifications(database, tenant.id)
    assert row.status == NotificationStatus.FAILED and row.next_attempt_at is None
    assert row.attempts == len(service.RETRY_DELAYS) + 1
    assert app_messages(corp.sandbox.state) == []


def test_an_error_wecom_gives_is_final_and_later_alerts_still_go(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules(database, tenant, "投诉")
    configure(database, tenant.id)

    def refused(*_: Any, **__: Any) -> None:
        raise PlatformError(40056, "invalid agentid", retryable=False)

    with monkeypatch.context() as patched:
        patched.setattr(app_messages_api, "send_text", refused)
        pull(database, tenant.id, intake)
    [row] = notifications(database, tenant.id)
    assert row.status == NotificationStatus.FAILED and row.error_code == "40056"
    assert row.attempts == 1 and row.next_attempt_at is None
    assert _resend(database, tenant.id) == 0

    # A failed send is not a sent one: the next complaint of the conversation goes at once.
    corp.sandbox.state.world.messages.append(chat(10, "我还是要投诉", CUSTOMER_A, ROCKY, NOW))
    pull(database, tenant.id, intake)
    [message] = app_messages(corp.sandbox.state)
    assert "我还是要投诉" in message["content"]["content"]
    assert notifications(database, tenant.id)[-1].status == NotificationStatus.SENT


def test_unknown_recipients_are_recorded_as_invalid(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake
) -> None:
    found = rules(database, tenant, "投诉")
    configure(database, tenant.id, supervisor_userids=["nobody"], rule_recipients={found["投诉"]: [LEAD]})
    pull(database, tenant.id, intake)
    [message] = app_messages(corp.sandbox.state)
    assert message["touser"] == [ROCKY, LEAD]
    [row] = notifications(database, tenant.id)
    assert (row.userids, row.invalid_userids) == ([ROCKY, LEAD], ["nobody"])


def test_without_a_wecom_connection_the_reason_is_recorded(
    bound: Database, tenant: TenantFixture, intake: Intake, key_pairs: Any
) -> None:
    database = bound
    add_keys(database, tenant, key_pairs, versions=(1,))
    rules(database, tenant, "投诉")
    configure(database, tenant.id)
    pull(database, tenant.id, intake)
    [row] = notifications(database, tenant.id)
    assert (row.status, row.reason) == ("skipped", "wecom_not_connected")


def test_a_long_message_is_clipped_to_what_wecom_takes(
    database: Database, tenant: TenantFixture, corp: Corp, intake: Intake, sandbox: LiveSandbox
) -> None:
    rules(database, tenant, "投诉")
    configure(database, tenant.id)
    sandbox.state.world.messages = [chat(1, "我要投诉" + "很生气" * 1000, CUSTOMER_A, ROCKY)]
    pull(database, tenant.id, intake)
    # The emulator refuses text over 2048 bytes, as WeCom does: sent means it was clipped.
    [message] = app_messages(corp.sandbox.state)
    text = message["content"]["content"]
    assert len(text.encode()) <= 2048 and "我要投诉很生气" in text and "…" in text
    assert "/archive/conversations/" in text  # the link survives the clipping
