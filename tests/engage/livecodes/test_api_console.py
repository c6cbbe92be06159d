"""Live codes through HTTP: the REST API (create, validation errors in Chinese, list with counts,
stats, change, delete), the QR download as a PNG with the merchant's logo, and the console
form (errors shown on the page, a saved code listed and its statistics page drawn)."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image

from haina.engage.livecodes.service import QR_DOWNLOAD_SIZE
from haina.sandbox.emulators.wecom_store import scratch
from tests.engage.livecodes.conftest import Setup
from tests.factories import PASSWORD, TenantFixture, bearer, token_for

BASE = "/api/v1/engage/live-codes"


def _body(setup: Setup, **changes: object) -> dict:
    first, second = (member.userid for member in setup.corp.world.staff[:2])
    body = {
        "name": "双十一包裹卡",
        "channel": "parcel_card",
        "members": [
            {
                "userid": first,
                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                "ranges": [["00:00", "24:00"]],
                "daily_limit": 100,
            },
            {"userid": second},
        ],
        "backups": [],
        "tag_ids": [setup.tag_id],
        "remark_template": "{channel}{date}",
    }
    body.update(changes)
    return body


def test_rest_api_round_trip_and_errors(client: TestClient, tenant: TenantFixture, setup: Setup) -> None:
    headers = bearer(token_for(client, tenant.usernames["owner"]))
    created = client.post(BASE, json=_body(setup), headers=headers)
    assert created.status_code == 201, created.text
    code = created.json()
    assert code["state"].startswith("hn") and code["config_id"] and code["qr_code"]
    assert len(code["duty_userids"]) == 2 and code["members"][0]["ranges"] == [["00:00", "24:00"]]
    assert scratch(setup.corp.sandbox.state)["contact_ways"][code["config_id"]]["state"] == code["state"]

    missing = client.post(BASE, json=_body(setup, name="直播间", members=[]), headers=headers)
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "livecode_members_required"
    assert missing.json()["error"]["message"] == "请至少添加一位员工"
    english = client.post(BASE, json=_body(setup, name=""), headers={**headers, "Accept-Language": "en"})
    assert english.status_code == 422 and english.json()["error"]["message"] == "Give the live code a name"
    taken = client.post(BASE, json=_body(setup), headers=headers)
    assert taken.status_code == 422 and taken.json()["error"]["code"] == "livecode_name_taken"
    malformed = client.post(
        BASE, json={"name": "x", "members": [{"userid": "a", "weekdays": [8]}]}, headers=headers
    )
    assert malformed.status_code == 422

    listed = client.get(BASE, headers=headers).json()
    assert listed["total"] == 1 and listed["items"][0]["adds_total"] == 0
    stats = client.get(f"{BASE}/{code['id']}/stats", headers=headers).json()
    assert stats["total"] == 0 and len(stats["per_day"]) == 30 and stats["scans_known"] is False

    changed = client.put(
        f"{BASE}/{code['id']}",
        json=_body(setup, name="包裹卡 2026", members=_body(setup)["members"][:1]),
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["state"] == code["state"] and changed.json()["duty_userids"] == [
        _body(setup)["members"][0]["userid"]
    ]
    assert (
        scratch(setup.corp.sandbox.state)["contact_ways"][code["config_id"]]["user"]
        == changed.json()["duty_userids"]
    )

    assert client.delete(f"{BASE}/{code['id']}", headers=headers).status_code == 204
    assert client.get(f"{BASE}/{code['id']}", headers=headers).status_code == 404
    assert code["config_id"] not in scratch(setup.corp.sandbox.state)["contact_ways"]


def _sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/engage/live-codes"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/engage/live-codes")
    assert page.status_code == 200, page.text
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def _logo_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (230, 0, 18)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_console_form_and_qr_download_with_logo(
    client: TestClient, tenant: TenantFixture, setup: Setup
) -> None:
    csrf = _sign_in(client, tenant.usernames["owner"])
    first = setup.corp.world.staff[0].userid
    form = {
        "csrf_token": csrf,
        "name": "",
        "channel": "poster",
        "member_userid": [first, ""],
        "member_weekday": ["0:1", "0:2", "0:3"],
        "member_ranges": ["09:00-12:00, 13:30-18:00", ""],
        "member_limit": ["30", "0"],
        "backups": "",
        "tag_ids": [setup.tag_id],
        "remark_template": "{channel}-{staff}",
        "skip_verify": "1",
        "is_active": "1",
    }
    refused = client.post("/engage/live-codes/new", data=form)
    assert refused.status_code == 422 and "请填写活码名称" in refused.text
    assert first in refused.text  # what was typed comes back
    bad_time = client.post(
        "/engage/live-codes/new", data={**form, "name": "地铁海报", "member_ranges": ["9点-18点", ""]}
    )
    assert bad_time.status_code == 422 and "时间段格式不对" in bad_time.text

    saved = client.post("/engage/live-codes/new", data={**form, "name": "地铁海报"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    code_id = saved.headers["location"].rsplit("/", 1)[1]
    listing = client.get("/engage/live-codes")
    assert "地铁海报" in listing.text and f'data-live-code="{code_id}"' in listing.text
    detail = client.get(f"/engage/live-codes/{code_id}")
    assert detail.status_code == 200 and 'data-echarts="daily-chart-option"' in detail.text
    edit = client.get(f"/engage/live-codes/{code_id}/edit")
    assert 'value="09:00-12:00, 13:30-18:00"' in edit.text and 'value="0:2" checked' in edit.text

    plain = client.get(f"/engage/live-codes/{code_id}/qr.png")
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
    assert plain.headers["content-disposition"].startswith("attachment;")
    with Image.open(io.BytesIO(plain.content)) as image:
        assert image.format == "PNG" and image.size == (QR_DOWNLOAD_SIZE, QR_DOWNLOAD_SIZE)
        centre = image.convert("RGB").getpixel((QR_DOWNLOAD_SIZE // 2, QR_DOWNLOAD_SIZE // 2))
    assert centre in ((0, 0, 0), (255, 255, 255))  # a bare QR module

    not_image = client.post(
        "/engage/live-codes/logo",
        data={"csrf_token": csrf},
        files={"logo": ("logo.png", b"not an image", "image/png")},
    )
    assert not_image.status_code == 422 and "Logo 须为 PNG 或 JPG 图片" in not_image.text
    uploaded = client.post(
        "/engage/live-codes/logo",
        data={"csrf_token": csrf},
        files={"logo": ("logo.png", _logo_png(), "image/png")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303
    branded = client.get(f"/engage/live-codes/{code_id}/qr.png")
    with Image.open(io.BytesIO(branded.content)) as image:
        assert image.size == (QR_DOWNLOAD_SIZE, QR_DOWNLOAD_SIZE)
        assert image.convert("RGB").getpixel((QR_DOWNLOAD_SIZE // 2, QR_DOWNLOAD_SIZE // 2)) == (230, 0, 18)

    deleted = client.post(
        f"/engage/live-codes/{code_id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert client.get(f"/engage/live-codes/{code_id}").status_code == 404
