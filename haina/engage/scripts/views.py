"""Console: the materials and scripts library (/engage/scripts): scenes on the left, the scripts
of a scene or a search (HTMX as you type), the script editor; and the sidebar panel
(/engage/scripts/sidebar?customer_id=…) agents use beside a WeCom chat: a compact searchable
list where one button sends a script into the chat (JS-SDK sendChatMessage) or, outside WeCom,
copies it, and records the use."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import NotFound
from haina.core.i18n import gettext
from haina.customers.identity import profile as profiles
from haina.engage.scripts import service
from haina.engage.scripts.models import ScriptKind
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, is_htmx, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

Reader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]
SceneId = Annotated[str, Path(max_length=32)]
ScriptId = Annotated[str, Path(max_length=32)]
SearchText = Annotated[str, Query(max_length=100)]
SIDEBAR_RESULTS = "scripts-sidebar-results"


ScriptForm = Annotated[str, Form(max_length=5000)]


def script_form(
    title: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "text",
    scene_id: Annotated[str, Form(max_length=32)] = "",
    content: ScriptForm = "",
    link_url: ScriptForm = "",
    link_description: ScriptForm = "",
    image_url: ScriptForm = "",
    miniprogram_appid: Annotated[str, Form(max_length=64)] = "",
    miniprogram_page: ScriptForm = "",
    keywords: ScriptForm = "",
) -> service.ScriptInput:
    """The editor's fields as a ScriptInput (keywords split on commas, 、 and spaces)."""
    words = keywords.replace("，", ",").replace("、", ",").replace(" ", ",").split(",")
    return service.ScriptInput(
        title=title,
        kind=kind,
        scene_id=scene_id or None,
        content=content,
        link_url=link_url,
        link_description=link_description,
        image_url=image_url,
        miniprogram_appid=miniprogram_appid,
        miniprogram_page=miniprogram_page,
        keywords=words,
    )


ScriptFields = Annotated[service.ScriptInput, Depends(script_form)]


@router.get("/engage/scripts")
def library_page(
    request: Request,
    actor: Manager,
    session: SessionDep,
    q: SearchText = "",
    scene_id: Annotated[str, Query(max_length=32)] = "",
    notice: Annotated[str, Query(max_length=32)] = "",
    part: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    scenes = service.list_scenes(session, actor.tenant_id)
    scene_names = {scene.id: scene.name for scene in scenes}
    context = {
        "subnav": "scripts",
        "scenes": scenes,
        "scene_names": scene_names,
        "counts": service.scene_counts(session, actor.tenant_id),
        "scene_id": scene_id if scene_id in scene_names else "",
        "query": q,
        "scripts": service.search(session, actor.tenant_id, q, scene_id=scene_id or None),
        "notice": gettext(language_of(request), f"engage.scripts.notice.{notice}", default="")
        if notice
        else "",
    }
    if is_htmx(request) and part == "list":
        return render(request, "engage/scripts/_list.html", context, session=session)
    return render(request, "engage/scripts/index.html", context, session=session)


@router.post("/engage/scripts/scenes")
def create_scene(
    actor: Manager, session: SessionDep, name: Annotated[str, Form(max_length=60)] = ""
) -> Response:
    scene = service.create_scene(session, actor, name)
    return RedirectResponse(f"/engage/scripts?scene_id={scene.id}&notice=scene_created", status_code=303)


@router.post("/engage/scripts/scenes/defaults")
def default_scenes(actor: Manager, session: SessionDep) -> Response:
    service.ensure_default_scenes(session, actor)
    return RedirectResponse("/engage/scripts?notice=scenes_created", status_code=303)


@router.post("/engage/scripts/scenes/{script_scene_id}/rename")
def rename_scene(
    script_scene_id: SceneId,
    actor: Manager,
    session: SessionDep,
    name: Annotated[str, Form(max_length=60)] = "",
    order: Annotated[int | None, Form(ge=0, le=100_000)] = None,
) -> Response:
    service.update_scene(session, actor, script_scene_id, name=name, order=order)
    return RedirectResponse(f"/engage/scripts?scene_id={script_scene_id}&notice=scene_saved", status_code=303)


@router.post("/engage/scripts/scenes/{script_scene_id}/delete")
def delete_scene(script_scene_id: SceneId, actor: Manager, session: SessionDep) -> Response:
    service.delete_scene(session, actor, script_scene_id)
    return RedirectResponse("/engage/scripts?notice=scene_deleted", status_code=303)


def _editor(
    request: Request, session: SessionDep, actor: Actor, script: service.Script | None, scene_id: str
) -> HTMLResponse:
    context = {
        "subnav": "scripts",
        "script": script,
        "scenes": service.list_scenes(session, actor.tenant_id),
        "scene_id": script.scene_id if script else scene_id,
        "kinds": ScriptKind.ALL,
    }
    return render(request, "engage/scripts/edit.html", context, session=session)


@router.get("/engage/scripts/new")
def new_script_page(
    request: Request, actor: Manager, session: SessionDep, scene_id: Annotated[str, Query(max_length=32)] = ""
) -> HTMLResponse:
    return _editor(request, session, actor, None, scene_id)


@router.post("/engage/scripts/new")
def create_script(
    actor: Manager,
    session: SessionDep,
    data: ScriptFields,
) -> Response:
    script = service.create_script(session, actor, data)
    return RedirectResponse(
        f"/engage/scripts?scene_id={script.scene_id or ''}&notice=script_saved", status_code=303
    )


@router.get("/engage/scripts/sidebar")
def sidebar(
    request: Request,
    actor: Reader,
    session: SessionDep,
    customer_id: Annotated[str, Query(max_length=32)] = "",
    q: SearchText = "",
    part: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    """The scripts panel of the WeCom sidebar: a page of its own, or (HTMX) the panel / its results."""
    name = ""
    if customer_id:
        try:
            name = profiles.get_customer(session, actor, customer_id).display_name
        except NotFound:
            name = ""  # not a customer this agent follows: the library works without a name
    scripts = service.search(session, actor.tenant_id, q, limit=30)
    items = [
        {
            "script": script,
            "preview": service.copy_text(script, name),
            "message": json.dumps(service.chat_message(script, name), ensure_ascii=False),
        }
        for script in scripts
    ]
    context = {
        "items": items,
        "query": q,
        "customer_id": customer_id,
        "customer_name": name,
        "results_id": SIDEBAR_RESULTS,
    }
    if is_htmx(request):
        # htmx names its target differently across versions: the part asked for is explicit.
        template = "_sidebar_results.html" if part == "results" else "_sidebar_panel.html"
        return render(request, f"engage/scripts/{template}", context, session=session)
    return render(request, "engage/scripts/sidebar.html", context, session=session)


@router.post("/engage/scripts/{script_id}/use")
def record_use(script_id: ScriptId, actor: Reader, session: SessionDep) -> Response:
    script = service.record_use(session, actor.tenant_id, script_id)
    return JSONResponse({"id": script.id, "use_count": script.use_count})


@router.get("/engage/scripts/{script_id}/edit")
def edit_script_page(
    request: Request, script_id: ScriptId, actor: Manager, session: SessionDep
) -> HTMLResponse:
    return _editor(request, session, actor, service.get_script(session, actor.tenant_id, script_id), "")


@router.post("/engage/scripts/{script_id}/edit")
def update_script(
    script_id: ScriptId,
    actor: Manager,
    session: SessionDep,
    data: ScriptFields,
) -> Response:
    script = service.update_script(session, actor, script_id, data)
    return RedirectResponse(
        f"/engage/scripts?scene_id={script.scene_id or ''}&notice=script_saved", status_code=303
    )


@router.post("/engage/scripts/{script_id}/delete")
def delete_script(script_id: ScriptId, actor: Manager, session: SessionDep) -> Response:
    service.delete_script(session, actor, script_id)
    return RedirectResponse("/engage/scripts?notice=script_deleted", status_code=303)
