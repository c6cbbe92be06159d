"""The WeCom emulator's own links (a contact way's or join way's QR image, the scan page) work
both on the sandbox's own server and mounted inside the Haina app at /sandbox (the demo)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from haina.sandbox.app import create_sandbox_app
from haina.sandbox.emulators.wecom import issue_token
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState


def _created_way(client: TestClient, state: SandboxState, path: str, body: dict) -> dict:
    token, _ = issue_token(state)
    answer = client.post(
        f"/sandbox/wecom/cgi-bin/externalcontact/{path}", params={"access_token": token}, json=body
    )
    assert answer.status_code == 200 and answer.json()["errcode"] == 0, answer.text
    return answer.json()


def test_qr_links_resolve_when_the_sandbox_is_mounted_and_when_it_is_not() -> None:
    state = SandboxState(world=generate_world(3, 40))
    userid = state.world.staff[0].userid
    mounted = FastAPI()
    mounted.mount("/sandbox", create_sandbox_app(state, prefix=""), name="sandbox")
    for app in (mounted, create_sandbox_app(state)):
        with TestClient(app) as client:
            created = _created_way(
                client, state, "add_contact_way", {"type": 2, "scene": 2, "state": "poster", "user": [userid]}
            )
            assert "/sandbox/wecom/contact_way_qr/" in created["qr_code"]
            image = client.get(created["qr_code"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
