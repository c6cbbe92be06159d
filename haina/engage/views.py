"""The engage hub (/engage): one card per operation, each leading to its pages; its router's
lifespan starts the engage scheduler (schedule.EngageScheduler) when the server runs background
workers (the app's lifespan ran first and left an event runner)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.engage import hub as figures
from haina.engage import schedule
from haina.web.security import require
from haina.web.views import ConsoleRoute, SessionDep, render

# (key, path): the sub-navigation and the hub's cards, in the order operations teams use them.
SECTIONS = (
    ("livecodes", "/engage/live-codes"),
    ("welcome", "/engage/welcome"),
    ("groupcodes", "/engage/group-codes"),
    ("broadcasts", "/engage/broadcasts"),
    ("moments", "/engage/moments"),
    ("scripts", "/engage/scripts"),
    ("handover", "/engage/handover"),
    ("losses", "/engage/losses"),
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler = None
    if getattr(app.state, "event_runner", None) is not None:
        scheduler = schedule.EngageScheduler(app.state.database)
        scheduler.start()
    app.state.engage_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            await run_in_threadpool(scheduler.stop)


router = APIRouter(
    route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse, lifespan=lifespan
)

Manager = Annotated[Actor, require(Permission.MARKETING_MANAGE)]


@router.get("/engage")
def hub(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    context = {
        "sections": SECTIONS,
        "subnav": "",
        "figures": figures.headline_figures(session, actor.tenant_id),
    }
    return render(request, "engage/index.html", context, session=session)
