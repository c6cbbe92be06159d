"""The content-addressed, encrypted-at-rest blob store of archived chat media.

Address: HMAC-SHA256 with the app's hash key over the tenant and the plaintext (hex), so equal
bytes of one tenant share one blob and the address reveals nothing about the content without
the key. Files live under `<var_dir>/media/<aa>/<bb>/<digest>`
(or, when configured, objects `<prefix><aa>/<bb>/<digest>` in an S3-compatible bucket).

Blob format (all integers big-endian):

    b"HNM1" | u16 len(wrapped) | wrapped | u32 segment size | segments

* `wrapped`: a fresh 32-byte data key, FieldCipher-encrypted (context "archive.media.key") with
  the field-encryption keys, so key rotation re-wraps it the usual way.
* segments: the plaintext cut into SEGMENT_BYTES pieces, each AES-256-GCM under the data key
  with nonce = 8 random bytes (per blob) ‖ u32 index and associated data = digest ‖ index ‖
  is_last; a reordered, truncated or swapped segment fails to decrypt. Reading decrypts one
  segment at a time, so a large file streams without being held whole.

Writes are atomic: a temporary file in the same folder, fsync, then rename.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from weakref import WeakKeyDictionary

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from haina.core.crypto import FieldCipher, cipher_for
from haina.core.settings import Settings, get_settings

MAGIC = b"HNM1"
KEY_CONTEXT = "archive.media.key"
SEGMENT_BYTES = 1024 * 1024
_TAG = 16


class BlobMissing(LookupError):
    """No blob at that address (deleted, or the disk lost it)."""


class BlobCorrupt(ValueError):
    """The stored bytes do not decrypt: tampered with, truncated, or a key we no longer hold."""


class BlobStore(Protocol):
    """Where encrypted blobs live, by address: the disk store below by default, or an
    S3-compatible bucket (`haina.archive.media.s3`) when HAINA_ARCHIVE_MEDIA_S3_ENDPOINT is set."""

    def put(self, address: str, sealed: bytes) -> None: ...

    def open(self, address: str) -> Iterator[bytes]:
        """The sealed bytes, in pieces."""
        ...

    def exists(self, address: str) -> bool: ...

    def delete(self, address: str) -> bool:
        """Remove the blob; False when there was none."""
        ...


def media_digest(hash_key: str, tenant_id: str, data: bytes) -> str:
    mac = hmac.new(hash_key.encode(), b"archive.media\x00" + tenant_id.encode() + b"\x00", hashlib.sha256)
    mac.update(data)
    return mac.hexdigest()


class DiskBlobStore:
    """Blobs as files under `root`/<aa>/<bb>/<address>."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, address: str) -> Path:
        if len(address) < 8 or not all(c in "0123456789abcdef" for c in address):
            raise ValueError("a blob address is a lowercase hex digest")
        return self.root / address[:2] / address[2:4] / address

    def put(self, address: str, sealed: bytes) -> None:
        target = self.path(address)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(sealed)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def open(self, address: str) -> Iterator[bytes]:
        try:
            file = self.path(address).open("rb")
        except FileNotFoundError:
            raise BlobMissing(address)
        return _read_pieces(file)

    def exists(self, address: str) -> bool:
        return self.path(address).is_file()

    def delete(self, address: str) -> bool:
        target = self.path(address)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        for folder in (target.parent, target.parent.parent):  # drop emptied fan-out folders
            try:
                folder.rmdir()
            except OSError:
                break
        return True


def _read_pieces(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while piece := file.read(256 * 1024):
            yield piece


def media_store(settings: Settings) -> BlobStore:
    """The S3-compatible store when an endpoint is configured, else files under var/media."""
    if settings.archive_media_s3_endpoint:
        from haina.archive.media.s3 import shared_store  # s3 imports this module

        return shared_store(
            settings.archive_media_s3_endpoint,
            settings.archive_media_s3_bucket,
            settings.archive_media_s3_prefix,
            settings.archive_media_s3_region,
            settings.archive_media_s3_access_key,
            settings.archive_media_s3_secret_key.get_secret_value(),
        )
    return DiskBlobStore(settings.var_dir / "media")


# The store of each database engine, so code holding only a session (the retention job's
# `forget_messages(session, …)`) deletes files where this process keeps them.
_STORES: WeakKeyDictionary[Engine, BlobStore] = WeakKeyDictionary()


def bind_store(engine: Engine, store: BlobStore) -> None:
    _STORES[engine] = store


def engine_of(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def store_of(session: Session) -> BlobStore:
    found = _STORES.get(engine_of(session))
    return found if found is not None else media_store(get_settings())


# ── sealing ─────────────────────────────────────────────────────────────────────────────


def _aad(digest: str, index: int, is_last: bool) -> bytes:
    return digest.encode("ascii") + struct.pack(">I?", index, is_last)


def seal(cipher: FieldCipher, digest: str, data: bytes, segment_bytes: int = SEGMENT_BYTES) -> bytes:
    """The blob for `data`: a wrapped fresh data key and the data in authenticated segments."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = cipher.encrypt(base64.b64encode(data_key).decode("ascii"), context=KEY_CONTEXT).encode("ascii")
    prefix = os.urandom(8)
    aead = AESGCM(data_key)
    parts = [MAGIC, struct.pack(">H", len(wrapped)), wrapped, struct.pack(">I", segment_bytes)]
    count = max(1, -(-len(data) // segment_bytes))
    for index in range(count):
        piece = data[index * segment_bytes : (index + 1) * segment_bytes]
        nonce = prefix + struct.pack(">I", index)
        parts.append(nonce + aead.encrypt(nonce, piece, _aad(digest, index, index == count - 1)))
    return b"".join(parts)


class _Reader:
    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces = pieces
        self.buffer = bytearray()

    def take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            piece = next(self.pieces, b"")
            if not piece:
                break
            self.buffer.extend(piece)
        taken = bytes(self.buffer[:size])
        del self.buffer[:size]
        return taken


def unseal(cipher: FieldCipher, digest: str, pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The plaintext of a blob, one segment at a time; BlobCorrupt if anything does not check."""
    reader = _Reader(pieces)
    if reader.take(4) != MAGIC:
        raise BlobCorrupt("not an archive media blob")
    (length,) = struct.unpack(">H", reader.take(2))
    try:
        data_key = base64.b64decode(cipher.decrypt(reader.take(length).decode("ascii"), context=KEY_CONTEXT))
    except (ValueError, UnicodeDecodeError) as error:
        raise BlobCorrupt(f"the blob's data key does not decrypt: {error}")
    (segment_bytes,) = struct.unpack(">I", reader.take(4))
    aead = AESGCM(data_key)
    index = 0
    sealed = reader.take(12 + segment_bytes + _TAG)
    while True:
        following = reader.take(12 + segment_bytes + _TAG)
        is_last = not following
        if len(sealed) < 12 + _TAG or sealed[8:12] != struct.pack(">I", index):
            raise BlobCorrupt("a segment is missing or out of order")
        try:
            yield aead.decrypt(sealed[:12], sealed[12:], _aad(digest, index, is_last))
        except InvalidTag:
            raise BlobCorrupt("a segment does not decrypt")
        if is_last:
            return
        sealed, index = following, index + 1


def rewrap(cipher: FieldCipher, sealed: bytes) -> bytes:
    """The same blob with its data key wrapped by the current field key (after a key rotation);
    the segments are not touched."""
    if sealed[:4] != MAGIC or len(sealed) < 6:
        raise BlobCorrupt("not an archive media blob")
    (length,) = struct.unpack(">H", sealed[4:6])
    wrapped, rest = sealed[6 : 6 + length], sealed[6 + length :]
    try:
        data_key = cipher.decrypt(wrapped.decode("ascii"), context=KEY_CONTEXT)
    except (ValueError, UnicodeDecodeError) as error:
        raise BlobCorrupt(f"the blob's data key does not decrypt: {error}")
    new = cipher.encrypt(data_key, context=KEY_CONTEXT).encode("ascii")
    return MAGIC + struct.pack(">H", len(new)) + new + rest


def blob_cipher(settings: Settings) -> FieldCipher:
    return cipher_for(settings.encryption_keys)
