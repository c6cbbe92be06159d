"""Unique, random-looking identifiers derived from counters.

Every id is an affine bijection of a counter modulo alphabet**width, so ids never collide
(no set of issued ids to keep for 10M orders) and cost no draws from the random streams.
Counters of a live ticker start at `LIVE_ORIGIN`, above anything a seeded world uses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from math import gcd
from typing import TypeVar

T = TypeVar("T")

DIGITS = "0123456789"
HEX = "0123456789abcdef"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
URLSAFE = BASE62 + "-_"

# Every scrambled space below is at least 10**8 wide; seeded worlds stay under this origin.
LIVE_ORIGIN = 60_000_000

MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip


class Tokens:
    """Scramblers keyed by (name, alphabet, width), all derived from one seed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._params: dict[tuple[str, str, int], tuple[int, int, int]] = {}
        self._pairs: dict[str, tuple[str, ...]] = {}
        self._pools: dict[str, str] = {}

    def _scrambler(self, name: str, alphabet: str, width: int) -> tuple[int, int, int]:
        key = (name, alphabet, width)
        params = self._params.get(key)
        if params is None:
            modulus = len(alphabet) ** width
            rng = random.Random(f"{self._seed}/ids/{name}/{len(alphabet)}/{width}")
            multiplier = rng.randrange(modulus // 3, modulus) | 1
            while gcd(multiplier, modulus) != 1:
                multiplier += 2
            params = (modulus, multiplier, rng.randrange(modulus))
            self._params[key] = params
        return params

    def number(self, name: str, counter: int, width: int) -> str:
        modulus, multiplier, offset = self._scrambler(name, DIGITS, width)
        return f"{(counter * multiplier + offset) % modulus:0{width}d}"

    def text(self, name: str, counter: int, width: int, alphabet: str = BASE62) -> str:
        """`width` characters of `alphabet`: the first (up to 10) unique per counter, the rest
        only random-looking (a slice of a seeded pool, far cheaper than more arithmetic)."""
        head_width = min(width, 10)
        modulus, multiplier, offset = self._scrambler(name, alphabet, head_width)
        value = (counter * multiplier + offset) % modulus
        pairs = self._pairs.get(alphabet)
        if pairs is None:
            pairs = self._pairs[alphabet] = tuple(first + second for first in alphabet for second in alphabet)
        base = len(pairs)
        chunks = []
        for _ in range(head_width // 2):
            value, pair = divmod(value, base)
            chunks.append(pairs[pair])
        if head_width % 2:
            chunks.append(alphabet[value % len(alphabet)])
        head = "".join(chunks)
        if width == head_width:
            return head
        pool = self._pools.get(alphabet)
        if pool is None:
            pool = self._pools[alphabet] = random_text(
                random.Random(f"{self._seed}/pool/{alphabet}"), 8192, alphabet
            )
        start = (counter * 7919 + multiplier) % (len(pool) - width)
        return head + pool[start : start + width - head_width]

    def mobile(self, counter: int, prefix_pick: float) -> str:
        """A Chinese mobile number, unique per counter whatever prefix is picked."""
        prefix = MOBILE_PREFIXES[int(prefix_pick * len(MOBILE_PREFIXES))]
        return prefix + self.number("mobile", counter, 8)


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """`rng.choice()` with one draw and no bit loop: the generator's hottest call."""
    return options[int(rng.random() * len(options))]


def random_text(rng: random.Random, length: int, alphabet: str = BASE62) -> str:
    """Secrets and keys: random characters, for values that need not be unique."""
    return "".join(rng.choices(alphabet, k=length))


def device_id(rng: random.Random) -> str:
    """An iOS IDFV (UUID) or an Android ID (16 hex), as platforms report devices."""
    if rng.random() < 0.45:
        value = f"{rng.getrandbits(128):032X}"
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return f"{rng.getrandbits(64):016x}"


def mask_mobile(phone: str) -> str:
    """138****5678, the way Taobao/Tmall show a receiver's mobile."""
    return phone[:3] + "****" + phone[7:]
