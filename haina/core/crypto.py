"""Field encryption for PII: AES-256-GCM with a versioned format and key rotation, a keyed hash
(HMAC-SHA256) for exact matching, and display masking.

Stored form: ``v<key version>.<base64url(nonce ‖ ciphertext ‖ tag)>``. The newest key (first in
``HAINA_ENCRYPTION_KEYS``) encrypts; every listed key still decrypts, so rotation is: prepend a
new key, run ``haina keys reencrypt``, and drop the old key once nothing uses it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
_FORMAT = re.compile(r"^v(\d+)\.([A-Za-z0-9_-]+={0,2})$")


class DecryptionError(ValueError):
    """The stored value is tampered with, truncated, or encrypted with a key we no longer hold."""


def parse_keys(spec: str) -> dict[int, bytes]:
    """'2:base64key,1:base64key' → {2: key, 1: key}, in the order given (first = current)."""
    keys: dict[int, bytes] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        version_text, _, encoded = item.partition(":")
        try:
            version = int(version_text)
            key = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError(f"encryption key '{version_text}:…' is not 'version:base64'")
        if len(key) != 32:
            raise ValueError(f"encryption key version {version} must be 32 bytes (AES-256), got {len(key)}")
        keys[version] = key
    if not keys:
        raise ValueError("no encryption key configured (HAINA_ENCRYPTION_KEYS)")
    return keys


def generate_key_spec(version: int) -> str:
    return f"{version}:{base64.b64encode(os.urandom(32)).decode()}"


class FieldCipher:
    def __init__(self, keys: dict[int, bytes]) -> None:
        self.keys = keys
        self.current_version = next(iter(keys))

    @classmethod
    def from_spec(cls, spec: str) -> FieldCipher:
        return cls(parse_keys(spec))

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt with the current key; `context` (e.g. 'users.phone') is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current_version]).encrypt(nonce, plaintext.encode(), context.encode())
        return f"v{self.current_version}." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str, *, context: str = "") -> str:
        match = _FORMAT.match(stored or "")
        if not match:
            raise DecryptionError("not an encrypted field value")
        version = int(match.group(1))
        key = self.keys.get(version)
        if key is None:
            raise DecryptionError(f"encrypted with key version {version}, which is not configured")
        try:
            raw = base64.urlsafe_b64decode(match.group(2))
        except (ValueError, binascii.Error):
            raise DecryptionError("encrypted field value is not valid base64")
        if len(raw) < NONCE_BYTES + 16:
            raise DecryptionError("encrypted field value is truncated")
        try:
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise DecryptionError("encrypted field value failed authentication (tampered or wrong key)")
        return plain.decode()

    def needs_reencryption(self, stored: str) -> bool:
        match = _FORMAT.match(stored or "")
        return match is not None and int(match.group(1)) != self.current_version


def normalise_phone(phone: str) -> str:
    """Digits only, without a +86/86 prefix: the form that is hashed and compared."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def keyed_hash(value: str, key: str, *, kind: str = "phone") -> str:
    """HMAC-SHA256 of the normalised value, hex. `kind` keeps hashes of different fields apart."""
    normalised = normalise_phone(value) if kind == "phone" else value.strip().lower()
    return hmac.new(key.encode(), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """'13812345678' → '138****5678'; shorter numbers keep only their last two digits."""
    digits = normalise_phone(phone)
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


_cipher_cache: dict[str, FieldCipher] = {}


def cipher_for(spec: str) -> FieldCipher:
    """A FieldCipher for a key spec, built once per spec."""
    cipher = _cipher_cache.get(spec)
    if cipher is None:
        cipher = _cipher_cache[spec] = FieldCipher.from_spec(spec)
    return cipher
