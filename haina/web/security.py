"""Typed permission dependencies. Every route declares its access on purpose: `require(perm)` for
signed-in users with a permission, or `PUBLIC`. `declared_access(route)` reads the declaration,
and the app factory refuses to start with a route that has none."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from haina.core.audit import service as audit
from haina.core.auth import service as auth
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.auth.tokens import read_access_token
from haina.core.errors import DomainError, NotAuthenticated, PermissionDenied
from haina.core.tenancy.models import Tenant
from haina.web.database import SessionDep

SESSION_COOKIE = "haina_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class CsrfFailed(DomainError):
    status_code = 403
    code = "csrf_failed"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def _submitted_csrf(request: Request) -> str | None:
    """The CSRF token sent with an unsafe cookie-authenticated request (header or form field)."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def current_actor(
    request: Request,
    session: SessionDep,
    submitted_csrf: Annotated[str | None, Depends(_submitted_csrf)],
) -> Actor:
    """The signed-in user from a bearer token or, for the console, the session cookie."""
    settings = request.app.state.settings
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("Authorization header must be 'Bearer <token>'", code="invalid_token")
        claims = read_access_token(settings.secret_key, token.strip())
        user = session.get(auth.User, claims["sub"])
        tenant = session.get(Tenant, claims["tid"])
        if (
            user is None
            or not user.is_active
            or tenant is None
            or not tenant.is_active
            or user.tenant_id != tenant.id
        ):
            raise NotAuthenticated(
                "the user or tenant of this token no longer exists or is disabled", code="invalid_token"
            )
        actor = auth.actor_for(user, via="token", ip=client_ip(request))
    else:
        raw = request.cookies.get(SESSION_COOKIE)
        found = auth.find_console_session(session, raw) if raw else None
        if found is None:
            raise NotAuthenticated(
                "sign in first, or send 'Authorization: Bearer <token>'", code="not_authenticated"
            )
        user, console_session = found
        if request.method not in SAFE_METHODS and not (
            submitted_csrf and hmac.compare_digest(submitted_csrf, console_session.csrf_token)
        ):
            raise CsrfFailed("the form is stale (CSRF check failed); reload the page and try again")
        request.state.csrf_token = console_session.csrf_token
        actor = auth.actor_for(user, via="session", ip=client_ip(request))
    request.state.actor = actor
    return actor


def require(permission: Permission) -> Any:
    """A dependency giving the Actor if it holds `permission`; a denial is audited and answers 403."""

    def check(request: Request, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if not actor.can(permission):
            audit.record_separately(
                request.app.state.database,
                "permission.denied",
                actor=actor,
                outcome="denied",
                detail={"permission": permission.value, "method": request.method, "path": request.url.path},
            )
            raise PermissionDenied(f"your role '{actor.role}' lacks the permission '{permission.value}'")
        return actor

    check.haina_permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def _public() -> None:
    return None


_public.haina_public = True  # type: ignore[attr-defined]
PUBLIC = Depends(_public)


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    route: APIRoute
    dependant: Any


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every API route of the app with its full path, including routes of included routers
    (newer FastAPI keeps those behind lazy `_IncludedRouter` entries)."""
    found: list[RouteInfo] = []
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are flattened into app.routes
        for route in app.routes:
            if isinstance(route, APIRoute):
                found.append(RouteInfo(route.path, frozenset(route.methods or ()), route, route.dependant))
        return found
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, APIRoute):
            dependant = getattr(context, "dependant", None) or original.dependant
            found.append(
                RouteInfo(
                    context.path or original.path,
                    frozenset(context.methods or original.methods or ()),
                    original,
                    dependant,
                )
            )
    return found


def declared_access(route: APIRoute | RouteInfo) -> str | None:
    """'public', the permission name, or None when the route declares nothing."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        call = dependency.call
        if getattr(call, "haina_public", False):
            return "public"
        permission = getattr(call, "haina_permission", None)
        if permission is not None:
            return str(permission.value)
        stack.extend(dependency.dependencies)
    return None


# Shorthands for endpoint signatures.
SignedIn = Annotated[Actor, require(Permission.SIGNED_IN)]
