"""Money is integer fen. Conversions to and from yuan strings use Decimal, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation


def yuan_to_fen(value: str | int | Decimal) -> int:
    """'199.90' → 19990. Raises ValueError for text that is not an amount."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}")
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return int((amount * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> str:
    """19990 → '199.90'."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def split_fen(total: int, weights: list[int]) -> list[int]:
    """Split `total` fen by integer weights; the parts add up to `total` exactly
    (largest-remainder method, ties to the earliest part)."""
    if not weights or sum(weights) <= 0:
        raise ValueError("weights must be positive")
    weight_sum = sum(weights)
    raw = [total * w for w in weights]
    parts = [r // weight_sum for r in raw]
    remainder = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(raw[i] % weight_sum), i))
    for i in order[:remainder]:
        parts[i] += 1
    return parts
