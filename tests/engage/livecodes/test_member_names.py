"""The live code form names WeCom members: its member picker offers "name (userid)" while the
value submitted stays the userid, and the statistics table shows the name."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from haina.connections import wecom_staff
from tests.engage.livecodes.conftest import Setup
from tests.engage.livecodes.test_api_console import _body, _sign_in
from tests.factories import TenantFixture, bearer, token_for


@pytest.fixture(autouse=True)
def _fresh_directory() -> Iterator[None]:
    yield
    wecom_staff.forget()


def test_the_form_offers_members_by_name_and_submits_userids(
    client: TestClient, tenant: TenantFixture, setup: Setup
) -> None:
    _sign_in(client, tenant.usernames["owner"])
    member = setup.corp.world.staff[0]
    assert member.name != member.userid
    page = client.get("/engage/live-codes/new")
    assert page.status_code == 200, page.text
    [picker] = re.findall(r'<datalist id="livecode-staff">(.*?)</datalist>', page.text, re.S)
    options = dict(re.findall(r'<option value="([^"]+)" label="([^"]+)"', picker))
    assert html.unescape(options[member.userid]) == f"{member.name} ({member.userid})"
    assert len(options) == len(setup.corp.world.staff)


def test_the_statistics_page_shows_member_names(
    client: TestClient, tenant: TenantFixture, setup: Setup
) -> None:
    headers = bearer(token_for(client, tenant.usernames["owner"]))
    created = client.post("/api/v1/engage/live-codes", json=_body(setup), headers=headers)
    assert created.status_code == 201, created.text
    _sign_in(client, tenant.usernames["owner"])
    member = setup.corp.world.staff[0]
    page = client.get(f"/engage/live-codes/{created.json()['id']}")
    assert page.status_code == 200, page.text
    assert f'<span class="member-name" title="{member.userid}">{member.name}</span>' in page.text
    listing = client.get("/engage/live-codes")
    assert f'title="{member.userid}">{member.name}</span>' in listing.text
