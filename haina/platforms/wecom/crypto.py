"""WXBizMsgCrypt: how WeCom signs and encrypts callbacks (REFERENCE §1.5).

msg_signature = sha1 of the sorted strings token, timestamp, nonce and Encrypt (lowercase hex).
Encrypt = base64(AES-256-CBC(key, iv=key[:16], PKCS#7-to-32(random16 + len32be + msg + receiveid)))
with key = base64decode(EncodingAESKey + "=").

Both the connector (verifying pushes) and the sandbox (producing them) use this module, so it
depends on the standard library and `cryptography` only. Errors carry the codes of WeCom's own
sample library so logs read the same as WeCom's documentation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeCom pads to 32 bytes (the AES key length), not to the 16-byte AES block.
PAD_BLOCK = 32
RANDOM_PREFIX_LENGTH = 16
ENCODING_AES_KEY_LENGTH = 43


class WeComCryptoError(Exception):
    """Base of the WXBizMsgCrypt errors; `code` is the sample library's return code."""

    code = -40000

    def __init__(self, message: str) -> None:
        super().__init__(f"{message} (WXBizMsgCrypt {self.code})")
        self.message = message


class SignatureError(WeComCryptoError):
    code = -40001  # ValidateSignature_Error


class ParseXmlError(WeComCryptoError):
    code = -40002  # ParseXml_Error


class ComputeSignatureError(WeComCryptoError):
    code = -40003  # ComputeSignature_Error


class IllegalAesKeyError(WeComCryptoError):
    code = -40004  # IllegalAesKey


class ReceiveIdError(WeComCryptoError):
    code = -40005  # ValidateCorpid_Error: the message was meant for another corp / suite


class EncryptError(WeComCryptoError):
    code = -40006  # EncryptAES_Error


class DecryptError(WeComCryptoError):
    code = -40007  # DecryptAES_Error


class IllegalBufferError(WeComCryptoError):
    code = -40008  # IllegalBuffer: decrypted bytes are not random + length + msg + receiveid


class EncodeBase64Error(WeComCryptoError):
    code = -40009


class DecodeBase64Error(WeComCryptoError):
    code = -40010


class GenerateXmlError(WeComCryptoError):
    code = -40011  # GenReturnXml_Error


def compute_signature(token: str, timestamp: str | int, nonce: str | int, encrypt: str) -> str:
    """sha1 over the four strings sorted as plain strings and joined, as lowercase hex."""
    try:
        parts = sorted([str(token), str(timestamp), str(nonce), str(encrypt)])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()
    except (TypeError, UnicodeError) as error:
        raise ComputeSignatureError(f"cannot compute signature: {error}")


def pkcs7_pad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    amount = block - len(data) % block  # always 1..block, so a full block is added when aligned
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block: int = PAD_BLOCK) -> bytes:
    if not data:
        raise IllegalBufferError("empty plaintext")
    amount = data[-1]
    # Only the range is checked, like WeCom's own samples: the signature already vouches for
    # the bytes, and a stricter check could reject a message the official library accepts.
    if amount < 1 or amount > block or amount > len(data):
        raise IllegalBufferError(f"bad padding length {amount}")
    return data[:-amount]


def _reject_entities(document: bytes) -> None:
    # Callback bodies come from the network; WeCom never sends a DTD, so refusing one closes
    # entity-expansion attacks without a third-party XML parser.
    if b"<!DOCTYPE" in document or b"<!ENTITY" in document:
        raise ParseXmlError("XML with a DTD or entity declarations is refused")


def xml_fields(document: str | bytes) -> dict[str, str | list[str]]:
    """The child elements of a flat WeCom XML document as a dict.

    An element with children (e.g. `<MemChangeList><Item>..</Item></MemChangeList>`) becomes the
    list of its children's texts.
    """
    raw = document.encode("utf-8") if isinstance(document, str) else document
    _reject_entities(raw)
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as error:
        raise ParseXmlError(f"invalid XML: {error}")
    fields: dict[str, str | list[str]] = {}
    for child in root:
        if len(child):
            fields[child.tag] = [item.text or "" for item in child]
        else:
            fields[child.tag] = child.text or ""
    return fields


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """An encrypted event push: POST `body` to the callback URL with `query` as its query string."""

    body: str
    msg_signature: str
    timestamp: str
    nonce: str

    @property
    def query(self) -> dict[str, str]:
        return {"msg_signature": self.msg_signature, "timestamp": self.timestamp, "nonce": self.nonce}


class WXBizMsgCrypt:
    """One callback configuration: Token, EncodingAESKey and the receiveid (corpid or suiteid)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
            raise IllegalAesKeyError(f"EncodingAESKey must be {ENCODING_AES_KEY_LENGTH} characters")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise IllegalAesKeyError("EncodingAESKey is not base64")
        if len(key) != 32:
            raise IllegalAesKeyError("EncodingAESKey does not decode to 32 bytes")
        self.token = token
        self.receive_id = receive_id
        self._key = key
        self._iv = key[:16]

    # -- signature -------------------------------------------------------------------------

    def signature(self, timestamp: str | int, nonce: str | int, encrypt: str) -> str:
        return compute_signature(self.token, timestamp, nonce, encrypt)

    def check_signature(
        self, msg_signature: str, timestamp: str | int, nonce: str | int, encrypt: str
    ) -> None:
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode("ascii"), str(msg_signature).lower().encode("utf-8")):
            raise SignatureError("msg_signature does not match")

    # -- AES layer -------------------------------------------------------------------------

    def encrypt(self, message: str | bytes, random_prefix: bytes | None = None) -> str:
        """The base64 `Encrypt` text for `message`; `random_prefix` only for reproducible tests."""
        prefix = os.urandom(RANDOM_PREFIX_LENGTH) if random_prefix is None else random_prefix
        if len(prefix) != RANDOM_PREFIX_LENGTH:
            raise EncryptError(f"random prefix must be {RANDOM_PREFIX_LENGTH} bytes")
        body = message.encode("utf-8") if isinstance(message, str) else message
        plaintext = prefix + struct.pack(">I", len(body)) + body + self.receive_id.encode("utf-8")
        try:
            encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
            ciphertext = encryptor.update(pkcs7_pad(plaintext)) + encryptor.finalize()
        except ValueError as error:
            raise EncryptError(str(error))
        return base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The message inside an `Encrypt` text, after checking it was meant for our receiveid."""
        try:
            ciphertext = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeBase64Error("Encrypt is not base64")
        if not ciphertext or len(ciphertext) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block")
        try:
            decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
        except ValueError as error:
            raise DecryptError(str(error))
        content = pkcs7_unpad(padded)[RANDOM_PREFIX_LENGTH:]
        if len(content) < 4:
            raise IllegalBufferError("plaintext too short")
        (length,) = struct.unpack(">I", content[:4])
        if 4 + length > len(content):
            raise IllegalBufferError("message length exceeds the plaintext")
        message = content[4 : 4 + length]
        receive_id = content[4 + length :]
        if not hmac.compare_digest(receive_id, self.receive_id.encode("utf-8")):
            raise ReceiveIdError("receiveid does not match")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise IllegalBufferError("message is not UTF-8")

    # -- the protocol steps ----------------------------------------------------------------

    def verify_url(self, msg_signature: str, timestamp: str | int, nonce: str | int, echostr: str) -> str:
        """URL verification: check the signature over echostr and return its plaintext."""
        self.check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(
        self, body: str | bytes, msg_signature: str, timestamp: str | int, nonce: str | int
    ) -> str:
        """The inner XML of a pushed envelope (or a passive reply) after checking its signature."""
        encrypt = xml_fields(body).get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise ParseXmlError("no Encrypt element")
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_message(
        self,
        message: str,
        nonce: str | int,
        timestamp: str | int | None = None,
        random_prefix: bytes | None = None,
    ) -> str:
        """A passive encrypted reply: Encrypt, MsgSignature, TimeStamp and Nonce in one XML."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        encrypt = self.encrypt(message, random_prefix)
        signature = self.signature(stamp, nonce, encrypt)
        return (
            "<xml>\n"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{stamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
            "</xml>"
        )

    def seal_event(
        self,
        message: str,
        nonce: str | int,
        timestamp: str | int,
        *,
        to_user_name: str,
        agent_id: str = "",
        random_prefix: bytes | None = None,
    ) -> SealedEvent:
        """An event push as WeCom POSTs it: the envelope body plus the signed query values."""
        encrypt = self.encrypt(message, random_prefix)
        signature = self.signature(timestamp, nonce, encrypt)
        body = (
            "<xml>"
            f"<ToUserName>{cdata(to_user_name)}</ToUserName>"
            f"<Encrypt>{cdata(encrypt)}</Encrypt>"
            f"<AgentID>{cdata(agent_id)}</AgentID>"
            "</xml>"
        )
        return SealedEvent(body=body, msg_signature=signature, timestamp=str(timestamp), nonce=str(nonce))


def cdata(text: str) -> str:
    """`text` as a CDATA section; a literal "]]>" is split across two sections."""
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


# -- message archive (会话存档) --------------------------------------------------------------
# The first step of decrypting an archived chat is open and the same for the real Finance SDK
# and the sandbox: encrypt_random_key is RSA PKCS#1 v1.5 to the public key of publickey_ver
# (REFERENCE §1.7). The second step (DecryptData) is closed; see the sandbox's wecom_archive.


class ArchiveKeyError(ValueError):
    """encrypt_random_key could not be decrypted; code 10008 is the Finance SDK's 解析encrypt_key出错."""

    code = 10008


def decrypt_archive_random_key(private_key_pem: bytes | str, encrypt_random_key: str) -> str:
    """The ASCII encrypt_key to hand to DecryptData, from the base64 RSA ciphertext."""
    pem = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise ArchiveKeyError(f"cannot load the archive private key: {error}")
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ArchiveKeyError("the archive private key is not an RSA key")
    try:
        ciphertext = base64.b64decode(encrypt_random_key, validate=True)
        random_key = private_key.decrypt(ciphertext, padding.PKCS1v15())
    except (binascii.Error, ValueError) as error:
        raise ArchiveKeyError(f"cannot decrypt encrypt_random_key: {error}")
    # OpenSSL's implicit rejection answers a wrong key with random bytes instead of an error, so
    # insist on what a real key looks like; the rest of a mismatch fails in DecryptData.
    if not random_key or not all(0x21 <= byte <= 0x7E for byte in random_key):
        raise ArchiveKeyError("encrypt_random_key did not decrypt to a printable key (wrong private key?)")
    return random_key.decode("ascii")


def encrypt_archive_random_key(public_key_pem: bytes | str, random_key: str) -> str:
    """What WeCom's server does with a message's random key: RSA PKCS#1 v1.5, then base64."""
    pem = public_key_pem.encode("ascii") if isinstance(public_key_pem, str) else public_key_pem
    public_key = serialization.load_pem_public_key(pem)
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise ArchiveKeyError("the archive public key is not an RSA key")
    ciphertext = public_key.encrypt(random_key.encode("ascii"), padding.PKCS1v15())
    return base64.b64encode(ciphertext).decode("ascii")


__all__ = [
    "ArchiveKeyError",
    "ComputeSignatureError",
    "DecodeBase64Error",
    "DecryptError",
    "EncodeBase64Error",
    "EncryptError",
    "GenerateXmlError",
    "IllegalAesKeyError",
    "IllegalBufferError",
    "ParseXmlError",
    "ReceiveIdError",
    "SealedEvent",
    "SignatureError",
    "WXBizMsgCrypt",
    "WeComCryptoError",
    "cdata",
    "compute_signature",
    "decrypt_archive_random_key",
    "encrypt_archive_random_key",
    "pkcs7_pad",
    "pkcs7_unpad",
    "xml_fields",
]
