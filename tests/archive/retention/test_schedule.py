"""The scheduled intake: every tenant with an archive key and a WeCom connection is pulled; a
broken tenant records its error and does not stop the others; a claimed tenant is not pulled
twice at once; "立即拉取" in the console pulls in the background with visible progress."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from haina.archive import schedule
from haina.archive.models import ArchiveMessage
from haina.archive.retention.models import IntakeState
from haina.connections.service import NewConnection, bind_settings, create_connection
from haina.core import clock
from haina.engage import schedule as engage_schedule
from tests.archive.conftest import CORP_ID, SECRET, add_keys, script_messages
from tests.factories import console_sign_in, make_tenant

TOTAL = len(script_messages())


def connect(database: Any, tenant_id: str, base_url: str, name: str = "企业微信") -> str:
    with database.unit_of_work() as session:
        connection = create_connection(
            session,
            tenant_id,
            NewConnection("wecom", name, CORP_ID, SECRET, shop_id=CORP_ID, base_url=base_url),
            database.settings,
        )
        return connection.id


def stored(database: Any, tenant_id: str) -> int:
    with database.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(ArchiveMessage).where(ArchiveMessage.tenant_id == tenant_id)
            )
            or 0
        )


def status(database: Any, tenant_id: str) -> Any:
    with database.unit_of_work() as session:
        return schedule.intake_status(session, tenant_id)


@pytest.fixture
def no_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAINA_WECOM_FINANCE_SDK", raising=False)


def test_one_broken_tenant_does_not_stop_the_other(
    database, settings, tenant, sandbox, key_pairs, no_sdk
) -> None:  # type: ignore[no-untyped-def]
    broken = make_tenant(database, settings)
    idle = make_tenant(database, settings)  # a key but no WeCom connection: not pulled
    add_keys(database, tenant, key_pairs)
    add_keys(database, broken, key_pairs)
    add_keys(database, idle, key_pairs)
    connect(database, tenant.id, sandbox.base_url("wecom"))
    # A real WeCom connection on a machine without the Finance SDK.
    connect(database, broken.id, "https://qyapi.weixin.qq.com")

    outcomes = {outcome.tenant_id: outcome for outcome in schedule.pull_all(database)}

    assert outcomes[broken.id].state == IntakeState.FAILED
    assert "Finance SDK" in outcomes[broken.id].error
    assert (outcomes[tenant.id].state, outcomes[tenant.id].stored) == (IntakeState.DONE, TOTAL)
    assert outcomes[idle.id].state == "skipped"
    assert stored(database, tenant.id) == TOTAL and stored(database, broken.id) == 0
    good, bad = status(database, tenant.id), status(database, broken.id)
    assert (good.state, good.messages, good.last_seq, good.last_error) == (
        IntakeState.DONE,
        TOTAL,
        TOTAL,
        None,
    )
    assert good.last_success_at is not None
    assert bad.state == IntakeState.FAILED and "HAINA_WECOM_FINANCE_SDK" in bad.last_error
    assert status(database, idle.id) is None

    # The next minute pulls only what is new.
    again = schedule.pull_tenant(database, tenant.id)
    assert (again.state, again.stored) == (IntakeState.DONE, 0)


def test_periodic_job_pulls_through_the_engage_registry(database, tenant, sandbox, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    connect(database, tenant.id, sandbox.base_url("wecom"))
    assert "archive.pull" in engage_schedule.JOBS
    bind_settings(database)  # as the server's lifespan does (the job gets only a session)
    assert engage_schedule.run_job(database, "archive.pull", tenant.id)
    assert stored(database, tenant.id) == TOTAL


def test_a_missing_key_version_is_shown_not_fatal(database, tenant, sandbox, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs, (1,))  # messages 10.. use key version 2
    connect(database, tenant.id, sandbox.base_url("wecom"))
    outcome = schedule.pull_tenant(database, tenant.id)
    assert outcome.state == IntakeState.DONE
    assert "missing key version" in (status(database, tenant.id).last_error or "")


def test_claim_prevents_overlap(database, tenant, sandbox, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    connect(database, tenant.id, sandbox.base_url("wecom"))
    clock.freeze(clock.now())
    token = schedule.claim(database, tenant.id, requested_by="someone")
    assert token is not None
    assert schedule.claim(database, tenant.id) is None
    assert schedule.pull_tenant(database, tenant.id).state == "busy"
    assert stored(database, tenant.id) == 0
    # The holder goes on with its own token.
    assert schedule.pull_tenant(database, tenant.id, token=token).stored == TOTAL
    assert schedule.claim(database, tenant.id) is not None  # finished: free again


def test_a_dead_run_is_taken_over(database, tenant, sandbox, key_pairs) -> None:  # type: ignore[no-untyped-def]
    add_keys(database, tenant, key_pairs)
    connect(database, tenant.id, sandbox.base_url("wecom"))
    clock.freeze(clock.now())
    dead = schedule.claim(database, tenant.id)
    assert dead is not None
    clock.advance(schedule.STALE - timedelta(seconds=1))
    assert schedule.claim(database, tenant.id) is None
    clock.advance(timedelta(seconds=2))
    assert schedule.pull_tenant(database, tenant.id).stored == TOTAL
    # The dead run's token no longer moves the row.
    assert schedule.pull_tenant(database, tenant.id, token=dead).state == "busy"
    assert status(database, tenant.id).state == IntakeState.DONE


def test_pull_now_button_and_progress(client, database, tenant, sandbox, key_pairs) -> None:  # type: ignore[no-untyped-def]
    token = console_sign_in(client, tenant.usernames["owner"], "/archive")
    page = client.get("/archive")
    assert 'hx-get="/archive/pull/progress"' in page.text
    assert "data-pull-now" not in client.get("/archive/pull/progress").text  # not set up yet
    add_keys(database, tenant, key_pairs)
    connect(database, tenant.id, sandbox.base_url("wecom"))
    assert "data-pull-now" in client.get("/archive/pull/progress").text

    started = client.post("/archive/pull", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert started.status_code == 200 and 'id="archive-pull"' in started.text
    deadline = time.monotonic() + 60
    while schedule.is_running(status(database, tenant.id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    final = status(database, tenant.id)
    assert (final.state, final.messages, final.requested_by) == (
        IntakeState.DONE,
        TOTAL,
        tenant.usernames["owner"],
    )
    shown = client.get("/archive/pull/progress").text
    assert 'data-state="done"' in shown and f"{TOTAL} 条消息" in shown and "hx-trigger" not in shown


def test_progress_polls_while_running(client, database, tenant, key_pairs) -> None:  # type: ignore[no-untyped-def]
    console_sign_in(client, tenant.usernames["owner"], "/archive")
    assert schedule.claim(database, tenant.id) is not None
    shown = client.get("/archive/pull/progress").text
    assert 'hx-trigger="every 2s"' in shown and 'data-state="running"' in shown
    client.cookies.clear()
    console_sign_in(client, tenant.usernames["agent"], "/archive")
    assert client.get("/archive/pull/progress").status_code == 403
