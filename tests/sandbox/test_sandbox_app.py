"""The whole sandbox as one app: every emulator mounted, the control API, and the sandbox
embedded in the Haina server for the demo."""

from __future__ import annotations

from fastapi.testclient import TestClient

from haina.sandbox.app import create_sandbox_app
from haina.sandbox.emulators import EMULATORS
from haina.sandbox.generator import generate_world
from haina.sandbox.state import SandboxState
from haina.web.security import api_routes
from tests.conftest import make_settings


def _state() -> SandboxState:
    return SandboxState(generate_world(3, 150))


def test_every_emulator_is_mounted() -> None:
    app = create_sandbox_app(_state())
    paths = {info.path for info in api_routes(app)}
    for name in EMULATORS:
        assert any(path.startswith(f"/sandbox/{name}/") for path in paths), f"{name} is not mounted"


def test_control_api_injects_and_clears_faults() -> None:
    state = _state()
    client = TestClient(create_sandbox_app(state))
    world = state.world
    assert client.post(
        "/sandbox/_control/faults", json={"platform": "wecom", "throttle_rate": 1.0}
    ).json() == {"ok": True}
    throttled = client.get(
        "/sandbox/wecom/cgi-bin/gettoken", params={"corpid": world.corp_id, "corpsecret": world.corp_secret}
    )
    assert throttled.json()["errcode"] == 45009
    client.delete("/sandbox/_control/faults")
    fine = client.get(
        "/sandbox/wecom/cgi-bin/gettoken", params={"corpid": world.corp_id, "corpsecret": world.corp_secret}
    )
    assert fine.json()["errcode"] == 0
    stats = client.get("/sandbox/_control/stats").json()
    assert stats["orders"] == len(world.orders) and stats["faults"]["wecom"]["throttle"] == 1


def test_control_api_sets_push_targets() -> None:
    state = _state()
    client = TestClient(create_sandbox_app(state))
    client.post(
        "/sandbox/_control/push-targets", json={"platform": "youzan", "url": "http://127.0.0.1:9/hook"}
    )
    assert state.push_targets == {"youzan": "http://127.0.0.1:9/hook"}
    client.post("/sandbox/_control/push-targets", json={"platform": "youzan"})
    assert state.push_targets == {}


def test_demo_server_embeds_the_sandbox(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from haina.web.app import create_app

    settings = make_settings(tmp_path, sandbox_enabled=True, sandbox_customers=100)
    app = create_app(settings, start_workers=False)
    world = app.state.sandbox.state.world
    with TestClient(app) as client:
        answer = client.get(
            "/sandbox/wecom/cgi-bin/gettoken",
            params={"corpid": world.corp_id, "corpsecret": world.corp_secret},
        )
        assert answer.json()["errcode"] == 0
        assert client.get("/sandbox/_control/stats").json()["contacts"] == len(world.contacts)
