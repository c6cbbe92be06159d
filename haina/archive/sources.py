"""Where archived chats come from, and who decrypts them (REFERENCE §1.7).

The RSA step (encrypt_random_key → the message key, PKCS#1 v1.5 with the private key of the
item's publickey_ver) is open and done here. The second step, DecryptData, is closed: a
`Decryptor` does it — the WeCom Finance SDK (haina.archive.finance_sdk) in production, the
sandbox's stand-in for the demo and tests. A `ChatSource` pulls chatdata items after a seq; a
`MediaSource` fetches one chunk of a media file (GetMediaData), the SDK's or the sandbox's.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from haina.platforms.http import PlatformError
from haina.platforms.wecom import errors
from haina.platforms.wecom.crypto import ArchiveKeyError
from haina.platforms.wecom.errors import ArchiveSdkError

MAX_LIMIT = 1000  # GetChatData's own limit
ITEM_FIELDS = ("seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg")


class ChatSource(Protocol):
    def get_chat_data(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` chatdata items with seq greater than `seq`, in seq order."""
        ...


@dataclass(frozen=True, slots=True)
class MediaChunk:
    """One GetMediaData answer: up to 512 KB, the index to ask for the next chunk, and whether
    this was the last one."""

    data: bytes
    outindexbuf: str
    is_finish: bool


@runtime_checkable
class MediaSource(Protocol):
    def get_media_data(self, sdkfileid: str, indexbuf: str) -> MediaChunk:
        """One chunk of the media file `sdkfileid`; the first call passes indexbuf "". An unknown
        fileid raises ArchiveSdkError 10005."""
        ...


class Decryptor(Protocol):
    def decrypt_data(self, encrypt_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        """DecryptData: the message JSON, given the decrypted random key."""
        ...


@lru_cache(maxsize=64)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    # Loading checks the key (about 40 ms for RSA-2048): once per key, not once per message.
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError) as error:
        raise ArchiveKeyError(f"cannot load the archive private key: {error}")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ArchiveKeyError("the archive private key is not an RSA key")
    return key


def decrypt_random_key(private_key_pem: str, encrypt_random_key: str) -> str:
    """haina.platforms.wecom.crypto.decrypt_archive_random_key, with the loaded key cached."""
    key = _private_key(private_key_pem)
    try:
        random_key = key.decrypt(base64.b64decode(encrypt_random_key, validate=True), padding.PKCS1v15())
    except (binascii.Error, ValueError) as error:
        raise ArchiveKeyError(f"cannot decrypt encrypt_random_key: {error}")
    # A wrong key gives random bytes (OpenSSL's implicit rejection), not an error.
    if not random_key or not all(0x21 <= byte <= 0x7E for byte in random_key):
        raise ArchiveKeyError("encrypt_random_key did not decrypt to a printable key (wrong private key?)")
    return random_key.decode("ascii")


def open_item(item: dict[str, Any], private_keys: dict[int, str], decryptor: Decryptor) -> dict[str, Any]:
    """Both steps for one chatdata item. A missing key version is ArchiveSdkError 10007."""
    version = item.get("publickey_ver")
    private_key = private_keys.get(version) if isinstance(version, int) else None
    if private_key is None:
        raise ArchiveSdkError(
            errors.ARCHIVE_NO_PRIVATE_KEY, f"publickey_ver {version}: add this key version's private key"
        )
    try:
        random_key = decrypt_random_key(private_key, str(item.get("encrypt_random_key", "")))
    except ArchiveKeyError as error:
        raise ArchiveSdkError(errors.ARCHIVE_BAD_ENCRYPT_KEY, str(error))
    return decryptor.decrypt_data(random_key, str(item.get("encrypt_chat_msg", "")))


class SandboxDecryptor:
    """The sandbox's DecryptData stand-in (its own open scheme, not WeCom's)."""

    def decrypt_data(self, encrypt_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        from haina.sandbox.emulators.wecom_archive import SandboxDecryptor as Emulated

        return Emulated().decrypt_data(encrypt_key, encrypt_chat_msg)


class WeComHttpSource:
    """GetChatData and GetMediaData as the sandbox serves them over HTTP (`msgaudit/…`), through
    the WeCom client (token, retries, rate limits): a ChatSource and a MediaSource."""

    def __init__(
        self,
        client: Any,
        path: str = "/msgaudit/get_chat_data",
        media_path: str = "/msgaudit/get_media_data",
    ) -> None:
        self.client = client
        self.path = path
        self.media_path = media_path

    def get_chat_data(self, seq: int, limit: int) -> list[dict[str, Any]]:
        answer = self.client.post(self.path, {"seq": seq, "limit": min(limit, MAX_LIMIT)})
        return check_items(answer.get("chatdata"))

    def get_media_data(self, sdkfileid: str, indexbuf: str) -> MediaChunk:
        """GetMediaData as the sandbox serves it (`msgaudit/get_media_data`, data in base64)."""
        try:
            answer = self.client.post(self.media_path, {"sdkfileid": sdkfileid, "indexbuf": indexbuf})
        except PlatformError as error:
            # The archive routes answer the Finance SDK's own codes: keep them as SDK errors.
            if error.code.isdigit() and int(error.code) in errors.ARCHIVE_MESSAGES:
                raise ArchiveSdkError(int(error.code), "GetMediaData")
            raise
        return check_chunk(answer)


def check_chunk(answer: object) -> MediaChunk:
    if not isinstance(answer, dict):
        raise PlatformError("unexpected_answer", "the media answer is not an object")
    data, index, finish = answer.get("data"), answer.get("outindexbuf"), answer.get("is_finish")
    if not isinstance(data, str) or not isinstance(index, str) or not isinstance(finish, bool | int):
        raise PlatformError("unexpected_answer", "a media chunk needs data, outindexbuf and is_finish")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise PlatformError("unexpected_answer", "media data is not base64")
    return MediaChunk(raw, index, bool(finish))


def check_items(items: object) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise PlatformError("unexpected_answer", "chatdata is not a list")
    checked = []
    for item in items:
        if not isinstance(item, dict) or any(name not in item for name in ITEM_FIELDS):
            raise PlatformError("unexpected_answer", f"chatdata item lacks {ITEM_FIELDS}")
        if not isinstance(item["seq"], int) or isinstance(item["seq"], bool):
            raise PlatformError("unexpected_answer", "chatdata seq is not an integer")
        checked.append(item)
    return sorted(checked, key=lambda item: item["seq"])
