"""Console: RFM and lifecycle (/tags/lifecycle) — customers per stage, the stages over time, the
flows between stages over a chosen period (a Sankey with a table beside it), the R × F grid,
the RFM settings form and "recompute now" with its progress.

The router's lifespan starts the tags scheduler (schedule.LifecycleScheduler) when the server
runs background workers (the app's lifespan ran first and left an event runner). Without one,
"recompute now" computes within the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.i18n import gettext
from haina.tags import lifecycle, rfm, schedule
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, is_htmx, render


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    scheduler = None
    # The app's lifespan ran first: a runner means this server does background work.
    if getattr(app.state, "event_runner", None) is not None:
        scheduler = schedule.LifecycleScheduler(app.state.database, app.state.settings)
        scheduler.start()
    app.state.lifecycle_scheduler = scheduler
    try:
        yield
    finally:
        if scheduler is not None:
            await run_in_threadpool(scheduler.stop)


router = APIRouter(
    route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse, lifespan=lifespan
)

Reader = Annotated[Actor, require(Permission.CUSTOMERS_READ)]
Manager = Annotated[Actor, require(Permission.CUSTOMERS_MANAGE)]
PERIODS = (7, 30, 90, 180, 365)
Days = Annotated[int, Query(ge=1, le=366)]
NumberText = Annotated[str, Form(max_length=12)]
BoundsText = Annotated[str, Form(max_length=120)]
STAGE_COLORS = {
    "prospect": "#bfbfbf",
    "new": "#69b1ff",
    "active": "#1677ff",
    "won_back": "#13c2c2",
    "at_risk": "#faad14",
    "dormant": "#fa8c16",
    "lost": "#f5222d",
}


def _stage_label(language: str, stage: str) -> str:
    return gettext(language, f"lifecycle.stage.{stage}")


def _period(days: int) -> tuple[date, date]:
    today = lifecycle.shanghai_day(clock.now())
    return today - timedelta(days=days - 1), today


# ── Charts (ECharts options, embedded as JSON) ───────────────────────────────────────────────


def trend_chart(language: str, series: lifecycle.DailySeries) -> dict[str, Any]:
    """Customers per stage, day by day: stacked areas (prospects start hidden: they dwarf the rest)."""
    return {
        "color": [STAGE_COLORS[stage] for stage in lifecycle.STAGES],
        "tooltip": {"trigger": "axis"},
        "legend": {
            "top": 0,
            "data": [_stage_label(language, stage) for stage in lifecycle.STAGES],
            "selected": {_stage_label(language, lifecycle.PROSPECT): False},
        },
        "grid": {"left": 16, "right": 40, "top": 40, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "boundaryGap": False, "data": [day.isoformat() for day in series.days]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [
            {
                "name": _stage_label(language, stage),
                "type": "line",
                "stack": "stages",
                "areaStyle": {"opacity": 0.35},
                "symbol": "none" if len(series.days) > 1 else "circle",
                "emphasis": {"focus": "series"},
                "data": series.counts[stage],
            }
            for stage in lifecycle.STAGES
        ],
    }


def flow_chart(language: str, flows: dict[tuple[str, str], int]) -> dict[str, Any]:
    """A two-column Sankey (stage before → stage after): moves go both ways between stages, and
    a Sankey must not have cycles, so each stage appears once on each side."""

    def before(stage: str) -> str:
        return f"{_stage_label(language, stage)} →"

    def after(stage: str) -> str:
        return f"→ {_stage_label(language, stage)}"

    used_from = [stage for stage in lifecycle.STAGES if any(a == stage for a, _ in flows)]
    used_to = [stage for stage in lifecycle.STAGES if any(b == stage for _, b in flows)]
    return {
        "animation": False,
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "sankey",
                "left": 8,
                "right": 96,
                "top": 8,
                "bottom": 8,
                "nodeAlign": "justify",
                "emphasis": {"focus": "adjacency"},
                "lineStyle": {"color": "gradient", "opacity": 0.45},
                "data": [
                    {"name": before(s), "itemStyle": {"color": STAGE_COLORS[s]}, "depth": 0}
                    for s in used_from
                ]
                + [{"name": after(s), "itemStyle": {"color": STAGE_COLORS[s]}, "depth": 1} for s in used_to],
                "links": [
                    {"source": before(a), "target": after(b), "value": count}
                    for (a, b), count in sorted(flows.items())
                ],
            }
        ],
    }


def rfm_chart(language: str, cells: list[lifecycle.RfmCell]) -> dict[str, Any]:
    """Buyers by recency score (columns) × frequency score (rows); each cell shows how many and
    their average money in the window (yuan)."""
    data = [
        [cell.recency_score - 1, cell.frequency_score - 1, cell.customers, _yuan(cell.average_fen)]
        for cell in cells
        if 1 <= cell.recency_score <= 5 and 1 <= cell.frequency_score <= 5
    ]
    customers = gettext(language, "lifecycle.rfm.customers")
    average = gettext(language, "lifecycle.rfm.average")
    return {
        "animation": False,
        "tooltip": {"position": "top"},
        "grid": {"left": 8, "right": 72, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {
            "type": "category",
            "name": "R",
            "data": [f"R{score}" for score in range(1, 6)],
            "splitArea": {"show": True},
        },
        "yAxis": {
            "type": "category",
            "name": "F",
            "data": [f"F{score}" for score in range(1, 6)],
            "splitArea": {"show": True},
        },
        "visualMap": {
            "min": 0,
            "max": max((cell.customers for cell in cells), default=0) or 1,
            "calculable": True,
            "orient": "vertical",
            "right": 0,
            "top": "middle",
            "itemHeight": 120,
            "dimension": 2,
            "inRange": {"color": ["#f0f5ff", "#1677ff"]},
        },
        "series": [
            {
                "type": "heatmap",
                "name": customers,
                "data": data,
                "encode": {"x": 0, "y": 1, "value": 2, "tooltip": [2, 3]},
                "dimensions": ["R", "F", customers, average],
                "label": {"show": True, "formatter": "{@[2]}\n¥{@[3]}", "fontSize": 11},
            }
        ],
    }


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f}"


# ── Settings form ────────────────────────────────────────────────────────────────────────────


class FormProblem(ValueError):
    def __init__(self, code: str, field: str) -> None:
        super().__init__(code)
        self.code = code
        self.field = field


def _integer(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError as error:
        raise FormProblem("rfm_number_invalid", field) from error


def _bounds(text: str, field: str, *, yuan: bool = False) -> list[int]:
    parts = [part for part in text.replace("，", ",").replace(" ", ",").split(",") if part.strip()]
    values = []
    for part in parts:
        try:
            number = Decimal(part.strip())
        except InvalidOperation as error:
            raise FormProblem("rfm_number_invalid", field) from error
        if not number.is_finite() or abs(number) > rfm.MAX_BOUND:
            raise FormProblem("rfm_bounds_range", field)
        scaled = number * 100 if yuan else number
        if scaled != scaled.to_integral_value():
            raise FormProblem("rfm_number_invalid", field)
        values.append(int(scaled))
    return values


def _bounds_text(values: list[int], *, yuan: bool = False) -> str:
    if yuan:
        return ", ".join(_yuan_text(value) for value in values)
    return ", ".join(str(value) for value in values)


def _yuan_text(fen: int) -> str:
    """Fen as yuan for an input: 10000 → "100", 9950 → "99.5"."""
    text = f"{Decimal(fen) / 100:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _settings_context(
    request: Request,
    settings: Any,
    *,
    form: dict[str, str] | None = None,
    error: str = "",
    error_field: str = "",
    saved: bool = False,
) -> dict[str, Any]:
    values = form or {
        "window_days": str(settings.window_days),
        "band_method": settings.band_method,
        "recency_bounds": _bounds_text(list(settings.recency_bounds or [])),
        "frequency_bounds": _bounds_text(list(settings.frequency_bounds or [])),
        "monetary_bounds": _bounds_text(list(settings.monetary_bounds or []), yuan=True),
        "new_days": str(settings.new_days),
        "active_days": str(settings.active_days),
        "at_risk_days": str(settings.at_risk_days),
        "dormant_days": str(settings.dormant_days),
    }
    return {"form": values, "settings_error": error, "error_field": error_field, "saved": saved}


def _problem_text(request: Request, code: str, field: str) -> str:
    language = language_of(request)
    label = gettext(language, f"lifecycle.field.{field}")
    return gettext(language, f"lifecycle.error.{code}", field=label)


# ── Pages ────────────────────────────────────────────────────────────────────────────────────


def _job_context(tenant_id: str) -> dict[str, Any]:
    job = schedule.job_of(tenant_id)
    return {"job": job, "is_running": bool(job and job.is_running)}


def _page_context(request: Request, session: Session, actor: Actor, days: int) -> dict[str, Any]:
    language = language_of(request)
    since, until = _period(days)
    counts = lifecycle.stage_counts(session, actor.tenant_id)
    flows = lifecycle.flows(session, actor.tenant_id, since, until)
    series = lifecycle.daily_counts(session, actor.tenant_id, since, until)
    cells = lifecycle.rfm_grid(session, actor.tenant_id)
    settings = rfm.get_settings(session, actor.tenant_id)
    return {
        "subnav": "lifecycle",
        "stages": lifecycle.STAGES,
        "stage_colors": STAGE_COLORS,
        "counts": counts,
        "total": sum(counts.values()),
        "days": days,
        "periods": PERIODS if days in PERIODS else tuple(sorted({*PERIODS, days})),
        "since": since,
        "until": until,
        "trend": trend_chart(language, series) if series.days else None,
        "flows": sorted(flows.items(), key=lambda item: (-item[1], item[0])),
        "flow_chart": flow_chart(language, flows) if flows else None,
        "rfm_chart": rfm_chart(language, cells) if cells else None,
        "buyers": sum(cell.customers for cell in cells),
        "last_computed_at": lifecycle.last_computed_at(session, actor.tenant_id),
        "settings": settings,
        "can_manage": actor.can(Permission.CUSTOMERS_MANAGE),
        **_settings_context(request, settings),
        **_job_context(actor.tenant_id),
    }


@router.get("/tags/lifecycle")
def lifecycle_page(request: Request, actor: Reader, session: SessionDep, days: Days = 30) -> HTMLResponse:
    return render(
        request, "tags/lifecycle.html", _page_context(request, session, actor, days), session=session
    )


@router.get("/tags/lifecycle/data", response_class=JSONResponse)
def lifecycle_data(request: Request, actor: Reader, session: SessionDep, days: Days = 30) -> JSONResponse:
    """The dashboard's figures as JSON: counts now, per day, flows over the period, R × F grid."""
    since, until = _period(days)
    series = lifecycle.daily_counts(session, actor.tenant_id, since, until)
    flows = lifecycle.flows(session, actor.tenant_id, since, until)
    cells = lifecycle.rfm_grid(session, actor.tenant_id)
    return JSONResponse(
        {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "counts": lifecycle.stage_counts(session, actor.tenant_id),
            "days": [day.isoformat() for day in series.days],
            "series": series.counts,
            "flows": [{"from": a, "to": b, "count": n} for (a, b), n in sorted(flows.items())],
            "rfm": [
                {
                    "recency_score": cell.recency_score,
                    "frequency_score": cell.frequency_score,
                    "customers": cell.customers,
                    "monetary_fen": cell.monetary_fen,
                    "average_fen": cell.average_fen,
                }
                for cell in sorted(cells, key=lambda cell: (cell.recency_score, cell.frequency_score))
            ],
        }
    )


@router.post("/tags/lifecycle/settings")
def save_settings(
    request: Request,
    actor: Manager,
    session: SessionDep,
    window_days: NumberText = "",
    band_method: Annotated[str, Form(max_length=16)] = "",
    recency_bounds: BoundsText = "",
    frequency_bounds: BoundsText = "",
    monetary_bounds: BoundsText = "",
    new_days: NumberText = "",
    active_days: NumberText = "",
    at_risk_days: NumberText = "",
    dormant_days: NumberText = "",
) -> HTMLResponse:
    form = {
        "window_days": window_days,
        "band_method": band_method,
        "recency_bounds": recency_bounds,
        "frequency_bounds": frequency_bounds,
        "monetary_bounds": monetary_bounds,
        "new_days": new_days,
        "active_days": active_days,
        "at_risk_days": at_risk_days,
        "dormant_days": dormant_days,
    }
    try:
        values = rfm.SettingsInput(
            window_days=_integer(window_days, "window_days"),
            band_method=band_method.strip(),
            recency_bounds=_bounds(recency_bounds, "recency_bounds"),
            frequency_bounds=_bounds(frequency_bounds, "frequency_bounds"),
            monetary_bounds=_bounds(monetary_bounds, "monetary_bounds", yuan=True),
            new_days=_integer(new_days, "stage_days"),
            active_days=_integer(active_days, "stage_days"),
            at_risk_days=_integer(at_risk_days, "stage_days"),
            dormant_days=_integer(dormant_days, "stage_days"),
        )
        stored = rfm.update_settings(session, actor.tenant_id, values)
    except (FormProblem, rfm.RfmSettingsInvalid) as problem:
        field = problem.field if isinstance(problem, FormProblem) else str(problem.details.get("field", ""))
        settings = rfm.get_settings(session, actor.tenant_id)
        text = _problem_text(request, problem.code, field)
        context = _settings_context(request, settings, form=form, error=text, error_field=field)
        return _settings_response(request, session, actor, context, status_code=422)
    return _settings_response(request, session, actor, _settings_context(request, stored, saved=True))


def _settings_response(
    request: Request, session: Session, actor: Actor, settings_context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """The settings card (HTMX) or the whole page around it."""
    if is_htmx(request):
        # HTMX swaps 2xx answers only: the form comes back with its error in place.
        context = {"can_manage": True, **settings_context}
        return render(request, "tags/lifecycle_settings.html", context, session=session)
    context = {**_page_context(request, session, actor, 30), **settings_context}
    return render(request, "tags/lifecycle.html", context, session=session, status_code=status_code)


@router.post("/tags/lifecycle/recompute")
def recompute(request: Request, actor: Manager, session: SessionDep) -> HTMLResponse:
    """Recompute now: on the scheduler's thread where the server has one, else right here."""
    scheduler: schedule.LifecycleScheduler | None = getattr(request.app.state, "lifecycle_scheduler", None)
    headers: dict[str, str] = {}
    if scheduler is not None:
        scheduler.request(actor.tenant_id)
    else:
        started = clock.now()
        result = rfm.compute(session, actor.tenant_id)
        schedule.record_inline(actor.tenant_id, started, result)
        headers["HX-Refresh"] = "true"  # the figures changed: show them
    context = {"can_manage": True, **_job_context(actor.tenant_id)}
    return render(request, "tags/lifecycle_job.html", context, session=session, headers=headers)


@router.get("/tags/lifecycle/recompute")
def recompute_progress(request: Request, actor: Reader, session: SessionDep) -> HTMLResponse:
    """The recomputation's state; HTMX polls it while it runs and reloads the page when done."""
    context = {"can_manage": actor.can(Permission.CUSTOMERS_MANAGE), **_job_context(actor.tenant_id)}
    headers = {"HX-Refresh": "true"} if is_htmx(request) and not context["is_running"] else None
    return render(request, "tags/lifecycle_job.html", context, session=session, headers=headers)
