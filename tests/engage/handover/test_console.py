"""The handover and losses console pages over HTTP (the app's own routes, CSRF and all) against a
tenant connected to the WeCom emulator: start a handover from the form, read its page and
export, see a loss alert, mark it handled, save the notification settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

import haina.engage.losses.tasks  # noqa: F401 - registers the handlers
from haina.connections import wecom_corps
from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.losses import service as losses
from haina.sandbox.emulators.wecom import simulate_delete_contact
from haina.sandbox.emulators.wecom_transfer import transfer_calls
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from tests.factories import TenantFixture, console_sign_in
from tests.platforms.live_sandbox import LiveSandbox, serve
from tests.wecom_corp import Corp, connected_corp, drain

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    wecom_corps.forget_clients()


@pytest.fixture
def sandbox() -> Iterator[LiveSandbox]:
    with serve(SandboxState(generate_world(7, 12))) as live:
        yield live


@pytest.fixture
def corp(
    database: Database, settings: Settings, tenant: TenantFixture, sandbox: LiveSandbox
) -> Iterator[Corp]:
    with connected_corp(database, settings, tenant.id, sandbox) as connected:
        yield connected


def test_handover_and_losses_pages(
    client: TestClient, database: Database, tenant: TenantFixture, corp: Corp
) -> None:
    token = console_sign_in(client, tenant.usernames["operator"], "/engage/handover")
    followed = [contact for contact in corp.world.contacts if contact.follow_users]
    giver = followed[0].follow_users[0].userid
    picked = [c.external_userid for c in followed if c.follow_users[0].userid == giver][:2]
    taker = next(member.userid for member in corp.world.staff if member.userid != giver)

    page = client.get("/engage/handover")
    assert "data-handover-form" in page.text and 'aria-current="page"' in page.text
    same = client.post(
        "/engage/handover",
        data={"csrf_token": token, "handover_userid": giver, "takeover_userid": giver},
        follow_redirects=False,
    )
    assert same.status_code == 303 and same.headers["location"] == "/engage/handover?error=same_staff"
    assert "data-handover-error" in client.get(same.headers["location"]).text
    # The picker lists the member's customers from WeCom, with names, filtered.
    choices = client.get("/engage/handover/customers", params={"kind": "in_office", "handover_userid": giver})
    listed_ids = re.findall(r'name="picked" value="([^"]+)"', choices.text)
    assert set(picked) <= set(listed_ids)
    assert sorted(listed_ids) == sorted(
        c.external_userid for c in corp.world.contacts if any(f.userid == giver for f in c.follow_users)
    )
    name = corp.contact(picked[0]).name
    filtered = client.get("/engage/handover/customers", params={"handover_userid": giver, "q": name})
    assert picked[0] in re.findall(r'name="picked" value="([^"]+)"', filtered.text)
    started = client.post(
        "/engage/handover",
        data={
            "csrf_token": token,
            "kind": "in_office",
            "handover_userid": giver,
            "takeover_userid": taker,
            "scope": "picked",
            "picked": picked[:1],
            "external_userids": "\n".join(picked[1:]),
            "transfer_message": "您好，之后由我为您服务",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    job_path = started.headers["location"]
    detail = client.get(job_path)
    assert detail.status_code == 200
    assert detail.text.count('data-status="waiting"') == len(picked)
    assert 'data-progress="0"' in detail.text
    assert [sorted(call["external_userid"]) for call in transfer_calls(corp.sandbox.state)] == [
        sorted(picked)
    ]
    job_id = job_path.rsplit("/", 1)[1]
    export = client.get(f"/api/v1/engage/handovers/{job_id}/export")
    assert export.status_code == 200
    rows = list(load_workbook(BytesIO(export.content)).active.iter_rows(values_only=True))
    assert sorted(row[0] for row in rows[1:]) == sorted(picked)
    progress = client.get(f"{job_path}/progress")
    assert 'id="handover-progress"' in progress.text and 'hx-trigger="every 5s"' in progress.text
    polled = client.post(f"{job_path}/poll", data={"csrf_token": token}, follow_redirects=False)
    assert polled.status_code == 303 and polled.headers["location"] == job_path
    assert client.get("/engage/handover/unassigned").status_code == 200
    assert job_id in client.get("/engage/handover").text

    saved = client.post(
        "/engage/losses/settings",
        data={
            "csrf_token": token,
            "supervisor_userids": taker,
            "agentid": "1000002",
            "notify_customer_deleted": "1",
        },
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/engage/losses?saved=1"
    with database.session_factory() as session:
        settings = losses.get_settings(session, tenant.id)
    assert (settings.supervisor_userids, settings.agentid, settings.notify_staff_deleted) == (
        [taker],
        1000002,
        False,
    )

    lost = next(c for c in followed if c.external_userid not in picked)
    loser = lost.follow_users[0].userid
    simulate_delete_contact(corp.sandbox.state, lost.external_userid, loser, by_customer=True)
    drain(database)
    page = client.get("/engage/losses")
    assert page.text.count("data-alert=") == 1 and 'data-ended-by="customer"' in page.text
    assert "losses-chart-option" in page.text
    alert_id = re.search(r'data-alert="([0-9a-f]{32})"', page.text).group(1)  # type: ignore[union-attr]
    handled = client.post(
        f"/engage/losses/{alert_id}/handle", data={"csrf_token": token}, follow_redirects=False
    )
    assert handled.status_code == 303
    assert "data-handle" not in client.get("/engage/losses").text
    assert client.get("/engage/losses?handled=no").text.count("data-alert=") == 0
    listed = client.get("/api/v1/engage/losses", params={"handled": "yes"}).json()
    assert listed["total"] == 1 and listed["items"][0]["staff_userid"] == loser
