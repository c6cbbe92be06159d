"""The sandbox as one ASGI app: every emulator under `/sandbox/<platform>`, plus a control API
for tests and the demo (`/sandbox/_control/...`) to inject faults and set push targets."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from haina.sandbox.emulators import EMULATORS
from haina.sandbox.faults import FaultPlan
from haina.sandbox.state import SandboxState


class FaultPlanIn(BaseModel):
    platform: str
    throttle_rate: float = 0.0
    throttle_for_seconds: float = 0.0
    error_rate: float = 0.0
    slow_ms: int = 0
    drop_push_rate: float = 0.0
    seed: int = 0


class PushTargetIn(BaseModel):
    platform: str
    url: str | None = None


def control_router(state: SandboxState) -> APIRouter:
    router = APIRouter(prefix="/_control", tags=["sandbox control"])

    @router.post("/faults")
    def set_faults(plan: FaultPlanIn) -> dict[str, Any]:
        state.faults.set(plan.platform, FaultPlan(**plan.model_dump(exclude={"platform"})))
        return {"ok": True}

    @router.delete("/faults")
    def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"ok": True}

    @router.post("/push-targets")
    def set_push_target(target: PushTargetIn) -> dict[str, Any]:
        if target.url:
            state.push_targets[target.platform] = target.url
        else:
            state.push_targets.pop(target.platform, None)
        return {"ok": True}

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        world = state.world
        return {
            "orders": len(world.orders),
            "refunds": len(world.refunds),
            "contacts": len(world.contacts),
            "messages": len(world.messages),
            "faults": state.faults.counts,
        }

    return router


def build_sandbox_router(state: SandboxState) -> APIRouter:
    """All emulators and the control API under one router (mounted at `/sandbox`)."""
    router = APIRouter()
    router.include_router(control_router(state))
    for name in EMULATORS:
        module = importlib.import_module(f"haina.sandbox.emulators.{name}")
        router.include_router(module.build_router(state), prefix=f"/{name}")
    return router


def create_sandbox_app(state: SandboxState, *, prefix: str = "/sandbox") -> FastAPI:
    """A stand-alone sandbox server (tests run it on a loopback port); with `prefix=""` it is
    mounted inside the Haina app at /sandbox."""
    app = FastAPI(title="Haina sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_sandbox_router(state), prefix=prefix)
    app.state.sandbox = state
    return app
