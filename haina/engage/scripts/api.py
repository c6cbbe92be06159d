"""REST: the materials and scripts library under /api/v1/engage/scripts. Reading, searching and
recording a use need customers.read (agents use scripts in chats); changing the library needs
marketing.manage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage.scripts import service
from haina.engage.scripts.schemas import SceneIn, SceneOut, ScenePatch, ScriptIn, ScriptOut, UseOut
from haina.web.database import SessionDep
from haina.web.security import require

router = APIRouter(tags=["engage"])

Reader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
SceneId = Annotated[str, Path(max_length=32)]
ScriptId = Annotated[str, Path(max_length=32)]


def _input(body: ScriptIn) -> service.ScriptInput:
    return service.ScriptInput(**body.model_dump())


@router.get("/api/v1/engage/scripts/scenes", response_model=list[SceneOut])
def list_scenes(actor: Reader, session: SessionDep) -> list[SceneOut]:
    counts = service.scene_counts(session, actor.tenant_id)
    found = []
    for scene in service.list_scenes(session, actor.tenant_id):
        out = SceneOut.model_validate(scene)
        out.script_count = counts.get(scene.id, 0)
        found.append(out)
    return found


@router.post("/api/v1/engage/scripts/scenes", response_model=SceneOut, status_code=201)
def create_scene(body: SceneIn, actor: Manager, session: SessionDep) -> SceneOut:
    return SceneOut.model_validate(service.create_scene(session, actor, body.name, body.order))


@router.patch("/api/v1/engage/scripts/scenes/{script_scene_id}", response_model=SceneOut)
def update_scene(script_scene_id: SceneId, body: ScenePatch, actor: Manager, session: SessionDep) -> SceneOut:
    scene = service.update_scene(session, actor, script_scene_id, name=body.name, order=body.order)
    return SceneOut.model_validate(scene)


@router.delete("/api/v1/engage/scripts/scenes/{script_scene_id}", status_code=204)
def delete_scene(script_scene_id: SceneId, actor: Manager, session: SessionDep) -> Response:
    service.delete_scene(session, actor, script_scene_id)
    return Response(status_code=204)


@router.get("/api/v1/engage/scripts", response_model=list[ScriptOut])
def search_scripts(
    actor: Reader,
    session: SessionDep,
    q: Annotated[str, Query(max_length=100)] = "",
    scene_id: Annotated[str, Query(max_length=32)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ScriptOut]:
    found = service.search(session, actor.tenant_id, q, scene_id=scene_id or None, limit=limit)
    return [ScriptOut.model_validate(script) for script in found]


@router.post("/api/v1/engage/scripts", response_model=ScriptOut, status_code=201)
def create_script(body: ScriptIn, actor: Manager, session: SessionDep) -> ScriptOut:
    return ScriptOut.model_validate(service.create_script(session, actor, _input(body)))


@router.get("/api/v1/engage/scripts/{script_id}", response_model=ScriptOut)
def get_script(script_id: ScriptId, actor: Reader, session: SessionDep) -> ScriptOut:
    return ScriptOut.model_validate(service.get_script(session, actor.tenant_id, script_id))


@router.put("/api/v1/engage/scripts/{script_id}", response_model=ScriptOut)
def update_script(script_id: ScriptId, body: ScriptIn, actor: Manager, session: SessionDep) -> ScriptOut:
    return ScriptOut.model_validate(service.update_script(session, actor, script_id, _input(body)))


@router.delete("/api/v1/engage/scripts/{script_id}", status_code=204)
def delete_script(script_id: ScriptId, actor: Manager, session: SessionDep) -> Response:
    service.delete_script(session, actor, script_id)
    return Response(status_code=204)


@router.post("/api/v1/engage/scripts/{script_id}/uses", response_model=UseOut)
def record_use(script_id: ScriptId, actor: Reader, session: SessionDep) -> UseOut:
    script = service.record_use(session, actor.tenant_id, script_id)
    return UseOut(id=script.id, use_count=script.use_count)
