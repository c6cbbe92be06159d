"""What every WeCom emulator endpoint shares: errors rendered the way WeCom renders them (HTTP
200 with errcode/errmsg), the fault and access_token gate, and JSON body parsing."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.routing import NoMatchFound

from haina.core import clock
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import ArchiveSdkError, WeComApiError
from haina.sandbox.emulators.wecom_store import PLATFORM, scratch
from haina.sandbox.state import SandboxState


class WeComServerError(Exception):
    """An injected server fault: answered with HTTP 500."""


def error_response(error: WeComApiError, request: Request) -> JSONResponse:
    # Newer servers decorate errmsg like this (REFERENCE §1.1); clients must key on errcode only.
    hint = f"{int(clock.now().timestamp())}_{secrets.randbelow(100)}_{secrets.token_hex(8)}"
    client_ip = request.client.host if request.client else "127.0.0.1"
    more_info = errors.MORE_INFO_URL.format(errcode=error.errcode)
    errmsg = f"{error.errmsg}, hint: [{hint}], from ip: {client_ip}, more info at {more_info}"
    return JSONResponse({"errcode": error.errcode, "errmsg": errmsg})


class WeComRoute(APIRoute):
    """Routes that turn WeComApiError into WeCom's error body, wherever it was raised."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wecom_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except WeComApiError as error:
                return error_response(error, request)
            except ArchiveSdkError as error:  # the archive endpoint speaks the Finance SDK's codes
                return JSONResponse({"errcode": error.code, "errmsg": error.message})
            except WeComServerError:
                return JSONResponse(
                    {"errcode": errors.SYSTEM_BUSY, "errmsg": errors.message_for(errors.SYSTEM_BUSY)},
                    status_code=500,
                )

        return wecom_handler


def emulator_url(request: Request, route_name: str, **params: str) -> str:
    """The absolute URL of one of the emulator's own routes (a QR image, the scan page), whether
    the sandbox runs on its own server or mounted inside the Haina app at /sandbox (where the
    app's router knows the routes as `sandbox:<name>`)."""
    try:
        return str(request.url_for(route_name, **params))
    except NoMatchFound:
        return str(request.url_for(f"sandbox:{route_name}", **params))


def qr_png(text: str) -> bytes:
    """A PNG QR code encoding `text`: the sandbox's stand-in for the code images WeCom serves
    (contact ways, join ways); high error correction, so a logo pasted in the middle still scans."""
    import io

    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_H, box_size=10, border=2)
    code.add_data(text)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()


def ok(**fields: Any) -> dict[str, Any]:
    return {"errcode": errors.OK, "errmsg": "ok", **fields}


def apply_faults(state: SandboxState) -> None:
    """Ask the fault plan first, as every endpoint must."""
    outcome = state.faults.decide(PLATFORM)
    if outcome == "throttle":
        raise WeComApiError(errors.API_FREQ_OUT_OF_LIMIT)
    if outcome == "error":
        raise WeComServerError()


class TokenGate:
    """Dependency for the token-protected endpoints: faults first, then the access_token."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def __call__(self, request: Request) -> str:
        apply_faults(self.state)
        token = request.query_params.get("access_token", "")
        if not token:
            raise WeComApiError(errors.MISSING_ACCESS_TOKEN)
        with self.state.lock:
            expires_at = scratch(self.state)["tokens"].get(token)
        if expires_at is None:
            raise WeComApiError(errors.INVALID_ACCESS_TOKEN)
        if clock.now() >= expires_at:
            raise WeComApiError(errors.ACCESS_TOKEN_EXPIRED)
        return token


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON object of a POST; WeCom answers 47001 to anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WeComApiError(errors.DATA_FORMAT_ERROR)
    if not isinstance(body, dict):
        raise WeComApiError(errors.DATA_FORMAT_ERROR)
    return body


def string_list(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WeComApiError(errors.INVALID_PARAMETER, f"{name} must be a list of strings")
    return value


def integer(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WeComApiError(errors.INVALID_PARAMETER, f"{name} must be an integer")
    return value
