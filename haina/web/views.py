"""The console: login and logout, the language switch, the overview, one page per module (a
"coming soon" state until the module is built), and the settings pages.

Pages parse, authorise, call service functions and render. A domain error raised by a page is
rendered as an error page (or, for HTMX requests, as a message in the page's flash area) after
the request's transaction is rolled back.
"""

from __future__ import annotations

import hmac
import importlib
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from haina.core import clock
from haina.core.audit import service as audit
from haina.core.auth import service as auth
from haina.core.auth.actor import Actor
from haina.core.auth.models import User
from haina.core.auth.permissions import Permission, Role
from haina.core.auth.repository import UserRepository
from haina.core.auth.schemas import UserCreate
from haina.core.errors import DomainError, NotAuthenticated, NotFound, TooManyAttempts
from haina.core.i18n import LANGUAGES, gettext
from haina.core.settings import Settings
from haina.core.tenancy.models import Tenant
from haina.web import overview
from haina.web.database import SessionDep as DatabaseSession
from haina.web.database import get_database, get_settings
from haina.web.middleware import LANGUAGE_COOKIE
from haina.web.security import PUBLIC, SESSION_COOKIE, client_ip, require
from haina.web.templating import MODULES, NavItem, language_of, templates

LOGIN_CSRF_COOKIE = "haina_login_csrf"
LANGUAGE_COOKIE_DAYS = 365
AUDIT_PAGE_SIZE = 50
ACTIVITY_DAYS = 14
DEAD_LETTER_PAGE_SIZE = 100
# Actions offered in the audit filter; any other action name can be typed in.
KNOWN_AUDIT_ACTIONS = (
    "auth.login",
    "auth.login_failed",
    "auth.login_locked",
    "auth.logout",
    "user.created",
    "user.updated",
    "permission.denied",
    "pii.read",
    "export.audit_log",
    "events.replayed",
)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _remember_session(request: Request, session: DatabaseSession) -> Session:
    # ConsoleRoute commits this session before responding, or rolls it back to render an error.
    request.state.db_session = session
    return session


SessionDep = Annotated[Session, Depends(_remember_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SignedIn = Annotated[Actor, require(Permission.SIGNED_IN)]
UsersReader = Annotated[Actor, require(Permission.USERS_READ)]
UsersManager = Annotated[Actor, require(Permission.USERS_MANAGE)]
AuditReader = Annotated[Actor, require(Permission.AUDIT_READ)]
EventsReader = Annotated[Actor, require(Permission.EVENTS_READ)]
EventsManager = Annotated[Actor, require(Permission.EVENTS_MANAGE)]
FormText = Annotated[str, Form(max_length=256)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    session: Session | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A console page; with a signed-in actor and a session, the top bar shows the tenant's name."""
    context = dict(context or {})
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is not None and session is not None:
        tenant = session.get(Tenant, actor.tenant_id)
        context.setdefault("tenant_name", tenant.name if tenant else "")
    return templates.TemplateResponse(request, template, context, status_code=status_code, headers=headers)


def error_message(request: Request, code: str, message: str) -> str:
    return gettext(language_of(request), f"error.{code}", default=message)


def _render_error(request: Request, status_code: int, code: str, message: str) -> Response:
    session: Session | None = getattr(request.state, "db_session", None)
    if session is not None:
        session.rollback()
    text = error_message(request, code, message)
    if is_htmx(request):
        # Shown in the flash area of the page that sent the request, whatever its target was.
        headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return render(
            request,
            "partials/alert.html",
            {"kind": "error", "message": text},
            status_code=status_code,
            headers=headers,
        )
    context = {"status_code": status_code, "code": code, "message": text, "detail": message}
    return render(request, "error.html", context, session=session, status_code=status_code)


def _commit(request: Request) -> None:
    session: Session | None = getattr(request.state, "db_session", None)
    if session is not None:
        session.commit()


class ConsoleRoute(APIRoute):
    """Console routes commit the request's unit of work before the response leaves (a browser
    follows a redirect at once, and must find e.g. its new session), and answer domain errors
    with a page in the user's language, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                response = await handler(request)
                # get_session would commit only after the response is sent; commit now instead.
                await run_in_threadpool(_commit, request)
                return response
            except NotAuthenticated:
                if is_htmx(request):
                    # A full-page visit to the login page, coming back here afterwards.
                    here = local_path(urlsplit(request.headers.get("HX-Current-URL", "")).path)
                    return Response(status_code=401, headers={"HX-Redirect": f"/login?next={quote(here)}"})
                raise  # the app's handler redirects pages to /login
            except DomainError as error:
                return await run_in_threadpool(
                    _render_error, request, error.status_code, error.code, error.message
                )
            except RequestValidationError as error:
                fields = ", ".join(
                    ".".join(str(part) for part in item.get("loc", ())) for item in error.errors()
                )
                return await run_in_threadpool(
                    _render_error, request, 422, "invalid_input", f"invalid input: {fields}"
                )

        return console_handler


router = APIRouter(
    route_class=ConsoleRoute,
    dependencies=[Depends(_remember_session)],
    include_in_schema=False,
    default_response_class=HTMLResponse,
)


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(character) < 32 or ord(character) == 127 for character in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


# ── Login, logout, language ──────────────────────────────────────────────────────────────────


def _login_page(
    request: Request,
    *,
    token: str,
    next_path: str,
    username: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = {"login_csrf_token": token, "next": next_path, "username": username, "error": error}
    response = render(request, "login.html", context, status_code=status_code)
    secure = request.app.state.settings.cookie_secure
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login", max_age=3600
    )
    return response


def _login_token(request: Request) -> str:
    existing = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return (
        existing
        if 20 <= len(existing) <= 64 and existing.replace("-", "").replace("_", "").isalnum()
        else secrets.token_urlsafe(24)
    )


@router.get("/login", dependencies=[PUBLIC])
def login_page(
    request: Request, session: SessionDep, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    next_path = local_path(next)
    raw = request.cookies.get(SESSION_COOKIE)
    if raw and auth.find_console_session(session, raw) is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, token=_login_token(request), next_path=next_path)


@router.post("/login", dependencies=[PUBLIC])
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: FormText = "",
    csrf_token: FormText = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    next_path = local_path(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        message = error_message(request, "csrf_failed", "the form is stale (CSRF check failed)")
        return _login_page(
            request,
            token=secrets.token_urlsafe(24),
            next_path=next_path,
            username=username,
            error=message,
            status_code=403,
        )
    if not username or not password:
        message = gettext(language_of(request), "login.missing_fields")
        return _login_page(
            request, token=expected, next_path=next_path, username=username, error=message, status_code=422
        )
    try:
        user = auth.login(get_database(request), settings, username.strip(), password, ip=client_ip(request))
    except (NotAuthenticated, TooManyAttempts, NotFound) as error:
        message = error_message(request, error.code, error.message)
        return _login_page(
            request,
            token=expected,
            next_path=next_path,
            username=username,
            error=message,
            status_code=error.status_code,
        )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        auth.close_console_session(session, previous)
    raw, _console_session = auth.open_console_session(session, user, settings)
    response = RedirectResponse(next_path if next_path != "/login" else "/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        max_age=settings.session_hours * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, actor: SignedIn, session: SessionDep, settings: SettingsDep) -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        auth.close_console_session(session, raw)
    audit.record(session, "auth.logout", actor=actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure
    )
    return response


@router.get("/lang/{code}", dependencies=[PUBLIC])
def switch_language(code: str, request: Request, settings: SettingsDep) -> Response:
    if code not in LANGUAGES:
        raise NotFound(
            f"unknown language '{code}'; use one of {', '.join(LANGUAGES)}", code="unknown_language"
        )
    target = "/"
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc:
            target = local_path(parts.path + (f"?{parts.query}" if parts.query else ""))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        code,
        max_age=LANGUAGE_COOKIE_DAYS * 86400,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


# ── Overview and module pages ────────────────────────────────────────────────────────────────


def _activity_chart(request: Request, days: list[overview.ActivityDay]) -> dict[str, Any]:
    """An ECharts option: audit events per day (bars), logins and failed logins (lines)."""
    t = lambda key: gettext(language_of(request), key)  # noqa: E731
    return {
        "color": ["#91caff", "#1677ff", "#ff4d4f"],
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "icon": "roundRect", "itemWidth": 12, "itemHeight": 8},
        "grid": {"left": 8, "right": 16, "top": 36, "bottom": 8, "containLabel": True},
        "xAxis": {
            "type": "category",
            "data": [day.day.strftime("%m-%d") for day in days],
            "axisTick": {"show": False},
        },
        "yAxis": {"type": "value", "minInterval": 1, "splitLine": {"lineStyle": {"color": "#f0f0f0"}}},
        "series": [
            {
                "name": t("overview.series.events"),
                "type": "bar",
                "barMaxWidth": 18,
                "data": [day.events for day in days],
            },
            {
                "name": t("overview.series.logins"),
                "type": "line",
                "symbolSize": 5,
                "data": [day.logins for day in days],
            },
            {
                "name": t("overview.series.failed_logins"),
                "type": "line",
                "symbolSize": 5,
                "data": [day.failed_logins for day in days],
            },
        ],
    }


@router.get("/")
def overview_page(request: Request, actor: SignedIn, session: SessionDep) -> HTMLResponse:
    context: dict[str, Any] = {"modules": [item for item in MODULES if actor.can(item.permission)]}
    if actor.can(Permission.USERS_READ):
        context["members"] = overview.member_counts(session, actor.tenant_id)
    if actor.can(Permission.AUDIT_READ):
        days = overview.daily_activity(session, actor.tenant_id, days=ACTIVITY_DAYS)
        context["activity_days"] = ACTIVITY_DAYS
        context["logins_today"] = days[-1].logins
        context["failed_logins"] = sum(day.failed_logins for day in days)
        context["events"] = sum(day.events for day in days)
        context["chart"] = _activity_chart(request, days)
    return render(request, "overview.html", context, session=session)


def _module_page(item: NavItem) -> Callable[..., HTMLResponse]:
    def module_page(request: Request, session: SessionDep) -> HTMLResponse:
        return render(request, "module.html", {"module": item}, session=session)

    module_page.__name__ = f"{item.key}_page"
    return module_page


for _item in (item for item in MODULES if not item.is_built):  # built modules route their own pages
    router.add_api_route(
        _item.path,
        _module_page(_item),
        methods=["GET"],
        dependencies=[require(_item.permission)],
        name=f"console_{_item.key}",
    )


# ── Settings: members and roles ──────────────────────────────────────────────────────────────


def _users_context(actor: Actor, users: list[User], **extra: Any) -> dict[str, Any]:
    return {
        "users": users,
        "roles": [role.value for role in Role],
        "can_manage": actor.can(Permission.USERS_MANAGE),
        "now": clock.now(),
        "form": {},
        "form_errors": {},
        **extra,
    }


def _users_response(
    request: Request, session: Session, actor: Actor, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    users = UserRepository(session, actor.tenant_id).list()
    context = _users_context(actor, users, **extra)
    template = "settings/users_panel.html" if is_htmx(request) else "settings/users.html"
    return render(request, template, context, session=session, status_code=status_code)


@router.get("/settings/users")
def users_page(
    request: Request, actor: UsersReader, session: SessionDep, role: Annotated[str, Query(max_length=20)] = ""
) -> HTMLResponse:
    role_filter = role if role in {r.value for r in Role} else ""
    users = UserRepository(session, actor.tenant_id).list(role=role_filter or None)
    return render(
        request, "settings/users.html", _users_context(actor, users, role_filter=role_filter), session=session
    )


def _form_errors(request: Request, error: ValidationError) -> dict[str, str]:
    language = language_of(request)
    errors: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item.get("loc") else "form"
        errors.setdefault(
            field,
            gettext(language, f"users.form.invalid.{field}", default=gettext(language, "users.form.invalid")),
        )
    return errors


@router.post("/settings/users")
def create_user(
    request: Request,
    actor: UsersManager,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: FormText = "",
    phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    form = {
        "username": username.strip(),
        "display_name": display_name.strip(),
        "role": role,
        "phone": phone.strip(),
    }
    try:
        body = UserCreate(**{**form, "password": password, "phone": form["phone"] or None})
    except ValidationError as error:
        return _users_response(
            request,
            session,
            actor,
            status_code=422,
            form=form,
            form_errors=_form_errors(request, error),
            form_open=True,
        )
    try:
        auth.create_user(session, actor.tenant_id, auth.NewUser(**body.model_dump()), settings, actor=actor)
    except DomainError as error:
        session.rollback()
        errors = {"form": error_message(request, error.code, error.message)}
        return _users_response(
            request,
            session,
            actor,
            status_code=error.status_code,
            form=form,
            form_errors=errors,
            form_open=True,
        )
    if not is_htmx(request):
        return RedirectResponse("/settings/users", status_code=303)
    notice = gettext(language_of(request), "users.created", username=body.username)
    return _users_response(request, session, actor, notice=notice)


def _user_row(
    request: Request, session: Session, actor: Actor, user: User, *, error: str = "", status_code: int = 200
) -> Response:
    if not is_htmx(request):
        if error:
            return _users_response(request, session, actor, status_code=status_code, flash_error=error)
        return RedirectResponse("/settings/users", status_code=303)
    context = {**_users_context(actor, [user]), "user": user, "row_error": error}
    return render(request, "settings/user_row.html", context, status_code=status_code)


def _update_user(request: Request, session: Session, actor: Actor, user_id: str, **changes: Any) -> Response:
    try:
        user = auth.update_user(session, actor, user_id, **changes)
    except NotFound:
        raise
    except DomainError as error:
        session.rollback()
        user = UserRepository(session, actor.tenant_id).get(user_id)
        return _user_row(
            request,
            session,
            actor,
            user,
            error=error_message(request, error.code, error.message),
            status_code=error.status_code,
        )
    return _user_row(request, session, actor, user)


@router.post("/settings/users/{user_id}/role")
def change_role(
    user_id: str,
    request: Request,
    actor: UsersManager,
    session: SessionDep,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    # No default role: an empty one is refused by the service, after the user is found in this tenant.
    return _update_user(request, session, actor, user_id, role=role)


@router.post("/settings/users/{user_id}/unlock")
def unlock_user(user_id: str, request: Request, actor: UsersManager, session: SessionDep) -> Response:
    return _update_user(request, session, actor, user_id, unlock=True)


# ── Settings: audit log ──────────────────────────────────────────────────────────────────────


@router.get("/settings/audit")
def audit_page(
    request: Request,
    actor: AuditReader,
    session: SessionDep,
    action: Annotated[str, Query(max_length=64)] = "",
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    action = action.strip()
    entries = audit.list_entries(
        session, actor.tenant_id, action=action or None, limit=AUDIT_PAGE_SIZE + 1, before_id=before_id
    )
    older = entries[AUDIT_PAGE_SIZE - 1].id if len(entries) > AUDIT_PAGE_SIZE else None
    context = {
        "entries": entries[:AUDIT_PAGE_SIZE],
        "action": action,
        "known_actions": KNOWN_AUDIT_ACTIONS,
        "older_before_id": older,
        "is_first_page": before_id is None,
    }
    return render(request, "settings/audit.html", context, session=session)


# ── Settings: dead letters ───────────────────────────────────────────────────────────────────


def _events_function(name: str) -> Callable[..., Any] | None:
    """A function of `haina.core.events`, or None while that module does not offer it yet."""
    try:
        module = importlib.import_module("haina.core.events")
    except ImportError:
        return None
    function = getattr(module, name, None)
    return function if callable(function) else None


@router.get("/settings/dead-letters")
def dead_letters_page(
    request: Request,
    actor: EventsReader,
    session: SessionDep,
    replayed: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> HTMLResponse:
    list_dead_letters = _events_function("list_dead_letters")
    letters = (
        list_dead_letters(session, actor.tenant_id, limit=DEAD_LETTER_PAGE_SIZE) if list_dead_letters else []
    )
    context = {
        "is_available": list_dead_letters is not None,
        "letters": letters,
        "can_replay": actor.can(Permission.EVENTS_MANAGE) and _events_function("replay") is not None,
        "notice": gettext(language_of(request), "dead_letters.replayed", count=replayed)
        if replayed is not None
        else "",
    }
    return render(request, "settings/dead_letters.html", context, session=session)


@router.post("/settings/dead-letters/{delivery_id}/replay")
def replay_dead_letter(
    delivery_id: Annotated[str, Path(max_length=32)],
    request: Request,
    actor: EventsManager,
    session: SessionDep,
) -> Response:
    replay = _events_function("replay")
    if replay is None:
        raise NotFound("replaying dead letters is not available yet", code="not_available")
    count = replay(session, actor.tenant_id, delivery_id)
    audit.record(session, "events.replayed", actor=actor, target_type="event_delivery", target_id=delivery_id)
    return RedirectResponse(f"/settings/dead-letters?replayed={count}", status_code=303)
