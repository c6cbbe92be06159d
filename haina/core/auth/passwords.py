"""argon2id password hashes."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong username costs the same time.
_dummy_hash = _hasher.hash("haina-dummy-password")


def set_hash_cost(*, time_cost: int, memory_cost: int, parallelism: int = 1) -> None:
    """Change the argon2 cost of new hashes (the test suite lowers it; hashes stay verifiable)."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    _dummy_hash = _hasher.hash("haina-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_against_dummy(password: str) -> None:
    """Spend the time of a real check when there is no user, so timing reveals nothing."""
    verify_password(_dummy_hash, password)
