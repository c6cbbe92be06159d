"""Console: archive insights (/archive/insights) — the weekday × hour heatmap, the top question
clusters, reply-time QA per staff member (table and chart) and the working hours, for a period of
7, 30 or 90 days. Reads go through the same scoped, audited service functions as the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.archive import service as archive
from haina.archive.insights import quality, service
from haina.archive.insights.api import minutes_text, text_minutes
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import InvalidInput
from haina.core.i18n import gettext
from haina.web.security import require
from haina.web.templating import language_of
from haina.web.views import ConsoleRoute, SessionDep, SettingsDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
PERIODS = (7, 30, 90)
TIME = Annotated[str, Form(max_length=5)]


@router.get("/archive/insights")
def insights_page(
    request: Request,
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    error: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    days = days if days in PERIODS else 30
    until = clock.now()
    since = until - timedelta(days=days)
    found = archive.insights(session, actor, since=since, until=until)
    clusters = service.frequent_questions(session, actor, settings, since=since, until=until, limit=15)
    policy = service.reply_policy(session, actor.tenant_id)
    measured = service.reply_quality(session, actor, since=since, until=until)
    language = language_of(request)
    context: dict[str, Any] = {
        "days": days,
        "periods": PERIODS,
        "clusters": clusters,
        "quality": measured,
        "policy": policy,
        "windows": [
            (minutes_text(window[0]), minutes_text(window[1])) if window else None
            for window in policy.hours.days
        ],
        "weekdays": [gettext(language, f"archive.weekday.{number}") for number in range(7)],
        "heatmap": heatmap_chart(found.heatmap, language) if any(map(any, found.heatmap)) else None,
        "questions_chart": _questions_chart(clusters) if clusters else None,
        "quality_chart": _quality_chart(measured, language) if measured.staff else None,
        "can_manage": actor.can(Permission.CHATS_MANAGE),
        "error": error,
    }
    return render(request, "archive/insights/index.html", context, session=session)


@router.post("/archive/insights/settings")
def save_reply_settings(
    request: Request,
    actor: ChatsManager,
    session: SessionDep,
    target_minutes: Annotated[int, Form(ge=1, le=1440)] = quality.DEFAULT_TARGET_MINUTES,
    start: Annotated[list[str], Form(max_length=7)] = [],  # noqa: B006 - FastAPI form default
    end: Annotated[list[str], Form(max_length=7)] = [],  # noqa: B006 - FastAPI form default
    days_on: Annotated[list[str], Form(max_length=7)] = [],  # noqa: B006 - FastAPI form default
    days: Annotated[int, Form(ge=1, le=366)] = 30,
) -> Response:
    """Working hours per weekday (unticked = day off) and the target reply time."""
    windows: list[tuple[int, int] | None] = []
    try:
        for number in range(7):
            if str(number) not in days_on:
                windows.append(None)
                continue
            windows.append((text_minutes(start[number]), text_minutes(end[number])))
        service.set_reply_policy(session, actor, windows, target_minutes)
    except (ValueError, IndexError, InvalidInput) as error:
        message = (
            error.details.get("zh", error.message)
            if isinstance(error, InvalidInput)
            else "时间格式须为 HH:MM"
        )
        from urllib.parse import quote

        return RedirectResponse(f"/archive/insights?days={days}&error={quote(message)}", status_code=303)
    return RedirectResponse(f"/archive/insights?days={days}", status_code=303)


def heatmap_chart(heatmap: list[list[int]], language: str) -> dict[str, Any]:
    """An ECharts option: customer messages by weekday (rows, Monday on top) × hour."""
    days = [gettext(language, f"archive.weekday.{number}") for number in range(7)]
    data = [[hour, day, count] for day, row in enumerate(heatmap) for hour, count in enumerate(row)]
    return {
        "tooltip": {"position": "top"},
        # Room under the hour labels for the colour scale and its handle labels.
        "grid": {"left": 8, "right": 16, "top": 8, "bottom": 72, "containLabel": True},
        "xAxis": {"type": "category", "data": [f"{hour}" for hour in range(24)], "splitArea": {"show": True}},
        # Monday on the top row, as a calendar reads.
        "yAxis": {"type": "category", "data": days, "splitArea": {"show": True}, "inverse": True},
        "visualMap": {
            "min": 0,
            "max": max(max(row) for row in heatmap) or 1,
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
            "inRange": {"color": ["#f0f5ff", "#1677ff"]},
        },
        "series": [{"type": "heatmap", "data": data, "label": {"show": False}}],
    }


def _questions_chart(clusters: list[Any]) -> dict[str, Any]:
    top = list(reversed(clusters[:10]))  # largest at the top of a horizontal bar chart
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "value", "minInterval": 1},
        "yAxis": {"type": "category", "data": [cluster.representative[:16] for cluster in top]},
        "series": [
            {
                "type": "bar",
                "data": [cluster.count for cluster in top],
                "barMaxWidth": 28,
                "itemStyle": {"color": "#1677ff"},
            }
        ],
    }


def _quality_chart(measured: quality.Quality, language: str) -> dict[str, Any]:
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 8, "right": 24, "top": 8, "bottom": 8, "containLabel": True},
        "xAxis": {"type": "category", "data": [item.staff_userid or "—" for item in measured.staff]},
        "yAxis": {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
        "series": [
            {
                "type": "bar",
                "name": gettext(language, "archive_insights.within", minutes=measured.target_minutes),
                "data": [round(item.within_target * 100, 1) for item in measured.staff],
                "barMaxWidth": 48,
                "itemStyle": {"color": "#52c41a"},
            }
        ],
    }
