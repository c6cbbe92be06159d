"""WXBizMsgCrypt against the published vectors (REFERENCE §1.5.1, wechatpy's C1–C3), plus
round trips over generated inputs and the archive's RSA step."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from haina.platforms.wecom.crypto import (
    ArchiveKeyError,
    DecodeBase64Error,
    DecryptError,
    IllegalAesKeyError,
    IllegalBufferError,
    ParseXmlError,
    ReceiveIdError,
    SignatureError,
    WXBizMsgCrypt,
    compute_signature,
    decrypt_archive_random_key,
    encrypt_archive_random_key,
    pkcs7_pad,
    pkcs7_unpad,
    xml_fields,
)

TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
RECEIVE_ID = "wx49f0ab532d5d035a"

C2_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGym"
    "zxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4h"
    "IiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYE"
    "vccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
C2_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    "<FromUserName><![CDATA[messense]]></FromUserName>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<MsgId>4363689963896700987</MsgId>\n"
    "<AgentID>1</AgentID>\n"
    "</xml>"
)
C3_MESSAGE = (
    "<xml>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    "<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "</xml>"
)
C3_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtOb"
    "vesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8"
    "NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O"
    "5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


def make_crypt(receive_id: str = RECEIVE_ID) -> WXBizMsgCrypt:
    return WXBizMsgCrypt(TOKEN, AES_KEY, receive_id)


def test_c1_verify_url_returns_the_echostr_plaintext() -> None:
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    plaintext = make_crypt().verify_url(
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", echostr
    )
    assert plaintext == "5927782489442352469"


def test_c2_decrypt_message_of_a_pushed_envelope() -> None:
    body = (
        f"<xml><ToUserName><![CDATA[{RECEIVE_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{C2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"
    )
    plaintext = make_crypt().decrypt_message(
        body, "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294"
    )
    assert plaintext == C2_PLAINTEXT


def test_c3_encrypt_message_is_byte_for_byte_the_vector() -> None:
    reply = make_crypt().encrypt_message(
        C3_MESSAGE, "461056294", "1411525903", random_prefix=b"1234567890123456"
    )
    fields = xml_fields(reply)
    assert fields["Encrypt"] == C3_ENCRYPT
    assert fields["MsgSignature"] == "407518b7649e86ef23978113f92d27afa9296533"
    assert fields["TimeStamp"] == "1411525903"
    assert fields["Nonce"] == "461056294"


def test_c3_signature_is_sha1_of_the_sorted_parts() -> None:
    assert compute_signature(TOKEN, "1411525903", "461056294", C3_ENCRYPT) == (
        "407518b7649e86ef23978113f92d27afa9296533"
    )


def test_a_wrong_signature_is_refused_with_40001() -> None:
    with pytest.raises(SignatureError) as raised:
        make_crypt().verify_url("0" * 40, "1411443780", "437374425", C3_ENCRYPT)
    assert raised.value.code == -40001


def test_a_message_for_another_receiver_is_refused_with_40005() -> None:
    with pytest.raises(ReceiveIdError) as raised:
        make_crypt(receive_id="ww_someone_else").decrypt(C2_ENCRYPT)
    assert raised.value.code == -40005


def test_malformed_inputs_raise_their_own_codes() -> None:
    crypt = make_crypt()
    with pytest.raises(DecodeBase64Error):
        crypt.decrypt("not base64 at all!")
    with pytest.raises(DecryptError) as raised:
        crypt.decrypt(base64.b64encode(b"short").decode())
    assert raised.value.code == -40007
    with pytest.raises(IllegalAesKeyError) as raised_key:
        WXBizMsgCrypt(TOKEN, AES_KEY[:-1], RECEIVE_ID)
    assert raised_key.value.code == -40004
    with pytest.raises(ParseXmlError):
        crypt.decrypt_message("<xml><Nothing/></xml>", "x", "1", "2")


def test_an_entity_declaration_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    with pytest.raises(ParseXmlError):
        xml_fields(bomb)


def test_a_buffer_with_a_lying_length_is_refused() -> None:
    crypt = make_crypt()
    # Encrypt a plaintext whose length field claims more bytes than follow it.
    forged = b"1234567890123456" + struct.pack(">I", 999) + b"short" + RECEIVE_ID.encode()
    key = base64.b64decode(AES_KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    ciphertext = encryptor.update(pkcs7_pad(forged)) + encryptor.finalize()
    with pytest.raises(IllegalBufferError):
        crypt.decrypt(base64.b64encode(ciphertext).decode())


aes_keys = st.binary(min_size=32, max_size=32).map(lambda key: base64.b64encode(key).decode()[:-1])
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", max_size=40)


@given(data=st.binary(max_size=300))
def test_padding_fills_to_32_and_comes_off_again(data: bytes) -> None:
    padded = pkcs7_pad(data)
    assert len(padded) % 32 == 0
    assert 1 <= padded[-1] <= 32
    assert pkcs7_unpad(padded) == data


@settings(max_examples=150)
@given(
    aes_key=aes_keys,
    token=ids,
    receive_id=ids,
    message=texts,
    nonce=st.integers(min_value=0, max_value=10**10),
    timestamp=st.integers(min_value=0, max_value=2**32),
    prefix=st.binary(min_size=16, max_size=16),
)
def test_a_sealed_event_opens_to_the_same_message(
    aes_key: str, token: str, receive_id: str, message: str, nonce: int, timestamp: int, prefix: bytes
) -> None:
    crypt = WXBizMsgCrypt(token, aes_key, receive_id)
    sealed = crypt.seal_event(message, nonce, timestamp, to_user_name=receive_id, random_prefix=prefix)
    opened = crypt.decrypt_message(sealed.body, sealed.msg_signature, sealed.timestamp, sealed.nonce)
    assert opened == message
    reply = crypt.encrypt_message(message, nonce, timestamp)
    fields = xml_fields(reply)
    assert crypt.decrypt_message(reply, str(fields["MsgSignature"]), timestamp, nonce) == message


@settings(max_examples=50)
@given(message=texts, nonce=st.integers(min_value=0, max_value=10**10))
def test_a_changed_nonce_breaks_the_signature(message: str, nonce: int) -> None:
    crypt = make_crypt()
    sealed = crypt.seal_event(message, nonce, 1411525903, to_user_name=RECEIVE_ID)
    with pytest.raises(SignatureError):
        crypt.decrypt_message(sealed.body, sealed.msg_signature, sealed.timestamp, nonce + 1)


@pytest.fixture(scope="module")
def archive_keys() -> tuple[str, str]:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def test_the_archive_random_key_survives_rsa_pkcs1(archive_keys: tuple[str, str]) -> None:
    private_pem, public_pem = archive_keys
    encrypted = encrypt_archive_random_key(public_pem, "K3yOfThirtyTwoCharactersExactly!")
    assert decrypt_archive_random_key(private_pem, encrypted) == "K3yOfThirtyTwoCharactersExactly!"


def test_the_archive_random_key_needs_the_matching_private_key(archive_keys: tuple[str, str]) -> None:
    _, public_pem = archive_keys
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted = encrypt_archive_random_key(public_pem, "random-key")
    # OpenSSL's implicit rejection may hand back random bytes instead of failing; they must
    # never be the key.
    try:
        recovered = decrypt_archive_random_key(other_pem, encrypted)
    except ArchiveKeyError as error:
        assert error.code == 10008
    else:
        assert recovered != "random-key"
