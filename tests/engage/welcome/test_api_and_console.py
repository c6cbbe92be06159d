"""Welcome messages through the REST API and the console forms: validation (422 naming what is
wrong), tenant isolation, the variable preview, `?state=` prefill, and the list's 7-day figures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from haina.core import clock
from haina.core.database import Database
from haina.core.settings import Settings
from haina.engage.welcome.models import SendStatus, WelcomeSend
from tests.factories import bearer, make_tenant, token_for
from tests.web.test_console import page_csrf, sign_in

BASE = "/api/v1/engage/welcome-messages"
LINK = {"type": "link", "title": "新人礼", "url": "https://shop.example.com/gift", "desc": "领取新人礼包"}


def operator_token(client: TestClient, database: Database, settings: Settings) -> tuple[str, str]:
    users = make_tenant(database, settings)
    return users.id, token_for(client, users.usernames["operator"])


def test_create_list_update_and_delete(client: TestClient, database: Database, settings: Settings) -> None:
    _, token = operator_token(client, database, settings)
    created = client.post(
        BASE,
        json={
            "name": "门店海报",
            "scope": "channel",
            "state": "poster-1",
            "text": "您好{客户昵称}",
            "attachments": [LINK],
        },
        headers=bearer(token),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["attachments"] == [LINK] and body["state"] == "poster-1" and body["is_active"] is True

    changed = client.patch(f"{BASE}/{body['id']}", json={"is_active": False}, headers=bearer(token))
    assert changed.status_code == 200 and changed.json()["is_active"] is False
    assert [m["name"] for m in client.get(BASE, headers=bearer(token)).json()] == ["门店海报"]

    assert client.delete(f"{BASE}/{body['id']}", headers=bearer(token)).status_code == 204
    assert client.get(f"{BASE}/{body['id']}", headers=bearer(token)).status_code == 404


def test_invalid_messages_are_refused_with_the_reason(
    client: TestClient, database: Database, settings: Settings
) -> None:
    _, token = operator_token(client, database, settings)
    cases = [
        ({"name": "渠道", "scope": "channel", "text": "您好"}, "state_required"),
        ({"name": "员工", "scope": "staff", "text": "您好"}, "staff_required"),
        ({"name": "空的", "scope": "default"}, "empty_message"),
        (
            {"name": "链接", "scope": "default", "attachments": [{"type": "link", "title": "缺地址"}]},
            "invalid_attachment",
        ),
        (
            {"name": "链接", "scope": "default", "attachments": [{**LINK, "url": "javascript:alert(1)"}]},
            "invalid_attachment",
        ),
        (
            {"name": "视频", "scope": "default", "attachments": [{"type": "video", "media_id": "x"}]},
            "invalid_attachment",
        ),
    ]
    for payload, code in cases:
        answer = client.post(BASE, json=payload, headers=bearer(token))
        assert answer.status_code == 422, (payload, answer.text)
        assert code in answer.text, (payload, answer.text)
    too_many = client.post(
        BASE, json={"name": "太多", "scope": "default", "attachments": [LINK] * 10}, headers=bearer(token)
    )
    assert too_many.status_code == 422
    assert client.get(BASE, headers=bearer(token)).json() == []


def test_another_tenants_message_is_not_found(
    client: TestClient, database: Database, settings: Settings
) -> None:
    _, first = operator_token(client, database, settings)
    _, second = operator_token(client, database, settings)
    created = client.post(
        BASE, json={"name": "默认", "scope": "default", "text": "您好"}, headers=bearer(first)
    )
    message_id = created.json()["id"]
    assert client.get(f"{BASE}/{message_id}", headers=bearer(second)).status_code == 404
    assert client.patch(f"{BASE}/{message_id}", json={"name": "x"}, headers=bearer(second)).status_code == 404
    assert client.delete(f"{BASE}/{message_id}", headers=bearer(second)).status_code == 404
    assert client.get(f"{BASE}/{message_id}", headers=bearer(first)).status_code == 200


def test_preview_fills_both_spellings_of_the_variables(
    client: TestClient, database: Database, settings: Settings
) -> None:
    _, token = operator_token(client, database, settings)
    answer = client.post(
        f"{BASE}/preview",
        json={
            "text": "{客户昵称}/{customer_name}，我是{员工姓名}/{staff_name}",
            "customer_name": "陈思远",
            "staff_name": "阿海",
        },
        headers=bearer(token),
    )
    assert answer.json() == {"text": "陈思远/陈思远，我是阿海/阿海"}


def test_list_counts_the_last_seven_days_of_sends(
    client: TestClient, database: Database, settings: Settings
) -> None:
    clock.freeze(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    tenant_id, token = operator_token(client, database, settings)
    message_id = client.post(
        BASE, json={"name": "默认", "scope": "default", "text": "您好"}, headers=bearer(token)
    ).json()["id"]
    with database.unit_of_work() as session:
        for number, (status, age) in enumerate(
            [(SendStatus.SENT, 1), (SendStatus.SENT, 2), (SendStatus.FAILED, 3), (SendStatus.SENT, 9)]
        ):
            session.add(
                WelcomeSend(
                    tenant_id=tenant_id,
                    welcome_code=f"code-{number}",
                    message_id=message_id,
                    status=status,
                    at=clock.now() - timedelta(days=age),
                )
            )
    [listed] = client.get(BASE, headers=bearer(token)).json()
    assert (listed["sends_7d"], listed["sent_7d"]) == (3, 2)  # the 9-day-old send is out of the window
    sends = client.get(f"{BASE}/sends", headers=bearer(token)).json()
    assert [send["status"] for send in sends] == ["sent", "sent", "failed", "sent"]


def test_console_form_creates_a_channel_message_prefilled_from_the_state(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings)
    sign_in(client, users.usernames["operator"])
    page = client.get("/engage/welcome/new?state=parcel-card")
    assert page.status_code == 200
    assert 'name="state" value="parcel-card"' in page.text
    assert re.search(r'value="channel" checked', page.text)

    csrf = page_csrf(client, "/engage/welcome/new")
    form = {
        "csrf_token": csrf,
        "name": "包裹卡欢迎语",
        "scope": "channel",
        "state": "parcel-card",
        "text": "{客户昵称}，感谢购买！",
        "attachments": '[{"type": "link", "title": "售后服务", "url": "https://shop.example.com/after-sales"}]',
        "is_active": "1",
    }
    saved = client.post("/engage/welcome", data=form, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"] == "/engage/welcome"
    listing = client.get("/engage/welcome")
    assert "包裹卡欢迎语" in listing.text and "parcel-card" in listing.text and "售后服务" in listing.text

    # The live code page links with ?state=: the channel's message is now opened for editing.
    again = client.get("/engage/welcome/new?state=parcel-card", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("/edit")
    assert 'value="包裹卡欢迎语"' in client.get(again.headers["location"]).text

    refused = client.post("/engage/welcome", data={**form, "state": "", "name": "没有渠道"})
    assert refused.status_code == 422
    assert "data-welcome-error" in refused.text and "没有渠道" in refused.text  # what was typed stays


def test_an_agent_may_not_open_welcome_messages(
    client: TestClient, database: Database, settings: Settings
) -> None:
    users = make_tenant(database, settings)
    sign_in(client, users.usernames["agent"])
    assert client.get("/engage/welcome").status_code == 403
