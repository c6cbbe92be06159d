from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haina.core.money import fen_to_yuan, split_fen, yuan_to_fen


def test_yuan_fen_conversions() -> None:
    assert yuan_to_fen("199.90") == 19990
    assert yuan_to_fen("0.005") == 1
    assert fen_to_yuan(19990) == "199.90"
    assert fen_to_yuan(-5) == "-0.05"
    with pytest.raises(ValueError):
        yuan_to_fen("abc")


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=8),
)
def test_split_adds_up_exactly(total: int, weights: list[int]) -> None:
    parts = split_fen(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
