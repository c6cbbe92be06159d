"""The message archive (会话存档) of the WeCom emulator, at the Finance SDK boundary.

WeCom has no HTTP API for archived chats: a closed native SDK pulls them (GetChatData) and
decrypts them (DecryptData) with an algorithm nobody outside Tencent knows (REFERENCE §1.7).
The sandbox therefore serves GetChatData's output over HTTP and encrypts each message with an
open scheme of its own:

    POST /sandbox/wecom/msgaudit/get_chat_data?access_token=TOKEN
    {"seq": 0, "limit": 100}            # seq: return messages after it; limit 1..1000
    → {"errcode": 0, "errmsg": "ok", "chatdata": [
         {"seq", "msgid", "publickey_ver", "encrypt_random_key", "encrypt_chat_msg"}, ...]}

* encrypt_random_key is real WeCom behaviour: a fresh random key, RSA PKCS#1 v1.5 encrypted to
  the tenant's public key of that publickey_ver, base64 (register keys with
  `set_archive_public_key`). Decrypt it with
  `haina.platforms.wecom.crypto.decrypt_archive_random_key`.
* encrypt_chat_msg uses SANDBOX_SCHEME below, NOT WeCom's. `SandboxDecryptor` is the stand-in
  for DecryptData; production code calls the real SDK at the same point.

Errors use the Finance SDK's codes (10000 bad parameter, 10004 no key to encrypt with).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import APIRouter, Depends

from haina.platforms.wecom import errors
from haina.platforms.wecom.crypto import (
    ArchiveKeyError,
    decrypt_archive_random_key,
    encrypt_archive_random_key,
)
from haina.platforms.wecom.errors import ArchiveSdkError
from haina.sandbox.emulators.wecom_archive_media import add_media_routes, with_media_fields
from haina.sandbox.emulators.wecom_http import TokenGate, json_body
from haina.sandbox.emulators.wecom_store import scratch, unix_ms
from haina.sandbox.state import SandboxState
from haina.sandbox.world import ChatMessage

GET_CHAT_DATA_MAX_LIMIT = 1000

# The sandbox's stand-in for DecryptData, defined here and nowhere else:
#   key        = SHA-256(random_key as UTF-8)
#   nonce      = 12 random bytes
#   ciphertext = AES-256-GCM(key, nonce, message JSON as UTF-8, associated data = SANDBOX_SCHEME)
#   encrypt_chat_msg = base64(nonce || ciphertext || tag)
SANDBOX_SCHEME = b"haina-sandbox-wecom-archive-v1"
_NONCE_LENGTH = 12

# msgtype → the key of its payload in the message JSON, where the two differ. [UNCONFIRMED]
# recalled from the official message-format doc, not re-read; every other type uses its name.
PAYLOAD_KEYS = {
    "docmsg": "doc",
    "markdown": "info",
    "news": "info",
    "external_redpacket": "redpacket",
}


def seal_chat_message(random_key: str, message: dict[str, Any]) -> str:
    """encrypt_chat_msg for `message` under `random_key`, in SANDBOX_SCHEME."""
    key = hashlib.sha256(random_key.encode("utf-8")).digest()
    nonce = os.urandom(_NONCE_LENGTH)
    plaintext = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, SANDBOX_SCHEME)).decode("ascii")


class SandboxDecryptor:
    """Stands in for the Finance SDK's DecryptData when Haina talks to the sandbox."""

    def decrypt_data(self, encrypt_key: str, encrypt_chat_msg: str) -> dict[str, Any]:
        """The message dict, given the decrypted random key and encrypt_chat_msg."""
        try:
            sealed = base64.b64decode(encrypt_chat_msg, validate=True)
            key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
            nonce, ciphertext = sealed[:_NONCE_LENGTH], sealed[_NONCE_LENGTH:]
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, SANDBOX_SCHEME)
            message = json.loads(plaintext.decode("utf-8"))
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError) as error:
            raise ArchiveSdkError(errors.ARCHIVE_DECRYPT_FAILED, type(error).__name__)
        if not isinstance(message, dict):
            raise ArchiveSdkError(errors.ARCHIVE_PARSE_ERROR, "message is not a JSON object")
        return message

    def decrypt_item(self, item: dict[str, Any], private_keys: dict[int, str | bytes]) -> dict[str, Any]:
        """Both steps for one chatdata item, with private keys by publickey_ver."""
        private_key = private_keys.get(item["publickey_ver"])
        if private_key is None:
            raise ArchiveSdkError(errors.ARCHIVE_NO_PRIVATE_KEY, f"publickey_ver {item['publickey_ver']}")
        try:
            random_key = decrypt_archive_random_key(private_key, item["encrypt_random_key"])
        except ArchiveKeyError as error:
            raise ArchiveSdkError(errors.ARCHIVE_BAD_ENCRYPT_KEY, str(error))
        return self.decrypt_data(random_key, item["encrypt_chat_msg"])


def render_chat_message(message: ChatMessage) -> dict[str, Any]:
    """The decrypted message JSON as REFERENCE §1.7 shows it."""
    if message.action == "switch":  # switching enterprise accounts carries no message body
        return {
            "msgid": message.msgid,
            "action": "switch",
            "time": unix_ms(message.msgtime),
            "user": message.sender,
        }
    return {
        "msgid": message.msgid,
        "action": message.action,
        "from": message.sender,
        "tolist": list(message.tolist),
        "roomid": message.roomid,
        "msgtime": unix_ms(message.msgtime),
        "msgtype": message.msgtype,
        # Media payloads get the md5sum and size of the bytes GetMediaData serves.
        PAYLOAD_KEYS.get(message.msgtype, message.msgtype): with_media_fields(
            message.msgtype, message.content
        ),
    }


def set_archive_public_key(state: SandboxState, version: int, public_key_pem: str | bytes) -> None:
    """Register the tenant's archive public key for `version`, as an admin does in the console."""
    pem = public_key_pem.decode("ascii") if isinstance(public_key_pem, bytes) else public_key_pem
    with state.lock:
        scratch(state)["archive_public_keys"][int(version)] = pem


def generate_archive_key_pair(bits: int = 2048) -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM), for tests and the demo."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


def chat_data(state: SandboxState, seq: int, limit: int) -> list[dict[str, Any]]:
    """GetChatData: up to `limit` archived messages with seq greater than `seq`, encrypted."""
    with state.lock:
        public_keys = dict(scratch(state)["archive_public_keys"])
        messages = sorted((m for m in state.world.messages if m.seq > seq), key=lambda m: m.seq)[:limit]
    items = []
    for message in messages:
        public_key = public_keys.get(message.publickey_ver)
        if public_key is None:
            raise ArchiveSdkError(
                errors.ARCHIVE_KEY_ENCRYPT_FAILED, f"no public key for version {message.publickey_ver}"
            )
        random_key = secrets.token_urlsafe(24)
        items.append(
            {
                "seq": message.seq,
                "msgid": message.msgid,
                "publickey_ver": message.publickey_ver,
                "encrypt_random_key": encrypt_archive_random_key(public_key, random_key),
                "encrypt_chat_msg": seal_chat_message(random_key, render_chat_message(message)),
            }
        )
    return items


def add_archive_routes(router: APIRouter, state: SandboxState, gate: TokenGate) -> None:
    @router.post("/msgaudit/get_chat_data")
    def get_chat_data(_: str = Depends(gate), body: dict = Depends(json_body)) -> dict[str, Any]:
        seq, limit = body.get("seq", 0), body.get("limit", 100)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ArchiveSdkError(errors.ARCHIVE_BAD_PARAMETER, "seq must be a non-negative integer")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= GET_CHAT_DATA_MAX_LIMIT:
            raise ArchiveSdkError(errors.ARCHIVE_BAD_PARAMETER, f"limit must be 1..{GET_CHAT_DATA_MAX_LIMIT}")
        return {"errcode": 0, "errmsg": "ok", "chatdata": chat_data(state, seq, limit)}

    add_media_routes(router, state, gate)
