"""ASGI middleware: request body size limit and the user's language."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haina.core.i18n import gettext, normalise_language

LANGUAGE_COOKIE = "haina_lang"


def _cookie(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie_name, _, cookie_value = part.strip().partition("=")
                if cookie_name == name:
                    return cookie_value
    return None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


class LanguageMiddleware:
    """Cookie `haina_lang` first, then Accept-Language, then Simplified Chinese."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope.get("headers", [])
            chosen = _cookie(headers, LANGUAGE_COOKIE) or _header(headers, b"accept-language")
            scope.setdefault("state", {})["language"] = normalise_language(chosen)
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 before anything reads them into memory. Upload
    paths (`upload_limits`: path prefix → bytes) may take more, e.g. the engage image library,
    whose pictures WeCom takes up to 10 MB."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_limits = upload_limits or {}

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.upload_limits.items():
            if path == prefix or path.startswith(prefix + "/"):
                return max(limit, self.max_bytes)
        return self.max_bytes

    async def _reject(self, scope: Scope, send: Send, limit: int) -> None:
        language = scope.get("state", {}).get("language", "zh-CN")
        message = f"request body is larger than {limit} bytes"
        body = {
            "error": {
                "code": "payload_too_large",
                "message": gettext(language, "error.payload_too_large", default=message),
                "detail_en": message,
            }
        }
        data = json.dumps(body, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        length = _header(scope.get("headers", []), b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reject(scope, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(scope, send, limit)


class NulCharacterMiddleware:
    """Refuse text containing NUL characters (in the query string, or a JSON/form body) with a
    422 that says so: PostgreSQL cannot store them, and no legitimate console or API input has
    them. Webhooks are exempt: their raw bytes are kept as they came."""

    EXEMPT_PREFIXES = ("/webhooks/", "/sandbox/", "/static/")
    TEXT_BODIES = (b"application/json", b"application/x-www-form-urlencoded")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _reject(self, scope: Scope, send: Send, where: str) -> None:
        language = scope.get("state", {}).get("language", "zh-CN")
        message = f"the {where} contains a NUL character (\\u0000), which is not allowed in text"
        text = gettext(language, "error.nul_character", default=message)
        body = {"error": {"code": "nul_character", "message": text, "detail_en": message}}
        data = json.dumps(body, ensure_ascii=False).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": 422, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope.get("path", ""):
            await self._reject(scope, send, "query string or path")
            return
        content_type = (_header(scope.get("headers", []), b"content-type") or "").encode("latin-1")
        if not content_type.startswith(self.TEXT_BODIES):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\x00" in body or b"\\u0000" in body or b"%00" in body:
            await self._reject(scope, send, "request body")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
