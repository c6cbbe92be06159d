"""Youzan signatures and the PII field ciphertext (REFERENCE §2.2, §2.5).

* Push, body style: `sign = md5(client_id + msg + client_secret)`, lowercase hex, where `msg` is
  the body's `msg` field exactly as received (still URL-encoded).
* Push, header style: `Event-Sign = md5(client_id + raw body + client_secret)`.
* Legacy signed gateway (pre-2019): `sign = md5(app_secret + k1v1k2v2… + app_secret)`.
* PII fields (数据安全): `$<base64 ciphertext>$<key version>$`, decrypted with a per-shop key
  fetched from `youzan.cloud.client.query.encryptconfig`, whose request carries its own sign.

Shared by the connector and the sandbox emulator. The signatures use the stdlib only; the field
cipher needs AES, so `cryptography` is imported where it is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from haina.platforms.reading import url_decoded

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

# ---------------------------------------------------------------------------------------------
# UNCONFIRMED — every detail below comes from one SDK or one demo, not from Youzan's own spec.
# Correct them here (and only here) once checked against a live app.
#
# * The body-style sign hashes the URL-encoded `msg` (the official Java demo); one third-party
#   integration hashes the decoded text, so `verify_push_sign` accepts that form as well.
# * The field cipher is what the official PHP SDK (`Security/Aes.php`) does: AES-128-ECB with
#   PKCS#7 padding, base64. PHP's openssl truncates the key string to the cipher's 16 bytes, so
#   only the first 16 bytes of `secretKey` are used (the keys served are 24 characters, which
#   the SDK's Salsa20 search digest needs). The Java SDK may do otherwise.
# * The ciphertext shape `$<base64>$<numeric version>$` and the test for it follow the PHP
#   SDK's `singleIsEncrypt`.
# * Which fields come back encrypted for which app types is not known; the emulator lists its
#   choice in one place (`ENCRYPTED_FIELDS` in haina/sandbox/emulators/youzan.py).
FIELD_KEY_BYTES = 16
FIELD_SEPARATOR = "$"
# ---------------------------------------------------------------------------------------------

_CIPHERTEXT = re.compile(r"^\$([A-Za-z0-9+/]+={0,2})\$(\d+)\$$")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def push_sign(client_id: str, msg: str, client_secret: str) -> str:
    """Body-style push signature over the `msg` field as sent (URL-encoded)."""
    return _md5(client_id + msg + client_secret)


def event_sign(client_id: str, body: bytes | str, client_secret: str) -> str:
    """Header-style `Event-Sign` over the raw request body."""
    # Over the raw bytes: a body that is not UTF-8 still has a signature (which will not match).
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return hashlib.md5(client_id.encode("utf-8") + raw + client_secret.encode("utf-8")).hexdigest()


def verify_push_sign(message: Mapping[str, object], client_secret: str) -> bool:
    """Whether a body-style push message carries the right `sign` (constant time)."""
    given = str(message.get("sign") or "").lower()
    client_id = str(message.get("client_id") or "")
    msg = str(message.get("msg") or "")
    if not given:
        return False
    # Signed over msg as sent, or (some SDKs) over its decoded form; decode only if needed, as
    # decoding a large URL-encoded msg costs more than the rest of the check.
    if hmac.compare_digest(given.encode("utf-8"), push_sign(client_id, msg, client_secret).encode()):
        return True
    decoded = push_sign(client_id, url_decoded(msg), client_secret)
    return hmac.compare_digest(given.encode("utf-8"), decoded.encode())


def verify_event_sign(body: bytes | str, given: str, client_id: str, client_secret: str) -> bool:
    """Whether the `Event-Sign` header value matches the raw body (constant time)."""
    if not given:
        return False
    return hmac.compare_digest(
        given.lower().encode("utf-8"), event_sign(client_id, body, client_secret).encode()
    )


def legacy_sign(parameters: Mapping[str, object], app_secret: str) -> str:
    """Old `/entry` gateway: md5(secret + sorted key+value + secret), lowercase hex as in the SDK's
    MD5Utils. `sign` and `None` values are left out."""
    text = "".join(
        key + str(value) for key, value in sorted(parameters.items()) if key != "sign" and value is not None
    )
    return _md5(app_secret + text + app_secret)


def encrypt_config_sign(client_id: str, kdt_id: int | str | None, timestamp: str, client_secret: str) -> str:
    """Sign of the key query (`youzan.cloud.client.query.encryptconfig`): md5 over the secret-wrapped
    camelCase pairs `clientId`, `kdtId` (when given) and `timestamp`, in key order."""
    pairs = {"clientId": client_id, "timestamp": timestamp}
    if kdt_id is not None and str(kdt_id) != "":
        pairs["kdtId"] = str(kdt_id)
    text = "".join(key + value for key, value in sorted(pairs.items()))
    return _md5(client_secret + text + client_secret)


def is_encrypted(value: object) -> bool:
    """Whether `value` has the ciphertext shape `$<base64>$<number>$`."""
    if not isinstance(value, str):
        return False
    match = _CIPHERTEXT.match(value)
    if match is None:
        return False
    try:
        raw = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return False
    return base64.b64encode(raw).decode("ascii") == match.group(1)


def field_key_version(ciphertext: str) -> int:
    """The key version a ciphertext was made with (which key to fetch)."""
    match = _CIPHERTEXT.match(ciphertext)
    if match is None:
        raise ValueError("not a Youzan field ciphertext")
    return int(match.group(2))


def _field_cipher(secret_key: str) -> Cipher[modes.ECB]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = secret_key.encode("utf-8")[:FIELD_KEY_BYTES]
    if len(key) != FIELD_KEY_BYTES:
        raise ValueError(f"a Youzan field key needs at least {FIELD_KEY_BYTES} bytes")
    return Cipher(algorithms.AES(key), modes.ECB())  # ECB because that is what the SDK uses


def encrypt_field(plaintext: str, secret_key: str, version: int) -> str:
    """`$<base64 AES ciphertext>$<version>$` for one PII value."""
    from cryptography.hazmat.primitives import padding

    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = _field_cipher(secret_key).encryptor()
    raw = encryptor.update(padded) + encryptor.finalize()
    encoded = base64.b64encode(raw).decode("ascii")
    return f"{FIELD_SEPARATOR}{encoded}{FIELD_SEPARATOR}{version}{FIELD_SEPARATOR}"


def decrypt_field(ciphertext: str, secret_key: str) -> str:
    """The plaintext of `$<base64>$<version>$`, given the key of that version."""
    from cryptography.hazmat.primitives import padding

    match = _CIPHERTEXT.match(ciphertext)
    if match is None:
        raise ValueError("not a Youzan field ciphertext")
    decryptor = _field_cipher(secret_key).decryptor()
    padded = decryptor.update(base64.b64decode(match.group(1))) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")


def mask_mobile(mobile: str) -> str:
    """The SDK's mobile mask: keep the first 3 and last 4 characters (`138****8000`)."""
    if len(mobile) < 7:
        return mobile
    return mobile[:3] + "*" * (len(mobile) - 7) + mobile[-4:]
