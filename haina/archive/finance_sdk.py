"""The WeCom Finance SDK (libWeWorkFinanceSdk_C.so), loaded through ctypes — only when a path
is configured (`haina archive pull --sdk-path`, env HAINA_WECOM_FINANCE_SDK). The library is
proprietary and not shipped; without it this module answers a clear error, never a crash.

Buffers are read with their length (`ctypes.string_at(buf, len)`), never as C strings: chat
JSON and media bytes may hold NUL. Media comes in chunks of up to 512 KB, fetched with the
returned index buffer until `is_finish` (REFERENCE §1.7, WeWorkFinanceSdk_C.h).
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
from pathlib import Path
from typing import Any

from haina.archive.sources import MediaChunk, check_items
from haina.platforms.wecom import errors
from haina.platforms.wecom.errors import ArchiveSdkError

ENV_PATH = "HAINA_WECOM_FINANCE_SDK"
MEDIA_CHUNK_LIMIT = 10_000  # 10,000 × 512 KB = 5 GB: a loop that never finishes is a bug


class FinanceSdkMissing(RuntimeError):
    """No SDK library is configured, or it cannot be loaded."""


class Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("len", ctypes.c_int)]


class MediaData(ctypes.Structure):
    _fields_ = [
        ("outindexbuf", ctypes.c_void_p),
        ("out_len", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("data_len", ctypes.c_int),
        ("is_finish", ctypes.c_int),
    ]


def _bytes(pointer: int | None, length: int) -> bytes:
    return ctypes.string_at(pointer, length) if pointer and length > 0 else b""


def load_library(path: str | os.PathLike[str] | None = None) -> ctypes.CDLL:
    """The SDK library at `path` (or $HAINA_WECOM_FINANCE_SDK), with its signatures declared."""
    chosen = str(path or os.environ.get(ENV_PATH, ""))
    if not chosen:
        raise FinanceSdkMissing(
            f"the WeCom Finance SDK is not configured: set {ENV_PATH} to libWeWorkFinanceSdk_C.so"
        )
    if not Path(chosen).is_file():
        raise FinanceSdkMissing(f"the WeCom Finance SDK library {chosen} does not exist")
    try:
        library = ctypes.CDLL(chosen)
    except OSError as error:
        raise FinanceSdkMissing(f"cannot load the WeCom Finance SDK {chosen}: {error}")
    sdk_p, slice_p, media_p = ctypes.c_void_p, ctypes.POINTER(Slice), ctypes.POINTER(MediaData)
    declarations: dict[str, tuple[Any, list[Any]]] = {
        "NewSdk": (sdk_p, []),
        "Init": (ctypes.c_int, [sdk_p, ctypes.c_char_p, ctypes.c_char_p]),
        "GetChatData": (
            ctypes.c_int,
            [
                sdk_p,
                ctypes.c_ulonglong,
                ctypes.c_uint,
                ctypes.c_char_p,
                ctypes.c_char_p,
                ctypes.c_int,
                slice_p,
            ],
        ),
        "DecryptData": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, slice_p]),
        "GetMediaData": (
            ctypes.c_int,
            [
                sdk_p,
                ctypes.c_char_p,
                ctypes.c_char_p,
                ctypes.c_char_p,
                ctypes.c_char_p,
                ctypes.c_int,
                media_p,
            ],
        ),
        "DestroySdk": (None, [sdk_p]),
        "NewSlice": (slice_p, []),
        "FreeSlice": (None, [slice_p]),
        "NewMediaData": (media_p, []),
        "FreeMediaData": (None, [media_p]),
    }
    for name, (restype, argtypes) in declarations.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise FinanceSdkMissing(f"{chosen} has no function {name}: not the WeCom Finance SDK?")
        function.restype = restype
        function.argtypes = argtypes
    return library


class FinanceSdk:
    """One initialised SDK handle for a corp: a ChatSource, a MediaSource and a Decryptor in one. Calls are
    serialised: the SDK's thread-safety is not documented."""

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        path: str | None = None,
        proxy: str = "",
        proxy_password: str = "",
        timeout_seconds: int = 30,
    ) -> None:
        self.library = load_library(path)
        self.proxy = proxy.encode()
        self.proxy_password = proxy_password.encode()
        self.timeout = timeout_seconds
        self._lock = threading.Lock()
        self.sdk = self.library.NewSdk()
        code = self.library.Init(self.sdk, corp_id.encode(), secret.encode())
        if code != 0:
            self.close()
            raise ArchiveSdkError(code, "Init")

    def close(self) -> None:
        if getattr(self, "sdk", None):
            self.library.DestroySdk(self.sdk)
            self.sdk = None

    def _slice_call(self, call: Any, *arguments: Any) -> bytes:
        chunk = self.library.NewSlice()
        try:
            code = call(*arguments, chunk)
            if code != 0:
                raise ArchiveSdkError(code)
            return _bytes(chunk.contents.buf, chunk.contents.len)
        finally:
            self.library.FreeSlice(chunk)

    def get_chat_data(self, seq: int, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            raw = self._slice_call(
                self.library.GetChatData,
                self.sdk,
                seq,
                min(limit, 1000),
                self.proxy,
                self.proxy_password,
                self.timeout,
            )
        try:
            answer = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ArchiveSdkError(errors.ARCHIVE_PARSE_ERROR, str(error))
        if answer.get("errcode", 0) != 0:
            raise ArchiveSdkError(int(answer["errcode"]), str(answer.get("errmsg", "")))
        return check_items(answer.get("chatdata"))

    def decrypt_data(self, encrypt_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        with self._lock:
            raw = self._slice_call(self.library.DecryptData, encrypt_key.encode(), encrypt_chat_msg.encode())
        try:
            message = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise ArchiveSdkError(errors.ARCHIVE_PARSE_ERROR, str(error))
        if not isinstance(message, dict):
            raise ArchiveSdkError(errors.ARCHIVE_PARSE_ERROR, "message is not a JSON object")
        return message

    def get_media_data(self, sdkfileid: str, indexbuf: str) -> MediaChunk:
        """One GetMediaData call (a MediaSource): up to 512 KB from `indexbuf` ("" = the start)."""
        with self._lock:
            return self._media_chunk(sdkfileid, indexbuf.encode("latin-1"))

    def _media_chunk(self, sdkfileid: str, index: bytes) -> MediaChunk:
        media = self.library.NewMediaData()
        try:
            code = self.library.GetMediaData(
                self.sdk,
                index,
                sdkfileid.encode(),
                self.proxy,
                self.proxy_password,
                self.timeout,
                media,
            )
            if code != 0:
                raise ArchiveSdkError(code, "GetMediaData")
            data = media.contents
            # The index buffer is opaque bytes handed back as given: latin-1 keeps every byte.
            return MediaChunk(
                _bytes(data.data, data.data_len),
                _bytes(data.outindexbuf, data.out_len).decode("latin-1"),
                bool(data.is_finish),
            )
        finally:
            self.library.FreeMediaData(media)

    def media(self, sdkfileid: str) -> bytes:
        """A media file's bytes, fetched chunk by chunk until the SDK says it is finished."""
        parts: list[bytes] = []
        index = ""
        with self._lock:
            for _ in range(MEDIA_CHUNK_LIMIT):
                chunk = self._media_chunk(sdkfileid, index.encode("latin-1"))
                parts.append(chunk.data)
                index = chunk.outindexbuf
                if chunk.is_finish:
                    return b"".join(parts)
        raise ArchiveSdkError(errors.ARCHIVE_SYSTEM_ERROR, "media did not finish")
