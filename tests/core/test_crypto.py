"""Field encryption: round trip, tamper detection, key rotation, keyed hash and masking."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haina.core.crypto import (
    DecryptionError,
    FieldCipher,
    generate_key_spec,
    keyed_hash,
    mask_phone,
    parse_keys,
)

KEY_1 = "1:" + base64.b64encode(b"a" * 32).decode()
KEY_2 = "2:" + base64.b64encode(b"b" * 32).decode()


@given(st.text(max_size=200))
def test_round_trip_any_text(text: str) -> None:
    cipher = FieldCipher.from_spec(KEY_1)
    stored = cipher.encrypt(text, context="t")
    assert stored.startswith("v1.")
    assert cipher.decrypt(stored, context="t") == text


def test_ciphertext_is_not_the_plaintext_and_not_deterministic() -> None:
    cipher = FieldCipher.from_spec(KEY_1)
    first, second = cipher.encrypt("13812345678"), cipher.encrypt("13812345678")
    assert first != second
    assert "13812345678" not in first
    assert "5678" not in base64.urlsafe_b64decode(first.split(".", 1)[1]).decode("latin-1")


def test_tampered_ciphertext_is_rejected() -> None:
    cipher = FieldCipher.from_spec(KEY_1)
    stored = cipher.encrypt("13812345678")
    raw = bytearray(base64.urlsafe_b64decode(stored.split(".", 1)[1]))
    raw[15] ^= 0x01
    tampered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(DecryptionError, match="tampered"):
        cipher.decrypt(tampered)
    with pytest.raises(DecryptionError, match="truncated"):
        cipher.decrypt("v1." + base64.urlsafe_b64encode(bytes(raw[:20])).decode())
    with pytest.raises(DecryptionError):
        cipher.decrypt("13812345678")


def test_context_is_bound() -> None:
    cipher = FieldCipher.from_spec(KEY_1)
    stored = cipher.encrypt("13812345678", context="users.phone")
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, context="customers.phone")


def test_rotation_keeps_old_values_readable() -> None:
    old = FieldCipher.from_spec(KEY_1)
    stored_old = old.encrypt("13812345678")
    rotated = FieldCipher.from_spec(f"{KEY_2},{KEY_1}")
    assert rotated.decrypt(stored_old) == "13812345678"
    stored_new = rotated.encrypt("13812345678")
    assert stored_new.startswith("v2.")
    assert rotated.needs_reencryption(stored_old) and not rotated.needs_reencryption(stored_new)
    with pytest.raises(DecryptionError, match="version 2"):
        old.decrypt(stored_new)


def test_bad_key_specs_explain_themselves() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        parse_keys("1:" + base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="version:base64"):
        parse_keys("one:zzz")
    assert len(parse_keys(generate_key_spec(3))[3]) == 32


def test_keyed_hash_matches_normalised_phones_only_with_the_key() -> None:
    assert keyed_hash("+86 138-1234-5678", "k") == keyed_hash("13812345678", "k")
    assert keyed_hash("13812345678", "k") != keyed_hash("13812345678", "other")
    assert keyed_hash("13812345678", "k") != keyed_hash("13812345679", "k")


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("+8613812345678", "138****5678"), ("12345", "***45"), ("", "")],
)
def test_mask_phone(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked
