"""Every error answers with a body that explains itself:
``{"error": {"code", "message", "details"}}``, the message in the user's language.
A 500 is a bug: it is logged with a reference the user can quote."""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from haina.core.errors import DomainError, NotAuthenticated
from haina.core.i18n import gettext

log = logging.getLogger("haina.web")

HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def language_of(request: Request) -> str:
    return getattr(request.state, "language", "zh-CN")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
    specifics: str = "",
) -> JSONResponse:
    """`specifics` (which field, what is wrong) is appended to the translated message."""
    text = gettext(language_of(request), f"error.{code}", default=message)
    if specifics and text != message:
        text = f"{text}: {specifics}"
    body: dict[str, Any] = {"error": {"code": code, "message": text}}
    if text != message:
        body["error"]["detail_en"] = message
    if details:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/webhooks/", "/healthz", "/sandbox/")):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "GET"


def _describe_validation(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    described = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        described.append(
            {"field": location, "problem": error.get("msg", "invalid"), "type": error.get("type", "")}
        )
    return described


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, error: DomainError) -> Response:
        if isinstance(error, NotAuthenticated) and _wants_html(request):
            # The query too (the WeCom sidebar names its contact there); quoted whole.
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return error_response(
            request, error.status_code, error.code, error.message, error.details or None, headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        errors = list(error.errors())
        if any(item.get("type") == "json_invalid" for item in errors):
            return error_response(
                request,
                422,
                "malformed_json",
                "the request body is not valid JSON",
                _describe_validation(errors),
            )
        problems = _describe_validation(errors)
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
        return error_response(
            request, 422, "invalid_input", f"invalid request: {summary}", problems, specifics=summary
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = HTTP_CODES.get(error.status_code, "http_error")
        message = error.detail if isinstance(error.detail, str) else code
        if error.status_code == 404 and message == "Not Found":
            message = f"no such page or endpoint: {request.method} {request.url.path}"
        if error.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(
            request, error.status_code, code, message, headers=getattr(error, "headers", None)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        reference = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s %s", reference, request.method, request.url.path)
        return error_response(
            request,
            500,
            "internal",
            f"internal error (reference {reference}); this is a bug, please report it",
            {"reference": reference},
        )
